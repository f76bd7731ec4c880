//! Errors of installs, updates, removals, rollbacks and the package sources (`SB1400`–`SB1459`).

use std::path::PathBuf;

use switchboard_sdk::ErrorCode;

use super::generation::GenerationId;
use super::journal::OperationId;

const fn code(n: u16) -> ErrorCode {
    ErrorCode::from_number(n)
}

/// Errors of the installer (`SB1400`–`SB1429`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The request is not `NAME`, `NAME@RANGE` or a package file.
    #[error("`{text}` is not a plugin request: {reason}")]
    BadRequest {
        /// What was asked for.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// No configured source offers the plugin.
    #[error("no source offers `{name}` (sources: {sources})")]
    NotInSources {
        /// The plugin asked for.
        name: String,
        /// The sources searched, in priority order.
        sources: String,
    },
    /// A fetched or stored package is not the one the index or the generation named.
    #[error("{name} {version}: the package's sha256 is {found}, but {expected} was expected")]
    ChecksumMismatch {
        /// The plugin.
        name: String,
        /// Its version.
        version: String,
        /// What the index (or the generation) named.
        expected: String,
        /// What the bytes hash to.
        found: String,
    },
    /// The plugin is not installed in the current generation.
    #[error("`{name}` is not installed")]
    NotInstalled {
        /// The plugin.
        name: String,
    },
    /// Removing the plugin would leave plugins that depend on it.
    #[error("`{name}` is needed by {}", dependents.join(", "))]
    HasDependents {
        /// The plugin to remove.
        name: String,
        /// What depends on it, directly or not.
        dependents: Vec<String>,
    },
    /// The version chosen is older than the one installed.
    #[error("{name} {requested} is older than the installed {installed}")]
    Downgrade {
        /// The plugin.
        name: String,
        /// The version installed now.
        installed: String,
        /// The version the operation would install.
        requested: String,
    },
    /// A plugin of the new generation did not pass its health check; the operation was rolled
    /// back.
    #[error("`{plugin}` is not healthy after {operation}: {health}; rolled back to generation {restored}")]
    HealthCheckFailed {
        /// The operation.
        operation: OperationId,
        /// The plugin.
        plugin: String,
        /// What it reported.
        health: String,
        /// The generation current again.
        restored: GenerationId,
    },
    /// Activating the new generation failed (a load, a data migration, a start); the operation
    /// was rolled back. The message quotes the cause's code and message once, and the next step
    /// is the cause's; `cause` keeps the whole error for callers that match on it (it is not
    /// also the [`source`](std::error::Error::source), so a report walking the chain does not
    /// print it twice).
    #[error(
        "{operation} failed while activating `{plugin}` and was rolled back to generation \
         {restored}: [{}] {}",
        cause.code(),
        cause.message()
    )]
    RolledBack {
        /// The operation.
        operation: OperationId,
        /// The plugin whose activation failed.
        plugin: String,
        /// The generation current again.
        restored: GenerationId,
        /// What failed.
        cause: Box<crate::Error>,
    },
    /// No generation has this number (or it was garbage-collected).
    #[error("there is no generation {id}")]
    NoSuchGeneration {
        /// The number asked for.
        id: GenerationId,
    },
    /// Nothing to roll back to: no generation before the current one is kept.
    #[error("there is no earlier generation to roll back to")]
    NothingToRollBack,
    /// Another operation holds the installer.
    #[error("another install operation{} is in progress on this data directory", operation.as_ref().map(|o| format!(" ({o})")).unwrap_or_default())]
    Busy {
        /// The operation in progress, if the journal names it.
        operation: Option<OperationId>,
    },
    /// The package store or a generation's files could not be read or written.
    #[error("cannot {what} {path}: {reason}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying failure.
        reason: String,
    },
    /// An injected failure (feature `failpoints`, tests only).
    #[error("failpoint `{name}` fired")]
    Failpoint {
        /// The failpoint's name.
        name: String,
    },
    /// The plan cannot be applied any more: its operation ended (cancelled, or rolled back as
    /// interrupted by a recovery), or another operation changed the installed set since.
    #[error("the plan of {operation} can no longer be applied: its operation ended or the installed set changed since")]
    PlanEnded {
        /// The plan's operation.
        operation: OperationId,
    },
    /// A record of the journal or of a generation does not parse.
    #[error("the install records are damaged: {what} `{value}`")]
    Corrupt {
        /// What was read.
        what: &'static str,
        /// The value found.
        value: String,
    },
}

