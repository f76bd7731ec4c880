//! The bus example plugin.
//!
//! - `#[subscribe("host.>", queue = 4096)]`: counts host events and republishes each topic as
//!   `plugin.relay.forwarded`, in the same trace. A payload of `fail` makes the handler fail,
//!   `panic` makes it panic (to show the breaker and failure handling). It asks for a queue of
//!   4096 (the default is 1024, dropping the oldest when full) so a burst of batched host
//!   events — the demo publishes 100,000 — fits while it catches up.
//! - `#[plugin(services = ["relay.echo"])]`: its commands are also the methods of the shared
//!   service `relay.echo`.
//! - `shout` calls the host's `text.tools` service; `bounce` calls itself through `relay.echo`
//!   (a re-entrant chain).

// Examples are what authors copy: input from callers and hosts becomes an error, never a
// panic (tests keep unwrap and expect, as assertions).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
use std::sync::atomic::{AtomicU64, Ordering};

use switchboard_sdk::prelude::*;

/// Counts what it relays.
#[derive(Debug, Default)]
pub struct Relay {
    seen: AtomicU64,
}

impl Plugin for Relay {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Relay::default())
    }
}

#[plugin(
    capabilities = [
        "events.subscribe:host.**",
        "service.call:*",
        "service.provide:relay.echo",
    ],
    services = ["relay.echo"]
)]
impl Relay {
    /// Returns its input.
    #[command]
    fn echo(&self, text: String) -> String {
        text
    }

    /// Asks the host's `text.tools` service to upper-case `text`.
    #[command]
    fn shout(&self, ctx: &Context, text: String) -> Result<String, PluginError> {
        ctx.call_service::<String, String>("text.tools", "upper", &text)
    }

    /// Calls itself through the `relay.echo` service `depth` times; returns the depth reached.
    #[command]
    fn bounce(&self, ctx: &Context, depth: u32) -> Result<u32, PluginError> {
        if depth == 0 {
            return Ok(0);
        }
        ctx.call_service::<u32, u32>("relay.echo", "bounce", &(depth - 1))
            .map(|d| d + 1)
    }

    /// Publishes a greeting on `topic`; returns how many subscriptions took it.
    #[command]
    fn announce(&self, ctx: &Context, topic: String) -> Result<u32, PluginError> {
        ctx.publish(&topic, &"hello".to_string())
    }

    /// How many host events it has relayed.
    #[command]
    fn seen(&self) -> u64 {
        self.seen.load(Ordering::Relaxed)
    }

    /// Reads a file with its own grants (it has none for files).
    #[command]
    fn peek(&self, ctx: &Context, path: String) -> Result<String, PluginError> {
        ctx.fs().read_to_string(path)
    }

    /// Asks `text.tools.upper` for `PATIENCE`, giving up after `ms` milliseconds.
    #[command]
    fn shout_within(&self, ctx: &Context, ms: u64) -> Result<String, PluginError> {
        ctx.call_service_timeout::<String, String>(
            "text.tools",
            "upper",
            &"patience".to_owned(),
            std::time::Duration::from_millis(ms),
        )
    }

    #[subscribe("host.>", queue = 4096)]
    fn on_host(&self, ctx: &Context, event: &Event<'_>) -> Result<(), PluginError> {
        match event.payload() {
            b"fail" => return Err(PluginError::new("asked to fail")),
            b"panic" => panic!("asked to panic"),
            _ => {}
        }
        self.seen.fetch_add(1, Ordering::Relaxed);
        ctx.emit("forwarded", &event.topic().to_owned())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::testing::MockHost;

    #[test]
    fn manifest_lists_the_subscription_and_the_service() {
        let host = MockHost::new("relay");
        let relay = host.instantiate::<Relay>().unwrap();
        assert_eq!(relay.manifest().subscriptions, ["host.>"]);
        assert_eq!(relay.manifest().services, ["relay.echo"]);
    }

    #[test]
    fn announcing_outside_its_namespace_needs_a_grant() {
        let host = MockHost::new("relay");
        let relay = host.instantiate::<Relay>().unwrap();
        let e = relay
            .call::<String, u32>("announce", &"host.x".into())
            .unwrap_err();
        assert_eq!(e.code().to_string(), "SB0410");
        relay
            .call::<String, u32>("announce", &"plugin.relay.hi".into())
            .unwrap();
        assert_eq!(host.published()[0].0, "plugin.relay.hi");
    }
}
