//! `switchboard.lock`: what was resolved, where it came from and how far it was trusted, so
//! the next install makes the same choices — and `--locked` can refuse any other.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use semver::Version;
use serde::{Deserialize, Serialize};

use super::graph::{GraphNode, InstalledGraph};
use super::solve::{Resolution, ResolvedPlugin};
use crate::error::ResolveError;
use crate::package::TrustLevel;

/// The lockfile's conventional file name.
///
/// # Example
///
/// ```
/// let path = std::path::Path::new("/srv/app").join(switchboard_host::LOCKFILE_NAME);
/// assert!(path.ends_with("switchboard.lock"));
/// ```
pub const LOCKFILE_NAME: &str = "switchboard.lock";

/// The largest lockfile [`Lockfile::read`] reads: far above any real one (a few hundred bytes
/// a plugin).
const MAX_LOCKFILE_BYTES: u64 = 16 << 20;

const HEADER: &str =
    "# switchboard.lock: written by Switchboard from a resolution. Do not edit.\n\n";

/// Where a resolved plugin comes from and how far it is trusted — what the lockfile records
/// beside the resolution itself.
///
/// # Example
///
/// ```
/// use switchboard_host::{Provenance, TrustLevel};
///
/// let p = Provenance::new("registry+https://plugins.example", TrustLevel::Verified)
///     .with_signer("RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3");
/// assert!(p.signer.is_some());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Provenance {
    /// The source, e.g. `registry+https://…` or `path+/srv/plugins`.
    pub source: String,
    /// The id of the key that signed the package, if signed.
    pub signer: Option<String>,
    /// The trust level at lock time.
    pub trust: TrustLevel,
}

impl Provenance {
    /// An unsigned-or-not source with no signer recorded.
    pub fn new(source: impl Into<String>, trust: TrustLevel) -> Self {
        Provenance {
            source: source.into(),
            signer: None,
            trust,
        }
    }

    /// Records the signer's key id.
    pub fn with_signer(mut self, key_id: impl Into<String>) -> Self {
        self.signer = Some(key_id.into());
        self
    }
}

/// One plugin in the lockfile.
///
/// # Example
///
/// ```
/// use switchboard_host::{Lockfile, TrustLevel};
///
/// let lock = Lockfile::parse(r#"
/// version = 1
/// [[plugin]]
/// name = "geo"
/// version = "3.0.0"
/// source = "registry+https://plugins.example"
/// checksum = "sha256:01"
/// signer = "RWQf6LRCGA9i53ml"
/// trust = "verified"
/// "#)?;
/// let geo = lock.get("geo").unwrap();
/// assert_eq!(geo.trust, TrustLevel::Verified);
/// assert_eq!(geo.signer.as_deref(), Some("RWQf6LRCGA9i53ml"));
/// assert!(geo.dependencies.is_empty());
/// # Ok::<(), switchboard_host::ResolveError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockedPlugin {
    /// The plugin's name.
    pub name: String,
    /// The locked version.
    pub version: Version,
    /// Where it came from.
    pub source: String,
    /// The package checksum.
    pub checksum: String,
    /// The id of the key that signed it, if signed.
    pub signer: Option<String>,
    /// The trust level when it was locked.
    pub trust: TrustLevel,
    /// The plugins it depends on in this lockfile, sorted (optional ones included).
    pub dependencies: Vec<String>,
    /// Which of `dependencies` are optional, sorted.
    pub optional_dependencies: Vec<String>,
}

/// The resolved set of plugins, reproducibly: sorted by name, so the same resolution always
/// writes the same bytes.
///
/// # Example
///
/// ```
/// use switchboard_host::{Dependency, Lockfile, MemoryIndex, Provenance, Release, Resolver,
///     TrustLevel};
///
/// let mut index = MemoryIndex::new();
/// index.add("hello", Release::new("1.0.0".parse().unwrap(), "sha256:01"));
/// let resolution = Resolver::new(&index).resolve(&[Dependency::new("hello", "*".parse().unwrap())])?;
/// let lock = Lockfile::from_resolution(&resolution, |_| {
///     Provenance::new("registry+https://plugins.example", TrustLevel::Verified)
/// });
/// let text = lock.to_toml();
/// assert!(text.contains("name = \"hello\""));
/// assert_eq!(Lockfile::parse(&text)?, lock);
/// # Ok::<(), switchboard_host::ResolveError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lockfile {
    plugins: BTreeMap<String, LockedPlugin>,
}

