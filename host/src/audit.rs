//! The tamper-evident audit log (SPEC S4.4, ARCHITECTURE D7).
//!
//! Append-only rows in the host database: grants, denials, revocations, loads, state changes
//! (installs join with packages). Each row stores the SHA-256 of the previous row and its own
//! hash over its content and that previous hash — a hash chain — and `audit_head` stores the
//! last row's id and hash. [`AuditLog::verify`] walks the chain and reports the first row where
//! it breaks: an edited row no longer matches its hash, a deleted or reordered row breaks the
//! link to its successor, and rows cut off the end no longer match the head.
//!
//! What this does not do: someone who can rewrite the whole database file can also recompute
//! every hash. To detect that, keep the head hash [`verify`](AuditLog::verify) reports
//! somewhere else (a ticket, another machine) and compare later.

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use rusqlite::{params, params_from_iter, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::store::Store;
use crate::timestamp::Timestamp;

/// The previous-row hash of the first row.
const GENESIS: [u8; 32] = [0; 32];

/// What an audit row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditKind {
    /// A capability was granted.
    Grant,
    /// A capability request was refused, or an access denied.
    Deny,
    /// A grant was revoked.
    Revoke,
    /// A plugin was loaded, or its load refused.
    Load,
    /// A plugin changed lifecycle state.
    State,
    /// A package was installed, updated or removed.
    Install,
}

impl AuditKind {
    /// Every kind.
    pub const ALL: [AuditKind; 6] = [
        AuditKind::Grant,
        AuditKind::Deny,
        AuditKind::Revoke,
        AuditKind::Load,
        AuditKind::State,
        AuditKind::Install,
    ];

    /// The kind's name, as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditKind::Grant => "grant",
            AuditKind::Deny => "deny",
            AuditKind::Revoke => "revoke",
            AuditKind::Load => "load",
            AuditKind::State => "state",
            AuditKind::Install => "install",
        }
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not an audit kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an audit kind: write grant, deny, revoke, load, state or install")]
pub struct AuditKindError(String);

impl FromStr for AuditKind {
    type Err = AuditKindError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuditKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| AuditKindError(s.to_owned()))
    }
}

/// A row to append.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditEvent {
    /// What happened.
    pub kind: AuditKind,
    /// The plugin it concerns.
    pub plugin: String,
    /// What it concerns: a capability, an access, a state, a version.
    pub subject: String,
    /// Details, as a JSON object.
    pub detail: String,
}

impl AuditEvent {
    /// An event; `detail` is a JSON value (usually an object).
    pub fn new(
        kind: AuditKind,
        plugin: impl Into<String>,
        subject: impl Into<String>,
        detail: serde_json::Value,
    ) -> Self {
        AuditEvent {
            kind,
            plugin: plugin.into(),
            subject: subject.into(),
            detail: detail.to_string(),
        }
    }
}

/// One stored row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AuditRecord {
    /// Its position in the log, from 1.
    pub id: i64,
    /// When it was appended.
    pub at: Timestamp,
    /// What happened (an [`AuditKind`] name).
    pub kind: String,
    /// The plugin it concerns.
    pub plugin: String,
    /// What it concerns.
    pub subject: String,
    /// Details, as JSON text.
    pub detail: String,
    /// The previous row's hash, hex.
    #[serde(serialize_with = "hex_ser")]
    pub prev_hash: [u8; 32],
    /// This row's hash, hex.
    #[serde(serialize_with = "hex_ser")]
    pub hash: [u8; 32],
}

fn hex_ser<S: serde::Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(h))
}

fn row_hash(
    id: i64,
    at: i64,
    kind: &str,
    plugin: &str,
    subject: &str,
    detail: &str,
    prev: &[u8],
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"switchboard-audit-v1\0");
    h.update(id.to_le_bytes());
    h.update(at.to_le_bytes());
    for field in [kind, plugin, subject, detail] {
        h.update((field.len() as u64).to_le_bytes());
        h.update(field.as_bytes());
    }
    h.update(prev);
    h.finalize().into()
}

