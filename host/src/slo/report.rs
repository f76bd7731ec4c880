//! The SLO report: per plugin, its objectives, how it did against them over a period, the
//! error budget left, the alerts, and a time series of traffic, errors and latency — as JSON,
//! Markdown, or an SVG chart.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use super::burn::{self, Objective, Tally};
use super::monitor::{self, SloAlert};
use super::policy::SloPolicy;
use crate::metrics::store::{self, merge_command, unix_secs, CommandRow, MINUTE};
use crate::metrics::{CommandMetrics, MetricsError};
use crate::store::Store;
use crate::timestamp::Timestamp;

/// What [`Host::slo_report`](crate::Host::slo_report) and `switchboard slo report` show.
///
/// # Example
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use switchboard_host::slo::{self, SloPolicy};
/// use switchboard_host::Store;
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = Store::open(dir.path()).unwrap();
/// let now = SystemTime::now();
/// let week = Duration::from_secs(7 * 86_400);
/// let report = slo::report(&store, &SloPolicy::new(), now - week, now).unwrap();
/// assert!(report.plugins.is_empty());
/// assert!(report.to_markdown().starts_with("# SLO report"));
/// assert!(report.to_svg().starts_with("<svg"));
/// ```
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct SloReport {
    /// The period's start.
    pub since: Timestamp,
    /// The period's end.
    pub until: Timestamp,
    /// The width of each point of the series, in seconds.
    pub step_secs: u64,
    /// The rolling window error budgets are also counted over, in seconds.
    pub budget_window_secs: u64,
    /// Each plugin with stored metrics in the period (or an alert), by name.
    pub plugins: Vec<PluginReport>,
}

/// One plugin in the report.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct PluginReport {
    /// The plugin.
    pub plugin: String,
    /// Calls in the period.
    pub calls: u64,
    /// Failed calls in the period.
    pub errors: u64,
    /// Median latency over the period, in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency over the period, in milliseconds.
    pub p99_ms: f64,
    /// The availability objective and how the plugin did.
    pub availability: Compliance,
    /// The latency objective and how the plugin did.
    pub latency: Compliance,
    /// The latency threshold, in milliseconds.
    pub latency_threshold_ms: f64,
    /// Alert transitions in the period, oldest first.
    pub alerts: Vec<SloAlert>,
    /// The period in steps of [`SloReport::step_secs`].
    pub series: Vec<Point>,
}

/// How a plugin did against one objective.
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[non_exhaustive]
pub struct Compliance {
    /// The target (e.g. 0.999).
    pub target: f64,
    /// Events in the period (calls; timed calls for latency).
    pub events: u64,
    /// Bad events in the period.
    pub bad: u64,
    /// The fraction of good events in the period; `None` without events.
    pub compliance: Option<f64>,
    /// Whether the target was met in the period; `None` without events.
    pub met: Option<bool>,
    /// The share of the period's error budget left (1: untouched, 0: spent, below 0:
    /// overspent); `None` without events.
    pub budget_remaining: Option<f64>,
    /// The same over the rolling budget window ending now.
    pub budget_remaining_window: Option<f64>,
}

impl Compliance {
    fn new(target: f64, period: Tally, window: Tally) -> Compliance {
        let remaining = |t: Tally| {
            (t.total > 0).then(|| {
                let allowed = (1.0 - target) * t.total as f64;
                1.0 - t.bad as f64 / allowed
            })
        };
        let compliance = period.good_fraction();
        Compliance {
            target,
            events: period.total,
            bad: period.bad,
            compliance,
            met: compliance.map(|c| c >= target),
            budget_remaining: remaining(period),
            budget_remaining_window: remaining(window),
        }
    }
}

/// One step of the series.
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[non_exhaustive]
pub struct Point {
    /// The step's start.
    pub start: Timestamp,
    /// Calls in it.
    pub calls: u64,
    /// Failed calls in it.
    pub errors: u64,
    /// Failed calls over calls (0 without calls).
    pub error_rate: f64,
    /// Median latency in milliseconds; `None` without timed calls.
    pub p50_ms: Option<f64>,
    /// 99th percentile latency in milliseconds; `None` without timed calls.
    pub p99_ms: Option<f64>,
}

