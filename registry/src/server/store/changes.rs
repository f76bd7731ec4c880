//! A cheap stamp of the database's contents, for caches of what is read from it (the
//! server's cache of plugin details, `server::details`): two readings are equal only if
//! nothing was written in between, as far as the backend can tell.
//!
//! - SQLite: `PRAGMA data_version` of the server's connection (it changes when another
//!   connection — a CLI command, another process — commits) and the connection's
//!   `total_changes` (every row this connection inserted, updated or deleted, committed or
//!   not) less the rows it changed counting downloads. Exact: any write changes one of them,
//!   but a download, which changes only its plugin's download count (compared on its own by
//!   the details cache). On PostgreSQL a download's commit changes the stamp like any write,
//!   so there downloads empty the details cache (at most once per the bound below).
//! - PostgreSQL: `pg_current_snapshot()` as text (`xmin:xmax:xip…`): it changes when any
//!   transaction that wrote anything in the cluster ends, whichever server or process ran it
//!   (a transaction that only reads takes no transaction id and changes nothing). Exact too,
//!   but a round trip: the details cache reads it at most every
//!   [`POSTGRES_STAMP_FRESH_FOR`], which bounds how long a write by another server or process
//!   goes unseen.

use super::postgres::PostgresStore;
use super::sqlite::SqliteStore;
use crate::error::ServerError;

/// How long the details cache uses a PostgreSQL change stamp before reading it again: writes
/// by other servers sharing the database (or other processes) are seen at most this late.
/// This server's own writes are seen at once (its write generation, `server::details`).
pub const POSTGRES_STAMP_FRESH_FOR: std::time::Duration = std::time::Duration::from_millis(100);

/// A stamp of the database's contents: equal stamps, no write between them.
pub type ChangeStampValue = [u64; 2];

/// Reads a [`ChangeStampValue`].
pub trait ChangeStamp {
    /// The stamp now. `wait == false` (called on an async task): `Ok(None)` rather than
    /// block — the SQLite connection is busy, or the backend needs a round trip.
    fn change_stamp(&self, wait: bool) -> Result<Option<ChangeStampValue>, ServerError>;

    /// Whether a stamp must be re-read after [`POSTGRES_STAMP_FRESH_FOR`] rather than on
    /// every use (true for PostgreSQL, where reading it is a round trip).
    fn change_stamp_is_remote(&self) -> bool {
        false
    }
}

impl ChangeStamp for SqliteStore {
    fn change_stamp(&self, wait: bool) -> Result<Option<ChangeStampValue>, ServerError> {
        let conn = if wait {
            self.conn()
        } else {
            match self.try_conn() {
                Some(c) => c,
                None => return Ok(None),
            }
        };
        let version: i64 = conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(|e| self.error(&e))?;
        // Downloads are left out: they change only their plugin's count, which the
        // details cache compares on its own; counting them would empty it on every one.
        Ok(Some([
            u64::try_from(version).unwrap_or_default(),
            conn.total_changes().wrapping_sub(self.download_rows()),
        ]))
    }
}

impl ChangeStamp for PostgresStore {
    fn change_stamp(&self, wait: bool) -> Result<Option<ChangeStampValue>, ServerError> {
        if !wait {
            return Ok(None);
        }
        let mut client = self.pooled()?;
        let text: String = client
            .query_one("SELECT pg_current_snapshot()::text", &[])
            .map_err(|e| self.error(&e))?
            .get(0);
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(text.as_bytes());
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&digest[i..i + 8]);
            u64::from_le_bytes(b)
        };
        Ok(Some([word(0), word(8)]))
    }

    fn change_stamp_is_remote(&self) -> bool {
        true
    }
}
