//! Health checks (SPEC S8.4) with real plugins: `hello` (healthy, and `crash` panics),
//! `phoenix` (its hook follows KV flags: `fail/health` unhealthy, `degrade/health`
//! degraded), `sickly` (its hook hangs when configured to), and `escape` isolated (its
//! runner segfaults). Rounds run through `Host::check_health`, never a sleep; events are
//! collected by an inline subscription, so every one published is in the channel when the
//! round returns.

use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver};
use serde_json::Value;
use switchboard_host::bus::{Mode, SubscribeOptions};
use switchboard_host::isolation::{IsolationProfile, Mode as Isolation};
use switchboard_host::{
    health_codes, AuditFilter, AuditKind, HealthRules, HealthState, Host, HostBuilder, LoadOptions,
    PluginHandle, Policy, HEALTH_TOPIC,
};
use switchboard_tests::{edited_manifest, host_with, library, test_plugin};

/// A host with no periodic checks (rounds run when the test says), phoenix's grants, set up
/// further by `setup`.
fn host(setup: impl FnOnce(&mut HostBuilder)) -> (Host, tempfile::TempDir) {
    host_with(|b, _| {
        let mut policy = Policy::new();
        policy.allow("kv".parse().unwrap());
        policy.allow("config.read".parse().unwrap());
        policy.allow("events.subscribe:test.phoenix.**".parse().unwrap());
        b.policy(policy).health_interval(None);
        setup(b);
    })
}

fn started(host: &Host, library: std::path::PathBuf) -> PluginHandle {
    let plugin = host.load_unsigned(library).unwrap();
    plugin.start().unwrap();
    plugin
}

/// Every `system.plugin.health` payload, as JSON, delivered on the publisher's thread.
fn health_events(host: &Host) -> Receiver<Value> {
    let (tx, rx) = unbounded();
    host.bus()
        .subscribe(
            HEALTH_TOPIC,
            SubscribeOptions::new().mode(Mode::Inline),
            move |e| {
                let _ = tx.send(serde_json::from_slice(e.payload()).unwrap());
                Ok(())
            },
        )
        .unwrap();
    rx
}

fn state_of(host: &Host, plugin: &str) -> HealthState {
    host.check_health().plugin(plugin).unwrap().status.state
}

fn codes(plugin: &PluginHandle) -> Vec<String> {
    plugin
        .health_status()
        .unwrap()
        .reasons
        .iter()
        .map(|r| r.code.to_string())
        .collect()
}

fn audited(host: &Host, plugin: &str) -> Vec<String> {
    host.audit()
        .query(&AuditFilter::new().plugin(plugin).kind(AuditKind::Health))
        .unwrap()
        .into_iter()
        .map(|r| r.subject)
        .collect()
}

#[test]
fn a_healthy_plugin_is_healthy_and_nothing_is_published() {
    let (host, _dir) = host(|_| {});
    let events = health_events(&host);
    let hello = started(&host, library("hello"));
    assert_eq!(hello.health_status(), None, "not checked yet");
    let report = host.check_health();
    assert_eq!(report.worst(), HealthState::Healthy);
    let status = hello.health_status().unwrap();
    assert!(status.is_healthy());
    assert!(status.reasons.is_empty());
    assert_eq!(status.since, report.at);
    assert!(!report.plugin("hello").unwrap().changed());
    assert_eq!(events.try_iter().count(), 0);
    assert!(audited(&host, "hello").is_empty());
}