/// The TOML shape, version 1.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    version: i64,
    #[serde(default, rename = "plugin")]
    plugins: Vec<Entry>,
}

#[derive(Deserialize)]
struct VersionOnly {
    version: Option<i64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Entry {
    name: String,
    version: String,
    source: String,
    checksum: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signer: Option<String>,
    trust: TrustLevel,
    #[serde(default)]
    dependencies: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    optional_dependencies: Vec<String>,
}

impl Lockfile {
    /// A lockfile for `resolution`, asking `provenance` where each plugin comes from.
    pub fn from_resolution(
        resolution: &Resolution,
        mut provenance: impl FnMut(&ResolvedPlugin) -> Provenance,
    ) -> Self {
        let plugins = resolution
            .plugins()
            .map(|p| {
                let Provenance {
                    source,
                    signer,
                    trust,
                } = provenance(p);
                let locked = LockedPlugin {
                    name: p.name.clone(),
                    version: p.version().clone(),
                    source,
                    checksum: p.release.checksum.clone(),
                    signer,
                    trust,
                    dependencies: p.dependencies.clone(),
                    optional_dependencies: p.optional_dependencies.clone(),
                };
                (p.name.clone(), locked)
            })
            .collect();
        Lockfile { plugins }
    }

    /// Every locked plugin, by name.
    pub fn plugins(&self) -> impl Iterator<Item = &LockedPlugin> {
        self.plugins.values()
    }

    /// The locked plugin `name`.
    pub fn get(&self, name: &str) -> Option<&LockedPlugin> {
        self.plugins.get(name)
    }

    /// The number of locked plugins.
    pub fn len(&self) -> usize {
        self.plugins.len()
    }

    /// Whether nothing is locked.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    /// Parses a lockfile.
    ///
    /// # Errors
    ///
    /// [`ResolveError::LockfileVersion`] for a format version other than 1,
    /// [`ResolveError::LockfileParse`] (with line and column) for anything else malformed, and
    /// [`ResolveError::DuplicatePlugin`] when a plugin appears twice.
    pub fn parse(text: &str) -> Result<Self, ResolveError> {
        let parse_error = |e: toml::de::Error| ResolveError::LockfileParse {
            reason: e.to_string().trim_end().to_owned(),
        };
        let found = toml::from_str::<VersionOnly>(text)
            .map_err(parse_error)?
            .version;
        match found {
            Some(1) => {}
            Some(found) => return Err(ResolveError::LockfileVersion { found }),
            None => {
                return Err(ResolveError::LockfileParse {
                    reason: "missing `version = 1` at the top".into(),
                })
            }
        }
        let document: Document = toml::from_str(text).map_err(parse_error)?;
        let mut plugins = BTreeMap::new();
        for entry in document.plugins {
            let version =
                entry
                    .version
                    .parse::<Version>()
                    .map_err(|e| ResolveError::LockfileParse {
                        reason: format!("`{}` has version `{}`: {e}", entry.name, entry.version),
                    })?;
            let mut dependencies = entry.dependencies;
            dependencies.sort_unstable();
            let mut optional_dependencies = entry.optional_dependencies;
            optional_dependencies.sort_unstable();
            let plugin = LockedPlugin {
                name: entry.name.clone(),
                version,
                source: entry.source,
                checksum: entry.checksum,
                signer: entry.signer,
                trust: entry.trust,
                dependencies,
                optional_dependencies,
            };
            if plugins.insert(entry.name.clone(), plugin).is_some() {
                return Err(ResolveError::DuplicatePlugin { name: entry.name });
            }
        }
        Ok(Lockfile { plugins })
    }

