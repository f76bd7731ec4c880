//! The [`Resolver`]: picks one version of every plugin a request needs, or explains why no
//! choice works.

use std::collections::BTreeMap;

use pubgrub::PubGrubError;
use semver::Version;
use switchboard_sdk::{SDK_ABI_MAJOR, SDK_ABI_MINOR};

use super::graph::{GraphNode, InstalledGraph};
use super::index::{Dependency, Index, Release};
use super::lockfile::Lockfile;
use super::provider::{Package, Provider, Settings, ROOT};
use super::report;
use crate::error::ResolveError;

/// Resolves a request — the plugins asked for, with version ranges — against an [`Index`].
///
/// The host API and the SDK ABI take part in the solve: a release whose host API range or
/// SDK ABI excludes this host is never chosen, and reports say so. Yanked releases are left
/// out unless the lockfile names them; prereleases only match a range that names a prerelease
/// of the same version, or when asked for with [`allow_prereleases`](Self::allow_prereleases).
/// Among the versions that work, a plugin gets its locked version, else its installed one,
/// else the newest.
///
/// # Example
///
/// ```
/// use switchboard_host::{Dependency, MemoryIndex, Release, Resolver};
///
/// let v = |s: &str| s.parse().unwrap();
/// let mut index = MemoryIndex::new();
/// index
///     .add("geo", Release::new(v("2.4.0"), "sha256:01"))
///     .add("geo", Release::new(v("3.0.0"), "sha256:02"))
///     .add("weather", Release::new(v("1.0.0"), "sha256:03")
///         .with_dependency(Dependency::new("geo", "^2".parse().unwrap())));
///
/// let mut resolver = Resolver::new(&index);
/// resolver.host_api("my-app", v("1.4.0"));
/// let resolution = resolver.resolve(&[Dependency::new("weather", "*".parse().unwrap())])?;
/// assert_eq!(resolution.version("geo"), Some(&v("2.4.0")));
/// assert_eq!(resolution.graph().load_order(), ["geo", "weather"]);
/// # Ok::<(), switchboard_host::ResolveError>(())
/// ```
pub struct Resolver<'i> {
    index: &'i dyn Index,
    settings: Settings,
}

impl std::fmt::Debug for Resolver<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<'i> Resolver<'i> {
    /// A resolver over `index` for a host with this SDK's ABI and no host API; set the host
    /// API with [`host_api`](Self::host_api).
    pub fn new(index: &'i dyn Index) -> Self {
        Resolver {
            index,
            settings: Settings {
                sdk_abi: (SDK_ABI_MAJOR, SDK_ABI_MINOR),
                ..Settings::default()
            },
        }
    }

    /// The host API this host offers: releases that need another name or a range without
    /// `version` are not chosen.
    pub fn host_api(&mut self, name: impl Into<String>, version: Version) -> &mut Self {
        self.settings.host_api = Some((name.into(), version));
        self
    }

    /// The SDK ABI this host supports: releases built for another major, or a newer minor, are
    /// not chosen.
    pub fn sdk_abi(&mut self, major: u32, minor: u32) -> &mut Self {
        self.settings.sdk_abi = (major, minor);
        self
    }

    /// Prefers `name@version` above every other choice, and lets it be used even if yanked.
    pub fn lock(&mut self, name: impl Into<String>, version: Version) -> &mut Self {
        self.settings.locked.insert(name.into(), version);
        self
    }

    /// [`lock`](Self::lock)s every plugin a lockfile names.
    pub fn locked(&mut self, lockfile: &Lockfile) -> &mut Self {
        for plugin in lockfile.plugins() {
            self.lock(plugin.name.clone(), plugin.version.clone());
        }
        self
    }

    /// Forgets the lock on `name`, so it may move to the newest version that works (an update).
    pub fn unlock(&mut self, name: &str) -> &mut Self {
        self.settings.locked.remove(name);
        self
    }

    /// Prefers `name@version` after a locked version, because it is installed now.
    pub fn installed(&mut self, name: impl Into<String>, version: Version) -> &mut Self {
        self.settings.installed.insert(name.into(), version);
        self
    }

    /// Lets prereleases of `name` match any range that their version falls in.
    pub fn allow_prereleases(&mut self, name: impl Into<String>) -> &mut Self {
        self.settings.prereleases_for.insert(name.into());
        self
    }

    /// Lets prereleases of every plugin match any range that their version falls in.
    pub fn allow_all_prereleases(&mut self) -> &mut Self {
        self.settings.all_prereleases = true;
        self
    }

    /// Picks a version of every plugin the request needs.
    ///
    /// An optional entry in `request` constrains that plugin if something else installs it.
    ///
    /// # Errors
    ///
    /// [`ResolveError::UnknownPlugin`] when a requested plugin is not in the index,
    /// [`ResolveError::NoSolution`] (with the reasons and a next step) when no choice works,
    /// [`ResolveError::Cycle`] when the chosen plugins depend on each other in a circle, and
    /// [`ResolveError::Index`] when the index cannot be read.
    pub fn resolve(&self, request: &[Dependency]) -> Result<Resolution, ResolveError> {
        for wanted in request.iter().filter(|d| !d.optional) {
            if self.index.releases(&wanted.name)?.is_none() {
                return Err(ResolveError::UnknownPlugin {
                    name: wanted.name.clone(),
                });
            }
        }
        let provider = Provider::new(self.index, &self.settings, request);
        match pubgrub::resolve(&provider, ROOT, 0u32) {
            Ok(selected) => {
                let mut chosen = BTreeMap::new();
                for (pkg, pos) in selected {
                    if let Package::Plugin(plugin) = &*provider.package(pkg) {
                        if let Some(release) = plugin.release(pos) {
                            chosen.insert(plugin.name.clone(), release.clone());
                        }
                    }
                }
                Resolution::new(chosen)
            }
            Err(PubGrubError::NoSolution(mut tree)) => {
                tree.collapse_no_versions();
                let (explanation, next_step) = report::explain(&tree, &provider);
                Err(ResolveError::NoSolution {
                    explanation,
                    next_step,
                })
            }
            Err(PubGrubError::ErrorRetrievingDependencies { source, .. })
            | Err(PubGrubError::ErrorChoosingVersion { source, .. })
            | Err(PubGrubError::ErrorInShouldCancel(source)) => Err(source.into()),
        }
    }
}