#[test]
fn each_change_of_the_hooks_report_is_published_and_audited_once() {
    let (host, _dir) = host(|_| {});
    let events = health_events(&host);
    let phoenix = started(&host, test_plugin("phoenix"));
    assert_eq!(state_of(&host, "phoenix"), HealthState::Healthy);

    host.kv("phoenix").put("degrade/health", b"1").unwrap();
    assert_eq!(state_of(&host, "phoenix"), HealthState::Degraded);
    assert_eq!(codes(&phoenix), ["SB0390"]);

    host.kv("phoenix").put("fail/health", b"1").unwrap();
    let round = host.check_health();
    assert_eq!(state_of_report(&round, "phoenix"), HealthState::Unhealthy);
    assert_eq!(codes(&phoenix), ["SB0391"]);
    // Since the round that saw the change.
    let unhealthy_since = phoenix.health_status().unwrap().since;
    assert_eq!(unhealthy_since, round.at);
    // The same state again: no event, and `since` stays.
    assert_eq!(state_of(&host, "phoenix"), HealthState::Unhealthy);
    assert_eq!(phoenix.health_status().unwrap().since, unhealthy_since);

    host.kv("phoenix").delete("fail/health").unwrap();
    host.kv("phoenix").delete("degrade/health").unwrap();
    assert_eq!(state_of(&host, "phoenix"), HealthState::Healthy);
    assert_eq!(state_of(&host, "phoenix"), HealthState::Healthy);

    let seen: Vec<Value> = events.try_iter().collect();
    let changes: Vec<(Value, Value)> = seen
        .iter()
        .map(|e| (e["from"].clone(), e["to"].clone()))
        .collect();
    assert_eq!(
        changes,
        [
            ("healthy".into(), "degraded".into()),
            ("degraded".into(), "unhealthy".into()),
            ("unhealthy".into(), "healthy".into()),
        ]
    );
    let unhealthy = &seen[1];
    assert_eq!(unhealthy["plugin"], "phoenix");
    assert_eq!(unhealthy["reasons"][0]["code"], "SB0391");
    assert!(unhealthy["reasons"][0]["message"]
        .as_str()
        .unwrap()
        .contains("the fail/health flag is set"));
    assert!(unhealthy["at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(seen[2]["reasons"], Value::Array(Vec::new()));
    assert_eq!(
        audited(&host, "phoenix"),
        ["degraded", "unhealthy", "healthy"]
    );
}

#[test]
fn a_panic_makes_the_plugin_unhealthy_with_the_reason() {
    let (host, _dir) = host(|_| {});
    let events = health_events(&host);
    let hello = started(&host, library("hello"));
    assert_eq!(state_of(&host, "hello"), HealthState::Healthy);
    let crash = hello.command::<(), ()>("crash").unwrap();
    assert!(crash.call(&()).is_err());
    assert_eq!(state_of(&host, "hello"), HealthState::Unhealthy);
    let status = hello.health_status().unwrap();
    assert!(status.has(health_codes::FAILED));
    assert!(status.has(health_codes::PANICS));
    let failed = &status.reasons[0];
    assert_eq!(failed.code, health_codes::FAILED);
    assert!(
        failed.message.contains("hello crashed on purpose"),
        "{}",
        failed.message
    );
    let seen: Vec<Value> = events.try_iter().collect();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["from"], "healthy");
    assert_eq!(seen[0]["to"], "unhealthy");
}

#[test]
fn a_stopped_plugin_is_unhealthy_until_it_starts_again() {
    let (host, _dir) = host(|_| {});
    let hello = started(&host, library("hello"));
    assert_eq!(state_of(&host, "hello"), HealthState::Healthy);
    hello.stop().unwrap();
    assert_eq!(state_of(&host, "hello"), HealthState::Unhealthy);
    assert_eq!(codes(&hello), ["SB0397"]);
    hello.start().unwrap();
    assert_eq!(state_of(&host, "hello"), HealthState::Healthy);
}

#[test]
fn a_hook_that_hangs_is_bounded_by_the_deadline_and_asked_once() {
    let (host, dir) = host(|b| {
        b.health_rules(HealthRules {
            hook_deadline: Duration::from_millis(200),
            ..HealthRules::default()
        });
    });
    let config = switchboard_host::state::config_file(&dir.path().join("data"), "sickly");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "hang_health = true\n").unwrap();
    let events = health_events(&host);
    let sickly = started(&host, test_plugin("sickly"));
    let hello = started(&host, library("hello"));

    // The round returns though sickly's hook never will; hello is checked in the same round.
    let report = host.check_health();
    assert_eq!(
        report.plugin("hello").unwrap().status.state,
        HealthState::Healthy
    );
    assert_eq!(state_of_report(&report, "sickly"), HealthState::Unhealthy);
    assert_eq!(codes(&sickly), ["SB0392"]);
    let why = &sickly.health_status().unwrap().reasons[0].message;
    assert!(why.contains("did not answer within 200 ms"), "{why}");

    // The next round does not ask it again (its first thread has not returned).
    host.check_health();
    let why = &sickly.health_status().unwrap().reasons[0].message;
    assert!(why.contains("has still not returned"), "{why}");
    // The plugin still serves calls; only its health hook hangs.
    assert_eq!(
        sickly
            .command::<(), String>("ping")
            .unwrap()
            .call(&())
            .unwrap(),
        "pong"
    );
    assert_eq!(hello.health_status().unwrap().state, HealthState::Healthy);
    let seen: Vec<Value> = events.try_iter().collect();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["from"], Value::Null, "its first check");
    assert_eq!(seen[0]["to"], "unhealthy");
}

