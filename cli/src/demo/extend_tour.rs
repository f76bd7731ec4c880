//! The demo's extension-point tour (issue 19): a host declares a build phase (an operation
//! point) and a command list (a registry point); the example plugins `pipeline-lint` (a
//! `before` hook) and `pipeline-stamp` (a `wrap` hook) extend the first and register an entry
//! in the second. Each claim is checked: the wrapper stamps the artefact, answers a repeated
//! job without the host's build running, and names the job in a failed build's error.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;
use switchboard_host::caps::{Capability, Policy};
use switchboard_host::extend::PointKind;
use switchboard_host::Host;

use super::Report;
use crate::examples::{self, Profile};

/// The host's own build, which the plugins' hooks run around; it counts its runs in `runs`,
/// and a job named `broken` fails.
fn build(runs: &AtomicUsize, job: String) -> Result<String, switchboard_sdk::PluginError> {
    runs.fetch_add(1, Ordering::Relaxed);
    if job == "broken" {
        return Err(switchboard_sdk::PluginError::new("the compiler gave up"));
    }
    Ok(format!("built `{job}`"))
}

/// Runs the tour in a host of its own in `data_dir`.
pub(super) fn run(r: &mut Report<'_>, data_dir: &Path, profile: Profile) -> Result<()> {
    let mut policy = Policy::new();
    policy.allow("extend:pipeline.**".parse::<Capability>()?);
    let mut builder = Host::builder();
    builder
        .data_dir(data_dir)
        .host_api("switchboard-demo", env!("CARGO_PKG_VERSION"))
        .policy(policy);
    builder.dangerous().load_unsigned_libraries();
    let host = builder.build()?;
    let phase = host.extension_point::<String, String>("pipeline.build", PointKind::Operation)?;
    let commands = host.extension_point::<(), String>("pipeline.commands", PointKind::Registry)?;
    for name in examples::PIPELINE_PLUGINS {
        host.load_unsigned(examples::library(profile, name)?)?
            .start()?;
    }
    let runs = AtomicUsize::new(0);
    let build = |job| build(&runs, job);
    let built = phase.try_run("  app ".to_owned(), build)?;
    let again = phase.try_run("app".to_owned(), build)?;
    let builds = runs.load(Ordering::Relaxed);
    let refused = phase.try_run("   ".to_owned(), build);
    let broken = phase.try_run("broken".to_owned(), build);
    let registered = commands.collect(&())?;
    // Each plugin's entry, under its own name, in the registry's order (plugin names).
    let named: Vec<(&str, &str)> = registered.iter().map(|c| (&*c.name, &*c.plugin)).collect();
    let items: Vec<String> = registered
        .iter()
        .map(|c| format!("{} — {} (from {})", c.name, c.value, c.plugin))
        .collect();
    let order: Vec<String> = phase
        .contributions()
        .into_iter()
        .map(|c| format!("{} `{}` from {}", c.kind, c.command, c.plugin))
        .collect();
    r.say(
        "Extension points: pipeline-lint's before hook and pipeline-stamp's wrapper extended the host's build phase; both registered commands",
        built == "built `app` [stamped by pipeline-stamp]"
            && again == built
            && builds == 1
            && refused
                .as_ref()
                .is_err_and(|e| e.plugin() == Some("pipeline-lint"))
            && broken.as_ref().is_err_and(|e| {
                e.plugin() == Some("pipeline-stamp")
                    && e.to_string()
                        .contains("the build of `broken` failed: the compiler gave up")
            })
            && named == [("lint", "pipeline-lint"), ("stamp", "pipeline-stamp")],
        format!(
            "pipeline.build: {}\nbuild(\"  app \") = {built}\nbuild(\"app\") again = {again} (the wrapper's cache: the host's build ran {builds} time(s) for both)\nbuild(\"   \") = {}\nbuild(\"broken\") = {}\npipeline.commands:\n  {}",
            order.join(", "),
            match &refused {
                Ok(out) => format!("{out} (should have been refused)"),
                Err(e) => format!("[{}] {e}", e.code()),
            },
            match &broken {
                Ok(out) => format!("{out} (should have failed)"),
                Err(e) => format!("[{}] {e}", e.code()),
            },
            items.join("\n  ")
        ),
    )?;
    Ok(())
}