/// At most this many points per plugin.
const MAX_POINTS: i64 = 120;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The report of the period from `since` to `until`, from the rollups and alerts in `store`,
/// against `policy`. The series' step is a whole number of minutes giving at most 120 points.
pub fn report(
    store: &Store,
    policy: &SloPolicy,
    since: SystemTime,
    until: SystemTime,
) -> Result<SloReport, MetricsError> {
    let until_s = unix_secs(until);
    let since_s = unix_secs(since).min(until_s);
    let span = (until_s - since_s).max(MINUTE);
    let step = (span + MAX_POINTS - 1) / MAX_POINTS;
    let step = ((step + MINUTE - 1) / MINUTE).max(1) * MINUTE;
    let window_from = until_s.saturating_sub(policy.window().as_secs() as i64);
    let rows: Vec<CommandRow> = store::command_rows(store, since_s.min(window_from), None)?
        .into_iter()
        .filter(|r| r.start <= until_s)
        .collect();
    let (in_period, in_window): (Vec<&CommandRow>, Vec<&CommandRow>) = (
        rows.iter()
            .filter(|r| r.start + r.resolution > since_s)
            .collect(),
        rows.iter()
            .filter(|r| r.start + r.resolution > window_from)
            .collect(),
    );
    let period_buckets = burn::buckets(in_period.iter().copied(), policy);
    let window_buckets = burn::buckets(in_window.iter().copied(), policy);
    let alerts = monitor::alerts_since(store, since_s.saturating_mul(1000))?;
    let mut names: Vec<String> = period_buckets.keys().cloned().collect();
    names.extend(alerts.iter().map(|a| a.plugin.clone()));
    names.sort();
    names.dedup();
    let mut plugins = Vec::new();
    for name in names {
        let objectives = policy.objectives(&name);
        let sum = |b: Option<&Vec<burn::Bucket>>, o: Objective| {
            b.map(|b| burn::tally(b, o, until_s, Duration::from_secs(u64::MAX / 4)))
                .unwrap_or_default()
        };
        let pb = period_buckets.get(&name);
        let wb = window_buckets.get(&name);
        let mut total = CommandMetrics::default();
        let mut steps: BTreeMap<i64, CommandMetrics> = BTreeMap::new();
        for r in in_period.iter().filter(|r| r.plugin == name) {
            let _ = merge_command(&mut total, &r.metrics);
            // The row of the minute `until` falls in belongs to the last step.
            let at = r.start.clamp(since_s, (until_s - 1).max(since_s));
            let slot = since_s + (at - since_s) / step * step;
            let _ = merge_command(steps.entry(slot).or_default(), &r.metrics);
        }
        let mut series = Vec::new();
        let mut t = since_s;
        while t < until_s {
            let m = steps.remove(&t).unwrap_or_default();
            let timed = m.latency.count() > 0;
            series.push(Point {
                start: Timestamp::from(store::from_unix_secs(t)),
                calls: m.calls,
                errors: m.errors_total(),
                error_rate: if m.calls > 0 {
                    m.errors_total() as f64 / m.calls as f64
                } else {
                    0.0
                },
                p50_ms: timed.then(|| ms(m.latency.p50())),
                p99_ms: timed.then(|| ms(m.latency.p99())),
            });
            t += step;
        }
        plugins.push(PluginReport {
            calls: total.calls,
            errors: total.errors_total(),
            p50_ms: ms(total.latency.p50()),
            p99_ms: ms(total.latency.p99()),
            availability: Compliance::new(
                objectives.availability,
                sum(pb, Objective::Availability),
                sum(wb, Objective::Availability),
            ),
            latency: Compliance::new(
                objectives.latency_target,
                sum(pb, Objective::Latency),
                sum(wb, Objective::Latency),
            ),
            latency_threshold_ms: ms(objectives.latency),
            alerts: alerts
                .iter()
                .filter(|a| a.plugin == name)
                .cloned()
                .collect(),
            series,
            plugin: name,
        });
    }
    Ok(SloReport {
        since: Timestamp::from(store::from_unix_secs(since_s)),
        until: Timestamp::from(until),
        step_secs: step as u64,
        budget_window_secs: policy.window().as_secs(),
        plugins,
    })
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{:.3}%", v * 100.0))
}

/// `|` and line breaks would break a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

impl SloReport {
    /// The report as JSON (what `--format json` prints).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The report in Markdown: a summary table, then each plugin's alerts.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# SLO report\n\nFrom {} to {} (budget window {} days).\n",
            self.since,
            self.until,
            self.budget_window_secs / 86_400
        );
        if self.plugins.is_empty() {
            out.push_str("No plugin has stored metrics in this period.\n");
            return out;
        }
        out.push_str(
            "| plugin | calls | errors | p50 ms | p99 ms | availability (target) | budget left | \
             latency within threshold (target) | budget left | alerts |\n\
             |---|---:|---:|---:|---:|---|---:|---|---:|---:|\n",
        );
        for p in &self.plugins {
            let firing = p
                .alerts
                .iter()
                .filter(|a| a.state == monitor::AlertState::Firing)
                .count();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.2} | {:.2} | {} ({}) | {} | {} ({}, ≤ {} ms) | {} | {} |",
                cell(&p.plugin),
                p.calls,
                p.errors,
                p.p50_ms,
                p.p99_ms,
                percent(p.availability.compliance),
                percent(Some(p.availability.target)),
                percent(p.availability.budget_remaining),
                percent(p.latency.compliance),
                percent(Some(p.latency.target)),
                p.latency_threshold_ms,
                percent(p.latency.budget_remaining),
                firing,
            );
        }
        for p in self.plugins.iter().filter(|p| !p.alerts.is_empty()) {
            let _ = writeln!(out, "\n## Alerts of {}\n", cell(&p.plugin));
            out.push_str(
                "| at | objective | rule | severity | state | burn (long / short) |\n\
                 |---|---|---|---|---|---|\n",
            );
            for a in &p.alerts {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {:?} | {:.1}× / {:.1}× (≥ {}×) |",
                    a.at,
                    a.objective.as_str(),
                    cell(&a.rule),
                    a.severity.as_str(),
                    a.state,
                    a.burn_rate_long,
                    a.burn_rate_short,
                    a.threshold,
                );
            }
        }
        out
    }

    /// The chart: per plugin, latency (p50 and p99) and error rate over the period, as one
    /// standalone SVG document.
    pub fn to_svg(&self) -> String {
        super::svg::chart(self)
    }
}
