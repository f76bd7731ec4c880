//! Certification requests and their checks (issue 21 item 2, SPEC S9.5), behind
//! [`CertificationStore`] — a supertrait of [`super::Store`], implemented for SQLite and
//! PostgreSQL alike.
//!
//! A request is one submission of one release (`name@version`) by a publisher: its state
//! (`checking` → `pending` → `approved` | `denied`), who submitted and decided it, when, the
//! reviewer's reason, the countersignature an approval made, and each automated check's
//! result. At most one request per release is open (`checking` or `pending`) or `approved`
//! at a time: [`CertificationStore::insert_certification`] checks and inserts in one atomic
//! step (SQLite: one statement under its write lock; PostgreSQL: a transaction holding an
//! advisory lock on the release). A denied release may be submitted again.
//!
//! The rules (who may submit, what each check means, when approval is refused) are in
//! `server::certification`; a backend only stores and finds rows.

use rusqlite::params;

use super::postgres::PostgresStore;
use super::sqlite::SqliteStore;
use super::Store;
use crate::error::ServerError;

/// A certification request's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificationState {
    /// Submitted; its checks are running (a server stopped mid-check leaves it so: submit
    /// again once it is denied, or ask an admin).
    Checking,
    /// Checked; waiting for a reviewer.
    Pending,
    /// A reviewer approved it: the registry countersigned the release.
    Approved,
    /// A reviewer denied it, with a reason.
    Denied,
}

impl CertificationState {
    /// As stored and shown: `checking`, `pending`, `approved`, `denied`.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificationState::Checking => "checking",
            CertificationState::Pending => "pending",
            CertificationState::Approved => "approved",
            CertificationState::Denied => "denied",
        }
    }

    /// From its stored text (unknown text reads as `checking`: never approvable).
    pub fn parse(s: &str) -> CertificationState {
        match s {
            "pending" => CertificationState::Pending,
            "approved" => CertificationState::Approved,
            "denied" => CertificationState::Denied,
            _ => CertificationState::Checking,
        }
    }
}

/// What one automated check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// It ran and found nothing wrong.
    Passed,
    /// It ran and found something a reviewer must weigh (a broad capability, a vulnerable
    /// dependency); approval is allowed.
    Flagged,
    /// It ran and found the release wrong; approval is refused.
    Failed,
    /// It could not finish (its inputs could not be read, it panicked); approval is refused.
    Error,
    /// It applies but the registry cannot run it safely (smoke calls on a machine without
    /// isolation, a lockfile without an advisory database); approval is refused — fail closed.
    NotRun,
    /// It does not apply (no lockfile, no smoke calls declared): nothing to run.
    Skipped,
}

impl Verdict {
    /// As stored and shown: `passed`, `flagged`, `failed`, `error`, `not-run`, `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Flagged => "flagged",
            Verdict::Failed => "failed",
            Verdict::Error => "error",
            Verdict::NotRun => "not-run",
            Verdict::Skipped => "skipped",
        }
    }

    /// From its stored text (unknown text reads as `error`: fail closed).
    pub fn parse(s: &str) -> Verdict {
        match s {
            "passed" => Verdict::Passed,
            "flagged" => Verdict::Flagged,
            "failed" => Verdict::Failed,
            "not-run" => Verdict::NotRun,
            "skipped" => Verdict::Skipped,
            _ => Verdict::Error,
        }
    }

    /// Whether a release with this result may be approved.
    pub fn allows_approval(self) -> bool {
        matches!(self, Verdict::Passed | Verdict::Flagged | Verdict::Skipped)
    }
}

/// One automated check's recorded result.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificationCheck {
    /// The check (`manifest`, `capabilities`, `provenance`, `tests`, `advisories`).
    pub name: String,
    /// What it found.
    pub verdict: Verdict,
    /// In words: what ran and what it found.
    pub detail: String,
}

