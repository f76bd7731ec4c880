//! SLOs and alerts (SPEC S8.4): per-plugin objectives for availability and latency, error
//! budgets over rolling windows, multi-window burn-rate alerts, and a report.
//!
//! The host stores its metrics at a coarse resolution ([`metrics::stored`](crate::metrics::stored))
//! on every metrics tick ([`HostBuilder::metrics_export_interval`](crate::HostBuilder::metrics_export_interval)),
//! then evaluates the [`RULES`] against them for each plugin's [`Objectives`] (from
//! [`Policy::slo`](crate::Policy::slo), `[slo]` in `policy.toml`). Each alert that starts or
//! stops is published once on [`ALERT_TOPIC`] (`system.slo.alert`, a JSON [`SloAlert`]),
//! audited (kind `slo`) and kept for the report ([`Host::slo_report`](crate::Host::slo_report),
//! [`report`], `switchboard slo report`).
//!
//! - `policy` — [`Objectives`], [`SloPolicy`], [`SloPolicyError`].
//! - `burn` — burn rates and the [`RULES`]: [`AlertRule`], [`Severity`], [`Objective`].
//! - `clock` — [`Clock`], [`SystemClock`], [`ManualClock`].
//! - `monitor` — the tick: persist, retention, evaluation, [`SloAlert`], [`AlertState`].
//! - `report` — [`SloReport`], [`PluginReport`], [`Compliance`], [`Point`]; `svg` draws it.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use switchboard_host::slo::{ManualClock, Objectives, SloPolicy};
//! use switchboard_host::{Host, Policy};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let mut slo = SloPolicy::new();
//! slo.plugin("hello", Objectives::new(0.99, Duration::from_millis(250), 0.95).unwrap());
//! let mut policy = Policy::new();
//! policy.slo(slo);
//! let clock = ManualClock::new(SystemTime::now());
//! let host = Host::builder()
//!     .data_dir(dir.path())
//!     .policy(policy)
//!     .clock(clock.clone())
//!     .build()
//!     .unwrap();
//! clock.advance(Duration::from_secs(60));
//! let alerts = host.flush_metrics().unwrap(); // what the host's timer does
//! assert!(alerts.is_empty());
//! let report = host.slo_report(Duration::from_secs(7 * 86_400)).unwrap();
//! assert!(report.plugins.is_empty());
//! ```

mod burn;
mod clock;
mod monitor;
mod policy;
mod report;
mod svg;

pub use self::burn::{AlertRule, Objective, Severity, RULES};
pub use self::clock::{Clock, ManualClock, SystemClock};
pub use self::monitor::{AlertState, SloAlert, ALERT_TOPIC};
pub use self::policy::{Objectives, SloPolicy, SloPolicyError};
pub use self::report::{report, Compliance, PluginReport, Point, SloReport};

pub(crate) use self::monitor::Monitor;

#[cfg(test)]
mod tests;
