//! `canary`, a test fixture: its library constructor writes a marker file the moment the
//! dynamic loader runs it, so tests can prove that the host refused a library *before* any of
//! its code ran. The marker path comes from `SWITCHBOARD_CANARY_MARKER`; without it, nothing is
//! written. Its `start` and `stop` hooks panic when told to, for the lifecycle tests.

// Examples are what authors copy: input from callers and hosts becomes an error, never a
// panic (tests keep unwrap and expect, as assertions).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
use std::sync::atomic::{AtomicBool, Ordering};

use switchboard_sdk::prelude::*;

/// Runs when the library is mapped, before the host can call anything.
#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array"]
static CANARY_CONSTRUCTOR: extern "C" fn() = canary_constructor;

#[cfg(target_os = "linux")]
extern "C" fn canary_constructor() {
    if let Some(path) = std::env::var_os("SWITCHBOARD_CANARY_MARKER") {
        let _ = std::fs::write(path, b"canary code ran\n");
    }
}

/// The plugin.
#[derive(Debug, Default)]
pub struct Canary {
    panic_on_stop: AtomicBool,
}

impl Plugin for Canary {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Canary::default())
    }

    fn start(&self, _ctx: &Context) -> Result<(), PluginError> {
        if std::env::var_os("SWITCHBOARD_CANARY_PANIC_IN_START").is_some() {
            panic!("canary panicked in start on purpose");
        }
        Ok(())
    }

    fn stop(&self, _ctx: &Context) -> Result<(), PluginError> {
        if self.panic_on_stop.load(Ordering::Relaxed) {
            panic!("canary panicked in stop on purpose");
        }
        Ok(())
    }
}

#[plugin]
impl Canary {
    /// Answers `"tweet"`.
    #[command]
    fn sing(&self) -> String {
        "tweet".to_string()
    }

    /// Arms a panic in the `stop` hook.
    #[command]
    fn panic_on_stop(&self) {
        self.panic_on_stop.store(true, Ordering::Relaxed);
    }
}