impl AuditRecord {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRecord> {
        Ok(AuditRecord {
            id: r.get(0)?,
            at: Timestamp::from_millis(r.get(1)?),
            kind: r.get(2)?,
            plugin: r.get(3)?,
            subject: r.get(4)?,
            detail: r.get(5)?,
            prev_hash: hash_col(r, 6)?,
            hash: hash_col(r, 7)?,
        })
    }

    /// Whether the row's hash matches its content and previous hash.
    pub fn hash_is_valid(&self) -> bool {
        row_hash(
            self.id,
            self.at.as_millis(),
            &self.kind,
            &self.plugin,
            &self.subject,
            &self.detail,
            &self.prev_hash,
        ) == self.hash
    }
}

/// A hash column; a value of the wrong size reads as all ones, which never verifies.
fn hash_col(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<[u8; 32]> {
    let v: Vec<u8> = r.get(i)?;
    Ok(v.try_into().unwrap_or([0xff; 32]))
}

/// Which rows a query returns. Empty means all.
///
/// # Example
///
/// ```
/// use switchboard_host::{AuditFilter, AuditKind, Timestamp};
///
/// let f = AuditFilter::new()
///     .plugin("hello")
///     .kind(AuditKind::Deny)
///     .since("2025-01-01".parse::<Timestamp>().unwrap())
///     .limit(100);
/// assert_eq!(f.plugin.as_deref(), Some("hello"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditFilter {
    /// Only rows about this plugin.
    pub plugin: Option<String>,
    /// Only rows of this kind.
    pub kind: Option<AuditKind>,
    /// Only rows at or after this time.
    pub since: Option<Timestamp>,
    /// Only rows before this time.
    pub until: Option<Timestamp>,
    /// At most this many rows (the first ones, in log order).
    pub limit: Option<usize>,
}

impl AuditFilter {
    /// Every row.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only rows about `plugin`.
    pub fn plugin(mut self, plugin: impl Into<String>) -> Self {
        self.plugin = Some(plugin.into());
        self
    }

    /// Only rows of `kind`.
    pub fn kind(mut self, kind: AuditKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// Only rows at or after `t`.
    pub fn since(mut self, t: Timestamp) -> Self {
        self.since = Some(t);
        self
    }

    /// Only rows before `t`.
    pub fn until(mut self, t: Timestamp) -> Self {
        self.until = Some(t);
        self
    }

    /// At most `n` rows.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    fn sql(&self) -> (String, Vec<rusqlite::types::Value>) {
        use rusqlite::types::Value;
        let mut sql = String::from(
            "SELECT id, at_ms, kind, plugin, subject, detail, prev_hash, hash FROM audit",
        );
        let mut conds = Vec::new();
        let mut args = Vec::new();
        if let Some(p) = &self.plugin {
            conds.push("plugin = ?");
            args.push(Value::Text(p.clone()));
        }
        if let Some(k) = self.kind {
            conds.push("kind = ?");
            args.push(Value::Text(k.as_str().to_owned()));
        }
        if let Some(t) = self.since {
            conds.push("at_ms >= ?");
            args.push(Value::Integer(t.as_millis()));
        }
        if let Some(t) = self.until {
            conds.push("at_ms < ?");
            args.push(Value::Integer(t.as_millis()));
        }
        if !conds.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conds.join(" AND "));
        }
        sql.push_str(" ORDER BY id");
        if let Some(n) = self.limit {
            sql.push_str(" LIMIT ?");
            args.push(Value::Integer(i64::try_from(n).unwrap_or(i64::MAX)));
        }
        (sql, args)
    }
}

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ChainBreak {
    /// The first row that does not verify (for rows cut off the end: the id the head names).
    pub id: i64,
    /// How it breaks.
    pub reason: String,
}

