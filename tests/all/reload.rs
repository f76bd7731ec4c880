//! Hot reload (SPEC S8.3) with the real `phoenix` test plugin: its state lives in memory, so
//! only `snapshot` → `restore` carries it to the next version; its hooks fail on KV flags.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_host::bus::Outgoing;
use switchboard_host::{
    AuditFilter, AuditKind, Error, Host, HostBuilder, PluginHandle, Policy, ReloadStep, State,
};
use switchboard_tests::{edited_manifest, host_with, library, test_plugin};

/// A host whose policy grants phoenix what it asks for, set up further by `setup`.
fn host(setup: impl FnOnce(&mut HostBuilder)) -> (Host, tempfile::TempDir) {
    host_with(|b, _| {
        let mut policy = Policy::new();
        policy.allow("kv".parse().unwrap());
        policy.allow("events.subscribe:test.phoenix.**".parse().unwrap());
        b.policy(policy);
        setup(b);
    })
}

/// Writes phoenix as `version` to `path` (the file a developer rebuilds in place).
fn write_version(path: &Path, version: &str) {
    let bytes = std::fs::read(test_plugin("phoenix")).unwrap();
    let bytes = edited_manifest(&bytes, "phoenix", |m| m["version"] = version.into());
    std::fs::write(path, bytes).unwrap();
}

/// phoenix 0.1.0 loaded from `DIR/libphoenix.so` and started.
fn phoenix(host: &Host, dir: &Path) -> (PluginHandle, PathBuf) {
    let path = dir.join("libphoenix.so");
    write_version(&path, "0.1.0");
    let plugin = host.load_unsigned(&path).unwrap();
    plugin.start().unwrap();
    (plugin, path)
}

fn count(plugin: &PluginHandle) -> u64 {
    plugin
        .command::<(), u64>("count")
        .unwrap()
        .call(&())
        .unwrap()
}

fn bump(plugin: &PluginHandle, times: u64) {
    let bump = plugin.command::<(), u64>("bump").unwrap();
    for _ in 0..times {
        bump.call(&()).unwrap();
    }
}

fn reload_code(
    result: Result<switchboard_host::ReloadReport, Error>,
) -> (String, Option<ReloadStep>) {
    match result.unwrap_err() {
        Error::Reload(e) => (e.code().to_string(), e.step()),
        other => panic!("not a reload error: {other}"),
    }
}

