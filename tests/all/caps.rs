//! Capabilities end to end: the real `hello` cdylib asks the host for files, environment
//! variables and checks, under policies and approvers — positive, negative and escalation
//! cases. Every denial must be a coded error naming the capability and the plugin, never a
//! panic, and must leave the plugin running.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hello::WriteFile;
use switchboard_host::caps::{
    Access, Approval, ApprovalRequest, Capability, DenyReason, Policy, Scope, Token, TrustLevel,
};
use switchboard_host::{
    AuditFilter, AuditKind, CallError, CapsError, Error, HostBuilder, PluginHandle, State,
    Timestamp,
};
use switchboard_tests::{arm_canary, canary_lock, host_with, library, reopen};

fn cap(s: &str) -> Capability {
    s.parse().unwrap()
}

fn policy(rules: &[&str]) -> Policy {
    let mut p = Policy::new();
    for r in rules {
        p.allow(cap(r));
    }
    p
}

fn started(host: &switchboard_host::Host) -> PluginHandle {
    let h = host.load_unsigned(library("hello")).unwrap();
    h.start().unwrap();
    h
}

/// The error a denied plugin call returns, with the plugin still active afterwards.
fn denied(h: &PluginHandle, r: Result<impl std::fmt::Debug, CallError>, code: &str) -> CallError {
    let e = match r {
        Ok(v) => panic!("expected a denial {code}, got {v:?}"),
        Err(e) => e,
    };
    assert_eq!(e.code().to_string(), code, "{e}\nnext: {}", e.next_step());
    assert!(e.to_string().contains("hello"), "names the plugin: {e}");
    assert!(!e.next_step().is_empty());
    assert_eq!(h.state(), State::Active, "a denial is not a failure");
    e
}

fn read(h: &PluginHandle, path: &Path) -> Result<String, CallError> {
    h.command::<String, String>("read_file")
        .unwrap()
        .call(&path.display().to_string())
}

fn write(h: &PluginHandle, path: &Path, text: &str) -> Result<(), CallError> {
    h.command::<WriteFile, ()>("write_file")
        .unwrap()
        .call(&WriteFile {
            path: path.display().to_string(),
            text: text.into(),
        })
}

fn check(h: &PluginHandle, access: &str) -> Result<(), CallError> {
    h.command::<String, ()>("check")
        .unwrap()
        .call(&access.to_string())
}

fn env(h: &PluginHandle, name: &str) -> Result<String, CallError> {
    h.command::<String, String>("env")
        .unwrap()
        .call(&name.to_string())
}

/// A data layout: `shared/` (granted), `private/` (not), files in each.
fn files(root: &Path) -> (PathBuf, PathBuf) {
    let shared = root.join("shared");
    let private = root.join("private");
    std::fs::create_dir_all(shared.join("sub")).unwrap();
    std::fs::create_dir_all(&private).unwrap();
    std::fs::write(shared.join("notes.txt"), "shared notes").unwrap();
    std::fs::write(shared.join("sub/deep.txt"), "deep").unwrap();
    std::fs::write(private.join("secret.txt"), "top secret").unwrap();
    (shared, private)
}

fn fs_host(rules: impl Fn(&Path) -> Vec<String>) -> (switchboard_host::Host, tempfile::TempDir) {
    host_with(|b, root| {
        files(root);
        let mut p = Policy::new();
        for r in rules(root) {
            p.allow(cap(&r));
        }
        b.policy(p);
    })
}

#[test]
fn a_capability_used_without_being_declared_is_denied() {
    let (host, _d) = host_with(|b, _| {
        b.policy(policy(&["kv"]));
    });
    let h = started(&host);
    let e = denied(&h, check(&h, "secrets"), "SB0410");
    assert!(e.to_string().contains("secrets"), "{e}");
    assert!(e.next_step().contains("capabilities"), "{}", e.next_step());
    denied(&h, check(&h, "process.spawn"), "SB0410");
    check(&h, "kv").unwrap();
}

