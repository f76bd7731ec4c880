//! What a stopped, failed or removed plugin keeps (nothing), and that the host never waits
//! forever on a plugin's `stop` hook — driven through `lingerer`, a hostile test-only cdylib
//! (`tests/plugins/lingerer`) whose thread keeps its `Context` past `stop` and `remove`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use switchboard_host::bus::ServiceBuilder;
use switchboard_host::caps::{Approval, ApprovalRequest, Policy, Scope};
use switchboard_host::{Host, HostBuilder, PluginHandle, State};
use switchboard_tests::{host_with, test_plugin};

/// Every probe the lingering thread makes (see the plugin's `probe`).
const PROBES: [&str; 9] = [
    "kv",
    "secrets",
    "config",
    "env",
    "check",
    "fs",
    "publish_own",
    "publish",
    "service",
];

/// A host granting lingerer everything it probes, with `alpha.echo` provided, and a work
/// directory holding a readable file.
fn lingering_host(setup: impl FnOnce(&mut HostBuilder)) -> (Host, tempfile::TempDir, PathBuf) {
    let (host, dir) = host_with(|b, root| {
        let mut p = Policy::new();
        for c in [
            "kv",
            "secrets",
            "config.read",
            "env:LINGER_*",
            "events.publish:shared.**",
            "events.subscribe:host.**",
            "service.call:alpha.*",
        ] {
            p.allow(c.parse().unwrap());
        }
        p.allow(format!("fs.read:{}/**", root.display()).parse().unwrap());
        b.policy(p).plugin_env("LINGER_MODE", "on");
        setup(b);
    });
    host.bus()
        .provide(ServiceBuilder::new("alpha.echo").method("echo", |s: String| Ok(s)))
        .unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("readable.txt"), "x").unwrap();
    (host, dir, work)
}

fn started(host: &Host) -> PluginHandle {
    let h = host.load_unsigned(test_plugin("lingerer")).unwrap();
    h.start().unwrap();
    h
}

