//! Metrics (SPEC S8.4, S8.5): what each plugin and each of its commands did — calls, errors
//! by code, latency percentiles from a real histogram, events delivered and dropped,
//! restarts, reloads, panics.
//!
//! The call path records into per-command counters without a lock (ARCHITECTURE
//! "Metrics"); [`Host::metrics`](crate::Host::metrics) reads them into a
//! [`MetricsSnapshot`]. Nothing leaves the process unless the application asks: the host
//! hands its totals to the [`metrics`] facade on a timer (any exporter the application
//! installs sees them under the names in [`names`]), and the snapshot prints itself in the
//! Prometheus text format.
//!
//! - `histogram` — the lock-free latency histogram, read into an HDR histogram.
//! - `recorder` — the counters the call path writes.
//! - `snapshot` — [`MetricsSnapshot`], [`PluginMetrics`], [`CommandMetrics`], [`Latency`].
//! - `export` — the facade, and the timer that feeds it.
//! - `store` — metrics kept in the host database at a coarse resolution ([`stored`],
//!   [`Retention`], [`parse_duration`]).
//! - `usage` — usage plugins report for metering, stored beside them (schema v8) and read
//!   back for billing ([`usage()`], [`UsageReport`]).

mod export;
mod histogram;
mod recorder;
mod snapshot;
pub(crate) mod store;
mod usage;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;

pub use self::snapshot::{CommandMetrics, Latency, MetricsSnapshot, PluginMetrics};
pub use self::store::{parse_duration, stored, MetricsError, Retention};
pub use self::usage::{usage, UsageReport, UsageRow, OUTSIDE_CALLS};
pub use hdrhistogram;

pub(crate) use self::store::SCHEMA;
pub(crate) use self::usage::SCHEMA as USAGE_SCHEMA;

pub(crate) use self::export::{Exported, Exporter};
pub(crate) use self::recorder::{CommandRecorder, PluginRecorder};

/// The metric names: in [`MetricsSnapshot::to_prometheus`] and through the [`metrics`]
/// facade, with labels `plugin` and (per command) `command`, and `code` for errors.
pub mod names {
    /// Counter: calls of a command (label `command`).
    pub const CALLS: &str = "switchboard_plugin_calls_total";
    /// Counter: failed calls by error code (labels `command`, `code`).
    pub const ERRORS: &str = "switchboard_plugin_errors_total";
    /// Latency of calls, in seconds (label `command`): a histogram through the facade, a
    /// summary with quantiles 0.5, 0.95, 0.99 in the Prometheus text.
    pub const LATENCY: &str = "switchboard_plugin_call_duration_seconds";
    /// Counter: events delivered to a plugin's handlers.
    pub const EVENTS_DELIVERED: &str = "switchboard_plugin_events_delivered_total";
    /// Counter: events a plugin's subscriptions dropped.
    pub const EVENTS_DROPPED: &str = "switchboard_plugin_events_dropped_total";
    /// Counter: restarts of a plugin's isolated runner.
    pub const RESTARTS: &str = "switchboard_plugin_restarts_total";
    /// Counter: hot reloads of a plugin.
    pub const RELOADS: &str = "switchboard_plugin_reloads_total";
    /// Counter: panics caught in a plugin's commands.
    pub const PANICS: &str = "switchboard_plugin_panics_total";
    /// Counter: usage a plugin reported (`ctx.usage`), labels `command` (`-` outside any
    /// call) and `unit` (SPEC S1.6).
    pub const USAGE: &str = "switchboard_plugin_usage_total";
}

/// A host's recorders, one per plugin name (kept across unloads and reloads, so counters
/// only grow while the host runs).
#[derive(Debug)]
pub(crate) struct Registry {
    enabled: bool,
    plugins: Mutex<BTreeMap<String, Arc<PluginRecorder>>>,
}

impl Registry {
    pub(crate) fn new(enabled: bool) -> Registry {
        Registry {
            enabled,
            plugins: Mutex::new(BTreeMap::new()),
        }
    }

    /// The recorder of plugin `name`; `None` when metrics are off.
    pub(crate) fn plugin(&self, name: &str) -> Option<Arc<PluginRecorder>> {
        if !self.enabled {
            return None;
        }
        let mut plugins = self.plugins.lock();
        Some(plugins.entry(name.to_owned()).or_default().clone())
    }

    /// Every counter now. `events` gives each plugin's events delivered and dropped.
    pub(crate) fn snapshot(&self, events: &BTreeMap<String, (u64, u64)>) -> MetricsSnapshot {
        let recorders: Vec<_> = self
            .plugins
            .lock()
            .iter()
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect();
        let mut plugins = BTreeMap::new();
        for (name, r) in recorders {
            use std::sync::atomic::Ordering::Relaxed;
            let commands = r
                .commands()
                .into_iter()
                .map(|(command, c)| {
                    let m = CommandMetrics {
                        calls: c.calls(),
                        errors: c.errors(),
                        latency: Latency::from_histogram(c.latency()),
                        usage: c.usage(),
                    };
                    (command, m)
                })
                .collect();
            let (live_delivered, live_dropped) = events.get(&name).copied().unwrap_or((0, 0));
            let (retired_delivered, retired_dropped) = r.retired_events();
            let events_delivered = live_delivered + retired_delivered;
            let events_dropped = live_dropped + retired_dropped;
            let m = PluginMetrics {
                commands,
                events_delivered,
                events_dropped,
                restarts: r.restarts.load(Relaxed),
                reloads: r.reloads.load(Relaxed),
                panics: r.panics.load(Relaxed),
                usage_outside_calls: r.usage_outside(),
            };
            plugins.insert(name, m);
        }
        MetricsSnapshot {
            taken_at: SystemTime::now(),
            plugins,
        }
    }
}

/// A latency distribution of `(nanoseconds, count)` pairs, for tests.
#[cfg(test)]
pub(crate) fn histogram_of(values: &[(u64, u64)]) -> Latency {
    let mut h = histogram::empty();
    for (v, n) in values {
        h.saturating_record_n(*v, *n);
    }
    Latency::from_histogram(h)
}
