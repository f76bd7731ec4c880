//! `wrap` hooks on operation points (SPEC S5.4, issue 19) with the real test plugins `wrapa`
//! (one wrapper, priority 10) and `wrapb` (two wrappers, priority 0 and -5): the onion's order
//! across and within plugins, skipping `next`, changing the input, the result and the error,
//! failures and panics under each error policy, misuses of `next`, the nesting bound, and
//! contributions leaving on stop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use switchboard_host::extend::{ErrorPolicy, ExtendError, ExtensionPoint, PointKind, PointOptions};
use switchboard_host::{Host, PluginHandle, Policy, State};
use switchboard_sdk::{ErrorCode, PluginError};
use switchboard_tests::{host_with, test_plugin};

fn new_host() -> (Host, tempfile::TempDir) {
    host_with(|b, _| {
        let mut policy = Policy::new();
        policy.allow("extend:**".parse().unwrap());
        b.policy(policy);
    })
}

fn point(host: &Host, policy: ErrorPolicy) -> ExtensionPoint<String, String> {
    let mut options = PointOptions::new();
    options.policy(policy);
    host.extension_point_with("wrap.op", PointKind::Operation, &options)
        .unwrap()
}

fn start(host: &Host, name: &str) -> PluginHandle {
    let plugin = host.load_unsigned(test_plugin(name)).unwrap();
    plugin.start().unwrap();
    plugin
}

/// A host with `wrap.op` under `policy` and both wrapping plugins started.
fn both(policy: ErrorPolicy) -> (Host, tempfile::TempDir, ExtensionPoint<String, String>) {
    let mut options = PointOptions::new();
    options.policy(policy);
    both_with(&options)
}

/// [`both`], the point declared with `options`.
fn both_with(options: &PointOptions) -> (Host, tempfile::TempDir, ExtensionPoint<String, String>) {
    let (host, dir) = new_host();
    let p = host
        .extension_point_with("wrap.op", PointKind::Operation, options)
        .unwrap();
    // Started in reverse: the order is priority's, not arrival's.
    start(&host, "wrapb");
    start(&host, "wrapa");
    (host, dir, p)
}

/// The host's operation, counting its runs.
fn op<'a>(runs: &'a AtomicUsize) -> impl Fn(String) -> String + 'a {
    move |i| {
        runs.fetch_add(1, Ordering::SeqCst);
        format!("op({i})")
    }
}

fn code(n: u16) -> ErrorCode {
    ErrorCode::from_number(n)
}

/// The code of the plugin error a contribution failure carries.
fn cause(e: &ExtendError) -> ErrorCode {
    match e {
        ExtendError::Contribution { source, .. } => match &**source {
            switchboard_host::CallError::Plugin { error, .. } => error.code(),
            other => other.code(),
        },
        other => other.code(),
    }
}

#[test]
fn extend_wrap_wrappers_nest_outermost_first_around_the_default() {
    let (_host, _dir, p) = both(ErrorPolicy::Propagate);
    let runs = AtomicUsize::new(0);
    // Each wrapper changes the input on the way in and the result on the way out.
    assert_eq!(
        p.run("x".to_owned(), op(&runs)).unwrap(),
        "op(x|a-in|b-in|b2-in)|b2-out|b-out|a-out"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let order: Vec<(String, String)> = p
        .contributions()
        .into_iter()
        .map(|c| (c.plugin, c.command))
        .collect();
    assert_eq!(
        order,
        [
            ("wrapa".to_owned(), "outer".to_owned()),
            ("wrapb".to_owned(), "inner".to_owned()),
            ("wrapb".to_owned(), "innermost".to_owned()),
        ]
    );
}

#[test]
fn extend_wrap_a_wrapper_may_skip_next() {
    let (_host, _dir, p) = both(ErrorPolicy::Propagate);
    let runs = AtomicUsize::new(0);
    assert_eq!(
        p.run("x a:skip".to_owned(), op(&runs)).unwrap(),
        "a answered without next"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0, "nothing inside ran");
}

#[test]
fn extend_wrap_the_operations_error_passes_through_and_may_be_changed_or_recovered() {
    let (_host, _dir, p) = both(ErrorPolicy::Propagate);
    let failing = |_: String| -> Result<String, PluginError> {
        Err(PluginError::with_code(code(1234), "disk full"))
    };
    // Passed on by every wrapper: the operation's own error.
    let e = p.try_run("x".to_owned(), failing).unwrap_err();
    assert_eq!(e.code(), code(1719), "{e}");
    assert!(e.to_string().contains("disk full"), "{e}");
    // Changed by the outer wrapper: its error, not counted as its failure.
    let e = p
        .try_run("x a:change-error".to_owned(), failing)
        .unwrap_err();
    assert_eq!(e.code(), code(1711), "{e}");
    assert_eq!(e.plugin(), Some("wrapa"));
    assert!(
        e.to_string()
            .contains("a changed the error (SB1234: disk full)"),
        "{e}"
    );
    // Recovered: an answer.
    assert_eq!(
        p.try_run("x a:recover".to_owned(), failing).unwrap(),
        "a recovered from SB1234"
    );
    assert!(p.failures().is_empty(), "{:?}", p.failures());
}

#[test]
fn extend_wrap_an_inner_failure_is_the_inner_wrappers_not_the_one_passing_it_on() {
    let (_host, _dir, p) = both(ErrorPolicy::Propagate);
    let runs = AtomicUsize::new(0);
    let e = p.run("x b:fail".to_owned(), op(&runs)).unwrap_err();
    assert_eq!(e.code(), code(1711));
    assert_eq!(e.plugin(), Some("wrapb"), "{e}");
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    let failures = p.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].plugin, "wrapb");
}