/// Waits (bounded) until `check` holds: for events, which arrive on the bus's worker.
fn eventually(what: &str, check: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

fn reload_rows(host: &Host) -> Vec<serde_json::Value> {
    let mut filter = AuditFilter::default();
    filter.kind = Some(AuditKind::Reload);
    host.audit()
        .query(&filter)
        .unwrap()
        .into_iter()
        .map(|r| serde_json::from_str(&r.detail).unwrap())
        .collect()
}

#[test]
fn reload_under_eight_calling_threads_loses_no_call_and_carries_the_state() {
    let (host, dir) = host(|_| {});
    let (plugin, path) = phoenix(&host, dir.path());
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let bump = plugin.command::<(), u64>("bump").unwrap();
            let (stop, calls) = (stop.clone(), calls.clone());
            std::thread::spawn(move || {
                let mut errors = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match bump.call(&()) {
                        Ok(_) => {
                            calls.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => errors.push(e.to_string()),
                    }
                }
                errors
            })
        })
        .collect();
    // Every thread is calling before the reload, and goes on calling after it.
    eventually("calls before the reload", || {
        calls.load(Ordering::Relaxed) >= 800
    });
    write_version(&path, "0.2.0");
    let report = plugin.reload(&path).unwrap();
    let after = calls.load(Ordering::Relaxed);
    eventually("calls after the reload", || {
        calls.load(Ordering::Relaxed) >= after + 800
    });
    stop.store(true, Ordering::Relaxed);
    let errors: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(errors.is_empty(), "failed calls: {errors:?}");
    assert_eq!(
        (report.from.as_str(), report.to.as_str()),
        ("0.1.0", "0.2.0")
    );
    assert_eq!(report.generation, 1);
    // Every bump counted once, whichever version served it: the state was handed over.
    assert_eq!(count(&plugin), calls.load(Ordering::Relaxed));
    assert_eq!(plugin.version(), "0.2.0");
    assert_eq!(plugin.state(), State::Active);
    let from: String = plugin
        .command::<(), String>("handed_from")
        .unwrap()
        .call(&())
        .unwrap();
    assert_eq!(
        from, "0.1.0",
        "the new version saw which version the state came from"
    );
    let reloads = plugin.reloads();
    assert_eq!(
        (reloads.done, reloads.mapped, reloads.generation),
        (1, 1, 1)
    );
    // The history shows the handover; the audit log the reload.
    let states: Vec<State> = plugin.history().iter().map(|t| t.to).collect();
    assert!(
        states.ends_with(&[State::Active, State::Reloading, State::Active]),
        "{states:?}"
    );
    let rows = reload_rows(&host);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["outcome"], "reloaded");
    assert_eq!(rows[0]["from"], "0.1.0");
    // The record says what serves now, and `switchboard inspect` counts the reload.
    assert_eq!(host.store().plugin("phoenix").unwrap().version, "0.2.0");
    let inspection = switchboard_cli::inspect::inspect(host.data_dir(), "phoenix").unwrap();
    let reloads = &switchboard_cli::inspect::to_json(&inspection)["reloads"];
    assert_eq!(reloads["since_load"], 1, "{reloads}");
    assert_eq!(reloads["mapped"], 1, "{reloads}");
    assert_eq!(reloads["last"]["from"], "0.1.0", "{reloads}");
}

#[test]
fn subscriptions_deliver_to_the_new_code_after_a_reload() {
    let (host, dir) = host(|_| {});
    let (plugin, path) = phoenix(&host, dir.path());
    let events = plugin.command::<(), u64>("events").unwrap();
    host.bus()
        .publish(Outgoing::new("test.phoenix.tick", Vec::new()))
        .unwrap();
    eventually("the first event", || events.call(&()).unwrap() == 1);
    write_version(&path, "0.2.0");
    plugin.reload(&path).unwrap();
    host.bus()
        .publish(Outgoing::new("test.phoenix.tick", Vec::new()))
        .unwrap();
    // The new code counts on from the count it was handed.
    eventually("the second event", || events.call(&()).unwrap() == 2);
}

#[test]
fn a_broken_library_or_another_plugin_keeps_the_old_version_serving() {
    let (host, dir) = host(|_| {});
    let (plugin, _) = phoenix(&host, dir.path());
    bump(&plugin, 3);
    let broken = dir.path().join("broken/libphoenix.so");
    std::fs::create_dir_all(broken.parent().unwrap()).unwrap();
    std::fs::write(&broken, b"\x7fELF but not really a library").unwrap();
    assert_eq!(
        reload_code(plugin.reload(&broken)),
        ("SB0365".to_owned(), Some(ReloadStep::Load))
    );
    assert_eq!(
        reload_code(plugin.reload(library("hello"))),
        ("SB0362".to_owned(), None)
    );
    assert_eq!(count(&plugin), 3);
    assert_eq!(plugin.version(), "0.1.0");
    assert_eq!(plugin.reloads().done, 0);
    let rows = reload_rows(&host);
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["outcome"] == "refused"), "{rows:?}");
    assert_eq!(rows[0]["step"], "load");
}

