//! A test-only plugin for the extension-point tests (issue 19); it lives under `tests/` and is
//! never shipped as an example. Each hook marks what it did in its answer, so a test reads the
//! order contributions ran in from the result.

use switchboard_sdk::extend::pass;
use switchboard_sdk::prelude::*;

/// No state.
#[derive(Debug)]
pub struct HookA;

impl Plugin for HookA {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        // The tests' proof that a refused load ran no plugin code.
        if let Some(marker) = std::env::var_os("SWITCHBOARD_HOOKA_MARKER") {
            std::fs::write(marker, b"created").map_err(|e| PluginError::new(e.to_string()))?;
        }
        Ok(HookA)
    }

    fn start(&self, _ctx: &Context) -> Result<(), PluginError> {
        // The tests' proof that a refused start ran no `start` hook.
        if let Some(dir) = std::env::var_os("SWITCHBOARD_HOOK_STARTED_DIR") {
            std::fs::write(std::path::Path::new(&dir).join("hooka"), b"started")
                .map_err(|e| PluginError::new(e.to_string()))?;
        }
        Ok(())
    }
}

#[plugin(capabilities = ["extend:**"])]
impl HookA {
    #[hook("text.filter", filter)]
    fn stamp(&self, text: String) -> String {
        format!("{text}+a")
    }

    #[hook("fail.filter", filter, priority = -1)]
    fn after_flaky(&self, text: String) -> String {
        format!("{text}+a")
    }

    #[hook("order.priority", collect)]
    fn priority(&self, _input: String) -> String {
        "a".to_owned()
    }

    #[hook("order.constrained", collect, after = ["hookb"])]
    fn constrained(&self, _input: String) -> String {
        "a".to_owned()
    }

    #[hook("ask.first", first)]
    fn ask(&self, question: String) -> Result<String, PluginError> {
        if question.starts_with('a') {
            Ok(format!("a:{question}"))
        } else {
            Err(pass())
        }
    }

    #[hook("op.build", before)]
    fn prepare(&self, input: String) -> String {
        format!("[{input}]")
    }

    #[hook("op.build", replace)]
    fn build(&self, input: String) -> String {
        format!("a built {input}")
    }

    #[hook("op.build", after)]
    fn seal(&self, output: String) -> String {
        format!("{output}!")
    }

    #[hook("app.commands", register)]
    fn greet(&self) -> String {
        "say hello".to_owned()
    }
}
