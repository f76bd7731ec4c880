//! Refusals of creating and changing a registry (SB1330–SB1340, SB1490).

use switchboard_sdk::ErrorCode;

/// Creating or changing a registry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The key directory is inside the registry directory, which is what gets served.
    #[error("the key directory {keys} is inside the registry directory {registry}")]
    KeysInsideRegistry {
        /// The key directory (resolved).
        keys: String,
        /// The registry directory (resolved).
        registry: String,
    },
    /// `registry init` on a directory that already holds a registry or other files, or
    /// into a key directory that already holds keys.
    #[error("{path} is not empty: {reason}")]
    NotEmpty {
        /// The directory.
        path: String,
        /// What is there.
        reason: String,
    },
    /// The directory is not a registry this tool wrote, or its files do not verify.
    #[error("{path} is not a usable registry: {reason}")]
    NotARegistry {
        /// The directory.
        path: String,
        /// Why.
        reason: String,
    },
    /// A key is missing, unreadable, encrypted, or not the one the root names.
    #[error("key {path}: {reason}")]
    Key {
        /// The key file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The package fails a check a host makes (signature, pins, library, manifest).
    #[error("{package} would be refused by a host: [{code}] {reason}")]
    PackageRefused {
        /// The package file.
        package: String,
        /// The host's code for the refusal.
        code: String,
        /// The host's message.
        reason: String,
    },
    /// The package is not signed; a registry lists signed packages only.
    #[error("{package} is not signed (no {package}.minisig)")]
    Unsigned {
        /// The package file.
        package: String,
    },
    /// This name and version are already published with other bytes.
    #[error("{name}@{version} is already published with different bytes (sha256 {existing})")]
    VersionExists {
        /// The plugin.
        name: String,
        /// The version.
        version: String,
        /// The published package's sha256.
        existing: String,
    },
    /// Another registry command holds the registry's lock.
    #[error("{path} is held by another registry command")]
    Locked {
        /// The lock file.
        path: String,
    },
    /// A file of the registry or key directory cannot be read or written.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The system's reason.
        reason: String,
    },
    /// The registry has no such plugin or release to change.
    #[error("the registry has no {what}")]
    NotPublished {
        /// `plugin X` or `release X@V`.
        what: String,
    },
    /// The change would write an index file the registry's own clients refuse (a line past
    /// the line cap, say, from a very long `--reason`); nothing was written.
    #[error("the change would write an index file of `{name}` that clients refuse: {reason}; nothing was written")]
    WouldBeRefused {
        /// The plugin whose index file it is.
        name: String,
        /// What a client would say of it.
        reason: String,
    },
    /// An option that contradicts the registry (a successor that is not there, a channel
    /// move backwards, an expiry too short).
    #[error("{reason}")]
    Refused {
        /// Why.
        reason: String,
        /// What to do.
        next: String,
    },
}

impl PublishError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::from_number(match self {
            PublishError::KeysInsideRegistry { .. } => 1330,
            PublishError::NotEmpty { .. } => 1331,
            PublishError::NotARegistry { .. } => 1332,
            PublishError::Key { .. } => 1333,
            PublishError::PackageRefused { .. } => 1334,
            PublishError::Unsigned { .. } => 1335,
            PublishError::VersionExists { .. } => 1336,
            PublishError::Locked { .. } => 1337,
            PublishError::Io { .. } => 1338,
            PublishError::NotPublished { .. } => 1339,
            PublishError::Refused { .. } => 1340,
            PublishError::WouldBeRefused { .. } => 1490,
        })
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            PublishError::KeysInsideRegistry { .. } => {
                "keep the keys outside the directory that is served: choose a --keys directory \
                 elsewhere"
                    .into()
            }
            PublishError::NotEmpty { .. } => {
                "choose an empty (or new) directory; an existing registry is changed with \
                 `switchboard publish`, `yank` and the other registry commands"
                    .into()
            }
            PublishError::NotARegistry { .. } => {
                "check --registry names a directory made by `switchboard registry init`, and \
                 --keys its key directory"
                    .into()
            }
            PublishError::Key { .. } => {
                "check --keys names the key directory `switchboard registry init` wrote (the \
                 keys are root.key, snapshot.key and timestamp.key)"
                    .into()
            }
            PublishError::PackageRefused { .. } => {
                "fix the package (rebuild, `switchboard pack`, `switchboard sign`) and check it \
                 with `switchboard verify` before publishing"
                    .into()
            }
            PublishError::Unsigned { package } => {
                format!("sign it first: `switchboard sign {package} --key YOUR.key`")
            }
            PublishError::VersionExists { .. } => {
                "a published release never changes: bump the version and publish again".into()
            }
            PublishError::Locked { path } => format!(
                "wait for the other command to finish; if none runs (it crashed), delete {path}"
            ),
            PublishError::Io { .. } => {
                "check the path's permissions and the free space, then run the command again \
                 (an interrupted command leaves the registry as it was)"
                    .into()
            }
            PublishError::NotPublished { .. } => {
                "check the name and version against the registry's index".into()
            }
            PublishError::Refused { next, .. } => next.clone(),
            PublishError::WouldBeRefused { .. } => {
                "shorten what you gave (a `--reason`, the package's description or keywords): \
                 each index line is at most 64 KiB and each index file 8 MiB (docs/registry.md)"
                    .into()
            }
        }
    }
}