fn state_of_report(report: &switchboard_host::HealthReport, plugin: &str) -> HealthState {
    report.plugin(plugin).unwrap().status.state
}

#[test]
fn the_periodic_monitor_publishes_a_change_without_being_asked() {
    let (host, _dir) = host(|b| {
        b.health_interval(Duration::from_millis(20));
    });
    let events = health_events(&host);
    let phoenix = started(&host, test_plugin("phoenix"));
    // First the monitor's own rounds see phoenix healthy (a round between load and start saw
    // it "not running"): were the flag set before, the change to unhealthy could be the one
    // from "not running", with no event for the hook's reason.
    let until = std::time::Instant::now() + Duration::from_secs(60);
    while phoenix.health_status().map(|s| s.state) != Some(HealthState::Healthy) {
        assert!(std::time::Instant::now() < until, "never seen healthy");
        std::thread::yield_now();
    }
    host.kv("phoenix").put("fail/health", b"1").unwrap();
    // Waits for the event the monitor's thread publishes for the hook's report (a minute at
    // most).
    let event = loop {
        let event = events.recv_timeout(Duration::from_secs(60)).unwrap();
        if event["reasons"][0]["code"] == "SB0391" {
            break event;
        }
    };
    assert_eq!(event["plugin"], "phoenix");
    assert_eq!(event["to"], "unhealthy");
    assert_eq!(
        phoenix.health_status().unwrap().state,
        HealthState::Unhealthy
    );
    assert_eq!(host.health_interval(), Some(Duration::from_millis(20)));
}

#[test]
fn an_isolated_runner_crash_and_restart_make_the_plugin_degraded() {
    let mut profile = IsolationProfile::default();
    profile.max_restarts = Some(3);
    profile.restart_backoff_ms = Some(1);
    let (host, _dir) = host(|b| {
        let mut policy = Policy::new();
        policy.allow("events.subscribe:escape.**".parse().unwrap());
        policy.isolation_defaults(profile);
        b.policy(policy).runner(crate::isolated::runner());
        // A hook asked while the runner restarts waits for it: give it the time.
        b.health_rules(HealthRules {
            hook_deadline: Duration::from_secs(60),
            ..HealthRules::default()
        });
    });
    let mut options = LoadOptions::new();
    options.isolation(Isolation::Isolated);
    let escape = host
        .load_unsigned_with(test_plugin("escape"), &options)
        .unwrap();
    escape.start().unwrap();
    assert_eq!(state_of(&host, "escape"), HealthState::Healthy);

    let segfault = escape.command::<(), ()>("segfault").unwrap();
    assert_eq!(segfault.call(&()).unwrap_err().code().to_string(), "SB1501");
    // A call served by the new runner: by then the supervisor has reported the exit.
    let sleep = escape.command::<u64, u64>("sleep_ms").unwrap();
    assert_eq!(sleep.call(&0).unwrap(), 0);

    assert_eq!(state_of(&host, "escape"), HealthState::Degraded);
    let status = escape.health_status().unwrap();
    assert!(status.has(health_codes::FAILED_CALLS), "{status:?}");
    assert!(status.has(health_codes::RUNNER_RESTARTS), "{status:?}");
    assert_eq!(audited(&host, "escape"), ["degraded"]);
}