/// Sets `flag`, reloads to 0.2.0 expecting `code` at `step`; the old version serves on with
/// its state; without the flag the same reload then succeeds and carries the state.
fn failing_step_keeps_the_old_version(flag: &str, code: &str, step: ReloadStep) {
    let (host, dir) = host(|_| {});
    let (plugin, path) = phoenix(&host, dir.path());
    bump(&plugin, 5);
    write_version(&path, "0.2.0");
    host.kv("phoenix").put(flag, b"1").unwrap();
    assert_eq!(
        reload_code(plugin.reload(&path)),
        (code.to_owned(), Some(step))
    );
    assert_eq!(plugin.state(), State::Active);
    assert_eq!(plugin.version(), "0.1.0");
    bump(&plugin, 1);
    assert_eq!(
        count(&plugin),
        6,
        "the old version kept its state and serves"
    );
    let rows = reload_rows(&host);
    assert_eq!(rows[0]["outcome"], "refused");
    assert_eq!(rows[0]["step"], step.as_str());
    assert_eq!(rows[0]["code"], code);

    host.kv("phoenix").delete(flag).unwrap();
    plugin.reload(&path).unwrap();
    assert_eq!(plugin.version(), "0.2.0");
    assert_eq!(count(&plugin), 6);
    // Both attempts mapped a library copy; one reload succeeded.
    let reloads = plugin.reloads();
    assert_eq!((reloads.done, reloads.mapped), (1, 2));
}

#[test]
fn a_failing_restore_keeps_the_old_version_serving() {
    failing_step_keeps_the_old_version("fail/restore", "SB0369", ReloadStep::Restore);
}

#[test]
fn a_failing_start_keeps_the_old_version_serving() {
    failing_step_keeps_the_old_version("fail/start", "SB0370", ReloadStep::Start);
}

#[test]
fn a_failing_health_check_right_after_keeps_the_old_version_serving() {
    failing_step_keeps_the_old_version("fail/health", "SB0371", ReloadStep::Health);
}

#[test]
fn a_changed_contract_or_removed_command_is_refused_at_the_next_call() {
    let (host, dir) = host(|_| {});
    let (plugin, path) = phoenix(&host, dir.path());
    let bump = plugin.command::<(), u64>("bump").unwrap();
    let count = plugin.command::<(), u64>("count").unwrap();
    let raw_count = plugin.raw_command("count").unwrap();
    let events = plugin.command::<(), u64>("events").unwrap();
    bump.call(&()).unwrap();
    // 0.2.0: `bump` answers another type, `count` is gone (renamed).
    let bytes = std::fs::read(test_plugin("phoenix")).unwrap();
    let bytes = edited_manifest(&bytes, "phoenix", |m| {
        m["version"] = "0.2.0".into();
        for c in m["commands"].as_array_mut().unwrap() {
            match c["name"].as_str().unwrap() {
                "bump" => c["response"] = "u32".into(),
                "count" => c["name"] = "cnt".into(),
                _ => {}
            }
        }
    });
    std::fs::write(&path, bytes).unwrap();
    plugin.reload(&path).unwrap();

    let changed = bump.call(&()).unwrap_err();
    assert_eq!(changed.code().to_string(), "SB0374", "{changed}");
    assert!(changed.to_string().contains("u32"), "{changed}");
    assert_eq!(count.call(&()).unwrap_err().code().to_string(), "SB0373");
    assert_eq!(
        raw_count.call(&[]).unwrap_err().code().to_string(),
        "SB0373"
    );
    // A command that did not change goes on working through the old handle.
    assert_eq!(events.call(&()).unwrap(), 0);
    // A new handle on the changed command is the usual bind-time refusal.
    assert_eq!(
        plugin
            .command::<(), u64>("bump")
            .unwrap_err()
            .code()
            .to_string(),
        "SB0303"
    );
    assert_eq!(
        plugin.state(),
        State::Active,
        "a refused call fails nothing"
    );
}

#[test]
fn reloads_are_bounded_and_counted() {
    let (host, dir) = host(|b| {
        b.max_reloads(2);
    });
    let (plugin, path) = phoenix(&host, dir.path());
    for (i, version) in ["0.2.0", "0.3.0"].into_iter().enumerate() {
        write_version(&path, version);
        let report = host.reload("phoenix", &path).unwrap();
        assert_eq!(report.generation as usize, i + 1);
    }
    write_version(&path, "0.4.0");
    assert_eq!(
        reload_code(plugin.reload(&path)),
        ("SB0363".to_owned(), None)
    );
    let reloads = plugin.reloads();
    assert_eq!((reloads.done, reloads.mapped, reloads.max), (2, 2, 2));
    assert_eq!(plugin.version(), "0.3.0");
}

