//! `switchboard metrics` and `switchboard slo report`: what a host stored of its plugins'
//! metrics, as Prometheus text, and the SLO report (JSON, Markdown, an SVG chart).
//!
//! Both read the host database of a data directory where a host ran (they never create
//! one): a missing database is `SB0605`, a damaged one `SB0611`, a damaged metrics row
//! `SB1800`, a `--since` that is not a duration `SB1801`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use switchboard_host::slo::{SloPolicy, SloReport};
use switchboard_host::{metrics, Policy, Store};

use crate::output::{codes, policy_error, CliError, Coded as _};

/// The period `--since` names (default `default`), ending now.
pub fn since(text: Option<&str>, default: &str) -> anyhow::Result<Duration> {
    Ok(metrics::parse_duration(text.unwrap_or(default))?)
}

fn start(period: Duration) -> SystemTime {
    SystemTime::now()
        .checked_sub(period)
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// The Prometheus text of the metrics stored in `data_dir` for the last `period`: every
/// counter summed over the period, latencies as summaries over it.
pub fn prometheus(data_dir: &Path, period: Duration) -> anyhow::Result<String> {
    let store = Store::open_existing(data_dir)?;
    let snapshot = metrics::stored(&store, start(period))?;
    Ok(snapshot.to_prometheus())
}

/// The usage plugins reported (SPEC S1.6) stored in `data_dir` for the last `period`, as one
/// JSON document (what `usage --json` prints): per plugin × command × unit, the amount.
pub fn usage_json(data_dir: &Path, period: Duration) -> anyhow::Result<serde_json::Value> {
    let store = Store::open_existing(data_dir)?;
    let now = SystemTime::now();
    let report = metrics::usage(&store, start(period), now)?;
    Ok(serde_json::json!({
        "ok": true,
        "since": switchboard_host::Timestamp::from(start(period)),
        "until": switchboard_host::Timestamp::from(now),
        "rows": report.rows,
    }))
}

/// The same as [`usage_json`], as an aligned table for people: one line per plugin × command ×
/// unit, then each plugin's totals per unit.
pub fn usage_text(data_dir: &Path, period: Duration) -> anyhow::Result<String> {
    use std::fmt::Write as _;
    let store = Store::open_existing(data_dir)?;
    let report = metrics::usage(&store, start(period), SystemTime::now())?;
    if report.rows.is_empty() {
        return Ok("no usage was reported in the period\n".into());
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:<24} {:<16} {:>20}",
        "PLUGIN", "COMMAND", "UNIT", "AMOUNT"
    );
    for r in &report.rows {
        let _ = writeln!(
            out,
            "{:<24} {:<24} {:<16} {:>20}",
            r.plugin, r.command, r.unit, r.amount
        );
    }
    out.push('\n');
    for ((plugin, unit), amount) in report.per_plugin() {
        let _ = writeln!(out, "{plugin}: {amount} {unit} in all");
    }
    Ok(out)
}

/// The metrics stored in `data_dir` for the last `period` as one JSON document (what
/// `metrics --json` prints): per plugin and command calls, errors by code and latency
/// percentiles in milliseconds; per plugin events, restarts, reloads and panics.
pub fn json(data_dir: &Path, period: Duration) -> anyhow::Result<serde_json::Value> {
    let store = Store::open_existing(data_dir)?;
    let since = start(period);
    let snapshot = metrics::stored(&store, since)?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let plugins: serde_json::Map<String, serde_json::Value> = snapshot
        .plugins
        .iter()
        .map(|(name, p)| {
            let commands: serde_json::Map<String, serde_json::Value> = p
                .commands
                .iter()
                .map(|(c, m)| {
                    let v = serde_json::json!({
                        "calls": m.calls,
                        "errors": m.errors,
                        "timed": m.latency.count(),
                        "p50_ms": ms(m.latency.p50()),
                        "p95_ms": ms(m.latency.p95()),
                        "p99_ms": ms(m.latency.p99()),
                        "max_ms": ms(m.latency.max()),
                    });
                    (c.clone(), v)
                })
                .collect();
            let v = serde_json::json!({
                "commands": commands,
                "events_delivered": p.events_delivered,
                "events_dropped": p.events_dropped,
                "restarts": p.restarts,
                "reloads": p.reloads,
                "panics": p.panics,
            });
            (name.clone(), v)
        })
        .collect();
    Ok(serde_json::json!({
        "ok": true,
        "since": switchboard_host::Timestamp::from(since),
        "plugins": plugins,
    }))
}

