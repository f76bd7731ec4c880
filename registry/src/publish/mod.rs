//! Creating and changing a static registry: [`init`], [`publish`] (and [`publish_checked`]
//! for the server, [`publish_unverified`] for tools), [`yank`], [`unyank`], [`deprecate`],
//! [`promote`], [`resign`], [`renew_root`] and [`rotate_key`].
//!
//! Every change takes the registry's lock (`DIR/.lock`, created exclusively), writes each new
//! file to a temporary file, fsyncs and renames it into place, in the order package → index
//! file → `snapshot.json` → `timestamp.json`. The timestamp, written last, makes the change
//! visible: a client sees the old state or the new one, or — reading across the change — a
//! snapshot that does not match its timestamp, which it refuses (`SB1313`) until it reads
//! again. The signing keys live in a key directory outside the registry directory.

mod error;
mod keys;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::PublishError;
#[cfg(feature = "server")]
pub(crate) use keys::trust_store;
pub use keys::{RegistryKeys, PUBLISHERS_DIR};

use crate::client::write_atomic;
use crate::format::{
    canonical_name, index_path, name_of_index_path, validate_name, Channel, Deprecated,
    FormatError, IndexFile, IndexLine, LineDependency, LineHostApi, RegistryConfig, Yanked,
    FORMAT_VERSION, MAX_INDEX_FILE_BYTES,
};
use crate::metadata::{
    sign_envelope, Envelope, MetaFile, Role, RoleKeys, Roles, RootMeta, SnapshotMeta,
    TimestampMeta, TrustedRoot, MAX_SNAPSHOT_BYTES, MAX_TIMESTAMP_BYTES,
};
use crate::RegistryError;

/// The lock file that serialises changes to a registry directory (not part of the format;
/// clients never read it).
pub const LOCK_FILE: &str = ".lock";

/// How long each role's metadata stays valid after it is signed, and the clock to sign by.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Expiries {
    /// The root's lifetime (default 365 days).
    pub root: Duration,
    /// The snapshot's (default 30 days).
    pub snapshot: Duration,
    /// The timestamp's (default 1 day): run [`resign`] more often than this.
    pub timestamp: Duration,
    /// The time to sign at (`None`: now). Tests set it.
    pub now: Option<jiff::Timestamp>,
}

impl Default for Expiries {
    fn default() -> Self {
        Expiries {
            root: Duration::from_secs(365 * 86_400),
            snapshot: Duration::from_secs(30 * 86_400),
            timestamp: Duration::from_secs(86_400),
            now: None,
        }
    }
}

impl Expiries {
    fn now(&self) -> jiff::Timestamp {
        self.now.unwrap_or_else(jiff::Timestamp::now)
    }

    /// Now, in whole seconds (what the files record).
    fn now_seconds(&self) -> jiff::Timestamp {
        let now = self.now();
        jiff::Timestamp::from_second(now.as_second()).unwrap_or(now)
    }

    fn after(&self, lifetime: Duration) -> Result<String, RegistryError> {
        let d =
            jiff::SignedDuration::try_from(lifetime).map_err(|e| refused_expiry(e.to_string()))?;
        let at = self
            .now()
            .checked_add(d)
            .map_err(|e| refused_expiry(e.to_string()))?;
        // Whole seconds: the canonical form has no fractions to disagree on.
        let at = jiff::Timestamp::from_second(at.as_second())
            .map_err(|e| refused_expiry(e.to_string()))?;
        Ok(at.to_string())
    }
}

fn refused_expiry(reason: String) -> RegistryError {
    PublishError::Refused {
        reason: format!("the expiry is out of range: {reason}"),
        next: "give a shorter duration, e.g. `30d`".into(),
    }
    .into()
}

/// What [`init`] takes besides the directories.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct InitOptions {
    /// Metadata lifetimes.
    pub expiries: Expiries,
    /// Publisher public keys (`.pub` files) the registry vouches for: packages they sign are
    /// listed as `verified`, others as `self-signed`. Copied to `KEYDIR/publishers/`.
    pub publisher_keys: Vec<PathBuf>,
}

/// What [`init`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InitReport {
    /// The registry directory.
    pub registry: PathBuf,
    /// The key directory.
    pub keys: PathBuf,
    /// The root's fingerprint (sha256 of `root.json`), to pin out of band.
    pub root_fingerprint: String,
    /// The key ids of the root, snapshot and timestamp keys.
    pub key_ids: [String; 3],
}

