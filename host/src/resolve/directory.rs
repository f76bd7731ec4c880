//! [`DirectoryIndex`]: an [`Index`] read from a plain directory, one TOML file per plugin.
//!
//! A stop-gap for preflight (`switchboard preflight --index DIR`) and tests until the
//! registry's sparse index exists; its format is deliberately small. `DIR/NAME.toml`:
//!
//! ```toml
//! [[release]]
//! version = "3.1.0"
//! checksum = "sha256:9f86d0…"                      # optional
//! sdk_abi = "1.1"                                  # optional: this SDK's ABI
//! host_api = { name = "my-app", version = "^1.4" } # optional
//! dependencies = { geo = "^3", maps = { version = "^1.4", optional = true } }
//! yanked = false                                   # optional
//! ```
//!
//! A plugin without a file is not in the index. Names are identifiers, never paths: a name
//! that breaks the naming rules is not looked up at all.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use semver::{Version, VersionReq};
use serde::Deserialize;
use switchboard_sdk::manifest::valid_name;

use super::index::{Dependency, HostApiReq, Index, Release};
use crate::error::IndexError;

/// The largest index file read, in bytes.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// An [`Index`] over a directory of `NAME.toml` files (format in the module docs).
///
/// # Example
///
/// ```
/// use switchboard_host::{DirectoryIndex, Index};
///
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("geo.toml"), "[[release]]\nversion = \"3.0.0\"\n").unwrap();
/// let index = DirectoryIndex::new(dir.path());
/// assert_eq!(index.releases("geo").unwrap().unwrap()[0].version.to_string(), "3.0.0");
/// assert!(index.releases("maps").unwrap().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct DirectoryIndex {
    dir: PathBuf,
}

impl DirectoryIndex {
    /// The index in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirectoryIndex { dir: dir.into() }
    }

    /// The directory it reads.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    release: Vec<ReleaseEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseEntry {
    version: Version,
    #[serde(default)]
    checksum: String,
    #[serde(default)]
    sdk_abi: Option<String>,
    #[serde(default)]
    host_api: Option<HostApiEntry>,
    #[serde(default)]
    dependencies: BTreeMap<String, DependencyEntry>,
    #[serde(default)]
    yanked: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostApiEntry {
    name: String,
    version: VersionReq,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DependencyEntry {
    Range(VersionReq),
    Detailed {
        version: VersionReq,
        #[serde(default)]
        optional: bool,
    },
}

impl Index for DirectoryIndex {
    fn releases(&self, name: &str) -> Result<Option<Cow<'_, [Release]>>, IndexError> {
        if !valid_name(name) {
            return Ok(None);
        }
        let path = self.dir.join(format!("{name}.toml"));
        // Opening a FIFO would block until someone writes to it.
        if std::fs::metadata(&path).is_ok_and(|m| !m.is_file()) {
            return Err(IndexError::new(
                name,
                format!("cannot read {}: not a regular file", path.display()),
            ));
        }
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(IndexError::new(
                    name,
                    format!("cannot read {}: {e}", path.display()),
                ))
            }
        };
        let mut text = String::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| IndexError::new(name, format!("cannot read {}: {e}", path.display())))?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(IndexError::new(
                name,
                format!("{} is over {MAX_FILE_BYTES} bytes", path.display()),
            ));
        }
        let parsed: File = toml::from_str(&text).map_err(|e| {
            IndexError::new(
                name,
                format!(
                    "{} is not a valid index file: {}",
                    path.display(),
                    e.message().trim()
                ),
            )
        })?;
        let mut releases = Vec::with_capacity(parsed.release.len());
        for r in parsed.release {
            let mut release = Release::new(r.version, r.checksum);
            if let Some(abi) = &r.sdk_abi {
                let (major, minor) = abi
                    .split_once('.')
                    .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                    .ok_or_else(|| {
                        IndexError::new(
                            name,
                            format!("{}: sdk_abi `{abi}` is not MAJOR.MINOR", path.display()),
                        )
                    })?;
                release = release.with_sdk_abi(major, minor);
            }
            if let Some(api) = r.host_api {
                release.host_api = Some(HostApiReq::new(api.name, api.version));
            }
            for (dep, entry) in r.dependencies {
                release = release.with_dependency(match entry {
                    DependencyEntry::Range(req) => Dependency::new(dep, req),
                    DependencyEntry::Detailed {
                        version,
                        optional: false,
                    } => Dependency::new(dep, version),
                    DependencyEntry::Detailed {
                        version,
                        optional: true,
                    } => Dependency::optional(dep, version),
                });
            }
            if r.yanked {
                release = release.yanked();
            }
            releases.push(release);
        }
        Ok(Some(Cow::Owned(releases)))
    }
}