impl CertificationCheck {
    /// A result.
    pub fn new(name: &str, verdict: Verdict, detail: impl Into<String>) -> Self {
        CertificationCheck {
            name: name.to_owned(),
            verdict,
            detail: detail.into(),
        }
    }
}

/// One certification request, with its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Certification {
    /// Its id (random hex).
    pub id: String,
    /// The plugin.
    pub name: String,
    /// The release's version.
    pub version: String,
    /// The account that submitted it.
    pub account: String,
    /// Its state.
    pub state: CertificationState,
    /// Unix seconds when it was submitted.
    pub submitted: i64,
    /// Unix seconds when a reviewer decided it.
    pub decided: Option<i64>,
    /// The reviewer's account.
    pub decided_by: Option<String>,
    /// The reviewer's reason (required to deny; optional note to approve).
    pub reason: Option<String>,
    /// The countersignature an approval made (a `.cert` file's text).
    pub certificate: Option<String>,
    /// The automated checks' results, in order.
    pub checks: Vec<CertificationCheck>,
}

impl Certification {
    /// A new request in state `checking`, without checks.
    pub fn new(id: String, name: String, version: String, account: String, at: i64) -> Self {
        Certification {
            id,
            name,
            version,
            account,
            state: CertificationState::Checking,
            submitted: at,
            decided: None,
            decided_by: None,
            reason: None,
            certificate: None,
            checks: Vec::new(),
        }
    }

    /// The checks that refuse approval (failed, error, not run).
    pub fn blocking(&self) -> Vec<&CertificationCheck> {
        self.checks
            .iter()
            .filter(|c| !c.verdict.allows_approval())
            .collect()
    }
}

/// A reviewer's decision, as [`CertificationStore::decide_certification`] records it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Decision<'a> {
    /// `Approved` or `Denied`.
    pub state: CertificationState,
    /// The reviewer's account.
    pub by: &'a str,
    /// Unix seconds.
    pub at: i64,
    /// The reason.
    pub reason: Option<&'a str>,
    /// The countersignature (approvals).
    pub certificate: Option<&'a str>,
}

impl<'a> Decision<'a> {
    /// A decision.
    pub fn new(
        state: CertificationState,
        by: &'a str,
        at: i64,
        reason: Option<&'a str>,
        certificate: Option<&'a str>,
    ) -> Self {
        Decision {
            state,
            by,
            at,
            reason,
            certificate,
        }
    }
}

