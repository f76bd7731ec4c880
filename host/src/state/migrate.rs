//! Data migrations between plugin versions, with an online backup and restore.
//!
//! A migration is a pure function from a [`Snapshot`] of the plugin's data (its stored
//! configuration and every KV entry) to a [`MigrationOutput`] (the new stored configuration
//! and KV writes). [`Store::migrate_plugin`] runs a chain of them:
//!
//! 1. an online backup of the whole database (SQLite's backup API) into
//!    `<data dir>/backups/`;
//! 2. for each step: a snapshot is read, the migration runs with no database lock held (it is
//!    plugin code), and its output is applied in one transaction — after checking that no
//!    one wrote the plugin's keys since the snapshot, and within the plugin's quota;
//! 3. if any step fails, the plugin's rows (KV, usage, stored configuration) are restored
//!    from the backup in one transaction, and the error (`SB0730`) names the backup, which is
//!    kept. Other plugins' data and the audit log are left as they are: restoring the whole
//!    file would lose what they wrote meanwhile.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension, MAIN_DB};
use serde_json::Value;
use switchboard_sdk::manifest::name_key;
use switchboard_sdk::state::KvWrite;

use super::checksum;
use super::kv::{begin, usage, Kv};
use super::quota::Quota;
use crate::error::StateError;
use crate::store::Store;
use crate::timestamp::Timestamp;

/// The directory of backups inside the data directory.
pub const BACKUP_DIR: &str = "backups";

/// What a migration reads: the plugin's data before the step.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The configuration stored by earlier migrations (an empty object if none).
    pub config: Value,
    /// Every KV entry, in key order.
    pub kv: BTreeMap<String, Vec<u8>>,
}

/// What a migration returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MigrationOutput {
    /// The new stored configuration (`None`: unchanged).
    pub config: Option<Value>,
    /// KV writes (`value: None` deletes).
    pub writes: Vec<KvWrite>,
}

/// The function of a migration. An `Err` aborts the chain with its text as the reason.
pub type MigrationFn = dyn Fn(&Snapshot) -> Result<MigrationOutput, String> + Send + Sync;

/// One migration step between two plugin versions (`"0.1"` matches every `0.1.x`).
pub struct DataMigration {
    from: String,
    to: String,
    run: Box<MigrationFn>,
}

impl fmt::Debug for DataMigration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataMigration")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

impl DataMigration {
    /// A migration from version `from` to `to`.
    pub fn new(
        from: impl Into<String>,
        to: impl Into<String>,
        run: impl Fn(&Snapshot) -> Result<MigrationOutput, String> + Send + Sync + 'static,
    ) -> Self {
        DataMigration {
            from: from.into(),
            to: to.into(),
            run: Box::new(run),
        }
    }

    /// The version it migrates from.
    pub fn from_version(&self) -> &str {
        &self.from
    }

    /// The version it migrates to.
    pub fn to_version(&self) -> &str {
        &self.to
    }
}

/// What [`Store::migrate_plugin`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The steps run, as `(from, to)`.
    pub steps: Vec<(String, String)>,
    /// The backup taken before the first step (`None` if no step applied).
    pub backup: Option<PathBuf>,
}

/// Whether `pattern` (`0.1`, `0.1.3`) names `version`: its numeric parts are a prefix.
fn version_matches(pattern: &str, version: &str) -> bool {
    let parts = |s: &str| -> Vec<String> {
        s.trim_start_matches('v')
            .split(['.', '-', '+'])
            .map(str::to_owned)
            .collect()
    };
    let (p, v) = (parts(pattern), parts(version));
    p.len() <= v.len() && p.iter().zip(&v).all(|(a, b)| a == b)
}

/// The chain of migrations leading from `from` towards `to`, in order.
fn chain<'m>(migrations: &'m [DataMigration], from: &str, to: &str) -> Vec<&'m DataMigration> {
    let mut out = Vec::new();
    let mut at = from.to_owned();
    while !version_matches(&at, to) && !version_matches(to, &at) {
        let Some(m) = migrations
            .iter()
            .find(|m| version_matches(&m.from, &at) || version_matches(&at, &m.from))
        else {
            break;
        };
        if out.iter().any(|o: &&DataMigration| std::ptr::eq(*o, m)) {
            break;
        }
        out.push(m);
        at = m.to.clone();
    }
    out
}

