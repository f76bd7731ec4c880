//! The demo's install tour (issue 15.8): hello installed from its signed package into a
//! generation, updated to a second release that asks for one more capability (shown in the
//! review and approved), rolled back, disabled, enabled and removed — each step checked
//! against the installer's records and the running plugin.
//!
//! The second release, hello 0.2.0, is made by [`crate::release`]: hello's library with the
//! manifest it embeds rewritten to say 0.2.0 and to ask for `net.connect:api.example.com:443`
//! as well, packed with a changelog and signed with the demo's key, as an author would
//! publish it.

use std::path::Path;

use anyhow::Result;
use switchboard_host::install::{
    CapabilityApproval, FileSource, InstallOptions, InstallRequest, Installer, OperationReport,
    Plan,
};
use switchboard_host::{Host, State};

use super::{describe, Report};
use crate::examples::Profile;
use crate::install::review;
use crate::release::{example_release, ReleaseSpec};

/// The capability hello 0.2.0 asks for that 0.1.0 did not.
pub const NEW_CAPABILITY: &str = "net.connect:api.example.com:443";

const CHANGELOG_0_1: &str =
    "# Changelog\n\n## 0.1.0\n- First release: greet, add, reverse, checksum.\n";
const CHANGELOG_0_2: &str = "# Changelog\n\n## 0.2.0\n- Fetches greetings in other languages from api.example.com.\n\n## 0.1.0\n- First release: greet, add, reverse, checksum.\n";

/// Runs the tour in `data_dir/installed`, with packages signed by `secret_key` (whose public
/// half is the file `public_key`). The directory is left as the CLI expects one: it trusts
/// the key and remembers the host API, so `switchboard list`, `rollback`, … work on it.
pub(super) fn run(
    r: &mut Report<'_>,
    data_dir: &Path,
    profile: Profile,
    secret_key: &Path,
    public_key: &Path,
) -> Result<()> {
    let releases = data_dir.join("releases");
    let release = |version, extra: &'static [&'static str], changelog| {
        example_release(
            profile,
            &ReleaseSpec {
                name: "hello",
                version,
                extra_capabilities: extra,
                changelog,
                dependencies: &[],
                library: None,
            },
            &releases,
            secret_key,
        )
    };
    let v1 = release("0.1.0", &[], CHANGELOG_0_1)?;
    let v2 = release("0.2.0", &[NEW_CAPABILITY], CHANGELOG_0_2)?;

    let installed_dir = data_dir.join("installed");
    let api_version = env!("CARGO_PKG_VERSION");
    crate::authoring::trust_add(&installed_dir, public_key)?;
    std::fs::write(
        installed_dir.join(crate::install::HOST_API_FILE),
        format!("switchboard-demo@{api_version}\n"),
    )?;
    let mut builder = Host::builder();
    builder
        .data_dir(&installed_dir)
        .host_api("switchboard-demo", api_version)
        .trust(std::fs::read_to_string(public_key)?);
    let host = builder.build()?;
    let mut installer = Installer::new(&host);
    installer.source(FileSource::open(&releases)?);
    // The demo plays the operator who reads the review and answers `y`.
    let mut approved = InstallOptions::new();
    approved.approval(CapabilityApproval::All);

    let plan = installer.plan_install(&[InstallRequest::File(v1.clone())], &approved)?;
    let review_text = review_of(&plan);
    let asked = plan.new_capabilities().len();
    let report = installer.apply(plan)?;
    let greeting = greet(&host);
    r.say(
        "Installed hello 0.1.0 from its signed package into a new generation, after reviewing what it asks for",
        listed(&installer)? == [("hello".to_owned(), "0.1.0".to_owned(), "enabled".to_owned())]
            && report.generation.is_some()
            && asked > 0
            && greeting.as_deref() == Ok("Hello, Ada!"),
        format!(
            "{}\n{review_text}{}\nhello.greet(\"Ada\") = {}",
            v1.display(),
            phases(&installer, &report),
            greeting.unwrap_or_else(|e| e),
        ),
    )?;
    let first = report.generation;

    let plan = installer.plan_update(&["hello".to_owned()], &approved)?;
    let change = plan.changes.iter().find(|c| c.name == "hello");
    let new_caps = change
        .map(|c| c.new_capabilities.clone())
        .unwrap_or_default();
    let changelog = change.and_then(|c| c.changelog.clone()).unwrap_or_default();
    let review_text = review_of(&plan);
    let report = installer.apply(plan)?;
    let running = host.plugin("hello").ok();
    let granted_net = running.as_ref().is_some_and(|h| {
        h.grants()
            .iter()
            .any(|g| g.capability().to_string() == NEW_CAPABILITY)
    });
    r.say(
        "Updated hello to 0.2.0: the review showed its changelog and the one capability it adds, approved",
        new_caps == [NEW_CAPABILITY]
            && changelog.contains("api.example.com")
            && !changelog.contains("First release")
            && listed(&installer)?
                == [("hello".to_owned(), "0.2.0".to_owned(), "enabled".to_owned())]
            && running.as_ref().is_some_and(|h| h.version() == "0.2.0")
            && granted_net,
        format!(
            "{}\n{review_text}{}\nhello {} runs, granted {NEW_CAPABILITY}: {granted_net}",
            v2.display(),
            phases(&installer, &report),
            running.as_ref().map(|h| h.version()).unwrap_or_default(),
        ),
    )?;

    let report = installer.rollback(None)?;
    let running = host.plugin("hello").ok();
    r.say(
        "Rolled back: the previous generation is current again, and hello 0.1.0 runs",
        report.generation == first
            && listed(&installer)?
                == [("hello".to_owned(), "0.1.0".to_owned(), "enabled".to_owned())]
            && running.as_ref().is_some_and(|h| h.version() == "0.1.0")
            && greet(&host).is_ok(),
        format!(
            "generation {} is current (was {}); hello {} is {}",
            show(report.generation),
            show(report.from_generation),
            running.as_ref().map(|h| h.version()).unwrap_or_default(),
            running
                .as_ref()
                .map(|h| h.state().to_string())
                .unwrap_or_default(),
        ),
    )?;

    let report = installer.disable("hello")?;
    let gone = host
        .plugin("hello")
        .map_or(true, |h| h.state() != State::Active);
    r.say(
        "Disabled hello: it stops at once and is not loaded at the next start",
        gone && listed(&installer)?
            == [(
                "hello".to_owned(),
                "0.1.0".to_owned(),
                "disabled".to_owned(),
            )]
            && installer.start()?.disabled == ["hello"],
        format!(
            "generation {}: hello disabled; calling it now: {}",
            show(report.generation),
            greet(&host).unwrap_or_else(|e| e)
        ),
    )?;

    let report = installer.enable("hello")?;
    let greeting = greet(&host);
    r.say(
        "Enabled hello again: loaded and started without a restart",
        listed(&installer)? == [("hello".to_owned(), "0.1.0".to_owned(), "enabled".to_owned())]
            && greeting.as_deref() == Ok("Hello, Ada!"),
        format!(
            "generation {}: hello.greet(\"Ada\") = {}",
            show(report.generation),
            greeting.unwrap_or_else(|e| e)
        ),
    )?;

    let report = installer.remove("hello", &Default::default())?;
    let generations = installer.generations()?;
    r.say(
        "Removed hello: nothing is installed; the earlier generations are kept for rollback",
        listed(&installer)?.is_empty()
            && host.plugin("hello").is_err()
            && generations.len() >= 2
            && generations.iter().filter(|g| g.current).count() == 1,
        format!(
            "generation {} is current\n{}\nsee them with `switchboard generations --data-dir {}`",
            show(report.generation),
            generations
                .iter()
                .map(|g| format!(
                    "{}{} {}",
                    g.id,
                    if g.current { " *" } else { "" },
                    g.summary
                ))
                .collect::<Vec<_>>()
                .join("\n"),
            installed_dir.display()
        ),
    )?;
    Ok(())
}

