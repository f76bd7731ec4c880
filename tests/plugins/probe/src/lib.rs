//! A test-only plugin for the bus's boundary tests (issue 13); it lives under `tests/` and is
//! never shipped as an example.
//!
//! - `#[subscribe("plugin.*.note")]` decodes each event as a [`Note`] (as a well-written plugin
//!   does, with `?`), counts it and answers on `plugin.probe.got`: a publisher that sends
//!   something else must not be able to silence it for everyone.
//! - `#[subscribe("plugin.*.tick", queue = …, overflow = "block", block_ms = …)]` asks for
//!   delivery options the host's policy must bound.
//! - Commands and the `probe.big` service send and take payloads of a size the test chooses.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use switchboard_sdk::prelude::*;

/// What `plugin.*.note` carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Message)]
pub struct Note {
    /// Anything.
    pub text: String,
}

/// Counts the notes it decoded.
#[derive(Debug, Default)]
pub struct Probe {
    got: AtomicU64,
}

impl Plugin for Probe {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Probe::default())
    }
}

#[plugin(
    capabilities = [
        "events.subscribe:plugin.*.note",
        "events.subscribe:plugin.*.tick",
        "service.call:*",
        "service.provide:probe.big",
    ],
    services = ["probe.big"]
)]
impl Probe {
    /// How many notes it decoded.
    #[command]
    fn got(&self) -> u64 {
        self.got.load(Ordering::Relaxed)
    }

    /// Publishes `n` bytes on `plugin.probe.big`.
    #[command]
    fn blast(&self, ctx: &Context, n: u64) -> Result<u32, PluginError> {
        ctx.publish_raw("plugin.probe.big", &[], &vec![b'x'; len(n)])
    }

    /// Returns a string of `n` bytes (a command response, and a `probe.big` service reply).
    #[command]
    fn make(&self, n: u64) -> String {
        "x".repeat(len(n))
    }

    /// Returns the length of what it was given.
    #[command]
    fn swallow(&self, text: String) -> u64 {
        text.len() as u64
    }

    /// Sends a string of `n` bytes to the host's `text.tools.upper`; returns the reply's length.
    #[command]
    fn ask(&self, ctx: &Context, n: u64) -> Result<u64, PluginError> {
        ctx.call_service::<String, String>("text.tools", "upper", &"x".repeat(len(n)))
            .map(|s| s.len() as u64)
    }

    #[subscribe("plugin.*.note")]
    fn on_note(&self, ctx: &Context, event: &Event<'_>) -> Result<(), PluginError> {
        let note: Note = event.decode()?;
        self.got.fetch_add(1, Ordering::Relaxed);
        ctx.emit("got", &note.text)?;
        Ok(())
    }

    #[subscribe("plugin.*.tick", queue = 100000, overflow = "block", block_ms = 5000)]
    fn on_tick(&self, _ctx: &Context, _event: &Event<'_>) {}
}

fn len(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
