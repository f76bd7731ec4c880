//! Preflight: every check that needs no plugin code, in one call, with structured results
//! (SPEC S2.4). The CLI's `switchboard preflight` and [`Host::preflight`](crate::Host::preflight)
//! both use it, and the host runs the library checks before every load.

use std::path::{Path, PathBuf};

use serde::Serialize;
use switchboard_sdk::manifest::{
    codes, Diagnostic, Format, Manifest, MANIFEST_FILE, MANIFEST_JSON_FILE,
};
use switchboard_sdk::EmbeddedManifest;

use crate::compat::{check_embedded, check_manifest, HostProfile};
use crate::error::LoadError;
use crate::loader;

/// What was checked, and how it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum CheckStatus {
    /// No findings.
    Passed,
    /// Warnings only.
    Warned,
    /// At least one error.
    Failed,
    /// Not run, because an earlier check failed or there was nothing to check.
    Skipped,
}

/// One named check and its findings.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What the check looks at.
    pub name: &'static str,
    /// How it went.
    pub status: CheckStatus,
    /// Why it was skipped, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Its findings.
    pub diagnostics: Vec<Diagnostic>,
}

/// The result of a preflight run.
///
/// # Example
///
/// ```
/// use switchboard_host::{preflight, HostProfile};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("plugin.toml");
/// std::fs::write(&path, "name = \"w\"\nversion = \"1.0\"\n").unwrap();
/// let report = preflight(&path, Some(&HostProfile::new("my-app", "1.0.0")));
/// assert!(!report.ok());
/// assert_eq!(report.diagnostics()[0].code, "SB1006");
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct PreflightReport {
    /// What was examined.
    pub target: PathBuf,
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
}

impl PreflightReport {
    /// Whether no check found an error.
    pub fn ok(&self) -> bool {
        !self.checks.iter().any(|c| c.status == CheckStatus::Failed)
    }

    /// Every finding, in order.
    pub fn diagnostics(&self) -> Vec<&Diagnostic> {
        self.checks.iter().flat_map(|c| &c.diagnostics).collect()
    }

    /// The JSON document `switchboard preflight --json` prints:
    /// `{ "ok", "target", "diagnostics": [{ "code", "severity", "field", "message", "next_step" }], "checks" }`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ok": self.ok(),
            "target": self.target,
            "diagnostics": self.diagnostics(),
            "checks": self.checks,
        })
    }

    pub(crate) fn push(&mut self, name: &'static str, diagnostics: Vec<Diagnostic>) {
        let status = if diagnostics.iter().any(Diagnostic::is_error) {
            CheckStatus::Failed
        } else if diagnostics.is_empty() {
            CheckStatus::Passed
        } else {
            CheckStatus::Warned
        };
        self.checks.push(Check {
            name,
            status,
            note: None,
            diagnostics,
        });
    }

    fn skip(&mut self, name: &'static str, note: impl Into<String>) {
        self.checks.push(Check {
            name,
            status: CheckStatus::Skipped,
            note: Some(note.into()),
            diagnostics: Vec::new(),
        });
    }
}

/// Runs preflight on `path`: a crate directory (its `plugin.toml`, and its built library if
/// there is one under `target/`), a `plugin.toml`/`plugin.json`, or a library file. With a
/// `host`, compatibility with it is checked too.
pub fn preflight(path: &Path, host: Option<&HostProfile>) -> PreflightReport {
    preflight_with_library(path, None, host)
}

