//! `switchboard preflight PATH`: every check that needs no plugin code, as a table or JSON.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Result};
use switchboard_host::{CheckStatus, HostProfile, PreflightReport};

/// Parses `NAME@VERSION`.
pub fn parse_host_api(s: &str) -> Result<(String, String)> {
    match s.rsplit_once('@') {
        Some((name, version)) if !name.is_empty() && semver::Version::parse(version).is_ok() => {
            Ok((name.to_owned(), version.to_owned()))
        }
        _ => bail!("`{s}` is not NAME@VERSION (e.g. my-editor@2.3.0)"),
    }
}

/// Runs preflight and writes the report; returns whether it passed.
pub fn run(
    path: &Path,
    library: Option<&Path>,
    host_api: Option<&str>,
    target: Option<&str>,
    json: bool,
    out: &mut dyn Write,
) -> Result<bool> {
    let profile = match host_api {
        Some(spec) => {
            let (name, version) = parse_host_api(spec)?;
            let mut p = HostProfile::new(name, version);
            if let Some(t) = target {
                p.target = t.to_owned();
            }
            Some(p)
        }
        None => None,
    };
    let report = switchboard_host::preflight_with_library(path, library, profile.as_ref());
    if json {
        writeln!(out, "{}", report.to_json())?;
    } else {
        write_table(&report, out)?;
    }
    Ok(report.ok())
}

fn write_table(report: &PreflightReport, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "Preflight {}", report.target.display())?;
    for check in &report.checks {
        let mark = match check.status {
            CheckStatus::Passed => "✓",
            CheckStatus::Warned => "!",
            CheckStatus::Failed => "✗",
            _ => "-",
        };
        match &check.note {
            Some(note) => writeln!(out, "  {mark} {} (skipped: {note})", check.name)?,
            None => writeln!(out, "  {mark} {}", check.name)?,
        }
        for d in &check.diagnostics {
            writeln!(out, "      {d}")?;
            writeln!(out, "        next: {}", d.next_step)?;
        }
    }
    writeln!(out, "{}", if report.ok() { "ok" } else { "failed" })?;
    Ok(())
}