/// Where certification requests are kept. Every method is one blocking call; every change
/// is atomic on its own.
pub trait CertificationStore {
    /// Inserts `c` unless a request for the same release is `checking`, `pending` or
    /// `approved` — the check and the insert are one atomic step. Returns the request that
    /// holds afterwards: `c`, or the earlier open or approved one (compare ids).
    fn insert_certification(&self, c: &Certification) -> Result<Certification, ServerError>;
    /// Replaces the checks of request `id` and sets its state (to `pending` once checked).
    fn finish_certification_checks(
        &self,
        id: &str,
        checks: &[CertificationCheck],
        state: CertificationState,
    ) -> Result<(), ServerError>;
    /// Records a reviewer's decision on `id` if it is still `pending` (two reviewers at once:
    /// one decides). Returns whether it did.
    fn decide_certification(&self, id: &str, decision: &Decision<'_>) -> Result<bool, ServerError>;
    /// The request `id`, with its checks.
    fn certification(&self, id: &str) -> Result<Option<Certification>, ServerError>;
    /// At most `limit` requests of `name` (any version), newest first, with their checks.
    fn certifications_of(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<Vec<Certification>, ServerError>;
    /// At most `limit` requests in `state`, oldest first, with their checks.
    fn certifications_in(
        &self,
        state: CertificationState,
        limit: usize,
    ) -> Result<Vec<Certification>, ServerError>;
    /// Ends every request still `checking` that was submitted before `before` (its checks
    /// were interrupted: a server stopped during them): denied by `by` at `at` with
    /// `reason`, its checks replaced by one `interrupted` check in error — in one
    /// transaction, each row only if it is still `checking`. Returns their ids. (Fail
    /// closed: nothing becomes approvable; the release may be submitted again.)
    fn recover_interrupted_certifications(
        &self,
        before: i64,
        at: i64,
        by: &str,
        reason: &str,
    ) -> Result<Vec<String>, ServerError>;
}

/// The check an interrupted request is left with.
pub const INTERRUPTED_CHECK: &str = "interrupted";

/// The SQLite tables (part of the store's `SCHEMA`, created if missing).
pub(crate) const SQLITE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS certifications (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    account     TEXT NOT NULL,
    state       TEXT NOT NULL,
    submitted   INTEGER NOT NULL,
    decided     INTEGER,
    decided_by  TEXT,
    reason      TEXT,
    certificate TEXT
);
CREATE INDEX IF NOT EXISTS certifications_release ON certifications (name, version);
CREATE INDEX IF NOT EXISTS certifications_state ON certifications (state, submitted);
CREATE TABLE IF NOT EXISTS certification_checks (
    certification TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    name          TEXT NOT NULL,
    verdict       TEXT NOT NULL,
    detail        TEXT NOT NULL,
    PRIMARY KEY (certification, seq)
);
";

/// The PostgreSQL migration adding the same tables.
pub(crate) const POSTGRES_MIGRATION: &str = "
CREATE TABLE certifications (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    account     TEXT NOT NULL,
    state       TEXT NOT NULL,
    submitted   BIGINT NOT NULL,
    decided     BIGINT,
    decided_by  TEXT,
    reason      TEXT,
    certificate TEXT,
    seq         BIGSERIAL NOT NULL
);
CREATE INDEX certifications_release ON certifications (name, version);
CREATE INDEX certifications_state ON certifications (state, submitted);
CREATE TABLE certification_checks (
    certification TEXT NOT NULL REFERENCES certifications (id) ON DELETE CASCADE,
    seq           BIGINT NOT NULL,
    name          TEXT NOT NULL,
    verdict       TEXT NOT NULL,
    detail        TEXT NOT NULL,
    PRIMARY KEY (certification, seq)
);
";

const COLUMNS: &str =
    "id, name, version, account, state, submitted, decided, decided_by, reason, certificate";

/// The states that keep a release from being submitted again.
const HOLDING: &str = "('checking', 'pending', 'approved')";

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn sqlite_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Certification> {
    Ok(Certification {
        id: r.get(0)?,
        name: r.get(1)?,
        version: r.get(2)?,
        account: r.get(3)?,
        state: CertificationState::parse(&r.get::<_, String>(4)?),
        submitted: r.get(5)?,
        decided: r.get(6)?,
        decided_by: r.get(7)?,
        reason: r.get(8)?,
        certificate: r.get(9)?,
        checks: Vec::new(),
    })
}

impl SqliteStore {
    fn cert_error(&self, e: &rusqlite::Error) -> ServerError {
        ServerError::Database {
            path: self.location().to_owned(),
            reason: e.to_string(),
        }
    }

    fn certifications_where(
        &self,
        sql_where: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<Certification>, ServerError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM certifications {sql_where}"))
            .map_err(|e| self.cert_error(&e))?;
        let mut found: Vec<Certification> = stmt
            .query_map(args, sqlite_row)
            .and_then(Iterator::collect)
            .map_err(|e| self.cert_error(&e))?;
        drop(stmt);
        let mut checks = conn
            .prepare_cached(
                "SELECT name, verdict, detail FROM certification_checks \
                 WHERE certification = ?1 ORDER BY seq",
            )
            .map_err(|e| self.cert_error(&e))?;
        for c in &mut found {
            c.checks = checks
                .query_map(params![c.id], |r| {
                    Ok(CertificationCheck {
                        name: r.get(0)?,
                        verdict: Verdict::parse(&r.get::<_, String>(1)?),
                        detail: r.get(2)?,
                    })
                })
                .and_then(Iterator::collect)
                .map_err(|e| self.cert_error(&e))?;
        }
        Ok(found)
    }
}

impl CertificationStore for SqliteStore {
    fn insert_certification(&self, c: &Certification) -> Result<Certification, ServerError> {
        {
            // One statement: SQLite runs it under its write lock, so the check and the
            // insert cannot interleave with another connection's.
            let conn = self.conn();
            conn.execute(
                &format!(
                    "INSERT INTO certifications ({COLUMNS}) \
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, NULL, NULL, NULL, NULL \
                     WHERE NOT EXISTS (SELECT 1 FROM certifications \
                     WHERE name = ?2 AND version = ?3 AND state IN {HOLDING})"
                ),
                params![
                    c.id,
                    c.name,
                    c.version,
                    c.account,
                    c.state.as_str(),
                    c.submitted
                ],
            )
            .map_err(|e| self.cert_error(&e))?;
        }
        let holding = self.certifications_where(
            &format!(
                "WHERE name = ?1 AND version = ?2 AND state IN {HOLDING} \
                 ORDER BY submitted DESC, rowid DESC LIMIT 1"
            ),
            &[&c.name, &c.version],
        )?;
        holding
            .into_iter()
            .next()
            .ok_or_else(|| ServerError::Database {
                path: self.location().to_owned(),
                reason: "the certification request just stored is not found".into(),
            })
    }

    fn finish_certification_checks(
        &self,
        id: &str,
        checks: &[CertificationCheck],
        state: CertificationState,
    ) -> Result<(), ServerError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.cert_error(&e))?;
        tx.execute(
            "DELETE FROM certification_checks WHERE certification = ?1",
            params![id],
        )
        .map_err(|e| self.cert_error(&e))?;
        for (seq, c) in checks.iter().enumerate() {
            tx.execute(
                "INSERT INTO certification_checks (certification, seq, name, verdict, detail) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, count(seq), c.name, c.verdict.as_str(), c.detail],
            )
            .map_err(|e| self.cert_error(&e))?;
        }
        // Only a request still being checked: one ended as interrupted meanwhile (see
        // `recover_interrupted_certifications`) stays as it was, checks included.
        let n = tx
            .execute(
                "UPDATE certifications SET state = ?2 WHERE id = ?1 AND state = 'checking'",
                params![id, state.as_str()],
            )
            .map_err(|e| self.cert_error(&e))?;
        if n == 0 {
            return tx.rollback().map_err(|e| self.cert_error(&e));
        }
        tx.commit().map_err(|e| self.cert_error(&e))
    }

