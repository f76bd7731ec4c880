//! A plugin using every command shape: typed request and response, context, fallible, raw
//! bytes in and out, writing into `Output`, renamed, and no request at all.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use switchboard_sdk::prelude::*;

#[derive(Serialize, Deserialize, Message)]
pub struct AddRequest {
    pub a: i64,
    pub b: i64,
}

#[derive(Serialize, Deserialize, Message)]
pub struct AddResponse {
    pub sum: i64,
    pub calls: u64,
}

#[derive(Default)]
pub struct Calculator {
    calls: AtomicU64,
}

impl Plugin for Calculator {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Calculator::default())
    }
}

#[plugin(capabilities = ["kv", "fs.read:/data/**"])]
impl Calculator {
    /// Typed request and response.
    #[command]
    fn add(&self, req: AddRequest) -> AddResponse {
        let calls = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        AddResponse {
            sum: req.a.saturating_add(req.b),
            calls,
        }
    }

    /// Context first, fallible, built-in message types.
    #[command]
    fn greet(&self, ctx: &Context, name: String) -> Result<String, PluginError> {
        if name.is_empty() {
            return Err(PluginError::new("no name given"));
        }
        ctx.debug("greeting");
        Ok(format!("Hello, {name}!"))
    }

    /// Raw bytes in, raw bytes out through a `Vec`.
    #[command(name = "upper-case")]
    fn upper(&self, input: &[u8]) -> Vec<u8> {
        input.to_ascii_uppercase()
    }

    /// Raw bytes in, written straight into the output.
    #[command]
    fn checksum(&self, input: &[u8], out: &mut Output<'_>) {
        let sum: u64 = input.iter().map(|&b| u64::from(b)).sum();
        out.extend_from_slice(&sum.to_le_bytes());
    }

    /// The author's own inlining attribute is kept (the macro adds `#[inline]` only to
    /// methods without one).
    #[command]
    #[inline(never)]
    fn count(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// No request, fallible, unit response.
    #[command]
    fn reset(&self) -> Result<(), PluginError> {
        self.calls.store(0, Ordering::Relaxed);
        Ok(())
    }
}

fn main() {
    use switchboard_sdk::PluginEntry;

    let manifest = std::str::from_utf8(Calculator::MANIFEST).unwrap();
    for needle in [
        "\"name\":\"add\"",
        "\"name\":\"greet\"",
        "\"name\":\"upper-case\"",
        "\"name\":\"checksum\"",
        "\"name\":\"reset\"",
        "\"capabilities\":[\"kv\",\"fs.read:/data/**\"]",
        "::AddRequest@1#",
    ] {
        assert!(manifest.contains(needle), "{needle} missing from {manifest}");
    }
    // One entry of its own per command (SDK ABI 1.6), and one for a gathered request where
    // the request is typed (`add`, `greet`): a host gathers no other.
    let entries = Calculator::COMMAND_ENTRIES;
    assert_eq!(entries.len(), 6);
    assert!(entries.iter().all(|e| e.entry().call.is_some()));
    let gathered: Vec<bool> = entries
        .iter()
        .map(|e| e.entry().gathered.is_some())
        .collect();
    assert_eq!(gathered, [true, true, false, false, false, false]);
}
