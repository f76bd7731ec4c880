//! Extension points (SPEC S5.4, issue 19) with the real test plugins `hooka`–`hookd`: each
//! point kind, the order of contributions, each error policy, panics, refusals before any
//! plugin code runs, conflicts at start, and contributions following stop, removal and reload.

use std::path::Path;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use switchboard_host::extend::{
    ErrorPolicy, ExtendError, ExtensionPoint, HookKind, PointKind, PointOptions,
};
use switchboard_host::{Error, Host, LifecycleError, PluginHandle, Policy, State};
use switchboard_tests::{edited_manifest, host_with, test_plugin};

/// Every point the test plugins contribute to, with the options `fail.filter` gets.
struct Points {
    text: ExtensionPoint<String, String>,
    fail: ExtensionPoint<String, String>,
    priority: ExtensionPoint<String, String>,
    constrained: ExtensionPoint<String, String>,
    cycle: ExtensionPoint<String, String>,
    ask: ExtensionPoint<String, String>,
    build: ExtensionPoint<String, String>,
    commands: ExtensionPoint<(), String>,
}

fn declare(host: &Host, fail: &PointOptions) -> Points {
    let p = |name: &str, kind| host.extension_point::<String, String>(name, kind).unwrap();
    Points {
        text: p("text.filter", PointKind::Filter),
        fail: host
            .extension_point_with("fail.filter", PointKind::Filter, fail)
            .unwrap(),
        priority: p("order.priority", PointKind::Collect),
        constrained: p("order.constrained", PointKind::Collect),
        cycle: p("order.cycle", PointKind::Collect),
        ask: p("ask.first", PointKind::First),
        build: p("op.build", PointKind::Operation),
        commands: host
            .extension_point("app.commands", PointKind::Registry)
            .unwrap(),
    }
}

/// A host whose policy grants `extend:` on every point (or nothing, with `grant: false`).
fn host(grant: bool) -> (Host, tempfile::TempDir) {
    host_with(|b, _| {
        let mut policy = Policy::new();
        if grant {
            policy.allow("extend:**".parse().unwrap());
        }
        b.policy(policy);
    })
}

fn start(host: &Host, name: &str) -> PluginHandle {
    let _env = hooka_shared();
    let plugin = host.load_unsigned(test_plugin(name)).unwrap();
    plugin.start().unwrap();
    plugin
}

fn values<T: Clone>(items: &[switchboard_host::extend::Contributed<T>]) -> Vec<T> {
    items.iter().map(|c| c.value.clone()).collect()
}

fn s(text: &str) -> String {
    text.to_owned()
}

#[test]
fn extend_points_with_no_contribution_run_the_host_alone() {
    let (host, _dir) = host(true);
    let p = declare(&host, &PointOptions::new());
    assert_eq!(p.text.filter(s("x")).unwrap(), "x");
    assert!(p.priority.collect(&s("x")).unwrap().is_empty());
    assert_eq!(p.ask.first(&s("q")).unwrap(), None);
    assert_eq!(
        p.build
            .run(s("src"), |i| format!("host built {i}"))
            .unwrap(),
        "host built src"
    );
    assert!(p.commands.collect(&()).unwrap().is_empty());
    let mut names = host.extension_points();
    names.sort();
    assert_eq!(names.len(), 8);
}

#[test]
fn extend_filter_threads_the_value_in_plugin_name_order() {
    let (host, _dir) = host(true);
    let p = declare(&host, &PointOptions::new());
    // Started in reverse: the order is the plugins' names', not their arrival.
    start(&host, "hookb");
    start(&host, "hooka");
    assert_eq!(p.text.filter(s("x")).unwrap(), "x+a+b");
    let order: Vec<String> = p
        .text
        .contributions()
        .into_iter()
        .map(|c| c.plugin)
        .collect();
    assert_eq!(order, ["hooka", "hookb"]);
}

#[test]
fn extend_collect_orders_by_priority_then_constraints() {
    let (host, _dir) = host(true);
    let p = declare(&host, &PointOptions::new());
    start(&host, "hooka");
    start(&host, "hookb");
    // hookb's priority 10 runs before hooka's 0.
    let got = p.priority.collect(&s("x")).unwrap();
    assert_eq!(values(&got), ["b", "a"]);
    assert_eq!(&*got[0].plugin, "hookb");
    // hooka (priority 0) declares `after = ["hookb"]` (priority -5): the constraint wins.
    assert_eq!(values(&p.constrained.collect(&s("x")).unwrap()), ["b", "a"]);
}

