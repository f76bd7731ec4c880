//! Deciding a plugin's requests at load: policy, stored grants, then the approver.

use std::panic::{catch_unwind, AssertUnwindSafe};

use switchboard_sdk::caps::Capability;

use super::approver::{Approval, ApprovalRequest, Approver};
use super::grant::{Grant, GrantSource};
use super::policy::{in_namespace, resolve_paths, Policy, Verdict};
use super::scope::Scope;
use super::trust::TrustLevel;
use crate::timestamp::Timestamp;

/// The plugin the requests come from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub trust: TrustLevel,
}

/// The outcome for all of one plugin's requests.
#[derive(Debug, Default)]
pub(crate) struct Decisions {
    /// The requests, as read (a bare `events.publish` in the plugin's namespace).
    pub requested: Vec<Capability>,
    pub grants: Vec<Grant>,
    pub denied: Vec<(Capability, String)>,
}

pub(crate) fn decide(
    policy: &Policy,
    approver: Option<&dyn Approver>,
    stored: &[Grant],
    subject: Subject<'_>,
    requests: &[Capability],
    now: Timestamp,
) -> Decisions {
    let mut out = Decisions::default();
    for raw in requests {
        let request = resolve_paths(in_namespace(subject.name, raw.clone()));
        out.requested.push(request.clone());
        let verdict = policy.evaluate(&request);
        if let Verdict::Blocked(rule) = &verdict {
            out.denied
                .push((request, format!("blocked by the policy rule `{rule}`")));
            continue;
        }
        if let Some(s) = stored
            .iter()
            .find(|s| s.capability().covers(&request) && !s.is_expired_at(now))
        {
            out.grants.push(Grant::new(
                request,
                s.scope(),
                s.granted_at(),
                GrantSource::Stored,
            ));
            continue;
        }
        let required_by_policy = match verdict {
            Verdict::Allow(caps) => {
                out.grants.extend(caps.into_iter().map(|c| {
                    Grant::new(resolve_paths(c), Scope::Session, now, GrantSource::Policy)
                }));
                continue;
            }
            Verdict::Ask => true,
            Verdict::Unmatched | Verdict::Blocked(_) => false,
        };
        let Some(approver) = approver else {
            let reason = if required_by_policy {
                "policy requires approval and this host has no approver"
            } else {
                "no policy rule allows it and this host has no approver (deny by default)"
            };
            out.denied.push((request, reason.into()));
            continue;
        };
        let ask = ApprovalRequest {
            plugin: subject.name,
            version: subject.version,
            trust: subject.trust,
            capability: &request,
            required_by_policy,
        };
        match catch_unwind(AssertUnwindSafe(|| approver.approve(&ask))) {
            Ok(Approval::Allow(scope)) if scope.expires().is_some_and(|t| t <= now) => {
                out.denied.push((
                    request,
                    "the approver granted it until a time already past".into(),
                ));
            }
            Ok(Approval::Allow(scope)) => {
                out.grants
                    .push(Grant::new(request, scope, now, GrantSource::Approver));
            }
            Ok(Approval::Deny) => out.denied.push((request, "denied by the approver".into())),
            Err(_) => out
                .denied
                .push((request, "the approver panicked; counted as a denial".into())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn cap(s: &str) -> Capability {
        s.parse().unwrap()
    }

    const HELLO: Subject<'static> = Subject {
        name: "hello",
        version: "0.1.0",
        trust: TrustLevel::Unsigned,
    };

    #[test]
    fn deny_by_default_without_an_approver() {
        let d = decide(
            &Policy::new(),
            None,
            &[],
            HELLO,
            &[cap("kv")],
            Timestamp::now(),
        );
        assert!(d.grants.is_empty());
        assert!(d.denied[0].1.contains("deny by default"));
    }

    #[test]
    fn the_approver_sees_plugin_trust_and_request() {
        let seen = Arc::new(AtomicUsize::new(0));
        let s = seen.clone();
        let approver = move |r: &ApprovalRequest<'_>| {
            s.fetch_add(1, Ordering::Relaxed);
            assert_eq!((r.plugin, r.trust), ("hello", TrustLevel::Unsigned));
            if r.capability == &cap("events.publish:plugin.hello.**") {
                Approval::Allow(Scope::Once)
            } else {
                Approval::Deny
            }
        };
        let d = decide(
            &Policy::new(),
            Some(&approver),
            &[],
            HELLO,
            &[cap("events.publish"), cap("secrets")],
            Timestamp::now(),
        );
        assert_eq!(seen.load(Ordering::Relaxed), 2);
        assert_eq!(d.grants.len(), 1);
        assert_eq!(d.grants[0].scope(), Scope::Once);
        assert_eq!(d.denied[0].1, "denied by the approver");
    }

    #[test]
    fn blocked_requests_never_reach_the_approver() {
        let mut p = Policy::new();
        p.block(cap("process.spawn"));
        let approver = |_: &ApprovalRequest<'_>| -> Approval { panic!("must not be asked") };
        let d = decide(
            &p,
            Some(&approver),
            &[],
            HELLO,
            &[cap("process.spawn")],
            Timestamp::now(),
        );
        assert!(d.denied[0].1.contains("blocked"));
    }

    #[test]
    fn a_panicking_approver_denies() {
        let approver = |_: &ApprovalRequest<'_>| -> Approval { panic!("boom") };
        let d = decide(
            &Policy::new(),
            Some(&approver),
            &[],
            HELLO,
            &[cap("kv")],
            Timestamp::now(),
        );
        assert!(d.denied[0].1.contains("panicked"));
    }

    #[test]
    fn stored_grants_are_reused_until_they_expire() {
        let now = Timestamp::now();
        let stored = [
            Grant::new(cap("kv"), Scope::Persistent, now, GrantSource::Approver),
            Grant::new(
                cap("secrets"),
                Scope::Until(now.minus(Duration::from_secs(1))),
                now,
                GrantSource::Approver,
            ),
        ];
        let d = decide(
            &Policy::new(),
            None,
            &stored,
            HELLO,
            &[cap("kv"), cap("secrets")],
            now,
        );
        assert_eq!(d.grants.len(), 1);
        assert_eq!(d.grants[0].source(), GrantSource::Stored);
        assert_eq!(d.denied.len(), 1);
    }

    #[test]
    fn an_expiry_in_the_past_is_a_denial() {
        let now = Timestamp::now();
        let approver = move |_: &ApprovalRequest<'_>| Approval::Allow(Scope::Until(now));
        let d = decide(
            &Policy::new(),
            Some(&approver),
            &[],
            HELLO,
            &[cap("kv")],
            now,
        );
        assert!(d.grants.is_empty());
    }
}
