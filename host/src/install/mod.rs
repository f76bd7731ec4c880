//! Installing, updating, removing, enabling, disabling and rolling back plugins as
//! **generations** (ARCHITECTURE D10, SPEC S3, S8.1, S9.6).
//!
//! The installed set is a [`Generation`]: packages content-addressed by sha256 in
//! `<data dir>/packages/`, whether each is enabled, the grants each held, and the lockfile.
//! Every operation prepares a new generation beside the current one and makes it current
//! with one SQLite transaction (the *flip*); rollback flips back. Each operation is
//! journaled with a correlation id, phase by phase — download → verify → resolve → activate
//! → health-check ([`Phase`]) — so one a crash interrupted is found and rolled back by the
//! next host that opens the data directory ([`Installer::recover`]).
//!
//! - `source` — [`PackageSource`], where packages come from; [`FileSource`] (a `.sbpkg`
//!   file or a directory of them).
//! - `generation` — [`Generation`], [`GenerationId`], [`InstalledPlugin`], [`InstallState`].
//! - `journal` — [`OperationId`], [`Phase`], [`OperationKind`], [`OperationRecord`].
//! - `package_store` — the content-addressed package store (crate-internal).
//! - `plan` — [`Plan`], [`PlannedChange`]: what an operation will do, shown before it is
//!   applied (changelog, warnings, capability diff).
//! - `installer` — [`Installer`], the API; `options` and `report` — what it takes and gives.
//! - `operation` — the phases of one operation; `activate` — a running host made to match a
//!   generation; `recover` — interrupted operations rolled back.
//! - `verified_cache` — packages verified in this process, reused by a rollback.
//! - `events` — the `system.plugin.*` topics published.
//! - [`failpoints`] — fault injection at each phase boundary (feature `failpoints`).
//! - `error` — [`InstallError`] (`SB1400`–`SB1429`), [`SourceError`] (`SB1430`–`SB1439`).

mod activate;
mod error;
pub mod events;
pub mod failpoints;
mod generation;
mod installer;
mod journal;
mod operation;
mod options;
mod package_store;
mod plan;
mod recover;
mod report;
mod source;
mod verified_cache;

pub use error::{InstallError, SourceError};
pub use generation::{
    Generation, GenerationId, GenerationInfo, GenerationPlugin, InstallState, InstalledPlugin,
};
pub use installer::{Installer, DEFAULT_HEALTH_DEADLINE, DEFAULT_KEEP_GENERATIONS};
pub use journal::{
    JournalStep, OperationId, OperationKind, OperationRecord, OperationStatus, Phase,
};
pub use options::{CapabilityApproval, InstallOptions, InstallRequest, RemoveOptions};
pub use plan::{changelog_between, Plan, PlannedChange};
pub use report::{GcReport, OperationReport, Progress, Recovery, StartReport};
pub use source::{FileSource, PackageSource};

pub(crate) use generation::SCHEMA;
pub(crate) use recover::recover;
pub(crate) use verified_cache::VerifiedCache;

#[cfg(test)]
mod tests;
