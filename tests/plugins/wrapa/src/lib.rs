//! A test-only plugin for the `wrap` tests (issue 19); it lives under `tests/` and is never
//! shipped as an example. Its wrapper on `wrap.op` (priority 10: outermost) does what its
//! input asks for with `a:WORD` markers, and marks what it did (`|a-in`, `|a-out`), so a test
//! reads the onion's order from the result.

use std::sync::Mutex;

use switchboard_sdk::extend::{Next, NEXT_SERVICE};
use switchboard_sdk::prelude::*;
use switchboard_sdk::ErrorCode;

/// A `next` kept past its wrapper's return (`a:keep`), for `late` to call.
static KEPT: Mutex<Option<Next<String, String>>> = Mutex::new(None);

/// No state.
#[derive(Debug)]
pub struct WrapA;

impl Plugin for WrapA {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(WrapA)
    }
}

/// The code of a `PluginError`, as text (`SB1715`).
fn code(e: &PluginError) -> String {
    e.code().to_string()
}

#[plugin(capabilities = ["extend:**"])]
impl WrapA {
    #[hook("wrap.op", wrap, priority = 10)]
    fn outer(
        &self,
        ctx: &Context,
        input: String,
        next: Next<String, String>,
    ) -> Result<String, PluginError> {
        let has = |word: &str| input.contains(&format!("a:{word}"));
        if has("skip") {
            return Ok("a answered without next".to_owned());
        }
        if has("fail") {
            return Err(PluginError::new("a failed before next"));
        }
        if has("panic-before") {
            panic!("a panics before next");
        }
        if has("keep") {
            if let Ok(mut kept) = KEPT.lock() {
                *kept = Some(next);
            }
            return Ok("a kept next".to_owned());
        }
        if has("thread") {
            let result = std::thread::spawn(move || next.call("from a thread".to_owned()))
                .join()
                .map_err(|_| PluginError::new("the thread panicked"))?;
            return Ok(match result {
                Ok(v) => format!("thread ran next: {v}"),
                Err(e) => format!("thread: {}", code(&e)),
            });
        }
        if has("leak") {
            // Hands its token to the wrapper inside, which tries to call this `next`.
            let token = next.__token().unwrap_or_default();
            return next.call(format!("{input}|token={token}"));
        }
        if has("twice") {
            let token = next.__token().unwrap_or_default().to_string();
            let first: Result<String, PluginError> = ctx.call_service(NEXT_SERVICE, &token, &input);
            let second: Result<String, PluginError> =
                ctx.call_service(NEXT_SERVICE, &token, &input);
            return Ok(format!(
                "first {}, second {}",
                first.map_or_else(|e| code(&e), |_| "ok".to_owned()),
                second.map_or_else(|e| code(&e), |_| "ok".to_owned()),
            ));
        }
        if has("wrong-type") {
            let token = next.__token().unwrap_or_default().to_string();
            let r: Result<String, PluginError> = ctx.call_service(NEXT_SERVICE, &token, &7u32);
            return Ok(format!(
                "wrong type: {}",
                r.map_or_else(|e| code(&e), |_| "ok".to_owned())
            ));
        }
        let result = next.call(format!("{input}|a-in"));
        if has("panic-after") {
            panic!("a panics after next");
        }
        if has("slow") {
            // Slow on its own time, after `next`: past a short point timeout.
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        match result {
            Ok(v) => Ok(format!("{v}|a-out")),
            Err(e) if has("recover") => Ok(format!("a recovered from {}", code(&e))),
            Err(e) if has("change-error") => Err(PluginError::with_code(
                ErrorCode::from_number(100),
                format!("a changed the error ({}: {})", code(&e), e.message()),
            )),
            Err(e) => Err(e),
        }
    }

    /// Calls the `next` kept by `a:keep`, after its wrapper returned.
    #[command]
    fn late(&self) -> String {
        let kept = KEPT.lock().ok().and_then(|mut k| k.take());
        match kept {
            None => "nothing kept".to_owned(),
            Some(next) => match next.call("late".to_owned()) {
                Ok(v) => format!("late next ran: {v}"),
                Err(e) => format!("late: {}", code(&e)),
            },
        }
    }
}