/// Creates a registry in `dir` (which must be empty or absent) with new signing keys in
/// `keys` (which must not be inside `dir`, symbolic links resolved): `config.json`,
/// `1.root.json` and `root.json`, an empty `snapshot.json` and `timestamp.json`.
pub fn init(dir: &Path, keys: &Path, options: &InitOptions) -> Result<InitReport, RegistryError> {
    let dir_resolved = resolve(dir)?;
    let keys_resolved = resolve(keys)?;
    if keys_resolved.starts_with(&dir_resolved) {
        return Err(PublishError::KeysInsideRegistry {
            keys: keys_resolved.display().to_string(),
            registry: dir_resolved.display().to_string(),
        }
        .into());
    }
    if dir.exists() && !dir.is_dir() {
        return Err(PublishError::NotEmpty {
            path: dir.display().to_string(),
            reason: "it is a file, not a directory".into(),
        }
        .into());
    }
    if let Ok(mut entries) = std::fs::read_dir(dir) {
        if entries.next().is_some() {
            return Err(PublishError::NotEmpty {
                path: dir.display().to_string(),
                reason: "it already holds files".into(),
            }
            .into());
        }
    }
    let generated = RegistryKeys::create(keys)?;
    for key in &options.publisher_keys {
        generated.add_publisher(keys, key)?;
    }
    mkdir(dir)?;
    let exp = &options.expiries;
    let role = |k: &crate::metadata::SigningKey| RoleKeys::new(vec![k.id().to_owned()], 1);
    let root = RootMeta {
        kind: Role::Root,
        format: FORMAT_VERSION,
        version: 1,
        expires: exp.after(exp.root)?,
        keys: [&generated.root, &generated.snapshot, &generated.timestamp]
            .iter()
            .map(|k| (k.id().to_owned(), k.public_base64()))
            .collect(),
        roles: Roles {
            root: role(&generated.root),
            snapshot: role(&generated.snapshot),
            timestamp: role(&generated.timestamp),
        },
    };
    let root_bytes = sign(&root, &[&generated.root])?;
    TrustedRoot::pin("the new registry", &root_bytes)?;
    let config = RegistryConfig::default().to_json();
    write(&dir.join("config.json"), &config)?;
    write(&dir.join("1.root.json"), &root_bytes)?;
    write(&dir.join("root.json"), &root_bytes)?;
    let mut meta = std::collections::BTreeMap::new();
    meta.insert("config.json".to_owned(), MetaFile::of(&config, 1));
    let registry = Registry {
        dir: dir.to_owned(),
        root,
        keys: generated,
        snapshot: SnapshotMeta {
            kind: Role::Snapshot,
            format: FORMAT_VERSION,
            version: 0,
            expires: String::new(),
            meta: std::collections::BTreeMap::new(),
        },
        timestamp_version: 0,
    };
    registry.commit(meta, exp)?;
    let r = &registry.keys;
    Ok(InitReport {
        registry: dir_resolved,
        keys: keys_resolved,
        root_fingerprint: crate::sha256_hex(&root_bytes),
        key_ids: [
            r.root.id().into(),
            r.snapshot.id().into(),
            r.timestamp.id().into(),
        ],
    })
}

/// What [`publish`] takes besides the paths.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PublishOptions {
    /// The channel the release starts in (default `ga`).
    pub channel: Channel,
    /// Metadata lifetimes.
    pub expiries: Expiries,
    /// Publisher public keys (a `.pub` file's text or its base64 line) vouched for in this
    /// publish only, besides `KEYDIR/publishers/`: the registry server passes the keys bound
    /// to the uploading account, so a release they sign is listed `verified`.
    pub publisher_keys: Vec<String>,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            channel: Channel::Ga,
            expiries: Expiries::default(),
            publisher_keys: Vec::new(),
        }
    }
}

/// What [`publish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishReport {
    /// The line now in the index.
    pub line: IndexLine,
    /// False when the same bytes were already published (nothing changed).
    pub added: bool,
    /// The package's path in the registry.
    pub package_path: String,
    /// The new snapshot version.
    pub snapshot_version: u64,
}

/// Publishes the package at `package` (signed: `PACKAGE.minisig` beside it) to the registry
/// in `dir`, signing with the keys in `keys`. The package is verified as a host verifies it
/// (size caps, signature, pins, the library for this platform and its embedded manifest);
/// the name must be a registry name not confusable with another plugin's. Publishing the
/// same bytes again changes nothing; other bytes under a published version are refused.
pub fn publish(
    dir: &Path,
    keys: &Path,
    package: &Path,
    options: &PublishOptions,
) -> Result<PublishReport, RegistryError> {
    publish_checked(dir, keys, package, options, &mut |_| Ok(()))
}