    fn recover_interrupted_certifications(
        &self,
        before: i64,
        at: i64,
        by: &str,
        reason: &str,
    ) -> Result<Vec<String>, ServerError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.cert_error(&e))?;
        let ids: Vec<String> = {
            let mut stmt = tx
                .prepare(
                    "UPDATE certifications SET state = 'denied', decided = ?2, decided_by = ?3, \
                     reason = ?4 WHERE state = 'checking' AND submitted < ?1 RETURNING id",
                )
                .map_err(|e| self.cert_error(&e))?;
            let rows = stmt
                .query_map(params![before, at, by, reason], |r| r.get(0))
                .and_then(Iterator::collect)
                .map_err(|e| self.cert_error(&e))?;
            rows
        };
        for id in &ids {
            tx.execute(
                "DELETE FROM certification_checks WHERE certification = ?1",
                params![id],
            )
            .map_err(|e| self.cert_error(&e))?;
            tx.execute(
                "INSERT INTO certification_checks (certification, seq, name, verdict, detail) \
                 VALUES (?1, 0, ?2, ?3, ?4)",
                params![id, INTERRUPTED_CHECK, Verdict::Error.as_str(), reason],
            )
            .map_err(|e| self.cert_error(&e))?;
        }
        tx.commit().map_err(|e| self.cert_error(&e))?;
        Ok(ids)
    }

    fn decide_certification(&self, id: &str, d: &Decision<'_>) -> Result<bool, ServerError> {
        let n = self
            .conn()
            .execute(
                "UPDATE certifications SET state = ?2, decided = ?3, decided_by = ?4, \
                 reason = ?5, certificate = ?6 WHERE id = ?1 AND state = 'pending'",
                params![id, d.state.as_str(), d.at, d.by, d.reason, d.certificate],
            )
            .map_err(|e| self.cert_error(&e))?;
        Ok(n == 1)
    }

    fn certification(&self, id: &str) -> Result<Option<Certification>, ServerError> {
        Ok(self
            .certifications_where("WHERE id = ?1", &[&id])?
            .into_iter()
            .next())
    }

    fn certifications_of(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<Vec<Certification>, ServerError> {
        self.certifications_where(
            "WHERE name = ?1 ORDER BY submitted DESC, rowid DESC LIMIT ?2",
            &[&name, &count(limit)],
        )
    }

    fn certifications_in(
        &self,
        state: CertificationState,
        limit: usize,
    ) -> Result<Vec<Certification>, ServerError> {
        self.certifications_where(
            "WHERE state = ?1 ORDER BY submitted, rowid LIMIT ?2",
            &[&state.as_str(), &count(limit)],
        )
    }
}

