//! A test-only plugin for the `wrap` tests (issue 19); it lives under `tests/` and is never
//! shipped as an example. Two wrappers on `wrap.op` from one plugin (priority 0 and -5: inside
//! `wrapa`'s), marking what they did (`|b-in`, `|b-out`, `|b2-in`, `|b2-out`); `b:fail` and
//! `b:panic` in the input make the first fail or panic before its `next`.

use switchboard_sdk::extend::{Next, NEXT_SERVICE};
use switchboard_sdk::prelude::*;

/// No state.
#[derive(Debug)]
pub struct WrapB;

impl Plugin for WrapB {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(WrapB)
    }
}

#[plugin(capabilities = ["extend:**"])]
impl WrapB {
    #[hook("wrap.op", wrap)]
    fn inner(
        &self,
        ctx: &Context,
        input: String,
        next: Next<String, String>,
    ) -> Result<String, PluginError> {
        if let Some(token) = input.split("|token=").nth(1) {
            // Another plugin's `next` (wrapa's, leaked in the input): refused.
            let r: Result<String, PluginError> = ctx.call_service(NEXT_SERVICE, token, &input);
            return Ok(format!(
                "b used a's next: {}",
                r.map_or_else(|e| e.code().to_string(), |_| "ok".to_owned())
            ));
        }
        if input.contains("b:fail") {
            return Err(PluginError::new("b failed before next"));
        }
        if input.contains("b:panic") {
            panic!("b panics before next");
        }
        let out = next.call(format!("{input}|b-in"))?;
        Ok(format!("{out}|b-out"))
    }

    #[hook("wrap.op", wrap, priority = -5)]
    fn innermost(&self, input: String, next: Next<String, String>) -> Result<String, PluginError> {
        let out = next.call(format!("{input}|b2-in"))?;
        Ok(format!("{out}|b2-out"))
    }
}