/// [`publish`], with `check` run on the release's line once the package has passed every
/// check and before anything is written, under the registry's lock: the registry server
/// refuses a name the uploader's account does not own there. An error from `check` leaves
/// the registry unchanged.
pub fn publish_checked(
    dir: &Path,
    keys: &Path,
    package: &Path,
    options: &PublishOptions,
    check: &mut dyn FnMut(&IndexLine) -> Result<(), RegistryError>,
) -> Result<PublishReport, RegistryError> {
    let _lock = Lock::take(dir)?;
    let registry = Registry::open(dir, keys)?;
    let mut trust = keys::trust_store(keys)?;
    for key in &options.publisher_keys {
        trust.add_author(key).map_err(|e| PublishError::Key {
            path: "a publisher key".into(),
            reason: e.to_string(),
        })?;
    }
    let checked = verify_copy(package, &trust)?;
    let line = release_line(&checked, options)?;
    check(&line)?;
    for existing in registry.names() {
        if existing != line.name && canonical_name(&existing) == canonical_name(&line.name) {
            return Err(FormatError::Confusable {
                name: line.name.clone(),
                existing,
            }
            .into());
        }
    }
    let file = registry.index_file(&line.name)?;
    if let Some(old) = file.releases.iter().find(|l| l.version == line.version) {
        if old.sha256 == line.sha256 {
            return Ok(PublishReport {
                line: old.clone(),
                added: false,
                package_path: registry.config()?.download_path(old)?,
                snapshot_version: registry.snapshot.version,
            });
        }
        return Err(PublishError::VersionExists {
            name: line.name.clone(),
            version: line.version.to_string(),
            existing: old.sha256.clone(),
        }
        .into());
    }
    let line = IndexLine {
        // A deprecated plugin stays deprecated in its new releases.
        deprecated: file.releases.last().and_then(|l| l.deprecated.clone()),
        ..line
    };
    let package_path = registry.config()?.download_path(&line)?;
    let snapshot_version =
        registry.add_releases(vec![(line.clone(), checked.bytes)], &options.expiries)?;
    Ok(PublishReport {
        line,
        added: true,
        package_path,
        snapshot_version,
    })
}

/// A package as verified for publishing: its bytes, its signature's text, what verification
/// found.
struct Checked {
    bytes: Vec<u8>,
    signature: String,
    package: switchboard_host::package::VerifiedPackage,
}

/// Reads `package` (and `PACKAGE.minisig`) once, and verifies a private copy of those bytes
/// as a host would, then preflights it: the bytes published are the bytes checked, whatever
/// happens to the caller's file meanwhile. Unsigned packages are refused.
fn verify_copy(
    package: &Path,
    trust: &switchboard_host::package::TrustStore,
) -> Result<Checked, RegistryError> {
    let limits = switchboard_host::package::UnpackLimits::default();
    let bytes = read_capped(package, limits.max_package_bytes)?;
    let mut sig_path = package.as_os_str().to_owned();
    sig_path.push(".minisig");
    let sig_path = PathBuf::from(sig_path);
    let signature = match std::fs::symlink_metadata(&sig_path) {
        Ok(_) => Some(String::from_utf8_lossy(&read_capped(&sig_path, 64 << 10)?).into_owned()),
        Err(_) => None,
    };
    let staging =
        tempfile::tempdir().map_err(|e| io_error(Path::new("a temporary directory"), &e))?;
    let staged = staging.path().join(
        package
            .file_name()
            .unwrap_or(std::ffi::OsStr::new("package.sbpkg")),
    );
    std::fs::write(&staged, &bytes).map_err(|e| io_error(&staged, &e))?;
    if let Some(sig) = &signature {
        let mut p = staged.as_os_str().to_owned();
        p.push(".minisig");
        std::fs::write(&p, sig).map_err(|e| io_error(Path::new(&p), &e))?;
    }
    let refused = |code: String, message: &str| -> RegistryError {
        PublishError::PackageRefused {
            package: package.display().to_string(),
            code,
            reason: message.replace(
                &staged.display().to_string(),
                &package.display().to_string(),
            ),
        }
        .into()
    };
    let verified = switchboard_host::verify_package_file(&staged, trust, &limits, None)
        .map_err(|e| refused(e.code().to_string(), &e.message()))?;
    // Preflight adds the manifest's own findings to what verification checks: an error there
    // is what a host's preflight would refuse too.
    let mut preflight = switchboard_host::PreflightOptions::new();
    preflight.trust(trust);
    let report = switchboard_host::preflight_with(&staged, &preflight);
    if let Some(d) = report.diagnostics().into_iter().find(|d| d.is_error()) {
        return Err(refused(d.code.clone(), &d.message));
    }
    let package_found = verified.package().clone();
    match (&signature, package_found.trust) {
        (Some(signature), t) if t > switchboard_host::TrustLevel::Unsigned => Ok(Checked {
            bytes,
            signature: signature.clone(),
            package: package_found,
        }),
        _ => Err(PublishError::Unsigned {
            package: package.display().to_string(),
        }
        .into()),
    }
}

