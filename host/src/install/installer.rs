//! The installer: plans and applies operations on the installed set, one generation at a
//! time, journaled phase by phase (see the module docs of [`install`](super)).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use semver::{Version, VersionReq};
use serde::Serialize;
use serde_json::json;
use switchboard_sdk::manifest::{name_key, Manifest};

use super::error::InstallError;
use super::failpoints::{self, hit};
use super::generation::{
    flip, write_generation, Generation, GenerationId, GenerationInfo, GenerationPlugin,
    InstallState, InstalledPlugin,
};
use super::journal::{OperationId, OperationKind, OperationRecord, OperationStatus, Phase};
use super::package_store::{write_atomic, PackageStore};
use super::plan::{changelog_between, Plan, PlannedChange};
use super::source::{checksum_hex, release_of, FileSource, PackageSource, Sources};
use crate::audit::{AuditEvent, AuditKind};
use crate::error::Error;
use crate::host::Host;
use crate::loader::options::LoadOptions;
use crate::resolve::{
    Dependency, Index, Lockfile, MemoryIndex, Provenance, Resolver, LOCKFILE_NAME,
};
use crate::verify::VerifiedPlugin;
use crate::State;

/// The number of generations kept by default (the current one is always kept as well).
pub const DEFAULT_KEEP_GENERATIONS: usize = 5;

/// The file whose lock marks an operation in progress on a data directory.
const LOCK_FILE: &str = "install.lock";

/// What to install: a plugin by name and version range, or a package file.
///
/// ```
/// use switchboard_host::install::InstallRequest;
///
/// let r: InstallRequest = "hello@^0.2".parse().unwrap();
/// assert_eq!(r, InstallRequest::Name { name: "hello".into(), range: "^0.2".parse().unwrap() });
/// let f: InstallRequest = "./hello-0.2.0.sbpkg".parse().unwrap();
/// assert!(matches!(f, InstallRequest::File(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstallRequest {
    /// `NAME` or `NAME@RANGE`, resolved over the installer's sources.
    Name {
        /// The plugin.
        name: String,
        /// The versions acceptable (`*` for any).
        range: VersionReq,
    },
    /// A `.sbpkg` file: installs the release it holds (its dependencies come from the
    /// sources). Installing from a file works with no source configured.
    File(PathBuf),
}

impl InstallRequest {
    /// `NAME` (any version) or `NAME@RANGE`.
    pub fn name(name: impl Into<String>, range: VersionReq) -> Self {
        InstallRequest::Name {
            name: name.into(),
            range,
        }
    }
}

impl fmt::Display for InstallRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallRequest::Name { name, range } if *range == VersionReq::STAR => f.write_str(name),
            InstallRequest::Name { name, range } => write!(f, "{name}@{range}"),
            InstallRequest::File(p) => write!(f, "{}", p.display()),
        }
    }
}

impl std::str::FromStr for InstallRequest {
    type Err = InstallError;

    /// A path ending in `.sbpkg` (or naming an existing file) is a file; otherwise
    /// `NAME[@RANGE]`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| InstallError::BadRequest {
            text: s.to_owned(),
            reason,
        };
        if s.ends_with(&format!(".{}", crate::package::EXTENSION)) || Path::new(s).is_file() {
            return Ok(InstallRequest::File(PathBuf::from(s)));
        }
        let (name, range) = match s.split_once('@') {
            Some((n, r)) => (
                n,
                VersionReq::parse(r).map_err(|e| bad(format!("range `{r}`: {e}")))?,
            ),
            None => (s, VersionReq::STAR),
        };
        if !switchboard_sdk::manifest::valid_name(name) {
            return Err(bad(format!("`{name}` is not a plugin name")));
        }
        Ok(InstallRequest::name(name, range))
    }
}

/// How to approve the capabilities a plan asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CapabilityApproval {
    /// Leave every request to the host's policy and approver at load (the default).
    #[default]
    Policy,
    /// The operator approved every capability the plan lists (e.g. answered `y`, or
    /// `--yes`): they are stored as persistent grants before the plugins load. Policy still
    /// blocks what it blocks.
    All,
}

/// Options of an install or update.
///
/// ```
/// use switchboard_host::install::InstallOptions;
/// let mut options = InstallOptions::new();
/// options.locked(true).allow_downgrade(false);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct InstallOptions {
    pub(crate) locked: bool,
    pub(crate) load: LoadOptions,
    pub(crate) approval: CapabilityApproval,
    pub(crate) disabled: bool,
}

impl InstallOptions {
    /// The defaults: not locked, no downgrade, approval left to policy.
    pub fn new() -> Self {
        InstallOptions::default()
    }

    /// Refuses any change to the lockfile (`--locked`): the operation fails with the
    /// resolver's `SB0510` listing the changes, before anything is downloaded.
    pub fn locked(&mut self, locked: bool) -> &mut Self {
        self.locked = locked;
        self
    }

    /// Allows a version older than the installed (or last recorded) one
    /// (`--allow-downgrade`, [`LoadOptions::allow_downgrade`]).
    pub fn allow_downgrade(&mut self, allow: bool) -> &mut Self {
        self.load.allow_downgrade(allow);
        self
    }

    /// How the capabilities the plan lists are approved.
    pub fn approval(&mut self, approval: CapabilityApproval) -> &mut Self {
        self.approval = approval;
        self
    }

    /// Installs the requested plugins disabled (they are not loaded until enabled).
    pub fn disabled(&mut self, disabled: bool) -> &mut Self {
        self.disabled = disabled;
        self
    }
}

/// Options of a removal.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RemoveOptions {
    pub(crate) with_dependents: bool,
}

impl RemoveOptions {
    /// The defaults: refuse when other plugins depend on the one removed.
    pub fn new() -> Self {
        RemoveOptions::default()
    }

    /// Removes the plugins that depend on it too (`--with-dependents`, or the operator
    /// confirmed the list the plan showed).
    pub fn with_dependents(&mut self, yes: bool) -> &mut Self {
        self.with_dependents = yes;
        self
    }
}

/// Progress of an operation, for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// The operation.
    pub operation: OperationId,
    /// Its phase ("phase 3/5: resolve" is `phase.number()`/5 and `phase`).
    pub phase: Phase,
    /// The plugin concerned, if one.
    pub plugin: Option<String>,
    /// During a download: bytes so far and the total if known.
    pub bytes: Option<(u64, Option<u64>)>,
}

/// What an applied operation did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct OperationReport {
    /// The operation's correlation id.
    pub operation: OperationId,
    /// What it did.
    pub kind: OperationKind,
    /// The generation current before.
    pub from_generation: Option<GenerationId>,
    /// The generation current now.
    pub generation: Option<GenerationId>,
    /// What changed, per plugin.
    pub changes: Vec<PlannedChange>,
    /// Packages removed from the store by garbage collection afterwards.
    pub collected: Vec<String>,
    /// Warnings (health `degraded`, settings not applied).
    pub warnings: Vec<String>,
}

/// An interrupted operation found and rolled back.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Recovery {
    /// The operation.
    pub operation: OperationId,
    /// What it was doing.
    pub kind: OperationKind,
    /// The phase it was in when its process died.
    pub phase: Phase,
    /// Whether it had flipped (and was flipped back).
    pub flipped_back: bool,
    /// The generation current now.
    pub generation: Option<GenerationId>,
}

/// What starting the current generation did ([`Installer::start`],
/// [`Host::start_installed`]).
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct StartReport {
    /// The generation started.
    pub generation: Option<GenerationId>,
    /// Plugins running, in the order they started.
    pub started: Vec<String>,
    /// Plugins that failed to load or start, with the error.
    pub failed: Vec<(String, Error)>,
    /// Plugins not started because a dependency did not start, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Disabled plugins, not loaded.
    pub disabled: Vec<String>,
}

/// What garbage collection removed.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct GcReport {
    /// Generations deleted.
    pub generations: Vec<GenerationId>,
    /// Package digests removed from the store.
    pub packages: Vec<String>,
}

/// The part of a plan the caller does not see: verified packages and the new set.
#[derive(Default)]
pub(crate) struct PlanDetail {
    /// The plugins of the new generation (not yet with grants).
    pub plugins: Vec<GenerationPlugin>,
    /// Verified packages of the plugins this operation brings in, by name.
    pub verified: BTreeMap<String, VerifiedPlugin>,
    /// Their releases as their verified manifests describe them (dependency ranges).
    pub releases: BTreeMap<String, crate::resolve::Release>,
    /// The capabilities to store as approved, by plugin.
    pub approve: Vec<(String, Vec<String>)>,
    /// An existing generation to flip to (rollback) instead of a new one.
    pub target: Option<GenerationId>,
    /// A rollback: the data backup taken when `target` was last left, to restore the
    /// plugins whose version changes from.
    pub restore_from: Option<PathBuf>,
    /// The options it was planned with.
    pub options: InstallOptions,
    /// Summary in words.
    pub summary: String,
}

