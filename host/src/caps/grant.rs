//! Grants, the immutable sets the table publishes, and why an access was denied.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use switchboard_sdk::caps::{Access, Capability};
use switchboard_sdk::{codes, ErrorCode};

use super::scope::Scope;
use crate::timestamp::Timestamp;

/// Who granted a capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GrantSource {
    /// A [`Policy`](super::Policy) rule.
    Policy,
    /// The host's [`Approver`](super::Approver).
    Approver,
    /// A persistent or time-limited grant stored by an earlier load.
    Stored,
    /// The host application at run time, through [`Host::grant`](crate::Host::grant).
    Operator,
}

impl GrantSource {
    /// The source's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            GrantSource::Policy => "policy",
            GrantSource::Approver => "approver",
            GrantSource::Stored => "stored",
            GrantSource::Operator => "operator",
        }
    }

    pub(crate) fn from_str(s: &str) -> GrantSource {
        match s {
            "policy" => GrantSource::Policy,
            "approver" => GrantSource::Approver,
            "operator" => GrantSource::Operator,
            _ => GrantSource::Stored,
        }
    }
}

impl fmt::Display for GrantSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One capability granted to one instance.
#[derive(Debug, Clone)]
pub struct Grant {
    capability: Capability,
    scope: Scope,
    granted_at: Timestamp,
    source: GrantSource,
    /// For `once` grants: set by the check that uses it. Shared by every copy of the grant, so
    /// replacing the set (a revocation elsewhere) does not give a used grant back.
    used: Option<Arc<AtomicBool>>,
}

impl Grant {
    /// A new grant.
    pub(crate) fn new(
        capability: Capability,
        scope: Scope,
        granted_at: Timestamp,
        source: GrantSource,
    ) -> Self {
        Grant {
            capability,
            scope,
            granted_at,
            source,
            used: matches!(scope, Scope::Once).then(|| Arc::new(AtomicBool::new(false))),
        }
    }

    /// The capability.
    pub fn capability(&self) -> &Capability {
        &self.capability
    }

    /// How long it lasts.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// When it was granted.
    pub fn granted_at(&self) -> Timestamp {
        self.granted_at
    }

    /// Who granted it.
    pub fn source(&self) -> GrantSource {
        self.source
    }

    /// Whether a `once` grant has been used.
    pub fn is_used(&self) -> bool {
        self.used
            .as_ref()
            .is_some_and(|u| u.load(Ordering::Acquire))
    }

    /// Whether a time-limited grant has expired at `now`.
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        self.scope.expires().is_some_and(|t| now >= t)
    }

    /// Whether checks can skip the clock and the use flag for this grant.
    pub(crate) fn is_unconditional(&self) -> bool {
        matches!(self.scope, Scope::Session | Scope::Persistent)
    }

    /// Tries to let `access` through this grant now, using it up if it is `once`.
    #[inline]
    pub(crate) fn admit(&self, access: &Access<'_>, now: &mut Option<Timestamp>) -> bool {
        if !self.capability.allows(access) {
            return false;
        }
        if let Some(exp) = self.scope.expires() {
            if *now.get_or_insert_with(Timestamp::now) >= exp {
                return false;
            }
        }
        match &self.used {
            Some(used) => !used.swap(true, Ordering::AcqRel),
            None => true,
        }
    }
}

/// Everything the table knows about one instance's capabilities. Immutable once published;
/// a change publishes a new set.
#[derive(Debug, Clone, Default)]
pub(crate) struct GrantSet {
    pub generation: u32,
    pub requested: Vec<Capability>,
    pub grants: Vec<Grant>,
    /// Requests refused at load, with the reason.
    pub denied: Vec<(Capability, String)>,
    /// Grants revoked since load.
    pub revoked: Vec<Capability>,
}

/// Why an access was denied. [`code`](DenyReason::code) is the code the plugin sees.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenyReason {
    /// The token is forged or stale (its instance was removed).
    InvalidToken,
    /// No capability the plugin's manifest requests covers the access.
    NotDeclared {
        /// What the plugin requested of the same kind (empty if nothing).
        requested: Vec<Capability>,
    },
    /// Requested, but policy or the approver refused it.
    NotGranted {
        /// The refusal's reason, as recorded at load.
        reason: String,
    },
    /// The plugin holds grants of this kind, but none covers the access: a path, topic or
    /// name outside the granted patterns.
    OutOfScope {
        /// The grants of the same kind it does hold.
        granted: Vec<Capability>,
    },
    /// The covering grant was time-limited and has expired.
    Expired {
        /// The grant.
        capability: Capability,
        /// When it expired.
        at: Timestamp,
    },
    /// The covering grant was revoked.
    Revoked {
        /// The revoked grant.
        capability: Capability,
    },
    /// The covering grant was `once`, and is used up.
    Used {
        /// The grant.
        capability: Capability,
    },
    /// The instance is stopped or failed: its grants are suspended until it starts again.
    /// (A removed instance's token is stale: [`DenyReason::InvalidToken`].)
    Suspended,
}