/// The index line of a checked package.
fn release_line(checked: &Checked, options: &PublishOptions) -> Result<IndexLine, RegistryError> {
    let vp = &checked.package;
    let m = &vp.manifest;
    validate_name(&m.name)?;
    let version = semver::Version::parse(&m.version).map_err(|e| FormatError::Invalid {
        what: format!("the version of {}", m.name),
        reason: e.to_string(),
    })?;
    let req = &m.requires;
    let line = IndexLine {
        format: FORMAT_VERSION,
        name: m.name.clone(),
        version,
        dependencies: req
            .dependencies
            .iter()
            .map(|(n, d)| LineDependency::new(n.clone(), d.range(), d.optional()))
            .collect(),
        host_api: req
            .host_api
            .as_ref()
            .map(|h| LineHostApi::new(&h.name, &h.version)),
        sdk_abi: req.sdk_abi.clone().unwrap_or_else(|| {
            format!(
                "{}.{}",
                switchboard_sdk::abi::SDK_ABI_MAJOR,
                switchboard_sdk::abi::SDK_ABI_MINOR
            )
        }),
        capabilities: m.capabilities.clone(),
        sha256: crate::sha256_hex(&checked.bytes),
        size: checked.bytes.len() as u64,
        signer: vp.signer.clone().unwrap_or_default(),
        signature: checked.signature.clone(),
        trust: vp.trust,
        certification: None,
        channel: options.channel,
        yanked: None,
        deprecated: None,
        published: options.expiries.now_seconds().to_string(),
        description: m.description.clone(),
        keywords: m.keywords.clone(),
        categories: m.categories.clone(),
        license: m.license.clone(),
        repository: m.repository.clone(),
        maintainers: m.authors.clone(),
    };
    // The line must read back as a client reads it (sizes, names of dependencies, signer).
    IndexLine::parse(&line.to_json_line(), &|| {
        format!("the new index line of {}", line.name)
    })?;
    Ok(line)
}

/// Lists releases as given, in one signed change, **without verifying the packages**: for
/// tests, benchmarks and tools that build registries from packages verified elsewhere. Each
/// line must read back as a client reads it and its `sha256` and `size` must be its package's;
/// names must not be confusable with others; a version already listed is refused unless it is
/// the same package. Returns the new snapshot version.
pub fn publish_unverified(
    dir: &Path,
    keys: &Path,
    releases: Vec<(IndexLine, Vec<u8>)>,
    expiries: &Expiries,
) -> Result<u64, RegistryError> {
    let _lock = Lock::take(dir)?;
    let registry = Registry::open(dir, keys)?;
    let mut names: std::collections::BTreeMap<String, String> = registry
        .names()
        .into_iter()
        .map(|n| (canonical_name(&n), n))
        .collect();
    for (line, bytes) in &releases {
        IndexLine::parse(&line.to_json_line(), &|| {
            format!("the index line of {}", line.name)
        })?;
        if line.sha256 != crate::sha256_hex(bytes) || line.size != bytes.len() as u64 {
            return Err(PublishError::Refused {
                reason: format!(
                    "the line of {}@{} does not describe its package",
                    line.name, line.version
                ),
                next: "give each line its package's sha256 and size".into(),
            }
            .into());
        }
        let existing = names
            .entry(canonical_name(&line.name))
            .or_insert_with(|| line.name.clone());
        if *existing != line.name {
            return Err(FormatError::Confusable {
                name: line.name.clone(),
                existing: existing.clone(),
            }
            .into());
        }
    }
    registry.add_releases(releases, expiries)
}
/// What a change to existing releases did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChangeReport {
    /// The lines after the change.
    pub lines: Vec<IndexLine>,
    /// False when they already said so (nothing was re-signed).
    pub changed: bool,
    /// The snapshot version after the change.
    pub snapshot_version: u64,
}

/// Marks `name@version` withdrawn, with `reason`: resolvers skip it unless a lockfile names it.
pub fn yank(
    dir: &Path,
    keys: &Path,
    name: &str,
    version: &semver::Version,
    reason: &str,
    expiries: &Expiries,
) -> Result<ChangeReport, RegistryError> {
    if reason.trim().is_empty() {
        return Err(PublishError::Refused {
            reason: "a yank needs a reason".into(),
            next: "say why with --reason, e.g. `--reason \"data loss on upgrade\"`".into(),
        }
        .into());
    }
    change_release(
        dir,
        keys,
        name,
        Some(version),
        expiries,
        &|_| Ok(()),
        &mut |l| {
            l.yanked = Some(Yanked {
                reason: reason.to_owned(),
            });
            Ok(())
        },
    )
}

/// Withdraws a yank.
pub fn unyank(
    dir: &Path,
    keys: &Path,
    name: &str,
    version: &semver::Version,
    expiries: &Expiries,
) -> Result<ChangeReport, RegistryError> {
    change_release(
        dir,
        keys,
        name,
        Some(version),
        expiries,
        &|_| Ok(()),
        &mut |l| {
            l.yanked = None;
            Ok(())
        },
    )
}