fn pg_row(r: &postgres::Row) -> Certification {
    Certification {
        id: r.get(0),
        name: r.get(1),
        version: r.get(2),
        account: r.get(3),
        state: CertificationState::parse(r.get(4)),
        submitted: r.get(5),
        decided: r.get(6),
        decided_by: r.get(7),
        reason: r.get(8),
        certificate: r.get(9),
        checks: Vec::new(),
    }
}

impl PostgresStore {
    fn certifications_where(
        &self,
        sql_where: &str,
        args: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Certification>, ServerError> {
        let mut client = self.client()?;
        let rows = client
            .query(
                &format!("SELECT {COLUMNS} FROM certifications {sql_where}"),
                args,
            )
            .map_err(|e| self.error(&e))?;
        let mut found: Vec<Certification> = rows.iter().map(pg_row).collect();
        if found.is_empty() {
            return Ok(found);
        }
        let ids: Vec<String> = found.iter().map(|c| c.id.clone()).collect();
        let rows = client
            .query(
                "SELECT certification, name, verdict, detail FROM certification_checks \
                 WHERE certification = ANY($1) ORDER BY certification, seq",
                &[&ids],
            )
            .map_err(|e| self.error(&e))?;
        let mut by_id: std::collections::HashMap<String, Vec<CertificationCheck>> =
            std::collections::HashMap::new();
        for r in rows {
            by_id.entry(r.get(0)).or_default().push(CertificationCheck {
                name: r.get(1),
                verdict: Verdict::parse(r.get(2)),
                detail: r.get(3),
            });
        }
        for c in &mut found {
            c.checks = by_id.remove(&c.id).unwrap_or_default();
        }
        Ok(found)
    }
}

impl CertificationStore for PostgresStore {
    fn insert_certification(&self, c: &Certification) -> Result<Certification, ServerError> {
        let mut client = self.client()?;
        let run = |client: &mut postgres::Client| -> Result<(), postgres::Error> {
            let mut tx = client.transaction()?;
            // Serialises submissions of one release across every server sharing the database.
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                &[&format!("switchboard-certify:{}@{}", c.name, c.version)],
            )?;
            tx.execute(
                &format!(
                    "INSERT INTO certifications (id, name, version, account, state, submitted) \
                     SELECT $1, $2, $3, $4, $5, $6 \
                     WHERE NOT EXISTS (SELECT 1 FROM certifications \
                     WHERE name = $2 AND version = $3 AND state IN {HOLDING})"
                ),
                &[
                    &c.id,
                    &c.name,
                    &c.version,
                    &c.account,
                    &c.state.as_str(),
                    &c.submitted,
                ],
            )?;
            tx.commit()
        };
        run(&mut client).map_err(|e| self.error(&e))?;
        drop(client);
        self.certifications_where(
            &format!(
                "WHERE name = $1 AND version = $2 AND state IN {HOLDING} \
                 ORDER BY submitted DESC, seq DESC LIMIT 1"
            ),
            &[&c.name, &c.version],
        )?
        .into_iter()
        .next()
        .ok_or_else(|| ServerError::Database {
            path: self.location().to_owned(),
            reason: "the certification request just stored is not found".into(),
        })
    }