impl Store {
    /// Writes an online backup of the whole database to `dest` (SQLite's backup API; the host
    /// keeps running), durable when this returns.
    ///
    /// The copy is written in one pass, without a rollback journal and without SQLite's
    /// syncs, then synced once: a backup is a new file nobody reads until it is complete (the
    /// callers write it under a temporary name or before recording it), so a journal would
    /// only protect a half-written file that is thrown away anyway. This made the backup of
    /// a rollback several fsyncs cheaper.
    pub fn backup_to(&self, dest: &Path) -> Result<(), StateError> {
        let fail = |reason: String| StateError::Backup {
            path: dest.to_owned(),
            reason,
        };
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        }
        let conn = self.lock();
        let mut copy = rusqlite::Connection::open(dest).map_err(|e| fail(e.to_string()))?;
        copy.query_row("PRAGMA journal_mode = OFF", [], |_| Ok(()))
            .and_then(|()| copy.pragma_update(None, "synchronous", "OFF"))
            .map_err(|e| fail(e.to_string()))?;
        {
            let backup =
                rusqlite::backup::Backup::new_with_names(&conn, MAIN_DB, &mut copy, MAIN_DB)
                    .map_err(|e| fail(e.to_string()))?;
            // All pages in one step (-1): the source is this host's own connection, held.
            loop {
                use rusqlite::backup::StepResult;
                match backup.step(-1).map_err(|e| fail(e.to_string()))? {
                    StepResult::Done => break,
                    StepResult::More => {}
                    // Another process holds the database; wait as `Connection::backup` does.
                    _ => std::thread::sleep(std::time::Duration::from_millis(50)),
                }
            }
        }
        copy.close().map_err(|(_, e)| fail(e.to_string()))?;
        std::fs::File::open(dest)
            .and_then(|f| f.sync_all())
            .map_err(|e| fail(e.to_string()))
    }

    /// Restores one plugin's rows — KV entries, usage and stored configuration — from a
    /// backup file, in one transaction. Other plugins' data is untouched.
    pub fn restore_plugin_from(&self, plugin: &str, backup: &Path) -> Result<(), StateError> {
        let ns = name_key(plugin);
        let fail = |reason: String| StateError::Backup {
            path: backup.to_owned(),
            reason,
        };
        if !backup.is_file() {
            return Err(fail("the backup file does not exist".into()));
        }
        let conn = self.lock();
        conn.execute(
            "ATTACH DATABASE ?1 AS restore_src",
            [backup.to_string_lossy().as_ref()],
        )
        .map_err(|e| fail(e.to_string()))?;
        let result = (|| -> Result<(), StateError> {
            let tx = begin(&conn)?;
            for table in ["kv", "kv_usage", "config_stored"] {
                tx.execute(
                    &format!("DELETE FROM main.{table} WHERE plugin = ?1"),
                    [&ns],
                )?;
                tx.execute(
                    &format!(
                        "INSERT INTO main.{table} SELECT * FROM restore_src.{table} WHERE plugin = ?1"
                    ),
                    [&ns],
                )?;
            }
            tx.commit()?;
            Ok(())
        })();
        let detached = conn.execute("DETACH DATABASE restore_src", []);
        result?;
        detached.map_err(|e| fail(e.to_string()))?;
        Ok(())
    }

    /// The configuration data migrations stored for `plugin`, if any.
    pub fn stored_config(&self, plugin: &str) -> Result<Option<Value>, StateError> {
        let ns = name_key(plugin);
        let conn = self.lock();
        let row: Option<(String, Vec<u8>)> = conn
            .query_row(
                "SELECT value, checksum FROM config_stored WHERE plugin = ?1",
                [&ns],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((text, sum)) = row else {
            return Ok(None);
        };
        let corrupt = || StateError::Corrupt {
            plugin: plugin.to_owned(),
            what: "configuration",
            key: "config_stored".into(),
            backup: super::kv::newest_backup(self),
        };
        if !checksum::matches(&ns, "", text.as_bytes(), &sum) {
            return Err(corrupt());
        }
        serde_json::from_str(&text).map(Some).map_err(|_| corrupt())
    }

    fn snapshot(&self, plugin: &str) -> Result<(Snapshot, u64), StateError> {
        let kv = self.kv(plugin);
        let mut entries = BTreeMap::new();
        let mut after: Option<String> = None;
        loop {
            let page = kv.list_page("", after.as_deref(), 1000)?;
            for (k, e) in page.entries {
                entries.insert(k, e.value);
            }
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let seq = usage(&self.lock(), &name_key(plugin))?.1;
        let config = self
            .stored_config(plugin)?
            .unwrap_or_else(|| Value::Object(Default::default()));
        Ok((
            Snapshot {
                config,
                kv: entries,
            },
            seq,
        ))
    }

    fn apply_step(&self, kv: &Kv, seen_seq: u64, out: &MigrationOutput) -> Result<(), StateError> {
        let ns = name_key(kv.plugin());
        kv.transaction(|tx| {
            if tx.seq() != seen_seq {
                return Err(StateError::Conflict {
                    plugin: kv.plugin().to_owned(),
                    attempts: 1,
                });
            }
            for w in &out.writes {
                match &w.value {
                    Some(v) => {
                        tx.put(&w.key, v)?;
                    }
                    None => {
                        tx.delete(&w.key)?;
                    }
                }
            }
            if let Some(config) = &out.config {
                let text = config.to_string();
                tx.conn().execute(
                    "INSERT INTO config_stored (plugin, value, checksum) VALUES (?1, ?2, ?3)
                     ON CONFLICT (plugin) DO UPDATE SET value = ?2, checksum = ?3",
                    params![ns, text, checksum::of(&ns, "", text.as_bytes()).as_slice()],
                )?;
            }
            Ok(())
        })
    }

    /// Migrates `plugin`'s data from version `from` to `to` with the chain of `migrations`
    /// that leads there (none: nothing to do).
    ///
    /// First an online backup of the whole database goes to `<data dir>/backups/`. Then, per
    /// step, a [`Snapshot`] is read, the migration runs with no lock held, and its output is
    /// applied in one transaction (refused if the plugin's keys changed since the snapshot).
    /// If any step fails, the plugin's rows (KV, usage, stored configuration) are restored
    /// from the backup in one transaction and `SB0730` names the backup, which is kept; other
    /// plugins' data and the audit log are not rolled back.
    /// Writes are checked against `quota`.
    pub fn migrate_plugin(
        &self,
        plugin: &str,
        from: &str,
        to: &str,
        migrations: &[DataMigration],
        quota: Quota,
    ) -> Result<MigrationReport, StateError> {
        let steps = chain(migrations, from, to);
        if steps.is_empty() {
            return Ok(MigrationReport {
                steps: Vec::new(),
                backup: None,
            });
        }
        let dir = self
            .path()
            .parent()
            .map(|d| d.join(BACKUP_DIR))
            .unwrap_or_else(|| PathBuf::from(BACKUP_DIR));
        // The file name is built from caller-supplied text: anything but a plain name
        // character becomes `_`, so no name or version can lead out of the backup directory.
        let file = format!(
            "{}-{from}-to-{to}-{}.db",
            name_key(plugin),
            Timestamp::now().as_millis()
        )
        .replace(
            |c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+')),
            "_",
        );
        let backup = dir.join(file);
        self.backup_to(&backup)?;
        let kv = self.kv_with_quota(plugin, quota);
        let mut done = Vec::new();
        for m in steps {
            let result = self.snapshot(plugin).and_then(|(snapshot, seq)| {
                let out = (m.run)(&snapshot).map_err(|reason| StateError::MigrationFailed {
                    plugin: plugin.to_owned(),
                    from: m.from.clone(),
                    to: m.to.clone(),
                    reason,
                    backup: backup.clone(),
                })?;
                self.apply_step(&kv, seq, &out)
            });
            if let Err(e) = result {
                self.restore_plugin_from(plugin, &backup)?;
                return Err(match e {
                    e @ StateError::MigrationFailed { .. } => e,
                    other => StateError::MigrationFailed {
                        plugin: plugin.to_owned(),
                        from: m.from.clone(),
                        to: m.to.clone(),
                        reason: other.to_string(),
                        backup: backup.clone(),
                    },
                });
            }
            done.push((m.from.clone(), m.to.clone()));
        }
        Ok(MigrationReport {
            steps: done,
            backup: Some(backup),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_match_by_prefix() {
        assert!(version_matches("0.1", "0.1.7"));
        assert!(version_matches("0.1.7", "0.1.7"));
        assert!(!version_matches("0.1", "0.10.0"));
        assert!(!version_matches("0.2", "0.1.0"));
    }

    #[test]
    fn the_chain_follows_from_to_to() {
        let m = |f: &str, t: &str| DataMigration::new(f, t, |_| Ok(MigrationOutput::default()));
        let all = [m("0.2", "0.3"), m("0.1", "0.2"), m("0.3", "0.4")];
        let c: Vec<_> = chain(&all, "0.1.5", "0.3.0")
            .iter()
            .map(|m| (m.from.as_str(), m.to.as_str()))
            .collect();
        assert_eq!(c, [("0.1", "0.2"), ("0.2", "0.3")]);
        assert!(chain(&all, "0.4.0", "0.4.1").is_empty());
    }
}
