//! The bridge between the [`Index`] and pubgrub: packages, their usable versions, how
//! requirements become version sets, and which version to try first.

use std::borrow::Cow;
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::rc::Rc;

use pubgrub::{
    Dependencies, DependencyConstraints, DependencyProvider, PackageResolutionStatistics,
    VersionSet,
};
use semver::{Comparator, Op, Prerelease, Version, VersionReq};

use super::index::{Dependency, Index, Release};
use super::version_set::{Pos, VersionBits, ABSENT};
use crate::error::IndexError;

/// A package in the solve, by number: see [`Package`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub(crate) struct Pkg(u32);

/// The request itself: its dependencies are what the caller asked for.
pub(crate) const ROOT: Pkg = Pkg(0);

/// Packages are numbers; names live in the provider. pubgrub prints this only in its logs.
impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "package#{}", self.0)
    }
}

/// Why a release cannot be used, for reasons outside version ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unusable {
    /// The release depends on its own plugin at a version it is not.
    NeedsItself(VersionReq),
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unusable::NeedsItself(req) => write!(f, "needs itself at {req}"),
        }
    }
}

/// What the resolver was told besides the index.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub(crate) host_api: Option<(String, Version)>,
    pub(crate) sdk_abi: (u32, u32),
    pub(crate) locked: BTreeMap<String, Version>,
    pub(crate) installed: BTreeMap<String, Version>,
    pub(crate) prereleases_for: BTreeSet<String>,
    pub(crate) all_prereleases: bool,
}

impl Settings {
    /// Whether `version` of `name` may be a prerelease match: asked for, or already locked.
    pub(crate) fn prerelease_allowed(&self, name: &str, version: &Version) -> bool {
        self.all_prereleases
            || self.prereleases_for.contains(name)
            || self.locked.get(name) == Some(version)
    }

    /// The SDK ABI rule: same major; the release's minor at most the host's.
    pub(crate) fn sdk_abi_ok(&self, abi: (u32, u32)) -> bool {
        abi.0 == self.sdk_abi.0 && abi.1 <= self.sdk_abi.1
    }

    /// Whether the release's host API requirement (if any) accepts this host.
    pub(crate) fn host_api_ok(&self, release: &Release) -> bool {
        match (&release.host_api, &self.host_api) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(req), Some((name, version))) => &req.name == name && req.req.matches(version),
        }
    }
}

/// Whether `version` satisfies `req`. Semver keeps prereleases out unless a comparator names a
/// prerelease of the same `major.minor.patch`; when prereleases were asked for, that gate is
/// lifted and only the ordering counts.
pub(crate) fn req_matches(req: &VersionReq, version: &Version, allow_prerelease: bool) -> bool {
    if req.matches(version) {
        return true;
    }
    if !allow_prerelease || version.pre.is_empty() {
        return false;
    }
    // `>= M.m.p-0` holds for every prerelease of M.m.p ("0" is the lowest identifier) and names
    // that triple with a prerelease, which is exactly what semver's gate looks for.
    let mut lifted = req.clone();
    lifted.comparators.push(Comparator {
        op: Op::GreaterEq,
        major: version.major,
        minor: Some(version.minor),
        patch: Some(version.patch),
        pre: Prerelease::new("0").unwrap_or(Prerelease::EMPTY),
    });
    lifted.matches(version)
}

/// One package of the solve.
#[derive(Debug)]
pub(crate) enum Package<'a> {
    /// The request.
    Root,
    /// A real plugin.
    Plugin(Plugin<'a>),
    /// The host API `name`, a virtual package whose one version is the host's.
    HostApi(String),
    /// The SDK ABI, a virtual package whose one version is the host's.
    SdkAbi,
}

/// A plugin and its usable releases.
#[derive(Debug)]
pub(crate) struct Plugin<'a> {
    pub(crate) name: String,
    /// Whether the index has the plugin at all.
    pub(crate) known: bool,
    /// Every release the index has, yanked ones included.
    pub(crate) releases: Cow<'a, [Release]>,
    /// Indexes into `releases` of the usable ones (not yanked, unless locked), by ascending
    /// version: position `p` is `usable[p - 1]`.
    pub(crate) usable: Vec<usize>,
    locked: Option<Pos>,
    installed: Option<Pos>,
}

