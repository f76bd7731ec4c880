//! The tamper-evident audit log (SPEC S4.4, ARCHITECTURE D7).
//!
//! Append-only rows in the host database: grants, denials, revocations, loads, state changes
//! (installs join with packages). Each row stores the SHA-256 of the previous row and its own
//! hash over its content and that previous hash — a hash chain — and `audit_head` stores the
//! last row's id and hash. [`AuditLog::verify`] walks the chain and reports the first row where
//! it breaks: an edited row no longer matches its hash, a deleted or reordered row breaks the
//! link to its successor, and rows cut off the end no longer match the head.
//!
//! The chain alone cannot see the end of the log cut off with the head row rewritten to match,
//! nor every row deleted, nor the whole file rewritten with every hash recomputed: the end of
//! the log is anchored outside the database (ARCHITECTURE D15). [`Checkpoint`]s — the row count
//! and head hash, signed with the host's [`AuditKey`] — are written beside the database by the
//! host (every N appends and when it is dropped), and [`AuditLog::verify_anchored`] checks the
//! log against one, or against a head hash kept elsewhere ([`AuditAnchors::expect_head`]).

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use rusqlite::{params, params_from_iter, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::store::Store;
use crate::timestamp::Timestamp;

mod checkpoint;

pub(crate) use self::checkpoint::Checkpointer;
pub use self::checkpoint::{
    AuditKey, Checkpoint, VerifiedCheckpoint, AUDIT_KEY_FILE, AUDIT_PUBLIC_KEY_FILE,
    CHECKPOINT_FILE,
};

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
    /// A plugin's data was bound to an identity, transferred to another, or wiped.
    Identity,
    /// An isolated plugin's runner crashed, timed out, was restarted, or was given up.
    Isolation,
    /// A plugin's code was hot-reloaded, or a reload refused or failed.
    Reload,
    /// A plugin's health changed (healthy, degraded, unhealthy).
    Health,
    /// An SLO alert started firing or resolved.
    Slo,
}

impl AuditKind {
    /// Every kind.
    pub const ALL: [AuditKind; 11] = [
        AuditKind::Grant,
        AuditKind::Deny,
        AuditKind::Revoke,
        AuditKind::Load,
        AuditKind::State,
        AuditKind::Install,
        AuditKind::Identity,
        AuditKind::Isolation,
        AuditKind::Reload,
        AuditKind::Health,
        AuditKind::Slo,
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
            AuditKind::Identity => "identity",
            AuditKind::Isolation => "isolation",
            AuditKind::Reload => "reload",
            AuditKind::Health => "health",
            AuditKind::Slo => "slo",
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
#[error("`{0}` is not an audit kind: write one of {kinds}", kinds = AuditKind::ALL.map(AuditKind::as_str).join(", "))]
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

/// The outcome of [`AuditLog::verify`] and [`AuditLog::verify_anchored`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Rows checked.
    pub rows: u64,
    /// The last row's hash, hex (keep it elsewhere to detect a rewritten file later).
    pub head: Option<String>,
    /// The first break, if any.
    pub broken: Option<ChainBreak>,
    /// The signed checkpoint the log was checked against, if any.
    pub checkpoint: Option<Checkpoint>,
    /// The head hash the log had to contain, hex, if one was given.
    pub expected_head: Option<String>,
}

/// What [`AuditLog::verify_anchored`] checks the log against, beyond its own hash chain.
///
/// - A [`VerifiedCheckpoint`]: the log must still hold row `rows` with hash `head`. Detects
///   rows cut off the end (even with the head row rewritten), every row deleted, and any
///   rewrite of rows up to the checkpoint, including one that recomputed every hash. Rows
///   appended after it are covered by the chain alone.
/// - An expected head hash (one that `verify` or a checkpoint reported earlier and that was
///   kept elsewhere): some row must hash to it. Detects the same, up to that row, with no key.
///
/// # Example
///
/// ```
/// use serde_json::json;
/// use switchboard_host::{AuditAnchors, AuditEvent, AuditKey, AuditKind, Store};
///
/// let dir = tempfile::tempdir().unwrap();
/// let log = Store::open(dir.path()).unwrap().audit();
/// log.append(&AuditEvent::new(AuditKind::Grant, "hello", "kv", json!({}))).unwrap();
/// let key = AuditKey::generate().unwrap();
/// let checkpoint = log.sign_checkpoint(&key).unwrap().unwrap();
/// let verified = checkpoint.verify(key.public_key()).unwrap();
/// let report = log.verify_anchored(&AuditAnchors::new().checkpoint(verified)).unwrap();
/// assert!(report.is_intact());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditAnchors {
    /// The checkpoint to check against.
    pub checkpoint: Option<VerifiedCheckpoint>,
    /// A hash some row must have.
    pub expect_head: Option<[u8; 32]>,
}

