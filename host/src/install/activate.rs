//! Making a running host match a generation: stop what left or changed (dependents first),
//! load and start what came (dependencies first), and restore data on a roll-back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::generation::{Generation, GenerationPlugin};
use super::package_store::PackageStore;
use super::verified_cache::FileStamp;
use crate::error::Error;
use crate::host::Host;
use crate::loader::options::LoadOptions;
use crate::verify::VerifiedPlugin;
use crate::State;

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
        None => match host.verified_packages().recall(&p.sha256, &path) {
            // Verified from this very file earlier in this process (see `VerifiedCache`):
            // its bytes load, the policy asked again; not unpacked nor verified twice.
            Some(v) => host.load_reverified(v, &options)?,
            None => {
                let stamp = FileStamp::of(&path);
                pkgs.check(&p.name, &p.version.to_string(), &p.sha256)?;
                let v = host.verify_package_audited(&path, &options)?;
                host.verified_packages().remember(&p.sha256, stamp, &v);
                host.load_verified_with(v, &options)?
            }
        },
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
) -> Result<Vec<String>, Box<(String, Error)>> {
    let pkgs = PackageStore::new(host.data_dir());
    let graph = new.graph().map_err(|e| Box::new((String::new(), e)))?;
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
                tracing::warn!(target: "switchboard::install", "stopping `{name}`: {e}");
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
            Err(e) => return Err(Box::new((p.name.clone(), e))),
        }
    }
    Ok(changed)
}

/// Restores, from the backup taken before the flip, the data of each plugin whose version
/// the failed operation changed.
pub(crate) fn restore_data(
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
