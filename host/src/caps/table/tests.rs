use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use switchboard_sdk::caps::{Access, Capability};

use super::*;
use crate::caps::grant::GrantSource;
use crate::caps::scope::Scope;
use crate::timestamp::Timestamp;

fn cap(s: &str) -> Capability {
    s.parse().unwrap()
}

fn grant(c: &str, scope: Scope) -> Grant {
    Grant::new(cap(c), scope, Timestamp::now(), GrantSource::Policy)
}

fn set(requested: &[&str], grants: Vec<Grant>) -> GrantSet {
    GrantSet {
        generation: 0,
        requested: requested.iter().map(|c| cap(c)).collect(),
        grants,
        denied: Vec::new(),
        revoked: Vec::new(),
    }
}

fn read(p: &str) -> Access<'_> {
    Access::ReadFile(Path::new(p))
}

/// How many checks on this thread have taken the slow path so far.
fn slow_path_checks() -> u64 {
    SLOW_PATH_CHECKS.with(std::cell::Cell::get)
}

#[test]
fn widest_session_grants_take_the_fast_path() {
    let t = GrantTable::new();
    let tok = t
        .insert(set(
            &["kv", "fs.read"],
            vec![
                grant("kv", Scope::Session),
                grant("fs.read", Scope::Persistent),
            ],
        ))
        .unwrap();
    let before = slow_path_checks();
    assert!(t.check(tok, &Access::Kv));
    assert!(t.check(tok, &read("/anything")));
    // A kind with no grant at all is denied from the word alone, too.
    assert!(!t.check(tok, &Access::Secrets));
    assert_eq!(slow_path_checks(), before, "no check read the grant set");
}

#[test]
fn patterns_are_checked_on_the_slow_path() {
    let t = GrantTable::new();
    let tok = t
        .insert(set(
            &["fs.read"],
            vec![grant("fs.read:/srv/**", Scope::Session)],
        ))
        .unwrap();
    let before = slow_path_checks();
    assert!(t.check(tok, &read("/srv/a/b")));
    assert!(!t.check(tok, &read("/etc/passwd")));
    assert!(!t.check(tok, &read("/srv/../etc/passwd")));
    assert_eq!(
        slow_path_checks(),
        before + 3,
        "every check read the grant set"
    );
    assert_eq!(
        t.explain(tok, &read("/etc/passwd")),
        DenyReason::OutOfScope {
            granted: vec![cap("fs.read:/srv/**")]
        }
    );
}

#[test]
fn forged_tokens_are_denied() {
    let t = GrantTable::new();
    let tok = t
        .insert(set(&["kv"], vec![grant("kv", Scope::Session)]))
        .unwrap();
    for forged in [
        Token::from_raw(tok.index, tok.generation + 2),
        Token::from_raw(tok.index, tok.generation + 1),
        Token::from_raw(tok.index, 0),
        Token::from_raw(tok.index + 1, tok.generation),
        Token::from_raw(u32::MAX, tok.generation),
        Token::from_raw(MAX_INSTANCES as u32, 1),
    ] {
        assert!(!t.check(forged, &Access::Kv), "{forged}");
        assert_eq!(t.explain(forged, &Access::Kv), DenyReason::InvalidToken);
        assert!(!t.is_valid(forged));
    }
    assert!(t.check(tok, &Access::Kv));
}

#[test]
fn a_released_slot_denies_its_old_token_even_when_reused() {
    let t = GrantTable::new();
    let old = t
        .insert(set(&["kv"], vec![grant("kv", Scope::Session)]))
        .unwrap();
    t.release(old);
    assert!(!t.check(old, &Access::Kv));
    let new = t
        .insert(set(&["kv"], vec![grant("kv", Scope::Session)]))
        .unwrap();
    assert_eq!(new.index, old.index, "the slot is reused");
    assert_ne!(new.generation, old.generation);
    assert!(t.check(new, &Access::Kv));
    assert!(!t.check(old, &Access::Kv), "the stale token stays denied");
}

#[test]
fn once_grants_allow_exactly_one_use() {
    let t = GrantTable::new();
    let tok = t
        .insert(set(&["secrets"], vec![grant("secrets", Scope::Once)]))
        .unwrap();
    assert!(t.check(tok, &Access::Secrets));
    assert!(!t.check(tok, &Access::Secrets));
    assert_eq!(
        t.explain(tok, &Access::Secrets),
        DenyReason::Used {
            capability: cap("secrets")
        }
    );
}

