//! The registry client: the TUF client workflow over any [`Transport`] and [`SeenStore`],
//! with a local cache of verified files.
//!
//! [`RegistryClient::refresh`] runs the checks in the TUF specification's order (5.3–5.5):
//! the pinned root, updated through `N+1.root.json` and checked for expiry; `timestamp.json`
//! (signatures, rollback, expiry); `snapshot.json` only when the timestamp names another one
//! (hash and length against the timestamp, signatures, version, rollback of it and of every
//! index file, expiry); `config.json` against the snapshot. Index files are used only when
//! their hash and length match the snapshot ([`RegistryClient::releases`]); packages only when
//! their size and sha256 match the index line ([`RegistryClient::download`]). What has been
//! seen is stored only after verification.

mod cache;
mod error;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::Digest;

pub use error::ClientError;

use crate::format::{
    index_path, name_of_index_path, IndexFile, IndexLine, RegistryConfig, MAX_CONFIG_BYTES,
    MAX_INDEX_FILE_BYTES,
};
use crate::metadata::{
    check_expiry, Envelope, MetaFile, Role, SnapshotMeta, TimestampMeta, TrustError, TrustedRoot,
    MAX_ROOT_BYTES, MAX_SNAPSHOT_BYTES, MAX_TIMESTAMP_BYTES,
};
use crate::transport::{CacheTag, Fetched};
use crate::{error::FetchError, RegistryError, Seen, SeenStore, Transport};
use cache::Cache;
pub(crate) use cache::{write_atomic, write_cached};

/// The client's clock: injected so tests can move time (expiry is checked against it).
pub type Clock = Arc<dyn Fn() -> jiff::Timestamp + Send + Sync>;

/// The most root rotations one refresh follows (each one is a signed file to fetch).
pub const MAX_ROTATIONS: u64 = 1024;

/// Size caps for every kind of file the client fetches (the endless-data attack).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientLimits {
    /// `root.json` and `N.root.json`.
    pub root: u64,
    /// `timestamp.json`.
    pub timestamp: u64,
    /// `snapshot.json` (also capped by the length the timestamp gives).
    pub snapshot: u64,
    /// `config.json`.
    pub config: u64,
    /// An index file (also capped by the length the snapshot gives).
    pub index: u64,
    /// A package (also capped by the size its index line gives).
    pub package: u64,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            root: MAX_ROOT_BYTES,
            timestamp: MAX_TIMESTAMP_BYTES,
            snapshot: MAX_SNAPSHOT_BYTES,
            config: MAX_CONFIG_BYTES,
            index: MAX_INDEX_FILE_BYTES,
            package: switchboard_host::package::UnpackLimits::default().max_package_bytes,
        }
    }
}

/// What a refresh found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshReport {
    /// The trusted root's version after the refresh.
    pub root_version: u64,
    /// How many root rotations were followed.
    pub rotations: u64,
    /// The verified timestamp's version.
    pub timestamp_version: u64,
    /// The verified snapshot's version.
    pub snapshot_version: u64,
    /// Whether the snapshot was fetched (false: the timestamp named the one already held).
    pub snapshot_fetched: bool,
}

/// A package written by [`RegistryClient::download`], its size and sha256 checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Downloaded {
    /// The package file.
    pub path: PathBuf,
    /// Its signature beside it (`PATH.minisig`), from the index line.
    pub signature: PathBuf,
    /// The index line it matches.
    pub line: IndexLine,
}

/// Metadata verified in this process.
#[derive(Debug)]
struct Trusted {
    root: TrustedRoot,
    timestamp: TimestampMeta,
    /// The verified `timestamp.json` bytes.
    timestamp_bytes: Vec<u8>,
    snapshot: SnapshotMeta,
    config: RegistryConfig,
    /// Index files parsed and matched against `snapshot`, by plugin name.
    index: Mutex<BTreeMap<String, Arc<IndexFile>>>,
    /// Opened with [`RegistryClient::open_offline`]: index files come from the cache only.
    offline: bool,
}

