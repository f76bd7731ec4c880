//! Download counts per plugin: every package served under `/index/packages/` counts once for
//! its plugin, in the database (`downloads`) and in memory (what search sorts by and the
//! squatting rule calls popular). A conditional request answered 304 does not count.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard};

use super::store::Database;
use crate::error::ServerError;

/// The counts, as loaded at start and kept since.
#[derive(Debug, Default)]
pub struct Downloads {
    counts: RwLock<HashMap<String, u64>>,
    failed_writes: AtomicU64,
}

impl Downloads {
    /// The counts in `db`.
    pub fn load(db: &Database) -> Result<Downloads, ServerError> {
        Ok(Downloads {
            counts: RwLock::new(db.store().download_counts()?),
            failed_writes: AtomicU64::new(0),
        })
    }

    /// Counts one download of `plugin`: in memory always, then in the database. A failed
    /// database write is returned (the caller logs it and serves the file all the same) and
    /// counted in [`Downloads::failed_writes`]; the database then misses that download.
    pub fn record(&self, db: &Database, plugin: &str) -> Result<(), ServerError> {
        {
            let mut counts = self.counts.write().unwrap_or_else(|p| p.into_inner());
            *counts.entry(plugin.to_owned()).or_insert(0) += 1;
        }
        db.store().count_download(plugin).inspect_err(|_| {
            self.failed_writes.fetch_add(1, Ordering::Relaxed);
        })
    }

    /// How many downloads were served whose count the database did not take.
    pub fn failed_writes(&self) -> u64 {
        self.failed_writes.load(Ordering::Relaxed)
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
