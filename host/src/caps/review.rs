//! What a policy says about a plugin's capability requests before it is installed, so an
//! operator's tool (the CLI's capability review) can show each request's fate and ask only
//! about those the policy leaves to a person.

use switchboard_sdk::caps::Capability;

use super::policy::{in_namespace, resolve_paths, Policy, Verdict};

/// The policy's verdict on one capability request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyVerdict {
    /// A rule allows it (as requested, or narrowed to the rules' scope).
    Allowed {
        /// What is granted: the request itself, or the narrower rules it covers.
        granted: Vec<Capability>,
        /// Whether that is less than the request (only the narrower rules).
        narrowed: bool,
    },
    /// A block rule denies it; no approval can grant it.
    Blocked {
        /// The rule.
        rule: Capability,
    },
    /// A `require_approval` rule leaves it to the approver (a person, in the CLI).
    NeedsApproval,
    /// No rule matches: the approver decides, and without one it is denied (deny by default).
    Unmatched,
}

impl PolicyVerdict {
    /// Whether the policy alone decides it (allowed or blocked), without an approver.
    pub fn is_decided(&self) -> bool {
        matches!(
            self,
            PolicyVerdict::Allowed { .. } | PolicyVerdict::Blocked { .. }
        )
    }
}

impl Policy {
    /// What this policy says about `plugin` requesting `request`, read as a load reads it (a
    /// bare `events.publish` is the plugin's own namespace; path prefixes resolved).
    ///
    /// ```
    /// use switchboard_host::caps::{Capability, Policy, PolicyVerdict};
    ///
    /// let mut policy = Policy::new();
    /// policy.allow("kv".parse().unwrap());
    /// policy.block("process.spawn".parse().unwrap());
    /// let kv: Capability = "kv".parse().unwrap();
    /// assert!(matches!(policy.verdict("hello", &kv), PolicyVerdict::Allowed { .. }));
    /// let spawn: Capability = "process.spawn".parse().unwrap();
    /// assert!(matches!(policy.verdict("hello", &spawn), PolicyVerdict::Blocked { .. }));
    /// let net: Capability = "net.connect:example.com:443".parse().unwrap();
    /// assert_eq!(policy.verdict("hello", &net), PolicyVerdict::Unmatched);
    /// ```
    pub fn verdict(&self, plugin: &str, request: &Capability) -> PolicyVerdict {
        let request = resolve_paths(in_namespace(plugin, request.clone()));
        match self.evaluate(&request) {
            Verdict::Allow(granted) => PolicyVerdict::Allowed {
                narrowed: granted != [request],
                granted,
            },
            Verdict::Blocked(rule) => PolicyVerdict::Blocked { rule },
            Verdict::Ask => PolicyVerdict::NeedsApproval,
            Verdict::Unmatched => PolicyVerdict::Unmatched,
        }
    }
}