/// Marks every release of `name` deprecated, naming `successor` (which must be in the
/// registry) if given.
pub fn deprecate(
    dir: &Path,
    keys: &Path,
    name: &str,
    successor: Option<&str>,
    expiries: &Expiries,
) -> Result<ChangeReport, RegistryError> {
    deprecate_with(dir, keys, name, successor, None, expiries)
}

/// [`deprecate`] with a message to users (at most 1024 bytes, one line).
pub fn deprecate_with(
    dir: &Path,
    keys: &Path,
    name: &str,
    successor: Option<&str>,
    message: Option<&str>,
    expiries: &Expiries,
) -> Result<ChangeReport, RegistryError> {
    if let Some(s) = successor {
        validate_name(s)?;
    }
    let message = message.map(str::trim).filter(|m| !m.is_empty());
    if let Some(m) = message {
        if m.len() > crate::format::MAX_DEPRECATION_MESSAGE || m.contains(['\n', '\r']) {
            return Err(PublishError::Refused {
                reason: "the deprecation message is longer than 1024 bytes or has line breaks"
                    .into(),
                next: "say it in one line of at most 1024 bytes".into(),
            }
            .into());
        }
    }
    let successor_listed = |registry: &Registry| -> Result<(), RegistryError> {
        match successor {
            Some(s) if s == name || !registry.names().iter().any(|n| n == s) => {
                Err(PublishError::Refused {
                    reason: format!("the successor `{s}` is not another plugin of this registry"),
                    next: "publish the successor first, or deprecate without --successor".into(),
                }
                .into())
            }
            _ => Ok(()),
        }
    };
    change_release(
        dir,
        keys,
        name,
        None,
        expiries,
        &successor_listed,
        &mut |l| {
            l.deprecated = Some(Deprecated::new(
                successor.map(str::to_owned),
                message.map(str::to_owned),
            ));
            Ok(())
        },
    )
}

/// Moves `name@version` to `channel`: draft → beta → ga, forwards only (a release users may
/// have installed from `ga` does not go back; yank it instead).
pub fn promote(
    dir: &Path,
    keys: &Path,
    name: &str,
    version: &semver::Version,
    channel: Channel,
    expiries: &Expiries,
) -> Result<ChangeReport, RegistryError> {
    change_release(
        dir,
        keys,
        name,
        Some(version),
        expiries,
        &|_| Ok(()),
        &mut |l| {
            if channel < l.channel {
                return Err(PublishError::Refused {
                    reason: format!(
                        "{}@{} is in {}; channels only move forward (draft → beta → ga)",
                        l.name, l.version, l.channel
                    ),
                    next: "yank the release if it should not be used".into(),
                }
                .into());
            }
            l.channel = channel;
            Ok(())
        },
    )
}

/// Marks `name@version` certified: its line gets trust `certified` and `certification`, the
/// registry's countersignature over the release's signature (a `.cert` file's text, made by
/// the server's certification key; see `server::certification`). The same countersignature
/// again changes nothing.
pub fn certify(
    dir: &Path,
    keys: &Path,
    name: &str,
    version: &semver::Version,
    certification: &str,
    expiries: &Expiries,
) -> Result<ChangeReport, RegistryError> {
    if certification.is_empty() || certification.len() > crate::format::MAX_CERTIFICATION_BYTES {
        return Err(PublishError::Refused {
            reason: "a certification is a countersignature of at most 4096 bytes".into(),
            next: "certify through the registry server (`switchboard certify approve`)".into(),
        }
        .into());
    }
    change_release(
        dir,
        keys,
        name,
        Some(version),
        expiries,
        &|_| Ok(()),
        &mut |l| {
            l.trust = switchboard_host::TrustLevel::Certified;
            l.certification = Some(certification.to_owned());
            Ok(())
        },
    )
}

/// Re-signs the snapshot and the timestamp with fresh expiries (run it from a scheduler more
/// often than the timestamp's lifetime, so clients never find the registry expired).
pub fn resign(dir: &Path, keys: &Path, expiries: &Expiries) -> Result<u64, RegistryError> {
    let _lock = Lock::take(dir)?;
    let registry = Registry::open(dir, keys)?;
    registry.commit(registry.snapshot.meta.clone(), expiries)
}