impl Plugin<'_> {
    /// The highest position.
    pub(crate) fn last(&self) -> Pos {
        self.usable.len() as Pos
    }

    /// The release at a position (none for [`ABSENT`]).
    pub(crate) fn release(&self, p: Pos) -> Option<&Release> {
        let i = *self.usable.get((p as usize).checked_sub(1)?)?;
        self.releases.get(i)
    }

    /// Usable releases with their positions, ascending.
    pub(crate) fn usable_releases(&self) -> impl DoubleEndedIterator<Item = (Pos, &Release)> {
        self.usable
            .iter()
            .enumerate()
            .filter_map(|(i, r)| Some((i as Pos + 1, self.releases.get(*r)?)))
    }
}

/// pubgrub's view of an [`Index`] under the resolver's [`Settings`].
pub(crate) struct Provider<'a> {
    index: &'a dyn Index,
    pub(crate) settings: &'a Settings,
    requests: &'a [Dependency],
    packages: RefCell<Vec<Rc<Package<'a>>>>,
    plugins: RefCell<HashMap<String, Pkg>>,
    host_apis: RefCell<HashMap<String, Pkg>>,
}

impl<'a> Provider<'a> {
    pub(crate) fn new(
        index: &'a dyn Index,
        settings: &'a Settings,
        requests: &'a [Dependency],
    ) -> Self {
        Provider {
            index,
            settings,
            requests,
            packages: RefCell::new(vec![Rc::new(Package::Root)]),
            plugins: RefCell::default(),
            host_apis: RefCell::default(),
        }
    }

    /// What the caller asked for.
    pub(crate) fn requests(&self) -> &'a [Dependency] {
        self.requests
    }

    /// The package behind a number.
    pub(crate) fn package(&self, pkg: Pkg) -> Rc<Package<'a>> {
        match self.packages.borrow().get(pkg.0 as usize) {
            Some(p) => Rc::clone(p),
            // Numbers only come from `intern`; a stray one reads as the request.
            None => Rc::new(Package::Root),
        }
    }

    fn push(&self, package: Package<'a>) -> Pkg {
        let mut packages = self.packages.borrow_mut();
        packages.push(Rc::new(package));
        Pkg(packages.len() as u32 - 1)
    }

    /// The package for plugin `name`, reading the index the first time.
    pub(crate) fn plugin(&self, name: &str) -> Result<Pkg, IndexError> {
        if let Some(pkg) = self.plugins.borrow().get(name) {
            return Ok(*pkg);
        }
        let releases = self.index.releases(name)?;
        let known = releases.is_some();
        let releases = releases.unwrap_or(Cow::Borrowed(&[]));
        let locked_version = self.settings.locked.get(name);
        let mut usable: Vec<usize> = (0..releases.len())
            .filter(|i| !releases[*i].yanked || locked_version == Some(&releases[*i].version))
            .collect();
        usable.sort_by(|a, b| releases[*a].version.cmp(&releases[*b].version));
        usable.dedup_by(|a, b| releases[*a].version == releases[*b].version);
        let position_of = |v: Option<&Version>| {
            let v = v?;
            usable
                .iter()
                .position(|i| &releases[*i].version == v)
                .map(|i| i as Pos + 1)
        };
        let plugin = Plugin {
            name: name.to_owned(),
            known,
            locked: position_of(locked_version),
            installed: position_of(self.settings.installed.get(name)),
            releases,
            usable,
        };
        let pkg = self.push(Package::Plugin(plugin));
        self.plugins.borrow_mut().insert(name.to_owned(), pkg);
        Ok(pkg)
    }

    fn host_api(&self, name: &str) -> Pkg {
        if let Some(pkg) = self.host_apis.borrow().get(name) {
            return *pkg;
        }
        let pkg = self.push(Package::HostApi(name.to_owned()));
        self.host_apis.borrow_mut().insert(name.to_owned(), pkg);
        pkg
    }

    fn sdk_abi(&self) -> Pkg {
        let existing = self
            .packages
            .borrow()
            .iter()
            .position(|p| matches!(**p, Package::SdkAbi));
        match existing {
            Some(i) => Pkg(i as u32),
            None => self.push(Package::SdkAbi),
        }
    }

    /// The positions of `plugin` that `dependency` accepts.
    pub(crate) fn positions(&self, plugin: &Plugin<'_>, dependency: &Dependency) -> VersionBits {
        let matching = plugin.usable_releases().filter_map(|(p, r)| {
            let pre = self.settings.prerelease_allowed(&plugin.name, &r.version);
            req_matches(&dependency.req, &r.version, pre).then_some(p)
        });
        let absent = dependency.optional.then_some(ABSENT);
        VersionBits::from_positions(absent.into_iter().chain(matching))
    }

    /// The constraints a list of dependencies puts on other plugins, merged per plugin.
    fn constraints(
        &self,
        dependencies: &[Dependency],
        own: Option<(&str, &Version)>,
        out: &mut Vec<(Pkg, VersionBits)>,
    ) -> Result<Option<Unusable>, IndexError> {
        for dependency in dependencies {
            if let Some((name, version)) = own {
                if dependency.name == name {
                    // A release that needs itself: satisfied or not, by its own version. The
                    // installed graph reports the self-loop as a cycle.
                    let pre = self.settings.prerelease_allowed(name, version);
                    if req_matches(&dependency.req, version, pre) {
                        continue;
                    }
                    return Ok(Some(Unusable::NeedsItself(dependency.req.clone())));
                }
            }
            let pkg = self.plugin(&dependency.name)?;
            let set = match &*self.package(pkg) {
                Package::Plugin(plugin) => self.positions(plugin, dependency),
                _ => VersionBits::empty(),
            };
            match out.iter_mut().find(|(p, _)| *p == pkg) {
                Some((_, existing)) => *existing = existing.intersection(&set),
                None => out.push((pkg, set)),
            }
        }
        Ok(None)
    }
}