impl AuditAnchors {
    /// No anchor: the chain alone.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks against a checkpoint whose signature verified.
    pub fn checkpoint(mut self, checkpoint: VerifiedCheckpoint) -> Self {
        self.checkpoint = Some(checkpoint);
        self
    }

    /// Requires a row whose hash is `head`.
    pub fn expect_head(mut self, head: [u8; 32]) -> Self {
        self.expect_head = Some(head);
        self
    }
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
        let out = self.append_all_unanchored(events)?;
        if let Some(checkpointer) = self.store.checkpointer() {
            checkpointer.appended(out.len() as u64, self);
        }
        Ok(out)
    }

    fn append_all_unanchored(&self, events: &[AuditEvent]) -> Result<Vec<AuditRecord>, StoreError> {
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

    /// Walks the whole chain and reports the first row where it breaks. This sees edits,
    /// deletions and reordering, but not rows cut off the end with the head rewritten to
    /// match: see [`verify_anchored`](AuditLog::verify_anchored).
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.verify_anchored(&AuditAnchors::new())
    }

    /// Walks the whole chain, then checks it against `anchors` (a signed checkpoint, an
    /// expected head hash), and reports the first break.
    pub fn verify_anchored(&self, anchors: &AuditAnchors) -> Result<VerifyReport, StoreError> {
        // One read transaction, so rows another process appends meanwhile are not mistaken
        // for a head that names rows past the end.
        self.store.with(|c| {
            let tx = c.transaction()?;
            walk(&tx, 1, anchors)
        })
    }

    /// Signs a checkpoint of the current head with `key`; `None` while the log is empty. The
    /// caller writes it where it wants ([`Checkpoint::write`]); a host writes its own.
    pub fn sign_checkpoint(&self, key: &AuditKey) -> Result<Option<Checkpoint>, StoreError> {
        self.sign_checkpoint_after(key, None)
    }

    /// Signs a checkpoint of the current head, after checking that the log still extends
    /// `previous` (its row and hash are there, and every row after it chains): a host never
    /// signs over a log that was cut or rewritten since its last checkpoint. The walk covers
    /// only the rows since `previous`; with none, the whole chain.
    pub(crate) fn sign_checkpoint_after(
        &self,
        key: &AuditKey,
        previous: Option<&Checkpoint>,
    ) -> Result<Option<Checkpoint>, StoreError> {
        // One read transaction: the rows walked and the head signed are the same snapshot,
        // even with another process appending.
        let (report, head) = self.store.with(|c| {
            let tx = c.transaction()?;
            let report = match previous {
                Some(p) if p.rows > 0 => walk(
                    &tx,
                    i64::try_from(p.rows).unwrap_or(i64::MAX),
                    &AuditAnchors::new().checkpoint(VerifiedCheckpoint::trusted(p.clone())),
                ),
                _ => walk(&tx, 1, &AuditAnchors::new()),
            }?;
            let head: Option<(i64, Vec<u8>)> = tx
                .query_row(
                    "SELECT last_id, last_hash FROM audit_head WHERE id = 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            Ok((report, head))
        })?;
        let report = report.into_result()?;
        let Some((rows, hash)) = head.filter(|_| report.rows > 0 || previous.is_some()) else {
            return Ok(None);
        };
        let hash: [u8; 32] = hash.try_into().map_err(|_| StoreError::ChainBroken {
            id: rows,
            reason: "the head record's hash is not 32 bytes".into(),
        })?;
        key.sign(rows.unsigned_abs(), hash).map(Some)
    }
}