#[test]
fn a_reload_whose_health_hook_hangs_fails_at_the_deadline_and_the_old_version_serves_on() {
    let (host, dir) = host(|b| {
        b.health_rules(HealthRules {
            hook_deadline: Duration::from_millis(200),
            ..HealthRules::default()
        });
    });
    // Loaded from a file the test then rebuilds in place, as a developer does.
    let path = dir.path().join("libphoenix.so");
    let write = |version: &str| {
        let bytes = std::fs::read(test_plugin("phoenix")).unwrap();
        let bytes = edited_manifest(&bytes, "phoenix", |m| m["version"] = version.into());
        std::fs::write(&path, bytes).unwrap();
    };
    write("0.1.0");
    let phoenix = started(&host, path.clone());
    write("0.2.0");
    host.kv("phoenix").put("hang/health", b"1").unwrap();
    let error = phoenix.reload(&path).unwrap_err();
    assert_eq!(error.code().to_string(), "SB0371", "{error}");
    assert!(
        error.to_string().contains("did not answer within 200 ms"),
        "{error}"
    );
    assert_eq!(phoenix.version(), "0.1.0");
    assert_eq!(
        phoenix
            .command::<(), u64>("count")
            .unwrap()
            .call(&())
            .unwrap(),
        0
    );
}

#[test]
fn switchboard_health_reports_an_unhealthy_plugin_with_status_3_and_inspect_shows_the_change() {
    use switchboard_cli::install::health::{check, exit_status, to_text, HealthArgs};
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let plugins = root.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let library = test_plugin("sickly");
    std::fs::copy(&library, plugins.join(library.file_name().unwrap())).unwrap();
    let config = switchboard_host::state::config_file(&data, "sickly");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "healthy = false\n").unwrap();
    std::fs::write(data.join("policy.toml"), "allow = [\"config.read\"]\n").unwrap();
    let args = HealthArgs {
        dirs: vec![plugins],
        data_dir: Some(data.clone()),
        dev: true,
        policy: None,
        trust: Vec::new(),
        host_api: Some("switchboard-demo@0.1.0".into()),
        json: false,
    };
    let run = check(&args).unwrap();
    assert!(run.not_started.is_empty(), "{:?}", run.not_started);
    assert_eq!(exit_status(&run.report), 3);
    let text = to_text(&run);
    assert!(text.contains("unhealthy"), "{text}");
    assert!(
        text.contains(
            "sickly: [SB0391] its health hook reports unhealthy: the configuration says so"
        ),
        "{text}"
    );

    // The change was audited; `inspect` shows it from the database, no plugin loaded.
    let inspection = switchboard_cli::inspect::inspect(&data, "sickly").unwrap();
    let doc = switchboard_cli::inspect::to_json(&inspection);
    assert_eq!(doc["health"]["state"], "unhealthy", "{doc:#}");
    assert_eq!(doc["health"]["from"], Value::Null);
    assert_eq!(doc["health"]["reasons"][0]["code"], "SB0391");
    let mut out = Vec::new();
    switchboard_cli::inspect::write_text(&inspection, &mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("health:   unhealthy since"), "{out}");
    assert!(out.contains("[SB0391]"), "{out}");
}

#[test]
fn a_subscriber_that_checks_again_from_its_handler_does_not_deadlock() {
    let (host, _dir) = host(|_| {});
    let again = host.clone();
    let (tx, rx) = unbounded();
    let id = host
        .bus()
        .subscribe(
            HEALTH_TOPIC,
            SubscribeOptions::new().mode(Mode::Inline),
            move |_| {
                let _ = tx.send(again.check_health().worst());
                Ok(())
            },
        )
        .unwrap();
    let hello = started(&host, library("hello"));
    hello.stop().unwrap();
    assert_eq!(state_of(&host, "hello"), HealthState::Unhealthy);
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [HealthState::Unhealthy]);
    // The handler keeps a host clone: unsubscribing lets the host go.
    host.bus().unsubscribe(id).unwrap();
}