/// `list`'s rows as (name, version, state).
fn listed(installer: &Installer) -> Result<Vec<(String, String, String)>> {
    Ok(installer
        .list()?
        .iter()
        .map(|p| (p.name.clone(), p.version.to_string(), p.state.to_string()))
        .collect())
}

fn greet(host: &Host) -> Result<String, String> {
    host.command::<String, String>("hello", "greet")
        .and_then(|c| c.call(&"Ada".to_string()))
        .map_err(|e| describe(&e.into()))
}

fn show(g: Option<switchboard_host::install::GenerationId>) -> String {
    g.map(|g| g.to_string()).unwrap_or_else(|| "none".into())
}

/// The capability review of a plan, as `switchboard install` prints it.
fn review_of(plan: &Plan) -> String {
    let mut out = String::new();
    for c in &plan.changes {
        if let Some(log) = &c.changelog {
            if c.from.is_some() {
                out.push_str(&format!("changelog since {}:\n", show_version(&c.from)));
                for l in log.lines().filter(|l| !l.trim().is_empty()) {
                    out.push_str(&format!("  {l}\n"));
                }
            }
        }
        let (title, list) = if c.from.is_none() {
            ("asks for", &c.capabilities)
        } else {
            ("asks for, new in this version", &c.new_capabilities)
        };
        out.push_str(&format!("{} {title}:\n", c.name));
        for cap in list {
            out.push_str(&format!("  - {} ({cap})\n", review::in_words(&c.name, cap)));
        }
    }
    out.push_str("approved (as `--yes` or a `y` at the prompt would)\n");
    out
}

fn show_version(v: &Option<semver::Version>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// The operation's journal: its id and the phases it recorded.
fn phases(installer: &Installer, report: &OperationReport) -> String {
    let phases = installer
        .operation(&report.operation)
        .ok()
        .flatten()
        .map(|op| {
            let mut seen: Vec<String> = Vec::new();
            for s in &op.steps {
                let p = s.phase.to_string();
                if !seen.contains(&p) {
                    seen.push(p);
                }
            }
            format!("{} ({})", seen.join(" → "), op.status.as_str())
        })
        .unwrap_or_default();
    format!(
        "operation {}: {phases}; generation {} is current",
        report.operation,
        show(report.generation)
    )
}
