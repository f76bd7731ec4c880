//! `sickly`, a test-only plugin (never an example, never shipped): its health check reports
//! what its configuration's `healthy` says, so a release whose package sets
//! `healthy = false` fails the health check an update runs after activating it, and one that
//! sets `hang_health = true` never answers it.

use serde::Deserialize;
use switchboard_sdk::prelude::*;

/// The configuration (`[config]` in `plugin.toml`).
#[derive(Debug, Deserialize)]
struct Settings {
    #[serde(default = "yes")]
    healthy: bool,
    /// Never answer the health check (a hook that hangs).
    #[serde(default)]
    hang_health: bool,
}

fn yes() -> bool {
    true
}

/// The plugin.
#[derive(Debug)]
pub struct Sickly;

impl Plugin for Sickly {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Sickly)
    }

    fn health(&self, ctx: &Context) -> Health {
        match ctx.config::<Settings>() {
            Ok(s) if s.hang_health => loop {
                std::thread::park();
            },
            Ok(s) if s.healthy => Health::Healthy,
            Ok(_) => Health::Unhealthy("the configuration says so".into()),
            Err(e) => Health::Unhealthy(format!("no configuration: {e}")),
        }
    }
}

#[plugin(capabilities = ["config.read"])]
impl Sickly {
    /// Answers `pong`.
    #[command]
    fn ping(&self, _ctx: &Context) -> Result<String, PluginError> {
        Ok("pong".into())
    }
}