    /// The lockfile as TOML. Equal lockfiles give identical bytes.
    pub fn to_toml(&self) -> String {
        let document = Document {
            version: 1,
            plugins: self
                .plugins
                .values()
                .map(|p| Entry {
                    name: p.name.clone(),
                    version: p.version.to_string(),
                    source: p.source.clone(),
                    checksum: p.checksum.clone(),
                    signer: p.signer.clone(),
                    trust: p.trust,
                    dependencies: p.dependencies.clone(),
                    optional_dependencies: p.optional_dependencies.clone(),
                })
                .collect(),
        };
        // Strings, integers and lists of strings always serialize.
        let body = toml::to_string(&document).unwrap_or_default();
        format!("{HEADER}{body}")
    }

    /// Reads and parses the lockfile at `path`.
    ///
    /// # Errors
    ///
    /// [`ResolveError::LockfileIo`] when it cannot be read; otherwise as [`parse`](Self::parse).
    pub fn read(path: impl AsRef<Path>) -> Result<Self, ResolveError> {
        let path = path.as_ref();
        let io = |source| ResolveError::LockfileIo {
            path: path.to_owned(),
            source,
        };
        // Bounded, regular files only: a huge file is not read into memory, a FIFO not
        // waited on.
        let bytes = crate::loader::read_bounded(path, MAX_LOCKFILE_BYTES)
            .map_err(io)?
            .ok_or_else(|| {
                io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("larger than {MAX_LOCKFILE_BYTES} bytes"),
                ))
            })?;
        let text = String::from_utf8(bytes)
            .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        Lockfile::parse(&text)
    }

    /// Writes the lockfile to `path` through a temporary file in the same directory, so a
    /// crash leaves the old lockfile or the new one, never half of one.
    ///
    /// # Errors
    ///
    /// [`ResolveError::LockfileIo`] when it cannot be written.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), ResolveError> {
        let path = path.as_ref();
        let io = |source| ResolveError::LockfileIo {
            path: path.to_owned(),
            source,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, self.to_toml()).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// The installed graph these plugins form.
    ///
    /// # Errors
    ///
    /// As [`InstalledGraph::new`]: a dependency that is not locked, or a cycle.
    pub fn graph(&self) -> Result<InstalledGraph, ResolveError> {
        InstalledGraph::new(self.plugins().map(|p| {
            let mut node = GraphNode::new(p.name.clone(), p.version.clone());
            for d in &p.dependencies {
                node = if p.optional_dependencies.contains(d) {
                    node.with_optional_dependency(d.clone())
                } else {
                    node.with_dependency(d.clone())
                };
            }
            node
        }))
    }

    /// What would change going from this lockfile to `new`, sorted by plugin name.
    pub fn changes_to(&self, new: &Lockfile) -> Vec<LockChange> {
        let mut changes = Vec::new();
        let names: std::collections::BTreeSet<&String> =
            self.plugins.keys().chain(new.plugins.keys()).collect();
        for name in names {
            match (self.plugins.get(name), new.plugins.get(name)) {
                (Some(old), None) => changes.push(LockChange::Removed {
                    name: name.clone(),
                    version: old.version.clone(),
                }),
                (None, Some(new)) => changes.push(LockChange::Added {
                    name: name.clone(),
                    version: new.version.clone(),
                }),
                (Some(old), Some(new)) if old.version != new.version => {
                    changes.push(LockChange::Version {
                        name: name.clone(),
                        from: old.version.clone(),
                        to: new.version.clone(),
                    })
                }
                (Some(old), Some(new)) => {
                    let fields = [
                        ("source", old.source.clone(), new.source.clone()),
                        ("checksum", old.checksum.clone(), new.checksum.clone()),
                        ("signer", show(&old.signer), show(&new.signer)),
                        ("trust", old.trust.to_string(), new.trust.to_string()),
                        (
                            "dependencies",
                            old.dependencies.join(", "),
                            new.dependencies.join(", "),
                        ),
                        (
                            "optional dependencies",
                            old.optional_dependencies.join(", "),
                            new.optional_dependencies.join(", "),
                        ),
                    ];
                    for (field, from, to) in fields {
                        if from != to {
                            changes.push(LockChange::Field {
                                name: name.clone(),
                                field,
                                from,
                                to,
                            });
                        }
                    }
                }
                (None, None) => {}
            }
        }
        changes
    }

    /// `--locked`: accepts `new` only if it is this lockfile exactly.
    ///
    /// # Errors
    ///
    /// [`ResolveError::LockedDrift`] listing every change.
    ///
    /// # Example
    ///
    /// ```
    /// use switchboard_host::Lockfile;
    ///
    /// let old = Lockfile::parse("version = 1\n")?;
    /// let new = Lockfile::parse(r#"
    /// version = 1
    /// [[plugin]]
    /// name = "hello"
    /// version = "1.0.0"
    /// source = "registry+https://plugins.example"
    /// checksum = "sha256:01"
    /// trust = "verified"
    /// "#)?;
    /// let err = old.check_locked(&new).unwrap_err();
    /// assert_eq!(err.code().to_string(), "SB0510");
    /// assert!(err.to_string().ends_with("add hello 1.0.0"));
    /// # Ok::<(), switchboard_host::ResolveError>(())
    /// ```
    pub fn check_locked(&self, new: &Lockfile) -> Result<(), ResolveError> {
        let changes = self.changes_to(new);
        if changes.is_empty() {
            Ok(())
        } else {
            Err(ResolveError::LockedDrift { changes })
        }
    }
}