#[test]
fn extend_wrap_a_panic_under_propagate_fails_the_plugin_whose_wrappers_leave() {
    let (host, _dir, p) = both(ErrorPolicy::Propagate);
    let runs = AtomicUsize::new(0);
    let e = p.run("x b:panic".to_owned(), op(&runs)).unwrap_err();
    assert_eq!(e.code(), code(1711));
    assert_eq!(cause(&e), code(101), "{e}");
    assert_eq!(host.plugin("wrapb").unwrap().state(), State::Failed);
    assert_eq!(
        p.run("x".to_owned(), op(&runs)).unwrap(),
        "op(x|a-in)|a-out"
    );
}

#[test]
fn extend_wrap_a_panic_under_skip_is_as_if_the_wrapper_were_absent() {
    let (_host, _dir, p) = both(ErrorPolicy::Skip);
    let runs = AtomicUsize::new(0);
    // wrapb panics before its next: it and its other wrapper (its plugin failed) are
    // skipped; the rest runs with the input it was given.
    assert_eq!(
        p.run("x b:panic".to_owned(), op(&runs)).unwrap(),
        "op(x b:panic|a-in)|a-out"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let failures = p.failures();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_eq!(failures[0].code, code(101));
    // A panic after next ran: the result next returned stands; nothing ran twice.
    let (_host, _dir, p) = both(ErrorPolicy::Skip);
    let runs = AtomicUsize::new(0);
    assert_eq!(
        p.run("x a:panic-after".to_owned(), op(&runs)).unwrap(),
        "op(x a:panic-after|a-in|b-in|b2-in)|b2-out|b-out"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn extend_wrap_disable_after_n_failures_takes_the_wrapper_out() {
    let (_host, _dir, p) = both(ErrorPolicy::DisableAfter(1));
    let runs = AtomicUsize::new(0);
    assert_eq!(
        p.run("x b:fail".to_owned(), op(&runs)).unwrap(),
        "op(x b:fail|a-in|b2-in)|b2-out|a-out"
    );
    // Disabled: the next invocation runs without it.
    assert_eq!(
        p.run("x".to_owned(), op(&runs)).unwrap(),
        "op(x|a-in|b2-in)|b2-out|a-out"
    );
    assert!(p
        .contributions()
        .iter()
        .any(|c| c.command == "inner" && c.disabled));
}

#[test]
fn extend_wrap_next_misuse_gets_coded_errors() {
    let (host, _dir, p) = both(ErrorPolicy::Propagate);
    let runs = AtomicUsize::new(0);
    // Twice: the first runs the rest, the second is refused.
    assert_eq!(
        p.run("x a:twice".to_owned(), op(&runs)).unwrap(),
        "first ok, second SB1716"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // Other message types than the point's.
    assert_eq!(
        p.run("x a:wrong-type".to_owned(), op(&runs)).unwrap(),
        "wrong type: SB1720"
    );
    // Another plugin's `next` (wrapa leaks its token to wrapb through the input).
    assert_eq!(
        p.run("x a:leak".to_owned(), op(&runs)).unwrap(),
        "b used a's next: SB1717"
    );
    // From another thread than the wrapper's.
    assert_eq!(
        p.run("x a:thread".to_owned(), op(&runs)).unwrap(),
        "thread: SB1715"
    );
    // Kept past the wrapper's return, called later from a plain command.
    assert_eq!(
        p.run("x a:keep".to_owned(), op(&runs)).unwrap(),
        "a kept next"
    );
    let wrapa = host.plugin("wrapa").unwrap();
    assert_eq!(
        wrapa
            .command::<(), String>("late")
            .unwrap()
            .call(&())
            .unwrap(),
        "late: SB1715"
    );
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "no misuse ran the operation"
    );
    // The wrapper called directly, without the host's token: a coded refusal.
    let e = wrapa
        .command::<String, String>("outer")
        .unwrap()
        .call(&"x".to_owned())
        .unwrap_err();
    assert_eq!(e.code(), code(102), "{e}");
    // Nothing above failed the plugins.
    assert_eq!(wrapa.state(), State::Active);
}

/// An operation that invokes its own point again, for ever.
fn recurse(p: &ExtensionPoint<String, String>, input: String) -> Result<String, PluginError> {
    p.try_run(input, |i| recurse(p, i))
        .map_err(|e| PluginError::with_code(e.code(), e.to_string()))
}

#[test]
fn extend_wrap_nesting_is_bounded() {
    let (_host, _dir, p) = both(ErrorPolicy::Propagate);
    let e = recurse(&p, "x".to_owned()).unwrap_err();
    // The refusal (SB1718) comes back through every level as the operation's error.
    assert!(
        e.message()
            .contains("would nest 65 deep on this thread, past the limit of 64"),
        "{e:?}"
    );
}

#[test]
fn extend_wrap_contributions_leave_on_stop_and_come_back_on_start() {
    let (host, _dir, p) = both(ErrorPolicy::Propagate);
    let runs = AtomicUsize::new(0);
    let wrapb = host.plugin("wrapb").unwrap();
    wrapb.stop().unwrap();
    assert_eq!(
        p.run("x".to_owned(), op(&runs)).unwrap(),
        "op(x|a-in)|a-out"
    );
    wrapb.start().unwrap();
    assert_eq!(
        p.run("x".to_owned(), op(&runs)).unwrap(),
        "op(x|a-in|b-in|b2-in)|b2-out|b-out|a-out"
    );
}

#[test]
fn extend_wrap_is_refused_on_other_kinds_and_contracts_before_plugin_code() {
    let (host, _dir) = new_host();
    host.extension_point::<String, String>("wrap.op", PointKind::Filter)
        .unwrap();
    let e = host.load_unsigned(test_plugin("wrapa")).unwrap_err();
    assert_eq!(e.code(), code(1702), "{e}");
    let (host, _dir) = new_host();
    host.extension_point::<String, u32>("wrap.op", PointKind::Operation)
        .unwrap();
    let e = host.load_unsigned(test_plugin("wrapa")).unwrap_err();
    assert_eq!(e.code(), code(1703), "{e}");
}

#[test]
fn extend_wrap_an_isolated_wrappers_next_reenters_the_host_across_the_boundary() {
    use switchboard_host::isolation::Mode;
    let (host, _dir) = host_with(|b, _| {
        let mut policy = Policy::new();
        policy.allow("extend:**".parse().unwrap());
        b.policy(policy).runner(crate::isolated::runner());
    });
    let p = point(&host, ErrorPolicy::Propagate);
    // wrapa (outermost) in its sandboxed runner, wrapb in-process inside it.
    start(&host, "wrapb");
    let wrapa = host
        .load_unsigned_with(
            test_plugin("wrapa"),
            &crate::isolated::options(Mode::Isolated),
        )
        .unwrap();
    assert_eq!(wrapa.isolation().mode, Mode::Isolated);
    wrapa.start().unwrap();
    let runs = AtomicUsize::new(0);
    assert_eq!(
        p.run("x".to_owned(), op(&runs)).unwrap(),
        "op(x|a-in|b-in|b2-in)|b2-out|b-out|a-out"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // Its `next` from another thread of the runner is refused, as in-process.
    assert_eq!(
        p.run("x a:thread".to_owned(), op(&runs)).unwrap(),
        "thread: SB1715"
    );
}

#[test]
fn extend_wrap_the_host_operation_inside_an_isolated_wrappers_next_is_not_its_time() {
    use switchboard_host::isolation::{IsolationProfile, Mode};
    // wrapa's calls may take 1 s of its own; the operation inside its `next` takes longer.
    let (host, _dir) = host_with(|b, _| {
        let mut policy = Policy::new();
        policy.allow("extend:**".parse().unwrap());
        let mut limits = IsolationProfile::default();
        limits.call_timeout_ms = Some(1_000);
        policy.isolation_defaults(limits);
        b.policy(policy).runner(crate::isolated::runner());
    });
    let p = point(&host, ErrorPolicy::Propagate);
    let wrapa = host
        .load_unsigned_with(
            test_plugin("wrapa"),
            &crate::isolated::options(Mode::Isolated),
        )
        .unwrap();
    assert_eq!(
        wrapa.isolation().decision.limits.call_timeout_ms,
        Some(1_000)
    );
    wrapa.start().unwrap();
    let slow = |i: String| {
        std::thread::sleep(std::time::Duration::from_millis(1_300));
        format!("op({i})")
    };
    assert_eq!(p.run("x".to_owned(), slow).unwrap(), "op(x|a-in)|a-out");
    assert_eq!(wrapa.state(), State::Active);
}

/// `wrap.op` under `policy` with a 100 ms timeout, both wrapping plugins started.
fn timed(policy: ErrorPolicy) -> (Host, tempfile::TempDir, ExtensionPoint<String, String>) {
    let mut options = PointOptions::new();
    options.policy(policy).timeout(Duration::from_millis(100));
    both_with(&options)
}

#[test]
fn extend_wrap_the_host_operation_inside_a_wrappers_next_is_not_its_time() {
    // The operation takes 300 ms inside three wrappers that do nothing slow, on a point with a
    // 100 ms timeout: the time inside each `next` is the rest of the onion's, so no wrapper
    // overran — under either policy, nothing fails and nothing is disabled.
    for policy in [ErrorPolicy::Propagate, ErrorPolicy::DisableAfter(1)] {
        let (_host, _dir, p) = timed(policy);
        let slow = |i: String| {
            std::thread::sleep(Duration::from_millis(300));
            format!("op({i})")
        };
        assert_eq!(
            p.run("x".to_owned(), slow).unwrap(),
            "op(x|a-in|b-in|b2-in)|b2-out|b-out|a-out"
        );
        assert!(p.failures().is_empty(), "{:?}", p.failures());
        assert!(p.contributions().iter().all(|c| !c.disabled));
    }
}

#[test]
fn extend_wrap_a_wrapper_slow_on_its_own_time_overruns_under_each_policy() {
    // `a:slow`: wrapa sleeps 300 ms after its `next` returned, past the 100 ms timeout.
    let runs = AtomicUsize::new(0);
    let (_host, _dir, p) = timed(ErrorPolicy::Propagate);
    let e = p.run("x a:slow".to_owned(), op(&runs)).unwrap_err();
    assert_eq!(e.code(), code(1712), "{e}");
    assert_eq!(e.plugin(), Some("wrapa"));
    // Skipped: the result its `next` returned stands; nothing ran twice.
    let (_host, _dir, p) = timed(ErrorPolicy::Skip);
    let runs = AtomicUsize::new(0);
    assert_eq!(
        p.run("x a:slow".to_owned(), op(&runs)).unwrap(),
        "op(x a:slow|a-in|b-in|b2-in)|b2-out|b-out"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let failures = p.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(
        (failures[0].plugin.as_str(), failures[0].code),
        ("wrapa", code(1712))
    );
    // Disabled after one overrun: the next invocation runs without it.
    let (_host, _dir, p) = timed(ErrorPolicy::DisableAfter(1));
    assert_eq!(
        p.run("x a:slow".to_owned(), op(&runs)).unwrap(),
        "op(x a:slow|a-in|b-in|b2-in)|b2-out|b-out"
    );
    assert!(p
        .contributions()
        .iter()
        .any(|c| c.plugin == "wrapa" && c.disabled));
    assert_eq!(
        p.run("x".to_owned(), op(&runs)).unwrap(),
        "op(x|b-in|b2-in)|b2-out|b-out"
    );
}