/// Walks the chain from row `from` (1: the whole log, checking the first link against the
/// genesis hash; later rows: the first link is not checked, and `anchors` is expected to pin
/// that row), then checks the head record and the anchors.
fn walk(
    c: &rusqlite::Connection,
    from: i64,
    anchors: &AuditAnchors,
) -> Result<VerifyReport, StoreError> {
    let checkpoint = anchors
        .checkpoint
        .as_ref()
        .map(VerifiedCheckpoint::checkpoint);
    let pinned = checkpoint.map(|cp| (i64::try_from(cp.rows).unwrap_or(i64::MAX), cp));
    let mut stmt = c.prepare(
        "SELECT id, at_ms, kind, plugin, subject, detail, prev_hash, hash
         FROM audit WHERE id >= ?1 ORDER BY id",
    )?;
    let mut rows = stmt.query([from])?;
    let mut expected_id = from;
    let mut prev = (from == 1).then_some(GENESIS);
    let mut count = 0u64;
    let mut broken = None;
    let mut seen_expected = false;
    while let Some(row) = rows.next()? {
        let r = AuditRecord::from_row(row)?;
        let reason = if r.id != expected_id {
            Some(if r.id > expected_id {
                format!("row {expected_id} is missing (the next row is {})", r.id)
            } else {
                format!("row id {} is out of order", r.id)
            })
        } else if prev.is_some_and(|p| r.prev_hash != p) {
            Some(
                "its previous-row hash does not match the row before it (a row was \
                  deleted, inserted or reordered)"
                    .to_owned(),
            )
        } else if !r.hash_is_valid() {
            Some("its content does not match its hash (the row was edited)".to_owned())
        } else if let Some((_, cp)) = pinned.filter(|(id, cp)| *id == r.id && cp.head != r.hash) {
            Some(format!(
                "it differs from the checkpoint signed at {} by key {}: the log was rewritten \
                 up to here",
                cp.at, cp.key_id
            ))
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
        seen_expected |= anchors.expect_head == Some(r.hash);
        prev = Some(r.hash);
        expected_id += 1;
        count += 1;
    }
    drop(rows);
    let last_id = expected_id - 1;
    if broken.is_none() {
        let head: Option<(i64, Vec<u8>)> = c
            .query_row(
                "SELECT last_id, last_hash FROM audit_head WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match head {
            Some((id, hash)) if id != last_id || prev.is_some_and(|p| hash != p) => {
                broken = Some(ChainBreak {
                    id: (last_id + 1).min(id.max(1)),
                    reason: format!(
                        "the log ends at row {last_id}, but its head names row {id}: \
                         rows were removed from the end"
                    ),
                });
            }
            None if last_id > 0 => {
                broken = Some(ChainBreak {
                    id: 1,
                    reason: "the log has rows but no head record".into(),
                });
            }
            _ => {}
        }
    }
    if broken.is_none() {
        if let Some((rows, cp)) = pinned.filter(|(rows, _)| *rows > last_id) {
            let what = if last_id == 0 {
                "the log is empty".to_owned()
            } else {
                format!("the log ends at row {last_id}")
            };
            broken = Some(ChainBreak {
                id: last_id + 1,
                reason: format!(
                    "{what}, but the checkpoint signed at {} by key {} covers {rows} rows: \
                     rows were removed from the end",
                    cp.at, cp.key_id
                ),
            });
        }
    }
    if broken.is_none() {
        if let Some(h) = anchors.expect_head.filter(|_| !seen_expected) {
            broken = Some(ChainBreak {
                id: last_id + 1,
                reason: format!(
                    "no row hashes to the expected head {}: the log was cut before it or \
                     rewritten",
                    hex::encode(h)
                ),
            });
        }
    }
    Ok(VerifyReport {
        rows: count,
        head: prev.filter(|_| count > 0).map(hex::encode),
        broken,
        checkpoint: checkpoint.cloned(),
        expected_head: anchors.expect_head.map(hex::encode),
    })
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
