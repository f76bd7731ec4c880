//! `phoenix`, a test-only plugin for hot reload (never an example, never shipped).
//!
//! Its state lives in memory — a counter and an event count — so only `snapshot` and
//! `restore` carry it from one version to the next, tagged with the version that wrote it
//! ([`Handover`]). Each hook a reload runs on the new version fails when its KV flag is set
//! (`fail/restore`, `fail/health`, and `fail/start`, which is taken once: the old version
//! starts again when a reload falls back to it), so a test makes "a library whose restore
//! fails" by setting the flag before the reload.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use switchboard_sdk::prelude::*;
use switchboard_sdk::Handover;

/// What one version hands the next.
#[derive(Debug, Serialize, Deserialize)]
struct Carried {
    count: u64,
    events: u64,
}

/// The plugin.
#[derive(Debug, Default)]
pub struct Phoenix {
    count: AtomicU64,
    events: AtomicU64,
    /// The version the state came from, if a reload handed it over.
    handed_from: Mutex<String>,
}

fn flag(ctx: &Context, name: &str) -> bool {
    ctx.kv().get(name).ok().flatten().is_some()
}

impl Plugin for Phoenix {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Phoenix::default())
    }

    fn start(&self, ctx: &Context) -> Result<(), PluginError> {
        // One-shot: the version a failed reload falls back to starts again.
        if ctx.kv().delete("fail/start").unwrap_or(false) {
            return Err(PluginError::new(
                "start refused: the fail/start flag was set",
            ));
        }
        Ok(())
    }

    fn health(&self, ctx: &Context) -> Health {
        if flag(ctx, "fail/health") {
            return Health::Unhealthy("the fail/health flag is set".into());
        }
        if flag(ctx, "hang/health") {
            loop {
                std::thread::park();
            }
        }
        if flag(ctx, "degrade/health") {
            return Health::Degraded("the degrade/health flag is set".into());
        }
        Health::Healthy
    }

    fn snapshot(&self, _ctx: &Context) -> Result<Vec<u8>, PluginError> {
        let carried = Carried {
            count: self.count.load(Ordering::SeqCst),
            events: self.events.load(Ordering::SeqCst),
        };
        Ok(Handover::new(env!("CARGO_PKG_VERSION"), &carried)?.encode())
    }

    fn restore(&self, ctx: &Context, state: &[u8]) -> Result<(), PluginError> {
        if flag(ctx, "fail/restore") {
            return Err(PluginError::new(
                "restore refused: the fail/restore flag is set",
            ));
        }
        let handover = Handover::decode(state)?;
        let carried: Carried = handover.state()?;
        self.count.store(carried.count, Ordering::SeqCst);
        self.events.store(carried.events, Ordering::SeqCst);
        if let Ok(mut from) = self.handed_from.lock() {
            *from = handover.version().to_owned();
        }
        Ok(())
    }
}

#[plugin(capabilities = ["kv", "events.subscribe:test.phoenix.**"])]
impl Phoenix {
    /// Adds one; returns the new count.
    #[command]
    fn bump(&self, _ctx: &Context) -> Result<u64, PluginError> {
        Ok(self.count.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// The count.
    #[command]
    fn count(&self, _ctx: &Context) -> Result<u64, PluginError> {
        Ok(self.count.load(Ordering::SeqCst))
    }

    /// How many `test.phoenix.tick` events this version and those before it received.
    #[command]
    fn events(&self, _ctx: &Context) -> Result<u64, PluginError> {
        Ok(self.events.load(Ordering::SeqCst))
    }

    /// The version the state was handed over from ("" if none was).
    #[command]
    fn handed_from(&self, _ctx: &Context) -> Result<String, PluginError> {
        Ok(self
            .handed_from
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default())
    }

    #[subscribe("test.phoenix.tick")]
    fn tick(&self, _ctx: &Context, _event: &Event<'_>) -> Result<(), PluginError> {
        self.events.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}