impl DependencyProvider for Provider<'_> {
    type P = Pkg;
    type V = Pos;
    type VS = VersionBits;
    type M = Unusable;
    type Err = IndexError;
    /// Root and virtual packages first; then plugins that conflicted most; then plugins with
    /// one version left (forced anyway); then in the order they were discovered. Discovery
    /// order decides a plugin after the plugins that depend on it, once their constraints are
    /// known, so the solver seldom has to take a choice back.
    type Priority = (u8, u32, bool, Reverse<u32>);

    fn prioritize(
        &self,
        package: &Pkg,
        range: &VersionBits,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        match &*self.package(*package) {
            Package::Plugin(plugin) => {
                let forced = range.members(plugin.last()).nth(1).is_none();
                (1, stats.conflict_count(), forced, Reverse(package.0))
            }
            _ => (2, 0, false, Reverse(0)),
        }
    }

    /// Not installing an optional dependency comes first; then the locked version, then the
    /// installed one, then the newest.
    fn choose_version(&self, package: &Pkg, range: &VersionBits) -> Result<Option<Pos>, Self::Err> {
        Ok(match &*self.package(*package) {
            Package::Root => range.has(0).then_some(0),
            // Virtual packages only ever appear with empty ranges (see `get_dependencies`).
            Package::HostApi(_) | Package::SdkAbi => None,
            Package::Plugin(plugin) => [Some(ABSENT), plugin.locked, plugin.installed]
                .into_iter()
                .flatten()
                .chain((1..=plugin.last()).rev())
                .find(|p| range.has(*p)),
        })
    }

    fn get_dependencies(
        &self,
        package: &Pkg,
        version: &Pos,
    ) -> Result<Dependencies<Pkg, VersionBits, Unusable>, Self::Err> {
        let mut out = Vec::new();
        match &*self.package(*package) {
            Package::Root => {
                self.constraints(self.requests, None, &mut out)?;
            }
            Package::HostApi(_) | Package::SdkAbi => {}
            Package::Plugin(plugin) => {
                let Some(release) = plugin.release(*version) else {
                    return Ok(Dependencies::Available(DependencyConstraints::default()));
                };
                // The host API and the SDK ABI are packages with one version, the host's. A
                // release they accept gains nothing from saying so; one they refuse depends on
                // an empty set of them, which rules it out and names the reason in reports.
                if !self.settings.sdk_abi_ok(release.sdk_abi) {
                    out.push((self.sdk_abi(), VersionBits::empty()));
                }
                if !self.settings.host_api_ok(release) {
                    let name = release.host_api.as_ref().map_or("", |h| h.name.as_str());
                    out.push((self.host_api(name), VersionBits::empty()));
                }
                let own = Some((plugin.name.as_str(), &release.version));
                if let Some(unusable) = self.constraints(&release.dependencies, own, &mut out)? {
                    return Ok(Dependencies::Unavailable(unusable));
                }
            }
        }
        Ok(Dependencies::Available(out.into_iter().collect()))
    }
}
