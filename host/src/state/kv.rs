//! The KV store: one table for every plugin, each row keyed by the plugin's namespace (its
//! name key, taken by the host from the instance, never from the plugin) and the key.
//!
//! Every write runs in one `BEGIN IMMEDIATE` transaction that also updates the plugin's usage
//! row and checks its quota, so a write either happens whole, within quota, or not at all.

use std::fmt;
use std::path::PathBuf;

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use switchboard_sdk::manifest::name_key;
use switchboard_sdk::state::{
    valid_key, CasOutcome, CommitBatch, CommitOutcome, Expected, KvEntry, KvPage, KvWrite, MAX_PAGE,
};

use super::checksum;
use super::quota::{self, Quota, Usage};
use crate::error::StateError;
use crate::store::Store;

/// How many times a write retries when another process holds the database (each attempt also
/// waits up to the connection's busy timeout).
pub(crate) const BUSY_ATTEMPTS: u32 = 4;

/// One plugin's KV store, for host code: the same operations plugins have, on the host's
/// database, plus [`Kv::transaction`] over a real SQLite transaction.
///
/// Get one with [`Host::kv`](crate::Host::kv) (the plugin's own quota) or [`Store::kv`].
///
/// # Example
///
/// ```
/// use switchboard_host::Store;
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = Store::open(dir.path()).unwrap();
/// let kv = store.kv("notes");
/// kv.put("a", b"1").unwrap();
/// let n = kv
///     .transaction(|tx| {
///         let a = tx.get("a")?.unwrap_or_default();
///         tx.put("b", &a)?;
///         tx.delete("a")?;
///         Ok::<_, switchboard_host::StateError>(a.len())
///     })
///     .unwrap();
/// assert_eq!(n, 1);
/// assert_eq!(kv.get("a").unwrap(), None);
/// assert_eq!(kv.get("b").unwrap().as_deref(), Some(&b"1"[..]));
/// assert!(store.kv("other").get("b").unwrap().is_none());
/// ```
#[derive(Clone)]
pub struct Kv {
    store: Store,
    plugin: String,
    ns: String,
    quota: Quota,
}

impl fmt::Debug for Kv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kv")
            .field("plugin", &self.plugin)
            .field("quota", &self.quota)
            .finish_non_exhaustive()
    }
}

fn bad_key(plugin: &str, key: &str) -> StateError {
    StateError::BadKey {
        plugin: plugin.to_owned(),
        key: key.chars().take(80).collect(),
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Starts a write transaction, retrying while another process holds the database. (The
/// caller holds the store's lock, so no other user of this connection can interleave.)
pub(crate) fn begin(conn: &Connection) -> Result<Transaction<'_>, StateError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match Transaction::new_unchecked(conn, TransactionBehavior::Immediate) {
            Ok(tx) => return Ok(tx),
            Err(e) if is_busy(&e) && attempt < BUSY_ATTEMPTS => continue,
            Err(e) if is_busy(&e) => return Err(StateError::Busy { attempts: attempt }),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The plugin's usage row (bytes, keys) and its version counter.
pub(crate) fn usage(conn: &Connection, ns: &str) -> Result<(Usage, u64), StateError> {
    Ok(conn
        .prepare_cached("SELECT bytes, keys, seq FROM kv_usage WHERE plugin = ?1")?
        .query_row([ns], |r| {
            Ok((
                Usage {
                    bytes: r.get::<_, i64>(0)? as u64,
                    keys: r.get::<_, i64>(1)? as u64,
                },
                r.get::<_, i64>(2)? as u64,
            ))
        })
        .optional()?
        .unwrap_or_default())
}

fn save_usage(conn: &Connection, ns: &str, usage: Usage, seq: u64) -> Result<(), StateError> {
    conn.prepare_cached(
        "INSERT INTO kv_usage (plugin, bytes, keys, seq) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (plugin) DO UPDATE SET bytes = ?2, keys = ?3, seq = ?4",
    )?
    .execute(params![
        ns,
        usage.bytes as i64,
        usage.keys as i64,
        seq as i64
    ])?;
    Ok(())
}

/// The newest backup in the data directory holding `store`, for corruption reports.
pub(crate) fn newest_backup(store: &Store) -> Option<PathBuf> {
    super::integrity::newest_backup_in(store.path().parent()?)
}

/// A write transaction on one plugin's keys, inside [`Kv::transaction`]. Reads see the
/// transaction's own writes; the quota is checked when it commits.
pub struct KvTransaction<'c> {
    tx: Transaction<'c>,
    kv: &'c Kv,
    before: Usage,
    usage: Usage,
    seq: u64,
}

impl fmt::Debug for KvTransaction<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvTransaction")
            .field("plugin", &self.kv.plugin)
            .field("usage", &self.usage)
            .finish_non_exhaustive()
    }
}

