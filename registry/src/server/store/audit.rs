//! The audit trail's storage: one append-only table, `audit`, on both backends. The rules
//! (who may read it, what is recorded) are in [`crate::server::audit`].

use postgres::Row;
use rusqlite::params;

use super::postgres::PostgresStore;
use super::sqlite::SqliteStore;
use crate::error::ServerError;
use crate::server::audit::AuditEntry;

/// Where audit entries are kept. Entries are only ever added: nothing here changes or
/// removes one.
pub trait AuditStore {
    /// Appends an entry; its id, which grows with every entry.
    fn record_audit(
        &self,
        at: i64,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> Result<i64, ServerError>;

    /// The newest `limit` entries, newest first; only those whose subject starts with
    /// `subject_prefix` when one is given (`plugin:hello` finds the plugin's and its
    /// versions', `plugin:hello@1.0.0`, entries).
    fn audit_entries(
        &self,
        subject_prefix: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, ServerError>;
}

impl AuditStore for SqliteStore {
    fn record_audit(
        &self,
        at: i64,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> Result<i64, ServerError> {
        let conn = self.conn();
        conn.prepare_cached(
            "INSERT INTO audit (at, actor, action, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut s| s.insert(params![at, actor, action, subject, detail]))
        .map_err(|e| self.error(&e))
    }

    fn audit_entries(
        &self,
        subject_prefix: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, ServerError> {
        let conn = self.conn();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // A prefix compared as a prefix (`LIKE` would read `_` and `%` in it as patterns).
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, at, actor, action, subject, detail FROM audit \
                 WHERE ?1 IS NULL OR substr(subject, 1, length(?1)) = ?1 \
                 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(|e| self.error(&e))?;
        stmt.query_map(params![subject_prefix, limit], |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                subject: r.get(4)?,
                detail: r.get(5)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(|e| self.error(&e))
    }
}

fn entry_row(r: &Row) -> AuditEntry {
    AuditEntry {
        id: r.get(0),
        at: r.get(1),
        actor: r.get(2),
        action: r.get(3),
        subject: r.get(4),
        detail: r.get(5),
    }
}

impl AuditStore for PostgresStore {
    fn record_audit(
        &self,
        at: i64,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> Result<i64, ServerError> {
        let mut client = self.client()?;
        let row = client
            .query_one(
                "INSERT INTO audit (at, actor, action, subject, detail) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[&at, &actor, &action, &subject, &detail],
            )
            .map_err(|e| self.error(&e))?;
        Ok(row.get(0))
    }

    fn audit_entries(
        &self,
        subject_prefix: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, ServerError> {
        let mut client = self.client()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(
                "SELECT id, at, actor, action, subject, detail FROM audit \
                 WHERE $1::TEXT IS NULL OR starts_with(subject, $1::TEXT) \
                 ORDER BY id DESC LIMIT $2",
                &[&subject_prefix, &limit],
            )
            .map_err(|e| self.error(&e))?;
        Ok(rows.iter().map(entry_row).collect())
    }
}
