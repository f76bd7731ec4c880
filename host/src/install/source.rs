//! Where packages come from: the [`PackageSource`] trait, and [`FileSource`] — one `.sbpkg`
//! file or a directory of them. A registry client implements the same trait.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use semver::{Version, VersionReq};
use sha2::{Digest, Sha256};
use switchboard_sdk::manifest::Manifest;

use super::error::SourceError;
use crate::error::IndexError;
use crate::package::{self, UnpackLimits};
use crate::resolve::{Dependency, Index, MemoryIndex, Release};

/// A place packages come from: a package file, a directory of packages, a registry.
///
/// The installer reads a source's [`index`](PackageSource::index) to resolve, then
/// [`fetch`](PackageSource::fetch)es the releases it chose. It trusts nothing a source says:
/// every fetched package's sha256 is checked against the checksum the index listed, and the
/// package is verified as [`Host::verify_package_with`](crate::Host::verify_package_with)
/// does (signature, manifest pins, policy, compatibility) before any of its code runs.
///
/// # Signatures
///
/// `fetch` writes the package to `dest`. A source that has the package's signature writes
/// it beside, to `dest` with `.minisig` appended (and a registry countersignature to
/// `.cert`), as packages are laid out on disk; without one the package verifies as unsigned,
/// which a host refuses unless unsigned code was allowed.
pub trait PackageSource: Send + Sync + std::fmt::Debug {
    /// `file:/path/dir` or `registry:NAME` — shown in `list`'s source column and the journal.
    fn label(&self) -> String;
    /// The releases this source offers, for the resolver.
    fn index(&self) -> &dyn Index;
    /// Writes NAME@VERSION's package bytes to `dest`, reporting (bytes so far, total if known).
    fn fetch(
        &self,
        name: &str,
        version: &semver::Version,
        dest: &std::path::Path,
        progress: &mut dyn FnMut(u64, Option<u64>),
    ) -> Result<(), SourceError>;
}

/// The checksum text the index and lockfile use for a package's bytes: `sha256:HEX`.
pub(crate) fn checksum_text(hex: &str) -> String {
    format!("sha256:{hex}")
}

/// The hex digest in a checksum text (`sha256:HEX` or a bare `HEX`).
pub(crate) fn checksum_hex(text: &str) -> &str {
    text.strip_prefix("sha256:").unwrap_or(text)
}

/// A package file, or a directory of package files, as a [`PackageSource`].
///
/// Its index is built from the packages' manifests when the source is opened (the manifest
/// is read, not trusted: the installer verifies what it fetches), with each release's
/// checksum the sha256 of the file. Signatures are the `.minisig` files beside the packages.
///
/// # Example
///
/// ```no_run
/// use switchboard_host::install::{FileSource, PackageSource};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let source = FileSource::open("/srv/plugins")?;
/// assert_eq!(source.label(), "file:/srv/plugins");
/// let hello = source.index().releases("hello")?.expect("hello is there");
/// println!("{} releases of hello", hello.len());
/// # Ok(()) }
/// ```
pub struct FileSource {
    root: PathBuf,
    index: MemoryIndex,
    /// Each release's file: (name, version) → path.
    files: BTreeMap<(String, Version), PathBuf>,
    /// Files that are not valid packages, with the reason, skipped when indexing.
    skipped: Vec<(PathBuf, String)>,
}

impl fmt::Debug for FileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSource")
            .field("root", &self.root)
            .field("releases", &self.files.len())
            .finish_non_exhaustive()
    }
}

impl FileSource {
    /// Opens a package file or a directory of `*.sbpkg` files and indexes them with the
    /// default [`UnpackLimits`].
    ///
    /// A single file that is not a package is an error; in a directory, such files are
    /// skipped and listed by [`skipped`](Self::skipped).
    pub fn open(path: impl AsRef<Path>) -> Result<FileSource, SourceError> {
        Self::open_with(path, &UnpackLimits::default())
    }

