//! A test-only plugin for the extension-point tests (issue 19); it lives under `tests/` and is
//! never shipped as an example. Its `fail.filter` contribution fails, panics or overruns when
//! its input asks it to.

use switchboard_sdk::prelude::*;

/// No state.
#[derive(Debug)]
pub struct HookB;

impl Plugin for HookB {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(HookB)
    }
}

#[plugin(capabilities = [
    "extend:text.filter",
    "extend:fail.*",
    "extend:order.*",
    "extend:ask.first",
    "extend:op.build",
    "extend:app.commands",
])]
impl HookB {
    #[hook("text.filter", filter)]
    fn stamp(&self, text: String) -> String {
        format!("{text}+b")
    }

    /// `fail` fails, `panic` panics, `slow` takes 20 ms, `hang` 10 s; anything else is stamped.
    #[hook("fail.filter", filter)]
    fn flaky(&self, text: String) -> Result<String, PluginError> {
        match text.as_str() {
            "fail" => Err(PluginError::new("asked to fail")),
            "panic" => panic!("asked to panic"),
            "slow" => {
                std::thread::sleep(std::time::Duration::from_millis(20));
                Ok(format!("{text}+b"))
            }
            "hang" => {
                std::thread::sleep(std::time::Duration::from_secs(10));
                Ok(format!("{text}+b"))
            }
            _ => Ok(format!("{text}+b")),
        }
    }

    #[hook("order.priority", collect, priority = 10)]
    fn priority(&self, _input: String) -> String {
        "b".to_owned()
    }

    #[hook("order.constrained", collect, priority = -5)]
    fn constrained(&self, _input: String) -> String {
        "b".to_owned()
    }

    #[hook("order.cycle", collect, before = ["hookc"])]
    fn cycle(&self, _input: String) -> String {
        "b".to_owned()
    }

    #[hook("ask.first", first)]
    fn ask(&self, question: String) -> String {
        format!("b:{question}")
    }

    #[hook("app.commands", register, name = "build")]
    fn build_item(&self) -> String {
        "build the project".to_owned()
    }
}