/// A client for one registry.
///
/// ```
/// use std::sync::Arc;
/// use switchboard_registry::{DirTransport, MemorySeen, RegistryClient};
///
/// # fn main() -> Result<(), switchboard_registry::RegistryError> {
/// # let tmp = tempfile::tempdir().unwrap();
/// # let (dir, keys) = (tmp.path().join("reg"), tmp.path().join("keys"));
/// # switchboard_registry::publish::init(&dir, &keys, &Default::default())?;
/// let seen = Arc::new(MemorySeen::default());
/// let client = RegistryClient::new("main", Box::new(DirTransport::new(&dir)?), seen, tmp.path().join("cache"));
/// client.pin(&std::fs::read(dir.join("root.json")).unwrap())?;
/// client.refresh()?;
/// assert!(client.names()?.is_empty());
/// # Ok(()) }
/// ```
pub struct RegistryClient {
    name: String,
    transport: Box<dyn Transport>,
    seen: Arc<dyn SeenStore>,
    cache: Cache,
    clock: Clock,
    limits: ClientLimits,
    state: Mutex<Option<Arc<Trusted>>>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("name", &self.name)
            .field("transport", &self.transport)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// A client for the registry `name` (the key in `seen`) read through `transport`, keeping
    /// verified files under `cache_dir` (one directory per registry). The clock is the
    /// system's.
    pub fn new(
        name: impl Into<String>,
        transport: Box<dyn Transport>,
        seen: Arc<dyn SeenStore>,
        cache_dir: impl Into<PathBuf>,
    ) -> Self {
        RegistryClient {
            name: name.into(),
            transport,
            seen,
            cache: Cache::new(cache_dir.into()),
            clock: Arc::new(jiff::Timestamp::now),
            limits: ClientLimits::default(),
            state: Mutex::new(None),
        }
    }

