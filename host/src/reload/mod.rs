//! Hot reload (SPEC S8.3): a running plugin's code swapped for a new version while callers
//! keep their handles.
//!
//! The steps, each a function below, in order: **load** the new version through every load
//! check (its `create` runs; the old version serves meanwhile) → **pause**: the instance goes
//! `reloading` and the new code is swapped in (`arc_swap`), so new calls wait for the handover
//! → **drain**: the calls already on the old code finish there → the old version's
//! **snapshot**, then its **stop** hook → the new version's data **migrations** (if its version
//! differs and it declares some) → its **restore** of the snapshot → its **start** hook (and
//! the bus, if its subscriptions or services differ) → a **health** check → **commit**: the
//! instance is `active` again, the waiting calls go to the new code, the old version's token
//! and (isolated) runner go. A failure at any step after the pause puts the old code back
//! (restarting it if it was stopped) and says which step failed.
//!
//! What stays: the plugin's name, and with it its KV, secrets and configuration; its handles
//! (a command is found again by name in the new version, its contracts checked again). What
//! does not: the old library, which stays mapped (ARCHITECTURE D2) — hence the bound
//! [`HostBuilder::max_reloads`](crate::HostBuilder::max_reloads).

mod error;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_sdk::{ErrorCode, Health};

use crate::audit::{AuditEvent, AuditKind};
use crate::error::Error;
use crate::host::Opened;
use crate::instance::{Code, Instance};
use crate::lifecycle::State;
use crate::loader::options::LoadOptions;

pub use self::error::{ReloadError, ReloadStep};

/// What a hot reload did ([`PluginHandle::reload`](crate::PluginHandle::reload)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReloadReport {
    /// The plugin.
    pub plugin: String,
    /// The version that served before.
    pub from: String,
    /// The version serving now.
    pub to: String,
    /// The new code's generation: 1 after the first reload since the plugin was loaded.
    pub generation: u32,
    /// The size of the state the old version's `snapshot` handed over.
    pub snapshot_bytes: usize,
    /// How long new calls waited: from the pause to the new version serving.
    pub paused: Duration,
    /// The whole reload, the load of the new version included.
    pub took: Duration,
}

/// How often a plugin was reloaded since it was loaded, and the bound
/// ([`PluginHandle::reloads`](crate::PluginHandle::reloads)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reloads {
    /// Reloads that succeeded.
    pub done: u32,
    /// Copies of the plugin's library that reloads mapped into this process and that stay
    /// mapped until it exits (failed attempts that opened one included; isolated reloads
    /// map nothing in the host).
    pub mapped: u32,
    /// The most copies the host maps before it refuses a reload (`SB0363`).
    pub max: u32,
    /// The generation of the code serving (0: the code it was loaded with).
    pub generation: u32,
}

pub(crate) fn counts(instance: &Instance) -> Reloads {
    let slot = instance.reload_slot();
    let code = instance.code();
    Reloads {
        done: slot.done.load(Ordering::Relaxed),
        mapped: slot.mapped.load(Ordering::Relaxed),
        max: code.caps().max_reloads,
        generation: code.generation(),
    }
}