/// Replaces the signing key of `role` with a new one: writes `N+1.root.json` (and
/// `root.json`) naming the new key, signed by the current root key and — for the root role —
/// by the new one too, so clients follow the rotation; then re-signs the snapshot and the
/// timestamp. The old secret key is kept as `KEYDIR/ROLE.key.N` (N: the root version it
/// served under). Returns the new root version.
pub fn rotate_key(
    dir: &Path,
    keys: &Path,
    role: Role,
    expiries: &Expiries,
) -> Result<u64, RegistryError> {
    let _lock = Lock::take(dir)?;
    let mut registry = Registry::open(dir, keys)?;
    let new_key = crate::metadata::SigningKey::generate().map_err(|reason| PublishError::Key {
        path: keys.display().to_string(),
        reason,
    })?;
    let mut root = registry.root.clone();
    let old_id = registry.keys.get(role).id().to_owned();
    root.version += 1;
    root.expires = expiries.after(expiries.root)?;
    root.keys
        .insert(new_key.id().to_owned(), new_key.public_base64());
    let roles = [Role::Root, Role::Snapshot, Role::Timestamp];
    match role {
        Role::Root => root.roles.root = RoleKeys::new(vec![new_key.id().to_owned()], 1),
        Role::Snapshot => root.roles.snapshot = RoleKeys::new(vec![new_key.id().to_owned()], 1),
        _ => root.roles.timestamp = RoleKeys::new(vec![new_key.id().to_owned()], 1),
    }
    if !roles
        .iter()
        .any(|r| root.roles.get(*r).keyids.contains(&old_id))
    {
        root.keys.remove(&old_id);
    }
    let signers: Vec<&crate::metadata::SigningKey> = if role == Role::Root {
        vec![&registry.keys.root, &new_key]
    } else {
        vec![&registry.keys.root]
    };
    let root_bytes = sign(&root, &signers)?;
    // The new key first (beside the old), then the root that names it, then the key swap.
    let secret = new_key.secret_text().map_err(|reason| PublishError::Key {
        path: keys.display().to_string(),
        reason,
    })?;
    let next = keys.join(format!("{role}.key.next"));
    let _ = std::fs::remove_file(&next);
    keys::write_private(&next, secret.as_bytes())?;
    write(
        &dir.join(format!("{}.root.json", root.version)),
        &root_bytes,
    )?;
    write(&dir.join("root.json"), &root_bytes)?;
    let current = keys.join(format!("{role}.key"));
    let kept = keys.join(format!("{role}.key.{}", registry.root.version));
    std::fs::rename(&current, &kept).map_err(|e| io_error(&current, &e))?;
    std::fs::rename(&next, &current).map_err(|e| io_error(&next, &e))?;
    write(
        &keys.join(format!("{role}.pub")),
        new_key.public_text().as_bytes(),
    )?;
    registry.keys.set(role, new_key);
    registry.root = root;
    let version = registry.root.version;
    registry.commit(registry.snapshot.meta.clone(), expiries)?;
    Ok(version)
}

/// Signs a new root version with the same keys and a fresh expiry (run it well before the
/// root's `expires`; clients follow it like any rotation). Returns the new root version.
pub fn renew_root(dir: &Path, keys: &Path, expiries: &Expiries) -> Result<u64, RegistryError> {
    let _lock = Lock::take(dir)?;
    let mut registry = Registry::open(dir, keys)?;
    let mut root = registry.root.clone();
    root.version += 1;
    root.expires = expiries.after(expiries.root)?;
    let root_bytes = sign(&root, &[&registry.keys.root])?;
    write(
        &dir.join(format!("{}.root.json", root.version)),
        &root_bytes,
    )?;
    write(&dir.join("root.json"), &root_bytes)?;
    registry.root = root;
    registry.commit(registry.snapshot.meta.clone(), expiries)?;
    Ok(registry.root.version)
}

fn change_release(
    dir: &Path,
    keys: &Path,
    name: &str,
    version: Option<&semver::Version>,
    expiries: &Expiries,
    check: &dyn Fn(&Registry) -> Result<(), RegistryError>,
    edit: &mut dyn FnMut(&mut IndexLine) -> Result<(), RegistryError>,
) -> Result<ChangeReport, RegistryError> {
    validate_name(name)?;
    let _lock = Lock::take(dir)?;
    let registry = Registry::open(dir, keys)?;
    check(&registry)?;
    let mut file = registry.index_file(name)?;
    let before = file.clone();
    let mut touched = Vec::new();
    for line in file.releases.iter_mut() {
        if version.is_none_or(|v| &line.version == v) {
            edit(line)?;
            touched.push(line.clone());
        }
    }
    if touched.is_empty() {
        return Err(PublishError::NotPublished {
            what: match version {
                Some(v) => format!("release {name}@{v}"),
                None => format!("plugin {name}"),
            },
        }
        .into());
    }
    if file == before {
        return Ok(ChangeReport {
            lines: touched,
            changed: false,
            snapshot_version: registry.snapshot.version,
        });
    }
    let snapshot_version = registry.write_index(name, &file, expiries)?;
    Ok(ChangeReport {
        lines: touched,
        changed: true,
        snapshot_version,
    })
}

/// An open registry directory with its keys, verified.
struct Registry {
    dir: PathBuf,
    root: RootMeta,
    keys: RegistryKeys,
    snapshot: SnapshotMeta,
    timestamp_version: u64,
}

