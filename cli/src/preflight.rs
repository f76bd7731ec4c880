//! `switchboard preflight PATH`: every check that needs no plugin code, as a table or JSON.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Result;
use switchboard_host::extend::PointSpec;
use switchboard_host::{
    CheckStatus, DirectoryIndex, HostProfile, Lockfile, Policy, PreflightOptions, PreflightReport,
};

use crate::output::{codes, CliError, Coded as _};

/// The largest policy file preflight reads (a real one is a few KiB).
const MAX_POLICY_BYTES: u64 = 1 << 20;

/// Parses `NAME@VERSION`.
pub fn parse_host_api(s: &str) -> Result<(String, String)> {
    match s.rsplit_once('@') {
        Some((name, version)) if !name.is_empty() && semver::Version::parse(version).is_ok() => {
            Ok((name.to_owned(), version.to_owned()))
        }
        _ => Err(CliError::raise(
            codes::HOST_API,
            format!("`{s}` is not NAME@VERSION"),
            "write the host API's name and version, e.g. `--host-api my-editor@2.3.0`",
        )),
    }
}

/// What `switchboard preflight` is given besides the path.
#[derive(Debug, Default)]
pub struct Inputs<'a> {
    /// `--library FILE`.
    pub library: Option<&'a Path>,
    /// `--host-api NAME@VERSION`.
    pub host_api: Option<&'a str>,
    /// `--target TRIPLE`.
    pub target: Option<&'a str>,
    /// `--policy FILE`: a host policy in the `Policy::from_toml` format.
    pub policy: Option<&'a Path>,
    /// `--trust KEY.pub` (repeatable), for packages.
    pub trust: &'a [PathBuf],
    /// `--index DIR`: a directory index (`DirectoryIndex`).
    pub index: Option<&'a Path>,
    /// `--lockfile FILE`.
    pub lockfile: Option<&'a Path>,
    /// `--points FILE`: the extension points to check the plugin's hooks against
    /// (`[[point]]` tables, [`PointSpec::parse_list`]).
    pub points: Option<&'a Path>,
}

/// The largest points file preflight reads.
const MAX_POINTS_BYTES: u64 = 1 << 20;

/// Reads a points file (`--points`): its own coded errors (`SB1725`–`SB1727`, `SB1710`) for
/// a bad one.
pub fn read_points(path: &Path) -> Result<Vec<PointSpec>> {
    let bytes = crate::authoring::read_input(path, "the points file", MAX_POINTS_BYTES)?;
    let text = String::from_utf8(bytes).coded(
        switchboard_host::extend::ExtendError::BadPointsFile {
            reason: String::new(),
        }
        .code(),
        format_args!("the points file {} is not UTF-8", path.display()),
        "a points file is UTF-8 TOML: one `[[point]]` table per point",
    )?;
    PointSpec::parse_list(&text).map_err(|e| {
        CliError::raise(
            e.code(),
            format!("{}: {e}", path.display()),
            format!(
                "{} (format: docs/guide.md, \"Extension points\")",
                e.next_step()
            ),
        )
    })
}

/// Where cargo builds the crate in `dir`: `target_directory` from `cargo metadata`, which
/// follows `CARGO_TARGET_DIR` and `.cargo/config.toml`. `None` when `dir` is not a crate or
/// cargo cannot say (preflight then looks for `target/` beside the crate).
pub fn cargo_target_dir(dir: &Path) -> Option<PathBuf> {
    if !dir.join("Cargo.toml").is_file() {
        return None;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    doc["target_directory"].as_str().map(PathBuf::from)
}

/// Runs preflight and writes the report; returns whether it passed.
pub fn run(path: &Path, inputs: &Inputs<'_>, json: bool, out: &mut dyn Write) -> Result<bool> {
    let profile = match inputs.host_api {
        Some(spec) => {
            let (name, version) = parse_host_api(spec)?;
            let mut p = HostProfile::new(name, version);
            if let Some(t) = inputs.target {
                p.target = t.to_owned();
            }
            Some(p)
        }
        None => None,
    };
    let policy = match inputs.policy {
        Some(p) => {
            let bytes = crate::authoring::read_input(p, "the policy", MAX_POLICY_BYTES)?;
            let text = String::from_utf8(bytes).coded(
                codes::READ,
                format_args!("cannot read the policy {}", p.display()),
                "a policy is UTF-8 TOML",
            )?;
            Some(Policy::from_toml(&text).map_err(|e| {
                crate::output::policy_error(
                    format!("{}: {e}", p.display()),
                    &e,
                    "fix the policy file (its format is in docs/packages.md, \"Policy\"; `Policy::from_toml`)",
                )
            })?)
        }
        None => None,
    };
    let (store, _) = crate::authoring::trust_store(None, inputs.trust)?;
    let lockfile = inputs.lockfile.map(Lockfile::read).transpose()?;
    let points = inputs.points.map(read_points).transpose()?;
    let index = inputs.index.map(DirectoryIndex::new);
    if let Some(dir) = inputs.index.filter(|d| !d.is_dir()) {
        return Err(CliError::raise(
            codes::READ,
            format!("the index {} is not a directory", dir.display()),
            "pass a directory of NAME.toml files (format in docs/packages.md)",
        ));
    }
    let target_dir = match inputs.library {
        None if path.is_dir() => cargo_target_dir(path),
        _ => None,
    };

    let mut options = PreflightOptions::new();
    if let Some(l) = inputs.library {
        options.library(l);
    }
    if let Some(t) = &target_dir {
        options.target_dir(t);
    }
    if let Some(p) = &profile {
        options.host(p);
    }
    if let Some(p) = &policy {
        options.policy(p);
    }
    options.trust(&store);
    if let Some(i) = &index {
        options.index(i);
    }
    if let Some(l) = &lockfile {
        options.lockfile(l);
    }
    if let Some(p) = &points {
        options.point_specs(p);
    }
    let report = switchboard_host::preflight_with(path, &options);
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
            Some(note) if check.status == CheckStatus::Skipped => {
                writeln!(out, "  {mark} {} (not run: {note})", check.name)?;
            }
            Some(note) => writeln!(out, "  {mark} {}: {note}", check.name)?,
            None => writeln!(out, "  {mark} {}", check.name)?,
        }
        for d in &check.diagnostics {
            writeln!(out, "      {d}")?;
            writeln!(out, "        next: {}", d.next_step)?;
        }
    }
    let skipped = report.skipped().count();
    let summary = match (report.ok(), skipped) {
        (false, _) => "failed".to_owned(),
        (true, 0) => "ok".to_owned(),
        (true, n) => {
            format!("ok: no check failed, but {n} did not run (-), so they did not pass either")
        }
    };
    writeln!(out, "{summary}")?;
    Ok(())
}