/// The outcome of a [`Resolver::resolve`]: one release per plugin, and the graph they form.
///
/// # Example
///
/// ```
/// use switchboard_host::{Dependency, MemoryIndex, Release, Resolver};
///
/// let mut index = MemoryIndex::new();
/// index.add("hello", Release::new("1.0.0".parse().unwrap(), "sha256:01"));
/// let resolution = Resolver::new(&index)
///     .resolve(&[Dependency::new("hello", "^1".parse().unwrap())])?;
/// let hello = resolution.get("hello").unwrap();
/// assert_eq!(hello.release.checksum, "sha256:01");
/// assert_eq!(resolution.plugins().count(), 1);
/// # Ok::<(), switchboard_host::ResolveError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Resolution {
    plugins: BTreeMap<String, ResolvedPlugin>,
    graph: InstalledGraph,
}

/// One plugin of a [`Resolution`].
///
/// # Example
///
/// ```
/// use switchboard_host::{Dependency, MemoryIndex, Release, Resolver};
///
/// let v = |s: &str| s.parse().unwrap();
/// let mut index = MemoryIndex::new();
/// index
///     .add("maps", Release::new(v("1.4.0"), "sha256:01"))
///     .add("weather", Release::new(v("2.0.0"), "sha256:02")
///         .with_dependency(Dependency::optional("maps", "^1".parse().unwrap())));
/// let both = ["weather", "maps"].map(|n| Dependency::new(n, "*".parse().unwrap()));
/// let resolution = Resolver::new(&index).resolve(&both)?;
/// let weather = resolution.get("weather").unwrap();
/// assert_eq!(weather.version(), &v("2.0.0"));
/// assert_eq!(weather.dependencies, ["maps"]);
/// assert_eq!(weather.optional_dependencies, ["maps"]);
/// # Ok::<(), switchboard_host::ResolveError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolvedPlugin {
    /// The plugin's name.
    pub name: String,
    /// The chosen release.
    pub release: Release,
    /// The plugins it depends on that are in the resolution (required ones, and optional ones
    /// that something else brought in), sorted.
    pub dependencies: Vec<String>,
    /// Which of `dependencies` are optional, sorted.
    pub optional_dependencies: Vec<String>,
}

impl ResolvedPlugin {
    /// The chosen version.
    pub fn version(&self) -> &Version {
        &self.release.version
    }
}

impl Resolution {
    fn new(chosen: BTreeMap<String, Release>) -> Result<Self, ResolveError> {
        let mut plugins = BTreeMap::new();
        for (name, release) in chosen.iter() {
            let mut dependencies = Vec::new();
            let mut optional_dependencies = Vec::new();
            for dependency in &release.dependencies {
                if !chosen.contains_key(&dependency.name) {
                    continue;
                }
                dependencies.push(dependency.name.clone());
                if dependency.optional {
                    optional_dependencies.push(dependency.name.clone());
                }
            }
            // A plugin listed both ways is required.
            optional_dependencies.retain(|o| {
                !release
                    .dependencies
                    .iter()
                    .any(|d| &d.name == o && !d.optional)
            });
            dependencies.sort_unstable();
            dependencies.dedup();
            optional_dependencies.sort_unstable();
            optional_dependencies.dedup();
            plugins.insert(
                name.clone(),
                ResolvedPlugin {
                    name: name.clone(),
                    release: release.clone(),
                    dependencies,
                    optional_dependencies,
                },
            );
        }
        let graph = InstalledGraph::new(plugins.values().map(|p| {
            let mut node = GraphNode::new(p.name.clone(), p.version().clone());
            for d in &p.dependencies {
                node = if p.optional_dependencies.contains(d) {
                    node.with_optional_dependency(d.clone())
                } else {
                    node.with_dependency(d.clone())
                };
            }
            node
        }))?;
        Ok(Resolution { plugins, graph })
    }

    /// Every chosen plugin, by name.
    pub fn plugins(&self) -> impl Iterator<Item = &ResolvedPlugin> {
        self.plugins.values()
    }

    /// The plugin `name`, if chosen.
    pub fn get(&self, name: &str) -> Option<&ResolvedPlugin> {
        self.plugins.get(name)
    }

    /// The version chosen for `name`.
    pub fn version(&self, name: &str) -> Option<&Version> {
        self.get(name).map(ResolvedPlugin::version)
    }

    /// The graph of the chosen plugins: load order, dependents, rendering.
    pub fn graph(&self) -> &InstalledGraph {
        &self.graph
    }

    /// The number of chosen plugins.
    pub fn len(&self) -> usize {
        self.plugins.len()
    }

    /// Whether nothing was chosen (an empty request).
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }
}
