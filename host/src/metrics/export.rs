//! Handing the host's metrics to the [`metrics`] facade: totals as absolute counters,
//! latencies as the histogram values recorded since the last export. Without a recorder
//! installed by the application the facade drops them, and nothing leaves the process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use super::{names, MetricsSnapshot};
use crate::host::HostLink;

/// The timer that exports a host's metrics every interval, on a thread of its own that ends
/// when the host is dropped.
#[derive(Debug)]
pub(crate) struct Exporter {
    /// Dropping it (with the host) ends the thread.
    _stop: Sender<()>,
}

impl Exporter {
    /// Starts the timer. `None` if the thread could not be started (logged; metrics stay
    /// readable through `Host::metrics`).
    pub(crate) fn spawn(host: HostLink, every: Duration) -> Option<Exporter> {
        let (stop, stopped) = crossbeam_channel::bounded(0);
        let spawned = std::thread::Builder::new()
            .name("switchboard-metrics".into())
            .spawn(move || tick(&host, every, &stopped));
        match spawned {
            Ok(_) => Some(Exporter { _stop: stop }),
            Err(e) => {
                tracing::warn!(target: "switchboard::metrics", "no metrics export timer: {e}");
                None
            }
        }
    }
}

fn tick(host: &HostLink, every: Duration, stopped: &Receiver<()>) {
    loop {
        match stopped.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let Some(host) = host.upgrade() else { return };
        host.export_metrics();
        if let Err(e) = host.flush_metrics() {
            tracing::warn!(target: "switchboard::metrics", "cannot store metrics or evaluate SLOs: {e}");
        }
    }
}

/// What was last exported, so histograms send only what is new.
#[derive(Debug, Default)]
pub(crate) struct Exported {
    last: Mutex<Option<MetricsSnapshot>>,
    described: AtomicBool,
}

impl Exported {
    /// Hands `now` to the facade.
    pub(crate) fn export(&self, now: MetricsSnapshot) {
        if !self.described.swap(true, Ordering::Relaxed) {
            describe();
        }
        let mut last = self.last.lock();
        let new = match last.as_ref() {
            Some(before) => now.since(before),
            None => now.clone(),
        };
        for (plugin, m) in &now.plugins {
            let p = plugin.clone();
            for (command, c) in &m.commands {
                let c_label = command.clone();
                metrics::counter!(names::CALLS, "plugin" => p.clone(), "command" => c_label.clone())
                    .absolute(c.calls);
                for (code, n) in &c.errors {
                    metrics::counter!(names::ERRORS, "plugin" => p.clone(),
                        "command" => c_label.clone(), "code" => code.clone())
                    .absolute(*n);
                }
                for (unit, n) in &c.usage {
                    metrics::counter!(names::USAGE, "plugin" => p.clone(),
                        "command" => c_label.clone(), "unit" => unit.clone())
                    .absolute(*n);
                }
                let Some(fresh) = new
                    .plugins
                    .get(plugin)
                    .and_then(|m| m.commands.get(command))
                else {
                    continue;
                };
                let h = metrics::histogram!(names::LATENCY, "plugin" => p.clone(),
                    "command" => c_label);
                for v in fresh.latency.histogram().iter_recorded() {
                    let count =
                        usize::try_from(v.count_since_last_iteration()).unwrap_or(usize::MAX);
                    h.record_many(v.value_iterated_to() as f64 / 1e9, count);
                }
            }
            let per_plugin = [
                (names::EVENTS_DELIVERED, m.events_delivered),
                (names::EVENTS_DROPPED, m.events_dropped),
                (names::RESTARTS, m.restarts),
                (names::RELOADS, m.reloads),
                (names::PANICS, m.panics),
            ];
            for (name, value) in per_plugin {
                metrics::counter!(name, "plugin" => p.clone()).absolute(value);
            }
            for (unit, n) in &m.usage_outside_calls {
                metrics::counter!(names::USAGE, "plugin" => p.clone(), "command" => "-",
                    "unit" => unit.clone())
                .absolute(*n);
            }
        }
        *last = Some(now);
    }
}

fn describe() {
    use metrics::Unit;
    metrics::describe_counter!(names::CALLS, Unit::Count, "Calls of a plugin's command.");
    metrics::describe_counter!(names::ERRORS, Unit::Count, "Failed calls by error code.");
    metrics::describe_histogram!(names::LATENCY, Unit::Seconds, "How long calls took.");
    metrics::describe_counter!(names::EVENTS_DELIVERED, Unit::Count, "Events delivered.");
    metrics::describe_counter!(names::EVENTS_DROPPED, Unit::Count, "Events dropped.");
    metrics::describe_counter!(names::RESTARTS, Unit::Count, "Runner restarts.");
    metrics::describe_counter!(names::RELOADS, Unit::Count, "Hot reloads.");
    metrics::describe_counter!(names::PANICS, Unit::Count, "Panics caught.");
    metrics::describe_counter!(
        names::USAGE,
        Unit::Count,
        "Usage plugins reported, by unit."
    );
}
