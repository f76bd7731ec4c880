//! Refusals of the signed metadata: the TUF-style checks (SB1310–SB1324).

use switchboard_sdk::ErrorCode;

/// Signed metadata (root, timestamp, snapshot) or a file it covers failed a check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// Too few distinct trusted keys signed the metadata (none, wrong keys, bad signatures).
    #[error(
        "{role} metadata of {registry} has {valid} valid signature(s) from its {role} keys; \
         {threshold} needed"
    )]
    Threshold {
        /// The registry.
        registry: String,
        /// `root`, `timestamp` or `snapshot`.
        role: String,
        /// Distinct trusted keys whose signature verified.
        valid: usize,
        /// How many the root requires.
        threshold: u64,
    },
    /// Metadata past its expiry: the registry is frozen, or someone replays old files.
    #[error("{role} metadata of {registry} expired at {expires} (now {now})")]
    Expired {
        /// The registry.
        registry: String,
        /// The role.
        role: String,
        /// Its expiry.
        expires: String,
        /// The client's clock.
        now: String,
    },
    /// Metadata older than what this client has already verified.
    #[error(
        "{role} metadata of {registry} is version {got}, older than version {seen} seen before"
    )]
    Rollback {
        /// The registry.
        registry: String,
        /// The role, or the index file whose version went back.
        role: String,
        /// The newest version seen.
        seen: u64,
        /// The version served.
        got: u64,
    },
    /// A file whose hash or length is not what the metadata over it says (mix-and-match).
    #[error("{path} of {registry} does not match its signed {by} entry: {reason}")]
    Mismatch {
        /// The registry.
        registry: String,
        /// The file.
        path: String,
        /// The metadata that lists it (`timestamp`, `snapshot`).
        by: String,
        /// Which of hash, length differs.
        reason: String,
    },
    /// A new root that the trusted root (or itself) did not sign, or that skips a version.
    #[error("{registry}'s root version {version} is not a valid rotation: {reason}")]
    Rotation {
        /// The registry.
        registry: String,
        /// The refused root's version.
        version: u64,
        /// Why.
        reason: String,
    },
    /// No root of trust is pinned for the registry.
    #[error("no root of trust is pinned for registry {registry}")]
    NotPinned {
        /// The registry.
        registry: String,
    },
    /// Metadata that is well-formed JSON but not valid metadata (wrong role, bad key,
    /// threshold zero, unknown key id in a role).
    #[error("{what} of {registry} is not valid metadata: {reason}")]
    Malformed {
        /// The registry.
        registry: String,
        /// The file.
        what: String,
        /// Why.
        reason: String,
    },
}

impl TrustError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::from_number(match self {
            TrustError::Threshold { .. } => 1310,
            TrustError::Expired { .. } => 1311,
            TrustError::Rollback { .. } => 1312,
            TrustError::Mismatch { .. } => 1313,
            TrustError::Rotation { .. } => 1314,
            TrustError::NotPinned { .. } => 1315,
            TrustError::Malformed { .. } => 1316,
        })
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            TrustError::Threshold { registry, .. } | TrustError::Rotation { registry, .. } => {
                format!(
                    "do not use {registry} until its operator confirms its keys: the files are \
                     not signed by the keys its pinned root names (a compromise, or a key \
                     rotated without a signed root)"
                )
            }
            TrustError::Expired { registry, .. } => format!(
                "{registry} has not re-signed its metadata in time (or someone serves old \
                 files): check your clock, then ask its operator to re-sign (`switchboard \
                 publish` and the other registry commands re-sign the timestamp)"
            ),
            TrustError::Rollback { registry, .. } => format!(
                "{registry} serves older metadata than you have seen: someone may be replaying \
                 old files to hide a release; ask its operator, and do not use it meanwhile"
            ),
            TrustError::Mismatch { .. } => {
                "run the command again (the registry may have changed while being read); if it \
                 persists, the registry serves files its signed metadata does not list: tell \
                 its operator"
                    .into()
            }
            TrustError::NotPinned { registry } => format!(
                "add the registry again to pin its root of trust (`switchboard registry add \
                 {registry} …`)"
            ),
            TrustError::Malformed { .. } => {
                "the registry's metadata does not follow docs/registry.md: tell its operator".into()
            }
        }
    }
}
