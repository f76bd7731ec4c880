//! What a client has already seen of each registry, so that rollback protection survives
//! restarts: a registry that serves an older timestamp or snapshot than one seen before, or
//! swaps its root of trust without a signed rotation, is refused at the next command.
//!
//! The CLI and host applications keep it in the host database; [`MemorySeen`] is for tests and
//! short-lived tools.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::RegistryError;

/// The newest verified metadata of one registry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Seen {
    /// The trusted root (`root.json` bytes): pinned when the registry was added, replaced only
    /// by a newer root that the old one signed.
    pub root: Vec<u8>,
    /// The newest timestamp version verified.
    pub timestamp_version: u64,
    /// The newest snapshot version verified.
    pub snapshot_version: u64,
}

impl Seen {
    /// What is known right after pinning a root: nothing fetched yet.
    pub fn pinned(root: Vec<u8>) -> Self {
        Seen {
            root,
            timestamp_version: 0,
            snapshot_version: 0,
        }
    }
}

/// Persists [`Seen`] per registry name.
pub trait SeenStore: Send + Sync + std::fmt::Debug {
    /// What was seen of `registry`, if anything.
    fn load(&self, registry: &str) -> Result<Option<Seen>, RegistryError>;
    /// Records what has now been seen of `registry` (after verification only).
    fn store(&self, registry: &str, seen: &Seen) -> Result<(), RegistryError>;
}

/// A [`SeenStore`] in memory: forgets everything when dropped.
///
/// ```
/// use switchboard_registry::{MemorySeen, Seen, SeenStore};
///
/// let seen = MemorySeen::default();
/// assert_eq!(seen.load("main").unwrap(), None);
/// seen.store("main", &Seen::pinned(b"{}".to_vec())).unwrap();
/// assert_eq!(seen.load("main").unwrap().unwrap().timestamp_version, 0);
/// ```
#[derive(Debug, Default)]
pub struct MemorySeen {
    map: Mutex<BTreeMap<String, Seen>>,
}

impl SeenStore for MemorySeen {
    fn load(&self, registry: &str) -> Result<Option<Seen>, RegistryError> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        Ok(map.get(registry).cloned())
    }

    fn store(&self, registry: &str, seen: &Seen) -> Result<(), RegistryError> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(registry.to_owned(), seen.clone());
        Ok(())
    }
}