impl<'c> KvTransaction<'c> {
    fn new(tx: Transaction<'c>, kv: &'c Kv) -> Result<Self, StateError> {
        let (before, seq) = usage(&tx, &kv.ns)?;
        Ok(KvTransaction {
            tx,
            kv,
            before,
            usage: before,
            seq,
        })
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.entry(key)?.map(|e| e.value))
    }

    /// The value under `key` with its version.
    pub fn entry(&self, key: &str) -> Result<Option<KvEntry>, StateError> {
        self.kv.read(&self.tx, key)
    }

    /// The plugin's version counter as this transaction sees it.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// The transaction's connection, for other state tables written with the keys.
    pub(crate) fn conn(&self) -> &Connection {
        &self.tx
    }

    /// Writes `value` under `key`; returns its version.
    pub fn put(&mut self, key: &str, value: &[u8]) -> Result<u64, StateError> {
        self.write(key, Some(value)).map(Option::unwrap_or_default)
    }

    /// Deletes `key`; returns whether it existed.
    pub fn delete(&mut self, key: &str) -> Result<bool, StateError> {
        let existed = self.size_of(key)?.is_some();
        self.write(key, None)?;
        Ok(existed)
    }

    /// One page of the keys starting with `prefix` (see [`Kv::list_page`]).
    pub fn list_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<KvPage, StateError> {
        self.kv.list_in(&self.tx, prefix, after, limit)
    }

    fn size_of(&self, key: &str) -> Result<Option<u64>, StateError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT length(CAST(value AS BLOB)) FROM kv WHERE plugin = ?1 AND key = ?2",
            )?
            .query_row(params![self.kv.ns, key], |r| r.get::<_, i64>(0))
            .optional()?
            .map(|n| n as u64 + key.len() as u64))
    }

    fn write(&mut self, key: &str, value: Option<&[u8]>) -> Result<Option<u64>, StateError> {
        if !valid_key(key) {
            return Err(bad_key(&self.kv.plugin, key));
        }
        let old = self.size_of(key)?;
        if let Some(old) = old {
            self.usage.bytes -= old.min(self.usage.bytes);
            self.usage.keys = self.usage.keys.saturating_sub(1);
        }
        match value {
            Some(v) => {
                self.seq += 1;
                self.tx
                    .prepare_cached(
                        "INSERT INTO kv (plugin, key, value, version, checksum)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (plugin, key) DO UPDATE
                         SET value = ?3, version = ?4, checksum = ?5",
                    )?
                    .execute(params![
                        self.kv.ns,
                        key,
                        v,
                        self.seq as i64,
                        checksum::of(&self.kv.ns, key, v).as_slice()
                    ])?;
                self.usage.bytes += (key.len() + v.len()) as u64;
                self.usage.keys += 1;
                Ok(Some(self.seq))
            }
            None => {
                if old.is_some() {
                    self.tx
                        .prepare_cached("DELETE FROM kv WHERE plugin = ?1 AND key = ?2")?
                        .execute(params![self.kv.ns, key])?;
                }
                Ok(None)
            }
        }
    }

    /// Checks the quota and commits.
    fn commit(self) -> Result<(), StateError> {
        quota::check(&self.kv.plugin, self.kv.quota, self.before, self.usage)?;
        save_usage(&self.tx, &self.kv.ns, self.usage, self.seq)?;
        self.tx.commit()?;
        Ok(())
    }
}

impl Kv {
    pub(crate) fn new(store: Store, plugin: &str, quota: Quota) -> Self {
        Kv {
            store,
            plugin: plugin.to_owned(),
            ns: name_key(plugin),
            quota,
        }
    }

    /// The plugin this store belongs to.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// The quota writes are checked against.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// What the plugin holds now.
    pub fn usage(&self) -> Result<Usage, StateError> {
        let conn = self.store.lock();
        Ok(usage(&conn, &self.ns)?.0)
    }

