//! [`HostSeenStore`]: what the client has seen of each registry, kept in the host database
//! (`registry_seen`, schema version 4), so rollback protection survives restarts.

use switchboard_host::{RegistryTable, SeenRecord, Store};

use super::RegistriesError;
use crate::seen::{Seen, SeenStore};
use crate::RegistryError;

/// A [`SeenStore`] over the host database of a data directory.
///
/// # Example
///
/// ```
/// use switchboard_host::Store;
/// use switchboard_registry::{HostSeenStore, Seen, SeenStore};
///
/// let dir = tempfile::tempdir().unwrap();
/// let seen = HostSeenStore::new(&Store::open(dir.path()).unwrap());
/// seen.store("main", &Seen::pinned(b"{}".to_vec())).unwrap();
/// // Another process (or the next command) sees the same.
/// let again = HostSeenStore::new(&Store::open(dir.path()).unwrap());
/// assert_eq!(again.load("main").unwrap().unwrap().root, b"{}");
/// ```
#[derive(Debug, Clone)]
pub struct HostSeenStore {
    table: RegistryTable,
}

impl HostSeenStore {
    /// The seen metadata kept in `store`.
    pub fn new(store: &Store) -> Self {
        HostSeenStore {
            table: store.registries(),
        }
    }
}

impl SeenStore for HostSeenStore {
    fn load(&self, registry: &str) -> Result<Option<Seen>, RegistryError> {
        let found = self.table.seen(registry).map_err(RegistriesError::from)?;
        Ok(found.map(|r| Seen {
            root: r.root,
            timestamp_version: r.timestamp_version,
            snapshot_version: r.snapshot_version,
        }))
    }

    fn store(&self, registry: &str, seen: &Seen) -> Result<(), RegistryError> {
        self.table
            .store_seen(
                registry,
                &SeenRecord::new(
                    seen.root.clone(),
                    seen.timestamp_version,
                    seen.snapshot_version,
                ),
            )
            .map_err(RegistriesError::from)?;
        Ok(())
    }
}
