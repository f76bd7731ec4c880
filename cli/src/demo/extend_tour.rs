//! The demo's extension-point tour (issue 19): a host declares a build phase (an operation
//! point) and a command list (a registry point); the example plugins `pipeline-lint` and
//! `pipeline-stamp` extend both. Each claim is checked.

use std::path::Path;

use anyhow::Result;
use switchboard_host::caps::{Capability, Policy};
use switchboard_host::extend::PointKind;
use switchboard_host::Host;

use super::Report;
use crate::examples::{self, Profile};

/// The host's own build, which the plugins' hooks run around.
fn build(job: String) -> String {
    format!("built `{job}`")
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
    let built = phase.run("  app ".to_owned(), build)?;
    let refused = phase.run("   ".to_owned(), build);
    let items: Vec<String> = commands
        .collect(&())?
        .into_iter()
        .map(|c| format!("{} — {} (from {})", c.name, c.value, c.plugin))
        .collect();
    let order: Vec<String> = phase
        .contributions()
        .into_iter()
        .map(|c| format!("{} `{}` from {}", c.kind, c.command, c.plugin))
        .collect();
    r.say(
        "Extension points: pipeline-lint and pipeline-stamp extended the host's build phase and command list",
        built == "built `app` [stamped by pipeline-stamp]"
            && refused
                .as_ref()
                .is_err_and(|e| e.plugin() == Some("pipeline-lint"))
            && items.len() == 2,
        format!(
            "pipeline.build: {}\nbuild(\"  app \") = {built}\nbuild(\"   \") = {}\npipeline.commands:\n  {}",
            order.join(", "),
            match &refused {
                Ok(out) => format!("{out} (should have been refused)"),
                Err(e) => format!("[{}] {e}", e.code()),
            },
            items.join("\n  ")
        ),
    )?;
    Ok(())
}
