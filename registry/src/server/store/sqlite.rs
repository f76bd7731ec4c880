//! The default store: SQLite (`server.db` in the data directory, `0600`), one connection
//! behind a mutex (requests use it from the blocking pool; SQLite has one writer anyway).
//!
//! Schema 2 (from 1): `publishers` (one account per name) became `owners` (several accounts
//! per name, each added explicitly); `keys`, `uploads`, `checks` and `downloads` are new.
//! Schema 3 (from 2) adds `audit`, the server's audit trail ([`super::audit`]). Schema 4
//! (from 3) adds `certifications` and `certification_checks` ([`super::certification`]);
//! schema 5 (from 4) adds `reviews` and `reports` ([`super::reviews`]); schema 6 (from 5)
//! adds the marketplace's tables ([`super::market`]): `pricing`, `sales`, `entitlements`,
//! `trials`, `refunds`, `fee_rates`, `payout_thresholds`, `disputes`, `downloads_daily`. The
//! version is SQLite's `user_version`; a database of a newer schema is refused (`SB1377`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{OwnerRemoval, Store, StoredToken};
use crate::error::ServerError;
use crate::server::accounts::{BoundKey, Owner};
use crate::server::uploads::{CheckResult, Outcome, Upload, UploadState};

/// Search stays in memory on SQLite.
impl super::catalog_search::CatalogSearch for SqliteStore {}