    /// [`open`](Self::open) with size limits for reading manifests.
    pub fn open_with(
        path: impl AsRef<Path>,
        limits: &UnpackLimits,
    ) -> Result<FileSource, SourceError> {
        let root = path.as_ref().to_path_buf();
        let label = format!("file:{}", root.display());
        let io = |what: &'static str, p: &Path, e: std::io::Error| SourceError::Io {
            source_label: label.clone(),
            what,
            path: p.to_owned(),
            reason: e.to_string(),
        };
        let meta = std::fs::metadata(&root).map_err(|e| io("read", &root, e))?;
        let mut source = FileSource {
            root: root.clone(),
            index: MemoryIndex::new(),
            files: BTreeMap::new(),
            skipped: Vec::new(),
        };
        if meta.is_dir() {
            let mut paths = Vec::new();
            for entry in std::fs::read_dir(&root).map_err(|e| io("list", &root, e))? {
                let entry = entry.map_err(|e| io("list", &root, e))?;
                let p = entry.path();
                if p.extension().and_then(|e| e.to_str()) == Some(package::EXTENSION) && p.is_file()
                {
                    paths.push(p);
                }
            }
            paths.sort();
            for p in paths {
                if let Err(reason) = source.add(&p, limits) {
                    source.skipped.push((p, reason));
                }
            }
        } else {
            source
                .add(&root, limits)
                .map_err(|reason| SourceError::Other {
                    source_label: label.clone(),
                    message: format!("{} is not a package: {reason}", root.display()),
                    next_step: "pass a .sbpkg file built by `switchboard pack`".into(),
                })?;
        }
        Ok(source)
    }

    /// The packages of a directory that could not be indexed, with the reason.
    pub fn skipped(&self) -> &[(PathBuf, String)] {
        &self.skipped
    }

    /// The file of release `name@version`, if this source has it.
    pub fn file(&self, name: &str, version: &Version) -> Option<&Path> {
        self.files
            .get(&(name.to_owned(), version.clone()))
            .map(PathBuf::as_path)
    }

    /// The releases this source holds, as `(name, version)`, sorted.
    pub fn releases(&self) -> impl Iterator<Item = (&str, &Version)> {
        self.files.keys().map(|(n, v)| (n.as_str(), v))
    }

    fn add(&mut self, path: &Path, limits: &UnpackLimits) -> Result<(), String> {
        let bytes =
            crate::verify::read(path, limits.max_package_bytes).map_err(|e| e.to_string())?;
        let (_, manifest) = package::read_manifest(&bytes, limits).map_err(|e| e.to_string())?;
        let hex = package::sha256_hex(&bytes);
        let release = release_of(&manifest, &checksum_text(&hex))?;
        let key = (manifest.name.clone(), release.version.clone());
        if self.files.contains_key(&key) {
            return Err(format!(
                "a second package of {} {} (the first is kept)",
                key.0, key.1
            ));
        }
        self.index.add(manifest.name.clone(), release);
        self.files.insert(key, path.to_owned());
        Ok(())
    }
}

/// The index entry a package manifest describes.
pub(crate) fn release_of(manifest: &Manifest, checksum: &str) -> Result<Release, String> {
    let version = Version::parse(&manifest.version)
        .map_err(|e| format!("version `{}`: {e}", manifest.version))?;
    let mut release = Release::new(version, checksum);
    for (name, dep) in &manifest.requires.dependencies {
        let req = VersionReq::parse(dep.range())
            .map_err(|e| format!("dependency `{name}` range `{}`: {e}", dep.range()))?;
        release = release.with_dependency(if dep.optional() {
            Dependency::optional(name.clone(), req)
        } else {
            Dependency::new(name.clone(), req)
        });
    }
    if let Some(api) = &manifest.requires.host_api {
        let req = VersionReq::parse(&api.version)
            .map_err(|e| format!("host API range `{}`: {e}", api.version))?;
        release = release.with_host_api(api.name.clone(), req);
    }
    if let Some(abi) = &manifest.requires.sdk_abi {
        if let Some((major, minor)) = abi.split_once('.') {
            if let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) {
                release = release.with_sdk_abi(major, minor);
            }
        }
    }
    Ok(release)
}