#[test]
fn extend_an_order_cycle_refuses_the_start_and_names_the_path() {
    let (host, _dir) = host(true);
    let p = declare(&host, &PointOptions::new());
    start(&host, "hookb");
    let hookc = host.load_unsigned(test_plugin("hookc")).unwrap();
    let err = hookc.start().unwrap_err();
    assert_eq!(err.code().to_string(), "SB1708", "{err}");
    let text = err.to_string();
    assert!(text.contains("order.cycle"), "{text}");
    assert!(
        text.contains("hookb → hookc → hookb") || text.contains("hookc → hookb → hookc"),
        "{text}"
    );
    // Refused before its start hook: it never became active, and the point is as it was.
    assert_ne!(hookc.state(), State::Active);
    assert_eq!(values(&p.cycle.collect(&s("x")).unwrap()), ["b"]);
}

#[test]
fn extend_first_stops_at_the_first_answer_and_pass_is_no_failure() {
    let (host, _dir) = host(true);
    let p = declare(&host, &PointOptions::new());
    start(&host, "hooka");
    start(&host, "hookb");
    let answer = p.ask.first(&s("apple")).unwrap().unwrap();
    assert_eq!(
        (&*answer.plugin, answer.value.as_str()),
        ("hooka", "a:apple")
    );
    // hooka passes on what does not start with `a`; hookb answers.
    let answer = p.ask.first(&s("pear")).unwrap().unwrap();
    assert_eq!(
        (&*answer.plugin, answer.value.as_str()),
        ("hookb", "b:pear")
    );
    assert!(p.ask.failures().is_empty());
}

#[test]
fn extend_operation_runs_before_hooks_the_replacement_and_after_hooks() {
    let (host, _dir) = host(true);
    let p = declare(&host, &PointOptions::new());
    let hooka = start(&host, "hooka");
    let mut ran = false;
    let out = p
        .build
        .run(s("src"), |i| {
            ran = true;
            format!("host built {i}")
        })
        .unwrap();
    assert_eq!(out, "a built [src]!");
    assert!(
        !ran,
        "the replacement runs in place of the host's operation"
    );
    // Without it, the host's own operation runs again.
    hooka.stop().unwrap();
    assert_eq!(
        p.build
            .run(s("src"), |i| format!("host built {i}"))
            .unwrap(),
        "host built src"
    );
}

#[test]
fn extend_a_second_replacement_is_refused_at_start() {
    let (host, _dir) = host(true);
    let p = declare(&host, &PointOptions::new());
    start(&host, "hooka");
    let hookc = host.load_unsigned(test_plugin("hookc")).unwrap();
    let err = hookc.start().unwrap_err();
    assert_eq!(err.code().to_string(), "SB1706", "{err}");
    assert!(err.to_string().contains("`hooka`"), "{err}");
    assert_eq!(p.build.run(s("src"), |i| i).unwrap(), "a built [src]!");
}

#[test]
fn extend_registry_lists_named_items_and_refuses_a_duplicate_name() {
    let (host, _dir) = host(true);
    let p = declare(&host, &PointOptions::new());
    start(&host, "hooka");
    start(&host, "hookb");
    let items = p.commands.collect(&()).unwrap();
    let named: Vec<(&str, &str)> = items.iter().map(|c| (&*c.name, c.value.as_str())).collect();
    assert_eq!(
        named,
        [("greet", "say hello"), ("build", "build the project")]
    );
    let hookd = host.load_unsigned(test_plugin("hookd")).unwrap();
    let err = hookd.start().unwrap_err();
    assert_eq!(err.code().to_string(), "SB1707", "{err}");
    assert!(matches!(err, LifecycleError::Extend { .. }));
}

#[test]
fn extend_propagate_returns_the_contributions_error() {
    let (host, _dir) = host(true);
    let p = declare(&host, &PointOptions::new());
    start(&host, "hooka");
    start(&host, "hookb");
    let err = p.fail.filter(s("fail")).unwrap_err();
    assert_eq!(err.code().to_string(), "SB1711", "{err}");
    assert_eq!(err.plugin(), Some("hookb"));
    assert!(err.to_string().contains("asked to fail"), "{err}");
    // The failure is recorded with the plugin's own code.
    let failures = p.fail.failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].code.to_string(), "SB0100");
    assert_eq!(p.fail.filter(s("ok")).unwrap(), "ok+b+a");
}

#[test]
fn extend_skip_records_the_failure_and_the_value_goes_on() {
    let (host, _dir) = host(true);
    let mut options = PointOptions::new();
    options.policy(ErrorPolicy::Skip);
    let p = declare(&host, &options);
    start(&host, "hooka");
    start(&host, "hookb");
    // hookb (priority 0) fails and is skipped; hooka (priority -1) gets the value as it was.
    assert_eq!(p.fail.filter(s("fail")).unwrap(), "fail+a");
    assert_eq!(p.fail.filter(s("fail")).unwrap(), "fail+a");
    let failures = p.fail.failures();
    assert_eq!(failures.len(), 2);
    assert!(failures.iter().all(|f| f.plugin == "hookb" && !f.disabled));
    assert_eq!(p.fail.filter(s("ok")).unwrap(), "ok+b+a");
}