#[test]
fn a_declared_capability_denied_by_policy_is_refused() {
    let (host, _d) = host_with(|b, _| {
        let mut p = Policy::new();
        p.block(cap("kv"));
        b.policy(p)
            .approver(|_: &ApprovalRequest<'_>| Approval::Allow(Scope::Session));
    });
    let h = started(&host);
    let e = denied(&h, check(&h, "kv"), "SB0411");
    assert!(e.to_string().contains("blocked"), "{e}");
    assert!(h
        .denied()
        .iter()
        .any(|(c, r)| *c == cap("kv") && r.contains("blocked")));
}

#[test]
fn with_no_rules_and_no_approver_everything_is_denied() {
    let (host, _d) = host_with(|_, _| {});
    let h = started(&host);
    assert!(h.grants().is_empty());
    let e = denied(&h, check(&h, "kv"), "SB0411");
    assert!(e.to_string().contains("deny by default"), "{e}");
}

#[test]
fn granted_kv_takes_the_lock_free_path() {
    let (host, _d) = host_with(|b, _| {
        b.policy(policy(&["kv"]));
    });
    let h = started(&host);
    assert!(host.grant_table().check(h.token(), &Access::Kv));
    check(&h, "kv").unwrap();
}

#[test]
fn reading_inside_the_granted_directory_works() {
    let (host, d) = fs_host(|root| vec![format!("fs.read:{}/shared/**", root.display())]);
    let h = started(&host);
    assert_eq!(
        read(&h, &d.path().join("shared/notes.txt")).unwrap(),
        "shared notes"
    );
    assert_eq!(
        read(&h, &d.path().join("shared/sub/deep.txt")).unwrap(),
        "deep"
    );
}

#[test]
fn a_dot_dot_escape_is_denied() {
    let (host, d) = fs_host(|root| vec![format!("fs.read:{}/shared/**", root.display())]);
    let h = started(&host);
    let escape = d.path().join("shared/../private/secret.txt");
    let e = denied(&h, read(&h, &escape), "SB0412");
    assert!(!e.to_string().contains("top secret"));
}

#[cfg(unix)]
#[test]
fn a_symlink_out_of_the_allowed_directory_is_denied() {
    let (host, d) = fs_host(|root| vec![format!("fs.read:{}/shared/**", root.display())]);
    let link = d.path().join("shared/innocent.txt");
    std::os::unix::fs::symlink(d.path().join("private/secret.txt"), &link).unwrap();
    let h = started(&host);
    denied(&h, read(&h, &link), "SB0412");
}

#[cfg(unix)]
#[test]
fn a_symlinked_directory_out_of_the_allowed_directory_is_denied() {
    let (host, d) = fs_host(|root| vec![format!("fs.read:{}/shared/**", root.display())]);
    std::os::unix::fs::symlink(d.path().join("private"), d.path().join("shared/door")).unwrap();
    let h = started(&host);
    denied(
        &h,
        read(&h, &d.path().join("shared/door/secret.txt")),
        "SB0412",
    );
}

#[cfg(unix)]
#[test]
fn writing_through_a_symlink_that_leaves_the_grant_is_denied() {
    let (host, d) = fs_host(|root| vec![format!("fs.write:{}/shared/**", root.display())]);
    let secret = d.path().join("private/secret.txt");
    let link = d.path().join("shared/out.txt");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let h = started(&host);
    denied(&h, write(&h, &link, "overwritten"), "SB0412");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "top secret");
}

#[test]
fn writing_inside_the_grant_works_and_outside_is_denied() {
    let (host, d) = fs_host(|root| vec![format!("fs.write:{}/shared/**", root.display())]);
    let h = started(&host);
    let inside = d.path().join("shared/new.txt");
    write(&h, &inside, "hello").unwrap();
    assert_eq!(std::fs::read_to_string(&inside).unwrap(), "hello");
    let outside = d.path().join("private/new.txt");
    denied(&h, write(&h, &outside, "nope"), "SB0412");
    assert!(!outside.exists());
    // fs.write grants no reading.
    denied(&h, read(&h, &inside), "SB0411");
}

#[test]
fn a_missing_file_outside_the_grant_is_denied_not_reported_missing() {
    let (host, d) = fs_host(|root| vec![format!("fs.read:{}/shared/**", root.display())]);
    let h = started(&host);
    denied(&h, read(&h, &d.path().join("private/nope.txt")), "SB0412");
    let inside = read(&h, &d.path().join("shared/nope.txt")).unwrap_err();
    assert_eq!(inside.code().to_string(), "SB0430", "{inside}");
}