/// The whole reload of `instance` from `path`. Audited whatever the outcome.
pub(crate) fn reload(
    instance: &Instance,
    path: &Path,
    options: &LoadOptions,
) -> Result<ReloadReport, Error> {
    let plugin = instance.name().to_owned();
    let host = instance
        .host()
        .upgrade()
        .ok_or_else(|| ReloadError::HostGone {
            plugin: plugin.clone(),
        })?;
    let slot = instance.reload_slot();
    let Some(_busy) = slot.busy.try_lock() else {
        return Err(ReloadError::InProgress { plugin }.into());
    };
    let began = Instant::now();
    let old = instance.code_owned();
    let from = old.manifest().version.clone();
    let audit = |error: &ReloadError, to: &str| {
        let event = AuditEvent::new(
            AuditKind::Reload,
            &plugin,
            to,
            json!({
                "outcome": "refused",
                "from": from,
                "source": path.display().to_string(),
                "step": error.step().map(ReloadStep::as_str),
                "code": error.code().to_string(),
                "error": error.to_string(),
            }),
        );
        if let Err(e) = host.audit().append(&event) {
            tracing::error!(target: "switchboard::audit", "cannot record a failed reload of `{plugin}`: {e}");
        }
    };
    let refuse = |error: ReloadError, to: &str| -> Error {
        audit(&error, to);
        error.into()
    };
    let state = instance.state();
    if state != State::Active {
        return Err(refuse(
            ReloadError::NotActive {
                plugin: plugin.clone(),
                state,
            },
            "",
        ));
    }
    let max = old.caps().max_reloads;
    let mapped = slot.mapped.load(Ordering::Relaxed);
    if mapped >= max {
        return Err(refuse(
            ReloadError::Limit {
                plugin: plugin.clone(),
                mapped,
                max,
            },
            "",
        ));
    }
    let failed = |step: ReloadStep, to: &str, code: ErrorCode, reason: String, next: String| {
        ReloadError::Failed {
            plugin: plugin.clone(),
            from: from.clone(),
            to: to.to_owned(),
            step,
            cause: code,
            reason,
            cause_next: next,
        }
    };

    // Load: every load check, then the library is opened and its `create` runs. A plugin
    // running isolated stays isolated unless the options say otherwise (never less isolation
    // by omission).
    let mut options = options.clone();
    if options.mode.is_none() && old.is_isolated() {
        options.mode = Some(crate::isolation::Mode::Isolated);
    }
    let opened = match host.open_for_reload(&plugin, path, &options) {
        Ok(opened) => opened,
        Err(e) => {
            if e.mapped_a_library() && options.mode != Some(crate::isolation::Mode::Isolated) {
                slot.mapped.fetch_add(1, Ordering::Relaxed);
            }
            if let Error::Reload(r) = e {
                return Err(refuse(*r, ""));
            }
            let error = failed(ReloadStep::Load, "", e.code(), e.message(), e.next_step());
            return Err(refuse(error, ""));
        }
    };
    let Opened {
        mut code,
        state: plugin_state,
        downgrade_from,
        undo,
    } = opened;
    if !code.is_isolated() {
        slot.mapped.fetch_add(1, Ordering::Relaxed);
    }
    let to = code.manifest().version.clone();
    code.set_generation(old.generation().wrapping_add(1));
    let new = Arc::new(code);
    instance.watch_runner(&new);
    // The new code did not take over: its token, its claim (if any) and its runner go.
    let give_back = |error: ReloadError| -> Error {
        undo.run(&host);
        new.shutdown_runner();
        refuse(error, &to)
    };
    // A check of the new version refused it before the swap: a failed load step.
    let refused_at_load = |code: ErrorCode, reason: String, next_step: String| -> Error {
        give_back(failed(ReloadStep::Load, &to, code, reason, next_step))
    };
    let patterns = instance
        .check_bus(&new)
        .map_err(|e| refused_at_load(e.code(), e.to_string(), e.next_step()))?;
    // The new version's hooks go to declared points, with their contracts, as granted, with
    // no conflict or cycle — checked before its `start` runs, and reserved until they join.
    let _reserved = instance
        .check_points(&new)
        .map_err(|e| refused_at_load(e.code(), e.to_string(), e.next_step()))?;
    let rejoin = bus_differs(&old, &new);

    // Pause: new calls wait; the new code is in place for when they resume.
    if let Err(e) = instance.transition(State::Reloading, None) {
        let state = match e {
            crate::error::LifecycleError::InvalidTransition { from, .. } => from,
            _ => instance.state(),
        };
        return Err(give_back(ReloadError::NotActive {
            plugin: plugin.clone(),
            state,
        }));
    }
    let paused = Instant::now();
    drop(instance.swap_code(new.clone()));
    let deadline = old.caps().stop_deadline;
    let mut rollback = Rollback {
        instance,
        old: &old,
        new: &new,
        restart_old: false,
        rejoin_old: false,
        stop_new: false,
    };
    let fail_at = |rollback: &Rollback<'_>, step: ReloadStep, code: ErrorCode, reason: String| {
        let error = match rollback.run() {
            Ok(()) => failed(step, &to, code, reason, String::new()),
            Err(resume) => ReloadError::RollbackFailed {
                plugin: plugin.clone(),
                from: from.clone(),
                to: to.clone(),
                step,
                reason,
                resume,
            },
        };
        give_back(error)
    };

    // Drain: the calls that were on the old code finish there. Its open streams are ended
    // (their state is the old code's): the consumer's iterator ends, and a stream started
    // again runs on the new version.
    instance
        .open_streams()
        .retire(crate::instance::Instance::generation_of(&old));
    if !drain(instance, &old, deadline) {
        let reason = format!(
            "calls into version {from} were still running after {} ms",
            deadline.as_millis()
        );
        return Err(fail_at(
            &rollback,
            ReloadStep::Drain,
            ErrorCode::from_number(366),
            reason,
        ));
    }

    // Snapshot, then the old version's stop hook.
    let snapshot = match old.snapshot() {
        Ok(s) => s,
        Err(e) => {
            return Err(fail_at(
                &rollback,
                ReloadStep::Snapshot,
                e.code(),
                e.message().to_owned(),
            ))
        }
    };
    if rejoin {
        instance.leave_bus();
        rollback.rejoin_old = true;
    }
    rollback.restart_old = true;
    if let Err(e) = old.stop_hook(&plugin, deadline) {
        let (code, reason) = match e {
            Some(e) => (e.code(), e.message().to_owned()),
            None => (
                ErrorCode::from_number(321),
                format!(
                    "the stop hook did not return within {} ms",
                    deadline.as_millis()
                ),
            ),
        };
        return Err(fail_at(&rollback, ReloadStep::Stop, code, reason));
    }

    // The new version's data migrations, with no version serving.
    let migrate = from != to && downgrade_from.is_none() && !new.manifest().migrations.is_empty();
    if migrate {
        if let Err(e) = host.migrate_code(&plugin, &from, &new, &plugin_state) {
            return Err(fail_at(
                &rollback,
                ReloadStep::Migrate,
                e.code(),
                e.message(),
            ));
        }
    }

    // Restore, start, join the bus, health.
    if let Err(e) = new.restore(&snapshot) {
        return Err(fail_at(
            &rollback,
            ReloadStep::Restore,
            e.code(),
            e.message().to_owned(),
        ));
    }
    if let Err(e) = new.start_hook() {
        return Err(fail_at(
            &rollback,
            ReloadStep::Start,
            e.code(),
            e.message().to_owned(),
        ));
    }
    rollback.stop_new = true;
    if rejoin {
        if let Err(e) = instance.join_bus(&new, patterns) {
            return Err(fail_at(
                &rollback,
                ReloadStep::Start,
                e.code(),
                e.to_string(),
            ));
        }
    }
    // Bounded: a hook that hangs fails the reload (the old version serves on) instead of
    // holding the reload, and the caller, for ever.
    let asked = new.clone();
    let deadline = host.health_rules().hook_deadline;
    match crate::health::hook::within(&plugin, deadline, move || asked.health_hook()) {
        Health::Healthy | Health::Degraded(_) => {}
        Health::Unhealthy(reason) => {
            return Err(fail_at(
                &rollback,
                ReloadStep::Health,
                ErrorCode::from_number(371),
                reason,
            ));
        }
        other => {
            return Err(fail_at(
                &rollback,
                ReloadStep::Health,
                ErrorCode::from_number(371),
                format!("{other:?}"),
            ));
        }
    }

    // The new version's contributions replace the old one's in every point.
    if let Err(e) = instance.join_points(&new) {
        return Err(fail_at(
            &rollback,
            ReloadStep::Start,
            e.code(),
            e.to_string(),
        ));
    }

    // Commit.
    let done = slot.done.fetch_add(1, Ordering::Relaxed).saturating_add(1);
    if let Some(m) = instance.metrics() {
        m.reloads.fetch_add(1, Ordering::Relaxed);
    }
    host.commit_reload(&plugin, &new, plugin_state);
    if let Err(e) = instance.transition(State::Active, None) {
        tracing::error!(target: "switchboard::lifecycle", "`{plugin}` after its reload: {e}");
    }
    let pause = paused.elapsed();
    old.retire();
    let report = ReloadReport {
        plugin: plugin.clone(),
        from: from.clone(),
        to: to.clone(),
        generation: new.generation(),
        snapshot_bytes: snapshot.len(),
        paused: pause,
        took: began.elapsed(),
    };
    let event = AuditEvent::new(
        AuditKind::Reload,
        &plugin,
        &to,
        json!({
            "outcome": "reloaded",
            "from": from,
            "source": path.display().to_string(),
            "generation": report.generation,
            "reloads": done,
            "mapped": slot.mapped.load(Ordering::Relaxed),
            "isolated": new.is_isolated(),
            "snapshot_bytes": report.snapshot_bytes,
            "paused_us": u64::try_from(pause.as_micros()).unwrap_or(u64::MAX),
            "downgrade_from": downgrade_from,
            "token": new.caps().gate.token.to_string(),
        }),
    );
    if let Err(e) = host.audit().append(&event) {
        tracing::error!(target: "switchboard::audit", "cannot record the reload of `{plugin}`: {e}");
    }
    Ok(report)
}

