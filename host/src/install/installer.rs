//! The installer: plans and applies operations on the installed set, one generation at a
//! time, journaled phase by phase (see the module docs of [`install`](super)).

use std::collections::BTreeSet;
use std::fmt;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use switchboard_sdk::manifest::name_key;

use super::error::InstallError;
use super::generation::{
    Generation, GenerationId, GenerationInfo, GenerationPlugin, InstallState, InstalledPlugin,
};
use super::journal::{OperationId, OperationKind, OperationRecord, OperationStatus};
use super::operation::{collect_unreferenced, diff_changes, exact, PlanDetail};
use super::options::{InstallOptions, InstallRequest, RemoveOptions};
use super::package_store::PackageStore;
use super::plan::{Plan, PlannedChange};
use super::recover::recover;
use super::report::{GcReport, OperationReport, Progress, Recovery, StartReport};
use super::source::{FileSource, PackageSource};
use crate::error::Error;
use crate::host::Host;
use crate::resolve::Dependency;

/// The number of generations kept by default (the current one is always kept as well).
pub const DEFAULT_KEEP_GENERATIONS: usize = 5;

/// How long a plugin's health check may take after an operation activated it, by default.
pub const DEFAULT_HEALTH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// The file whose lock marks an operation in progress on a data directory.
pub(super) const LOCK_FILE: &str = "install.lock";

pub(super) type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

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
    pub(super) host: Host,
    pub(super) sources: Vec<Arc<dyn PackageSource>>,
    pub(super) keep: usize,
    pub(super) progress: Option<ProgressFn>,
    pub(super) health_deadline: std::time::Duration,
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
pub(super) struct OpLock {
    pub(super) _file: File,
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
            health_deadline: DEFAULT_HEALTH_DEADLINE,
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

    /// How long the health check of each plugin an operation (re)started may take
    /// ([`DEFAULT_HEALTH_DEADLINE`]); one that does not answer in time fails the operation,
    /// which is rolled back (`SB1406`).
    pub fn health_deadline(&mut self, deadline: std::time::Duration) -> &mut Self {
        self.health_deadline = deadline;
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

    /// Where plugin `name` is in its install lifecycle: `enabled` or `disabled` in the
    /// current generation (`installed` while the operation that brought it is still
    /// activating it); `removed` if a kept generation or this host's records know it but
    /// the current generation does not; `available` if only a source offers it; `None` if
    /// nothing knows it.
    pub fn state(&self, name: &str) -> Result<Option<InstallState>, Error> {
        let store = self.host.store();
        if let Some(g) = self.current()? {
            if let Some(p) = g.plugin(name) {
                // Flipped to by an operation still activating it (or one a crash interrupted
                // there, which the next host rolls back): installed, not yet enabled.
                let mut activating = false;
                for op in store.journal_running()? {
                    if let Some(r) = store.journal_operation(&op)? {
                        activating |= r.to_generation == Some(g.id)
                            && r.from_generation
                                .and_then(|f| store.generation(f).ok().flatten())
                                .is_none_or(|old| {
                                    old.plugin(name).is_none_or(|o| o.sha256 != p.sha256)
                                });
                    }
                }
                return Ok(Some(match (p.enabled, activating) {
                    (true, true) => InstallState::Installed,
                    (true, false) => InstallState::Enabled,
                    (false, _) => InstallState::Disabled,
                }));
            }
        }
        for id in store.generation_ids()? {
            if store
                .generation(id)?
                .is_some_and(|g| g.plugin(name).is_some())
            {
                return Ok(Some(InstallState::Removed));
            }
        }
        if store.plugin(name).is_ok() {
            return Ok(Some(InstallState::Removed));
        }
        for s in &self.sources {
            if s.index()
                .releases(name)
                .map_err(crate::ResolveError::from)?
                .is_some()
            {
                return Ok(Some(InstallState::Available));
            }
        }
        Ok(None)
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
        if let Err(e) = self.nothing_to_fetch(&op) {
            return Err(self.failed(&op, e));
        }
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

    /// Declines a plan: its journal entry ends `failed` ("declined") and the packages it
    /// downloaded that no generation references are removed. Nothing else changed.
    pub fn cancel(&self, plan: Plan) -> Result<(), Error> {
        let store = self.host.store();
        store.journal_finish(&plan.operation, OperationStatus::Failed, Some("declined"))?;
        PackageStore::new(self.host.data_dir()).clear_staging(&plan.operation);
        collect_unreferenced(&self.host);
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
        if let Err(e) = self.nothing_to_fetch(&op) {
            return Err(self.failed(&op, e));
        }
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