#[test]
fn relative_paths_are_refused() {
    let (host, _d) = host_with(|b, _| {
        b.policy(policy(&["fs.read"]));
    });
    let h = started(&host);
    let e = read(&h, Path::new("Cargo.toml")).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0430");
    assert!(e.next_step().contains("absolute"));
}

#[test]
fn a_wildcard_broader_than_granted_is_denied() {
    // Granted one level (`*`); a deeper path needs `**`.
    let (host, d) = fs_host(|root| vec![format!("fs.read:{}/shared/*", root.display())]);
    let h = started(&host);
    read(&h, &d.path().join("shared/notes.txt")).unwrap();
    denied(
        &h,
        read(&h, &d.path().join("shared/sub/deep.txt")),
        "SB0412",
    );
}

#[test]
fn a_wide_request_is_narrowed_to_what_policy_allows() {
    let (host, d) = fs_host(|root| vec![format!("fs.read:{}/shared/**", root.display())]);
    let h = started(&host);
    let granted: Vec<String> = h
        .grants()
        .iter()
        .map(|g| g.capability().to_string())
        .collect();
    let want = format!(
        "fs.read:{}/shared/**",
        std::fs::canonicalize(d.path()).unwrap().display()
    );
    assert!(granted.contains(&want), "{granted:?}");
    assert!(h.requested().contains(&cap("fs.read")));
}

#[test]
fn a_topic_outside_the_plugins_namespace_is_denied() {
    let (host, _d) = host_with(|b, _| {
        b.approver(|_: &ApprovalRequest<'_>| Approval::Allow(Scope::Session));
    });
    let h = started(&host);
    assert!(h
        .requested()
        .contains(&cap("events.publish:plugin.hello.**")));
    check(&h, "events.publish:plugin.hello.greeted").unwrap();
    let e = denied(
        &h,
        check(&h, "events.publish:plugin.wordcount.greeted"),
        "SB0410",
    );
    assert!(e.to_string().contains("plugin.hello.**"), "{e}");
    denied(&h, check(&h, "events.publish:host.shutdown"), "SB0410");
}

#[test]
fn a_subscription_broader_than_granted_is_denied() {
    let (host, _d) = host_with(|b, _| {
        b.policy(policy(&["events.subscribe:plugin.wordcount.*"]));
    });
    let h = started(&host);
    check(&h, "events.subscribe:plugin.wordcount.done").unwrap();
    check(&h, "events.subscribe:plugin.wordcount.*").unwrap();
    denied(
        &h,
        check(&h, "events.subscribe:plugin.wordcount.**"),
        "SB0412",
    );
    denied(&h, check(&h, "events.subscribe:plugin.*.done"), "SB0412");
}

#[test]
fn service_calls_are_checked_by_name() {
    let (host, _d) = host_with(|b, _| {
        b.policy(policy(&["service.call:greetings.formal"]));
    });
    let h = started(&host);
    check(&h, "service.call:greetings.formal").unwrap();
    denied(&h, check(&h, "service.call:greetings.casual"), "SB0412");
    denied(&h, check(&h, "service.call:billing.charge"), "SB0410");
    denied(&h, check(&h, "service.provide:greetings.formal"), "SB0410");
}

#[test]
fn environment_variables_need_a_grant_and_come_only_from_the_host() {
    let (host, _d) = host_with(|b, _| {
        b.policy(policy(&["env:HELLO_MODE"]))
            .plugin_env("HELLO_MODE", "loud")
            .plugin_env("HELLO_TOKEN", "s3cr3t");
    });
    let h = started(&host);
    assert_eq!(env(&h, "HELLO_MODE").unwrap(), "loud");
    denied(&h, env(&h, "HELLO_TOKEN"), "SB0412");
    denied(&h, env(&h, "PATH"), "SB0410");
}

#[test]
fn an_expired_time_limited_grant_is_denied() {
    let (host, _d) = host_with(|b, _| {
        b.approver(|r: &ApprovalRequest<'_>| match r.capability {
            Capability::Kv => Approval::Allow(Scope::Until(
                Timestamp::now().plus(Duration::from_millis(2000)),
            )),
            _ => Approval::Deny,
        });
    });
    let h = started(&host);
    check(&h, "kv").unwrap();
    let expires = h.grants()[0].scope().expires().unwrap();
    while Timestamp::now() <= expires {
        std::thread::sleep(Duration::from_millis(50));
    }
    let e = denied(&h, check(&h, "kv"), "SB0413");
    assert!(e.to_string().contains("expired"), "{e}");
}