    fn read(&self, conn: &Connection, key: &str) -> Result<Option<KvEntry>, StateError> {
        if !valid_key(key) {
            return Err(bad_key(&self.plugin, key));
        }
        let row = conn
            .prepare_cached(
                "SELECT value, version, checksum FROM kv WHERE plugin = ?1 AND key = ?2",
            )?
            .query_row(params![self.ns, key], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })
            .optional()?;
        row.map(|(value, version, sum)| self.verified(key, value, version, &sum))
            .transpose()
    }

    fn verified(
        &self,
        key: &str,
        value: Vec<u8>,
        version: i64,
        sum: &[u8],
    ) -> Result<KvEntry, StateError> {
        if !checksum::matches(&self.ns, key, &value, sum) {
            return Err(StateError::Corrupt {
                plugin: self.plugin.clone(),
                what: "KV value",
                key: key.chars().take(80).collect(),
                backup: newest_backup(&self.store),
            });
        }
        Ok(KvEntry {
            value,
            version: version as u64,
        })
    }

    fn list_in(
        &self,
        conn: &Connection,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<KvPage, StateError> {
        let limit = limit.clamp(1, MAX_PAGE) as usize;
        let mut stmt = conn.prepare_cached(
            "SELECT key, value, version, checksum FROM kv
             WHERE plugin = ?1 AND key >= ?2 AND (?3 IS NULL OR key > ?3)
             ORDER BY key LIMIT ?4",
        )?;
        let mut rows = stmt.query(params![self.ns, prefix, after, (limit + 1) as i64])?;
        let mut entries = Vec::new();
        let mut more = false;
        while let Some(r) = rows.next()? {
            let key: String = r.get(0)?;
            if !key.starts_with(prefix) {
                break;
            }
            if entries.len() == limit {
                more = true;
                break;
            }
            let entry = self.verified(&key, r.get(1)?, r.get(2)?, &r.get::<_, Vec<u8>>(3)?)?;
            entries.push((key, entry));
        }
        let next = if more {
            entries.last().map(|(k, _)| k.clone())
        } else {
            None
        };
        Ok(KvPage { entries, next })
    }

    /// The value under `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.entry(key)?.map(|e| e.value))
    }

    /// The value under `key` with its version. A value that fails its checksum is an error
    /// (`SB0704`) naming the plugin and the newest backup.
    pub fn entry(&self, key: &str) -> Result<Option<KvEntry>, StateError> {
        let conn = self.store.lock();
        self.read(&conn, key)
    }

    /// One page of the keys starting with `prefix`, in key order: at most `limit` (1 to
    /// 1000) entries after key `after`. `next` is set when more follow.
    pub fn list_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<KvPage, StateError> {
        let conn = self.store.lock();
        self.list_in(&conn, prefix, after, limit)
    }

    /// Writes `value` under `key`; returns its version. `SB0702` if over quota.
    pub fn put(&self, key: &str, value: &[u8]) -> Result<u64, StateError> {
        self.transaction(|tx| tx.put(key, value))
    }

    /// Deletes `key`; returns whether it existed.
    pub fn delete(&self, key: &str) -> Result<bool, StateError> {
        self.transaction(|tx| tx.delete(key))
    }

    /// Compare-and-swap, atomically: writes `new` (deletes with `None`) if `key` holds what
    /// `expected` says.
    pub fn cas(
        &self,
        key: &str,
        expected: &Expected,
        new: Option<&[u8]>,
    ) -> Result<CasOutcome, StateError> {
        self.transaction(|tx| {
            let current = tx.entry(key)?;
            let holds = match (expected, &current) {
                (Expected::Absent, None) => true,
                (Expected::Version(v), Some(e)) => e.version == *v,
                (Expected::Value(v), Some(e)) => &e.value == v,
                _ => false,
            };
            if !holds {
                return Ok(CasOutcome::Mismatch(current));
            }
            Ok(CasOutcome::Swapped(tx.write(key, new)?))
        })
    }

    /// Applies an optimistic transaction's batch: in one database transaction, checks that
    /// every key read still has the version seen, then applies the writes and checks the
    /// quota. All or nothing.
    pub fn commit(&self, batch: &CommitBatch) -> Result<CommitOutcome, StateError> {
        self.transaction(|tx| {
            for (key, seen) in &batch.reads {
                if tx.entry(key)?.map(|e| e.version) != *seen {
                    return Ok(CommitOutcome::Conflict(key.clone()));
                }
            }
            for KvWrite { key, value } in &batch.writes {
                tx.write(key, value.as_deref())?;
            }
            Ok(CommitOutcome::Committed)
        })
    }

    /// Runs `f` in one SQLite `BEGIN IMMEDIATE` transaction on this plugin's keys: commits if
    /// `f` returns `Ok` and the quota holds, rolls back otherwise. Other writers wait (this
    /// process's through the store's lock, other processes through SQLite's, retried on
    /// `SQLITE_BUSY`), so there are no conflicts to retry.
    ///
    /// The closure runs under the store's lock: use `tx` for every access, never the
    /// [`Store`] or another [`Kv`] of the same database (that would wait on the lock held).
    pub fn transaction<T, E: From<StateError>>(
        &self,
        f: impl FnOnce(&mut KvTransaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let conn = self.store.lock();
        let tx = begin(&conn)?;
        let mut tx = KvTransaction::new(tx, self)?;
        let out = f(&mut tx)?;
        tx.commit()?;
        Ok(out)
    }
}

impl Store {
    /// The KV store of `plugin` in this database, with no quota (for host tools; hosts use
    /// [`Host::kv`](crate::Host::kv), which applies the plugin's quota).
    pub fn kv(&self, plugin: &str) -> Kv {
        Kv::new(self.clone(), plugin, Quota::UNLIMITED)
    }

    /// The KV store of `plugin` with `quota` enforced.
    pub fn kv_with_quota(&self, plugin: &str, quota: Quota) -> Kv {
        Kv::new(self.clone(), plugin, quota)
    }
}
