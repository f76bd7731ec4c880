//! The server's SQLite database (`server.db`, `0600`): tokens, the owners of each name, the
//! signing keys bound to each account, uploads with the result of every check run on them
//! (listed, held for review, failed), and download counts. The registry's listed releases are
//! not in it — the signed registry directory is the one record of what is published, so a
//! static mirror of `registry/` loses nothing a client needs.
//!
//! Schema 2 (from 1): `publishers` (one account per name) became `owners` (several accounts
//! per name, each added explicitly); `keys`, `uploads`, `checks` and `downloads` are new.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use crate::error::ServerError;

/// The schema version this server writes.
pub const SCHEMA_VERSION: i64 = 2;

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
";

/// Schema 1 kept one publishing account per name; each becomes that name's first owner.
const MIGRATE_1: &str = "
INSERT OR IGNORE INTO owners (plugin, account, since, added_by)
    SELECT plugin, account, since, account FROM publishers;
DROP TABLE publishers;
";

/// The database, behind a mutex (one writer; requests use it from the blocking pool).
#[derive(Debug)]
pub struct Database {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Database {
    /// Opens (making on first use, `0600`) the database at `path` and brings its schema up.
    pub fn open(path: &Path) -> Result<Database, ServerError> {
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
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; BEGIN; {SCHEMA} {migrate} \
             PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))
        .map_err(|e| fail(e.to_string()))?;
        Ok(Database {
            path: path.to_owned(),
            conn: Mutex::new(conn),
        })
    }

    /// The connection (a poisoned lock is taken over: SQLite's own transactions keep the
    /// data consistent whatever a panicking holder left undone).
    pub fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A coded error for a failed statement.
    pub fn error(&self, e: &rusqlite::Error) -> ServerError {
        ServerError::Database {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }
}
