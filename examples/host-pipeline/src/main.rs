//! An example host with extension points (SPEC S5.4): a small build pipeline. Its build phase
//! is an operation point plugins may hook before and after (or replace), and its command list
//! is a registry point plugins add entries to. Two example plugins extend it:
//! `pipeline-lint` (a `before` hook and a `lint` entry) and `pipeline-stamp` (an `after` hook
//! and a `stamp` entry).
//!
//! Run it with `cargo run -p host-pipeline` (it builds the example plugins first).

// Examples are what authors copy: input from callers and hosts becomes an error, never a
// panic (tests keep unwrap and expect, as assertions).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![expect(
    clippy::print_stdout,
    reason = "an example program reports what it does"
)]

use anyhow::Result;
use switchboard_cli::examples::{library, Profile};
use switchboard_host::extend::PointKind;
use switchboard_host::{Host, Policy};

/// The host's own build: what runs when no plugin replaces it.
fn build(job: String) -> String {
    format!("built `{job}`")
}

fn main() -> Result<()> {
    let data = tempfile::tempdir()?;
    let mut policy = Policy::new();
    // Plugins may contribute to the pipeline's points, and to nothing else.
    policy.allow("extend:pipeline.**".parse()?);
    let mut builder = Host::builder();
    builder
        .data_dir(data.path())
        .host_api("switchboard-demo", "0.1.0")
        .policy(policy)
        .on_log(|r| println!("  [{} {}] {}", r.plugin, r.level, r.message));
    builder.dangerous().load_unsigned_libraries();
    let host = builder.build()?;

    // Points first: a plugin contributing to a point the host does not declare is refused.
    let phase = host.extension_point::<String, String>("pipeline.build", PointKind::Operation)?;
    let commands = host.extension_point::<(), String>("pipeline.commands", PointKind::Registry)?;

    println!("without plugins: {}", phase.run("app".to_owned(), build)?);

    for name in ["pipeline-stamp", "pipeline-lint"] {
        let plugin = host.load_unsigned(library(Profile::Debug, name)?)?;
        plugin.start()?;
        println!("loaded {} {}", plugin.name(), plugin.version());
    }
    for c in phase.contributions() {
        println!(
            "  pipeline.build: {} `{}` from {} (priority {})",
            c.kind, c.command, c.plugin, c.priority
        );
    }

    println!("with plugins: {}", phase.run("  app  ".to_owned(), build)?);
    match phase.run("   ".to_owned(), build) {
        Ok(out) => println!("an empty job built?! {out}"),
        Err(e) => println!("an empty job: [{}] {e}", e.code()),
    }

    println!("commands:");
    for item in commands.collect(&())? {
        println!("  {:<6} {} (from {})", item.name, item.value, item.plugin);
    }
    Ok(())
}