#[test]
fn a_grant_revoked_while_the_plugin_runs_is_denied_on_the_next_check() {
    let (host, _d) = host_with(|b, _| {
        b.policy(policy(&["kv", "fs.read"]));
    });
    let h = started(&host);
    check(&h, "kv").unwrap();
    assert_eq!(host.revoke("hello", &cap("kv")).unwrap(), 1);
    denied(&h, check(&h, "kv"), "SB0414");
    check(&h, "fs.read:/x").unwrap();
    let e = host.revoke("hello", &cap("kv")).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0422");
    let revokes = host
        .audit()
        .query(&AuditFilter::new().plugin("hello").kind(AuditKind::Revoke))
        .unwrap();
    assert_eq!(revokes.len(), 1);
    assert_eq!(revokes[0].subject, "kv");
}

#[test]
fn a_forged_token_is_denied() {
    let (host, _d) = host_with(|b, _| {
        b.policy(policy(&["kv"]));
    });
    let h = started(&host);
    let t = h.token();
    let table = host.grant_table();
    assert!(table.check(t, &Access::Kv));
    for forged in [
        Token::from_raw(t.index(), t.generation().wrapping_add(2)),
        Token::from_raw(t.index(), t.generation().wrapping_sub(1)),
        Token::from_raw(t.index() + 1, t.generation()),
        Token::from_raw(9_999, 1),
    ] {
        assert!(!table.check(forged, &Access::Kv), "{forged}");
        assert_eq!(table.explain(forged, &Access::Kv), DenyReason::InvalidToken);
    }
}

#[test]
fn a_removed_plugins_token_goes_stale() {
    let (host, _d) = host_with(|b, _| {
        b.policy(policy(&["kv"]));
    });
    let h = started(&host);
    let old = h.token();
    host.remove("hello").unwrap();
    assert!(!host.grant_table().check(old, &Access::Kv));
    let again = started(&host);
    assert_ne!(again.token(), old);
    assert!(host.grant_table().check(again.token(), &Access::Kv));
    assert!(!host.grant_table().check(old, &Access::Kv));
}

#[test]
fn a_once_grant_used_twice_is_denied() {
    let (host, _d) = host_with(|b, _| {
        b.approver(|r: &ApprovalRequest<'_>| match r.capability {
            Capability::Kv => Approval::Allow(Scope::Once),
            _ => Approval::Deny,
        });
    });
    let h = started(&host);
    check(&h, "kv").unwrap();
    denied(&h, check(&h, "kv"), "SB0415");
    assert!(h.grants()[0].is_used());
}

#[test]
fn the_approver_sees_the_plugin_its_trust_and_each_request() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let (host, _d) = host_with(move |b, _| {
        let mut p = Policy::new();
        p.allow(cap("kv")).require_approval(cap("fs.write"));
        b.policy(p).approver(move |r: &ApprovalRequest<'_>| {
            s.lock().unwrap().push((
                r.plugin.to_owned(),
                r.trust,
                r.capability.to_string(),
                r.required_by_policy,
            ));
            Approval::Deny
        });
    });
    started(&host);
    let seen = seen.lock().unwrap();
    assert!(seen
        .iter()
        .all(|(p, t, ..)| p == "hello" && *t == TrustLevel::Unsigned));
    assert!(
        !seen.iter().any(|(_, _, c, _)| c == "kv"),
        "policy decided kv"
    );
    assert!(seen.contains(&(
        "hello".into(),
        TrustLevel::Unsigned,
        "fs.write".into(),
        true
    )));
    assert!(seen.contains(&(
        "hello".into(),
        TrustLevel::Unsigned,
        "fs.read".into(),
        false
    )));
}

