//! Uploads and the checks run on them before listing, as the database records them.
//!
//! An upload is stored (`DATA/uploads/ID/`) and recorded as `checking` before any check runs;
//! it becomes `listed` only once every check passed and the registry listed it. A check that
//! fails makes it `failed`; one that errors or cannot run makes it `failed` too, recorded as
//! `errored` — never "passed because nothing ran". A new name close to an existing one is
//! `held` for review until an admin releases (then listed) or rejects it. A server stopped
//! mid-check leaves `checking`: unlisted.

use serde::Serialize;

use super::store::Database;
use crate::error::ServerError;

/// A check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Outcome {
    /// It ran and the upload passed.
    Passed,
    /// It ran and the upload failed it.
    Failed,
    /// It could not run or did not finish.
    Errored,
}

impl Outcome {
    /// Its name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Errored => "errored",
        }
    }

    /// From its stored name (anything unknown reads as `errored`: never a pass).
    pub(crate) fn parse(s: &str) -> Outcome {
        match s {
            "passed" => Outcome::Passed,
            "failed" => Outcome::Failed,
            _ => Outcome::Errored,
        }
    }
}

/// One check of one upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CheckResult {
    /// `size`, `package`, `preflight`, `signed`, `signer`, `name`, `squatting` or `listing`.
    pub name: String,
    /// What came of it.
    pub outcome: Outcome,
    /// The refusal's code when it failed (`SB####`).
    pub code: Option<String>,
    /// What it found.
    pub message: String,
}

impl CheckResult {
    /// A check's result.
    pub fn new(name: &str, outcome: Outcome, code: Option<String>, message: String) -> Self {
        CheckResult {
            name: name.to_owned(),
            outcome,
            code,
            message,
        }
    }
}

/// Where an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum UploadState {
    /// Stored; checks running (or the server stopped while they ran). Not listed.
    Checking,
    /// Every check passed and the release is in the registry.
    Listed,
    /// Every check passed; the name is held for review. Not listed.
    Held,
    /// A check failed or errored. Not listed.
    Failed,
    /// Held, then rejected by an admin. Not listed.
    Rejected,
}

impl UploadState {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            UploadState::Checking => "checking",
            UploadState::Listed => "listed",
            UploadState::Held => "held",
            UploadState::Failed => "failed",
            UploadState::Rejected => "rejected",
        }
    }

    /// From its stored name (anything unknown reads as `checking`: unlisted).
    pub(crate) fn parse(s: &str) -> UploadState {
        match s {
            "listed" => UploadState::Listed,
            "held" => UploadState::Held,
            "failed" => UploadState::Failed,
            "rejected" => UploadState::Rejected,
            _ => UploadState::Checking,
        }
    }
}

/// One upload as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Upload {
    /// Its id.
    pub id: String,
    /// The uploading account.
    pub account: String,
    /// The plugin's name (from the package's file name; checks confirm the manifest's).
    pub name: String,
    /// Its version.
    pub version: String,
    /// The channel asked for.
    pub channel: String,
    /// The package's sha256.
    pub sha256: String,
    /// The package's size.
    pub size: u64,
    /// Where it stands.
    pub state: UploadState,
    /// Why it is held, failed or rejected.
    pub reason: Option<String>,
    /// Unix seconds when it arrived.
    pub created: i64,
    /// Unix seconds when it was listed, failed, released or rejected.
    pub decided: Option<i64>,
    /// Who decided (an admin's account for a release or a rejection).
    pub decided_by: Option<String>,
    /// The checks, in the order they ran.
    pub checks: Vec<CheckResult>,
}

/// Records a new upload (state `checking`, no checks yet).
pub fn insert(db: &Database, u: &Upload) -> Result<(), ServerError> {
    db.store().insert_upload(u)
}

/// Records the checks of `id` (replacing any recorded before) and its new state, in one
/// transaction.
pub fn finish(
    db: &Database,
    id: &str,
    checks: &[CheckResult],
    state: UploadState,
    reason: Option<&str>,
    by: Option<&str>,
) -> Result<(), ServerError> {
    db.store()
        .finish_upload(id, checks, state, reason, by, super::tokens::now())
}

/// The upload `id`, with its checks.
pub fn get(db: &Database, id: &str) -> Result<Option<Upload>, ServerError> {
    db.store().upload(id)
}

/// Every upload of `name` (the newest 200), newest first, with its checks (what a plugin's
/// page shows: the checks of each listed version, and uploads held or failed).
pub fn of_plugin(db: &Database, name: &str) -> Result<Vec<Upload>, ServerError> {
    db.store().uploads_of(name, 200)
}

/// Uploads in `state` (the oldest 500), oldest first (the review queue: `held`).
pub fn in_state(db: &Database, state: UploadState) -> Result<Vec<Upload>, ServerError> {
    db.store().uploads_in(state, 500)
}
