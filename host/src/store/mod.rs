//! The host database (ARCHITECTURE D7): one SQLite file per data directory, in WAL mode, with a
//! versioned schema and forward migrations. It holds the audit log, stored grants and what the
//! host last knew of each plugin; later features add their tables as new migrations.

mod grants;
pub(crate) mod migrations;
mod plugins;
mod registries;

use parking_lot::{Mutex, MutexGuard};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::audit::{AuditLog, Checkpointer};
use crate::error::StoreError;

pub use self::plugins::{DeniedRecord, GrantRecord, PluginRecord};
pub use self::registries::{RegistryRecord, RegistryTable, SeenRecord};

/// The database's file name inside the data directory.
pub const DATABASE_FILE: &str = "switchboard.db";

/// The host database. Cheap to clone; clones share one connection.
///
/// Hosts open it themselves ([`Host::store`](crate::Host::store)); tools such as the CLI open
/// it with [`Store::open_existing`] to read the audit log or a plugin's record.
///
/// # Example
///
/// ```
/// use switchboard_host::Store;
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = Store::open(dir.path()).unwrap();
/// assert!(store.schema_version().unwrap() >= 1);
/// assert!(store.audit().verify().unwrap().is_intact());
/// ```
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// Set by a host: writes signed checkpoints of the audit head outside the database.
    checkpointer: OnceLock<Checkpointer>,
}

/// Whether `path` is a regular file of 0 bytes.
fn is_empty_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0)
}

/// The error for a database file cut to nothing, pointing at the newest backup.
fn empty_database(data_dir: &Path, path: PathBuf, reason: &str) -> StoreError {
    StoreError::Damaged {
        path,
        reason: reason.into(),
        backup: crate::state::integrity::newest_backup_in(data_dir),
    }
}

/// Whether `data_dir` holds what only a database that recorded it could explain: packages in
/// the install store, or backups.
fn holds_installed_state(data_dir: &Path) -> bool {
    let non_empty = |dir: PathBuf| {
        std::fs::read_dir(dir)
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(false)
    };
    non_empty(data_dir.join("packages"))
        || non_empty(data_dir.join(crate::state::migrate::BACKUP_DIR))
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir` and migrates it to the newest
    /// schema. The directory must exist.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let path = data_dir.join(DATABASE_FILE);
        // An empty file where the data directory holds installed packages or backups is a
        // database cut to nothing, not a new one: taking it for new would forget every
        // generation, and the next install's garbage collection would delete their packages.
        if is_empty_file(&path) && holds_installed_state(data_dir) {
            return Err(empty_database(
                data_dir,
                path,
                "the file is empty (0 bytes), but the data directory holds installed packages \
                 or backups",
            ));
        }
        let open_err = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
                StoreError::Damaged {
                    path: path.clone(),
                    reason: e.to_string(),
                    backup: crate::state::integrity::newest_backup_in(data_dir),
                }
            }
            _ => StoreError::Open {
                path: path.clone(),
                reason: e.to_string(),
            },
        };
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(open_err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;",
        )
        .map_err(open_err)?;
        // Damage is reported before anything is written to the file.
        if let Some(reason) = crate::state::integrity::quick_check(&conn).map_err(open_err)? {
            return Err(StoreError::Damaged {
                reason,
                backup: crate::state::integrity::newest_backup_in(data_dir),
                path,
            });
        }
        migrations::migrate(&mut conn, migrations::MIGRATIONS)?;
        Ok(Store {
            inner: Arc::new(Inner {
                path,
                conn: Mutex::new(conn),
                checkpointer: OnceLock::new(),
            }),
        })
    }

    /// Opens the database of a data directory where a host has already run; refuses
    /// (`SB0605`) rather than creating an empty one, and takes an empty file for damage
    /// (`SB0611`) rather than writing a schema into it.
    pub fn open_existing(data_dir: &Path) -> Result<Store, StoreError> {
        let path = data_dir.join(DATABASE_FILE);
        if is_empty_file(&path) {
            // SQLite would take an empty file for a new database and write a schema into it: a
            // log cut to nothing would then verify as an intact empty one.
            return Err(empty_database(
                data_dir,
                path,
                "the file is empty (0 bytes); a host's database never is",
            ));
        }
        if !path.is_file() {
            return Err(StoreError::NoDatabase {
                path: data_dir.to_owned(),
            });
        }
        Store::open(data_dir)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The schema version the database is at.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        self.with(|c| migrations::current(c))
    }

    /// The audit log kept in this database.
    pub fn audit(&self) -> AuditLog {
        AuditLog::new(self.clone())
    }

    /// Makes this store's audit log write checkpoints through `checkpointer` (once; a second
    /// call is ignored).
    pub(crate) fn set_checkpointer(&self, checkpointer: Checkpointer) {
        let _ = self.inner.checkpointer.set(checkpointer);
    }

    pub(crate) fn checkpointer(&self) -> Option<&Checkpointer> {
        self.inner.checkpointer.get()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        self.inner.conn.lock()
    }

    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        f(&mut self.lock())
    }
}

#[cfg(test)]
mod empty_file_tests {
    use super::*;

    #[test]
    fn an_empty_database_beside_installed_packages_is_damage_not_a_new_database() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DATABASE_FILE), b"").unwrap();
        std::fs::create_dir(dir.path().join("packages")).unwrap();
        std::fs::write(dir.path().join("packages/abc"), b"package").unwrap();
        let e = Store::open(dir.path()).unwrap_err();
        assert!(matches!(e, StoreError::Damaged { .. }), "{e:?}");
        // The file is left as it was, for the operator to restore.
        let len = std::fs::metadata(dir.path().join(DATABASE_FILE))
            .unwrap()
            .len();
        assert_eq!(len, 0);
    }

    #[test]
    fn an_empty_database_in_an_otherwise_empty_directory_is_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DATABASE_FILE), b"").unwrap();
        assert!(Store::open(dir.path()).is_ok());
    }
}
