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
//! - `announce_each` and `announce_batch` publish a [`Burst`] of events: one `ctx.publish`
//!   per event, or all of them in one batch (`ctx.batch()`), which crosses to the host once
//!   and is published whole or not at all.
//!
//! The message type [`Burst`] is public so hosts can share it: depend on this crate with
//! `default-features = false` to get it without the plugin (the `plugin` feature).

// Examples are what authors copy: input from callers and hosts becomes an error, never a
// panic (tests keep unwrap and expect, as assertions).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#[cfg(feature = "plugin")]
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use switchboard_sdk::prelude::*;

/// Events to publish: `rounds` rounds of one event on each of `topics`, in turn. Event `i` of
/// a round is its round number as text, padded with `.` to `bytes` bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Message)]
pub struct Burst {
    /// Where to publish, in this order each round.
    pub topics: Vec<String>,
    /// How many rounds.
    pub rounds: u32,
    /// The size of each event's text (at least its round number's digits).
    pub bytes: u32,
}

impl Burst {
    /// Each event of the burst, in publishing order: its topic and its text.
    pub fn events(&self) -> impl Iterator<Item = (&str, String)> + '_ {
        (0..self.rounds).flat_map(move |round| {
            self.topics.iter().map(move |topic| {
                let mut text = round.to_string();
                let width = usize::try_from(self.bytes).unwrap_or(usize::MAX);
                if text.len() < width {
                    text.extend(std::iter::repeat_n('.', width - text.len()));
                }
                (topic.as_str(), text)
            })
        })
    }
}

/// Counts what it relays.
#[cfg(feature = "plugin")]
#[derive(Debug, Default)]
pub struct Relay {
    seen: AtomicU64,
}

#[cfg(feature = "plugin")]
impl Plugin for Relay {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Relay::default())
    }
}

#[cfg(feature = "plugin")]
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

    /// Publishes `burst` one event at a time; returns how many deliveries were queued. A
    /// refused topic stops it there: the events before it are published.
    #[command]
    fn announce_each(&self, ctx: &Context, burst: Burst) -> Result<u32, PluginError> {
        let mut queued = 0;
        for (topic, text) in burst.events() {
            queued += ctx.publish(topic, &text)?;
        }
        Ok(queued)
    }

    /// Publishes `burst` as one batch: one crossing to the host, each topic checked once,
    /// all of it published or — if a topic is refused or an event is too large — none.
    #[command]
    fn announce_batch(&self, ctx: &Context, burst: Burst) -> Result<u32, PluginError> {
        let mut batch = ctx.batch();
        for (topic, text) in burst.events() {
            batch.publish(topic, &text);
        }
        batch.send()
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

#[cfg(all(test, feature = "plugin"))]
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

    fn burst(topics: &[&str], rounds: u32) -> Burst {
        Burst {
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            rounds,
            bytes: 4,
        }
    }

    #[test]
    fn a_batch_keeps_its_order_across_topics() {
        let host = MockHost::new("relay");
        let relay = host.instantiate::<Relay>().unwrap();
        let b = burst(&["plugin.relay.a", "plugin.relay.b"], 2);
        relay.call::<Burst, u32>("announce_batch", &b).unwrap();
        let seen: Vec<(String, String)> = host
            .published()
            .into_iter()
            .map(|(t, p)| (t, switchboard_sdk::decode::<String>(&p).unwrap()))
            .collect();
        let want = [
            ("plugin.relay.a", "0..."),
            ("plugin.relay.b", "0..."),
            ("plugin.relay.a", "1..."),
            ("plugin.relay.b", "1..."),
        ];
        assert_eq!(seen.len(), want.len());
        for ((t, p), (wt, wp)) in seen.iter().zip(want) {
            assert_eq!((t.as_str(), p.as_str()), (wt, wp));
        }
    }

    #[test]
    fn a_batch_with_one_refused_topic_publishes_nothing() {
        let host = MockHost::new("relay");
        let relay = host.instantiate::<Relay>().unwrap();
        let b = burst(&["plugin.relay.a", "host.x"], 3);
        let e = relay.call::<Burst, u32>("announce_batch", &b).unwrap_err();
        assert_eq!(e.code().to_string(), "SB0410");
        assert!(host.published().is_empty());
        // One at a time, the events before the refused one are out.
        relay.call::<Burst, u32>("announce_each", &b).unwrap_err();
        assert_eq!(host.published().len(), 1);
    }

    #[test]
    fn an_empty_batch_publishes_nothing() {
        let host = MockHost::new("relay");
        let relay = host.instantiate::<Relay>().unwrap();
        let b = burst(&["plugin.relay.a"], 0);
        assert_eq!(relay.call::<Burst, u32>("announce_batch", &b).unwrap(), 0);
        assert!(host.published().is_empty());
    }

    #[test]
    fn a_delivered_host_event_is_counted_and_forwarded() {
        let host = MockHost::new("relay");
        host.grant("events.subscribe:host.**").unwrap();
        let relay = host.instantiate::<Relay>().unwrap();
        assert_eq!(
            relay
                .deliver("host.saved", &"notes.md".to_string())
                .unwrap(),
            1
        );
        assert_eq!(relay.call::<(), u64>("seen", &()).unwrap(), 1);
        let (topic, payload) = &host.published()[0];
        assert_eq!(topic, "plugin.relay.forwarded");
        assert_eq!(
            switchboard_sdk::decode::<String>(payload).unwrap(),
            "host.saved"
        );
        // A topic the handler's pattern does not match reaches no handler.
        assert_eq!(relay.deliver("other.saved", &"x".to_string()).unwrap(), 0);
    }

    #[test]
    fn delivery_needs_the_subscription_granted_and_handler_errors_come_back() {
        let host = MockHost::new("relay");
        let relay = host.instantiate::<Relay>().unwrap();
        let e = relay.deliver_raw("host.x", b"hi", &[]).unwrap_err();
        assert_eq!(e.code().to_string(), "SB0410");
        host.grant("events.subscribe:host.**").unwrap();
        let e = relay.deliver_raw("host.x", b"fail", &[]).unwrap_err();
        assert!(e.to_string().contains("asked to fail"), "{e}");
        assert_eq!(relay.call::<(), u64>("seen", &()).unwrap(), 0);
    }

    #[test]
    fn a_stubbed_service_answers_and_the_call_is_recorded() {
        let host = MockHost::new("relay");
        host.grant("service.call:text.*").unwrap();
        host.stub_service("text.tools", "upper", |s: String| Ok(s.to_uppercase()));
        let relay = host.instantiate::<Relay>().unwrap();
        let out: String = relay.call("shout", &"hey".to_string()).unwrap();
        assert_eq!(out, "HEY");
        assert_eq!(
            host.service_calls(),
            [("text.tools".to_string(), "upper".to_string())]
        );
    }

    #[test]
    fn a_stub_with_other_types_is_a_contract_mismatch_and_a_missing_one_unavailable() {
        let host = MockHost::new("relay");
        host.grant("service.call:text.*").unwrap();
        let relay = host.instantiate::<Relay>().unwrap();
        let e = relay
            .call::<String, String>("shout", &"hey".into())
            .unwrap_err();
        assert_eq!(e.code().to_string(), "SB0807");
        host.stub_service("text.tools", "upper", |n: u32| Ok(n + 1));
        let e = relay
            .call::<String, String>("shout", &"hey".into())
            .unwrap_err();
        assert_eq!(e.code().to_string(), "SB0809");
        assert!(e.to_string().contains("contract"), "{e}");
    }
}