fn show(signer: &Option<String>) -> String {
    signer.clone().unwrap_or_else(|| "none".into())
}

/// One difference between two lockfiles.
///
/// # Example
///
/// ```
/// use switchboard_host::{LockChange, Lockfile};
///
/// let entry = |v: &str| format!(
///     "version = 1\n[[plugin]]\nname = \"geo\"\nversion = \"{v}\"\nsource = \"s\"\n\
///      checksum = \"c\"\ntrust = \"unsigned\"\n"
/// );
/// let old = Lockfile::parse(&entry("3.0.0"))?;
/// let new = Lockfile::parse(&entry("2.5.0"))?;
/// let changes = old.changes_to(&new);
/// assert!(matches!(&changes[0], LockChange::Version { name, .. } if name == "geo"));
/// assert_eq!(LockChange::summary(&changes), "downgrade geo 3.0.0 → 2.5.0");
/// # Ok::<(), switchboard_host::ResolveError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockChange {
    /// A plugin would be added.
    Added {
        /// The plugin.
        name: String,
        /// Its version.
        version: Version,
    },
    /// A plugin would be removed.
    Removed {
        /// The plugin.
        name: String,
        /// Its locked version.
        version: Version,
    },
    /// A plugin would move to another version (an upgrade or a downgrade).
    Version {
        /// The plugin.
        name: String,
        /// The locked version.
        from: Version,
        /// The new version.
        to: Version,
    },
    /// Something else about the same version would change: its source, checksum, signer,
    /// trust level or dependencies.
    Field {
        /// The plugin.
        name: String,
        /// What changes.
        field: &'static str,
        /// The locked value.
        from: String,
        /// The new value.
        to: String,
    },
}

