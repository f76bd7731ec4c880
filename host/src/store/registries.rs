//! The registries configured in a host's data directory (SPEC S9.7) and what was last seen of
//! each. The host only keeps these rows; `switchboard-registry` reads and verifies registries.

use rusqlite::{params, OptionalExtension};

use super::Store;
use crate::error::StoreError;
use crate::timestamp::Timestamp;

/// One registry as configured: where it is, how it ranks, and the root of trust pinned when it
/// was added.
///
/// # Example
///
/// ```
/// use switchboard_host::{RegistryRecord, Store};
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = Store::open(dir.path()).unwrap();
/// let team = RegistryRecord::new("team", "https://plugins.example.com", 10, b"{}".to_vec())
///     .with_token_env("TEAM_TOKEN");
/// assert!(store.registries().add(&team).unwrap());
/// assert_eq!(store.registries().list().unwrap()[0].name, "team");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistryRecord {
    /// The name it was added under.
    pub name: String,
    /// An `http(s)://` URL or an absolute directory.
    pub location: String,
    /// Higher is asked first; no two registries share one.
    pub priority: i64,
    /// The pinned root of trust (`root.json` bytes).
    pub root: Vec<u8>,
    /// The environment variable holding a bearer token, if the registry needs one.
    pub token_env: Option<String>,
    /// Show and use only releases certified by the registry.
    pub certified_only: bool,
    /// The most experimental channel used: `ga` or `beta`.
    pub channel: String,
    /// When it was added.
    pub added_at: Timestamp,
}

impl RegistryRecord {
    /// A registry on the `ga` channel, all trust levels, no token, added now.
    pub fn new(
        name: impl Into<String>,
        location: impl Into<String>,
        priority: i64,
        root: Vec<u8>,
    ) -> Self {
        RegistryRecord {
            name: name.into(),
            location: location.into(),
            priority,
            root,
            token_env: None,
            certified_only: false,
            channel: "ga".to_owned(),
            added_at: Timestamp::now(),
        }
    }

    /// Names the environment variable that holds its token.
    pub fn with_token_env(mut self, var: impl Into<String>) -> Self {
        self.token_env = Some(var.into());
        self
    }

    /// Shows only certified releases.
    pub fn with_certified_only(mut self, yes: bool) -> Self {
        self.certified_only = yes;
        self
    }

    /// Sets the channel (`ga` or `beta`).
    pub fn with_channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = channel.into();
        self
    }
}

/// The newest verified metadata of a registry: its current root and the newest timestamp and
/// snapshot versions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SeenRecord {
    /// The trusted root (`root.json` bytes).
    pub root: Vec<u8>,
    /// The newest timestamp version verified.
    pub timestamp_version: u64,
    /// The newest snapshot version verified.
    pub snapshot_version: u64,
}

impl SeenRecord {
    /// A record of what was seen.
    pub fn new(root: Vec<u8>, timestamp_version: u64, snapshot_version: u64) -> Self {
        SeenRecord {
            root,
            timestamp_version,
            snapshot_version,
        }
    }
}

/// The registries of a host database ([`Store::registries`]).
#[derive(Debug, Clone)]
pub struct RegistryTable {
    store: Store,
}

impl Store {
    /// The registries configured in this database and what was seen of each.
    pub fn registries(&self) -> RegistryTable {
        RegistryTable {
            store: self.clone(),
        }
    }
}

type Row = (
    String,
    String,
    i64,
    Vec<u8>,
    Option<String>,
    bool,
    String,
    i64,
);

fn record(
    (name, location, priority, root, token_env, certified_only, channel, at): Row,
) -> RegistryRecord {
    RegistryRecord {
        name,
        location,
        priority,
        root,
        token_env,
        certified_only,
        channel,
        added_at: Timestamp::from_millis(at),
    }
}

const COLUMNS: &str =
    "name, location, priority, root, token_env, certified_only, channel, added_at_ms";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

