//! The approver: the host application's say on requests policy leaves open.

use switchboard_sdk::caps::Capability;

use super::scope::Scope;
use super::trust::TrustLevel;

/// One capability request put to the approver.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ApprovalRequest<'a> {
    /// The plugin's name.
    pub plugin: &'a str,
    /// The plugin's version.
    pub version: &'a str,
    /// How far its origin is trusted.
    pub trust: TrustLevel,
    /// The capability requested (a bare `events.publish` already read as the plugin's own
    /// namespace).
    pub capability: &'a Capability,
    /// Whether a [`require_approval`](super::Policy::require_approval) rule sent it here (as
    /// opposed to no rule matching).
    pub required_by_policy: bool,
}

/// The approver's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Approval {
    /// Grant it, for this long.
    Allow(Scope),
    /// Refuse it.
    Deny,
}

/// Decides capability requests that policy leaves open — in the CLI, by asking a person.
///
/// Any `Fn(&ApprovalRequest<'_>) -> Approval + Send + Sync` is an approver. It runs during
/// loading, before any plugin code; a panic in it counts as a denial.
///
/// # Example
///
/// ```
/// use switchboard_host::caps::{Approval, ApprovalRequest, Scope, TrustLevel};
/// use switchboard_host::Host;
/// use switchboard_sdk::caps::CapabilityKind;
///
/// let mut builder = Host::builder();
/// builder.approver(|req: &ApprovalRequest<'_>| {
///     match req.capability.kind() {
///         CapabilityKind::Kv => Approval::Allow(Scope::Persistent),
///         CapabilityKind::FsRead if req.trust >= TrustLevel::Verified => {
///             Approval::Allow(Scope::Session)
///         }
///         _ => Approval::Deny,
///     }
/// });
/// ```
pub trait Approver: Send + Sync + 'static {
    /// Answers one request.
    fn approve(&self, request: &ApprovalRequest<'_>) -> Approval;
}

impl<F> Approver for F
where
    F: Fn(&ApprovalRequest<'_>) -> Approval + Send + Sync + 'static,
{
    fn approve(&self, request: &ApprovalRequest<'_>) -> Approval {
        self(request)
    }
}