    /// Uses `clock` for expiry checks (tests move time with it).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Uses other size caps.
    pub fn with_limits(mut self, limits: ClientLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The registry's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The transport.
    pub fn transport(&self) -> &dyn Transport {
        self.transport.as_ref()
    }

    /// Fetches the registry's current `root.json` (for trust on first use: show its
    /// [`TrustedRoot::fingerprint`] and pin it with [`pin`](Self::pin)). Checks that it is a
    /// self-consistent, self-signed root; says nothing about whether it is the right one.
    pub fn fetch_root(&self) -> Result<TrustedRoot, RegistryError> {
        let bytes = self.fetch_body(Role::Root.file(), self.limits.root)?;
        TrustedRoot::pin(&self.name, &bytes)
    }

    /// Pins `root` (the bytes of a `root.json`) as this registry's root of trust, forgetting
    /// what was seen before. Done once, when the registry is added.
    pub fn pin(&self, root: &[u8]) -> Result<TrustedRoot, RegistryError> {
        let trusted = TrustedRoot::pin(&self.name, root)?;
        self.seen.store(&self.name, &Seen::pinned(root.to_vec()))?;
        *self.lock_state() = None;
        Ok(trusted)
    }

    /// Updates the verified metadata from the registry (see the module docs for the order of
    /// checks). Nothing is believed, cached or recorded as seen before it verifies.
    pub fn refresh(&self) -> Result<RefreshReport, RegistryError> {
        let mut seen = self.load_seen()?;
        let original = seen.clone();
        let now = (self.clock)();

        // What this process verified last: the same bytes need not be verified again.
        let previous = self.lock_state().clone();

        // 1. The root: the pinned one, then every signed successor.
        let mut root = match &previous {
            Some(p) if p.root.bytes == seen.root => p.root.clone(),
            _ => TrustedRoot::pin(&self.name, &seen.root)?,
        };
        let mut rotations = 0;
        while rotations < MAX_ROTATIONS {
            let path = format!("{}.root.json", root.meta.version + 1);
            let bytes = match self.transport.fetch(&path, self.limits.root, None) {
                Ok(Fetched::Body { bytes, .. }) => bytes,
                Err(RegistryError::Fetch(FetchError::NotFound { .. })) => break,
                Ok(_) => break,
                Err(e) => return Err(e),
            };
            let next = root.rotate(&self.name, &bytes)?;
            // Keys of the timestamp or snapshot role changed: what was seen under the old
            // keys says nothing (and may be a fast-forward attack's leftovers): start over.
            if next.meta.roles.timestamp != root.meta.roles.timestamp {
                seen.timestamp_version = 0;
                seen.snapshot_version = 0;
            }
            if next.meta.roles.snapshot != root.meta.roles.snapshot {
                seen.snapshot_version = 0;
            }
            root = next;
            rotations += 1;
            seen.root = root.bytes.clone();
            self.seen.store(&self.name, &seen)?;
        }
        check_expiry(&self.name, Role::Root, &root.meta.expires, now)?;

        // 2. The timestamp.
        let ts_file = Role::Timestamp.file();
        let (mut ts_bytes, from_cache) = self.fetch_cached(ts_file, self.limits.timestamp)?;
        let mut repaired = false;
        let verify_timestamp = |bytes: &[u8]| -> Result<TimestampMeta, RegistryError> {
            let env = Envelope::parse(bytes, self.limits.timestamp, ts_file)?;
            env.verify(
                &self.name,
                Role::Timestamp,
                &root.meta.roles.timestamp,
                &root.meta.keys,
            )?;
            env.signed_as(&self.name, Role::Timestamp)
        };
        let timestamp: TimestampMeta = match &previous {
            Some(p) if rotations == 0 && p.timestamp_bytes == ts_bytes.0 => p.timestamp.clone(),
            _ => match verify_timestamp(&ts_bytes.0) {
                Ok(t) => t,
                // The cached copy the registry said is current does not verify: the copy
                // was damaged here (the cache is ours, not the registry's). Fetch it again,
                // and let the fresh bytes and no tag replace it below.
                Err(_) if from_cache => {
                    ts_bytes = (self.fetch_body(ts_file, self.limits.timestamp)?, None);
                    repaired = true;
                    verify_timestamp(&ts_bytes.0)?
                }
                Err(e) => return Err(e),
            },
        };
        self.not_older(
            Role::Timestamp.as_str(),
            seen.timestamp_version,
            timestamp.version,
        )?;
        check_expiry(&self.name, Role::Timestamp, &timestamp.expires, now)?;

        // 3. The snapshot, fetched only when the timestamp names another one.
        if let Some(p) = previous
            .as_ref()
            .filter(|p| rotations == 0 && p.timestamp == timestamp)
        {
            // Nothing changed since the last refresh in this process: the verified snapshot,
            // config and index files stand, if the snapshot has not expired meanwhile.
            check_expiry(&self.name, Role::Snapshot, &p.snapshot.expires, now)?;
            return Ok(RefreshReport {
                root_version: root.meta.version,
                rotations,
                timestamp_version: timestamp.version,
                snapshot_version: p.snapshot.version,
                snapshot_fetched: false,
            });
        }
        let snap_file = Role::Snapshot.file();
        let in_memory = previous
            .as_ref()
            .filter(|p| rotations == 0 && p.timestamp.snapshot == timestamp.snapshot);
        let cached = || {
            self.cache
                .read(snap_file, self.limits.snapshot)
                .filter(|b| timestamp.snapshot.matches(b))
        };
        let (snapshot, snap_bytes, snapshot_fetched) = if let Some(p) = in_memory {
            (p.snapshot.clone(), None, false)
        } else if let Some(bytes) = cached() {
            (
                self.verify_snapshot(&root, &timestamp, &bytes)?,
                None,
                false,
            )
        } else {
            let cap = self.limits.snapshot.min(timestamp.snapshot.length);
            let bytes = self.fetch_body(snap_file, cap)?;
            self.matches(snap_file, "timestamp", &timestamp.snapshot, &bytes)?;
            let meta = self.verify_snapshot(&root, &timestamp, &bytes)?;
            (meta, Some(bytes), true)
        };
        self.not_older(
            Role::Snapshot.as_str(),
            seen.snapshot_version,
            snapshot.version,
        )?;
        // Every file the last verified snapshot listed is still listed, at the same version or
        // a newer one (TUF 5.5.5): a registry cannot hide a plugin or roll one file back.
        // Only a fetched snapshot is new (one held or cached is the last verified one), and
        // not after a rotation of the snapshot keys, which resets what was seen.
        if snapshot_fetched && seen.snapshot_version > 0 {
            let old = match &previous {
                Some(p) => Some(p.snapshot.clone()),
                None => self.cached_snapshot(),
            };
            for (path, was) in old.iter().flat_map(|o| &o.meta) {
                let got = snapshot.meta.get(path).map_or(0, |f| f.version);
                self.not_older(path, was.version, got)?;
            }
        }
        check_expiry(&self.name, Role::Snapshot, &snapshot.expires, now)?;

        // 4. config.json, pinned by the snapshot like an index file.
        let config = match &previous {
            Some(p) if p.snapshot.meta.get("config.json") == snapshot.meta.get("config.json") => {
                p.config.clone()
            }
            _ => RegistryConfig::parse(&self.pinned_file(
                &snapshot,
                "config.json",
                self.limits.config,
                false,
            )?)?,
        };

        // Verified: cache the files, then record what was seen (neither when nothing
        // changed: a refresh that finds the registry as it was writes nothing).
        if repaired || previous.as_ref().is_none_or(|p| p.timestamp != timestamp) {
            self.cache
                .write(ts_file, &ts_bytes.0, ts_bytes.1.as_ref())?;
        }
        if let Some(bytes) = &snap_bytes {
            self.cache.write(snap_file, bytes, None)?;
        }
        seen.timestamp_version = timestamp.version;
        seen.snapshot_version = snapshot.version;
        seen.root = root.bytes.clone();
        if seen != original {
            self.seen.store(&self.name, &seen)?;
        }

        let index = match &previous {
            Some(p) if p.snapshot == snapshot => {
                p.index.lock().map(|m| m.clone()).unwrap_or_default()
            }
            _ => BTreeMap::new(),
        };
        let report = RefreshReport {
            root_version: root.meta.version,
            rotations,
            timestamp_version: timestamp.version,
            snapshot_version: snapshot.version,
            snapshot_fetched,
        };
        *self.lock_state() = Some(Arc::new(Trusted {
            root,
            timestamp,
            timestamp_bytes: ts_bytes.0,
            snapshot,
            config,
            index: Mutex::new(index),
            offline: false,
        }));
        Ok(report)
    }

    /// Uses the metadata cached by the last refresh without asking the registry (`--offline`):
    /// the cached timestamp and snapshot must verify under the pinned root and be the versions
    /// last seen. Expiry is not checked (the point of offline is to work without the
    /// registry); everything else is. Index files then come from the cache only
    /// ([`ClientError::NotCached`] for one never read online); downloads still use the
    /// transport.
    pub fn open_offline(&self) -> Result<(), RegistryError> {
        let seen = self.load_seen()?;
        let root = TrustedRoot::pin(&self.name, &seen.root)?;
        let not_refreshed = || -> RegistryError {
            ClientError::NotRefreshed {
                registry: self.name.clone(),
            }
            .into()
        };
        let ts_bytes = self
            .cache
            .read(Role::Timestamp.file(), self.limits.timestamp)
            .ok_or_else(not_refreshed)?;
        let env = Envelope::parse(&ts_bytes, self.limits.timestamp, Role::Timestamp.file())?;
        env.verify(
            &self.name,
            Role::Timestamp,
            &root.meta.roles.timestamp,
            &root.meta.keys,
        )?;
        let timestamp: TimestampMeta = env.signed_as(&self.name, Role::Timestamp)?;
        self.not_older(
            Role::Timestamp.as_str(),
            seen.timestamp_version,
            timestamp.version,
        )?;
        let snap_bytes = self
            .cache
            .read(Role::Snapshot.file(), self.limits.snapshot)
            .ok_or_else(not_refreshed)?;
        self.matches(
            Role::Snapshot.file(),
            "timestamp",
            &timestamp.snapshot,
            &snap_bytes,
        )?;
        let snapshot = self.verify_snapshot(&root, &timestamp, &snap_bytes)?;
        self.not_older(
            Role::Snapshot.as_str(),
            seen.snapshot_version,
            snapshot.version,
        )?;
        let config = RegistryConfig::parse(&self.pinned_file(
            &snapshot,
            "config.json",
            self.limits.config,
            true,
        )?)?;
        *self.lock_state() = Some(Arc::new(Trusted {
            root,
            timestamp,
            timestamp_bytes: ts_bytes,
            snapshot,
            config,
            index: Mutex::new(BTreeMap::new()),
            offline: true,
        }));
        Ok(())
    }

    /// The registry's verified `config.json`.
    pub fn config(&self) -> Result<RegistryConfig, RegistryError> {
        Ok(self.trusted()?.config.clone())
    }

    /// The verified snapshot (every index file's hash, length and version).
    pub fn snapshot(&self) -> Result<SnapshotMeta, RegistryError> {
        Ok(self.trusted()?.snapshot.clone())
    }

    /// The verified timestamp.
    pub fn timestamp(&self) -> Result<TimestampMeta, RegistryError> {
        Ok(self.trusted()?.timestamp.clone())
    }

    /// The trusted root.
    pub fn root(&self) -> Result<TrustedRoot, RegistryError> {
        Ok(self.trusted()?.root.clone())
    }

    /// Every plugin name the snapshot lists, sorted.
    pub fn names(&self) -> Result<Vec<String>, RegistryError> {
        let trusted = self.trusted()?;
        Ok(trusted
            .snapshot
            .meta
            .keys()
            .filter_map(|p| name_of_index_path(p))
            .map(str::to_owned)
            .collect())
    }

    /// Every release of `name` (verified: the index file's hash and length match the
    /// snapshot), or `None` if the registry has no such plugin. Served from memory, then from
    /// the cache when the cached copy matches the snapshot, else fetched.
    pub fn releases(&self, name: &str) -> Result<Option<Arc<IndexFile>>, RegistryError> {
        let trusted = self.trusted()?;
        let path = index_path(name)?;
        if !trusted.snapshot.meta.contains_key(&path) {
            return Ok(None);
        }
        if let Some(file) = trusted.index.lock().ok().and_then(|m| m.get(name).cloned()) {
            return Ok(Some(file));
        }
        let bytes =
            self.pinned_file(&trusted.snapshot, &path, self.limits.index, trusted.offline)?;
        let file = Arc::new(IndexFile::parse(name, &bytes)?);
        if let Ok(mut map) = trusted.index.lock() {
            map.insert(name.to_owned(), Arc::clone(&file));
        }
        Ok(Some(file))
    }

    /// The index line of `name@version`.
    pub fn release(
        &self,
        name: &str,
        version: &semver::Version,
    ) -> Result<IndexLine, RegistryError> {
        let file = self
            .releases(name)?
            .ok_or_else(|| ClientError::UnknownPlugin {
                registry: self.name.clone(),
                name: name.to_owned(),
            })?;
        file.releases
            .iter()
            .find(|l| &l.version == version)
            .cloned()
            .ok_or_else(|| {
                ClientError::UnknownRelease {
                    registry: self.name.clone(),
                    name: name.to_owned(),
                    version: version.to_string(),
                }
                .into()
            })
    }

    /// Downloads the package of `name@version` to `dest` (and its signature to
    /// `dest.minisig`, and the registry's certification, if it has one, to `dest.cert`), reading at most the size the index lists and checking size and sha256
    /// before `dest` appears: a package that does not match is never written there.
    /// `progress` gets `(bytes so far, total)`.
    pub fn download(
        &self,
        name: &str,
        version: &semver::Version,
        dest: &Path,
        progress: &mut dyn FnMut(u64, Option<u64>),
    ) -> Result<Downloaded, RegistryError> {
        let line = self.release(name, version)?;
        let config = self.config()?;
        let path = config.download_path(&line)?;
        let local = |e: std::io::Error| -> RegistryError {
            ClientError::Local {
                path: dest.display().to_string(),
                reason: e.to_string(),
            }
            .into()
        };
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir).map_err(local)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(local)?;
        let mut hashing = HashingWriter {
            inner: tmp.as_file_mut(),
            hasher: sha2::Sha256::new(),
            len: 0,
        };
        let cap = line.size.min(self.limits.package);
        self.transport
            .fetch_to(&path, cap, &mut hashing, progress)?;
        let (len, digest) = (hashing.len, hex::encode(hashing.hasher.finalize()));
        let mismatch = |reason: String| -> RegistryError {
            ClientError::PackageMismatch {
                registry: self.name.clone(),
                name: name.to_owned(),
                version: version.to_string(),
                reason,
            }
            .into()
        };
        if len != line.size {
            return Err(mismatch(format!(
                "{len} bytes, the index lists {}",
                line.size
            )));
        }
        if digest != line.sha256 {
            return Err(mismatch(format!(
                "sha256 {digest}, the index lists {}",
                line.sha256
            )));
        }
        tmp.as_file().sync_all().map_err(local)?;
        let mut signature = dest.as_os_str().to_owned();
        signature.push(".minisig");
        let signature = PathBuf::from(signature);
        write_atomic(&signature, line.signature.as_bytes())?;
        // The registry's countersignature, when it certified the release: the host reads
        // `DEST.cert` and sees `certified` if it trusts the registry's certification key. A
        // `.cert` left from another download is removed, never trusted for this one.
        let mut cert = dest.as_os_str().to_owned();
        cert.push(".cert");
        let cert = PathBuf::from(cert);
        match &line.certification {
            Some(c) => write_atomic(&cert, c.as_bytes())?,
            None => match std::fs::remove_file(&cert) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(local(e)),
            },
        }
        tmp.persist(dest).map_err(|e| local(e.error))?;
        Ok(Downloaded {
            path: dest.to_owned(),
            signature,
            line,
        })
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, Option<Arc<Trusted>>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn trusted(&self) -> Result<Arc<Trusted>, RegistryError> {
        self.lock_state().clone().ok_or_else(|| {
            ClientError::NotRefreshed {
                registry: self.name.clone(),
            }
            .into()
        })
    }

