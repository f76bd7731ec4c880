//! `switchboard discover DIR…`: what a host on the data directory loads from plugin
//! directories (SPEC S8.2), and what it skips with which code — [`Host::discover`] run once
//! and reported.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use serde_json::json;
use switchboard_host::{DiscoverOptions, DiscoverReport, Host};

use super::render::{print_json, table};
use super::{host_api, policy, trusted_keys};
use crate::output;

/// What `discover` takes.
#[derive(Debug, Clone, Args)]
pub struct DiscoverArgs {
    /// The plugin directories to scan (development libraries and .sbpkg packages).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// The host's data directory (default: SWITCHBOARD_HOME, then the platform's). The loads
    /// are recorded there as any load is (version, data owner, audit).
    #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
    pub data_dir: Option<PathBuf>,
    /// Allow development libraries (unsigned code, loaded into this process); without it they
    /// are skipped with SB0381.
    #[arg(long)]
    pub dev: bool,
    /// Load only: do not run the plugins' start hooks.
    #[arg(long)]
    pub no_start: bool,
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

/// What `discover` and `health` set a host up from: a data directory, its host API, policy
/// and trusted keys, plugin directories, and whether development libraries load.
pub(crate) struct HostSetup<'a> {
    pub data_dir: Option<PathBuf>,
    pub host_api: Option<&'a str>,
    pub policy: Option<&'a std::path::Path>,
    pub trust: &'a [PathBuf],
    pub dirs: &'a [PathBuf],
    pub dev: bool,
}

impl HostSetup<'_> {
    /// A host builder set up so (what the data directory remembers filling the gaps).
    pub(crate) fn builder(&self) -> Result<switchboard_host::HostBuilder> {
        let dir = crate::data_dir::resolve(self.data_dir.clone())?;
        let api = host_api(&dir, self.host_api)?;
        let mut builder = Host::builder();
        builder.data_dir(&dir).policy(policy(&dir, self.policy)?);
        if let Some((name, version)) = api {
            builder.host_api(name, version);
        }
        for key in trusted_keys(&dir, self.trust)? {
            builder.trust(key);
        }
        for plugins in self.dirs {
            builder.plugin_dir(plugins);
        }
        if self.dev {
            builder.dangerous().load_unsigned_libraries();
        }
        Ok(builder)
    }
}

/// Runs `discover`: exits 0 whatever was skipped (the report says what and why).
pub fn discover(args: &DiscoverArgs) -> Result<()> {
    let host = HostSetup {
        data_dir: args.data_dir.clone(),
        host_api: args.host_api.as_deref(),
        policy: args.policy.as_deref(),
        trust: &args.trust,
        dirs: &args.dirs,
        dev: args.dev,
    }
    .builder()?
    .build()?;
    let report = host.discover_with(&DiscoverOptions::new().start(!args.no_start));
    if args.json {
        print_json(&report_json(&report));
    } else {
        output::print(&report_text(&report));
    }
    Ok(())
}

/// The JSON document `--json` prints.
pub fn report_json(report: &DiscoverReport) -> serde_json::Value {
    json!({
        "ok": true,
        "loaded": report.loaded.iter().map(|d| json!({
            "path": d.path,
            "plugin": d.plugin,
            "version": d.version,
            "started": d.started,
        })).collect::<Vec<_>>(),
        "known": report.known,
        "skipped": report.skipped.iter().map(|s| json!({
            "path": s.path,
            "code": s.code.to_string(),
            "cause": s.cause.map(|c| c.to_string()),
            "reason": s.reason,
        })).collect::<Vec<_>>(),
    })
}

/// The readable report: a table of what loaded, then each skip with its code.
pub fn report_text(report: &DiscoverReport) -> String {
    let mut out = String::new();
    if report.loaded.is_empty() {
        out.push_str("nothing loaded\n");
    } else {
        let rows: Vec<[String; 4]> = report
            .loaded
            .iter()
            .map(|d| {
                [
                    d.plugin.clone(),
                    d.version.clone(),
                    if d.started { "active" } else { "loaded" }.to_owned(),
                    d.path.display().to_string(),
                ]
            })
            .collect();
        out.push_str(&table(["NAME", "VERSION", "STATE", "FILE"], &rows));
    }
    for s in &report.skipped {
        out.push_str(&format!(
            "skipped [{}] {}: {}\n",
            s.code,
            s.path.display(),
            s.reason
        ));
    }
    out
}