#[test]
fn extend_disable_after_n_failures_in_a_row_until_the_plugin_starts_again() {
    let (host, _dir) = host(true);
    let mut options = PointOptions::new();
    options.policy(ErrorPolicy::DisableAfter(2));
    let p = declare(&host, &options);
    start(&host, "hooka");
    let hookb = start(&host, "hookb");
    // A success between two failures starts the count again.
    p.fail.filter(s("fail")).unwrap();
    assert_eq!(p.fail.filter(s("ok")).unwrap(), "ok+b+a");
    p.fail.filter(s("fail")).unwrap();
    assert!(p.fail.contributions().iter().all(|c| !c.disabled));
    p.fail.filter(s("fail")).unwrap();
    let flaky = p
        .fail
        .contributions()
        .into_iter()
        .find(|c| c.plugin == "hookb")
        .unwrap();
    assert!(flaky.disabled && flaky.failures == 3, "{flaky:?}");
    assert!(p.fail.failures().last().unwrap().disabled);
    // Disabled: hookb no longer runs, its other contributions do.
    assert_eq!(p.fail.filter(s("ok")).unwrap(), "ok+a");
    assert_eq!(p.text.filter(s("x")).unwrap(), "x+a+b");
    // A restart brings it back.
    hookb.stop().unwrap();
    hookb.start().unwrap();
    assert_eq!(p.fail.filter(s("ok")).unwrap(), "ok+b+a");
}

#[test]
fn extend_a_panicking_contribution_fails_its_plugin_whose_contributions_leave() {
    let (host, _dir) = host(true);
    let mut options = PointOptions::new();
    options.policy(ErrorPolicy::Skip);
    let p = declare(&host, &options);
    start(&host, "hooka");
    let hookb = start(&host, "hookb");
    assert_eq!(p.fail.filter(s("panic")).unwrap(), "panic+a");
    assert_eq!(p.fail.failures()[0].code.to_string(), "SB0101");
    assert_eq!(hookb.state(), State::Failed);
    // The host carries on; hookb's contributions are gone from every point.
    assert_eq!(p.text.filter(s("x")).unwrap(), "x+a");
    assert!(p
        .priority
        .contributions()
        .iter()
        .all(|c| c.plugin != "hookb"));
}

#[test]
fn extend_a_contribution_past_the_timeout_counts_as_failed() {
    let (host, _dir) = host(true);
    let mut options = PointOptions::new();
    options.timeout(Duration::from_millis(1));
    let p = declare(&host, &options);
    start(&host, "hookb");
    // hookb sleeps 20 ms on `slow`: its result is discarded (SB1712).
    let err = p.fail.filter(s("slow")).unwrap_err();
    assert_eq!(err.code().to_string(), "SB1712", "{err}");
}

#[test]
fn extend_an_overrun_follows_the_points_policy() {
    // hookb alone; it sleeps 20 ms on `slow`, past a 5 ms timeout.
    let (host, _dir) = host(true);
    let mut options = PointOptions::new();
    options
        .policy(ErrorPolicy::Skip)
        .timeout(Duration::from_millis(5));
    let p = declare(&host, &options);
    start(&host, "hookb");
    // Skipped: the value goes on as it was given, the overrun is recorded.
    assert_eq!(p.fail.filter(s("slow")).unwrap(), "slow");
    let failures = p.fail.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].code.to_string(), "SB1712");
    assert!(!failures[0].disabled);

    let (host2, _dir2) = self::host(true);
    let mut options = PointOptions::new();
    options
        .policy(ErrorPolicy::DisableAfter(2))
        .timeout(Duration::from_millis(5));
    let p = declare(&host2, &options);
    start(&host2, "hookb");
    assert_eq!(p.fail.filter(s("slow")).unwrap(), "slow");
    assert!(p.fail.contributions().iter().all(|c| !c.disabled));
    assert_eq!(p.fail.filter(s("slow")).unwrap(), "slow");
    // Two overruns in a row: disabled, so `ok` is no longer stamped.
    assert!(p.fail.contributions().iter().all(|c| c.disabled));
    assert!(p.fail.failures().last().unwrap().disabled);
    assert_eq!(p.fail.filter(s("ok")).unwrap(), "ok");
}