fn list(caps: &[Capability]) -> String {
    caps.iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl DenyReason {
    /// The stable code (`SB0410`–`SB0416`, or `SB0320` for a suspended instance).
    pub fn code(&self) -> ErrorCode {
        match self {
            DenyReason::InvalidToken => codes::INVALID_TOKEN,
            DenyReason::NotDeclared { .. } => codes::CAPABILITY_NOT_DECLARED,
            DenyReason::NotGranted { .. } => codes::CAPABILITY_NOT_GRANTED,
            DenyReason::OutOfScope { .. } => codes::CAPABILITY_OUT_OF_SCOPE,
            DenyReason::Expired { .. } => codes::GRANT_EXPIRED,
            DenyReason::Revoked { .. } => codes::GRANT_REVOKED,
            DenyReason::Used { .. } => codes::GRANT_USED,
            DenyReason::Suspended => codes::INSTANCE_NOT_RUNNING,
        }
    }

    /// What the plugin's author or the host's operator should do.
    pub fn next_step(&self, plugin: &str, access: &str) -> String {
        match self {
            DenyReason::InvalidToken => {
                "the instance was removed or the token was made up; load the plugin again".into()
            }
            DenyReason::NotDeclared { .. } => format!(
                "declare it in the plugin: `#[plugin(capabilities = [\"{access}\"])]` (or a \
                 pattern covering it), rebuild, and have it granted"
            ),
            DenyReason::NotGranted { .. } => format!(
                "grant it to `{plugin}` with a policy rule (`Policy::allow`) or the approver"
            ),
            DenyReason::OutOfScope { granted } => format!(
                "stay within {}, or have `{plugin}` granted a pattern covering `{access}`",
                list(granted)
            ),
            DenyReason::Expired { capability, .. } => {
                format!("approve `{capability}` for `{plugin}` again")
            }
            DenyReason::Revoked { capability } => format!(
                "`{capability}` was revoked from `{plugin}`; grant it again if that was a mistake"
            ),
            DenyReason::Used { capability } => format!(
                "`{capability}` was granted once and is used up; approve it again, or with a \
                 wider scope"
            ),
            DenyReason::Suspended => format!(
                "`{plugin}` is not running; a plugin's threads must finish in its `stop` hook \
                 (start the plugin again to use host services)"
            ),
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenyReason::InvalidToken => f.write_str("its capability token is forged or stale"),
            DenyReason::NotDeclared { requested } if requested.is_empty() => {
                f.write_str("its manifest does not request this capability")
            }
            DenyReason::NotDeclared { requested } => write!(
                f,
                "its manifest requests only {} of this kind",
                list(requested)
            ),
            DenyReason::NotGranted { reason } => write!(f, "the request was refused ({reason})"),
            DenyReason::OutOfScope { granted } => {
                write!(f, "it is outside the granted {}", list(granted))
            }
            DenyReason::Expired { capability, at } => {
                write!(f, "the grant `{capability}` expired at {at}")
            }
            DenyReason::Revoked { capability } => {
                write!(f, "the grant `{capability}` was revoked")
            }
            DenyReason::Used { capability } => {
                write!(f, "the one-time grant `{capability}` was already used")
            }
            DenyReason::Suspended => {
                f.write_str("the instance is stopped or failed, so its host services are suspended")
            }
        }
    }
}

impl GrantSet {
    /// Why `access` is denied under this set (called after a check said no).
    pub(crate) fn explain(&self, access: &Access<'_>) -> DenyReason {
        let kind = access.kind();
        if !self.requested.iter().any(|r| r.allows(access)) {
            return DenyReason::NotDeclared {
                requested: self
                    .requested
                    .iter()
                    .filter(|r| r.kind() == kind)
                    .cloned()
                    .collect(),
            };
        }
        let now = Timestamp::now();
        for g in self.grants.iter().filter(|g| g.capability.allows(access)) {
            if let Some(at) = g.scope.expires().filter(|&t| now >= t) {
                return DenyReason::Expired {
                    capability: g.capability.clone(),
                    at,
                };
            }
            if g.is_used() {
                return DenyReason::Used {
                    capability: g.capability.clone(),
                };
            }
        }
        if let Some(c) = self.revoked.iter().find(|c| c.allows(access)) {
            return DenyReason::Revoked {
                capability: c.clone(),
            };
        }
        // A request refused at load is "not granted" (SB0411) even when other grants of the
        // same kind exist: `service.call:beta.*` denied by the approver beside a granted
        // `service.call:alpha.*` is a refusal, not an access outside a granted pattern.
        if let Some((_, reason)) = self.denied.iter().find(|(c, _)| c.allows(access)) {
            return DenyReason::NotGranted {
                reason: reason.clone(),
            };
        }
        let granted: Vec<Capability> = self
            .grants
            .iter()
            .filter(|g| g.capability.kind() == kind)
            .map(|g| g.capability.clone())
            .collect();
        if !granted.is_empty() {
            return DenyReason::OutOfScope { granted };
        }
        DenyReason::NotGranted {
            reason: "not granted".into(),
        }
    }
}