#[test]
fn a_once_grant_is_kept_while_a_wider_grant_allows() {
    let t = GrantTable::new();
    let tok = t
        .insert(set(
            &["fs.read"],
            vec![
                grant("fs.read:/a/x", Scope::Once),
                grant("fs.read:/a/**", Scope::Session),
            ],
        ))
        .unwrap();
    assert!(t.check(tok, &read("/a/x")));
    assert!(!t.grants(tok)[0].is_used());
}

#[test]
fn time_limited_grants_expire_on_the_next_check() {
    let t = GrantTable::new();
    let until = Timestamp::now().plus(Duration::from_millis(500));
    let tok = t
        .insert(set(&["kv"], vec![grant("kv", Scope::Until(until))]))
        .unwrap();
    assert!(t.check(tok, &Access::Kv));
    while Timestamp::now() <= until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!t.check(tok, &Access::Kv));
    assert!(matches!(t.explain(tok, &Access::Kv), DenyReason::Expired { at, .. } if at == until));
}

#[test]
fn revocation_takes_effect_on_the_next_check() {
    let t = GrantTable::new();
    let tok = t
        .insert(set(
            &["kv", "fs.read"],
            vec![
                grant("kv", Scope::Session),
                grant("fs.read:/a/**", Scope::Session),
            ],
        ))
        .unwrap();
    assert!(t.check(tok, &Access::Kv));
    let gone = t.revoke(tok, &cap("kv"));
    assert_eq!(gone.len(), 1);
    assert!(!t.check(tok, &Access::Kv));
    assert_eq!(
        t.explain(tok, &Access::Kv),
        DenyReason::Revoked {
            capability: cap("kv")
        }
    );
    assert!(t.check(tok, &read("/a/b")), "other grants stay");
    assert!(t.add_grant(tok, grant("kv", Scope::Session)));
    assert!(t.check(tok, &Access::Kv), "granted again");
}

#[test]
fn explanations_tell_undeclared_from_refused() {
    let t = GrantTable::new();
    let mut s = set(&["kv", "secrets"], vec![grant("kv", Scope::Session)]);
    s.denied
        .push((cap("secrets"), "denied by the approver".into()));
    let tok = t.insert(s).unwrap();
    assert!(matches!(
        t.explain(tok, &Access::Env("HOME")),
        DenyReason::NotDeclared { requested } if requested.is_empty()
    ));
    assert_eq!(
        t.explain(tok, &Access::Secrets),
        DenyReason::NotGranted {
            reason: "denied by the approver".into()
        }
    );
    assert_eq!(
        t.explain(tok, &Access::Secrets).code().to_string(),
        "SB0411"
    );
}

/// Regression (issue 13.8): a request the approver refused was reported as out of scope
/// (`SB0412`) whenever another grant of the same kind existed.
#[test]
fn a_refused_request_beside_a_granted_one_of_its_kind_is_not_granted() {
    let t = GrantTable::new();
    let mut s = set(
        &["service.call:alpha.*", "service.call:beta.*"],
        vec![grant("service.call:alpha.*", Scope::Session)],
    );
    s.denied
        .push((cap("service.call:beta.*"), "denied by the approver".into()));
    let tok = t.insert(s).unwrap();
    assert!(t.check(tok, &Access::CallService("alpha.one")));
    let refused = t.explain(tok, &Access::CallService("beta.one"));
    assert_eq!(refused.code().to_string(), "SB0411", "{refused}");
    // Outside everything requested: not declared. Inside a narrowed grant's request, but
    // outside the grant: out of scope.
    assert_eq!(
        t.explain(tok, &Access::CallService("gamma.one"))
            .code()
            .to_string(),
        "SB0410"
    );
    let mut narrowed = set(&["fs.read"], vec![grant("fs.read:/srv/**", Scope::Session)]);
    narrowed.denied.clear();
    let tok = t.insert(narrowed).unwrap();
    assert_eq!(
        t.explain(tok, &read("/etc/passwd")).code().to_string(),
        "SB0412"
    );
}