#[test]
fn extend_an_isolated_contribution_is_killed_at_the_points_timeout() {
    use switchboard_host::isolation::Mode;
    // hookb isolated, with the default call timeout (far longer); the point's is 300 ms and
    // `hang` sleeps 10 s: the runner is killed at the point's timeout, not after the sleep.
    let (host, _dir) = host_with(|b, _| {
        let mut policy = Policy::new();
        policy.allow("extend:**".parse().unwrap());
        b.policy(policy).runner(crate::isolated::runner());
    });
    let mut options = PointOptions::new();
    options
        .policy(ErrorPolicy::Skip)
        .timeout(Duration::from_millis(300));
    let p = declare(&host, &options);
    start(&host, "hooka");
    let hookb = host
        .load_unsigned_with(
            test_plugin("hookb"),
            &crate::isolated::options(Mode::Isolated),
        )
        .unwrap();
    hookb.start().unwrap();
    let began = std::time::Instant::now();
    assert_eq!(p.fail.filter(s("hang")).unwrap(), "hang+a");
    let took = began.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let failures = p.fail.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].plugin, "hookb");
    assert_eq!(failures[0].code.to_string(), "SB1502", "{failures:?}");
    assert!(
        failures[0]
            .message
            .contains("extension point's timeout of 300 ms"),
        "{failures:?}"
    );
    // Past the plugin's `max_restarts` (3 by default) kills at the point's timeout, with no
    // served call between them: they are the host's choice, not crashes, so the plugin is
    // never given up.
    for round in 2..=5 {
        assert_eq!(p.fail.filter(s("hang")).unwrap(), "hang+a", "round {round}");
        assert_eq!(p.fail.failures().len(), round);
    }
    assert_eq!(hookb.state(), switchboard_host::State::Active);
    // Its runner restarts; its contributions serve again.
    assert_eq!(p.text.filter(s("x")).unwrap(), "x+a+b");
}

#[test]
fn extend_contributions_leave_on_stop_and_removal_and_come_back_on_start() {
    let (host, _dir) = host(true);
    let p = declare(&host, &PointOptions::new());
    let hooka = start(&host, "hooka");
    start(&host, "hookb");
    hooka.stop().unwrap();
    assert_eq!(p.text.filter(s("x")).unwrap(), "x+b");
    assert_eq!(p.commands.collect(&()).unwrap().len(), 1);
    hooka.start().unwrap();
    assert_eq!(p.text.filter(s("x")).unwrap(), "x+a+b");
    host.remove("hooka").unwrap();
    assert_eq!(p.text.filter(s("x")).unwrap(), "x+b");
    assert!(p.build.contributions().iter().all(|c| c.plugin != "hooka"));
}

#[test]
fn extend_a_reload_replaces_the_contributions_with_the_new_versions() {
    let (host, dir) = host(true);
    let p = declare(&host, &PointOptions::new());
    // Loaded from the file the new version replaces (the plugin's data belongs to its path).
    let path = dir.path().join("libhooka.so");
    std::fs::copy(test_plugin("hooka"), &path).unwrap();
    let hooka = {
        let _env = hooka_shared();
        let hooka = host.load_unsigned(&path).unwrap();
        hooka.start().unwrap();
        hooka
    };
    start(&host, "hookb");
    assert_eq!(p.text.filter(s("x")).unwrap(), "x+a+b");
    // Version 0.2.0 drops its `text.filter` hook and raises its `order.priority` one.
    let bytes = std::fs::read(test_plugin("hooka")).unwrap();
    let bytes = edited_manifest(&bytes, "hooka", |m| {
        m["version"] = "0.2.0".into();
        let hooks = m["hooks"].as_array_mut().unwrap();
        hooks.retain(|h| h["point"] != "text.filter");
        for h in hooks.iter_mut() {
            if h["point"] == "order.priority" {
                h["priority"] = 20.into();
            }
        }
    });
    std::fs::write(&path, bytes).unwrap();
    hooka_shared_run(|| hooka.reload(&path).unwrap());
    assert_eq!(hooka.version(), "0.2.0");
    assert_eq!(p.text.filter(s("x")).unwrap(), "x+b");
    assert_eq!(values(&p.priority.collect(&s("x")).unwrap()), ["a", "b"]);
    let kinds: Vec<HookKind> = p
        .build
        .contributions()
        .into_iter()
        .map(|c| c.kind)
        .collect();
    assert_eq!(
        kinds,
        [HookKind::Before, HookKind::Replace, HookKind::After]
    );
}

#[test]
fn extend_of_two_conflicting_replacements_started_at_once_exactly_one_starts() {
    // hooka and hookc both replace `op.build`. Started from two threads at once, round after
    // round: exactly one becomes active, the other is refused (SB1706) before its `start`
    // hook runs — whichever thread gets there first.
    let _env = marker_lock();
    let started = StartMarkers::arm();
    for round in 0..20 {
        let (host, _dir) = host(true);
        let p = declare(&host, &PointOptions::new());
        let hooka = host.load_unsigned(test_plugin("hooka")).unwrap();
        let hookc = host.load_unsigned(test_plugin("hookc")).unwrap();
        for name in ["hooka", "hookc"] {
            let _ = std::fs::remove_file(started.path().join(name));
        }
        let barrier = std::sync::Barrier::new(2);
        let (a, c) = std::thread::scope(|scope| {
            let a = scope.spawn(|| {
                barrier.wait();
                hooka.start()
            });
            let c = scope.spawn(|| {
                barrier.wait();
                hookc.start()
            });
            (a.join().unwrap(), c.join().unwrap())
        });
        let (winner, loser, err) = match (a, c) {
            (Ok(()), Err(e)) => ("hooka", "hookc", e),
            (Err(e), Ok(())) => ("hookc", "hooka", e),
            other => panic!("round {round}: exactly one may start: {other:?}"),
        };
        assert_eq!(err.code().to_string(), "SB1706", "round {round}: {err}");
        assert!(started.path().join(winner).exists(), "round {round}");
        assert!(
            !started.path().join(loser).exists(),
            "round {round}: {loser}'s start hook ran"
        );
        assert_ne!(host.plugin(loser).unwrap().state(), State::Active);
        let replacing: Vec<String> = p
            .build
            .contributions()
            .into_iter()
            .filter(|c| c.kind == HookKind::Replace)
            .map(|c| c.plugin)
            .collect();
        assert_eq!(replacing, [winner], "round {round}");
    }
}

