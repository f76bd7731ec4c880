//! Uploads and the checks run on them before listing, as the database records them.
//!
//! An upload is stored (`DATA/uploads/ID/`) and recorded as `checking` before any check runs;
//! it becomes `listed` only once every check passed and the registry listed it. A check that
//! fails makes it `failed`; one that errors or cannot run makes it `failed` too, recorded as
//! `errored` — never "passed because nothing ran". A new name close to an existing one is
//! `held` for review until an admin releases (then listed) or rejects it. A server stopped
//! mid-check leaves `checking`: unlisted.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::db::Database;
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
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Errored => "errored",
        }
    }

    fn parse(s: &str) -> Outcome {
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

    fn parse(s: &str) -> UploadState {
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
    db.conn()
        .execute(
            "INSERT INTO uploads (id, account, name, version, channel, sha256, size, state, \
             reason, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                u.id,
                u.account,
                u.name,
                u.version,
                u.channel,
                u.sha256,
                i64::try_from(u.size).unwrap_or(i64::MAX),
                u.state.as_str(),
                u.reason,
                u.created
            ],
        )
        .map(|_| ())
        .map_err(|e| db.error(&e))
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
    let mut conn = db.conn();
    let tx = conn.transaction().map_err(|e| db.error(&e))?;
    tx.execute("DELETE FROM checks WHERE upload = ?1", params![id])
        .map_err(|e| db.error(&e))?;
    for (seq, c) in checks.iter().enumerate() {
        tx.execute(
            "INSERT INTO checks (upload, seq, name, outcome, code, message) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id,
                i64::try_from(seq).unwrap_or(i64::MAX),
                c.name,
                c.outcome.as_str(),
                c.code,
                c.message
            ],
        )
        .map_err(|e| db.error(&e))?;
    }
    tx.execute(
        "UPDATE uploads SET state = ?2, reason = ?3, decided = ?4, decided_by = ?5 WHERE id = ?1",
        params![id, state.as_str(), reason, super::tokens::now(), by],
    )
    .map_err(|e| db.error(&e))?;
    tx.commit().map_err(|e| db.error(&e))
}

const COLUMNS: &str =
    "id, account, name, version, channel, sha256, size, state, reason, created, decided, \
     decided_by";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Upload> {
    Ok(Upload {
        id: r.get(0)?,
        account: r.get(1)?,
        name: r.get(2)?,
        version: r.get(3)?,
        channel: r.get(4)?,
        sha256: r.get(5)?,
        size: u64::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
        state: UploadState::parse(&r.get::<_, String>(7)?),
        reason: r.get(8)?,
        created: r.get(9)?,
        decided: r.get(10)?,
        decided_by: r.get(11)?,
        checks: Vec::new(),
    })
}

fn with_checks(db: &Database, mut u: Upload) -> Result<Upload, ServerError> {
    let conn = db.conn();
    let mut stmt = conn
        .prepare_cached(
            "SELECT name, outcome, code, message FROM checks WHERE upload = ?1 ORDER BY seq",
        )
        .map_err(|e| db.error(&e))?;
    u.checks = stmt
        .query_map(params![u.id], |r| {
            Ok(CheckResult {
                name: r.get(0)?,
                outcome: Outcome::parse(&r.get::<_, String>(1)?),
                code: r.get(2)?,
                message: r.get(3)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(|e| db.error(&e))?;
    Ok(u)
}

fn query(
    db: &Database,
    sql_where: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Upload>, ServerError> {
    let conn = db.conn();
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM uploads {sql_where}"))
        .map_err(|e| db.error(&e))?;
    let found: Vec<Upload> = stmt
        .query_map(args, row)
        .and_then(Iterator::collect)
        .map_err(|e| db.error(&e))?;
    drop(stmt);
    drop(conn);
    found.into_iter().map(|u| with_checks(db, u)).collect()
}

/// The upload `id`, with its checks.
pub fn get(db: &Database, id: &str) -> Result<Option<Upload>, ServerError> {
    let found = db
        .conn()
        .query_row(
            &format!("SELECT {COLUMNS} FROM uploads WHERE id = ?1"),
            params![id],
            row,
        )
        .optional()
        .map_err(|e| db.error(&e))?;
    found.map(|u| with_checks(db, u)).transpose()
}

/// Every upload of `name`, newest first, with its checks (what a plugin's page shows: the
/// checks of each listed version, and uploads held or failed).
pub fn of_plugin(db: &Database, name: &str) -> Result<Vec<Upload>, ServerError> {
    query(
        db,
        "WHERE name = ?1 ORDER BY created DESC, rowid DESC LIMIT 200",
        &[&name],
    )
}

/// Uploads in `state`, oldest first (the review queue: `held`).
pub fn in_state(db: &Database, state: UploadState) -> Result<Vec<Upload>, ServerError> {
    query(
        db,
        "WHERE state = ?1 ORDER BY created, rowid LIMIT 500",
        &[&state.as_str()],
    )
}