/// [`preflight`], with the library to check named explicitly (for crates whose build output
/// is not under `target/` beside them or an ancestor).
pub fn preflight_with_library(
    path: &Path,
    library: Option<&Path>,
    host: Option<&HostProfile>,
) -> PreflightReport {
    let mut report = PreflightReport {
        target: path.to_owned(),
        checks: Vec::new(),
    };
    let (manifest_path, found_library) = locate(path);
    let library_path = library.map(Path::to_path_buf).or(found_library);
    if manifest_path.is_none() && library_path.is_none() {
        report.push(
            "find plugin",
            vec![Diagnostic::error(
                codes::MISSING_FIELD,
                "",
                format!(
                    "{} has no plugin.toml, plugin.json or plugin library",
                    path.display()
                ),
                "pass a plugin crate directory, its plugin.toml, or a built library",
            )],
        );
        return report;
    }

    let manifest = match &manifest_path {
        Some(p) => check_manifest_file(p, &mut report),
        None => {
            report.skip("manifest", "no plugin.toml given");
            None
        }
    };

    match (&manifest, host) {
        (Some(m), Some(h)) => report.push("compatibility", check_manifest(m, h)),
        (None, _) if manifest_path.is_some() => {
            report.skip("compatibility", "the manifest did not validate")
        }
        (_, None) => report.skip(
            "compatibility",
            "no host API given (use --host-api NAME@VERSION)",
        ),
        (None, Some(_)) => report.skip("compatibility", "no manifest to check"),
    }

    let embedded = match &library_path {
        Some(lib) => check_library(lib, &mut report),
        None => {
            let d = Diagnostic::warning(
                codes::NO_LIBRARY,
                "",
                "no built library was found, so the embedded manifest was not checked",
                "run `cargo build --release` in the crate, then preflight again",
            );
            report.push("library", vec![d]);
            None
        }
    };

    match (&manifest, &embedded) {
        (Some(m), Some(e)) => report.push("manifest matches library", check_embedded(m, e)),
        _ => report.skip(
            "manifest matches library",
            "needs both a valid manifest and a library",
        ),
    }
    // Last: warnings only, so a report's first finding stays its most serious one.
    if let Some(m) = &manifest {
        report.push("settings applied", crate::not_applied(m));
    }
    report
}

fn locate(path: &Path) -> (Option<PathBuf>, Option<PathBuf>) {
    if path.is_dir() {
        let manifest = [MANIFEST_FILE, MANIFEST_JSON_FILE]
            .iter()
            .map(|f| path.join(f))
            .find(|p| p.is_file());
        let library = manifest
            .as_ref()
            .and_then(|m| std::fs::read_to_string(m).ok().map(|s| (m, s)))
            .and_then(|(m, s)| Manifest::check(&s, Format::for_path(m)).0)
            .and_then(|m| built_library(path, &m.name));
        return (manifest, library);
    }
    let is_manifest = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("toml") || e.eq_ignore_ascii_case("json"));
    if is_manifest {
        (Some(path.to_owned()), None)
    } else if path.exists() {
        (None, Some(path.to_owned()))
    } else {
        (None, None)
    }
}

/// The crate's built library: `target/release`, then `target/debug`, beside the crate or in
/// the nearest ancestor that has one (a workspace).
fn built_library(dir: &Path, name: &str) -> Option<PathBuf> {
    let file = format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    );
    dir.ancestors()
        .map(|a| a.join("target"))
        .find(|t| t.is_dir())
        .and_then(|t| {
            ["release", "debug"]
                .iter()
                .map(|p| t.join(p).join(&file))
                .find(|p| p.is_file())
        })
}

fn check_manifest_file(path: &Path, report: &mut PreflightReport) -> Option<Manifest> {
    let source = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => {
            report.push(
                "manifest",
                vec![Diagnostic::error(
                    codes::SYNTAX,
                    "",
                    format!("cannot read {}: {e}", path.display()),
                    "check the path and that the file is UTF-8",
                )],
            );
            return None;
        }
    };
    let (manifest, diagnostics) = Manifest::check(&source, Format::for_path(path));
    let failed = diagnostics.iter().any(Diagnostic::is_error);
    report.push("manifest", diagnostics);
    if failed {
        None
    } else {
        manifest
    }
}

fn check_library(path: &Path, report: &mut PreflightReport) -> Option<EmbeddedManifest> {
    match loader::check(
        path,
        crate::package::UnpackLimits::default().max_package_bytes,
    ) {
        Ok(checked) => {
            report.push("library", Vec::new());
            Some(checked.section.manifest)
        }
        Err(e) => {
            report.push("library", vec![load_diagnostic(&e)]);
            None
        }
    }
}

/// A load error as a preflight finding.
pub(crate) fn load_diagnostic(e: &LoadError) -> Diagnostic {
    let field = match e {
        LoadError::AbiMajor { .. } | LoadError::AbiMinor { .. } => "sdk_abi",
        _ => "",
    };
    Diagnostic::error(e.code(), field, e.to_string(), e.next_step())
}