    fn load_seen(&self) -> Result<Seen, RegistryError> {
        self.seen.load(&self.name)?.ok_or_else(|| {
            TrustError::NotPinned {
                registry: self.name.clone(),
            }
            .into()
        })
    }

    fn not_older(&self, role: &str, seen: u64, got: u64) -> Result<(), RegistryError> {
        if got < seen {
            return Err(TrustError::Rollback {
                registry: self.name.clone(),
                role: role.to_owned(),
                seen,
                got,
            }
            .into());
        }
        Ok(())
    }

    fn matches(
        &self,
        path: &str,
        by: &str,
        pin: &MetaFile,
        bytes: &[u8],
    ) -> Result<(), RegistryError> {
        let reason = if bytes.len() as u64 != pin.length {
            format!("{} bytes, listed as {}", bytes.len(), pin.length)
        } else if !pin.matches(bytes) {
            format!(
                "sha256 {}, listed as {}",
                crate::sha256_hex(bytes),
                pin.sha256
            )
        } else {
            return Ok(());
        };
        Err(TrustError::Mismatch {
            registry: self.name.clone(),
            path: path.to_owned(),
            by: by.to_owned(),
            reason,
        }
        .into())
    }

    fn verify_snapshot(
        &self,
        root: &TrustedRoot,
        timestamp: &TimestampMeta,
        bytes: &[u8],
    ) -> Result<SnapshotMeta, RegistryError> {
        let env = Envelope::parse(bytes, self.limits.snapshot, Role::Snapshot.file())?;
        env.verify(
            &self.name,
            Role::Snapshot,
            &root.meta.roles.snapshot,
            &root.meta.keys,
        )?;
        let snapshot: SnapshotMeta = env.signed_as(&self.name, Role::Snapshot)?;
        if snapshot.version != timestamp.snapshot.version {
            return Err(TrustError::Mismatch {
                registry: self.name.clone(),
                path: Role::Snapshot.file().into(),
                by: "timestamp".into(),
                reason: format!(
                    "version {}, listed as {}",
                    snapshot.version, timestamp.snapshot.version
                ),
            }
            .into());
        }
        for path in snapshot.meta.keys() {
            if path != "config.json" && name_of_index_path(path).is_none() {
                return Err(crate::metadata::TrustError::Malformed {
                    registry: self.name.clone(),
                    what: Role::Snapshot.file().into(),
                    reason: format!(
                        "it lists `{path}`, which is neither config.json nor an index file"
                    ),
                }
                .into());
            }
        }
        Ok(snapshot)
    }