#[test]
fn a_persistent_grant_survives_a_restart_and_revocation_removes_it() {
    let asked = Arc::new(AtomicUsize::new(0));
    let a = asked.clone();
    let (host, d) = host_with(move |b, _| {
        b.approver(move |r: &ApprovalRequest<'_>| {
            a.fetch_add(1, Ordering::Relaxed);
            match r.capability {
                Capability::Kv => Approval::Allow(Scope::Persistent),
                _ => Approval::Deny,
            }
        });
    });
    started(&host);
    drop(host);
    let host = reopen(d.path(), |_: &mut HostBuilder| {});
    let h = started(&host);
    check(&h, "kv").unwrap();
    let kv = h
        .grants()
        .into_iter()
        .find(|g| *g.capability() == cap("kv"))
        .unwrap();
    assert_eq!(kv.scope(), Scope::Persistent);
    host.revoke("hello", &cap("kv")).unwrap();
    drop((h, host));
    let host = reopen(d.path(), |_: &mut HostBuilder| {});
    let h = started(&host);
    denied(&h, check(&h, "kv"), "SB0411");
}

#[test]
fn a_plugin_below_the_minimum_trust_is_refused_before_its_code_runs() {
    let _g = canary_lock();
    let (host, d) = host_with(|b, _| {
        let mut p = Policy::new();
        p.min_trust(TrustLevel::Verified);
        b.policy(p);
    });
    let marker = arm_canary(d.path());
    let e = host.load_unsigned(library("canary")).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0420");
    assert!(matches!(e, Error::Caps(CapsError::TrustTooLow { .. })));
    // Lowering the bar is offered only with isolation below it.
    let next = e.next_step();
    assert!(
        next.contains("[isolation] isolate_below = \"verified\""),
        "{next}"
    );
    assert!(next.contains("switchboard sign"), "{next}");
    assert!(next.contains("HostBuilder::trust"), "{next}");
    assert!(!marker.exists(), "no plugin code before the refusal");
    let rows = host
        .audit()
        .query(&AuditFilter::new().plugin("canary").kind(AuditKind::Load))
        .unwrap();
    assert!(rows[0].detail.contains("SB0420"), "{}", rows[0].detail);
}

#[test]
fn a_deny_listed_plugin_is_refused() {
    let (host, _d) = host_with(|b, _| {
        let mut p = Policy::new();
        p.deny_plugin("hello");
        b.policy(p);
    });
    let e = host.load_unsigned(library("hello")).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0421");
    host.load_unsigned(library("wordcount")).unwrap();
}

#[test]
fn run_time_grants_must_be_requested_and_not_blocked() {
    let (host, _d) = host_with(|b, _| {
        let mut p = Policy::new();
        p.block(cap("fs.write"));
        b.policy(p);
    });
    let h = started(&host);
    denied(&h, check(&h, "kv"), "SB0411");
    host.grant("hello", cap("kv"), Scope::Session).unwrap();
    check(&h, "kv").unwrap();
    let e = host
        .grant("hello", cap("secrets"), Scope::Session)
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0423");
    let e = host
        .grant("hello", cap("fs.write:/tmp/x"), Scope::Session)
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0424");
}

#[test]
fn denials_are_audited_with_their_code() {
    let (host, _d) = host_with(|_, _| {});
    let h = started(&host);
    let _ = check(&h, "secrets");
    let rows = host
        .audit()
        .query(&AuditFilter::new().plugin("hello").kind(AuditKind::Deny))
        .unwrap();
    let runtime = rows
        .iter()
        .find(|r| r.subject == "secrets")
        .expect("a deny row");
    assert!(runtime.detail.contains("SB0410"), "{}", runtime.detail);
    assert!(rows
        .iter()
        .any(|r| r.subject == "kv" && r.detail.contains("load")));
}

#[test]
fn host_services_of_the_application_check_through_the_handle() {
    let (host, _d) = host_with(|b, _| {
        b.policy(policy(&["service.call:greetings.*"]));
    });
    let h = started(&host);
    h.check(&Access::CallService("greetings.hi")).unwrap();
    let e = h.check(&Access::CallService("billing")).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0410");
}

#[test]
fn capability_names_match_the_macro_list() {
    let text = std::fs::read_to_string(
        switchboard_cli::examples::workspace_root().join("macros/src/capability.rs"),
    )
    .unwrap();
    let start = text.find("pub const NAMES").unwrap();
    let list = &text[start..text[start..].find("];").unwrap() + start];
    let quoted = list.matches('"').count() / 2;
    assert_eq!(quoted, switchboard_host::caps::CapabilityKind::ALL.len());
    for k in switchboard_host::caps::CapabilityKind::ALL {
        assert!(
            list.contains(&format!("\"{}\"", k.as_str())),
            "{k} missing from the macro"
        );
    }
}