    fn finish_certification_checks(
        &self,
        id: &str,
        checks: &[CertificationCheck],
        state: CertificationState,
    ) -> Result<(), ServerError> {
        let mut client = self.client()?;
        let run = |client: &mut postgres::Client| -> Result<(), postgres::Error> {
            let mut tx = client.transaction()?;
            tx.execute(
                "DELETE FROM certification_checks WHERE certification = $1",
                &[&id],
            )?;
            for (seq, c) in checks.iter().enumerate() {
                tx.execute(
                    "INSERT INTO certification_checks \
                     (certification, seq, name, verdict, detail) VALUES ($1, $2, $3, $4, $5)",
                    &[&id, &count(seq), &c.name, &c.verdict.as_str(), &c.detail],
                )?;
            }
            // Only a request still being checked (see the SQLite version).
            let n = tx.execute(
                "UPDATE certifications SET state = $2 WHERE id = $1 AND state = 'checking'",
                &[&id, &state.as_str()],
            )?;
            if n == 0 {
                return tx.rollback();
            }
            tx.commit()
        };
        run(&mut client).map_err(|e| self.error(&e))
    }

    fn recover_interrupted_certifications(
        &self,
        before: i64,
        at: i64,
        by: &str,
        reason: &str,
    ) -> Result<Vec<String>, ServerError> {
        let mut client = self.client()?;
        let run = |client: &mut postgres::Client| -> Result<Vec<String>, postgres::Error> {
            let mut tx = client.transaction()?;
            let ids: Vec<String> = tx
                .query(
                    "UPDATE certifications SET state = 'denied', decided = $2, decided_by = $3, \
                     reason = $4 WHERE state = 'checking' AND submitted < $1 RETURNING id",
                    &[&before, &at, &by, &reason],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            for id in &ids {
                tx.execute(
                    "DELETE FROM certification_checks WHERE certification = $1",
                    &[id],
                )?;
                tx.execute(
                    "INSERT INTO certification_checks \
                     (certification, seq, name, verdict, detail) VALUES ($1, 0, $2, $3, $4)",
                    &[id, &INTERRUPTED_CHECK, &Verdict::Error.as_str(), &reason],
                )?;
            }
            tx.commit()?;
            Ok(ids)
        };
        run(&mut client).map_err(|e| self.error(&e))
    }

    fn decide_certification(&self, id: &str, d: &Decision<'_>) -> Result<bool, ServerError> {
        let n = self
            .client()?
            .execute(
                "UPDATE certifications SET state = $2, decided = $3, decided_by = $4, \
                 reason = $5, certificate = $6 WHERE id = $1 AND state = 'pending'",
                &[
                    &id,
                    &d.state.as_str(),
                    &d.at,
                    &d.by,
                    &d.reason,
                    &d.certificate,
                ],
            )
            .map_err(|e| self.error(&e))?;
        Ok(n == 1)
    }

    fn certification(&self, id: &str) -> Result<Option<Certification>, ServerError> {
        Ok(self
            .certifications_where("WHERE id = $1", &[&id])?
            .into_iter()
            .next())
    }

    fn certifications_of(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<Vec<Certification>, ServerError> {
        self.certifications_where(
            "WHERE name = $1 ORDER BY submitted DESC, seq DESC LIMIT $2",
            &[&name, &count(limit)],
        )
    }

    fn certifications_in(
        &self,
        state: CertificationState,
        limit: usize,
    ) -> Result<Vec<Certification>, ServerError> {
        self.certifications_where(
            "WHERE state = $1 ORDER BY submitted, seq LIMIT $2",
            &[&state.as_str(), &count(limit)],
        )
    }
}