impl Registry {
    fn open(dir: &Path, keys: &Path) -> Result<Registry, RegistryError> {
        let not_registry = |reason: String| -> RegistryError {
            PublishError::NotARegistry {
                path: dir.display().to_string(),
                reason,
            }
            .into()
        };
        let root_bytes = read_capped(&dir.join("root.json"), crate::metadata::MAX_ROOT_BYTES)
            .map_err(|e| not_registry(e.message()))?;
        let root = TrustedRoot::pin("the registry", &root_bytes)?;
        let keys = RegistryKeys::load(keys, &root.meta)?;
        let read_role = |role: Role, cap: u64| -> Result<Envelope, RegistryError> {
            let bytes =
                read_capped(&dir.join(role.file()), cap).map_err(|e| not_registry(e.message()))?;
            let env = Envelope::parse(&bytes, cap, role.file())?;
            env.verify(
                "the registry",
                role,
                root.meta.roles.get(role),
                &root.meta.keys,
            )?;
            Ok(env)
        };
        let snapshot: SnapshotMeta = read_role(Role::Snapshot, MAX_SNAPSHOT_BYTES)?
            .signed_as("the registry", Role::Snapshot)?;
        let timestamp: TimestampMeta = read_role(Role::Timestamp, MAX_TIMESTAMP_BYTES)?
            .signed_as("the registry", Role::Timestamp)?;
        Ok(Registry {
            dir: dir.to_owned(),
            root: root.meta,
            keys,
            snapshot,
            timestamp_version: timestamp.version,
        })
    }

    fn names(&self) -> Vec<String> {
        self.snapshot
            .meta
            .keys()
            .filter_map(|p| name_of_index_path(p))
            .map(str::to_owned)
            .collect()
    }

    fn config(&self) -> Result<RegistryConfig, RegistryError> {
        let bytes = read_capped(
            &self.dir.join("config.json"),
            crate::format::MAX_CONFIG_BYTES,
        )?;
        Ok(RegistryConfig::parse(&bytes)?)
    }

    /// The index file of `name` as the registry holds it (empty if none). A file whose
    /// lines this version cannot read in full is refused rather than rewritten without them.
    fn index_file(&self, name: &str) -> Result<IndexFile, RegistryError> {
        let path = index_path(name)?;
        if !self.snapshot.meta.contains_key(&path) {
            return Ok(IndexFile::default());
        }
        let bytes = read_capped(&self.dir.join(&path), MAX_INDEX_FILE_BYTES)?;
        let file = IndexFile::parse(name, &bytes)?;
        if file.skipped_newer > 0 {
            return Err(FormatError::NewerFormat {
                what: path,
                found: FORMAT_VERSION + 1,
                supported: FORMAT_VERSION,
            }
            .into());
        }
        Ok(file)
    }

    /// Writes each package (content-addressed, unless already there) and appends its line,
    /// then signs one new snapshot and timestamp. Lines for a version already listed are
    /// skipped when the package is the same and refused otherwise.
    fn add_releases(
        &self,
        releases: Vec<(IndexLine, Vec<u8>)>,
        expiries: &Expiries,
    ) -> Result<u64, RegistryError> {
        let config = self.config()?;
        let max = switchboard_host::package::UnpackLimits::default().max_package_bytes;
        let mut files: std::collections::BTreeMap<String, IndexFile> = Default::default();
        for (line, bytes) in releases {
            if !files.contains_key(&line.name) {
                files.insert(line.name.clone(), self.index_file(&line.name)?);
            }
            let Some(file) = files.get_mut(&line.name) else {
                continue;
            };
            if let Some(old) = file.releases.iter().find(|l| l.version == line.version) {
                if old.sha256 == line.sha256 {
                    continue;
                }
                return Err(PublishError::VersionExists {
                    name: line.name.clone(),
                    version: line.version.to_string(),
                    existing: old.sha256.clone(),
                }
                .into());
            }
            let target = self.dir.join(config.download_path(&line)?);
            let present = read_capped(&target, max)
                .ok()
                .is_some_and(|b| crate::sha256_hex(&b) == line.sha256);
            if !present {
                write(&target, &bytes)?;
            }
            file.releases.push(line);
        }
        let mut meta = self.snapshot.meta.clone();
        for (name, file) in &files {
            let path = index_path(name)?;
            let bytes = file.to_bytes();
            if meta.get(&path).is_some_and(|m| m.matches(&bytes)) {
                continue;
            }
            write(&self.dir.join(&path), &bytes)?;
            let version = meta.get(&path).map_or(1, |m| m.version + 1);
            meta.insert(path, MetaFile::of(&bytes, version));
        }
        self.commit(meta, expiries)
    }

