//! What the resolver knows about plugins: for each name, its releases with their dependencies,
//! host API range, SDK ABI, yanked flag and checksum — behind the [`Index`] trait, with an
//! in-memory implementation.

use std::borrow::Cow;
use std::collections::BTreeMap;

use semver::{Version, VersionReq};
use switchboard_sdk::{SDK_ABI_MAJOR, SDK_ABI_MINOR};

use crate::error::IndexError;

/// Where the resolver reads releases from.
///
/// [`MemoryIndex`] holds them in memory; a registry's sparse index implements the same trait.
/// Implementations return every release they know, yanked ones included (the resolver decides
/// whether a yanked release may be used), in any order.
///
/// # Example
///
/// ```
/// use std::borrow::Cow;
/// use switchboard_host::{Index, IndexError, Release};
///
/// /// An index with one plugin, `hello 1.0.0`.
/// struct OnePlugin(Vec<Release>);
///
/// impl Index for OnePlugin {
///     fn releases(&self, name: &str) -> Result<Option<Cow<'_, [Release]>>, IndexError> {
///         Ok((name == "hello").then(|| Cow::Borrowed(self.0.as_slice())))
///     }
/// }
///
/// let index = OnePlugin(vec![Release::new("1.0.0".parse().unwrap(), "sha256:00")]);
/// assert_eq!(index.releases("hello").unwrap().unwrap().len(), 1);
/// assert!(index.releases("nope").unwrap().is_none());
/// ```
pub trait Index {
    /// Every release of the plugin `name`, or `None` when the index has no such plugin.
    fn releases(&self, name: &str) -> Result<Option<Cow<'_, [Release]>>, IndexError>;
}

impl<I: Index + ?Sized> Index for &I {
    fn releases(&self, name: &str) -> Result<Option<Cow<'_, [Release]>>, IndexError> {
        (**self).releases(name)
    }
}

/// One published version of a plugin, as the index describes it.
///
/// # Example
///
/// ```
/// use switchboard_host::{Dependency, Release};
///
/// let release = Release::new("2.1.0".parse().unwrap(), "sha256:9f86d0")
///     .with_dependency(Dependency::new("geo", ">=3".parse().unwrap()))
///     .with_host_api("my-app", "^1.4".parse().unwrap())
///     .with_sdk_abi(1, 0);
/// assert_eq!(release.dependencies[0].name, "geo");
/// assert!(!release.yanked);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Release {
    /// The version.
    pub version: Version,
    /// The plugins this release depends on.
    pub dependencies: Vec<Dependency>,
    /// The host API this release needs, if any: the host's API name and a version range.
    pub host_api: Option<HostApiReq>,
    /// The SDK ABI `(major, minor)` the release was built against.
    pub sdk_abi: (u32, u32),
    /// Withdrawn by its publisher: used only when a lockfile already names it.
    pub yanked: bool,
    /// The package checksum, e.g. `sha256:…`.
    pub checksum: String,
}

impl Release {
    /// A release with no dependencies, no host API requirement and this SDK's ABI.
    pub fn new(version: Version, checksum: impl Into<String>) -> Self {
        Release {
            version,
            dependencies: Vec::new(),
            host_api: None,
            sdk_abi: (SDK_ABI_MAJOR, SDK_ABI_MINOR),
            yanked: false,
            checksum: checksum.into(),
        }
    }

    /// Adds a dependency.
    pub fn with_dependency(mut self, dependency: Dependency) -> Self {
        self.dependencies.push(dependency);
        self
    }

    /// Requires the host API `name` in the range `req`.
    pub fn with_host_api(mut self, name: impl Into<String>, req: VersionReq) -> Self {
        self.host_api = Some(HostApiReq {
            name: name.into(),
            req,
        });
        self
    }

    /// Sets the SDK ABI the release was built against.
    pub fn with_sdk_abi(mut self, major: u32, minor: u32) -> Self {
        self.sdk_abi = (major, minor);
        self
    }

    /// Marks the release yanked.
    pub fn yanked(mut self) -> Self {
        self.yanked = true;
        self
    }
}

