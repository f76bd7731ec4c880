//! A test-only plugin for the extension-point tests (issue 19); it lives under `tests/` and is
//! never shipped as an example. It registers an item under a name `hooka` registers too.

use switchboard_sdk::prelude::*;

/// No state.
#[derive(Debug)]
pub struct HookD;

impl Plugin for HookD {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(HookD)
    }
}

#[plugin(capabilities = ["extend:app.commands"])]
impl HookD {
    #[hook("app.commands", register, name = "greet")]
    fn greet_too(&self) -> String {
        "say hello, again".to_owned()
    }
}