/// Waits until no call holds `old` (the instance no longer does), at most `deadline`: the
/// calls that went in on the instance's fast path (see `instance::inflight`), then anything
/// else that holds the old code (event deliveries, service calls).
fn drain(instance: &Instance, old: &Arc<Code>, deadline: Duration) -> bool {
    let until = Instant::now() + deadline;
    instance.wait_for_calls(deadline)
        && crate::instance::wait_until(until.saturating_duration_since(Instant::now()), || {
            Arc::strong_count(old) <= 1
        })
}

/// Whether the new code's place on the bus differs from the old one's: its subscriptions,
/// their delivery options, its services or (if it provides any) its commands. If not, its
/// subscriptions and services stay as they are and deliver to whichever code serves.
fn bus_differs(old: &Code, new: &Code) -> bool {
    let (a, b) = (old.manifest(), new.manifest());
    a.subscriptions != b.subscriptions
        || a.delivery != b.delivery
        || a.services != b.services
        || (!b.services.is_empty() && a.commands != b.commands)
}

/// What undoing a reload after the pause takes, as far as it got.
struct Rollback<'a> {
    instance: &'a Instance,
    old: &'a Arc<Code>,
    new: &'a Arc<Code>,
    /// The old version's stop hook ran (or was attempted): start it again.
    restart_old: bool,
    /// The old version left the bus: join it again.
    rejoin_old: bool,
    /// The new version started: stop it.
    stop_new: bool,
}