#[test]
fn extend_a_reload_whose_new_version_conflicts_keeps_the_old_contributions() {
    let _env = marker_lock();
    let (host, dir) = host(true);
    let p = declare(&host, &PointOptions::new());
    start_unlocked(&host, "hooka");
    start_unlocked(&host, "hookb");
    // hookc 0.1.0 without its replacement of `op.build` (hooka's) and without its order
    // constraint (the reverse of hookb's): it starts beside them.
    let original = std::fs::read(test_plugin("hookc")).unwrap();
    let edit = |version: &str, replace: bool, before: bool| {
        edited_manifest(&original, "hookc", |m| {
            m["version"] = version.into();
            let hooks = m["hooks"].as_array_mut().unwrap();
            if !replace {
                hooks.retain(|h| h["point"] != "op.build");
            }
            if !before {
                // Emptied, not added: the edited manifest must fit the library's section.
                for h in hooks.iter_mut().filter(|h| h.get("before").is_some()) {
                    h["before"] = serde_json::json!([]);
                }
            }
        })
    };
    let path = dir.path().join("libhookc.so");
    std::fs::write(&path, edit("0.1.0", false, false)).unwrap();
    let hookc = host.load_unsigned(&path).unwrap();
    hookc.start().unwrap();
    assert_eq!(values(&p.cycle.collect(&s("x")).unwrap()), ["b", "c"]);
    let started = StartMarkers::arm();
    // 0.2.0 replaces `op.build` too (SB1706); 0.3.0 orders itself before hookb, which orders
    // itself before hookc (SB1708). Each is refused before its `start` runs; 0.1.0 serves on
    // with its contributions, and hooka's replacement stays.
    for (version, replace, before, code) in [
        ("0.2.0", true, false, "SB1706"),
        ("0.3.0", false, true, "SB1708"),
    ] {
        std::fs::write(&path, edit(version, replace, before)).unwrap();
        let err = hookc.reload(&path).unwrap_err();
        assert!(err.to_string().contains(&format!("[{code}]")), "{err}");
        assert_eq!(hookc.version(), "0.1.0");
        assert_eq!(hookc.state(), State::Active);
        assert!(!started.path().join("hookc").exists(), "{version} started");
        assert_eq!(values(&p.cycle.collect(&s("x")).unwrap()), ["b", "c"]);
        assert_eq!(p.build.run(s("src"), |i| i).unwrap(), "a built [src]!");
    }
}

/// A directory hooka's and hookc's `start` hooks write a marker in while this is alive (the
/// caller holds [`marker_lock`]); disarmed when dropped, also by a failing test's unwinding.
struct StartMarkers(tempfile::TempDir);