    /// Writes `name`'s index file, then a new snapshot and timestamp. Returns the snapshot
    /// version.
    fn write_index(
        &self,
        name: &str,
        file: &IndexFile,
        expiries: &Expiries,
    ) -> Result<u64, RegistryError> {
        let path = index_path(name)?;
        let bytes = file.to_bytes();
        // Never write what a client would refuse: it would break the plugin's index file for
        // every client and every later command, until someone edited it by hand.
        IndexFile::parse(name, &bytes).map_err(|e| PublishError::WouldBeRefused {
            name: name.to_owned(),
            reason: e.to_string(),
        })?;
        write(&self.dir.join(&path), &bytes)?;
        let mut meta = self.snapshot.meta.clone();
        let version = meta.get(&path).map_or(1, |m| m.version + 1);
        meta.insert(path, MetaFile::of(&bytes, version));
        self.commit(meta, expiries)
    }

    /// Signs and writes a snapshot over `meta`, then the timestamp over it (last: it is what
    /// makes the change visible). Returns the snapshot version.
    fn commit(
        &self,
        meta: std::collections::BTreeMap<String, MetaFile>,
        expiries: &Expiries,
    ) -> Result<u64, RegistryError> {
        let snapshot = SnapshotMeta {
            kind: Role::Snapshot,
            format: FORMAT_VERSION,
            version: self.snapshot.version + 1,
            expires: expiries.after(expiries.snapshot)?,
            meta,
        };
        let snap_bytes = sign(&snapshot, &[&self.keys.snapshot])?;
        let timestamp = TimestampMeta {
            kind: Role::Timestamp,
            format: FORMAT_VERSION,
            version: self.timestamp_version + 1,
            expires: expiries.after(expiries.timestamp)?,
            snapshot: MetaFile::of(&snap_bytes, snapshot.version),
        };
        let ts_bytes = sign(&timestamp, &[&self.keys.timestamp])?;
        write(&self.dir.join(Role::Snapshot.file()), &snap_bytes)?;
        write(&self.dir.join(Role::Timestamp.file()), &ts_bytes)?;
        Ok(snapshot.version)
    }
}

fn sign(
    signed: &impl serde::Serialize,
    keys: &[&crate::metadata::SigningKey],
) -> Result<Vec<u8>, RegistryError> {
    sign_envelope(signed, keys)
        .map(|e| e.to_bytes())
        .map_err(|reason| {
            PublishError::Key {
                path: keys.iter().map(|k| k.id()).collect::<Vec<_>>().join(", "),
                reason: format!("signing failed: {reason}"),
            }
            .into()
        })
}

/// The registry's lock, released on drop.
#[derive(Debug)]
struct Lock {
    path: PathBuf,
}

impl Lock {
    fn take(dir: &Path) -> Result<Lock, RegistryError> {
        let path = dir.join(LOCK_FILE);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(_) => Ok(Lock { path }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(PublishError::Locked {
                path: path.display().to_string(),
            }
            .into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(PublishError::NotARegistry {
                path: dir.display().to_string(),
                reason: "no such directory".into(),
            }
            .into()),
            Err(e) => Err(io_error(&path, &e)),
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub(crate) fn io_error(path: &Path, e: &std::io::Error) -> RegistryError {
    PublishError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
    .into()
}

fn mkdir(dir: &Path) -> Result<(), RegistryError> {
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))
}

/// Writes a registry file through a temporary file, fsync and rename.
fn write(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    write_atomic(path, bytes).map_err(|e| {
        PublishError::Io {
            path: path.display().to_string(),
            reason: e.message(),
        }
        .into()
    })
}

/// Reads a regular file of at most `cap` bytes.
pub(crate) fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, RegistryError> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| io_error(path, &e))?;
    if !meta.is_file() {
        return Err(PublishError::Io {
            path: path.display().to_string(),
            reason: "not a regular file".into(),
        }
        .into());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(cap + 1).read_to_end(&mut bytes))
        .map_err(|e| io_error(path, &e))?;
    if bytes.len() as u64 > cap {
        return Err(PublishError::Io {
            path: path.display().to_string(),
            reason: format!("larger than {cap} bytes"),
        }
        .into());
    }
    Ok(bytes)
}

/// `path` with symbolic links resolved, for a path that may not exist yet: its nearest
/// existing ancestor resolved, the rest appended.
fn resolve(path: &Path) -> Result<PathBuf, RegistryError> {
    let abs = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()
            .map_err(|e| io_error(path, &e))?
            .join(path)
    };
    let mut rest = Vec::new();
    let mut cur = abs.as_path();
    loop {
        if let Ok(real) = cur.canonicalize() {
            let mut out = real;
            for c in rest.iter().rev() {
                out.push(c);
            }
            return Ok(out);
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                if name == ".." {
                    return Err(PublishError::Refused {
                        reason: format!("{} has `..` beneath a missing directory", path.display()),
                        next: "give the directory without `..`".into(),
                    }
                    .into());
                }
                rest.push(name.to_owned());
                cur = parent;
            }
            _ => return Ok(abs),
        }
    }
}

#[cfg(test)]
mod tests;
