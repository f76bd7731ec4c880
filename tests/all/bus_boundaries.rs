//! Plugins cannot hurt each other through the bus (issue 13): undecodable events count against
//! their publisher, a slow plugin never delays a publisher, delivery options stay within the
//! host's policy, and payloads are bounded. Real cdylibs: `relay` and the test-only `probe`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver};
use switchboard_host::bus::{
    BusLimits, DeliveryPolicy, Envelope, Mode, Outgoing, ServiceBuilder, SubscribeOptions,
    SubscriptionInfo, CUT_OFF_TOPIC, DEAD_LETTER_TOPIC, LAGGING_TOPIC, SUSPENDED_TOPIC,
};
use switchboard_host::caps::Policy;
use switchboard_host::{AuditFilter, AuditKind, Host, HostBuilder, PluginHandle, State};
use switchboard_sdk::caps::Capability;
use switchboard_tests::{host_with, library, test_plugin};

const CAPS: &[&str] = &[
    "events.subscribe:host.**",
    "events.subscribe:plugin.*.note",
    "events.subscribe:plugin.*.tick",
    "service.call:*",
    "service.provide:relay.echo",
    "service.provide:probe.big",
];

fn policy(delivery: Option<DeliveryPolicy>) -> Policy {
    let mut p = Policy::new();
    for c in CAPS {
        p.allow(c.parse::<Capability>().unwrap());
    }
    if let Some(d) = delivery {
        p.delivery(d);
    }
    p
}

/// Lets the probe's `block` request in (bounded), as a host that allows it would.
fn lenient() -> Option<DeliveryPolicy> {
    Some(DeliveryPolicy::new(64, Duration::from_millis(50)))
}

fn bus_host(
    delivery: Option<DeliveryPolicy>,
    more: impl FnOnce(&mut HostBuilder),
) -> (Host, tempfile::TempDir) {
    let p = policy(delivery);
    host_with(move |b, _| {
        b.policy(p);
        more(b);
    })
}

fn collect(host: &Host, pattern: &str) -> Receiver<Envelope> {
    let (tx, rx) = unbounded();
    host.bus()
        .subscribe(
            pattern,
            SubscribeOptions::new().mode(Mode::Inline),
            move |e| {
                let _ = tx.send(e.clone());
                Ok(())
            },
        )
        .unwrap();
    rx
}

fn recv(rx: &Receiver<Envelope>) -> Envelope {
    rx.recv_timeout(Duration::from_secs(60))
        .expect("an envelope")
}