impl fmt::Debug for PlanDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlanDetail")
            .field("plugins", &self.plugins.len())
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Clone for PlanDetail {
    fn clone(&self) -> Self {
        // Verified packages are not cloned: a cloned plan verifies again when applied.
        PlanDetail {
            plugins: self.plugins.clone(),
            verified: BTreeMap::new(),
            releases: self.releases.clone(),
            approve: self.approve.clone(),
            target: self.target,
            restore_from: self.restore_from.clone(),
            options: self.options.clone(),
            summary: self.summary.clone(),
        }
    }
}

type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Manages the installed set of a [`Host`]: install, update, remove, enable, disable,
/// rollback — each an operation that prepares a new generation beside the current one,
/// flips to it in one transaction, activates it in the running host and checks its health,
/// journaled phase by phase so an interrupted one is rolled back by the next host that opens
/// the data directory.
///
/// # Example
///
/// ```no_run
/// use switchboard_host::install::{FileSource, InstallOptions};
/// use switchboard_host::Host;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut builder = Host::builder();
/// builder.data_dir("/var/lib/my-app").host_api("switchboard-demo", "0.1.0");
/// builder.trust(std::fs::read_to_string("publisher.pub")?);
/// let host = builder.build()?; // rolls back an operation a crash interrupted
///
/// let mut installer = host.installer();
/// installer.source(FileSource::open("/srv/plugins")?);
/// let plan = installer.plan_install(&["hello@^0.1".parse()?], &InstallOptions::new())?;
/// for (plugin, cap) in plan.new_capabilities() {
///     println!("{plugin} asks for {cap}");
/// }
/// let report = installer.apply(plan)?;
/// println!("generation {:?}", report.generation);
///
/// // Next time the application starts:
/// let started = host.start_installed()?;
/// assert!(started.failed.is_empty());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Installer {
    host: Host,
    sources: Vec<Arc<dyn PackageSource>>,
    keep: usize,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for Installer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Installer")
            .field(
                "sources",
                &self.sources.iter().map(|s| s.label()).collect::<Vec<_>>(),
            )
            .field("keep", &self.keep)
            .finish_non_exhaustive()
    }
}

/// The exclusive lock of one operation on a data directory.
struct OpLock {
    _file: File,
}

impl Installer {
    /// An installer for `host`, with no sources (package files can always be installed) and
    /// [`DEFAULT_KEEP_GENERATIONS`].
    pub fn new(host: &Host) -> Self {
        Installer {
            host: host.clone(),
            sources: Vec::new(),
            keep: DEFAULT_KEEP_GENERATIONS,
            progress: None,
        }
    }

    /// Adds a source, after those added before (lower priority). For each plugin version,
    /// the first source that lists it provides it.
    pub fn source(&mut self, source: impl PackageSource + 'static) -> &mut Self {
        self.sources.push(Arc::new(source));
        self
    }

    /// Adds a shared source (see [`source`](Self::source)).
    pub fn shared_source(&mut self, source: Arc<dyn PackageSource>) -> &mut Self {
        self.sources.push(source);
        self
    }

    /// The sources, in priority order.
    pub fn sources(&self) -> Vec<String> {
        self.sources.iter().map(|s| s.label()).collect()
    }

    /// How many generations to keep besides the current one (at least 1). Packages that no
    /// kept generation references are removed after each operation.
    pub fn keep_generations(&mut self, n: usize) -> &mut Self {
        self.keep = n.max(1);
        self
    }

