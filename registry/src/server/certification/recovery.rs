//! Certification requests whose checks were interrupted (issue 21 gap 3). Checks run inside
//! the submitting request; a server stopped during them left the request `checking` forever,
//! and a `checking` request holds its release (no second submission), so the release could
//! never be certified.
//!
//! The rule, failing closed: a request still `checking` once its checks cannot be running is
//! **denied** by `registry` with the reason [`INTERRUPTED_REASON`], its checks replaced by
//! one `interrupted` check in error — never passed, never approvable — and the denial is
//! audited (`certification.interrupted`). The publisher submits again and the checks run
//! afresh. When a request "cannot be running":
//!
//! - **At start on SQLite**, every `checking` request: the data directory's database is this
//!   server's alone, and no check survives its process.
//! - **On PostgreSQL**, where other servers may be checking right now, only requests
//!   submitted more than [`STUCK_AFTER_SECONDS`] ago (at start, and before each submission on
//!   either backend).
//!
//! A check that was in fact still running when its request was ended finds it no longer
//! `checking` and records nothing (`finish_certification_checks` changes only `checking`
//! requests), so the denial stands.

use super::audit;
use crate::error::ServerError;
use crate::server::store::{Database, DatabaseChoice};

/// How long after its submission a `checking` request is taken for interrupted when other
/// servers may share the database: far longer than any check runs.
pub const STUCK_AFTER_SECONDS: i64 = 3600;

/// The account that ends interrupted requests, in the request and the audit trail.
pub const RECOVERY_ACTOR: &str = "registry";

/// The reason an interrupted request is denied with.
pub const INTERRUPTED_REASON: &str = "the automated checks were interrupted (the server \
    stopped while they ran), so nothing was checked: submit the release again";

/// Ends the requests left `checking` that were submitted before `before` (see the module's
/// description), auditing each; returns their ids.
pub fn recover(db: &Database, before: i64, at: i64) -> Result<Vec<String>, ServerError> {
    let ids = db.store().recover_interrupted_certifications(
        before,
        at,
        RECOVERY_ACTOR,
        INTERRUPTED_REASON,
    )?;
    for id in &ids {
        let subject = match db.store().certification(id)? {
            Some(c) => format!("plugin:{}@{}", c.name, c.version),
            None => format!("certification:{id}"),
        };
        audit::record(
            db,
            RECOVERY_ACTOR,
            "certification.interrupted",
            &subject,
            &format!("request {id} denied: {INTERRUPTED_REASON}"),
        )?;
    }
    Ok(ids)
}

/// What a starting server ends: on SQLite every `checking` request, on PostgreSQL those
/// older than [`STUCK_AFTER_SECONDS`].
pub fn recover_at_start(
    db: &Database,
    choice: &DatabaseChoice,
    now: i64,
) -> Result<Vec<String>, ServerError> {
    let before = match choice {
        DatabaseChoice::Sqlite => i64::MAX,
        _ => now.saturating_sub(STUCK_AFTER_SECONDS),
    };
    recover(db, before, now)
}
