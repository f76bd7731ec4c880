//! An example host with extension points (SPEC S5.4): a small build pipeline. Its build phase
//! is an operation point plugins may hook before and after, wrap, or replace, and its command
//! list is a registry point plugins add entries to. Two example plugins extend it:
//! `pipeline-lint` (a `before` hook and a `lint` entry) and `pipeline-stamp` (a wrapper around
//! the build — it stamps the artefact, answers a repeated job from its cache without building,
//! and names the job in a failed build's error — and a `stamp` entry).
//!
//! Run it with `cargo run -p host-pipeline` (it builds the example plugins first).

// Examples are what authors copy: input from callers and hosts becomes an error, never a
// panic (tests keep unwrap and expect, as assertions).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![expect(
    clippy::print_stdout,
    reason = "an example program reports what it does"
)]

use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;
use switchboard_cli::examples::{library, Profile};
use switchboard_host::extend::PointKind;
use switchboard_host::{Host, Policy};
use switchboard_sdk::PluginError;

/// How many times the host's own build ran.
static BUILDS: AtomicUsize = AtomicUsize::new(0);

/// The host's own build: what runs when no plugin replaces it. A job named `broken` fails.
fn build(job: String) -> Result<String, PluginError> {
    BUILDS.fetch_add(1, Ordering::Relaxed);
    if job == "broken" {
        return Err(PluginError::new("the compiler gave up"));
    }
    Ok(format!("built `{job}`"))
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

    println!(
        "without plugins: {}",
        phase.try_run("app".to_owned(), build)?
    );

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

    let before = BUILDS.load(Ordering::Relaxed);
    println!(
        "with plugins: {}",
        phase.try_run("  app  ".to_owned(), build)?
    );
    // The wrapper answers a job it built before from its cache: the host's build does not run.
    println!("again: {}", phase.try_run("app".to_owned(), build)?);
    println!(
        "  the host's build ran {} time(s) for the two",
        BUILDS.load(Ordering::Relaxed) - before
    );
    match phase.try_run("   ".to_owned(), build) {
        Ok(out) => println!("an empty job built?! {out}"),
        Err(e) => println!("an empty job: [{}] {e}", e.code()),
    }
    // The host's build fails; the wrapper names the job in the error it passes on.
    match phase.try_run("broken".to_owned(), build) {
        Ok(out) => println!("a broken job built?! {out}"),
        Err(e) => println!("a broken job: [{}] {e}", e.code()),
    }

    println!("commands:");
    for item in commands.collect(&())? {
        println!("  {:<6} {} (from {})", item.name, item.value, item.plugin);
    }
    Ok(())
}