    fn cached_snapshot(&self) -> Option<SnapshotMeta> {
        let bytes = self
            .cache
            .read(Role::Snapshot.file(), self.limits.snapshot)?;
        let env = Envelope::parse(&bytes, self.limits.snapshot, Role::Snapshot.file()).ok()?;
        serde_json::from_value(env.signed).ok()
    }

    /// A file the snapshot pins (`config.json`, an index file): the cached copy if it matches,
    /// else (unless `offline`) fetched and checked. No revalidation tag is sent: a cached copy
    /// that does not match the snapshot is of no use even if the server still has it.
    fn pinned_file(
        &self,
        snapshot: &SnapshotMeta,
        path: &str,
        limit: u64,
        offline: bool,
    ) -> Result<Vec<u8>, RegistryError> {
        let pin = snapshot
            .meta
            .get(path)
            .ok_or_else(|| TrustError::Mismatch {
                registry: self.name.clone(),
                path: path.to_owned(),
                by: "snapshot".into(),
                reason: "the snapshot does not list it".into(),
            })?;
        let cap = limit.min(pin.length);
        if let Some(bytes) = self.cache.read(path, cap) {
            if pin.matches(&bytes) {
                return Ok(bytes);
            }
        }
        if offline {
            return Err(ClientError::NotCached {
                registry: self.name.clone(),
                path: path.to_owned(),
            }
            .into());
        }
        let bytes = match self.transport.fetch(path, cap, None)? {
            Fetched::Body { bytes, .. } => bytes,
            _ => self.fetch_body(path, cap)?,
        };
        self.matches(path, "snapshot", pin, &bytes)?;
        self.cache.write_pinned(path, &bytes)?;
        Ok(bytes)
    }