impl Rollback<'_> {
    /// Puts the old code back and the instance `active` on it. `Err`: it could not be
    /// resumed, and the instance is failed.
    fn run(&self) -> Result<(), String> {
        let name = self.instance.name();
        let deadline = self.old.caps().stop_deadline;
        if self.stop_new {
            if let Err(e) = self.new.stop_hook(name, deadline) {
                tracing::warn!(
                    target: "switchboard::lifecycle",
                    "`{name}`: the new version's stop hook after a failed reload: {}",
                    e.map_or_else(|| "did not return in time".to_owned(), |e| e.message().to_owned())
                );
            }
        }
        if self.rejoin_old {
            self.instance.leave_bus();
        }
        drop(self.instance.swap_code(self.old.clone()));
        // The old code serves again: its new streams are not ended.
        self.instance.open_streams().unretire();
        let mut resumed = Ok(());
        if self.restart_old {
            if let Err(e) = self.old.start_hook() {
                resumed = Err(format!("its start hook failed: {}", e.message()));
            }
        }
        if resumed.is_ok() && self.rejoin_old {
            resumed = self
                .instance
                .check_bus(self.old)
                .map_err(|e| e.to_string())
                .and_then(|p| {
                    self.instance
                        .join_bus(self.old, p)
                        .map_err(|e| format!("it cannot join the bus again: {e}"))
                });
        }
        match resumed {
            Ok(()) => {
                if let Err(e) = self.instance.transition(State::Active, None) {
                    return Err(e.to_string());
                }
                Ok(())
            }
            Err(why) => {
                self.instance.leave_bus();
                self.instance.fail(format!(
                    "a failed reload could not resume the old version: {why}"
                ));
                Err(why)
            }
        }
    }
}
