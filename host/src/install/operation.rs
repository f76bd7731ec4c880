//! The steps of one operation, phase by phase: plan (resolve, download, verify), prepare
//! the generation, flip, activate, health-check, finish — or roll back.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use semver::{Version, VersionReq};
use serde_json::json;
use switchboard_sdk::manifest::{name_key, Manifest};

use super::activate::{activate, restore_data, start_plugin};
use super::error::InstallError;
use super::events::{lifecycle_event, publish};
use super::failpoints::{self, hit};
use super::generation::{flip, write_generation, Generation, GenerationId, GenerationPlugin};
use super::installer::{Installer, OpLock, LOCK_FILE};
use super::journal::{OperationId, OperationKind, OperationStatus, Phase};
use super::options::{CapabilityApproval, InstallOptions};
use super::package_store::{write_atomic, PackageStore};
use super::plan::{changelog_between, Plan, PlannedChange};
use super::recover::rolled_back_notice;
use super::report::{GcReport, OperationReport, Progress};
use super::source::{checksum_hex, release_of, PackageSource, Sources};
use super::verified_cache::FileStamp;
use crate::audit::{AuditEvent, AuditKind};
use crate::error::Error;
use crate::resolve::{
    Dependency, Index, Lockfile, MemoryIndex, Provenance, Resolver, LOCKFILE_NAME,
};
use crate::verify::VerifiedPlugin;

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

