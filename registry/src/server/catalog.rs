//! What is published, read from the registry directory the server serves: every index file
//! the snapshot lists, parsed once per change (the catalog is keyed by `timestamp.json`'s
//! bytes, which every change re-signs). Search and details read this, never SQLite, so the
//! API and the files a client verifies cannot disagree.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::error::ServerError;
use crate::format::{name_of_index_path, Channel, IndexFile, IndexLine, MAX_INDEX_FILE_BYTES};
use crate::metadata::{Envelope, Role, SnapshotMeta, MAX_SNAPSHOT_BYTES, MAX_TIMESTAMP_BYTES};

/// Every plugin's releases, in publishing order.
#[derive(Debug, Default)]
pub struct Catalog {
    /// By name.
    pub plugins: BTreeMap<String, Vec<IndexLine>>,
    /// The plugin of each package, by the package's sha256.
    pub by_sha256: std::collections::HashMap<String, String>,
    /// The plugins prepared for search.
    pub prepared: super::search::Prepared,
    /// The sha256 (hex) of the `timestamp.json` it was read at (empty when read without).
    pub stamp: String,
    /// The version of the `snapshot.json` it was read from (+1 at each change of the
    /// registry): orders catalogs, so an older one is never copied over a newer one.
    pub version: u64,
}

impl Catalog {
    /// Reads the catalog of the registry directory `dir`.
    pub fn read(dir: &Path) -> Result<Catalog, ServerError> {
        let internal = |what: &str, e: String| ServerError::Internal {
            reason: format!("reading {what}: {e}"),
        };
        let bytes = read_capped(&dir.join("snapshot.json"), MAX_SNAPSHOT_BYTES)?;
        let snapshot: SnapshotMeta = Envelope::parse(&bytes, MAX_SNAPSHOT_BYTES, "snapshot.json")
            .map_err(|e| internal("snapshot.json", e.to_string()))?
            .signed_as("this registry", Role::Snapshot)
            .map_err(|e| internal("snapshot.json", e.message()))?;
        let version = snapshot.version;
        let mut plugins = BTreeMap::new();
        for path in snapshot.meta.keys() {
            let Some(name) = name_of_index_path(path) else {
                continue;
            };
            let bytes = read_capped(&dir.join(path), MAX_INDEX_FILE_BYTES)?;
            let file = IndexFile::parse(name, &bytes).map_err(|e| internal(path, e.to_string()))?;
            plugins.insert(name.to_owned(), file.releases);
        }
        let by_sha256 = plugins
            .iter()
            .flat_map(|(n, ls)| ls.iter().map(move |l| (l.sha256.clone(), n.clone())))
            .collect();
        let prepared = super::search::Prepared::new(&plugins);
        Ok(Catalog {
            plugins,
            by_sha256,
            prepared,
            stamp: String::new(),
            version,
        })
    }
}

/// The newest release of `releases` a user gets by default: not yanked, not a draft, `ga`
/// before `beta`.
pub fn newest_visible(releases: &[IndexLine]) -> Option<&IndexLine> {
    let newest = |channel: Channel| {
        releases
            .iter()
            .filter(|l| !l.is_yanked() && l.channel == channel)
            .max_by(|a, b| a.version.cmp(&b.version))
    };
    newest(Channel::Ga).or_else(|| newest(Channel::Beta))
}

/// The catalog, re-read when `timestamp.json` changes.
#[derive(Debug, Default)]
pub struct CatalogCache {
    current: Mutex<Option<(Vec<u8>, Arc<Catalog>)>>,
}

impl CatalogCache {
    /// The catalog as of the registry's current timestamp if it is read already (`None`:
    /// not read, the registry changed since, or `timestamp.json` cannot be read). Reads one
    /// small file: cheap enough for an async task.
    pub fn current(&self, dir: &Path) -> Option<Arc<Catalog>> {
        let stamp = read_capped(&dir.join("timestamp.json"), MAX_TIMESTAMP_BYTES).ok()?;
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        match current.as_ref() {
            Some((seen, catalog)) if *seen == stamp => Some(Arc::clone(catalog)),
            _ => None,
        }
    }

    /// The catalog as of the registry's current timestamp (blocking: reads files).
    pub fn get(&self, dir: &Path) -> Result<Arc<Catalog>, ServerError> {
        let stamp = read_capped(&dir.join("timestamp.json"), MAX_TIMESTAMP_BYTES)?;
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, catalog)) = current.as_ref() {
            if *seen == stamp {
                return Ok(Arc::clone(catalog));
            }
        }
        let mut catalog = Catalog::read(dir)?;
        catalog.stamp = {
            use sha2::Digest as _;
            hex::encode(sha2::Sha256::digest(&stamp))
        };
        let catalog = Arc::new(catalog);
        *current = Some((stamp, Arc::clone(&catalog)));
        Ok(catalog)
    }
}

/// Reads a file of at most `limit` bytes.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, ServerError> {
    use std::io::Read;
    let internal = |e: std::io::Error| ServerError::Internal {
        reason: format!("reading {}: {e}", path.display()),
    };
    let file = std::fs::File::open(path).map_err(internal)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(internal)?;
    if bytes.len() as u64 > limit {
        return Err(ServerError::Internal {
            reason: format!("{} is larger than {limit} bytes", path.display()),
        });
    }
    Ok(bytes)
}