impl StartMarkers {
    fn arm() -> StartMarkers {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_var("SWITCHBOARD_HOOK_STARTED_DIR", dir.path());
        StartMarkers(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for StartMarkers {
    fn drop(&mut self) {
        std::env::remove_var("SWITCHBOARD_HOOK_STARTED_DIR");
    }
}

/// [`start`] for a test that holds [`marker_lock`] already.
fn start_unlocked(host: &Host, name: &str) -> PluginHandle {
    let plugin = host.load_unsigned(test_plugin(name)).unwrap();
    plugin.start().unwrap();
    plugin
}

/// Guards the environment variables that arm hooka's `create` and hooka's and hookc's
/// `start`: a test steering them holds the lock alone ([`marker_lock`]), every other load of
/// hooka shares it ([`hooka_shared`]) — else a load in a parallel test would write the marker
/// of a load meant to be refused.
static HOOKA_ENV: RwLock<()> = RwLock::new(());

fn marker_lock() -> RwLockWriteGuard<'static, ()> {
    HOOKA_ENV.write().unwrap_or_else(PoisonError::into_inner)
}

fn hooka_shared() -> RwLockReadGuard<'static, ()> {
    HOOKA_ENV.read().unwrap_or_else(PoisonError::into_inner)
}

fn hooka_shared_run<T>(f: impl FnOnce() -> T) -> T {
    let _env = hooka_shared();
    f()
}

/// Loads hooka with its `create` armed to write a marker; returns the load's error and
/// whether the marker was written.
fn load_marked(host: &Host, dir: &Path, library: &Path) -> (Result<PluginHandle, Error>, bool) {
    let _env = marker_lock();
    let marker = dir.join("hooka-created");
    std::env::set_var("SWITCHBOARD_HOOKA_MARKER", &marker);
    let result = host.load_unsigned(library);
    std::env::remove_var("SWITCHBOARD_HOOKA_MARKER");
    (result, marker.exists())
}

#[test]
fn extend_the_marker_proves_a_load_runs_create() {
    // The control for the refusal tests below: an accepted load does write the marker.
    let (host, dir) = host(true);
    declare(&host, &PointOptions::new());
    let (result, ran) = load_marked(&host, dir.path(), &test_plugin("hooka"));
    assert!(result.is_ok() && ran);
}

#[test]
fn extend_a_contribution_to_an_undeclared_point_is_refused_before_plugin_code() {
    let (host, dir) = host(true);
    // Every point hooka contributes to but `app.commands`.
    let p = |name: &str, kind| {
        host.extension_point::<String, String>(name, kind).unwrap();
    };
    p("text.filter", PointKind::Filter);
    p("fail.filter", PointKind::Filter);
    p("order.priority", PointKind::Collect);
    p("order.constrained", PointKind::Collect);
    p("ask.first", PointKind::First);
    p("op.build", PointKind::Operation);
    let (result, ran) = load_marked(&host, dir.path(), &test_plugin("hooka"));
    let err = result.unwrap_err();
    assert_eq!(err.code().to_string(), "SB1701", "{err}");
    assert!(err.to_string().contains("app.commands"), "{err}");
    assert!(!ran, "no plugin code ran");
    assert!(host.plugin("hooka").is_err());
}

#[test]
fn extend_a_contribution_with_the_wrong_contract_or_kind_is_refused_before_plugin_code() {
    let (host, dir) = host(true);
    declare_except_text(&host);
    host.extension_point::<u64, u64>("text.filter", PointKind::Filter)
        .unwrap();
    let (result, ran) = load_marked(&host, dir.path(), &test_plugin("hooka"));
    let err = result.unwrap_err();
    assert_eq!(err.code().to_string(), "SB1703", "{err}");
    assert!(err.to_string().contains("u64@1"), "{err}");
    assert!(!ran);

    let (host, dir) = self::host(true);
    declare_except_text(&host);
    host.extension_point::<String, String>("text.filter", PointKind::Collect)
        .unwrap();
    let (result, ran) = load_marked(&host, dir.path(), &test_plugin("hooka"));
    let err = result.unwrap_err();
    assert_eq!(err.code().to_string(), "SB1702", "{err}");
    assert!(!ran);
}

/// Every point hooka contributes to but `text.filter`.
fn declare_except_text(host: &Host) {
    let p = |name: &str, kind| {
        host.extension_point::<String, String>(name, kind).unwrap();
    };
    p("fail.filter", PointKind::Filter);
    p("order.priority", PointKind::Collect);
    p("order.constrained", PointKind::Collect);
    p("ask.first", PointKind::First);
    p("op.build", PointKind::Operation);
    host.extension_point::<(), String>("app.commands", PointKind::Registry)
        .unwrap();
}

#[test]
fn extend_contributing_needs_the_extend_capability() {
    let (host, dir) = host(false);
    declare(&host, &PointOptions::new());
    let (result, ran) = load_marked(&host, dir.path(), &test_plugin("hooka"));
    let err = result.unwrap_err();
    assert_eq!(err.code().to_string(), "SB1705", "{err}");
    assert!(!ran);
}

#[test]
fn extend_a_damaged_hook_entry_is_refused() {
    let (host, dir) = host(true);
    declare(&host, &PointOptions::new());
    let bytes = std::fs::read(test_plugin("hooka")).unwrap();
    let unknown_kind = edited_manifest(&bytes, "hooka", |m| m["hooks"][0]["kind"] = "wrapp".into());
    let path = dir.path().join("libhooka.so");
    std::fs::write(&path, unknown_kind).unwrap();
    let err = host.load_unsigned(&path).unwrap_err();
    assert_eq!(err.code().to_string(), "SB1714", "{err}");
    let no_command = edited_manifest(&bytes, "hooka", |m| {
        m["hooks"][0]["command"] = "stam".into()
    });
    std::fs::write(&path, no_command).unwrap();
    let err = host.load_unsigned(&path).unwrap_err();
    assert_eq!(err.code().to_string(), "SB1704", "{err}");
}

#[test]
fn extend_declarations_are_checked() {
    let (host, _dir) = host(true);
    let err = host
        .extension_point::<String, u64>("a.filter", PointKind::Filter)
        .unwrap_err();
    assert_eq!(err.code().to_string(), "SB1710");
    let err = host
        .extension_point::<String, String>("bad name", PointKind::Collect)
        .unwrap_err();
    assert_eq!(err.code().to_string(), "SB1710");
    let first = host
        .extension_point::<String, String>("same", PointKind::Collect)
        .unwrap();
    let again = host
        .extension_point::<String, String>("same", PointKind::Collect)
        .unwrap();
    assert_eq!(first.name(), again.name());
    let err = host
        .extension_point::<String, String>("same", PointKind::First)
        .unwrap_err();
    assert_eq!(err.code().to_string(), "SB1709");
    // A point invoked as another kind says how to invoke it.
    let ExtendError::WrongInvocation { use_instead, .. } = first.first(&s("x")).unwrap_err() else {
        panic!("expected SB1713");
    };
    assert_eq!(use_instead, "`collect`");
}

#[test]
fn extend_preflight_checks_hooks_against_a_hosts_points() {
    use switchboard_host::{preflight_with, PreflightOptions};
    let library = test_plugin("hooka");
    let (host, _dir) = host(true);
    // Without a host the check is skipped, and says why.
    let report = preflight_with(&library, &PreflightOptions::new());
    assert!(report.skipped().any(|c| c.name == "extension points"));
    // Against a host that declares none of hooka's points: SB1701, on the `hooks` field.
    let mut options = PreflightOptions::new();
    options.points(&host);
    let report = preflight_with(&library, &options);
    let found: Vec<_> = report
        .diagnostics()
        .into_iter()
        .filter(|d| d.field == "hooks")
        .collect();
    assert_eq!(found.len(), 1, "{report:?}");
    assert_eq!(found[0].code.to_string(), "SB1701");
    declare(&host, &PointOptions::new());
    let report = preflight_with(&library, &options);
    assert!(
        report.diagnostics().iter().all(|d| d.field != "hooks"),
        "{report:?}"
    );
}

#[test]
fn extend_the_pipeline_examples_hook_the_build_and_register_commands() {
    let (host, _dir) = host(true);
    let phase = host
        .extension_point::<String, String>("pipeline.build", PointKind::Operation)
        .unwrap();
    let commands = host
        .extension_point::<(), String>("pipeline.commands", PointKind::Registry)
        .unwrap();
    for name in ["pipeline-lint", "pipeline-stamp"] {
        let plugin = host
            .load_unsigned(switchboard_tests::library(name))
            .unwrap();
        plugin.start().unwrap();
    }
    let built = phase
        .run(s("  app "), |job| format!("built `{job}`"))
        .unwrap();
    assert_eq!(built, "built `app` [stamped by pipeline-stamp]");
    // stamp's wrapper answers a job it built before without running the build (skips next).
    let again = phase
        .run(s("app"), |_| unreachable!("the build must not run"))
        .unwrap();
    assert_eq!(again, built);
    // It names the job in the error of a failed build (changes the error).
    let err = phase
        .try_run(s("broken"), |_| {
            Err(switchboard_sdk::PluginError::new("the compiler gave up"))
        })
        .unwrap_err();
    assert_eq!(err.plugin(), Some("pipeline-stamp"));
    assert!(
        err.to_string()
            .contains("the build of `broken` failed: the compiler gave up"),
        "{err}"
    );
    // lint's before hook refuses an empty job: the build does not run.
    let err = phase
        .run(s("  "), |_| unreachable!("the build must not run"))
        .unwrap_err();
    assert_eq!(err.plugin(), Some("pipeline-lint"));
    let names: Vec<String> = commands
        .collect(&())
        .unwrap()
        .into_iter()
        .map(|c| c.name.to_string())
        .collect();
    assert_eq!(names, ["lint", "stamp"]);
}

#[test]
fn extend_an_isolated_plugins_contributions_run_beside_in_process_ones() {
    use switchboard_host::isolation::Mode;
    let (host, _dir) = host_with(|b, _| {
        let mut policy = Policy::new();
        policy.allow("extend:**".parse().unwrap());
        b.policy(policy).runner(crate::isolated::runner());
    });
    let mut options = PointOptions::new();
    options.policy(ErrorPolicy::Skip);
    let p = declare(&host, &options);
    // hooka in-process, hookb in its sandboxed runner: one point, one order.
    start(&host, "hooka");
    let hookb = host
        .load_unsigned_with(
            test_plugin("hookb"),
            &crate::isolated::options(Mode::Isolated),
        )
        .unwrap();
    assert_eq!(hookb.isolation().mode, Mode::Isolated);
    hookb.start().unwrap();
    assert_eq!(p.text.filter(s("x")).unwrap(), "x+a+b");
    assert_eq!(p.ask.first(&s("pear")).unwrap().unwrap().value, "b:pear");
    // A panic in the runner is contained the same way: skipped, recorded, the plugin failed
    // and its contributions gone.
    assert_eq!(p.fail.filter(s("panic")).unwrap(), "panic+a");
    assert_eq!(hookb.state(), State::Failed);
    assert_eq!(p.text.filter(s("x")).unwrap(), "x+a");
}

#[test]
fn extend_hook_kinds_match_the_macro_list() {
    // The macro crate cannot depend on the SDK: its list of kinds is kept in step by this test.
    let text = std::fs::read_to_string(
        switchboard_cli::examples::workspace_root().join("macros/src/plugin.rs"),
    )
    .unwrap();
    let start = text.find("const HOOK_KINDS").unwrap();
    let list = &text[start..text[start..].find("];").unwrap() + start];
    assert_eq!(list.matches('"').count() / 2, HookKind::ALL.len());
    for k in HookKind::ALL {
        assert!(
            list.contains(&format!("\"{k}\"")),
            "{k} missing from the macro"
        );
    }
}

/// Loads hooka under a manifest of `kind`, its `create` armed to write a marker; returns the
/// load and whether the marker was written.
fn load_kind(host: &Host, dir: &Path, kind: &str) -> (Result<PluginHandle, Error>, bool) {
    let manifest = kind_manifest("hooka", kind);
    let _env = marker_lock();
    let marker = dir.join("hooka-created");
    std::env::set_var("SWITCHBOARD_HOOKA_MARKER", &marker);
    let result = host.load_unsigned_with_manifest(test_plugin("hooka"), &manifest);
    std::env::remove_var("SWITCHBOARD_HOOKA_MARKER");
    (result, marker.exists())
}

fn kind_manifest(name: &str, kind: &str) -> switchboard_host::Manifest {
    switchboard_host::Manifest::parse(
        &format!("name = \"{name}\"\nversion = \"0.1.0\"\nkind = \"{kind}\"\n"),
        switchboard_sdk::manifest::Format::Toml,
    )
    .unwrap()
}

#[test]
fn extend_plugin_kinds_are_checked_before_plugin_code() {
    // hooka's every command serves a hook: an addon, not an operator or an instrument.
    for (kind, refused) in [
        ("operator", Some("SB1722")),
        ("instrument", Some("SB1721")),
        ("addon", None),
        ("extension", None),
        ("test-fixture", None),
    ] {
        let (host, dir) = host(true);
        declare(&host, &PointOptions::new());
        let (result, ran) = load_kind(&host, dir.path(), kind);
        match refused {
            Some(code) => {
                let err = result.unwrap_err();
                assert_eq!(err.code().to_string(), code, "{kind}: {err}");
                assert!(!ran, "{kind}: no plugin code ran");
                assert!(host.plugin("hooka").is_err());
            }
            None => {
                result.unwrap_or_else(|e| panic!("{kind}: {e}"));
                assert!(ran);
            }
        }
    }
}

#[test]
fn extend_an_addon_with_plain_commands_and_an_operator_taking_bytes_are_refused() {
    let (host, _dir) = host(true);
    let hello = switchboard_tests::library("hello");
    let err = host
        .load_unsigned_with_manifest(&hello, &kind_manifest("hello", "addon"))
        .unwrap_err();
    assert_eq!(err.code().to_string(), "SB1723", "{err}");
    assert!(err.to_string().contains("greet"), "{err}");
    // hello's `checksum` and `upper` take raw bytes.
    let err = host
        .load_unsigned_with_manifest(&hello, &kind_manifest("hello", "operator"))
        .unwrap_err();
    assert_eq!(err.code().to_string(), "SB1722", "{err}");
    assert!(err.to_string().contains("raw bytes"), "{err}");
    // An instrument needs a streaming command: hello has none, the instrument example has.
    let err = host
        .load_unsigned_with_manifest(&hello, &kind_manifest("hello", "instrument"))
        .unwrap_err();
    assert_eq!(err.code().to_string(), "SB1721", "{err}");
    host.load_unsigned(switchboard_tests::library("instrument"))
        .unwrap();
    assert_eq!(
        host.plugin("instrument").unwrap().manifest().name,
        "instrument"
    );
}

#[test]
fn extend_preflight_shows_and_checks_the_plugin_kind() {
    use switchboard_host::{preflight_with, CheckStatus, PreflightOptions};
    let dir = tempfile::tempdir().unwrap();
    let library = test_plugin("hooka");
    for (kind, status) in [
        ("addon", CheckStatus::Passed),
        ("operator", CheckStatus::Failed),
    ] {
        let toml = dir.path().join(format!("{kind}.toml"));
        std::fs::write(
            &toml,
            format!("name = \"hooka\"\nversion = \"0.1.0\"\nkind = \"{kind}\"\n"),
        )
        .unwrap();
        let mut options = PreflightOptions::new();
        options.library(&library);
        let report = preflight_with(&toml, &options);
        let check = report
            .checks
            .iter()
            .find(|c| c.name == "plugin kind")
            .unwrap_or_else(|| panic!("{report:?}"));
        assert_eq!(check.status, status, "{report:?}");
        assert!(
            check.note.as_deref().unwrap_or("").contains(kind),
            "{check:?}"
        );
        if status == CheckStatus::Failed {
            assert_eq!(check.diagnostics[0].code.to_string(), "SB1722");
        }
    }
}
