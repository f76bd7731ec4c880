//! The monitor: one round of checks over every loaded plugin, and the thread that runs a
//! round every interval until its host is dropped.

use std::sync::Arc;
#[cfg(test)]
use std::sync::Weak;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};
use parking_lot::Mutex;
use serde_json::json;

use super::hook::{self, Pending};
use super::rules::{evaluate, HealthRules, HookOutcome, Observed};
use super::status::{reasons_json, HealthReport, HealthState, HealthStatus, PluginHealth};
use super::HEALTH_TOPIC;
use crate::audit::{AuditEvent, AuditKind};
use crate::host::{Host, HostLink};
use crate::instance::Instance;
use crate::lifecycle::State;
use crate::timestamp::Timestamp;

/// A host's health monitor: its rules, its turn-taking, and its periodic thread.
#[derive(Debug)]
pub(crate) struct Monitor {
    rules: HealthRules,
    interval: Option<Duration>,
    /// One round at a time — the periodic thread's and [`Host::check_health`]'s — so each
    /// change is seen, published and audited once.
    round: Mutex<()>,
    periodic: Mutex<Option<Periodic>>,
}

/// The periodic thread: it ends when `stop` is dropped (or its host is gone).
#[derive(Debug)]
struct Periodic {
    stop: Sender<()>,
    thread: JoinHandle<()>,
    /// Dropped by the thread as it ends (what the tests watch).
    #[cfg(test)]
    alive: Weak<()>,
}

impl Monitor {
    pub(crate) fn new(rules: HealthRules, interval: Option<Duration>) -> Monitor {
        Monitor {
            rules,
            interval,
            round: Mutex::new(()),
            periodic: Mutex::new(None),
        }
    }

    pub(crate) fn rules(&self) -> &HealthRules {
        &self.rules
    }

    pub(crate) fn interval(&self) -> Option<Duration> {
        self.interval
    }

    /// Starts the periodic thread for the host `link` reaches, if an interval is set. It
    /// keeps no host alive: it upgrades the link for each round only.
    pub(crate) fn start(&self, link: HostLink) -> std::io::Result<()> {
        let Some(interval) = self.interval else {
            return Ok(());
        };
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let alive = Arc::new(());
        #[cfg(test)]
        let weak = Arc::downgrade(&alive);
        let thread = std::thread::Builder::new()
            .name("switchboard-health".into())
            .spawn(move || {
                let _alive = alive;
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    let Some(host) = link.upgrade() else { return };
                    host.check_health();
                }
            })?;
        *self.periodic.lock() = Some(Periodic {
            stop,
            thread,
            #[cfg(test)]
            alive: weak,
        });
        Ok(())
    }

    /// Stops the periodic thread and waits for it (unless this is that thread: the host's
    /// last clone may be dropped at the end of its round).
    pub(crate) fn stop(&self) {
        let Some(periodic) = self.periodic.lock().take() else {
            return;
        };
        drop(periodic.stop);
        if periodic.thread.thread().id() != std::thread::current().id() {
            let _ = periodic.thread.join();
        }
    }

    /// A token the periodic thread holds while it runs.
    #[cfg(test)]
    pub(crate) fn alive(&self) -> Option<Weak<()>> {
        self.periodic.lock().as_ref().map(|p| p.alive.clone())
    }
}

