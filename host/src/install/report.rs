//! What operations report: progress, the result of an operation, a recovery, a start, a
//! garbage collection.

use serde::Serialize;

use super::generation::GenerationId;
use super::journal::{OperationId, OperationKind, Phase};
use super::plan::PlannedChange;
use crate::error::Error;

/// Progress of an operation, for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// The operation.
    pub operation: OperationId,
    /// Its phase ("phase 3/5: resolve" is `phase.number()`/5 and `phase`).
    pub phase: Phase,
    /// The plugin concerned, if one.
    pub plugin: Option<String>,
    /// During a download: bytes so far and the total if known.
    pub bytes: Option<(u64, Option<u64>)>,
}

/// What an applied operation did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct OperationReport {
    /// The operation's correlation id.
    pub operation: OperationId,
    /// What it did.
    pub kind: OperationKind,
    /// The generation current before.
    pub from_generation: Option<GenerationId>,
    /// The generation current now.
    pub generation: Option<GenerationId>,
    /// What changed, per plugin.
    pub changes: Vec<PlannedChange>,
    /// Packages removed from the store by garbage collection afterwards.
    pub collected: Vec<String>,
    /// Warnings (health `degraded`, settings not applied).
    pub warnings: Vec<String>,
}

/// An interrupted operation found and rolled back.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Recovery {
    /// The operation.
    pub operation: OperationId,
    /// What it was doing.
    pub kind: OperationKind,
    /// The phase it was in when its process died.
    pub phase: Phase,
    /// Whether it had flipped (and was flipped back).
    pub flipped_back: bool,
    /// The generation current now.
    pub generation: Option<GenerationId>,
}

/// What starting the current generation did ([`Installer::start`](super::Installer::start),
/// [`Host::start_installed`](crate::Host::start_installed)).
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct StartReport {
    /// The generation started.
    pub generation: Option<GenerationId>,
    /// Plugins running, in the order they started.
    pub started: Vec<String>,
    /// Plugins that failed to load or start, with the error.
    pub failed: Vec<(String, Error)>,
    /// Plugins not started because a dependency did not start, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Disabled plugins, not loaded.
    pub disabled: Vec<String>,
}

/// What garbage collection removed.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct GcReport {
    /// Generations deleted.
    pub generations: Vec<GenerationId>,
    /// Package digests removed from the store.
    pub packages: Vec<String>,
}