/// The SLO policy: `--policy FILE`, else `DATA_DIR/policy.toml` if there is one, else the
/// defaults.
pub fn slo_policy(data_dir: &Path, policy: Option<&Path>) -> anyhow::Result<SloPolicy> {
    let default = data_dir.join("policy.toml");
    let path = match policy {
        Some(p) => p.to_owned(),
        None if default.is_file() => default,
        None => return Ok(SloPolicy::new()),
    };
    let text = std::fs::read_to_string(&path).coded(
        codes::READ,
        format!("cannot read the policy {}", path.display()),
        "check the path and its permissions",
    )?;
    let policy = Policy::from_toml(&text).map_err(|e| {
        policy_error(
            format!("the policy {} is invalid: {e}", path.display()),
            &e,
            "fix the key the message names",
        )
    })?;
    Ok(policy.slo_policy().clone())
}

/// The SLO report of the last `period` from the database in `data_dir`.
pub fn report(data_dir: &Path, period: Duration, policy: &SloPolicy) -> anyhow::Result<SloReport> {
    let store = Store::open_existing(data_dir)?;
    let now = SystemTime::now();
    Ok(switchboard_host::slo::report(
        &store,
        policy,
        start(period),
        now,
    )?)
}

/// Writes `text` to `path`, creating its directory.
pub fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).coded(
            codes::WRITE,
            format!("cannot create {}", dir.display()),
            "check the path and its permissions",
        )?;
    }
    std::fs::write(path, text).coded(
        codes::WRITE,
        format!("cannot write {}", path.display()),
        "check the path, its permissions and the free space",
    )
}

/// The report's output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// One JSON document.
    Json,
    /// Markdown tables.
    Markdown,
}

/// What `slo report` was asked for.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// The data directory.
    pub data_dir: PathBuf,
    /// `--since`, as given.
    pub since: Option<String>,
    /// `--format`.
    pub format: ReportFormat,
    /// `--svg FILE`: where to write the chart.
    pub svg: Option<PathBuf>,
    /// `--out DIR`: where to write `slo-report.md`, `slo-report.json` and `slo-report.svg`
    /// instead of printing.
    pub out: Option<PathBuf>,
    /// `--policy FILE`.
    pub policy: Option<PathBuf>,
}

/// Runs `slo report`, printing to `out` (nothing with `--out`).
pub fn run_report(options: &ReportOptions, out: &mut dyn Write) -> anyhow::Result<()> {
    let period = since(options.since.as_deref(), "7d")?;
    let policy = slo_policy(&options.data_dir, options.policy.as_deref())?;
    let report = report(&options.data_dir, period, &policy)?;
    let json = serde_json::to_string_pretty(&report.to_json()).map_err(|e| {
        CliError::raise(
            codes::OTHER,
            format!("cannot write the report as JSON: {e}"),
            "report this as a bug",
        )
    })?;
    if let Some(dir) = &options.out {
        write_file(&dir.join("slo-report.json"), &format!("{json}\n"))?;
        write_file(&dir.join("slo-report.md"), &report.to_markdown())?;
        write_file(&dir.join("slo-report.svg"), &report.to_svg())?;
    }
    if let Some(svg) = &options.svg {
        write_file(svg, &report.to_svg())?;
    }
    if options.out.is_none() {
        let text = match options.format {
            ReportFormat::Json => format!("{json}\n"),
            ReportFormat::Markdown => report.to_markdown(),
        };
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .context("writing the report")?;
    }
    Ok(())
}