#[test]
fn concurrent_checks_see_a_revocation() {
    let t = Arc::new(GrantTable::new());
    let tok = t
        .insert(set(&["kv"], vec![grant("kv", Scope::Session)]))
        .unwrap();
    let revoked = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (t, revoked) = (t.clone(), revoked.clone());
            std::thread::spawn(move || {
                for _ in 0..200_000 {
                    let was_revoked = revoked.load(Ordering::Acquire);
                    let ok = t.check(tok, &Access::Kv);
                    assert!(
                        !(was_revoked && ok),
                        "allowed after the revocation returned"
                    );
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(5));
    t.revoke(tok, &cap("kv"));
    revoked.store(true, Ordering::Release);
    for r in readers {
        r.join().unwrap();
    }
}

// ---- The property test: the table against a reference model. ----

/// The model's own matcher, written independently of the SDK's: plain recursion.
fn glob(p: &[&str], s: &[&str]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((&"**", rest)) => (0..=s.len()).any(|k| glob(rest, &s[k..])),
        Some((&"*", rest)) => !s.is_empty() && glob(rest, &s[1..]),
        Some((lit, rest)) => s.first() == Some(lit) && glob(rest, &s[1..]),
    }
}

#[derive(Debug, Clone)]
enum MCap {
    Fs(Vec<&'static str>),
    Topic(Vec<&'static str>),
    Env(&'static str, bool),
    Kv,
    Secrets,
}

impl MCap {
    fn text(&self) -> String {
        match self {
            MCap::Fs(p) => format!("fs.read:/{}", p.join("/")),
            MCap::Topic(p) => format!("events.publish:{}", p.join(".")),
            MCap::Env(n, prefix) => format!("env:{n}{}", if *prefix { "*" } else { "" }),
            MCap::Kv => "kv".into(),
            MCap::Secrets => "secrets".into(),
        }
    }

    fn kind(&self) -> u8 {
        match self {
            MCap::Fs(_) => 0,
            MCap::Topic(_) => 1,
            MCap::Env(..) => 2,
            MCap::Kv => 3,
            MCap::Secrets => 4,
        }
    }
}

#[derive(Debug, Clone)]
enum MAccess {
    Fs(Vec<&'static str>),
    Topic(Vec<&'static str>),
    Env(&'static str),
    Kv,
    Secrets,
}

fn model_allows(c: &MCap, a: &MAccess) -> bool {
    match (c, a) {
        (MCap::Fs(p), MAccess::Fs(s)) | (MCap::Topic(p), MAccess::Topic(s)) => glob(p, s),
        (MCap::Env(n, true), MAccess::Env(v)) => v.starts_with(n),
        (MCap::Env(n, false), MAccess::Env(v)) => n == v,
        (MCap::Kv, MAccess::Kv) | (MCap::Secrets, MAccess::Secrets) => true,
        _ => false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum MScope {
    Session,
    Once,
    Expired,
    Future,
}

#[derive(Debug, Clone)]
enum Op {
    Check(MAccess),
    RevokeKind(u8),
}

struct ModelGrant {
    cap: MCap,
    scope: MScope,
    used: bool,
}

fn model_check(grants: &mut [ModelGrant], a: &MAccess) -> bool {
    let live = |g: &ModelGrant| model_allows(&g.cap, a);
    if grants.iter().any(|g| g.scope == MScope::Session && live(g)) {
        return true;
    }
    for g in grants.iter_mut() {
        if g.scope == MScope::Session || !live(g) {
            continue;
        }
        match g.scope {
            MScope::Future => return true,
            MScope::Once if !g.used => {
                g.used = true;
                return true;
            }
            _ => {}
        }
    }
    false
}

fn seg() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("a"), Just("b"), Just("*"), Just("**")]
}

fn word() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("a"), Just("b"), Just("c")]
}

fn mcap() -> impl Strategy<Value = MCap> {
    prop_oneof![
        proptest::collection::vec(seg(), 0..4).prop_map(MCap::Fs),
        proptest::collection::vec(seg(), 1..4).prop_map(MCap::Topic),
        (prop_oneof![Just("A"), Just("AB"), Just("B")], any::<bool>())
            .prop_map(|(n, p)| MCap::Env(n, p)),
        Just(MCap::Kv),
        Just(MCap::Secrets),
    ]
}

fn maccess() -> impl Strategy<Value = MAccess> {
    prop_oneof![
        proptest::collection::vec(word(), 0..4).prop_map(MAccess::Fs),
        proptest::collection::vec(word(), 1..4).prop_map(MAccess::Topic),
        prop_oneof![Just("A"), Just("AB"), Just("ABC"), Just("B")].prop_map(MAccess::Env),
        Just(MAccess::Kv),
        Just(MAccess::Secrets),
    ]
}

fn mscope() -> impl Strategy<Value = MScope> {
    prop_oneof![
        Just(MScope::Session),
        Just(MScope::Once),
        Just(MScope::Expired),
        Just(MScope::Future),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => maccess().prop_map(Op::Check),
        1 => (0u8..5).prop_map(Op::RevokeKind),
    ]
}

const KIND_TEXT: [&str; 5] = ["fs.read", "events.publish", "env", "kv", "secrets"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decisions_match_the_reference_model(
        grants in proptest::collection::vec((mcap(), mscope()), 0..6),
        ops in proptest::collection::vec(op(), 1..24),
    ) {
        let now = Timestamp::now();
        let real: Vec<Grant> = grants
            .iter()
            .map(|(c, s)| {
                let scope = match s {
                    MScope::Session => Scope::Session,
                    MScope::Once => Scope::Once,
                    MScope::Expired => Scope::Until(now.minus(Duration::from_secs(60))),
                    MScope::Future => Scope::Until(now.plus(Duration::from_secs(3600))),
                };
                grant(&c.text(), scope)
            })
            .collect();
        let table = GrantTable::new();
        let tok = table.insert(set(&KIND_TEXT, real)).unwrap();
        let mut model: Vec<ModelGrant> = grants
            .into_iter()
            .map(|(cap, scope)| ModelGrant { cap, scope, used: false })
            .collect();
        for op in ops {
            match op {
                Op::Check(a) => {
                    let joined;
                    let access = match &a {
                        MAccess::Fs(s) => {
                            joined = format!("/{}", s.join("/"));
                            Access::ReadFile(Path::new(&joined))
                        }
                        MAccess::Topic(s) => {
                            joined = s.join(".");
                            Access::Publish(&joined)
                        }
                        MAccess::Env(n) => Access::Env(n),
                        MAccess::Kv => Access::Kv,
                        MAccess::Secrets => Access::Secrets,
                    };
                    let expected = model_check(&mut model, &a);
                    prop_assert_eq!(table.check(tok, &access), expected, "{:?}", a);
                }
                Op::RevokeKind(k) => {
                    table.revoke(tok, &cap(KIND_TEXT[k as usize]));
                    model.retain(|g| g.cap.kind() != k);
                }
            }
        }
        let forged = Token::from_raw(tok.index, tok.generation.wrapping_add(2));
        prop_assert!(!table.check(forged, &Access::Kv));
    }
}

/// Issue 13.1: a stopped instance's token is suspended — every check denied with its own
/// reason, its grants kept (and changed grants still suspended) — until it starts again.
#[test]
fn a_suspended_token_is_denied_until_resumed() {
    let t = GrantTable::new();
    let tok = t
        .insert(set(
            &["kv", "fs.read"],
            vec![
                grant("kv", Scope::Session),
                grant("fs.read:/srv/**", Scope::Session),
            ],
        ))
        .unwrap();
    assert!(t.is_live(tok));
    t.suspend(tok);
    assert!(!t.is_live(tok));
    assert!(t.is_valid(tok), "suspended, not released");
    assert!(!t.check(tok, &Access::Kv));
    assert!(!t.check(tok, &read("/srv/a")));
    assert_eq!(t.explain(tok, &Access::Kv), DenyReason::Suspended);
    assert_eq!(t.explain(tok, &Access::Kv).code().to_string(), "SB0320");
    assert!(
        t.check_declared(tok, &read("/srv/a")),
        "the host's own check sees through"
    );
    assert!(t.add_grant(tok, grant("fs.read:/etc/**", Scope::Session)));
    assert!(
        !t.check(tok, &read("/etc/x")),
        "a grant while suspended stays suspended"
    );
    t.resume(tok);
    assert!(t.is_live(tok));
    assert!(t.check(tok, &Access::Kv));
    assert!(t.check(tok, &read("/etc/x")));
    t.release(tok);
    assert!(!t.is_live(tok));
    assert_eq!(t.explain(tok, &Access::Kv), DenyReason::InvalidToken);
}
