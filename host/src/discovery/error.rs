//! The errors of discovery and watching that are returned, not only reported.

use std::path::PathBuf;

use switchboard_sdk::ErrorCode;

/// Why [`Host::watch`](crate::Host::watch) could not watch the plugin directories.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// A plugin directory could not be watched (missing, unreadable, or the system's watch
    /// limit reached).
    #[error("cannot watch the plugin directory {path}: {reason}")]
    Watch {
        /// The directory.
        path: PathBuf,
        /// What the file-system notifier said.
        reason: String,
    },
}

impl DiscoveryError {
    /// The stable code: `SB0388`.
    pub fn code(&self) -> ErrorCode {
        match self {
            DiscoveryError::Watch { .. } => super::codes::WATCH_FAILED,
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            DiscoveryError::Watch { .. } => {
                "create the directory and make it readable; on Linux raise \
                 fs.inotify.max_user_watches if the limit was reached"
                    .into()
            }
        }
    }
}