/// A dependency on another plugin: its name, a version range, and whether it is optional.
///
/// An optional dependency is not installed for its own sake; when the plugin is installed
/// anyway (requested, or needed by another plugin), its version must be in the range.
///
/// # Example
///
/// ```
/// use switchboard_host::Dependency;
///
/// let maps = Dependency::optional("maps", "^1.4".parse().unwrap());
/// assert!(maps.optional);
/// assert_eq!(maps.to_string(), "maps ^1.4 (optional)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dependency {
    /// The plugin's name.
    pub name: String,
    /// The versions that will do.
    pub req: VersionReq,
    /// Whether the plugin is needed only if present anyway.
    pub optional: bool,
}

impl Dependency {
    /// A required dependency.
    pub fn new(name: impl Into<String>, req: VersionReq) -> Self {
        Dependency {
            name: name.into(),
            req,
            optional: false,
        }
    }

    /// An optional dependency.
    pub fn optional(name: impl Into<String>, req: VersionReq) -> Self {
        Dependency {
            optional: true,
            ..Dependency::new(name, req)
        }
    }
}

impl std::fmt::Display for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.name, self.req)?;
        if self.optional {
            f.write_str(" (optional)")?;
        }
        Ok(())
    }
}

/// The host API a release needs: the API's name (a host declares one) and a version range.
///
/// # Example
///
/// ```
/// use switchboard_host::HostApiReq;
///
/// let req = HostApiReq::new("my-app", "^1.4".parse().unwrap());
/// assert_eq!(req.name, "my-app");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostApiReq {
    /// The host API's name.
    pub name: String,
    /// The versions of it that will do.
    pub req: VersionReq,
}

impl HostApiReq {
    /// A host API requirement.
    pub fn new(name: impl Into<String>, req: VersionReq) -> Self {
        HostApiReq {
            name: name.into(),
            req,
        }
    }
}

/// An [`Index`] held in memory: for tests, for hosts that ship a fixed catalogue, and for
/// indexes already fetched.
///
/// # Example
///
/// ```
/// use switchboard_host::{Index, MemoryIndex, Release};
///
/// let mut index = MemoryIndex::new();
/// index
///     .add("geo", Release::new("2.0.0".parse().unwrap(), "sha256:01"))
///     .add("geo", Release::new("3.0.0".parse().unwrap(), "sha256:02"));
/// assert_eq!(index.releases("geo").unwrap().unwrap().len(), 2);
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryIndex {
    plugins: BTreeMap<String, Vec<Release>>,
}

impl MemoryIndex {
    /// An empty index.
    pub fn new() -> Self {
        MemoryIndex::default()
    }

    /// Adds a release of `name`, replacing one with the same version.
    pub fn add(&mut self, name: impl Into<String>, release: Release) -> &mut Self {
        let releases = self.plugins.entry(name.into()).or_default();
        releases.retain(|r| r.version != release.version);
        releases.push(release);
        self
    }

    /// Marks `name@version` yanked; returns whether that release exists.
    pub fn yank(&mut self, name: &str, version: &Version) -> bool {
        let release = self
            .plugins
            .get_mut(name)
            .and_then(|rs| rs.iter_mut().find(|r| &r.version == version));
        match release {
            Some(r) => {
                r.yanked = true;
                true
            }
            None => false,
        }
    }

    /// The plugin names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.plugins.keys().map(String::as_str)
    }
}

impl Index for MemoryIndex {
    fn releases(&self, name: &str) -> Result<Option<Cow<'_, [Release]>>, IndexError> {
        Ok(self
            .plugins
            .get(name)
            .map(|rs| Cow::Borrowed(rs.as_slice())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn adding_the_same_version_twice_keeps_the_last() {
        let mut index = MemoryIndex::new();
        index
            .add("geo", Release::new(v("1.0.0"), "sha256:old"))
            .add("geo", Release::new(v("1.0.0"), "sha256:new"));
        let releases = index.releases("geo").unwrap().unwrap();
        assert_eq!(releases.len(), 1);
        assert_eq!(releases[0].checksum, "sha256:new");
    }

    #[test]
    fn yank_marks_only_the_named_release() {
        let mut index = MemoryIndex::new();
        index
            .add("geo", Release::new(v("1.0.0"), "a"))
            .add("geo", Release::new(v("1.1.0"), "b"));
        assert!(index.yank("geo", &v("1.0.0")));
        assert!(!index.yank("geo", &v("9.0.0")));
        let releases = index.releases("geo").unwrap().unwrap();
        let yanked: Vec<_> = releases.iter().map(|r| r.yanked).collect();
        assert_eq!(yanked, [true, false]);
    }
}
