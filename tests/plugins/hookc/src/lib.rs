//! A test-only plugin for the extension-point tests (issue 19); it lives under `tests/` and is
//! never shipped as an example. It conflicts on purpose: its replacement with `hooka`'s, its
//! order constraint with `hookb`'s.

use switchboard_sdk::prelude::*;

/// No state.
#[derive(Debug)]
pub struct HookC;

impl Plugin for HookC {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(HookC)
    }

    fn start(&self, _ctx: &Context) -> Result<(), PluginError> {
        // The tests' proof that a refused start ran no `start` hook.
        if let Some(dir) = std::env::var_os("SWITCHBOARD_HOOK_STARTED_DIR") {
            std::fs::write(std::path::Path::new(&dir).join("hookc"), b"started")
                .map_err(|e| PluginError::new(e.to_string()))?;
        }
        Ok(())
    }
}

#[plugin(capabilities = ["extend:op.build", "extend:order.cycle"])]
impl HookC {
    #[hook("op.build", replace)]
    fn build(&self, input: String) -> String {
        format!("c built {input}")
    }

    #[hook("order.cycle", collect, before = ["hookb"])]
    fn cycle(&self, _input: String) -> String {
        "c".to_owned()
    }
}
