//! Metrics (SPEC S8.4) from real plugins: calls, errors by code, latency percentiles, panics,
//! events, reloads — through `Host::metrics`, its deltas and the Prometheus text format.

use std::path::Path;
use std::time::{Duration, Instant};

use switchboard_host::bus::Outgoing;
use switchboard_host::metrics::names;
use switchboard_host::{Host, Policy};
use switchboard_tests::{dev_host, edited_manifest, host_with, library, test_plugin};

fn greet(host: &Host, name: &str) -> bool {
    host.command::<String, String>("hello", "greet")
        .unwrap()
        .call(&name.to_owned())
        .is_ok()
}

#[test]
fn calls_errors_and_latency_are_counted_per_command() {
    let (host, _dir) = dev_host();
    host.load_unsigned(library("hello"))
        .unwrap()
        .start()
        .unwrap();
    let ok = (0..20).filter(|_| greet(&host, "Ada")).count();
    let failed = (0..3).filter(|_| !greet(&host, " ")).count();
    assert_eq!((ok, failed), (20, 3));
    let add = host
        .command::<hello::AddRequest, hello::AddResponse>("hello", "add")
        .unwrap();
    for i in 0..100 {
        add.call(&hello::AddRequest { a: i, b: 1 }).unwrap();
    }

    let m = host.metrics();
    let hello = &m.plugins["hello"];
    let greet = &hello.commands["greet"];
    assert_eq!(greet.calls, 23);
    assert_eq!(greet.errors_total(), 3);
    // A plugin error without a code of its own is counted under the generic plugin code.
    assert_eq!(greet.errors.len(), 1, "{:?}", greet.errors);
    let add = &hello.commands["add"];
    assert_eq!((add.calls, add.errors_total()), (100, 0));
    // Every call is counted; at least one in 64 is timed, each standing for the calls it
    // samples, so the histogram stands for about as many calls as were made.
    let timed = add.latency.count();
    assert!((1..=164).contains(&timed), "{timed}");
    let (p50, p99, max) = (add.latency.p50(), add.latency.p99(), add.latency.max());
    assert!(
        Duration::ZERO < p50 && p50 <= p99 && p99 <= max,
        "{p50:?} {p99:?} {max:?}"
    );
    assert!(
        !hello.commands.contains_key("crash"),
        "a command never called has no row"
    );
}

#[test]
fn a_panic_is_counted_and_the_calls_refused_after_it_are_errors() {
    let (host, _dir) = dev_host();
    host.load_unsigned(library("hello"))
        .unwrap()
        .start()
        .unwrap();
    let crash = host.command::<(), ()>("hello", "crash").unwrap();
    assert!(crash.call(&()).is_err());
    assert!(crash.call(&()).is_err());
    let m = host.metrics();
    let hello = &m.plugins["hello"];
    assert_eq!(hello.panics, 1);
    let crash = &hello.commands["crash"];
    assert_eq!(crash.calls, 2);
    // The panic (the SDK's panic code) and the refusal of a failed plugin (SB0304).
    assert_eq!(crash.errors.get("SB0304"), Some(&1), "{:?}", crash.errors);
    assert_eq!(crash.errors_total(), 2);
}

#[test]
fn metrics_off_records_nothing() {
    let (host, _dir) = host_with(|b, _| {
        b.metrics(false);
    });
    host.load_unsigned(library("hello"))
        .unwrap()
        .start()
        .unwrap();
    assert!(greet(&host, "Ada"));
    assert!(host.metrics().plugins.is_empty());
    assert!(!host.metrics().to_prometheus().contains("plugin=\"hello\""));
}

#[test]
fn deltas_between_snapshots_and_the_prometheus_text() {
    let (host, _dir) = dev_host();
    host.load_unsigned(library("hello"))
        .unwrap()
        .start()
        .unwrap();
    for _ in 0..4 {
        greet(&host, "Ada");
    }
    let before = host.metrics();
    for _ in 0..5 {
        greet(&host, "Ada");
    }
    greet(&host, "");
    let after = host.metrics();
    let delta = after.since(&before);
    let greet = &delta.plugins["hello"].commands["greet"];
    assert_eq!((greet.calls, greet.errors_total()), (6, 1));

    let text = after.to_prometheus();
    let calls = format!("{}{{plugin=\"hello\",command=\"greet\"}} 10", names::CALLS);
    assert!(text.contains(&calls), "{text}");
    assert!(text.contains(&format!("# TYPE {} counter", names::CALLS)));
    assert!(text.contains(&format!("# TYPE {} summary", names::LATENCY)));
    assert!(text.contains(&format!(
        "{}{{plugin=\"hello\",command=\"greet\",quantile=\"0.99\"}}",
        names::LATENCY
    )));
    assert!(text.contains(&format!("{}{{plugin=\"hello\"}} 0", names::PANICS)));
    // Every line is a comment or `name{labels} value` with a number for the value.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
    // Exporting to the facade with no recorder installed is harmless, and repeatable.
    host.export_metrics();
    host.export_metrics();
}

/// phoenix (a test plugin that subscribes to `test.phoenix.tick`) as `version` at `path`.
fn write_phoenix(path: &Path, version: &str) {
    let bytes = std::fs::read(test_plugin("phoenix")).unwrap();
    let bytes = edited_manifest(&bytes, "phoenix", |m| m["version"] = version.into());
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn events_and_reloads_are_counted_and_survive_the_reload() {
    let (host, dir) = host_with(|b, _| {
        let mut policy = Policy::new();
        policy.allow("kv".parse().unwrap());
        policy.allow("events.subscribe:test.phoenix.**".parse().unwrap());
        b.policy(policy);
    });
    let path = dir.path().join("libphoenix.so");
    write_phoenix(&path, "0.1.0");
    let plugin = host.load_unsigned(&path).unwrap();
    plugin.start().unwrap();
    let bump = plugin.command::<(), u64>("bump").unwrap();
    bump.call(&()).unwrap();
    let delivered = |host: &Host| {
        host.metrics()
            .plugins
            .get("phoenix")
            .map_or(0, |p| p.events_delivered)
    };
    for _ in 0..3 {
        host.bus()
            .publish(Outgoing::new("test.phoenix.tick", Vec::new()))
            .unwrap();
    }
    let until = Instant::now() + Duration::from_secs(20);
    while delivered(&host) < 3 {
        assert!(Instant::now() < until, "events never delivered");
        std::thread::yield_now();
    }

    write_phoenix(&path, "0.2.0");
    plugin.reload(&path).unwrap();
    bump.call(&()).unwrap();
    let m = host.metrics();
    let phoenix = &m.plugins["phoenix"];
    assert_eq!(phoenix.reloads, 1);
    // The handle kept counting into the same command across the reload, and the
    // subscriptions the old version had are still in the totals.
    assert_eq!(phoenix.commands["bump"].calls, 2);
    assert_eq!(phoenix.events_delivered, 3);
    assert_eq!(phoenix.events_dropped, 0);
}