impl LockChange {
    /// All changes in one line, `; `-separated.
    pub fn summary(changes: &[LockChange]) -> String {
        changes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl fmt::Display for LockChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockChange::Added { name, version } => write!(f, "add {name} {version}"),
            LockChange::Removed { name, version } => write!(f, "remove {name} {version}"),
            LockChange::Version { name, from, to } => {
                let way = if to > from { "upgrade" } else { "downgrade" };
                write!(f, "{way} {name} {from} → {to}")
            }
            LockChange::Field {
                name,
                field,
                from,
                to,
            } => write!(f, "{name}: {field} {from} → {to}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn plugin(name: &str, version: &str, deps: &[&str]) -> LockedPlugin {
        LockedPlugin {
            name: name.into(),
            version: v(version),
            source: "registry+https://plugins.example".into(),
            checksum: format!("sha256:{name}"),
            signer: None,
            trust: TrustLevel::Verified,
            dependencies: deps.iter().map(|d| d.to_string()).collect(),
            optional_dependencies: Vec::new(),
        }
    }

    fn lockfile(plugins: impl IntoIterator<Item = LockedPlugin>) -> Lockfile {
        Lockfile {
            plugins: plugins.into_iter().map(|p| (p.name.clone(), p)).collect(),
        }
    }

    const SAMPLE: &str = r#"# switchboard.lock: written by Switchboard from a resolution. Do not edit.

version = 1

[[plugin]]
name = "geo"
version = "3.0.0"
source = "registry+https://plugins.example"
checksum = "sha256:geo"
trust = "verified"
dependencies = []

[[plugin]]
name = "weather"
version = "2.1.0"
source = "registry+https://plugins.example"
checksum = "sha256:weather"
signer = "RWQf6LRCGA9i53ml"
trust = "self-signed"
dependencies = ["geo", "maps"]
optional-dependencies = ["maps"]
"#;

    #[test]
    fn round_trip_rewrites_identical_bytes() {
        let text = SAMPLE.replace(
            "[[plugin]]\nname = \"weather\"",
            "[[plugin]]\nname = \"maps\"\nversion = \"1.4.0\"\nsource = \"path+/srv/plugins\"\n\
             checksum = \"sha256:maps\"\ntrust = \"unsigned\"\ndependencies = []\n\n\
             [[plugin]]\nname = \"weather\"",
        );
        let lock = Lockfile::parse(&text).unwrap();
        assert_eq!(lock.to_toml(), text);
        assert_eq!(Lockfile::parse(&lock.to_toml()).unwrap(), lock);
        let weather = lock.get("weather").unwrap();
        assert_eq!(weather.signer.as_deref(), Some("RWQf6LRCGA9i53ml"));
        assert_eq!(weather.trust, TrustLevel::SelfSigned);
        assert_eq!(weather.optional_dependencies, ["maps"]);
    }

    #[test]
    fn output_is_sorted_whatever_the_input_order() {
        let forward = lockfile([plugin("a", "1.0.0", &[]), plugin("b", "1.0.0", &["a"])]);
        let backward = lockfile([plugin("b", "1.0.0", &["a"]), plugin("a", "1.0.0", &[])]);
        assert_eq!(forward.to_toml(), backward.to_toml());
        let shuffled = "version = 1\n\
            [[plugin]]\nname = \"b\"\nversion = \"1.0.0\"\nsource = \"s\"\nchecksum = \"c\"\n\
            trust = \"unsigned\"\ndependencies = [\"z\", \"a\"]\n\
            [[plugin]]\nname = \"a\"\nversion = \"1.0.0\"\nsource = \"s\"\nchecksum = \"c\"\n\
            trust = \"unsigned\"\n";
        let text = Lockfile::parse(shuffled).unwrap().to_toml();
        assert!(text.find("name = \"a\"") < text.find("name = \"b\""));
        assert!(text.contains("dependencies = [\"a\", \"z\"]"));
    }

    #[test]
    fn another_format_version_is_refused() {
        let err = Lockfile::parse("version = 2\n").unwrap_err();
        assert_eq!(err.code().to_string(), "SB0509");
        assert_eq!(
            err.to_string(),
            "the lockfile has format version 2; this build reads version 1"
        );
        let err = Lockfile::parse("[[plugin]]\nname = \"a\"\n").unwrap_err();
        assert_eq!(err.code().to_string(), "SB0508");
        assert!(err.to_string().contains("missing `version = 1`"));
    }

    #[test]
    fn parse_errors_say_where() {
        let err =
            Lockfile::parse("version = 1\n[[plugin]]\nname = \"a\"\nversion = 3\n").unwrap_err();
        assert_eq!(err.code().to_string(), "SB0508");
        assert!(err.to_string().contains("line 4"), "{err}");
        let err = Lockfile::parse(
            &SAMPLE.replace("trust = \"verified\"", "trust = \"verified\"\ncolour = 1"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
        let err = Lockfile::parse(&SAMPLE.replace("\"3.0.0\"", "\"three\"")).unwrap_err();
        assert!(
            err.to_string().contains("`geo` has version `three`"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_entries_are_refused() {
        let doubled = format!(
            "{SAMPLE}\n[[plugin]]\nname = \"geo\"\nversion = \"1.0.0\"\nsource = \"s\"\n\
             checksum = \"c\"\ntrust = \"unsigned\"\n"
        );
        let err = Lockfile::parse(&doubled).unwrap_err();
        assert_eq!(err.code().to_string(), "SB0505");
    }

    #[test]
    fn changes_list_additions_removals_moves_and_field_changes() {
        let old = lockfile([
            plugin("geo", "2.0.0", &[]),
            plugin("maps", "1.4.0", &["geo"]),
            plugin("news", "1.0.0", &[]),
            plugin("weather", "2.0.0", &["geo"]),
        ]);
        let mut news = plugin("news", "1.0.0", &[]);
        news.checksum = "sha256:other".into();
        let new = lockfile([
            plugin("clock", "0.3.0", &[]),
            plugin("geo", "3.0.0", &[]),
            plugin("maps", "1.3.0", &["geo"]),
            news,
            plugin("weather", "2.0.0", &["geo"]),
        ]);
        let changes: Vec<String> = old.changes_to(&new).iter().map(|c| c.to_string()).collect();
        assert_eq!(
            changes,
            [
                "add clock 0.3.0",
                "upgrade geo 2.0.0 → 3.0.0",
                "downgrade maps 1.4.0 → 1.3.0",
                "news: checksum sha256:news → sha256:other",
            ]
        );
        assert!(new.changes_to(&new).is_empty());
        let removed = new.changes_to(&lockfile([]));
        assert_eq!(removed.len(), 5);
        assert_eq!(removed[0].to_string(), "remove clock 0.3.0");
    }

    #[test]
    fn locked_refuses_drift_and_names_every_change() {
        let old = lockfile([plugin("geo", "2.0.0", &[])]);
        let new = lockfile([
            plugin("geo", "3.0.0", &[]),
            plugin("maps", "1.0.0", &["geo"]),
        ]);
        let err = old.check_locked(&new).unwrap_err();
        assert_eq!(err.code().to_string(), "SB0510");
        assert_eq!(
            err.to_string(),
            "the lockfile would change, and --locked forbids it: upgrade geo 2.0.0 → 3.0.0; add \
             maps 1.0.0"
        );
        assert!(err.next_step().contains("without --locked"));
        assert!(old.check_locked(&old.clone()).is_ok());
    }

    #[test]
    fn write_then_read_gives_the_same_lockfile() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCKFILE_NAME);
        let lock = Lockfile::parse(SAMPLE).unwrap();
        lock.write(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), SAMPLE);
        assert_eq!(Lockfile::read(&path).unwrap(), lock);
        assert!(!dir.path().join("switchboard.lock.tmp").exists());
        let missing = Lockfile::read(dir.path().join("nope.lock")).unwrap_err();
        assert_eq!(missing.code().to_string(), "SB0507");
    }

    #[test]
    fn graph_from_a_lockfile_gives_the_load_order() {
        let lock = Lockfile::parse(&SAMPLE.replace(
            "[[plugin]]\nname = \"weather\"",
            "[[plugin]]\nname = \"maps\"\nversion = \"1.4.0\"\nsource = \"s\"\nchecksum = \"c\"\n\
             trust = \"unsigned\"\ndependencies = [\"geo\"]\n\n[[plugin]]\nname = \"weather\"",
        ))
        .unwrap();
        let graph = lock.graph().unwrap();
        assert_eq!(graph.load_order(), ["geo", "maps", "weather"]);
        let missing = Lockfile::parse(SAMPLE).unwrap().graph().unwrap_err();
        assert_eq!(missing.code().to_string(), "SB0504");
    }
}