/// The outcome of [`AuditLog::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Rows checked.
    pub rows: u64,
    /// The last row's hash, hex (keep it elsewhere to detect a rewritten file later).
    pub head: Option<String>,
    /// The first break, if any.
    pub broken: Option<ChainBreak>,
}

impl VerifyReport {
    /// Whether the whole chain verified.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }

    /// The report, or the break as a coded error (`SB0610`).
    pub fn into_result(self) -> Result<VerifyReport, StoreError> {
        match self.broken {
            Some(b) => Err(StoreError::ChainBroken {
                id: b.id,
                reason: b.reason,
            }),
            None => Ok(self),
        }
    }
}

/// The audit log of one host database. Cheap to clone.
///
/// # Example
///
/// ```
/// use serde_json::json;
/// use switchboard_host::{AuditEvent, AuditFilter, AuditKind, Store};
///
/// let dir = tempfile::tempdir().unwrap();
/// let log = Store::open(dir.path()).unwrap().audit();
/// log.append(&AuditEvent::new(AuditKind::Grant, "hello", "kv", json!({"scope": "session"})))
///     .unwrap();
/// let rows = log.query(&AuditFilter::new().plugin("hello")).unwrap();
/// assert_eq!(rows[0].subject, "kv");
/// assert!(log.verify().unwrap().is_intact());
/// ```
#[derive(Debug, Clone)]
pub struct AuditLog {
    store: Store,
}

impl AuditLog {
    pub(crate) fn new(store: Store) -> Self {
        AuditLog { store }
    }

    /// Appends one row, chained to the last.
    pub fn append(&self, event: &AuditEvent) -> Result<AuditRecord, StoreError> {
        let mut out = self.append_all(std::slice::from_ref(event))?;
        out.pop().ok_or(StoreError::Sqlite {
            reason: "the append produced no row".into(),
        })
    }