/// One round over `plugins` at `now`: asks every active plugin's hook at once (all bounded
/// by one deadline, so a round takes at most that long however many hang), evaluates the
/// rules and keeps each status under the round lock, then publishes and audits each change.
pub(crate) fn check(
    host: &Host,
    monitor: &Monitor,
    plugins: &[Instance],
    now: Timestamp,
) -> HealthReport {
    let turn = monitor.round.lock();
    let rules = monitor.rules;
    let asked: Vec<Asked> = plugins.iter().map(ask).collect();
    let deadline = super::hook::instant_after(rules.hook_deadline);
    let mut report = HealthReport {
        at: now,
        plugins: Vec::with_capacity(plugins.len()),
    };
    for (instance, asked) in plugins.iter().zip(asked) {
        // The state after the hook answered (a failure meanwhile counts now), unless the
        // plugin was not active when asked and started since: its hook is next round's.
        let state = match (&asked, instance.state()) {
            (Asked::NotActive(then), State::Active) => *then,
            (_, now) => now,
        };
        let hook = match asked {
            Asked::NotActive(_) => HookOutcome::NotAsked,
            Asked::Unable(why) => HookOutcome::NoAnswer(why),
            Asked::Pending(pending) => match pending.wait_until(deadline, rules.hook_deadline) {
                Ok(health) => HookOutcome::Answered(health),
                Err(why) => HookOutcome::NoAnswer(why),
            },
        };
        let record = instance.health_record();
        let incidents = record.incidents();
        let runner_down = record.runner_down();
        let seen = Observed {
            state,
            failure: (state == State::Failed)
                .then(|| instance.failure())
                .flatten(),
            hook,
            incidents: &incidents,
            runner_down: runner_down.as_deref(),
        };
        let (health, reasons) = evaluate(&rules, &seen, now);
        let previous = record.last();
        let since = match &previous {
            Some(p) if p.state == health => p.since,
            _ => now,
        };
        let status = HealthStatus {
            state: health,
            reasons,
            since,
            checked: now,
        };
        record.replace_last(status.clone());
        let result = PluginHealth {
            plugin: instance.name().to_owned(),
            status,
            previous: previous.map(|p| p.state),
        };
        report.plugins.push(result);
    }
    // Announced after the round lets go: an inline subscriber may run a round itself.
    drop(turn);
    for change in report.plugins.iter().filter(|p| p.changed()) {
        announce(host, change);
    }
    report
}

/// What became of asking one plugin's hook.
enum Asked {
    /// Not asked: the plugin was not active (its state then).
    NotActive(State),
    /// Could not be asked (why).
    Unable(String),
    Pending(Pending),
}

/// Asks an active plugin's hook on a thread of its own.
fn ask(instance: &Instance) -> Asked {
    let state = instance.state();
    if state != State::Active {
        return Asked::NotActive(state);
    }
    let Some(claim) = instance.health_record().claim_hook() else {
        return Asked::Unable(
            "the health hook an earlier check asked has still not returned (its thread is \
             abandoned)"
                .into(),
        );
    };
    let code = instance.code_owned();
    let spawned = hook::spawn(instance.name(), move || {
        let _claim = claim;
        code.health_hook()
    });
    match spawned {
        Ok(pending) => Asked::Pending(pending),
        Err(why) => Asked::Unable(why),
    }
}

/// Publishes a change on [`HEALTH_TOPIC`], audits it, and logs it.
fn announce(host: &Host, change: &PluginHealth) {
    let status = &change.status;
    let from = change.previous.map(HealthState::as_str);
    let payload = json!({
        "from": from,
        "to": status.state.as_str(),
        "reasons": reasons_json(&status.reasons),
        "since": status.since.to_string(),
        "at": status.checked.to_string(),
    });
    crate::install::events::publish(host, HEALTH_TOPIC, &change.plugin, &payload);
    let event = AuditEvent::new(
        AuditKind::Health,
        &change.plugin,
        status.state.as_str(),
        json!({ "from": from, "reasons": reasons_json(&status.reasons) }),
    );
    if let Err(e) = host.audit().append(&event) {
        tracing::error!(target: "switchboard::audit", "cannot record `{}` going {}: {e}", change.plugin, status.state);
    }
    let why: Vec<String> = status.reasons.iter().map(ToString::to_string).collect();
    match status.state {
        HealthState::Healthy => {
            tracing::info!(target: "switchboard::health", "`{}` is healthy again", change.plugin)
        }
        state => {
            tracing::warn!(target: "switchboard::health", "`{}` is {state}: {}", change.plugin, why.join("; "))
        }
    }
}
