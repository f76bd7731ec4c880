//! `switchboard health`: a host on the data directory starts the installed plugins (and,
//! given plugin directories, what is in them), checks every plugin's health once
//! ([`Host::check_health`](switchboard_host::Host::check_health)) and reports each state with its reasons. Exits 0 when no plugin
//! is unhealthy, 3 when one is.
//!
//! A fresh process sees what each plugin says of itself and whether it starts — not the
//! incidents of a host that has been running (those are the `system.plugin.health` events
//! and the audit log's `health` rows: `switchboard audit --kind health`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::json;
use switchboard_host::{DiscoverOptions, HealthReport, HealthState};

use super::render::{print_json, table};
use crate::output;

/// The exit code when a plugin is unhealthy.
pub const UNHEALTHY_EXIT: u8 = 3;

/// What `health` takes.
#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    /// Plugin directories to load as well (development libraries with --dev, and .sbpkg
    /// packages), as `discover` does.
    #[arg(value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// The host's data directory (default: SWITCHBOARD_HOME, then the platform's).
    #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
    pub data_dir: Option<PathBuf>,
    /// Allow development libraries in the plugin directories (unsigned code, loaded into this
    /// process).
    #[arg(long)]
    pub dev: bool,
    /// The host policy to apply (default: `<data dir>/policy.toml` if there is one).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Also trust this public key (repeatable); the data dir's trust store is always used.
    #[arg(long, value_name = "PUBKEY_FILE")]
    pub trust: Vec<PathBuf>,
    /// The host API the plugins must be compatible with, as NAME@VERSION (default: the one
    /// the data directory remembers).
    #[arg(long, value_name = "NAME@VERSION")]
    pub host_api: Option<String>,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// What the command found: the round's report, and the plugins that did not start.
#[derive(Debug)]
pub struct HealthRun {
    /// One round of checks over every plugin loaded.
    pub report: HealthReport,
    /// Installed plugins that did not load or start, and why.
    pub not_started: Vec<(String, String)>,
}

/// Runs `health`: the exit code says whether a plugin is unhealthy.
pub fn health(args: &HealthArgs) -> Result<ExitCode> {
    let run = check(args)?;
    if args.json {
        print_json(&to_json(&run));
    } else {
        output::print(&to_text(&run));
    }
    let _ = std::io::stdout().flush();
    Ok(ExitCode::from(exit_status(&run.report)))
}

/// The exit status for a report: [`UNHEALTHY_EXIT`] if a plugin is unhealthy, else 0
/// (degraded plugins still serve; the report names them).
pub fn exit_status(report: &HealthReport) -> u8 {
    if report.worst() == HealthState::Unhealthy {
        UNHEALTHY_EXIT
    } else {
        0
    }
}

/// Starts the plugins and checks them once.
pub fn check(args: &HealthArgs) -> Result<HealthRun> {
    let mut builder = super::scan::HostSetup {
        data_dir: args.data_dir.clone(),
        host_api: args.host_api.as_deref(),
        policy: args.policy.as_deref(),
        trust: &args.trust,
        dirs: &args.dirs,
        dev: args.dev,
    }
    .builder()?;
    // One round, now: no periodic thread.
    let host = builder.health_interval(None).build()?;
    let started = host.start_installed()?;
    let mut not_started: Vec<(String, String)> = started
        .failed
        .iter()
        .map(|(p, e)| (p.clone(), e.to_string()))
        .chain(started.skipped.iter().cloned())
        .collect();
    if !args.dirs.is_empty() {
        let found = host.discover_with(&DiscoverOptions::new());
        not_started.extend(found.skipped.iter().map(|s| {
            (
                s.path.display().to_string(),
                format!("[{}] {}", s.code, s.reason),
            )
        }));
    }
    Ok(HealthRun {
        report: host.check_health(),
        not_started,
    })
}

/// The JSON document `--json` prints: the report's ([`HealthReport::to_json`]) with `ok`
/// and `not_started`.
pub fn to_json(run: &HealthRun) -> serde_json::Value {
    let mut doc = run.report.to_json();
    doc["ok"] = json!(true);
    doc["not_started"] = run
        .not_started
        .iter()
        .map(|(what, why)| json!({ "plugin": what, "reason": why }))
        .collect();
    doc
}

/// The readable report: one row per plugin, its reasons under it, then what did not start.
pub fn to_text(run: &HealthRun) -> String {
    let mut out = String::new();
    if run.report.plugins.is_empty() {
        out.push_str("no plugin loaded\n");
    } else {
        let rows: Vec<[String; 2]> = run
            .report
            .plugins
            .iter()
            .map(|p| [p.plugin.clone(), p.status.state.to_string()])
            .collect();
        out.push_str(&table(["NAME", "HEALTH"], &rows));
        for p in &run.report.plugins {
            for r in &p.status.reasons {
                out.push_str(&format!("{}: {r}\n", p.plugin));
            }
        }
    }
    for (what, why) in &run.not_started {
        out.push_str(&format!("not started: {what}: {why}\n"));
    }
    out
}