impl PackageSource for FileSource {
    fn label(&self) -> String {
        format!("file:{}", self.root.display())
    }

    fn index(&self) -> &dyn Index {
        &self.index
    }

    fn fetch(
        &self,
        name: &str,
        version: &Version,
        dest: &Path,
        progress: &mut dyn FnMut(u64, Option<u64>),
    ) -> Result<(), SourceError> {
        let Some(from) = self.file(name, version) else {
            return Err(SourceError::NotFound {
                source_label: self.label(),
                name: name.to_owned(),
                version: version.to_string(),
            });
        };
        let io = |what: &'static str, p: &Path, e: std::io::Error| SourceError::Io {
            source_label: self.label(),
            what,
            path: p.to_owned(),
            reason: e.to_string(),
        };
        copy_with_progress(from, dest, progress).map_err(|e| io("copy", from, e))?;
        for ext in [".minisig", ".cert"] {
            let side = with_suffix(from, ext);
            if side.is_file() {
                let to = with_suffix(dest, ext);
                std::fs::copy(&side, &to).map_err(|e| io("copy", &side, e))?;
            }
        }
        Ok(())
    }
}

/// `path` with `suffix` appended to its file name (`x.sbpkg` → `x.sbpkg.minisig`).
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn copy_with_progress(
    from: &Path,
    to: &Path,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> std::io::Result<()> {
    use std::io::Write;
    let mut input = std::fs::File::open(from)?;
    let total = input.metadata().ok().map(|m| m.len());
    let mut output = std::fs::File::create(to)?;
    let mut buf = vec![0u8; 64 << 10];
    let mut done = 0u64;
    progress(0, total);
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        output.write_all(&buf[..n])?;
        done += n as u64;
        progress(done, total);
    }
    output.flush()
}

/// Hashes a file's bytes.
pub(crate) fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Several sources as one index, in priority order, then what is installed: for each
/// version of a plugin, the first that lists it provides it.
pub(crate) struct Sources<'a> {
    pub sources: Vec<&'a dyn PackageSource>,
    /// The installed releases, so the resolver can keep them without a source listing them.
    pub installed: &'a MemoryIndex,
    /// Plugins whose installed release comes first for its version: those the operation is
    /// not about, so a source offering the same version with other bytes does not replace it.
    pub keep_installed: std::collections::BTreeSet<String>,
}

impl Index for Sources<'_> {
    fn releases(&self, name: &str) -> Result<Option<Cow<'_, [Release]>>, IndexError> {
        let mut found: Option<Vec<Release>> = None;
        let installed: &dyn Index = self.installed;
        let first: Option<&dyn Index> = self.keep_installed.contains(name).then_some(installed);
        let indexes = first
            .into_iter()
            .chain(self.sources.iter().map(|s| s.index()))
            .chain([installed]);
        for index in indexes {
            if let Some(rs) = index.releases(name)? {
                let all = found.get_or_insert_with(Vec::new);
                for r in rs.iter() {
                    if !all.iter().any(|a| a.version == r.version) {
                        all.push(r.clone());
                    }
                }
            }
        }
        Ok(found.map(Cow::Owned))
    }
}

impl Sources<'_> {
    /// The first source that lists `name@version`, by position.
    pub fn provider(
        &self,
        name: &str,
        version: &Version,
    ) -> Result<Option<(usize, Release)>, IndexError> {
        for (i, s) in self.sources.iter().enumerate() {
            if let Some(rs) = s.index().releases(name)? {
                if let Some(r) = rs.iter().find(|r| &r.version == version) {
                    return Ok(Some((i, r.clone())));
                }
            }
        }
        Ok(None)
    }

    /// The sources' labels, for messages.
    pub fn labels(&self) -> String {
        if self.sources.is_empty() {
            return "none configured".into();
        }
        self.sources
            .iter()
            .map(|s| s.label())
            .collect::<Vec<_>>()
            .join(", ")
    }
}