/// `=VERSION`.
pub(crate) fn exact(v: &Version) -> VersionReq {
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
pub(crate) fn diff_changes(
    old: Option<&Generation>,
    new: &[GenerationPlugin],
) -> Vec<PlannedChange> {
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

/// How long an operation waits for the data directory's lock before reporting it busy.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

impl Installer {
    pub(super) fn lock(&self) -> Result<OpLock, Error> {
        let path = self.host.data_dir().join(LOCK_FILE);
        let not_regular = || -> Error {
            InstallError::Io {
                what: "lock",
                path: path.clone(),
                reason: "not a regular file (move it away: it is recreated)".into(),
            }
            .into()
        };
        // Checked before opening: opening a FIFO for writing waits for a reader, for ever.
        if std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_file()) {
            return Err(not_regular());
        }
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
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            return Err(not_regular());
        }
        // A short wait before "busy": a process that forks (the host's own children, a test
        // harness) shares the lock's open file with the child until the child execs, so a lock
        // can be held for a moment by no operation at all.
        let deadline = std::time::Instant::now() + LOCK_PATIENCE;
        let mut pause = std::time::Duration::from_millis(5);
        let mut attempt = file.try_lock();
        while matches!(attempt, Err(std::fs::TryLockError::WouldBlock))
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(pause);
            pause = (pause * 2).min(std::time::Duration::from_millis(100));
            attempt = file.try_lock();
        }
        match attempt {
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

    pub(super) fn report(
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

    pub(super) fn begin(
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

    pub(super) fn end(
        &self,
        op: &OperationId,
        phase: Phase,
        detail: serde_json::Value,
    ) -> Result<(), Error> {
        self.host.store().journal_step(op, phase, "end", &detail)?;
        Ok(())
    }

    /// Phases 1 and 2 of an operation whose packages are all stored (remove, enable,
    /// disable, rollback): recorded, and their failpoints passed, with nothing to do.
    pub(super) fn nothing_to_fetch(&self, op: &OperationId) -> Result<(), Error> {
        for (phase, before, after) in [
            (
                Phase::Download,
                failpoints::BEFORE_DOWNLOAD,
                failpoints::AFTER_DOWNLOAD,
            ),
            (
                Phase::Verify,
                failpoints::BEFORE_VERIFY,
                failpoints::AFTER_VERIFY,
            ),
        ] {
            self.begin(op, phase, json!({ "stored": true }))?;
            hit(before)?;
            hit(after)?;
            self.end(op, phase, json!({}))?;
        }
        Ok(())
    }

    /// Ends an operation that failed before its flip.
    pub(super) fn failed(&self, op: &OperationId, e: Error) -> Error {
        let store = self.host.store();
        if let Err(err) = store.journal_finish(op, OperationStatus::Failed, Some(&e.to_string())) {
            tracing::error!(target: "switchboard::install", "cannot record that {op} failed: {err}");
        }
        discard(&self.host, op);
        PackageStore::new(self.host.data_dir()).clear_staging(op);
        collect_unreferenced(&self.host);
        e
    }

    /// Resolve, download and verify: phases 1 and 2, and the plan.
    pub(super) fn plan(
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
    pub(super) fn plan_steps(
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
        let moving = |name: &str| {
            wanted.iter().any(|w| name_key(&w.name) == name_key(name))
                || unlock.iter().any(|n| name_key(n) == name_key(name))
        };
        let sources = Sources {
            sources: all,
            installed: &installed_index,
            keep_installed: installed
                .iter()
                .filter(|p| !moving(&p.name))
                .map(|p| p.name.clone())
                .collect(),
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
        let current_lock = match (&options.lockfile, current) {
            (Some(l), _) => l.clone(),
            (None, Some(g)) => g.lock()?,
            (None, None) => Lockfile::default(),
        };
        resolver.locked(&current_lock);
        // Installed versions are preferred, except for what the operation is about.
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
        let mut fetched = Vec::new();
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
                pkgs.put_hashed(&dest, &found)?;
                fetched.push(json!({
                    "plugin": p.name,
                    "version": p.version().to_string(),
                    "source": source.label(),
                    "sha256": found,
                }));
            }
            chosen.push((p.name.clone(), p.version().clone(), hex, source.label()));
        }
        hit(failpoints::AFTER_DOWNLOAD)?;
        self.end(op, Phase::Download, json!({ "fetched": fetched }))?;

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
            // Just fetched: hashed on arrival. Stored before: hashed again now.
            let path = if fetched.iter().any(|f| f["sha256"] == hex.as_str()) {
                pkgs.path(hex)
            } else {
                pkgs.check(name, &version.to_string(), hex)?
            };
            let stamp = FileStamp::of(&path);
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
            let dependency_ranges: BTreeMap<String, VersionReq> = release
                .dependencies
                .iter()
                .map(|d| (d.name.clone(), d.req.clone()))
                .collect();
            let optional: Vec<String> = release
                .dependencies
                .iter()
                .filter(|d| d.optional)
                .map(|d| d.name.clone())
                .collect();
            // The package is unpacked again only if its manifest pins a changelog.
            let changelog = m
                .files
                .contains_key("CHANGELOG.md")
                .then(|| read_changelog(&path, &self.host.unpack_limits()))
                .flatten()
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
                dependency_ranges,
                capabilities: caps,
                grants: old.map(|o| o.grants.clone()).unwrap_or_default(),
            });
            // Kept for a later rollback to this package (see `VerifiedCache`).
            self.host.verified_packages().remember(hex, stamp, &v);
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

    pub(super) fn toggle(&self, name: &str, enabled: bool) -> Result<OperationReport, Error> {
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
        if let Err(e) = self.nothing_to_fetch(&op) {
            return Err(self.failed(&op, e));
        }
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
    pub(super) fn apply_locked(&self, plan: Plan) -> Result<OperationReport, Error> {
        let store = self.host.store().clone();
        let op = plan.operation.clone();
        let still_running = store
            .journal_operation(&op)?
            .is_some_and(|r| r.status == OperationStatus::Running);
        if !still_running {
            return Err(InstallError::PlanEnded { operation: op }.into());
        }
        let current_now = store.current_generation_id()?;
        if current_now != plan.from_generation {
            // Another operation flipped since the plan was made: plan again.
            let e: Error = InstallError::PlanEnded {
                operation: op.clone(),
            }
            .into();
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
                    tracing::error!(target: "switchboard::install", "{op} finished, but: {e}");
                }
                let collected = match self.gc_locked() {
                    Ok(r) => r.packages,
                    Err(e) => {
                        tracing::warn!(target: "switchboard::install", "garbage collection after {op}: {e}");
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
            Err(failed) => {
                let (plugin, cause) = *failed;
                let restored = self.roll_back(&op, old.as_ref(), &new, backup.as_deref(), &cause);
                let restored_id = old.as_ref().map_or(GenerationId(0), |g| g.id);
                if let Err(e) = restored {
                    tracing::error!(target: "switchboard::install", "rolling back {op}: {e}");
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
    pub(super) fn prepare(
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
    pub(super) fn before_flip(
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
            // Written beside, then renamed: a crash never leaves a torn backup under the
            // name the journal records.
            let tmp = dir.join(format!("install-{op}.db.tmp"));
            store.backup_to(&tmp)?;
            std::fs::rename(&tmp, &path).map_err(|e| InstallError::Io {
                what: "write",
                path: path.clone(),
                reason: e.to_string(),
            })?;
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

    pub(super) fn flip_to(
        &self,
        from: Option<GenerationId>,
        to: GenerationId,
    ) -> Result<(), Error> {
        let store = self.host.store();
        // The lockfile first: if it cannot be written the operation fails with nothing
        // flipped (after the flip it would leave a flipped generation whose data was never
        // restored, recorded as failed). A crash between the two is undone by recovery, which
        // rewrites the lockfile from the generation current then.
        self.write_lockfile(Some(to))?;
        let flipped = store
            .with(|c| {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let ok = flip(&tx, from, Some(to))?;
                tx.commit()?;
                Ok(ok)
            })
            .inspect_err(|_| {
                let _ = self.write_lockfile(from);
            })?;
        if !flipped {
            let _ = self.write_lockfile(from);
            return Err(InstallError::Corrupt {
                what: "current generation",
                value: format!("expected {from:?} before flipping to {to}"),
            }
            .into());
        }
        Ok(())
    }

    /// Writes `<data dir>/switchboard.lock` from generation `g` (removes it for none).
    pub(super) fn write_lockfile(&self, g: Option<GenerationId>) -> Result<(), Error> {
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
    pub(super) fn after_flip(
        &self,
        op: &OperationId,
        old: Option<&Generation>,
        new: &Generation,
        detail: &mut PlanDetail,
    ) -> Result<Vec<String>, Box<(String, Failure)>> {
        let fail = |e: Error| Box::new((String::new(), Failure::Error(e)));
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
        let changed = activate(&self.host, old, new, &mut detail.verified).map_err(|b| {
            let (p, e) = *b;
            Box::new((p, Failure::Error(e)))
        })?;
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
            match health_within(&h, self.health_deadline) {
                crate::Health::Healthy => {}
                crate::Health::Degraded(why) => warnings.push(format!("{name} is degraded: {why}")),
                crate::Health::Unhealthy(why) => {
                    return Err(Box::new((name.clone(), Failure::Health(why))))
                }
                other => warnings.push(format!("{name} reports {other:?}")),
            }
        }
        hit(failpoints::AFTER_HEALTH_CHECK).map_err(|e| fail(e.into()))?;
        self.end(op, Phase::HealthCheck, json!({ "warnings": warnings }))
            .map_err(fail)?;
        Ok(warnings)
    }

    /// The operation succeeded: journal, grants into the generation, audit, events.
    pub(super) fn finish(
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
        // What the host records of each plugin says so too (`switchboard inspect`): a
        // disabled plugin is `disabled`, not merely `removed` from the running host.
        for p in new.plugins.iter().filter(|p| !p.enabled) {
            store.set_plugin_state(&p.name, crate::State::Disabled.as_str())?;
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
    pub(super) fn roll_back(
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
            tracing::error!(target: "switchboard::install", "{op}: generation {} was no longer current when rolling back", new.id);
        }
        // Data before the lockfile: a lockfile that cannot be written must not leave the
        // old code running on the new version's data.
        restore_data(&self.host, old, new, backup)?;
        self.write_lockfile(to)?;
        // The running host back to the old set; a load failing here is logged, not fatal:
        // the database says the old generation, and the next start loads it.
        let mut none = BTreeMap::new();
        if let Err(failed) = activate(
            &self.host,
            Some(new),
            old.unwrap_or(&empty_generation()),
            &mut none,
        ) {
            let (p, e) = *failed;
            tracing::error!(target: "switchboard::install", "{op}: cannot restart `{p}` of the previous generation: {e}");
        }
        let why = match cause {
            Failure::Health(h) => format!("health check: {h}"),
            Failure::Error(e) => e.to_string(),
        };
        store.journal_step(op, Phase::Activate, "rolled-back", &json!({ "cause": why }))?;
        store.journal_finish(op, OperationStatus::RolledBack, Some(&why))?;
        discard(&self.host, op);
        PackageStore::new(self.host.data_dir()).clear_staging(op);
        collect_unreferenced(&self.host);
        rolled_back_notice(&self.host, op, new, old, &why)?;
        Ok(())
    }

    pub(super) fn gc_locked(&self) -> Result<GcReport, Error> {
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
        // Data backups taken when leaving a generation no longer kept are not needed for
        // a rollback any more.
        for path in store.journal_backups_outside(&keep)? {
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(target: "switchboard::install", "cannot remove {path}: {e}");
                    continue;
                }
            }
            store.journal_forget_backup(&path)?;
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
    pub(super) fn start_one(
        &self,
        pkgs: &PackageStore,
        p: &GenerationPlugin,
        verified: Option<VerifiedPlugin>,
    ) -> Result<(), Error> {
        start_plugin(&self.host, pkgs, p, verified).map(|_| ())
    }
}

/// Deletes the generation operation `op` prepared, if it made one and it is not current.
pub(crate) fn discard(host: &crate::Host, op: &OperationId) {
    let store = host.store();
    let target = match store.journal_operation(op) {
        Ok(Some(r)) => r.to_generation,
        _ => None,
    };
    if let Some(id) = target {
        if let Err(e) = store.discard_prepared(op, id) {
            tracing::warn!(target: "switchboard::install", "cannot discard generation {id} of {op}: {e}");
        }
    }
}

/// Removes the packages no generation references (none is deleted: how many to keep is the
/// installer's setting), unless an operation is still running. Failures are logged: this
/// only tidies up after an operation that already failed or was recovered.
pub(crate) fn collect_unreferenced(host: &crate::Host) {
    let store = host.store();
    let tidy = || -> Result<(), Error> {
        if !store.journal_running()?.is_empty() {
            return Ok(());
        }
        let mut digests = BTreeSet::new();
        for id in store.generation_ids()? {
            if let Some(g) = store.generation(id)? {
                digests.extend(g.plugins.iter().map(|p| p.sha256.clone()));
            }
        }
        PackageStore::new(host.data_dir()).collect(&digests, &[])?;
        Ok(())
    };
    if let Err(e) = tidy() {
        tracing::warn!(target: "switchboard::install", "cannot remove unreferenced packages: {e}");
    }
}

/// A plugin's health, asked on a thread of its own: a `health` hook that does not answer
/// within `deadline` counts as unhealthy (its thread is abandoned, as a hung `stop` hook's
/// is), so a plugin cannot hold an operation — and the installer's lock — forever.
fn health_within(h: &crate::PluginHandle, deadline: std::time::Duration) -> crate::Health {
    let handle = h.clone();
    crate::health::hook::within(h.name(), deadline, move || handle.health())
}

/// Why activation or a health check failed.
pub(crate) enum Failure {
    Health(String),
    Error(Error),
}

pub(crate) fn empty_generation() -> Generation {
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

/// The release an installed plugin is: its dependencies with the ranges its manifest
/// requires, so a later solve cannot move a dependency out from under it.
pub(crate) fn installed_release(p: &GenerationPlugin) -> crate::resolve::Release {
    let mut release =
        crate::resolve::Release::new(p.version.clone(), format!("sha256:{}", p.sha256));
    for d in &p.dependencies {
        let req = p
            .dependency_ranges
            .get(d)
            .cloned()
            .unwrap_or(VersionReq::STAR);
        let dep = if p.optional_dependencies.contains(d) {
            Dependency::optional(d.clone(), req)
        } else {
            Dependency::new(d.clone(), req)
        };
        release = release.with_dependency(dep);
    }
    release
}

/// The lockfile of a set of plugins.
pub(crate) fn lockfile_of(plugins: &[GenerationPlugin]) -> Result<Lockfile, Error> {
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

pub(crate) fn read_changelog(path: &Path, limits: &crate::package::UnpackLimits) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let files = crate::package::unpack(&bytes, limits).ok()?;
    files
        .get("CHANGELOG.md")
        .map(|b| String::from_utf8_lossy(b).into_owned())
}