/// The schema version this server writes.
pub const SCHEMA_VERSION: i64 = 7;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tokens (
    id          TEXT PRIMARY KEY,
    account     TEXT NOT NULL,
    scope       TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created     INTEGER NOT NULL,
    expires     INTEGER,
    revoked     INTEGER
);
CREATE TABLE IF NOT EXISTS owners (
    plugin      TEXT NOT NULL,
    account     TEXT NOT NULL,
    since       INTEGER NOT NULL,
    added_by    TEXT NOT NULL,
    PRIMARY KEY (plugin, account)
);
CREATE TABLE IF NOT EXISTS keys (
    key_id      TEXT PRIMARY KEY,
    account     TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    added       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS keys_account ON keys (account);
CREATE TABLE IF NOT EXISTS uploads (
    id          TEXT PRIMARY KEY,
    account     TEXT NOT NULL,
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    channel     TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    state       TEXT NOT NULL,
    reason      TEXT,
    created     INTEGER NOT NULL,
    decided     INTEGER,
    decided_by  TEXT
);
CREATE INDEX IF NOT EXISTS uploads_name ON uploads (name, version);
CREATE INDEX IF NOT EXISTS uploads_state ON uploads (state);
CREATE TABLE IF NOT EXISTS checks (
    upload      TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    name        TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    code        TEXT,
    message     TEXT NOT NULL,
    PRIMARY KEY (upload, seq)
);
CREATE TABLE IF NOT EXISTS downloads (
    plugin      TEXT PRIMARY KEY,
    count       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_subject ON audit (subject, id);
";

/// Schema 1 kept one publishing account per name; each becomes that name's first owner.
const MIGRATE_1: &str = "
INSERT OR IGNORE INTO owners (plugin, account, since, added_by)
    SELECT plugin, account, since, account FROM publishers;
DROP TABLE publishers;
";

/// SQLite in one file.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    location: String,
    conn: Mutex<Connection>,
    /// Rows the connection changed counting downloads ([`Store::count_download`]): left out
    /// of its change stamp (`store::changes`), since a download changes nothing a cached
    /// answer shows but its plugin's count, which the details cache compares on its own.
    download_rows: std::sync::atomic::AtomicU64,
}

impl SqliteStore {
    /// Opens (making on first use, `0600`) the database at `path` and brings its schema up.
    pub fn open(path: &Path) -> Result<SqliteStore, ServerError> {
        let fail = |reason: String| ServerError::Database {
            path: path.display().to_string(),
            reason,
        };
        if !path.exists() {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            options.open(path).map_err(|e| fail(e.to_string()))?;
        }
        let conn = Connection::open(path).map_err(|e| fail(e.to_string()))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| fail(e.to_string()))?;
        if version > SCHEMA_VERSION {
            return Err(fail(format!(
                "schema version {version} is newer than this server's ({SCHEMA_VERSION})"
            )));
        }
        let migrate = if version == 1 { MIGRATE_1 } else { "" };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; BEGIN; {SCHEMA} {} {} {} {} {migrate} \
             PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;",
            super::certification::SQLITE_SCHEMA,
            super::reviews::SQLITE_SCHEMA,
            super::market::SQLITE_SCHEMA,
            super::renewals::SQLITE_SCHEMA
        ))
        .map_err(|e| fail(e.to_string()))?;
        Ok(SqliteStore {
            path: path.to_owned(),
            location: path.display().to_string(),
            conn: Mutex::new(conn),
            download_rows: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Rows changed counting downloads so far (read under the connection's lock for a
    /// change stamp: see `store::changes`).
    pub(super) fn download_rows(&self) -> u64 {
        self.download_rows.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The connection (a poisoned lock is taken over: SQLite's own transactions keep the
    /// data consistent whatever a panicking holder left undone).
    pub fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The connection if no one holds it now (`None`: busy; a poisoned lock is taken over).
    pub fn try_conn(&self) -> Option<MutexGuard<'_, Connection>> {
        match self.conn.try_lock() {
            Ok(c) => Some(c),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    pub(super) fn error(&self, e: &rusqlite::Error) -> ServerError {
        ServerError::Database {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }

    fn with_checks(&self, conn: &Connection, mut u: Upload) -> Result<Upload, ServerError> {
        let mut stmt = conn
            .prepare_cached(
                "SELECT name, outcome, code, message FROM checks WHERE upload = ?1 ORDER BY seq",
            )
            .map_err(|e| self.error(&e))?;
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
            .map_err(|e| self.error(&e))?;
        Ok(u)
    }

    fn uploads_where(
        &self,
        sql_where: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<Upload>, ServerError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!("SELECT {UPLOAD_COLUMNS} FROM uploads {sql_where}"))
            .map_err(|e| self.error(&e))?;
        let found: Vec<Upload> = stmt
            .query_map(args, upload_row)
            .and_then(Iterator::collect)
            .map_err(|e| self.error(&e))?;
        drop(stmt);
        found
            .into_iter()
            .map(|u| self.with_checks(&conn, u))
            .collect()
    }
}

const UPLOAD_COLUMNS: &str =
    "id, account, name, version, channel, sha256, size, state, reason, created, decided, \
     decided_by";

fn upload_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Upload> {
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

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredToken> {
    Ok(StoredToken {
        id: r.get(0)?,
        account: r.get(1)?,
        scope: r.get(2)?,
        secret_hash: r.get(3)?,
        created: r.get(4)?,
        expires: r.get(5)?,
        revoked: r.get(6)?,
    })
}

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BoundKey> {
    Ok(BoundKey {
        key_id: r.get(0)?,
        account: r.get(1)?,
        public_key: r.get(2)?,
        added: r.get(3)?,
    })
}

const TOKEN_COLUMNS: &str = "id, account, scope, secret_hash, created, expires, revoked";
const KEY_COLUMNS: &str = "key_id, account, public_key, added";

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store for SqliteStore {
    fn location(&self) -> &str {
        &self.location
    }

    fn insert_token(&self, t: &StoredToken) -> Result<(), ServerError> {
        self.conn()
            .execute(
                "INSERT INTO tokens (id, account, scope, secret_hash, created, expires, revoked) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    t.id,
                    t.account,
                    t.scope,
                    t.secret_hash,
                    t.created,
                    t.expires,
                    t.revoked
                ],
            )
            .map(|_| ())
            .map_err(|e| self.error(&e))
    }

    fn token(&self, id: &str) -> Result<Option<StoredToken>, ServerError> {
        self.conn()
            .query_row(
                &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?1"),
                params![id],
                token_row,
            )
            .optional()
            .map_err(|e| self.error(&e))
    }

    fn tokens(&self) -> Result<Vec<StoredToken>, ServerError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created, id"
            ))
            .map_err(|e| self.error(&e))?;
        let rows = stmt
            .query_map([], token_row)
            .and_then(Iterator::collect)
            .map_err(|e| self.error(&e));
        rows
    }

    fn revoke_token(&self, id: &str, at: i64) -> Result<Option<StoredToken>, ServerError> {
        let conn = self.conn();
        conn.execute(
            "UPDATE tokens SET revoked = ?1 WHERE id = ?2 AND revoked IS NULL",
            params![at, id],
        )
        .map_err(|e| self.error(&e))?;
        conn.query_row(
            &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?1"),
            params![id],
            token_row,
        )
        .optional()
        .map_err(|e| self.error(&e))
    }

    fn owners(&self, plugin: &str) -> Result<Vec<Owner>, ServerError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT account, since, added_by FROM owners WHERE plugin = ?1 \
                 ORDER BY since, rowid",
            )
            .map_err(|e| self.error(&e))?;
        let rows = stmt
            .query_map(params![plugin], |r| {
                Ok(Owner {
                    account: r.get(0)?,
                    since: r.get(1)?,
                    added_by: r.get(2)?,
                })
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.error(&e));
        rows
    }

    fn claim_new(&self, plugin: &str, account: &str, at: i64) -> Result<bool, ServerError> {
        // One statement: SQLite runs it under its write lock, so the check and the insert
        // cannot interleave with another connection's.
        let inserted = self
            .conn()
            .execute(
                "INSERT INTO owners (plugin, account, since, added_by) \
                 SELECT ?1, ?2, ?3, ?2 WHERE NOT EXISTS (SELECT 1 FROM owners WHERE plugin = ?1)",
                params![plugin, account, at],
            )
            .map_err(|e| self.error(&e))?;
        Ok(inserted == 1)
    }

    fn unclaim(&self, plugin: &str, account: &str) -> Result<(), ServerError> {
        self.conn()
            .execute(
                "DELETE FROM owners WHERE plugin = ?1 AND account = ?2 AND added_by = ?2",
                params![plugin, account],
            )
            .map(|_| ())
            .map_err(|e| self.error(&e))
    }

    fn add_owner(
        &self,
        plugin: &str,
        account: &str,
        at: i64,
        by: &str,
    ) -> Result<bool, ServerError> {
        let n = self
            .conn()
            .execute(
                "INSERT OR IGNORE INTO owners (plugin, account, since, added_by) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![plugin, account, at, by],
            )
            .map_err(|e| self.error(&e))?;
        Ok(n == 1)
    }

    fn remove_owner(&self, plugin: &str, account: &str) -> Result<OwnerRemoval, ServerError> {
        let mut conn = self.conn();
        // An immediate transaction takes the write lock first: what it reads cannot change
        // (from another connection or process) before it writes.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.error(&e))?;
        let removed = tx
            .execute(
                "DELETE FROM owners WHERE plugin = ?1 AND account = ?2 \
                 AND (SELECT count(*) FROM owners WHERE plugin = ?1) > 1",
                params![plugin, account],
            )
            .map_err(|e| self.error(&e))?;
        let outcome = if removed == 1 {
            OwnerRemoval::Removed
        } else {
            let owns: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM owners WHERE plugin = ?1 AND account = ?2)",
                    params![plugin, account],
                    |r| r.get(0),
                )
                .map_err(|e| self.error(&e))?;
            if owns {
                OwnerRemoval::LastOwner
            } else {
                OwnerRemoval::NotAnOwner
            }
        };
        tx.commit().map_err(|e| self.error(&e))?;
        Ok(outcome)
    }

    fn owned_by(&self, account: &str) -> Result<HashSet<String>, ServerError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT plugin FROM owners WHERE account = ?1")
            .map_err(|e| self.error(&e))?;
        let rows = stmt
            .query_map(params![account], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(|e| self.error(&e));
        rows
    }

    fn bind_key(&self, key: &BoundKey) -> Result<BoundKey, ServerError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.error(&e))?;
        tx.execute(
            "INSERT INTO keys (key_id, account, public_key, added) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (key_id) DO NOTHING",
            params![key.key_id, key.account, key.public_key, key.added],
        )
        .map_err(|e| self.error(&e))?;
        let bound = tx
            .query_row(
                &format!("SELECT {KEY_COLUMNS} FROM keys WHERE key_id = ?1"),
                params![key.key_id],
                key_row,
            )
            .map_err(|e| self.error(&e))?;
        tx.commit().map_err(|e| self.error(&e))?;
        Ok(bound)
    }

    fn key(&self, key_id: &str) -> Result<Option<BoundKey>, ServerError> {
        self.conn()
            .query_row(
                &format!("SELECT {KEY_COLUMNS} FROM keys WHERE key_id = ?1"),
                params![key_id],
                key_row,
            )
            .optional()
            .map_err(|e| self.error(&e))
    }

    fn keys(&self, account: &str) -> Result<Vec<BoundKey>, ServerError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM keys WHERE account = ?1 ORDER BY added, key_id"
            ))
            .map_err(|e| self.error(&e))?;
        let rows = stmt
            .query_map(params![account], key_row)
            .and_then(Iterator::collect)
            .map_err(|e| self.error(&e));
        rows
    }

    fn remove_key(&self, account: &str, key_id: &str) -> Result<Option<BoundKey>, ServerError> {
        self.conn()
            .query_row(
                &format!(
                    "DELETE FROM keys WHERE key_id = ?1 AND account = ?2 RETURNING {KEY_COLUMNS}"
                ),
                params![key_id, account],
                key_row,
            )
            .optional()
            .map_err(|e| self.error(&e))
    }

    fn insert_upload(&self, u: &Upload) -> Result<(), ServerError> {
        self.conn()
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
            .map_err(|e| self.error(&e))
    }

    fn finish_upload(
        &self,
        id: &str,
        checks: &[CheckResult],
        state: UploadState,
        reason: Option<&str>,
        by: Option<&str>,
        at: i64,
    ) -> Result<(), ServerError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.error(&e))?;
        tx.execute("DELETE FROM checks WHERE upload = ?1", params![id])
            .map_err(|e| self.error(&e))?;
        for (seq, c) in checks.iter().enumerate() {
            tx.execute(
                "INSERT INTO checks (upload, seq, name, outcome, code, message) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    id,
                    count(seq),
                    c.name,
                    c.outcome.as_str(),
                    c.code,
                    c.message
                ],
            )
            .map_err(|e| self.error(&e))?;
        }
        tx.execute(
            "UPDATE uploads SET state = ?2, reason = ?3, decided = ?4, decided_by = ?5 \
             WHERE id = ?1",
            params![id, state.as_str(), reason, at, by],
        )
        .map_err(|e| self.error(&e))?;
        tx.commit().map_err(|e| self.error(&e))
    }

    fn upload(&self, id: &str) -> Result<Option<Upload>, ServerError> {
        let conn = self.conn();
        let found = conn
            .query_row(
                &format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = ?1"),
                params![id],
                upload_row,
            )
            .optional()
            .map_err(|e| self.error(&e))?;
        found.map(|u| self.with_checks(&conn, u)).transpose()
    }

    fn uploads_of(&self, name: &str, limit: usize) -> Result<Vec<Upload>, ServerError> {
        self.uploads_where(
            "WHERE name = ?1 ORDER BY created DESC, rowid DESC LIMIT ?2",
            &[&name, &count(limit)],
        )
    }

    fn uploads_in(&self, state: UploadState, limit: usize) -> Result<Vec<Upload>, ServerError> {
        self.uploads_where(
            "WHERE state = ?1 ORDER BY created, rowid LIMIT ?2",
            &[&state.as_str(), &count(limit)],
        )
    }

    fn download_counts(&self) -> Result<HashMap<String, u64>, ServerError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT plugin, count FROM downloads")
            .map_err(|e| self.error(&e))?;
        let counts = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                ))
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.error(&e));
        counts
    }

    fn count_download(&self, plugin: &str) -> Result<(), ServerError> {
        let conn = self.conn();
        let before = conn.total_changes();
        let outcome = conn.execute(
            "INSERT INTO downloads (plugin, count) VALUES (?1, 1) \
             ON CONFLICT (plugin) DO UPDATE SET count = count + 1",
            params![plugin],
        );
        // Counted under the connection's lock, so a change stamp read never sees the
        // write without its count (`store::changes`).
        self.download_rows.fetch_add(
            conn.total_changes().saturating_sub(before),
            std::sync::atomic::Ordering::SeqCst,
        );
        drop(conn);
        outcome.map(|_| ()).map_err(|e| self.error(&e))
    }
}
