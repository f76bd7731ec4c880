//! The server's SQLite database (`server.db`, `0600`): tokens and which account publishes
//! which plugin. The registry's releases are not in it — the signed registry directory is the
//! one record of what is published, so a static mirror of `registry/` loses nothing.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use crate::error::ServerError;

/// The schema version this server writes.
pub const SCHEMA_VERSION: i64 = 1;

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
CREATE TABLE IF NOT EXISTS publishers (
    plugin      TEXT PRIMARY KEY,
    account     TEXT NOT NULL,
    since       INTEGER NOT NULL
);
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
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; BEGIN; {SCHEMA} \
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
