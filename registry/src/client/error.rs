//! Refusals of the client itself (SB1324–SB1329).

use switchboard_sdk::ErrorCode;

/// The client could not answer: no such plugin or release, a package that is not what the
/// index lists, a local cache that cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The registry lists no plugin of that name.
    #[error("registry {registry} has no plugin `{name}`")]
    UnknownPlugin {
        /// The registry.
        registry: String,
        /// The name asked for.
        name: String,
    },
    /// The plugin has no such version.
    #[error("registry {registry} has no release {name}@{version}")]
    UnknownRelease {
        /// The registry.
        registry: String,
        /// The plugin.
        name: String,
        /// The version asked for.
        version: String,
    },
    /// A downloaded package is not the one the index lists (the arbitrary-package attack).
    #[error(
        "the package of {name}@{version} from {registry} is not the one its index lists: {reason}"
    )]
    PackageMismatch {
        /// The registry.
        registry: String,
        /// The plugin.
        name: String,
        /// The version.
        version: String,
        /// Size or hash, expected and found.
        reason: String,
    },
    /// The local cache (or a download's destination) cannot be read or written.
    #[error("{path}: {reason}")]
    Local {
        /// The file or directory.
        path: String,
        /// The system's reason.
        reason: String,
    },
    /// Offline, and the file was never read online, so it is not in the cache.
    #[error("{path} of registry {registry} is not in the local cache (offline)")]
    NotCached {
        /// The registry.
        registry: String,
        /// The file.
        path: String,
    },
    /// The client has no verified metadata yet: neither refreshed nor opened offline.
    #[error("registry {registry} has not been refreshed")]
    NotRefreshed {
        /// The registry.
        registry: String,
    },
}

impl ClientError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::from_number(match self {
            ClientError::UnknownPlugin { .. } => 1325,
            ClientError::UnknownRelease { .. } => 1326,
            ClientError::PackageMismatch { .. } => 1327,
            ClientError::Local { .. } => 1328,
            ClientError::NotRefreshed { .. } => 1329,
            ClientError::NotCached { .. } => 1324,
        })
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            ClientError::UnknownPlugin { name, .. } => {
                format!("check the spelling of `{name}`, or search for it (`switchboard search`)")
            }
            ClientError::UnknownRelease { name, .. } => {
                format!("list the versions there are with `switchboard info {name}`")
            }
            ClientError::PackageMismatch { registry, .. } => format!(
                "nothing was installed; {registry} serves a package its signed index does not \
                 list: tell its operator and do not use the file"
            ),
            ClientError::Local { .. } => {
                "check the directory's permissions and free space (the registry cache can be \
                 deleted: it is refilled from the registry)"
                    .into()
            }
            ClientError::NotRefreshed { .. } | ClientError::NotCached { .. } => {
                "refresh the registry first (run the command without `--offline`)".into()
            }
        }
    }
}