    /// Calls `f` as operations progress (phases, download bytes).
    pub fn on_progress(&mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> &mut Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// The host this installer manages.
    pub fn host(&self) -> &Host {
        &self.host
    }

    // ---- reading -----------------------------------------------------------------------

    /// The current generation, if any was made.
    pub fn current(&self) -> Result<Option<Generation>, Error> {
        let store = self.host.store();
        match store.current_generation_id()? {
            Some(id) => store.generation(id),
            None => Ok(None),
        }
    }

    /// The generation `id`, if kept.
    pub fn generation(&self, id: GenerationId) -> Result<Option<Generation>, Error> {
        self.host.store().generation(id)
    }

    /// Every kept generation, oldest first.
    pub fn generations(&self) -> Result<Vec<GenerationInfo>, Error> {
        let store = self.host.store();
        let current = store.current_generation_id()?;
        let mut out = Vec::new();
        for id in store.generation_ids()? {
            if let Some(g) = store.generation(id)? {
                out.push(GenerationInfo {
                    id,
                    parent: g.parent,
                    summary: g.summary.clone(),
                    operation: g.operation.clone(),
                    created_at: g.created_at,
                    current: Some(id) == current,
                    plugins: g
                        .plugins
                        .iter()
                        .map(|p| format!("{} {}", p.name, p.version))
                        .collect(),
                });
            }
        }
        Ok(out)
    }

    /// The installed plugins of the current generation: what `switchboard list` shows.
    pub fn list(&self) -> Result<Vec<InstalledPlugin>, Error> {
        let Some(g) = self.current()? else {
            return Ok(Vec::new());
        };
        Ok(g.plugins
            .iter()
            .map(|p| InstalledPlugin {
                name: p.name.clone(),
                version: p.version.clone(),
                state: if p.enabled {
                    InstallState::Enabled
                } else {
                    InstallState::Disabled
                },
                trust: p.trust,
                source: p.source.clone(),
                generation: g.id,
                requested: p.requested,
                sha256: p.sha256.clone(),
            })
            .collect())
    }

    /// The journal entry of operation `id`, with its phase boundaries.
    pub fn operation(&self, id: &OperationId) -> Result<Option<OperationRecord>, Error> {
        self.host.store().journal_operation(id)
    }

    /// The last `limit` operations, newest first.
    pub fn operations(&self, limit: usize) -> Result<Vec<OperationRecord>, Error> {
        let store = self.host.store();
        let mut out = Vec::new();
        for id in store.journal_recent(limit)? {
            if let Some(r) = store.journal_operation(&id)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The operations a crash interrupted that the host rolled back when it opened the data
    /// directory (and any found now): each reported, audited and published as
    /// `system.plugin.rolled_back`. Safe to call any time: an operation another process is
    /// running is left alone.
    pub fn recover(&self) -> Result<Vec<Recovery>, Error> {
        recover(&self.host)
    }

    // ---- operations --------------------------------------------------------------------

    /// Plans installing `requests` and everything they depend on: resolves over the sources
    /// (and the package files named), downloads and verifies what is not stored yet. Nothing
    /// changes until [`apply`](Self::apply).
    ///
    /// Refused: a plugin no source offers (`SB1401`), a version older than the installed
    /// one unless allowed (`SB1405`), a change to the lockfile with `locked` (`SB0510`), no
    /// solution (`SB0501` with the resolver's report), a package failing verification.
    pub fn plan_install(
        &self,
        requests: &[InstallRequest],
        options: &InstallOptions,
    ) -> Result<Plan, Error> {
        let text = requests
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        let mut extra: Vec<Arc<dyn PackageSource>> = Vec::new();
        let mut wanted = Vec::new();
        for r in requests {
            match r {
                InstallRequest::Name { name, range } => {
                    wanted.push(Dependency::new(name.clone(), range.clone()))
                }
                InstallRequest::File(path) => {
                    let source = FileSource::open_with(path, &self.host.unpack_limits())?;
                    let Some((name, version)) = source
                        .releases()
                        .next()
                        .map(|(n, v)| (n.to_owned(), v.clone()))
                    else {
                        return Err(InstallError::BadRequest {
                            text: path.display().to_string(),
                            reason: "the file holds no package".into(),
                        }
                        .into());
                    };
                    wanted.push(Dependency::new(name, exact(&version)));
                    extra.push(Arc::new(source));
                }
            }
        }
        self.plan(OperationKind::Install, &text, &extra, &wanted, &[], options)
    }

    /// Plans moving `names` (every installed plugin when empty) to the newest releases the
    /// sources offer that fit the other plugins; dependencies follow as needed. The plan
    /// shows each plugin's changelog between the versions, compatibility warnings and the
    /// capability diff.
    pub fn plan_update(&self, names: &[String], options: &InstallOptions) -> Result<Plan, Error> {
        let current = self.current()?;
        let installed: Vec<&GenerationPlugin> = current
            .as_ref()
            .map(|g| g.plugins.iter().collect())
            .unwrap_or_default();
        for n in names {
            if !installed.iter().any(|p| name_key(&p.name) == name_key(n)) {
                return Err(InstallError::NotInstalled { name: n.clone() }.into());
            }
        }
        let unlock: Vec<String> = if names.is_empty() {
            installed.iter().map(|p| p.name.clone()).collect()
        } else {
            names.to_vec()
        };
        let text = if names.is_empty() {
            "--all".to_owned()
        } else {
            names.join(" ")
        };
        self.plan(OperationKind::Update, &text, &[], &[], &unlock, options)
    }

    /// Plans removing `name`. Refused (`SB1404`, listing them) when other plugins need it,
    /// unless [`RemoveOptions::with_dependents`]; then they are removed too, and the plan's
    /// `dependents` names them. Plugins installed only as its dependencies stay installed.
    pub fn plan_remove(&self, name: &str, options: &RemoveOptions) -> Result<Plan, Error> {
        let current = self
            .current()?
            .ok_or_else(|| InstallError::NotInstalled { name: name.into() })?;
        let Some(target) = current.plugin(name).cloned() else {
            return Err(InstallError::NotInstalled { name: name.into() }.into());
        };
        let graph = current.graph()?;
        let impact: Vec<String> = graph
            .removal_impact(&target.name)
            .into_iter()
            .map(str::to_owned)
            .collect();
        if !impact.is_empty() && !options.with_dependents {
            return Err(InstallError::HasDependents {
                name: target.name.clone(),
                dependents: impact,
            }
            .into());
        }
        let gone: BTreeSet<String> = std::iter::once(target.name.clone())
            .chain(impact.iter().cloned())
            .collect();
        let op = OperationId::new();
        let _lock = self.lock()?;
        let store = self.host.store();
        store.journal_begin_operation(&op, OperationKind::Remove, name, Some(current.id))?;
        let plugins: Vec<GenerationPlugin> = current
            .plugins
            .iter()
            .filter(|p| !gone.contains(&p.name))
            .cloned()
            .collect();
        let changes = current
            .plugins
            .iter()
            .filter(|p| gone.contains(&p.name))
            .map(|p| PlannedChange {
                name: p.name.clone(),
                from: Some(p.version.clone()),
                to: None,
                source: p.source.clone(),
                requested: p.requested,
                capabilities: Vec::new(),
                new_capabilities: Vec::new(),
                dropped_capabilities: p.capabilities.clone(),
                changelog: None,
                warnings: Vec::new(),
            })
            .collect();
        Ok(Plan {
            operation: op,
            kind: OperationKind::Remove,
            request: name.to_owned(),
            from_generation: Some(current.id),
            changes,
            dependents: impact,
            unchanged: false,
            detail: PlanDetail {
                plugins,
                summary: format!("remove {}", gone.into_iter().collect::<Vec<_>>().join(", ")),
                ..PlanDetail::default()
            },
        })
    }

    /// Applies a plan: prepares its generation, flips to it, activates it in the running
    /// host (loads, data migrations, starts, in dependency order), checks the health of what
    /// changed, and collects garbage. A failure after the flip flips back, restores the
    /// changed plugins' data and code, and returns `SB1406`/`SB1407` naming the cause; the
    /// journal says `rolled-back` and `system.plugin.rolled_back` is published.
    pub fn apply(&self, plan: Plan) -> Result<OperationReport, Error> {
        let _lock = self.lock()?;
        self.apply_locked(plan)
    }

    /// Declines a plan: its journal entry ends `failed` ("declined"); its downloaded
    /// packages are collected later. Nothing else changed.
    pub fn cancel(&self, plan: Plan) -> Result<(), Error> {
        let store = self.host.store();
        store.journal_finish(&plan.operation, OperationStatus::Failed, Some("declined"))?;
        PackageStore::new(self.host.data_dir()).clear_staging(&plan.operation);
        Ok(())
    }

    /// [`plan_install`](Self::plan_install) then [`apply`](Self::apply).
    pub fn install(
        &self,
        requests: &[InstallRequest],
        options: &InstallOptions,
    ) -> Result<OperationReport, Error> {
        let plan = self.plan_install(requests, options)?;
        self.apply(plan)
    }

    /// [`plan_update`](Self::plan_update) then [`apply`](Self::apply).
    pub fn update(
        &self,
        names: &[String],
        options: &InstallOptions,
    ) -> Result<OperationReport, Error> {
        let plan = self.plan_update(names, options)?;
        self.apply(plan)
    }

    /// [`plan_remove`](Self::plan_remove) then [`apply`](Self::apply).
    pub fn remove(&self, name: &str, options: &RemoveOptions) -> Result<OperationReport, Error> {
        let plan = self.plan_remove(name, options)?;
        self.apply(plan)
    }

    /// Enables a disabled plugin: a new generation in which it is enabled, activated at
    /// once (loaded and started in the running host). Enabling an enabled plugin changes
    /// nothing.
    pub fn enable(&self, name: &str) -> Result<OperationReport, Error> {
        self.toggle(name, true)
    }

    /// Disables a plugin: a new generation in which it is disabled; it is stopped and
    /// removed from the running host at once and not loaded at the next start. Plugins
    /// that need it are not started either (they say why).
    pub fn disable(&self, name: &str) -> Result<OperationReport, Error> {
        self.toggle(name, false)
    }

    /// Makes generation `to` current again — by default the newest kept generation before
    /// the current one — and activates it: its plugin versions (downgrades allowed, as a
    /// rollback is explicit) and the data the changed plugins had when that generation was
    /// left.
    pub fn rollback(&self, to: Option<GenerationId>) -> Result<OperationReport, Error> {
        let store = self.host.store();
        let current = store.current_generation_id()?;
        let target = match to {
            Some(id) => id,
            None => {
                let ids = store.generation_ids()?;
                *ids.iter()
                    .rev()
                    .find(|id| current.is_none_or(|c| **id < c))
                    .ok_or(InstallError::NothingToRollBack)?
            }
        };
        let g = store
            .generation(target)?
            .ok_or(InstallError::NoSuchGeneration { id: target })?;
        let old = self.current()?;
        let _lock = self.lock()?;
        let op = OperationId::new();
        store.journal_begin_operation(
            &op,
            OperationKind::Rollback,
            &format!("--to {target}"),
            current,
        )?;
        let changes = diff_changes(old.as_ref(), &g.plugins);
        let mut options = InstallOptions::new();
        options.allow_downgrade(true);
        let plan = Plan {
            operation: op,
            kind: OperationKind::Rollback,
            request: format!("--to {target}"),
            from_generation: current,
            unchanged: Some(target) == current,
            changes,
            dependents: Vec::new(),
            detail: PlanDetail {
                plugins: g.plugins.clone(),
                target: Some(target),
                restore_from: store.backup_leaving(target)?.map(PathBuf::from),
                options,
                summary: format!("rollback to generation {target}"),
                ..PlanDetail::default()
            },
        };
        self.apply_locked(plan)
    }

    /// Garbage-collects now: deletes generations beyond the newest kept ones (never the
    /// current one) and the packages and data backups no kept generation needs. Runs after
    /// every successful operation.
    pub fn gc(&self) -> Result<GcReport, Error> {
        let _lock = self.lock()?;
        self.gc_locked()
    }

    /// Loads and starts the current generation's enabled plugins in dependency order
    /// (dependencies first). A plugin whose dependency did not start is not started, and
    /// [`StartReport::skipped`] says why; one that fails is in [`StartReport::failed`].
    /// Plugins already running from the same package are left running.
    pub fn start(&self) -> Result<StartReport, Error> {
        let mut report = StartReport::default();
        let Some(g) = self.current()? else {
            return Ok(report);
        };
        report.generation = Some(g.id);
        let graph = g.graph()?;
        let pkgs = PackageStore::new(self.host.data_dir());
        let mut down: BTreeSet<String> = BTreeSet::new();
        for name in graph.load_order() {
            let Some(p) = g.plugin(name) else { continue };
            if !p.enabled {
                report.disabled.push(p.name.clone());
                down.insert(p.name.clone());
                continue;
            }
            if let Some(dep) = p
                .dependencies
                .iter()
                .find(|d| !p.optional_dependencies.contains(d) && down.contains(*d))
            {
                report.skipped.push((
                    p.name.clone(),
                    format!("its dependency `{dep}` did not start"),
                ));
                down.insert(p.name.clone());
                continue;
            }
            match self.start_one(&pkgs, p, None) {
                Ok(()) => report.started.push(p.name.clone()),
                Err(e) => {
                    report.failed.push((p.name.clone(), e));
                    down.insert(p.name.clone());
                }
            }
        }
        Ok(report)
    }
}

/// `=VERSION`.
fn exact(v: &Version) -> VersionReq {
    VersionReq {
        comparators: vec![semver::Comparator {
            op: semver::Op::Exact,
            major: v.major,
            minor: Some(v.minor),
            patch: Some(v.patch),
            pre: v.pre.clone(),
        }],
    }
}

/// The changes between the current generation and a new plugin list (no manifests read).
fn diff_changes(old: Option<&Generation>, new: &[GenerationPlugin]) -> Vec<PlannedChange> {
    let mut out = Vec::new();
    let old_plugins: &[GenerationPlugin] = old.map(|g| g.plugins.as_slice()).unwrap_or(&[]);
    for p in new {
        let before = old_plugins.iter().find(|o| o.name == p.name);
        if before.is_some_and(|b| b.sha256 == p.sha256 && b.enabled == p.enabled) {
            continue;
        }
        let old_caps: BTreeSet<&String> = before
            .map(|b| b.capabilities.iter().collect())
            .unwrap_or_default();
        out.push(PlannedChange {
            name: p.name.clone(),
            from: before.map(|b| b.version.clone()),
            to: Some(p.version.clone()),
            source: p.source.clone(),
            requested: p.requested,
            capabilities: p.capabilities.clone(),
            new_capabilities: p
                .capabilities
                .iter()
                .filter(|c| !old_caps.contains(c))
                .cloned()
                .collect(),
            dropped_capabilities: before
                .map(|b| {
                    b.capabilities
                        .iter()
                        .filter(|c| !p.capabilities.contains(c))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default(),
            changelog: None,
            warnings: Vec::new(),
        });
    }
    for o in old_plugins {
        if !new.iter().any(|p| p.name == o.name) {
            out.push(PlannedChange {
                name: o.name.clone(),
                from: Some(o.version.clone()),
                to: None,
                source: o.source.clone(),
                requested: o.requested,
                capabilities: Vec::new(),
                new_capabilities: Vec::new(),
                dropped_capabilities: o.capabilities.clone(),
                changelog: None,
                warnings: Vec::new(),
            });
        }
    }
    out
}

impl Installer {
    fn lock(&self) -> Result<OpLock, Error> {
        let path = self.host.data_dir().join(LOCK_FILE);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| InstallError::Io {
                what: "open",
                path: path.clone(),
                reason: e.to_string(),
            })?;
        match file.try_lock() {
            Ok(()) => Ok(OpLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                let running = self.host.store().journal_running()?;
                Err(InstallError::Busy {
                    operation: running.into_iter().last(),
                }
                .into())
            }
            Err(std::fs::TryLockError::Error(e)) => Err(InstallError::Io {
                what: "lock",
                path,
                reason: e.to_string(),
            }
            .into()),
        }
    }

    fn report(
        &self,
        op: &OperationId,
        phase: Phase,
        plugin: Option<&str>,
        bytes: Option<(u64, Option<u64>)>,
    ) {
        if let Some(f) = &self.progress {
            f(&Progress {
                operation: op.clone(),
                phase,
                plugin: plugin.map(str::to_owned),
                bytes,
            });
        }
    }

    fn begin(
        &self,
        op: &OperationId,
        phase: Phase,
        detail: serde_json::Value,
    ) -> Result<(), Error> {
        self.report(op, phase, None, None);
        self.host
            .store()
            .journal_step(op, phase, "begin", &detail)?;
        Ok(())
    }

    fn end(&self, op: &OperationId, phase: Phase, detail: serde_json::Value) -> Result<(), Error> {
        self.host.store().journal_step(op, phase, "end", &detail)?;
        Ok(())
    }

    /// Ends an operation that failed before its flip.
    fn failed(&self, op: &OperationId, e: Error) -> Error {
        let store = self.host.store();
        if let Err(err) = store.journal_finish(op, OperationStatus::Failed, Some(&e.to_string())) {
            log::error!(target: "switchboard::install", "cannot record that {op} failed: {err}");
        }
        PackageStore::new(self.host.data_dir()).clear_staging(op);
        e
    }

    /// Resolve, download and verify: phases 1 and 2, and the plan.
    fn plan(
        &self,
        kind: OperationKind,
        request: &str,
        extra: &[Arc<dyn PackageSource>],
        wanted: &[Dependency],
        unlock: &[String],
        options: &InstallOptions,
    ) -> Result<Plan, Error> {
        let _lock = self.lock()?;
        let store = self.host.store();
        let current = self.current()?;
        let op = OperationId::new();
        store.journal_begin_operation(&op, kind, request, current.as_ref().map(|g| g.id))?;
        match self.plan_steps(
            &op,
            kind,
            request,
            extra,
            wanted,
            unlock,
            options,
            current.as_ref(),
        ) {
            Ok(plan) => Ok(plan),
            Err(e) => Err(self.failed(&op, e)),
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the pieces of one plan; crate-internal"
    )]
    fn plan_steps(
        &self,
        op: &OperationId,
        kind: OperationKind,
        request: &str,
        extra: &[Arc<dyn PackageSource>],
        wanted: &[Dependency],
        unlock: &[String],
        options: &InstallOptions,
        current: Option<&Generation>,
    ) -> Result<Plan, Error> {
        let installed: &[GenerationPlugin] = current.map(|g| g.plugins.as_slice()).unwrap_or(&[]);
        let installed_index = installed_index(installed)?;
        let mut all: Vec<&dyn PackageSource> = extra.iter().map(|s| s.as_ref()).collect();
        all.extend(self.sources.iter().map(|s| s.as_ref()));
        let sources = Sources {
            sources: all,
            installed: &installed_index,
        };
        // Requested: what the operator asked for before, and now.
        let mut request_deps: Vec<Dependency> = installed
            .iter()
            .filter(|p| p.requested)
            .filter(|p| {
                !wanted
                    .iter()
                    .any(|w| name_key(&w.name) == name_key(&p.name))
            })
            .map(|p| Dependency::new(p.name.clone(), VersionReq::STAR))
            .collect();
        request_deps.extend(wanted.iter().cloned());
        for w in wanted {
            if sources
                .releases(&w.name)
                .map_err(crate::ResolveError::from)?
                .is_none()
            {
                return Err(InstallError::NotInSources {
                    name: w.name.clone(),
                    sources: sources.labels(),
                }
                .into());
            }
        }
        let (api_name, api_version) = self.host.host_api();
        let mut resolver = Resolver::new(&sources);
        if let Ok(v) = Version::parse(api_version) {
            resolver.host_api(api_name, v);
        }
        let current_lock = match current {
            Some(g) => g.lock()?,
            None => Lockfile::default(),
        };
        resolver.locked(&current_lock);
        // Installed versions are preferred, except for what the operation is about.
        let moving = |name: &str| {
            wanted.iter().any(|w| name_key(&w.name) == name_key(name))
                || unlock.iter().any(|n| name_key(n) == name_key(name))
        };
        for p in installed.iter().filter(|p| !moving(&p.name)) {
            resolver.installed(p.name.clone(), p.version.clone());
        }
        for p in installed.iter().filter(|p| moving(&p.name)) {
            resolver.unlock(&p.name);
        }
        for w in wanted {
            resolver.unlock(&w.name);
        }
        let resolution = resolver.resolve(&request_deps)?;
        // Downgrades and locked drift are refused before anything is downloaded.
        for p in resolution.plugins() {
            if let Some(old) = installed.iter().find(|o| o.name == p.name) {
                if p.version() < &old.version && !options.load.allow_downgrade {
                    return Err(InstallError::Downgrade {
                        name: p.name.clone(),
                        installed: old.version.to_string(),
                        requested: p.version().to_string(),
                    }
                    .into());
                }
            }
        }
        if options.locked {
            let planned =
                Lockfile::from_resolution(&resolution, |p| match current_lock.get(&p.name) {
                    Some(l) if l.version == *p.version() => {
                        let mut prov = Provenance::new(l.source.clone(), l.trust);
                        prov.signer = l.signer.clone();
                        prov
                    }
                    _ => Provenance::new(String::new(), crate::TrustLevel::Unsigned),
                });
            let drift: Vec<_> = current_lock.changes_to(&planned).into_iter().collect();
            if !drift.is_empty() {
                return Err(crate::ResolveError::LockedDrift { changes: drift }.into());
            }
        }

        // Phase 1: download what the store does not hold.
        let pkgs = PackageStore::new(self.host.data_dir());
        self.begin(op, Phase::Download, json!({ "plugins": resolution.len() }))?;
        hit(failpoints::BEFORE_DOWNLOAD)?;
        let mut chosen: Vec<(String, Version, String, String)> = Vec::new(); // name, version, hex, source
        for p in resolution.plugins() {
            let hex = checksum_hex(&p.release.checksum).to_owned();
            let old = installed
                .iter()
                .find(|o| o.name == p.name && o.sha256 == hex);
            if let Some(old) = old {
                chosen.push((p.name.clone(), p.version().clone(), hex, old.source.clone()));
                continue;
            }
            let Some((i, _)) = sources
                .provider(&p.name, p.version())
                .map_err(crate::ResolveError::from)?
            else {
                return Err(InstallError::NotInSources {
                    name: p.name.clone(),
                    sources: sources.labels(),
                }
                .into());
            };
            let Some(source) = sources.sources.get(i) else {
                return Err(InstallError::NotInSources {
                    name: p.name.clone(),
                    sources: sources.labels(),
                }
                .into());
            };
            if !pkgs.contains(&hex) {
                let staging = pkgs.staging_dir(op)?;
                let dest = staging.join(format!(
                    "{}-{}.{}",
                    p.name,
                    p.version(),
                    crate::package::EXTENSION
                ));
                self.report(op, Phase::Download, Some(&p.name), Some((0, None)));
                source.fetch(&p.name, p.version(), &dest, &mut |done, total| {
                    self.report(op, Phase::Download, Some(&p.name), Some((done, total)));
                })?;
                let found = super::source::sha256_file(&dest).map_err(|e| InstallError::Io {
                    what: "read",
                    path: dest.clone(),
                    reason: e.to_string(),
                })?;
                if found != hex {
                    return Err(InstallError::ChecksumMismatch {
                        name: p.name.clone(),
                        version: p.version().to_string(),
                        expected: p.release.checksum.clone(),
                        found: format!("sha256:{found}"),
                    }
                    .into());
                }
                pkgs.put(&dest)?;
            }
            chosen.push((p.name.clone(), p.version().clone(), hex, source.label()));
        }
        hit(failpoints::AFTER_DOWNLOAD)?;
        self.end(op, Phase::Download, json!({}))?;

        // Phase 2: verify each new package as a load would, before any of its code runs.
        self.begin(op, Phase::Verify, json!({}))?;
        hit(failpoints::BEFORE_VERIFY)?;
        let mut verified = BTreeMap::new();
        let mut releases = BTreeMap::new();
        let mut plugins = Vec::new();
        let mut changes = Vec::new();
        for (name, version, hex, source) in &chosen {
            let old = installed.iter().find(|o| &o.name == name);
            let requested = wanted.iter().any(|w| name_key(&w.name) == name_key(name))
                || old.is_some_and(|o| o.requested);
            let enabled = match old {
                Some(o) => o.enabled,
                None => !(options.disabled && requested),
            };
            if let Some(o) = old.filter(|o| &o.sha256 == hex) {
                let mut p = o.clone();
                p.requested = requested;
                plugins.push(p);
                continue;
            }
            self.report(op, Phase::Verify, Some(name), None);
            let path = pkgs.check(name, &version.to_string(), hex)?;
            let v = self.host.verify_package_with(&path, &options.load)?;
            let m: &Manifest = &v.package().manifest;
            if m.name != *name || m.version != version.to_string() {
                return Err(InstallError::ChecksumMismatch {
                    name: name.clone(),
                    version: version.to_string(),
                    expected: format!("{name} {version}"),
                    found: format!("{} {}", m.name, m.version),
                }
                .into());
            }
            let release = release_of(m, &format!("sha256:{hex}")).map_err(|reason| {
                InstallError::BadRequest {
                    text: name.clone(),
                    reason,
                }
            })?;
            let deps: Vec<String> = release
                .dependencies
                .iter()
                .map(|d| d.name.clone())
                .collect();
            let optional: Vec<String> = release
                .dependencies
                .iter()
                .filter(|d| d.optional)
                .map(|d| d.name.clone())
                .collect();
            let changelog = read_changelog(&path, &self.host.unpack_limits())
                .and_then(|text| changelog_between(&text, old.map(|o| &o.version), version));
            let mut warnings: Vec<String> = v.warnings().iter().map(|w| w.to_string()).collect();
            if let Some(o) = old {
                if version.major != o.version.major
                    || (version.major == 0 && version.minor != o.version.minor)
                {
                    warnings.push(format!(
                        "{name} {} → {version} is a breaking release by semver; check its changelog",
                        o.version
                    ));
                }
                if version < &o.version {
                    warnings.push(format!("{name} {} → {version} is a downgrade", o.version));
                }
            }
            let caps = m.capabilities.clone();
            let old_caps: BTreeSet<&String> = old
                .map(|o| o.capabilities.iter().collect())
                .unwrap_or_default();
            let new_caps: Vec<String> = caps
                .iter()
                .filter(|c| !old_caps.contains(c))
                .cloned()
                .collect();
            changes.push(PlannedChange {
                name: name.clone(),
                from: old.map(|o| o.version.clone()),
                to: Some(version.clone()),
                source: source.clone(),
                requested,
                capabilities: caps.clone(),
                new_capabilities: new_caps.clone(),
                dropped_capabilities: old
                    .map(|o| {
                        o.capabilities
                            .iter()
                            .filter(|c| !caps.contains(c))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default(),
                changelog,
                warnings,
            });
            plugins.push(GenerationPlugin {
                name: name.clone(),
                version: version.clone(),
                sha256: hex.clone(),
                source: source.clone(),
                trust: v.package().trust,
                signer: v.package().signer.clone(),
                enabled,
                requested,
                dependencies: deps,
                optional_dependencies: optional,
                capabilities: caps,
                grants: old.map(|o| o.grants.clone()).unwrap_or_default(),
            });
            verified.insert(name.clone(), v);
            releases.insert(name.clone(), release);
        }
        // Installed plugins the solve did not reach (left by a removal) stay as they are.
        for o in installed {
            if !plugins.iter().any(|p: &GenerationPlugin| p.name == o.name) {
                plugins.push(o.clone());
            }
        }
        hit(failpoints::AFTER_VERIFY)?;
        self.end(
            op,
            Phase::Verify,
            json!({ "verified": verified.keys().collect::<Vec<_>>() }),
        )?;
        let approve = match options.approval {
            CapabilityApproval::All => changes
                .iter()
                .filter(|c| !c.new_capabilities.is_empty())
                .map(|c| (c.name.clone(), c.new_capabilities.clone()))
                .collect(),
            CapabilityApproval::Policy => Vec::new(),
        };
        let unchanged = changes.is_empty()
            && plugins.len() == installed.len()
            && plugins.iter().all(|p| {
                installed
                    .iter()
                    .any(|o| o.name == p.name && o.requested == p.requested)
            });
        let summary = if changes.is_empty() {
            format!("{kind} {request}")
        } else {
            format!(
                "{kind} {}",
                changes
                    .iter()
                    .filter_map(|c| c.to.as_ref().map(|v| format!("{} {v}", c.name)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Ok(Plan {
            operation: op.clone(),
            kind,
            request: request.to_owned(),
            from_generation: current.map(|g| g.id),
            changes,
            dependents: Vec::new(),
            unchanged,
            detail: PlanDetail {
                plugins,
                verified,
                releases,
                approve,
                target: None,
                restore_from: None,
                options: options.clone(),
                summary,
            },
        })
    }

    fn toggle(&self, name: &str, enabled: bool) -> Result<OperationReport, Error> {
        let current = self
            .current()?
            .ok_or_else(|| InstallError::NotInstalled { name: name.into() })?;
        let Some(target) = current.plugin(name).cloned() else {
            return Err(InstallError::NotInstalled { name: name.into() }.into());
        };
        let _lock = self.lock()?;
        let kind = if enabled {
            OperationKind::Enable
        } else {
            OperationKind::Disable
        };
        let op = OperationId::new();
        self.host
            .store()
            .journal_begin_operation(&op, kind, name, Some(current.id))?;
        let plugins: Vec<GenerationPlugin> = current
            .plugins
            .iter()
            .map(|p| {
                let mut p = p.clone();
                if p.name == target.name {
                    p.enabled = enabled;
                }
                p
            })
            .collect();
        let unchanged = target.enabled == enabled;
        let plan = Plan {
            operation: op,
            kind,
            request: name.to_owned(),
            from_generation: Some(current.id),
            changes: if unchanged {
                Vec::new()
            } else {
                vec![PlannedChange {
                    name: target.name.clone(),
                    from: Some(target.version.clone()),
                    to: Some(target.version.clone()),
                    source: target.source.clone(),
                    requested: target.requested,
                    capabilities: target.capabilities.clone(),
                    new_capabilities: Vec::new(),
                    dropped_capabilities: Vec::new(),
                    changelog: None,
                    warnings: Vec::new(),
                }]
            },
            dependents: Vec::new(),
            unchanged,
            detail: PlanDetail {
                plugins,
                summary: format!("{kind} {}", target.name),
                ..PlanDetail::default()
            },
        };
        self.apply_locked(plan)
    }

    /// Phases 3–5 under the operation lock.
    fn apply_locked(&self, plan: Plan) -> Result<OperationReport, Error> {
        let store = self.host.store().clone();
        let op = plan.operation.clone();
        let current_now = store.current_generation_id()?;
        if current_now != plan.from_generation {
            // Another operation flipped since the plan was made: plan again.
            let e: Error = InstallError::Busy { operation: None }.into();
            return Err(self.failed(&op, e));
        }
        if plan.unchanged {
            store.journal_finish(&op, OperationStatus::Done, None)?;
            return Ok(OperationReport {
                operation: op,
                kind: plan.kind,
                from_generation: plan.from_generation,
                generation: plan.from_generation,
                changes: Vec::new(),
                collected: Vec::new(),
                warnings: Vec::new(),
            });
        }
        let old = match plan.from_generation {
            Some(id) => store.generation(id)?,
            None => None,
        };
        let mut detail = plan.detail;
        // Phase 3: the new generation, beside the current one.
        let new = match self.prepare(&op, &plan.request, plan.kind, old.as_ref(), &mut detail) {
            Ok(g) => g,
            Err(e) => return Err(self.failed(&op, e)),
        };
        // Phase 4: flip, then make the running host match.
        let backup = match self.before_flip(&op, old.as_ref(), &new, &detail) {
            Ok(b) => b,
            Err(e) => return Err(self.failed(&op, e)),
        };
        if let Err(e) = self.flip_to(old.as_ref().map(|g| g.id), new.id) {
            return Err(self.failed(&op, e));
        }
        let outcome = self.after_flip(&op, old.as_ref(), &new, &mut detail);
        match outcome {
            Ok(warnings) => {
                let done = self.finish(&op, plan.kind, old.as_ref(), &new, &plan.changes);
                if let Err(e) = done {
                    log::error!(target: "switchboard::install", "{op} finished, but: {e}");
                }
                let collected = match self.gc_locked() {
                    Ok(r) => r.packages,
                    Err(e) => {
                        log::warn!(target: "switchboard::install", "garbage collection after {op}: {e}");
                        Vec::new()
                    }
                };
                Ok(OperationReport {
                    operation: op,
                    kind: plan.kind,
                    from_generation: plan.from_generation,
                    generation: Some(new.id),
                    changes: plan.changes,
                    collected,
                    warnings,
                })
            }
            Err((plugin, cause)) => {
                let restored = self.roll_back(&op, old.as_ref(), &new, backup.as_deref(), &cause);
                let restored_id = old.as_ref().map_or(GenerationId(0), |g| g.id);
                if let Err(e) = restored {
                    log::error!(target: "switchboard::install", "rolling back {op}: {e}");
                }
                Err(match cause {
                    Failure::Health(health) => InstallError::HealthCheckFailed {
                        operation: op,
                        plugin,
                        health,
                        restored: restored_id,
                    },
                    Failure::Error(e) => InstallError::RolledBack {
                        operation: op,
                        plugin,
                        restored: restored_id,
                        cause: Box::new(e),
                    },
                }
                .into())
            }
        }
    }

    /// Phase 3: the generation rows (not current), the lockfile checked from the verified
    /// manifests.
    fn prepare(
        &self,
        op: &OperationId,
        _request: &str,
        kind: OperationKind,
        old: Option<&Generation>,
        detail: &mut PlanDetail,
    ) -> Result<Generation, Error> {
        let store = self.host.store();
        self.begin(op, Phase::Resolve, json!({}))?;
        hit(failpoints::BEFORE_RESOLVE)?;
        let generation = if let Some(target) = detail.target {
            store
                .generation(target)?
                .ok_or(InstallError::NoSuchGeneration { id: target })?
        } else {
            // The closure again, from the verified manifests: what the index said is not
            // trusted for what runs.
            let mut index = MemoryIndex::new();
            for p in &detail.plugins {
                let release = match detail.releases.get(&p.name) {
                    Some(r) => r.clone(),
                    None => installed_release(p),
                };
                index.add(p.name.clone(), release);
            }
            let requested: Vec<Dependency> = detail
                .plugins
                .iter()
                .filter(|p| p.requested)
                .map(|p| Dependency::new(p.name.clone(), exact(&p.version)))
                .collect();
            let mut resolver = Resolver::new(&index);
            let (api_name, api_version) = self.host.host_api();
            if let Ok(v) = Version::parse(api_version) {
                resolver.host_api(api_name, v);
            }
            let resolution = resolver.resolve(&requested)?;
            // Plugins only a removed plugin needed stay installed (they are in the set).
            let by_name: BTreeMap<&str, &GenerationPlugin> = detail
                .plugins
                .iter()
                .map(|p| (p.name.as_str(), p))
                .collect();
            for p in resolution.plugins() {
                if !by_name.contains_key(p.name.as_str()) {
                    return Err(InstallError::NotInstalled {
                        name: p.name.clone(),
                    }
                    .into());
                }
            }
            let lock = lockfile_of(&detail.plugins)?;
            let id = store.next_generation_id()?;
            let g = Generation {
                id,
                parent: old.map(|g| g.id),
                operation: op.clone(),
                summary: if detail.summary.is_empty() {
                    kind.to_string()
                } else {
                    detail.summary.clone()
                },
                created_at: crate::Timestamp::now(),
                plugins: detail.plugins.clone(),
                lockfile: lock.to_toml(),
            };
            g.graph()?;
            store.with(|c| {
                let tx = c.transaction()?;
                write_generation(&tx, &g)?;
                tx.commit()?;
                Ok(())
            })?;
            g
        };
        store.journal_set_target(op, generation.id, None)?;
        hit(failpoints::AFTER_RESOLVE)?;
        self.end(op, Phase::Resolve, json!({ "generation": generation.id }))?;
        Ok(generation)
    }

    /// Phase 4 up to the flip: a data backup when versions change, approved grants stored.
    fn before_flip(
        &self,
        op: &OperationId,
        old: Option<&Generation>,
        new: &Generation,
        detail: &PlanDetail,
    ) -> Result<Option<PathBuf>, Error> {
        let store = self.host.store();
        self.begin(op, Phase::Activate, json!({ "generation": new.id }))?;
        hit(failpoints::BEFORE_ACTIVATE)?;
        let changes_data = new.plugins.iter().any(|p| {
            old.and_then(|g| g.plugin(&p.name))
                .is_some_and(|o| o.version != p.version)
        });
        let backup = if changes_data {
            let dir = self.host.data_dir().join("backups");
            std::fs::create_dir_all(&dir).map_err(|e| InstallError::Io {
                what: "create",
                path: dir.clone(),
                reason: e.to_string(),
            })?;
            let path = dir.join(format!("install-{op}.db"));
            store.backup_to(&path)?;
            store.journal_set_target(op, new.id, Some(&path.display().to_string()))?;
            Some(path)
        } else {
            None
        };
        for (plugin, caps) in &detail.approve {
            for cap in caps {
                if let Ok(c) = cap.parse::<switchboard_sdk::caps::Capability>() {
                    let grant = crate::caps::Grant::new(
                        c,
                        crate::caps::Scope::Persistent,
                        crate::Timestamp::now(),
                        crate::caps::GrantSource::Approver,
                    );
                    store.save_grant(plugin, &grant)?;
                }
            }
        }
        Ok(backup)
    }

    fn flip_to(&self, from: Option<GenerationId>, to: GenerationId) -> Result<(), Error> {
        let store = self.host.store();
        let flipped = store.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let ok = flip(&tx, from, Some(to))?;
            tx.commit()?;
            Ok(ok)
        })?;
        if !flipped {
            return Err(InstallError::Corrupt {
                what: "current generation",
                value: format!("expected {from:?} before flipping to {to}"),
            }
            .into());
        }
        self.write_lockfile(Some(to))?;
        Ok(())
    }

    /// Writes `<data dir>/switchboard.lock` from generation `g` (removes it for none).
    fn write_lockfile(&self, g: Option<GenerationId>) -> Result<(), Error> {
        let path = self.host.data_dir().join(LOCKFILE_NAME);
        match g
            .map(|id| self.host.store().generation(id))
            .transpose()?
            .flatten()
        {
            Some(g) => write_atomic(&path, g.lockfile.as_bytes())?,
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
        Ok(())
    }

    /// The rest of phase 4 and phase 5. The error names the plugin that failed.
    fn after_flip(
        &self,
        op: &OperationId,
        old: Option<&Generation>,
        new: &Generation,
        detail: &mut PlanDetail,
    ) -> Result<Vec<String>, (String, Failure)> {
        let fail = |e: Error| (String::new(), Failure::Error(e));
        hit(failpoints::AFTER_FLIP).map_err(|e| fail(e.into()))?;
        if let Some(backup) = &detail.restore_from {
            // A rollback: the changed plugins' data as it was when `new` was left, restored
            // before their older code loads (their migrations lead forward only).
            restore_data(
                &self.host,
                Some(new),
                old.unwrap_or(&empty_generation()),
                Some(backup),
            )
            .map_err(fail)?;
        }
        let changed = activate(&self.host, old, new, &mut detail.verified)
            .map_err(|(p, e)| (p, Failure::Error(e)))?;
        hit(failpoints::AFTER_ACTIVATE).map_err(|e| fail(e.into()))?;
        self.end(op, Phase::Activate, json!({ "changed": changed }))
            .map_err(fail)?;
        self.begin(op, Phase::HealthCheck, json!({}))
            .map_err(fail)?;
        hit(failpoints::BEFORE_HEALTH_CHECK).map_err(|e| fail(e.into()))?;
        let mut warnings = Vec::new();
        for name in &changed {
            let Ok(h) = self.host.plugin(name) else {
                continue;
            };
            match h.health() {
                crate::Health::Healthy => {}
                crate::Health::Degraded(why) => warnings.push(format!("{name} is degraded: {why}")),
                crate::Health::Unhealthy(why) => return Err((name.clone(), Failure::Health(why))),
                other => warnings.push(format!("{name} reports {other:?}")),
            }
        }
        hit(failpoints::AFTER_HEALTH_CHECK).map_err(|e| fail(e.into()))?;
        self.end(op, Phase::HealthCheck, json!({ "warnings": warnings }))
            .map_err(fail)?;
        Ok(warnings)
    }

    /// The operation succeeded: journal, grants into the generation, audit, events.
    fn finish(
        &self,
        op: &OperationId,
        kind: OperationKind,
        old: Option<&Generation>,
        new: &Generation,
        changes: &[PlannedChange],
    ) -> Result<(), Error> {
        let store = self.host.store();
        // The grants each running plugin of the generation holds, decided at its load.
        for p in &new.plugins {
            if let Ok(r) = store.plugin(&p.name) {
                if r.version == p.version.to_string() {
                    store.set_generation_grants(new.id, &p.name, &r.granted)?;
                }
            }
        }
        store.journal_finish(op, OperationStatus::Done, None)?;
        PackageStore::new(self.host.data_dir()).clear_staging(op);
        let mut events = Vec::new();
        for c in changes {
            let (topic, mut what) = lifecycle_event(kind, c);
            what["operation"] = json!(op.as_str());
            what["generation"] = json!(new.id);
            events.push((topic, c.name.clone(), what));
        }
        let audit: Vec<AuditEvent> = events
            .iter()
            .map(|(_, plugin, what)| {
                AuditEvent::new(
                    AuditKind::Install,
                    plugin,
                    what["to"]
                        .as_str()
                        .or(what["from"].as_str())
                        .unwrap_or_default(),
                    what.clone(),
                )
            })
            .collect();
        let _ = old;
        store.audit().append_all(&audit)?;
        for (topic, plugin, what) in events {
            publish(&self.host, topic, &plugin, &what);
        }
        Ok(())
    }

    /// After a failure past the flip: flip back, restore data and code, record it.
    fn roll_back(
        &self,
        op: &OperationId,
        old: Option<&Generation>,
        new: &Generation,
        backup: Option<&Path>,
        cause: &Failure,
    ) -> Result<(), Error> {
        let store = self.host.store();
        let to = old.map(|g| g.id);
        let done = store.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let ok = flip(&tx, Some(new.id), to)?;
            tx.commit()?;
            Ok(ok)
        })?;
        if !done {
            log::error!(target: "switchboard::install", "{op}: generation {} was no longer current when rolling back", new.id);
        }
        self.write_lockfile(to)?;
        restore_data(&self.host, old, new, backup)?;
        // The running host back to the old set; a load failing here is logged, not fatal:
        // the database says the old generation, and the next start loads it.
        let mut none = BTreeMap::new();
        if let Err((p, e)) = activate(
            &self.host,
            Some(new),
            old.unwrap_or(&empty_generation()),
            &mut none,
        ) {
            log::error!(target: "switchboard::install", "{op}: cannot restart `{p}` of the previous generation: {e}");
        }
        let why = match cause {
            Failure::Health(h) => format!("health check: {h}"),
            Failure::Error(e) => e.to_string(),
        };
        store.journal_step(op, Phase::Activate, "rolled-back", &json!({ "cause": why }))?;
        store.journal_finish(op, OperationStatus::RolledBack, Some(&why))?;
        PackageStore::new(self.host.data_dir()).clear_staging(op);
        rolled_back_notice(&self.host, op, new, old, &why)?;
        Ok(())
    }

    fn gc_locked(&self) -> Result<GcReport, Error> {
        let store = self.host.store();
        let current = store.current_generation_id()?;
        let ids = store.generation_ids()?;
        let mut keep: BTreeSet<GenerationId> = ids.iter().rev().take(self.keep).copied().collect();
        if let Some(c) = current {
            keep.insert(c);
        }
        let gone: Vec<GenerationId> = ids
            .iter()
            .filter(|id| !keep.contains(id))
            .copied()
            .collect();
        store.delete_generations(&gone)?;
        let mut digests = BTreeSet::new();
        for id in &keep {
            if let Some(g) = store.generation(*id)? {
                digests.extend(g.plugins.iter().map(|p| p.sha256.clone()));
            }
        }
        // Planned operations keep what they downloaded until they end.
        let running = store.journal_running()?;
        let packages = if running.is_empty() {
            PackageStore::new(self.host.data_dir()).collect(&digests, &running)?
        } else {
            Vec::new()
        };
        Ok(GcReport {
            generations: gone,
            packages,
        })
    }

    /// Loads and starts one plugin of a generation, unless it already runs from its package.
    fn start_one(
        &self,
        pkgs: &PackageStore,
        p: &GenerationPlugin,
        verified: Option<VerifiedPlugin>,
    ) -> Result<(), Error> {
        start_plugin(&self.host, pkgs, p, verified).map(|_| ())
    }
}

/// Why activation or a health check failed.
pub(crate) enum Failure {
    Health(String),
    Error(Error),
}

fn empty_generation() -> Generation {
    Generation {
        id: GenerationId(0),
        parent: None,
        operation: OperationId::new(),
        summary: String::new(),
        created_at: crate::Timestamp::now(),
        plugins: Vec::new(),
        lockfile: Lockfile::default().to_toml(),
    }
}

/// An index of the given plugins' releases (what is installed), so the resolver can keep
/// them without any source listing them.
pub(crate) fn installed_index(plugins: &[GenerationPlugin]) -> Result<MemoryIndex, Error> {
    let mut index = MemoryIndex::new();
    for p in plugins {
        index.add(p.name.clone(), installed_release(p));
    }
    Ok(index)
}

/// The release an installed plugin is: its dependencies by name (their ranges were checked
/// when it was installed).
fn installed_release(p: &GenerationPlugin) -> crate::resolve::Release {
    let mut release =
        crate::resolve::Release::new(p.version.clone(), format!("sha256:{}", p.sha256));
    for d in &p.dependencies {
        let dep = if p.optional_dependencies.contains(d) {
            Dependency::optional(d.clone(), VersionReq::STAR)
        } else {
            Dependency::new(d.clone(), VersionReq::STAR)
        };
        release = release.with_dependency(dep);
    }
    release
}

/// The lockfile of a set of plugins.
fn lockfile_of(plugins: &[GenerationPlugin]) -> Result<Lockfile, Error> {
    let index = installed_index(plugins)?;
    let all: Vec<Dependency> = plugins
        .iter()
        .map(|p| Dependency::new(p.name.clone(), exact(&p.version)))
        .collect();
    let resolution = Resolver::new(&index).resolve(&all)?;
    Ok(Lockfile::from_resolution(&resolution, |r| {
        let p = plugins.iter().find(|p| p.name == r.name);
        let mut prov = Provenance::new(
            p.map(|p| p.source.clone()).unwrap_or_default(),
            p.map_or(crate::TrustLevel::Unsigned, |p| p.trust),
        );
        prov.signer = p.and_then(|p| p.signer.clone());
        prov
    }))
}

fn read_changelog(path: &Path, limits: &crate::package::UnpackLimits) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let files = crate::package::unpack(&bytes, limits).ok()?;
    files
        .get("CHANGELOG.md")
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

/// Loads (if needed) and starts plugin `p` from the package store. Returns whether it was
/// (re)loaded.
pub(crate) fn start_plugin(
    host: &Host,
    pkgs: &PackageStore,
    p: &GenerationPlugin,
    verified: Option<VerifiedPlugin>,
) -> Result<bool, Error> {
    let path = pkgs.path(&p.sha256);
    if let Ok(h) = host.plugin(&p.name) {
        if h.source() == path && h.version() == p.version.to_string() {
            if h.state() != State::Active {
                h.start()?;
            }
            return Ok(false);
        }
    }
    // The generation decided the version: a rollback or recovery may load an older one.
    let mut options = LoadOptions::new();
    options.allow_downgrade(true);
    let handle = match verified {
        Some(v) => host.load_verified_with(v, &options)?,
        None => {
            pkgs.check(&p.name, &p.version.to_string(), &p.sha256)?;
            host.load_package_with(&path, &options)?
        }
    };
    if let Err(e) = handle.start() {
        let _ = host.remove(&p.name);
        return Err(e.into());
    }
    Ok(true)
}

/// Makes the running host match generation `new`, coming from `old`: stops and removes
/// what left, was disabled or changed (dependents first), loads and starts what came,
/// was enabled or changed (dependencies first). Returns the plugins (re)started.
pub(crate) fn activate(
    host: &Host,
    old: Option<&Generation>,
    new: &Generation,
    verified: &mut BTreeMap<String, VerifiedPlugin>,
) -> Result<Vec<String>, (String, Error)> {
    let pkgs = PackageStore::new(host.data_dir());
    let graph = new.graph().map_err(|e| (String::new(), e))?;
    let runs_as_wanted = |p: &GenerationPlugin| {
        host.plugin(&p.name).is_ok_and(|h| {
            h.source() == pkgs.path(&p.sha256) && h.version() == p.version.to_string()
        })
    };
    // What must (re)start: enabled plugins not running from their package, and what needs
    // them (it would keep calling the instance that goes away).
    let mut restart: BTreeSet<String> = BTreeSet::new();
    for p in new.plugins.iter().filter(|p| p.enabled) {
        if !runs_as_wanted(p) {
            restart.insert(p.name.clone());
            restart.extend(graph.removal_impact(&p.name).into_iter().map(str::to_owned));
        }
    }
    // Stop, dependents first: what left, was disabled, or restarts.
    let mut loaded: Vec<String> = Vec::new();
    if let Some(old) = old {
        if let Ok(g) = old.graph() {
            loaded.extend(g.load_order().into_iter().map(str::to_owned));
        }
    }
    for name in graph.load_order() {
        if !loaded.iter().any(|n| n == name) {
            loaded.push(name.to_owned());
        }
    }
    for name in loaded.iter().rev() {
        if host.plugin(name).is_err() {
            continue;
        }
        let wanted = new.plugin(name).filter(|p| p.enabled);
        if wanted.is_none() || restart.contains(name) {
            if let Err(e) = host.remove(name) {
                log::warn!(target: "switchboard::install", "stopping `{name}`: {e}");
            }
        }
    }
    // Start, dependencies first.
    let mut changed = Vec::new();
    for name in graph.load_order() {
        let Some(p) = new.plugin(name).filter(|p| p.enabled) else {
            continue;
        };
        let v = verified.remove(&p.name);
        match start_plugin(host, &pkgs, p, v) {
            Ok(true) => changed.push(p.name.clone()),
            Ok(false) => {}
            Err(e) => return Err((p.name.clone(), e)),
        }
    }
    Ok(changed)
}

/// Restores, from the backup taken before the flip, the data of each plugin whose version
/// the failed operation changed.
fn restore_data(
    host: &Host,
    old: Option<&Generation>,
    new: &Generation,
    backup: Option<&Path>,
) -> Result<(), Error> {
    let (Some(old), Some(backup)) = (old, backup) else {
        return Ok(());
    };
    for p in &new.plugins {
        if let Some(o) = old.plugin(&p.name) {
            if o.version != p.version {
                host.store().restore_plugin_from(&o.name, backup)?;
                // The record goes back to the version whose data is restored.
                if let Ok(mut r) = host.store().plugin(&o.name) {
                    r.version = o.version.to_string();
                    host.store().put_plugin(&r)?;
                }
            }
        }
    }
    Ok(())
}

/// The bus topic and audit detail of one change.
fn lifecycle_event(kind: OperationKind, c: &PlannedChange) -> (&'static str, serde_json::Value) {
    let topic = match (kind, &c.from, &c.to) {
        (_, _, None) => super::events::REMOVED,
        (OperationKind::Enable, _, _) => super::events::ENABLED,
        (OperationKind::Disable, _, _) => super::events::DISABLED,
        (OperationKind::Rollback, _, _) => super::events::ROLLED_BACK,
        (_, None, Some(_)) => super::events::INSTALLED,
        (_, Some(_), Some(_)) => super::events::UPDATED,
    };
    let what = json!({
        "event": topic.rsplit('.').next().unwrap_or(topic),
        "from": c.from.as_ref().map(ToString::to_string),
        "to": c.to.as_ref().map(ToString::to_string),
        "source": c.source,
        "new_capabilities": c.new_capabilities,
    });
    (topic, what)
}

/// Publishes a `system.plugin.*` event with a JSON payload.
pub(crate) fn publish(host: &Host, topic: &str, plugin: &str, what: &serde_json::Value) {
    let mut payload = what.clone();
    payload["plugin"] = json!(plugin);
    let event = crate::bus::Outgoing::new(topic, payload.to_string().into_bytes());
    host.bus().inner().publish_system(event);
}

/// Audits and publishes a roll-back of operation `op` from `new` to `old`.
fn rolled_back_notice(
    host: &Host,
    op: &OperationId,
    new: &Generation,
    old: Option<&Generation>,
    why: &str,
) -> Result<(), Error> {
    let what = json!({
        "event": "rolled_back",
        "operation": op.as_str(),
        "from_generation": new.id,
        "generation": old.map(|g| g.id),
        "reason": why,
    });
    let mut events = Vec::new();
    let names: BTreeSet<&str> = new
        .plugins
        .iter()
        .map(|p| p.name.as_str())
        .chain(
            old.into_iter()
                .flat_map(|g| g.plugins.iter().map(|p| p.name.as_str())),
        )
        .filter(|n| {
            let a = new.plugin(n).map(|p| (&p.sha256, p.enabled));
            let b = old
                .and_then(|g| g.plugin(n))
                .map(|p| (&p.sha256, p.enabled));
            a != b
        })
        .collect();
    for n in &names {
        events.push(AuditEvent::new(
            AuditKind::Install,
            *n,
            "rolled_back",
            what.clone(),
        ));
    }
    if events.is_empty() {
        events.push(AuditEvent::new(
            AuditKind::Install,
            "",
            "rolled_back",
            what.clone(),
        ));
    }
    host.store().audit().append_all(&events)?;
    for n in names {
        publish(host, super::events::ROLLED_BACK, n, &what);
    }
    if new.plugins.is_empty() && old.is_none() {
        publish(host, super::events::ROLLED_BACK, "", &what);
    }
    Ok(())
}

/// Rolls back every operation a crash interrupted (none if another process holds the
/// operation lock). Called when a host opens its data directory.
pub(crate) fn recover(host: &Host) -> Result<Vec<Recovery>, Error> {
    let store = host.store();
    let running = store.journal_running()?;
    if running.is_empty() {
        return Ok(Vec::new());
    }
    let installer = Installer::new(host);
    let Ok(_lock) = installer.lock() else {
        // Another process is running an operation: it is not interrupted.
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for op in running {
        let Some(record) = store.journal_operation(&op)? else {
            continue;
        };
        let current = store.current_generation_id()?;
        let flipped = record.to_generation.is_some()
            && current == record.to_generation
            && record.to_generation != record.from_generation;
        if flipped {
            let new = record
                .to_generation
                .map(|id| store.generation(id))
                .transpose()?
                .flatten();
            let old = record
                .from_generation
                .map(|id| store.generation(id))
                .transpose()?
                .flatten();
            store.with(|c| {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                flip(&tx, record.to_generation, record.from_generation)?;
                tx.commit()?;
                Ok(())
            })?;
            installer.write_lockfile(record.from_generation)?;
            if let Some(new) = &new {
                let backup = store.journal_data_backup(&op)?.map(PathBuf::from);
                restore_data(host, old.as_ref(), new, backup.as_deref())?;
            }
        }
        let why = format!("interrupted in phase {} (its process ended)", record.phase);
        store.journal_step(
            &op,
            record.phase,
            "rolled-back",
            &json!({ "cause": why, "recovered": true }),
        )?;
        store.journal_finish(&op, OperationStatus::RolledBack, Some(&why))?;
        let new_g = record
            .to_generation
            .map(|id| store.generation(id))
            .transpose()?
            .flatten()
            .unwrap_or_else(empty_generation);
        let old_g = record
            .from_generation
            .map(|id| store.generation(id))
            .transpose()?
            .flatten();
        if flipped {
            rolled_back_notice(host, &op, &new_g, old_g.as_ref(), &why)?;
        } else {
            store.audit().append(&AuditEvent::new(
                AuditKind::Install,
                "",
                "rolled_back",
                json!({ "event": "rolled_back", "operation": op.as_str(), "reason": why, "flipped": false }),
            ))?;
        }
        PackageStore::new(host.data_dir()).clear_staging(&op);
        out.push(Recovery {
            operation: op,
            kind: record.kind,
            phase: record.phase,
            flipped_back: flipped,
            generation: store.current_generation_id()?,
        });
    }
    Ok(out)
}