impl InstallError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            InstallError::BadRequest { .. } => code(1400),
            InstallError::NotInSources { .. } => code(1401),
            InstallError::ChecksumMismatch { .. } => code(1402),
            InstallError::NotInstalled { .. } => code(1403),
            InstallError::HasDependents { .. } => code(1404),
            InstallError::Downgrade { .. } => code(1405),
            InstallError::HealthCheckFailed { .. } => code(1406),
            InstallError::RolledBack { .. } => code(1407),
            InstallError::NoSuchGeneration { .. } => code(1408),
            InstallError::NothingToRollBack => code(1409),
            InstallError::Busy { .. } => code(1410),
            InstallError::Io { .. } => code(1411),
            InstallError::Failpoint { .. } => code(1412),
            InstallError::Corrupt { .. } => code(1413),
            InstallError::PlanEnded { .. } => code(1414),
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            InstallError::BadRequest { .. } => {
                "write NAME, NAME@RANGE (e.g. hello@^1.2) or the path of a .sbpkg file".into()
            }
            InstallError::NotInSources { .. } => {
                "check the name, or add the source (a package directory or registry) that has it"
                    .into()
            }
            InstallError::ChecksumMismatch { .. } => {
                "the package changed after it was indexed or stored: fetch it again from a \
                 source you trust, and report the source if it persists"
                    .into()
            }
            InstallError::NotInstalled { .. } => {
                "see `switchboard list` for what is installed".into()
            }
            InstallError::HasDependents { name, .. } => format!(
                "remove them too (`switchboard remove {name} --with-dependents`), or keep `{name}`"
            ),
            InstallError::Downgrade {
                name, installed, ..
            } => format!(
                "keep {name} {installed}, roll back to a generation that had the older version \
                 (`switchboard rollback`), or ask for it explicitly with `--allow-downgrade`"
            ),
            InstallError::HealthCheckFailed { plugin, .. } => format!(
                "the previous generation runs again; see `{plugin}`'s log and report the \
                 release to its publisher"
            ),
            InstallError::RolledBack { cause, .. } => cause.next_step(),
            InstallError::NoSuchGeneration { .. } => {
                "see `switchboard generations` for the generations kept".into()
            }
            InstallError::NothingToRollBack => {
                "nothing to do; keep more generations to roll back further".into()
            }
            InstallError::Busy { .. } => {
                "wait for it to finish; if its process died, the next host or installer that \
                 opens the data directory rolls it back"
                    .into()
            }
            InstallError::Io { .. } => {
                "check the data directory's permissions and free space".into()
            }
            InstallError::Failpoint { .. } => "unset FAILPOINTS (a test setting)".into(),
            InstallError::PlanEnded { .. } => "plan the operation again".into(),
            InstallError::Corrupt { .. } => {
                "restore the data directory's database from a backup (`<data dir>/backups/`)".into()
            }
        }
    }
}

/// Errors a [`PackageSource`](super::PackageSource) returns (`SB1430`–`SB1439`).
///
/// Implementations outside this crate (a registry client) map their own failures onto these
/// variants; [`SourceError::Other`] carries a message and next step of their own.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The source has no such release.
    #[error("{source_label} has no {name} {version}")]
    NotFound {
        /// The source's label.
        source_label: String,
        /// The plugin.
        name: String,
        /// The version.
        version: String,
    },
    /// Reading or writing a file failed.
    #[error("{source_label}: cannot {what} {path}: {reason}")]
    Io {
        /// The source's label.
        source_label: String,
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying failure.
        reason: String,
    },
    /// The source's metadata or a package failed an integrity check of the source's own
    /// (e.g. a registry's signed metadata).
    #[error("{source_label}: {reason}")]
    Integrity {
        /// The source's label.
        source_label: String,
        /// What failed.
        reason: String,
    },
    /// Any other failure of the source, with its own next step.
    #[error("{source_label}: {message}")]
    Other {
        /// The source's label.
        source_label: String,
        /// What failed.
        message: String,
        /// What to do about it.
        next_step: String,
    },
}

impl SourceError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            SourceError::NotFound { .. } => code(1430),
            SourceError::Io { .. } => code(1431),
            SourceError::Integrity { .. } => code(1432),
            SourceError::Other { .. } => code(1433),
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            SourceError::NotFound { .. } => {
                "check the name and version, or refresh the source's index".into()
            }
            SourceError::Io { .. } => "check the path, its permissions and free space".into(),
            SourceError::Integrity { .. } => {
                "do not use this source until its metadata verifies; report it to its operator"
                    .into()
            }
            SourceError::Other { next_step, .. } => next_step.clone(),
        }
    }
}
