//! Download counts per plugin: every package served under `/index/packages/` counts once for
//! its plugin, in the database (`downloads`) and in memory (what search sorts by and the
//! squatting rule calls popular). A conditional request answered 304 does not count.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard};

use rusqlite::params;

use super::db::Database;
use crate::error::ServerError;

/// The counts, as loaded at start and kept since.
#[derive(Debug, Default)]
pub struct Downloads {
    counts: RwLock<HashMap<String, u64>>,
}

impl Downloads {
    /// The counts in `db`.
    pub fn load(db: &Database) -> Result<Downloads, ServerError> {
        let conn = db.conn();
        let mut stmt = conn
            .prepare("SELECT plugin, count FROM downloads")
            .map_err(|e| db.error(&e))?;
        let counts: HashMap<String, u64> = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                ))
            })
            .and_then(Iterator::collect)
            .map_err(|e| db.error(&e))?;
        Ok(Downloads {
            counts: RwLock::new(counts),
        })
    }

    /// Counts one download of `plugin`.
    pub fn record(&self, db: &Database, plugin: &str) -> Result<(), ServerError> {
        db.conn()
            .execute(
                "INSERT INTO downloads (plugin, count) VALUES (?1, 1) \
                 ON CONFLICT (plugin) DO UPDATE SET count = count + 1",
                params![plugin],
            )
            .map_err(|e| db.error(&e))?;
        let mut counts = self.counts.write().unwrap_or_else(|p| p.into_inner());
        *counts.entry(plugin.to_owned()).or_insert(0) += 1;
        Ok(())
    }

    /// The downloads of `plugin`.
    pub fn of(&self, plugin: &str) -> u64 {
        self.read().get(plugin).copied().unwrap_or(0)
    }

    /// Every count, read-locked (searches share the lock; a download waits for them).
    pub fn read(&self) -> RwLockReadGuard<'_, HashMap<String, u64>> {
        self.counts.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Every count, copied.
    pub fn snapshot(&self) -> HashMap<String, u64> {
        self.read().clone()
    }
}