    /// Fetches `path` whole, never from the cache.
    fn fetch_body(&self, path: &str, limit: u64) -> Result<Vec<u8>, RegistryError> {
        match self.transport.fetch(path, limit, None)? {
            Fetched::Body { bytes, .. } => Ok(bytes),
            _ => Err(FetchError::Io {
                registry: self.transport.location(),
                path: path.to_owned(),
                reason: "the transport answered `not modified` to an unconditional fetch".into(),
            }
            .into()),
        }
    }

    /// Fetches `path`, revalidating the cached copy by its tag: the bytes and their new tag,
    /// and whether the bytes are the cached copy (the transport said "not modified").
    #[expect(
        clippy::type_complexity,
        reason = "a private helper's one return value, named at its only caller"
    )]
    fn fetch_cached(
        &self,
        path: &str,
        limit: u64,
    ) -> Result<((Vec<u8>, Option<CacheTag>), bool), RegistryError> {
        let tag = self.cache.tag(path);
        match self.transport.fetch(path, limit, tag.as_ref())? {
            Fetched::Body { bytes, tag } => Ok(((bytes, tag), false)),
            _ => match self.cache.read(path, limit) {
                Some(bytes) => Ok(((bytes, tag), true)),
                None => Ok(((self.fetch_body(path, limit)?, None), false)),
            },
        }
    }
}

struct HashingWriter<'a> {
    inner: &'a mut std::fs::File,
    hasher: sha2::Sha256,
    len: u64,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests;