impl RegistryTable {
    /// Every registry, highest priority first.
    pub fn list(&self) -> Result<Vec<RegistryRecord>, StoreError> {
        self.store.with(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM registries ORDER BY priority DESC, name"
            ))?;
            let rows = stmt.query_map([], row)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(record(r?));
            }
            Ok(out)
        })
    }

    /// The registry named `name`, if configured.
    pub fn get(&self, name: &str) -> Result<Option<RegistryRecord>, StoreError> {
        self.store.with(|c| {
            Ok(c.query_row(
                &format!("SELECT {COLUMNS} FROM registries WHERE name = ?1"),
                [name],
                row,
            )
            .optional()?
            .map(record))
        })
    }

    /// Adds a registry; `false` (nothing written) if its name or priority is taken.
    pub fn add(&self, r: &RegistryRecord) -> Result<bool, StoreError> {
        self.store.with(|c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO registries
                     (name, location, priority, root, token_env, certified_only, channel,
                      added_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    r.name,
                    r.location,
                    r.priority,
                    r.root,
                    r.token_env,
                    r.certified_only,
                    r.channel,
                    r.added_at.as_millis(),
                ],
            )?;
            Ok(n == 1)
        })
    }

    /// Removes a registry and what was seen of it; `false` if there was none.
    pub fn remove(&self, name: &str) -> Result<bool, StoreError> {
        self.store.with(|c| {
            let tx = c.transaction()?;
            let n = tx.execute("DELETE FROM registries WHERE name = ?1", [name])?;
            tx.execute("DELETE FROM registry_seen WHERE registry = ?1", [name])?;
            tx.commit()?;
            Ok(n == 1)
        })
    }

    /// What was last seen of `registry`, if anything.
    pub fn seen(&self, registry: &str) -> Result<Option<SeenRecord>, StoreError> {
        self.store.with(|c| {
            let found = c
                .query_row(
                    "SELECT root, timestamp_version, snapshot_version FROM registry_seen
                     WHERE registry = ?1",
                    [registry],
                    |r| {
                        Ok((
                            r.get::<_, Vec<u8>>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(2)?,
                        ))
                    },
                )
                .optional()?;
            match found {
                None => Ok(None),
                Some((root, ts, snap)) => {
                    let version = |v: i64| {
                        u64::try_from(v).map_err(|_| StoreError::Corrupt {
                            what: "registry metadata version",
                            value: v.to_string(),
                        })
                    };
                    Ok(Some(SeenRecord::new(root, version(ts)?, version(snap)?)))
                }
            }
        })
    }

    /// Records what has now been seen of `registry` (replacing the previous record).
    pub fn store_seen(&self, registry: &str, seen: &SeenRecord) -> Result<(), StoreError> {
        let version = |v: u64| {
            i64::try_from(v).map_err(|_| StoreError::Corrupt {
                what: "registry metadata version",
                value: v.to_string(),
            })
        };
        let (ts, snap) = (
            version(seen.timestamp_version)?,
            version(seen.snapshot_version)?,
        );
        self.store.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO registry_seen
                     (registry, root, timestamp_version, snapshot_version, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![registry, seen.root, ts, snap, Timestamp::now().as_millis()],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        (Store::open(dir.path()).unwrap(), dir)
    }

    #[test]
    fn registries_are_listed_by_priority_and_survive_a_reopen() {
        let (s, dir) = store();
        let t = s.registries();
        assert!(t
            .add(&RegistryRecord::new("low", "/srv/low", 1, b"r1".to_vec()))
            .unwrap());
        assert!(t
            .add(
                &RegistryRecord::new("high", "https://h.example", 10, b"r2".to_vec())
                    .with_token_env("H_TOKEN")
                    .with_certified_only(true)
                    .with_channel("beta")
            )
            .unwrap());
        drop(t);
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        let list = s.registries().list().unwrap();
        let names: Vec<_> = list.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["high", "low"]);
        assert_eq!(list[0].token_env.as_deref(), Some("H_TOKEN"));
        assert!(list[0].certified_only);
        assert_eq!(list[0].channel, "beta");
        assert_eq!(list[1].root, b"r1");
        assert_eq!(
            s.registries().get("low").unwrap().unwrap().location,
            "/srv/low"
        );
    }

    #[test]
    fn a_taken_name_or_priority_is_not_added() {
        let (s, _dir) = store();
        let t = s.registries();
        assert!(t.add(&RegistryRecord::new("a", "/a", 5, vec![])).unwrap());
        assert!(!t.add(&RegistryRecord::new("a", "/b", 6, vec![])).unwrap());
        assert!(!t.add(&RegistryRecord::new("b", "/b", 5, vec![])).unwrap());
        assert_eq!(t.list().unwrap().len(), 1);
    }

    #[test]
    fn seen_metadata_is_kept_and_removed_with_the_registry() {
        let (s, _dir) = store();
        let t = s.registries();
        t.add(&RegistryRecord::new("a", "/a", 5, b"root".to_vec()))
            .unwrap();
        assert_eq!(t.seen("a").unwrap(), None);
        t.store_seen("a", &SeenRecord::new(b"root".to_vec(), 7, 3))
            .unwrap();
        t.store_seen("a", &SeenRecord::new(b"root2".to_vec(), 8, 4))
            .unwrap();
        assert_eq!(
            t.seen("a").unwrap(),
            Some(SeenRecord::new(b"root2".to_vec(), 8, 4))
        );
        assert!(t.remove("a").unwrap());
        assert!(!t.remove("a").unwrap());
        assert_eq!(
            t.seen("a").unwrap(),
            None,
            "a re-added registry starts afresh"
        );
    }

    #[test]
    fn a_version_too_large_for_sqlite_is_refused_not_wrapped() {
        let (s, _dir) = store();
        let e = s
            .registries()
            .store_seen("a", &SeenRecord::new(vec![], u64::MAX, 1))
            .unwrap_err();
        assert_eq!(e.code().to_string(), "SB0606");
    }
}