    /// Appends rows in one transaction, chained in order.
    pub fn append_all(&self, events: &[AuditEvent]) -> Result<Vec<AuditRecord>, StoreError> {
        self.store.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let head: Option<(i64, Vec<u8>)> = tx
                .query_row(
                    "SELECT last_id, last_hash FROM audit_head WHERE id = 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let (mut id, mut prev) = match head {
                Some((id, h)) => (id, h.try_into().unwrap_or([0xff; 32])),
                None => (0, GENESIS),
            };
            let at = Timestamp::now();
            let mut out = Vec::with_capacity(events.len());
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO audit (id, at_ms, kind, plugin, subject, detail, prev_hash, hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for e in events {
                    id += 1;
                    let kind = e.kind.as_str();
                    let hash = row_hash(
                        id,
                        at.as_millis(),
                        kind,
                        &e.plugin,
                        &e.subject,
                        &e.detail,
                        &prev,
                    );
                    insert.execute(params![
                        id,
                        at.as_millis(),
                        kind,
                        e.plugin,
                        e.subject,
                        e.detail,
                        &prev[..],
                        &hash[..]
                    ])?;
                    out.push(AuditRecord {
                        id,
                        at,
                        kind: kind.to_owned(),
                        plugin: e.plugin.clone(),
                        subject: e.subject.clone(),
                        detail: e.detail.clone(),
                        prev_hash: prev,
                        hash,
                    });
                    prev = hash;
                }
            }
            tx.execute(
                "INSERT OR REPLACE INTO audit_head (id, last_id, last_hash) VALUES (1, ?1, ?2)",
                params![id, &prev[..]],
            )?;
            tx.commit()?;
            Ok(out)
        })
    }

    /// Calls `f` with every row the filter selects, in log order, without collecting them.
    pub fn for_each(
        &self,
        filter: &AuditFilter,
        mut f: impl FnMut(AuditRecord) -> Result<(), StoreError>,
    ) -> Result<usize, StoreError> {
        let (sql, args) = filter.sql();
        self.store.with(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows = stmt.query(params_from_iter(args))?;
            let mut n = 0;
            while let Some(row) = rows.next()? {
                f(AuditRecord::from_row(row)?)?;
                n += 1;
            }
            Ok(n)
        })
    }

    /// The rows the filter selects, in log order.
    pub fn query(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let mut out = Vec::new();
        self.for_each(filter, |r| {
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }

    /// How many rows the log holds.
    pub fn len(&self) -> Result<u64, StoreError> {
        self.store.with(|c| {
            Ok(
                c.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get::<_, i64>(0))?
                    .unsigned_abs(),
            )
        })
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// Writes the selected rows as JSON lines (one object per row); returns how many.
    pub fn export_jsonl(
        &self,
        filter: &AuditFilter,
        out: &mut dyn Write,
    ) -> Result<usize, StoreError> {
        self.for_each(filter, |r| {
            serde_json::to_writer(&mut *out, &r).map_err(|e| StoreError::Export {
                reason: e.to_string(),
            })?;
            out.write_all(b"\n").map_err(export_err)
        })
    }

    /// Writes the selected rows as CSV with a header line; returns how many rows.
    pub fn export_csv(
        &self,
        filter: &AuditFilter,
        out: &mut dyn Write,
    ) -> Result<usize, StoreError> {
        out.write_all(b"id,at,kind,plugin,subject,detail,prev_hash,hash\n")
            .map_err(export_err)?;
        self.for_each(filter, |r| {
            let fields = [
                r.id.to_string(),
                r.at.to_string(),
                r.kind,
                r.plugin,
                r.subject,
                r.detail,
                hex::encode(r.prev_hash),
                hex::encode(r.hash),
            ];
            let line = fields
                .iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(",");
            writeln!(out, "{line}").map_err(export_err)
        })
    }

    /// Walks the whole chain and reports the first row where it breaks.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.store.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id, at_ms, kind, plugin, subject, detail, prev_hash, hash
                 FROM audit ORDER BY id",
            )?;
            let mut rows = stmt.query([])?;
            let mut expected_id = 1i64;
            let mut prev = GENESIS;
            let mut count = 0u64;
            let mut broken = None;
            while let Some(row) = rows.next()? {
                let r = AuditRecord::from_row(row)?;
                let reason = if r.id != expected_id {
                    Some(if r.id > expected_id {
                        format!("row {expected_id} is missing (the next row is {})", r.id)
                    } else {
                        format!("row id {} is out of order", r.id)
                    })
                } else if r.prev_hash != prev {
                    Some(
                        "its previous-row hash does not match the row before it (a row was \
                          deleted, inserted or reordered)"
                            .to_owned(),
                    )
                } else if !r.hash_is_valid() {
                    Some("its content does not match its hash (the row was edited)".to_owned())
                } else {
                    None
                };
                if let Some(reason) = reason {
                    broken = Some(ChainBreak {
                        id: r.id.min(expected_id),
                        reason,
                    });
                    break;
                }
                prev = r.hash;
                expected_id += 1;
                count += 1;
            }
            drop(rows);
            if broken.is_none() {
                let head: Option<(i64, Vec<u8>)> = c
                    .query_row(
                        "SELECT last_id, last_hash FROM audit_head WHERE id = 1",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let last_id = expected_id - 1;
                match head {
                    Some((id, hash)) if id != last_id || hash != prev => {
                        broken = Some(ChainBreak {
                            id: (last_id + 1).min(id.max(1)),
                            reason: format!(
                                "the log ends at row {last_id}, but its head names row {id}: \
                                 rows were removed from the end"
                            ),
                        });
                    }
                    None if count > 0 => {
                        broken = Some(ChainBreak {
                            id: 1,
                            reason: "the log has rows but no head record".into(),
                        });
                    }
                    _ => {}
                }
            }
            Ok(VerifyReport {
                rows: count,
                head: (count > 0).then(|| hex::encode(prev)),
                broken,
            })
        })
    }
}

fn export_err(e: std::io::Error) -> StoreError {
    StoreError::Export {
        reason: e.to_string(),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests;