fn parse(report: &str) -> BTreeMap<String, String> {
    report
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn probe_now(h: &PluginHandle, work: &Path) -> BTreeMap<String, String> {
    let report: String = h
        .command::<String, String>("probe_now")
        .unwrap()
        .call(&work.display().to_string())
        .unwrap();
    parse(&report)
}

/// Leaves a thread in the plugin that keeps its `Context`.
fn linger(h: &PluginHandle, work: &Path) {
    h.command::<String, ()>("linger")
        .unwrap()
        .call(&work.display().to_string())
        .unwrap();
}

/// Lets the lingering thread run its probes, and waits (generously) for its report.
fn release_and_wait(work: &Path) -> BTreeMap<String, String> {
    std::fs::write(work.join("go"), b"").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(work.join("report")) {
            return parse(&text);
        }
        assert!(
            Instant::now() < deadline,
            "the lingering thread never reported"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn assert_all(report: &BTreeMap<String, String>, expected: &str, when: &str) {
    for probe in PROBES {
        assert_eq!(
            report.get(probe).map(String::as_str),
            Some(expected),
            "{when}: `{probe}` answered {:?} (whole report: {report:?})",
            report.get(probe)
        );
    }
}

/// Regression (issue 13.1): a thread that outlived `stop` kept using KV, secrets, env,
/// services and publishing with its saved `Context`.
#[test]
fn a_stopped_plugin_keeps_no_host_service_until_it_starts_again() {
    let (host, _d, work) = lingering_host(|_| {});
    let h = started(&host);
    assert_all(&probe_now(&h, &work), "ok", "while active");
    linger(&h, &work);
    h.stop().unwrap();
    assert_all(&release_and_wait(&work), "SB0320", "after stop");
    h.start().unwrap();
    assert_all(&probe_now(&h, &work), "ok", "started again");
}

/// Regression (issue 13.1): after `remove`, a saved `Context` still published in the plugin's
/// own namespace.
#[test]
fn a_removed_plugin_keeps_no_host_service_not_even_its_own_namespace() {
    let (host, _d, work) = lingering_host(|_| {});
    let h = started(&host);
    let seen = host
        .bus()
        .subscribe(
            "plugin.lingerer.>",
            switchboard_host::bus::SubscribeOptions::new(),
            |_: &switchboard_host::bus::Envelope| Ok(()),
        )
        .unwrap();
    linger(&h, &work);
    host.remove("lingerer").unwrap();
    assert_all(&release_and_wait(&work), "SB0416", "after remove");
    assert_eq!(host.bus().stats(seen).unwrap().enqueued, 0);
}

/// Regression (issue 13.8): a `service.call` request the approver refused was reported as
/// `SB0412` (out of scope) because another `service.call` grant existed; the docs say `SB0411`.
#[test]
fn a_service_call_the_approver_refused_is_not_granted() {
    let (host, _d) = host_with(|b, _| {
        b.approver(|r: &ApprovalRequest<'_>| {
            if r.capability.to_string() == "service.call:alpha.*" {
                Approval::Allow(Scope::Session)
            } else {
                Approval::Deny
            }
        });
    });
    for name in ["alpha.echo", "beta.echo"] {
        host.bus()
            .provide(ServiceBuilder::new(name).method("echo", |s: String| Ok(s)))
            .unwrap();
    }
    let h = host.load_unsigned(test_plugin("lingerer")).unwrap();
    // The approver refused `events.subscribe`: start would be refused, so call while loaded
    // is impossible; grant the subscription instead.
    host.grant(
        "lingerer",
        "events.subscribe:host.**".parse().unwrap(),
        Scope::Session,
    )
    .unwrap();
    h.start().unwrap();
    let call = h.command::<String, String>("call").unwrap();
    assert_eq!(call.call(&"alpha.echo".into()).unwrap(), "hi");
    let e = call.call(&"beta.echo".into()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0411", "{e}");
    assert!(e.to_string().contains("service.call:beta.echo"), "{e}");
}

/// Runs `f` on another thread and waits for it at most `limit`: a hang fails the test
/// instead of hanging it.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .expect("the call did not return in time: it hangs")
}

/// Regression (issue 13.7): a `stop` hook that never returned blocked `Host::remove` forever.
/// The default deadline (5 s) applies.
#[test]
fn remove_gives_up_on_a_stop_hook_that_never_returns() {
    let (host, _d, _work) = lingering_host(|_| {});
    let h = started(&host);
    h.command::<(), ()>("hang_on_stop")
        .unwrap()
        .call(&())
        .unwrap();
    assert!(host
        .bus()
        .subscriptions()
        .iter()
        .any(|s| s.owner == "lingerer"));
    let remover = host.clone();
    let e = within(Duration::from_secs(60), move || remover.remove("lingerer")).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0321", "{e}");
    assert!(e.next_step().contains("isolated mode"), "{}", e.next_step());
    assert_eq!(h.state(), State::Removed);
    assert!(h
        .history()
        .iter()
        .any(|t| t.to == State::Failed
            && t.reason.as_deref().is_some_and(|r| r.contains("stop hook"))));
    assert!(!host.grant_table().is_valid(h.token()));
    assert!(!host
        .bus()
        .subscriptions()
        .iter()
        .any(|s| s.owner == "lingerer"));
    assert!(host.plugin("lingerer").is_err());
}

/// Regression (issue 13.7): dropping a `Host` stopped its plugins with no deadline, so a hung
/// `stop` hook hung the drop. The deadline is the builder's.
#[test]
fn dropping_the_host_gives_up_on_a_stop_hook_that_never_returns() {
    let (host, _d, _work) = lingering_host(|b| {
        b.stop_deadline(Duration::from_millis(300));
    });
    let h = started(&host);
    h.command::<(), ()>("hang_on_stop")
        .unwrap()
        .call(&())
        .unwrap();
    drop(h);
    within(Duration::from_secs(60), move || drop(host));
}