#[test]
fn only_an_active_plugin_is_reloaded() {
    let (host, dir) = host(|_| {});
    let (plugin, path) = phoenix(&host, dir.path());
    plugin.stop().unwrap();
    assert_eq!(
        reload_code(plugin.reload(&path)),
        ("SB0361".to_owned(), None)
    );
}

#[test]
fn an_isolated_plugin_reloads_into_a_new_runner_and_the_old_one_goes() {
    use switchboard_host::isolation::Mode;
    let (host, dir) = host(|b| {
        b.runner(crate::isolated::runner());
    });
    let path = dir.path().join("libphoenix.so");
    write_version(&path, "0.1.0");
    let plugin = host
        .load_unsigned_with(&path, &crate::isolated::options(Mode::Isolated))
        .unwrap();
    plugin.start().unwrap();
    bump(&plugin, 4);
    let old_pid = plugin.isolation().runner_pid.unwrap();
    write_version(&path, "0.2.0");
    // No mode asked: an isolated plugin stays isolated.
    let report = plugin.reload(&path).unwrap();
    assert_eq!(report.to, "0.2.0");
    let isolation = plugin.isolation();
    assert_eq!(isolation.mode, Mode::Isolated);
    assert_ne!(isolation.runner_pid, Some(old_pid), "a new runner serves");
    assert_eq!(
        count(&plugin),
        4,
        "the state crossed from the old runner to the new one"
    );
    bump(&plugin, 1);
    assert_eq!(count(&plugin), 5);
    // Nothing stays mapped in the host for an isolated reload.
    assert_eq!(plugin.reloads().mapped, 0);
    // The old runner was stopped: its process has ended (gone, or a zombie not yet reaped).
    eventually("the old runner to end", || {
        std::fs::read_to_string(format!("/proc/{old_pid}/stat")).map_or(true, |stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
    });
}

#[test]
fn changed_subscriptions_are_joined_again_and_a_failed_reload_restores_the_old_ones() {
    let (host, dir) = host(|_| {});
    let (plugin, path) = phoenix(&host, dir.path());
    let publish = |topic: &str| {
        host.bus()
            .publish(Outgoing::new(topic, Vec::new()))
            .unwrap()
    };
    assert_eq!(
        (publish("test.phoenix.tick"), publish("test.phoenix.tock")),
        (1, 0)
    );
    // 0.2.0 subscribes to `tock` instead (same length, the section keeps its size).
    let bytes = std::fs::read(test_plugin("phoenix")).unwrap();
    let bytes = edited_manifest(&bytes, "phoenix", |m| {
        m["version"] = "0.2.0".into();
        m["subscriptions"][0] = "test.phoenix.tock".into();
    });
    std::fs::write(&path, bytes).unwrap();

    // A reload that fails after the old version left the bus puts its subscription back.
    host.kv("phoenix").put("fail/health", b"1").unwrap();
    assert_eq!(
        reload_code(plugin.reload(&path)),
        ("SB0371".to_owned(), Some(ReloadStep::Health))
    );
    assert_eq!(
        (publish("test.phoenix.tick"), publish("test.phoenix.tock")),
        (1, 0)
    );

    let events = plugin.command::<(), u64>("events").unwrap();
    eventually("two ticks", || events.call(&()).unwrap() == 2);
    host.kv("phoenix").delete("fail/health").unwrap();
    plugin.reload(&path).unwrap();
    assert_eq!(
        (publish("test.phoenix.tick"), publish("test.phoenix.tock")),
        (0, 1)
    );
    // Two ticks before, one tock after: the new code counted on from what it was handed.
    eventually("three events", || events.call(&()).unwrap() == 3);
}
