//! Plugins on the bus, with the real `relay` cdylib: `#[subscribe]` handlers, publishing in
//! its namespace and beyond, shared services it provides and calls, grants, isolation,
//! re-entrancy, the breaker and trace propagation across the boundary.

use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver};
use switchboard_host::bus::{
    Envelope, Mode, Outgoing, ServiceBuilder, SubscribeOptions, SUSPENDED_TOPIC,
};
use switchboard_host::caps::Policy;
use switchboard_host::{Host, PluginHandle, State};
use switchboard_sdk::caps::Capability;
use switchboard_tests::{host_with, library};

fn policy(caps: &[&str]) -> Policy {
    let mut p = Policy::new();
    for c in caps {
        p.allow(c.parse::<Capability>().unwrap());
    }
    p
}

const ALL: &[&str] = &[
    "events.subscribe:host.**",
    "service.call:*",
    "service.provide:relay.echo",
];

fn relay_host(caps: &[&str]) -> (Host, PluginHandle, tempfile::TempDir) {
    let p = policy(caps);
    let (host, dir) = host_with(move |b, _| {
        b.policy(p);
    });
    let relay = host.load_unsigned(library("relay")).unwrap();
    (host, relay, dir)
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

#[test]
fn a_plugin_handler_receives_host_events_and_republishes_in_the_same_trace() {
    let (host, relay, _dir) = relay_host(ALL);
    relay.start().unwrap();
    let forwarded = collect(&host, "plugin.relay.forwarded");
    host.bus()
        .publish(Outgoing::new("host.file.saved", b"x".to_vec()))
        .unwrap();
    let e = recv(&forwarded);
    assert_eq!(e.publisher(), "relay");
    assert_eq!(e.header("contract"), Some("string@1"));
    let topic: String = switchboard_sdk::decode(e.payload()).unwrap();
    assert_eq!(topic, "host.file.saved");
    assert_eq!(e.hops(), 1);
    assert_eq!(
        Some(e.trace_id()),
        e.causation_id(),
        "caused by the outside event, which began the trace"
    );
    let seen = relay.command::<(), u64>("seen").unwrap();
    assert_eq!(seen.call(&()).unwrap(), 1);
}

#[test]
fn a_plugin_cannot_subscribe_beyond_its_grant() {
    let (_host, relay, _dir) = relay_host(&["events.subscribe:host.window.*"]);
    let e = relay.start().unwrap_err();
    assert!(e.code().to_string().starts_with("SB04"), "{e}");
    assert!(e.to_string().contains("host"), "{e}");
    assert_eq!(
        relay.state(),
        State::Loaded,
        "refused before any plugin code ran"
    );
}

#[test]
fn a_plugin_publishes_in_its_namespace_freely_and_elsewhere_only_with_a_grant() {
    let (host, relay, _dir) = relay_host(ALL);
    relay.start().unwrap();
    let mine = collect(&host, "plugin.relay.*");
    let announce = relay.command::<String, u32>("announce").unwrap();
    assert_eq!(announce.call(&"plugin.relay.hello".into()).unwrap(), 1);
    assert_eq!(recv(&mine).topic(), "plugin.relay.hello");
    let e = announce.call(&"plugin.hello.spoofed".into()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0410", "{e}");
    let e = announce.call(&"system.dead_letter".into()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0817", "{e}");
    let e = announce.call(&"not..a.topic".into()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0802", "{e}");
}

#[test]
fn a_plugin_calls_a_host_service_and_a_mismatch_names_both_contracts() {
    let (host, relay, _dir) = relay_host(ALL);
    relay.start().unwrap();
    let shout = relay.command::<String, String>("shout").unwrap();
    let e = shout.call(&"hi".into()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0807", "no such service yet: {e}");
    host.bus()
        .provide(
            ServiceBuilder::new("text.tools").method("upper", |s: String| Ok(s.to_uppercase())),
        )
        .unwrap();
    assert_eq!(shout.call(&"hi".into()).unwrap(), "HI");
    host.bus().withdraw("text.tools");
    host.bus()
        .provide(ServiceBuilder::new("text.tools").method("upper", |s: String| Ok(s.len() as u64)))
        .unwrap();
    let e = shout.call(&"hi".into()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0809");
    assert!(
        e.to_string().contains("u64@1") && e.to_string().contains("string@1"),
        "{e}"
    );
}

#[test]
fn calling_a_service_needs_service_call() {
    let (host, relay, _dir) =
        relay_host(&["events.subscribe:host.**", "service.provide:relay.echo"]);
    relay.start().unwrap();
    host.bus()
        .provide(ServiceBuilder::new("text.tools").method("upper", |s: String| Ok(s)))
        .unwrap();
    let e = relay
        .command::<String, String>("shout")
        .unwrap()
        .call(&"hi".into())
        .unwrap_err();
    assert!(e.code().to_string().starts_with("SB041"), "{e}");
}

#[test]
fn the_host_calls_a_plugin_service_which_runs_with_its_own_grants_only() {
    let (host, relay, dir) = relay_host(ALL);
    relay.start().unwrap();
    let echo = host
        .bus()
        .client::<String, String>("relay.echo", "echo")
        .unwrap();
    assert_eq!(echo.call(&"ping".into()).unwrap(), "ping");
    // The host can read this file; the provider, holding no fs grant, cannot.
    let file = dir.path().join("secret.txt");
    std::fs::write(&file, "host only").unwrap();
    let peek = host
        .bus()
        .client::<String, String>("relay.echo", "peek")
        .unwrap();
    let e = peek.call(&file.display().to_string()).unwrap_err();
    assert!(e.code().to_string().starts_with("SB041"), "{e}");
    let info = host.bus().services();
    assert_eq!(info[0].provider, "relay");
}

#[test]
fn service_traffic_is_invisible_on_the_bus() {
    let (host, relay, _dir) = relay_host(ALL);
    relay.start().unwrap();
    let everything = collect(&host, ">");
    host.bus()
        .provide(
            ServiceBuilder::new("text.tools").method("upper", |s: String| Ok(s.to_uppercase())),
        )
        .unwrap();
    let echo = host
        .bus()
        .client::<String, String>("relay.echo", "echo")
        .unwrap();
    echo.call(&"private".into()).unwrap();
    relay
        .command::<String, String>("shout")
        .unwrap()
        .call(&"private".into())
        .unwrap();
    assert!(
        everything.try_recv().is_err(),
        "no envelope carried service traffic"
    );
    assert_eq!(
        relay.command::<(), u64>("seen").unwrap().call(&()).unwrap(),
        0
    );
}

#[test]
fn a_plugin_re_entering_itself_through_a_service_completes_or_fails_fast() {
    let (_host, relay, _dir) = relay_host(ALL);
    relay.start().unwrap();
    let bounce = relay.command::<u32, u32>("bounce").unwrap();
    assert_eq!(bounce.call(&10).unwrap(), 10);
    let e = bounce.call(&10_000).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0813", "{e}");
    assert_eq!(
        relay.state(),
        State::Active,
        "the runaway chain did not hurt the plugin"
    );
    assert_eq!(bounce.call(&3).unwrap(), 3);
}

#[test]
fn an_event_cycle_through_a_plugin_stops_at_the_hop_limit() {
    let (host, relay, _dir) = relay_host(ALL);
    relay.start().unwrap();
    // relay turns host.* into plugin.relay.forwarded; the host turns that back into host.loop.
    let bus = host.bus().clone();
    host.bus()
        .subscribe(
            "plugin.relay.forwarded",
            SubscribeOptions::new().breaker(0),
            move |_| {
                bus.publish(Outgoing::new("host.loop", Vec::new()))
                    .map(|_| ())
                    .map_err(|e| switchboard_sdk::PluginError::with_code(e.code(), e.to_string()))
            },
        )
        .unwrap();
    let loops = collect(&host, "host.loop");
    host.bus()
        .publish(Outgoing::new("host.loop", Vec::new()))
        .unwrap();
    let failures = || {
        host.bus()
            .subscriptions()
            .iter()
            .map(|s| s.stats.failures)
            .sum::<u64>()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while failures() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the cycle never stopped"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    // 64 hops: host.loop at even depths 0..=62 (32 of them).
    assert_eq!(loops.try_iter().count(), 32);
    assert_eq!(relay.state(), State::Active);
}

#[test]
fn a_failing_plugin_handler_trips_the_breaker_and_can_be_resumed() {
    let (host, relay, _dir) = relay_host(ALL);
    relay.start().unwrap();
    let notices = collect(&host, SUSPENDED_TOPIC);
    for _ in 0..5 {
        host.bus()
            .publish(Outgoing::new("host.job", b"fail".to_vec()))
            .unwrap();
    }
    let notice = recv(&notices);
    assert_eq!(notice.header("subscriber"), Some("relay"));
    assert_eq!(notice.header("pattern"), Some("host.>"));
    let id = host
        .bus()
        .subscriptions()
        .into_iter()
        .find(|s| s.owner == "relay")
        .unwrap()
        .id;
    assert!(host.bus().stats(id).unwrap().suspended);
    host.bus().resume(id).unwrap();
    let forwarded = collect(&host, "plugin.relay.forwarded");
    host.bus()
        .publish(Outgoing::new("host.job", b"ok".to_vec()))
        .unwrap();
    recv(&forwarded);
}

#[test]
fn a_panicking_plugin_handler_fails_the_plugin_not_the_host() {
    let (host, relay, _dir) = relay_host(ALL);
    relay.start().unwrap();
    host.bus()
        .publish(Outgoing::new("host.job", b"panic".to_vec()))
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while relay.state() != State::Failed {
        assert!(
            std::time::Instant::now() < deadline,
            "the panic was not recorded"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let e = relay
        .command::<(), u64>("seen")
        .unwrap()
        .call(&())
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0304", "{e}");
    // The host and its bus carry on.
    host.bus()
        .publish(Outgoing::new("host.other", Vec::new()))
        .unwrap();
}

#[test]
fn stopping_a_plugin_takes_it_off_the_bus() {
    let (host, relay, _dir) = relay_host(ALL);
    relay.start().unwrap();
    assert_eq!(host.bus().subscriptions().len(), 1);
    assert_eq!(host.bus().services().len(), 1);
    relay.stop().unwrap();
    assert!(host.bus().subscriptions().is_empty());
    assert!(host.bus().services().is_empty());
    assert_eq!(
        host.bus()
            .publish(Outgoing::new("host.x", Vec::new()))
            .unwrap(),
        0
    );
    relay.start().unwrap();
    assert_eq!(
        host.bus().subscriptions().len(),
        1,
        "and back on when started again"
    );
    host.remove("relay").unwrap();
    assert!(host.bus().subscriptions().is_empty());
}

#[test]
fn a_plugin_calling_a_hung_service_with_a_timeout_gets_a_coded_error() {
    let (host, relay, _dir) = relay_host(ALL);
    relay.start().unwrap();
    let (entered_tx, entered) = unbounded::<()>();
    let gate = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let g = gate.clone();
    host.bus()
        .provide(
            ServiceBuilder::new("text.tools").method("upper", move |s: String| {
                let _ = entered_tx.send(());
                let (open, cv) = &*g;
                let mut open = open.lock().unwrap();
                while !*open {
                    open = cv.wait(open).unwrap();
                }
                Ok(s.to_uppercase())
            }),
        )
        .unwrap();
    let within = relay.command::<u64, String>("shout_within").unwrap();
    let e = within.call(&20).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0811", "{e}");
    entered.recv_timeout(Duration::from_secs(60)).unwrap();
    // The plugin's own thread is free again, and still active.
    assert_eq!(relay.state(), State::Active);
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    assert_eq!(within.call(&60_000).unwrap(), "PATIENCE");
}