fn subscription(host: &Host, owner: &str, pattern: &str) -> SubscriptionInfo {
    host.bus()
        .subscriptions()
        .into_iter()
        .find(|s| s.owner == owner && s.pattern == pattern)
        .unwrap_or_else(|| panic!("no subscription of {owner} on {pattern}"))
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn start(host: &Host, package: &str) -> PluginHandle {
    let path = if package == "probe" {
        test_plugin(package)
    } else {
        library(package)
    };
    let plugin = host.load_unsigned(path).unwrap();
    plugin.start().unwrap();
    plugin
}

#[test]
fn undecodable_events_from_one_plugin_cut_off_that_publisher_not_the_subscription() {
    let (host, _dir) = bus_host(lenient(), |_| {});
    let relay = start(&host, "relay");
    let probe = start(&host, "probe");
    let got = collect(&host, "plugin.probe.got");
    let cut = collect(&host, CUT_OFF_TOPIC);
    let dead = collect(&host, DEAD_LETTER_TOPIC);
    let suspended = collect(&host, SUSPENDED_TOPIC);
    // relay publishes a `string@1` where the probe expects a `Note`: five times.
    let announce = relay.command::<String, u32>("announce").unwrap();
    for _ in 0..5 {
        assert_eq!(announce.call(&"plugin.relay.note".into()).unwrap(), 1);
    }
    let id = subscription(&host, "probe", "plugin.*.note").id;
    wait_until("the five are handled", || {
        let s = host.bus().stats(id).unwrap();
        s.failures + s.undecodable == 5
    });
    let stats = host.bus().stats(id).unwrap();
    assert!(!stats.suspended, "relay cannot open the probe's breaker");
    assert!(suspended.try_recv().is_err());
    assert_eq!((stats.undecodable, stats.failures), (5, 0));
    // Counted against relay: dead-lettered, then cut off.
    let letters: Vec<Envelope> = dead.try_iter().collect();
    assert_eq!(letters.len(), 5);
    assert_eq!(letters[0].header("publisher"), Some("relay"));
    assert_eq!(letters[0].header("reason"), Some("undecodable"));
    assert!(letters[0].header("error").unwrap().starts_with("SB0818"));
    let notice = recv(&cut);
    assert_eq!(notice.header("publisher"), Some("relay"));
    assert_eq!(notice.header("subscriber"), Some("probe"));
    assert_eq!(
        subscription(&host, "probe", "plugin.*.note").cut_off,
        ["relay"]
    );
    let rows = host
        .audit()
        .query(&AuditFilter::new().plugin("relay").kind(AuditKind::Deny))
        .unwrap();
    let row = rows
        .iter()
        .find(|r| r.subject == "events.deliver:plugin.*.note")
        .expect("the cut-off is audited");
    assert!(
        row.detail.contains("SB0818") && row.detail.contains("probe"),
        "{}",
        row.detail
    );
    // Everyone else still reaches the probe.
    host.bus()
        .publish(Outgoing::new(
            "plugin.host.note",
            switchboard_sdk::encode(&"still here".to_owned()),
        ))
        .unwrap();
    let answer = recv(&got);
    let text: String = switchboard_sdk::decode(answer.payload()).unwrap();
    assert_eq!(text, "still here");
    assert_eq!(
        probe.command::<(), u64>("got").unwrap().call(&()).unwrap(),
        1
    );
    // relay's notes no longer reach it, until the host lets relay back in.
    assert_eq!(announce.call(&"plugin.relay.note".into()).unwrap(), 0);
    assert_eq!(host.bus().stats(id).unwrap().cut_off, 1);
    assert!(host.bus().readmit(id, "relay").unwrap());
    assert_eq!(announce.call(&"plugin.relay.note".into()).unwrap(), 1);
    assert_eq!(probe.state(), State::Active);
}

#[test]
fn a_slow_plugin_never_delays_a_host_publish() {
    let (host, _dir) = bus_host(lenient(), |_| {});
    let relay = start(&host, "relay");
    let lagging = collect(&host, LAGGING_TOPIC);
    // relay's handler republishes each host event; the first republish blocks inside relay's
    // handler until the test lets it go, so relay's queue stops draining.
    let (entered_tx, entered) = bounded::<()>(1);
    let (release_tx, release) = bounded::<()>(0);
    host.bus()
        .subscribe(
            "plugin.relay.forwarded",
            SubscribeOptions::new().mode(Mode::Inline),
            move |_| {
                if entered_tx.try_send(()).is_ok() {
                    let _ = release.recv();
                }
                Ok(())
            },
        )
        .unwrap();
    host.bus()
        .publish(Outgoing::new("host.first", Vec::new()))
        .unwrap();
    entered
        .recv_timeout(Duration::from_secs(60))
        .expect("relay's handler is running");
    let id = subscription(&host, "relay", "host.>").id;
    let capacity = host.bus().stats(id).unwrap().capacity;
    let bus = host.bus().clone();
    let (done_tx, done) = bounded(1);
    std::thread::spawn(move || {
        let results: Vec<_> = (0..capacity + 10)
            .map(|_| bus.publish(Outgoing::new("host.next", Vec::new())))
            .collect();
        let _ = done_tx.send(results);
    });
    // A generous bound, only to detect a hang: the publishes must return while relay is stuck.
    let results = done
        .recv_timeout(Duration::from_secs(60))
        .expect("the publishes returned while relay was blocked");
    for r in &results {
        if let Err(e) = r {
            panic!(
                "a publish was refused while relay was slow: {} {e}",
                e.code()
            );
        }
    }
    let stats = host.bus().stats(id).unwrap();
    assert_eq!(stats.dropped_oldest, 10);
    assert!(stats.lagging);
    let notice = recv(&lagging);
    assert_eq!(notice.header("subscriber"), Some("relay"));
    assert_eq!(notice.header("overflow"), Some("drop_oldest"));
    assert!(lagging.try_recv().is_err(), "one notice per episode");
    drop(release_tx);
    assert_eq!(relay.state(), State::Active);
}

#[test]
fn a_plugin_gets_the_delivery_options_it_asks_for_within_the_host_policy() {
    // The default policy lets no plugin make publishers wait: the probe's `block` is refused
    // before any of its code runs.
    let (host, _dir) = bus_host(None, |_| {});
    let probe = host.load_unsigned(test_plugin("probe")).unwrap();
    let e = probe.start().unwrap_err();
    assert_eq!(e.code().to_string(), "SB0822", "{e}");
    assert!(e.to_string().contains("plugin.*.tick"), "{e}");
    assert_eq!(probe.state(), State::Loaded);
    drop(host);
    // A policy that allows a bounded wait: the queue is clamped to the policy's maximum.
    let (host, _dir) = bus_host(lenient(), |_| {});
    start(&host, "probe");
    assert_eq!(
        subscription(&host, "probe", "plugin.*.tick").stats.capacity,
        64
    );
    assert_eq!(
        subscription(&host, "probe", "plugin.*.note").stats.capacity,
        1024,
        "handlers that ask for nothing get the defaults"
    );
    let p = Policy::from_toml("[delivery]\nmax_queue = 8\nmax_block_ms = 20").unwrap();
    assert_eq!(
        p.delivery_value(),
        DeliveryPolicy::new(8, Duration::from_millis(20))
    );
}

#[test]
fn payloads_over_the_limits_are_refused_with_a_code_in_every_direction() {
    let limits = BusLimits {
        max_event_bytes: 1024,
        max_call_bytes: 4096,
        ..BusLimits::default()
    };
    let (host, _dir) = bus_host(lenient(), |b| {
        b.bus_limits(limits);
    });
    host.bus()
        .provide(
            ServiceBuilder::new("text.tools")
                .method("upper", |s: String| Ok(s.to_uppercase().repeat(50))),
        )
        .unwrap();
    let probe = start(&host, "probe");
    let code = |e: &dyn std::fmt::Display| e.to_string();
    // Events, published by the host.
    let e = host
        .bus()
        .publish(Outgoing::new("host.big", vec![0u8; 1025]))
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0819", "{}", code(&e));
    host.bus()
        .publish(Outgoing::new("host.big", vec![0u8; 1024]))
        .unwrap();
    let e = host
        .bus()
        .publish_batch("host.big", [vec![0u8; 8], vec![0u8; 1025]])
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0819");
    // Events, published by a plugin through its context.
    let blast = probe.command::<u64, u32>("blast").unwrap();
    let e = blast.call(&1025).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0819", "{e}");
    blast.call(&1024).unwrap();
    // A command's request and response.
    let swallow = probe.command::<String, u64>("swallow").unwrap();
    let e = swallow.call(&"x".repeat(5000)).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0309", "{e}");
    assert_eq!(swallow.call(&"x".repeat(100)).unwrap(), 100);
    let make = probe.command::<u64, String>("make").unwrap();
    let e = make.call(&5000).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0310", "{e}");
    assert_eq!(make.call(&100).unwrap().len(), 100);
    // A plugin's service reply.
    let big = host
        .bus()
        .client::<u64, String>("probe.big", "make")
        .unwrap();
    let e = big.call(&5000).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0821", "{e}");
    assert_eq!(big.call(&100).unwrap().len(), 100);
    // A plugin's service request, and the reply it would get.
    let ask = probe.command::<u64, u64>("ask").unwrap();
    let e = ask.call(&5000).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0820", "{e}");
    let e = ask.call(&100).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0821", "{e}");
    assert_eq!(ask.call(&50).unwrap(), 2500);
    assert_eq!(probe.state(), State::Active);
}

#[test]
fn the_default_event_limit_is_one_mebibyte() {
    let bus = switchboard_host::bus::Bus::new();
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let s = seen.clone();
    bus.subscribe(">", SubscribeOptions::new().mode(Mode::Inline), move |_| {
        s.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    })
    .unwrap();
    let e = bus
        .publish(Outgoing::new("host.huge", vec![0u8; (1 << 20) + 1]))
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0819");
    bus.publish(Outgoing::new("host.max", vec![0u8; 1 << 20]))
        .unwrap();
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 1);
}

/// Regression: a delivery request naming no `#[subscribe]` handler (a damaged or crafted
/// library) was dropped without a word, so what the library asked for was silently ignored.
#[test]
fn a_delivery_request_for_no_handler_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let lib = switchboard_tests::patched_copy(
        &test_plugin("probe"),
        dir.path(),
        b"{\"handler\":1,",
        b"{\"handler\":7,",
    );
    let (host, _data) = bus_host(lenient(), |_| {});
    let probe = host.load_unsigned(&lib).unwrap();
    let e = probe.start().unwrap_err();
    assert_eq!(e.code().to_string(), "SB0822", "{e}");
    assert!(e.to_string().contains("handler #7"), "{e}");
    assert_eq!(probe.state(), State::Loaded);
}
