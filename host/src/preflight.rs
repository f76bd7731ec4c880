//! Preflight: every check that needs no plugin code, in one call, with structured results
//! (SPEC S2.4). The CLI's `switchboard preflight` and [`Host::preflight`](crate::Host::preflight)
//! both use it, and the host runs the library checks before every load.
//!
//! What it checks depends on what it is given ([`PreflightOptions`]): the manifest; a package's
//! signature, file hashes and name (with a trust store); compatibility with a host API; the
//! library's embedded manifest against `plugin.toml`; the host's policy (admission and each
//! capability's verdict); and whether the dependencies resolve against an index or a lockfile.
//! A check that cannot run is reported as skipped with the reason, never as passed
//! ([`PreflightReport::complete`]).

use std::path::{Path, PathBuf};

use serde::Serialize;
use switchboard_sdk::caps::Capability;
use switchboard_sdk::manifest::{
    codes, Diagnostic, Format, Manifest, MANIFEST_FILE, MANIFEST_JSON_FILE,
};
use switchboard_sdk::EmbeddedManifest;

use crate::caps::policy::{in_namespace, resolve_paths, Verdict};
use crate::caps::Policy;
use crate::compat::{check_embedded, check_manifest, current_target, HostProfile};
use crate::error::LoadError;
use crate::loader;
use crate::package::{self, TrustLevel, TrustStore, UnpackLimits};
use crate::resolve::{Dependency, Index, Lockfile, Resolver};

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
    /// Why it was skipped, when it was; for a check that ran, what it checked, when it says
    /// (the plugin kind's check names the kind).
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

    /// Whether every check ran: `false` when one was skipped because an input was missing or
    /// an earlier check failed. A report can be [`ok`](Self::ok) and not complete; the CLI then
    /// says which checks did not run.
    pub fn complete(&self) -> bool {
        !self.checks.iter().any(|c| c.status == CheckStatus::Skipped)
    }

    /// The checks that did not run.
    pub fn skipped(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .filter(|c| c.status == CheckStatus::Skipped)
    }

    /// The JSON document `switchboard preflight --json` prints:
    /// `{ "ok", "complete", "target", "diagnostics": [{ "code", "severity", "field", "message", "next_step" }], "checks" }`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ok": self.ok(),
            "complete": self.complete(),
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

    /// [`push`](Self::push) with a note saying what was checked (shown with the result).
    pub(crate) fn push_noted(
        &mut self,
        name: &'static str,
        note: String,
        diagnostics: Vec<Diagnostic>,
    ) {
        self.push(name, diagnostics);
        if let Some(check) = self.checks.last_mut() {
            check.note = Some(note);
        }
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

/// The codes preflight's own checks use.
pub mod codes_preflight {
    use switchboard_sdk::ErrorCode;

    /// Policy would deny a capability the plugin requests (a block rule).
    pub const CAPABILITY_BLOCKED: ErrorCode = ErrorCode::from_number(1106);
    /// Policy leaves a capability to an approver, or grants it only narrowed (a warning).
    pub const CAPABILITY_UNDECIDED: ErrorCode = ErrorCode::from_number(1107);
    /// A dependency is missing from the lockfile, or locked outside the manifest's range.
    pub const LOCKFILE_DEPENDENCY: ErrorCode = ErrorCode::from_number(1108);
    /// The package is unsigned (a warning: hosts load it only with the development opt-in).
    pub const UNSIGNED_PACKAGE: ErrorCode = ErrorCode::from_number(1109);
}

/// What a preflight run is given besides the path: each input enables the checks that need
/// it, and a check whose input is missing is reported as skipped.
///
/// ```
/// use switchboard_host::{preflight_with, HostProfile, Policy, PreflightOptions};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("plugin.toml");
/// std::fs::write(&path, "name = \"w\"\nversion = \"1.0.0\"\ncapabilities = [\"process.spawn\"]\n").unwrap();
/// let host = HostProfile::new("my-app", "1.0.0");
/// let policy = Policy::from_toml("block = [\"process.spawn\"]").unwrap();
/// let mut options = PreflightOptions::new();
/// options.host(&host).policy(&policy);
/// let report = preflight_with(&path, &options);
/// assert!(!report.ok());
/// assert!(report.diagnostics().iter().any(|d| d.code == "SB1106"));
/// ```
#[derive(Clone, Copy, Default)]
pub struct PreflightOptions<'a> {
    library: Option<&'a Path>,
    target_dir: Option<&'a Path>,
    host: Option<&'a HostProfile>,
    policy: Option<&'a Policy>,
    trust: Option<&'a TrustStore>,
    index: Option<&'a dyn Index>,
    lockfile: Option<&'a Lockfile>,
    points: Option<&'a crate::Host>,
    point_specs: Option<&'a [crate::extend::PointSpec]>,
}

impl std::fmt::Debug for PreflightOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreflightOptions")
            .field("library", &self.library)
            .field("target_dir", &self.target_dir)
            .field("host", &self.host)
            .field("policy", &self.policy.is_some())
            .field("trust", &self.trust.is_some())
            .field("index", &self.index.is_some())
            .field("lockfile", &self.lockfile.is_some())
            .field("points", &self.points.map(crate::Host::extension_points))
            .field("point_specs", &self.point_specs)
            .finish()
    }
}

impl<'a> PreflightOptions<'a> {
    /// No inputs: the manifest checks only (and the library's, when the path leads to one).
    pub fn new() -> Self {
        Self::default()
    }

    /// The built library to check (default: found in the crate's target directory).
    pub fn library(&mut self, path: &'a Path) -> &mut Self {
        self.library = Some(path);
        self
    }

    /// Where the crate's builds go (what `cargo metadata` calls `target_directory`; it moves
    /// with `CARGO_TARGET_DIR`). Default: `target/` beside the crate or an ancestor.
    pub fn target_dir(&mut self, dir: &'a Path) -> &mut Self {
        self.target_dir = Some(dir);
        self
    }

    /// Check compatibility with this host.
    pub fn host(&mut self, host: &'a HostProfile) -> &mut Self {
        self.host = Some(host);
        self
    }

    /// Apply this policy: allow and deny lists, minimum trust and signers (for packages), and
    /// each requested capability's verdict.
    pub fn policy(&mut self, policy: &'a Policy) -> &mut Self {
        self.policy = Some(policy);
        self
    }

    /// Verify a package's signature against these keys (default: no key is trusted).
    pub fn trust(&mut self, store: &'a TrustStore) -> &mut Self {
        self.trust = Some(store);
        self
    }

    /// Resolve the dependencies against this index (with the lockfile's versions preferred,
    /// when one is given too).
    pub fn index(&mut self, index: &'a dyn Index) -> &mut Self {
        self.index = Some(index);
        self
    }

    /// Check the dependencies against this lockfile (without an index: each must be locked at
    /// a version in range).
    pub fn lockfile(&mut self, lockfile: &'a Lockfile) -> &mut Self {
        self.lockfile = Some(lockfile);
        self
    }

    /// Check the library's `#[hook]` contributions against the extension points `host`
    /// declares (SPEC S5.4): each point declared (`SB1701`), taking the hook's kind
    /// (`SB1702`), with its contracts (`SB1703`). Grants are checked at load.
    pub fn points(&mut self, host: &'a crate::Host) -> &mut Self {
        self.points = Some(host);
        self
    }

    /// Check the library's `#[hook]` contributions against these points, as a points file
    /// lists them ([`PointSpec::parse_list`](crate::extend::PointSpec::parse_list); what
    /// `switchboard preflight --points FILE` gives): the same checks as
    /// [`points`](Self::points), without a host. With both, the host's points are used.
    pub fn point_specs(&mut self, specs: &'a [crate::extend::PointSpec]) -> &mut Self {
        self.point_specs = Some(specs);
        self
    }

    pub(crate) fn host_profile(&self) -> Option<&'a HostProfile> {
        self.host
    }

    pub(crate) fn policy_ref(&self) -> Option<&'a Policy> {
        self.policy
    }

    pub(crate) fn trust_ref(&self) -> Option<&'a TrustStore> {
        self.trust
    }
}

/// Runs preflight on `path`: a crate directory (its `plugin.toml`, and its built library if
/// there is one under `target/`), a `plugin.toml`/`plugin.json`, a package (`.sbpkg`), or a
/// library file. With a `host`, compatibility with it is checked too.
pub fn preflight(path: &Path, host: Option<&HostProfile>) -> PreflightReport {
    let mut options = PreflightOptions::new();
    if let Some(h) = host {
        options.host(h);
    }
    preflight_with(path, &options)
}

/// [`preflight`], with the library to check named explicitly (for crates whose build output
/// is not under `target/` beside them or an ancestor).
pub fn preflight_with_library(
    path: &Path,
    library: Option<&Path>,
    host: Option<&HostProfile>,
) -> PreflightReport {
    let mut options = PreflightOptions::new();
    if let Some(h) = host {
        options.host(h);
    }
    if let Some(l) = library {
        options.library(l);
    }
    preflight_with(path, &options)
}

/// What preflight was pointed at.
enum Target {
    Package(PathBuf),
    /// A crate directory (`crate_dir` set) or a manifest file, and the library to check.
    Source {
        manifest: Option<PathBuf>,
        crate_dir: Option<PathBuf>,
    },
    Library(PathBuf),
    Nothing,
}

fn classify(path: &Path) -> Target {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if path.is_dir() {
        let manifest = [MANIFEST_FILE, MANIFEST_JSON_FILE]
            .iter()
            .map(|f| path.join(f))
            .find(|p| p.is_file());
        return match manifest {
            Some(m) => Target::Source {
                manifest: Some(m),
                crate_dir: Some(path.to_owned()),
            },
            None => Target::Nothing,
        };
    }
    match ext.as_deref() {
        Some("toml" | "json") => Target::Source {
            manifest: Some(path.to_owned()),
            crate_dir: None,
        },
        Some(e) if e == package::EXTENSION => Target::Package(path.to_owned()),
        _ if path.exists() => Target::Library(path.to_owned()),
        _ => Target::Nothing,
    }
}

/// Runs every check `options` enables on `path` (see [`preflight`] for what `path` may be).
pub fn preflight_with(path: &Path, options: &PreflightOptions<'_>) -> PreflightReport {
    let mut report = PreflightReport {
        target: path.to_owned(),
        checks: Vec::new(),
    };
    match classify(path) {
        // A cargo crate without a manifest: the likeliest first-plugin mistake, so say what
        // to add rather than what the path is not.
        Target::Nothing if path.join("Cargo.toml").is_file() => report.push(
            "find plugin",
            vec![Diagnostic::error(
                codes::MISSING_FIELD,
                "",
                format!(
                    "{} is a cargo crate with no plugin.toml (or plugin.json)",
                    path.display()
                ),
                "add a plugin.toml beside Cargo.toml with the crate's `name` and `version` \
                 (docs/manifest.md)",
            )],
        ),
        Target::Nothing => report.push(
            "find plugin",
            vec![Diagnostic::error(
                codes::MISSING_FIELD,
                "",
                format!(
                    "{} is not a plugin crate, plugin.toml, plugin.json, package or library",
                    path.display()
                ),
                "pass a plugin crate directory, its plugin.toml, a .sbpkg package, or a built library",
            )],
        ),
        Target::Package(p) => check_package(&p, options, &mut report),
        Target::Library(lib) => {
            report.skip("manifest", "no plugin.toml given");
            check_compatibility(None, options, &mut report);
            let embedded = check_library(&lib, false, &mut report);
            report.skip(
                "manifest matches library",
                "needs both a manifest and a library",
            );
            check_points(embedded.as_ref(), options, &mut report);
            let written = embedded
                .as_ref()
                .and_then(|e| e.plugin_toml.as_deref())
                .and_then(|t| Manifest::parse(t, switchboard_sdk::manifest::Format::Toml).ok());
            check_kind(written.as_ref(), embedded.as_ref(), &mut report);
            let subject = embedded
                .as_ref()
                .map(|e| (e.name.as_str(), e.capabilities.as_slice()));
            check_policy(subject, None, options, &mut report);
            report.skip("dependencies", "a library does not say what it depends on");
        }
        Target::Source {
            manifest,
            crate_dir,
        } => check_source(manifest.as_deref(), crate_dir.as_deref(), options, &mut report),
    }
    report
}

fn check_compatibility(
    manifest: Option<&Manifest>,
    options: &PreflightOptions<'_>,
    report: &mut PreflightReport,
) {
    match (manifest, options.host) {
        (Some(m), Some(h)) => report.push("compatibility", check_manifest(m, h)),
        (_, None) => report.skip(
            "compatibility",
            "no host API given (use --host-api NAME@VERSION)",
        ),
        (None, Some(_)) => report.skip("compatibility", "no valid manifest to check"),
    }
}

fn check_source(
    manifest_path: Option<&Path>,
    crate_dir: Option<&Path>,
    options: &PreflightOptions<'_>,
    report: &mut PreflightReport,
) {
    let manifest = manifest_path.and_then(|p| check_manifest_file(p, report));
    check_compatibility(manifest.as_ref(), options, report);

    let library = match (options.library, crate_dir) {
        (Some(l), _) => Some(l.to_owned()),
        (None, Some(dir)) => match manifest.as_ref().map(|m| m.name.clone()) {
            Some(name) => match built_library(dir, options.target_dir, &name) {
                Ok(found) => Some(found),
                Err(searched) => {
                    report.push(
                            "library",
                            vec![Diagnostic::error(
                                codes::NO_LIBRARY,
                                "",
                                format!(
                                    "no built library of `{name}` in {}, so the library checks could not run",
                                    searched.display()
                                ),
                                "build it (`cargo build --release`), or name it with --library FILE; \
                                 with CARGO_TARGET_DIR set, pass the directory cargo builds into",
                            )],
                        );
                    None
                }
            },
            None => {
                report.skip(
                    "library",
                    "the manifest did not validate, so its library is unknown",
                );
                None
            }
        },
        (None, None) => {
            report.skip(
                "library",
                "only a manifest was given (pass the crate directory or --library FILE)",
            );
            None
        }
    };
    let embedded = library
        .as_ref()
        .and_then(|lib| check_library(lib, crate_dir.is_some(), report));
    check_points(embedded.as_ref(), options, report);
    check_kind(manifest.as_ref(), embedded.as_ref(), report);

    // A crate's plugin.toml may leave out what the library embeds: pack fills it in. What is
    // written must agree.
    let effective = match (&manifest, &embedded) {
        (Some(m), Some(e)) => match m.with_library(e) {
            Ok(full) => {
                report.push("manifest matches library", Vec::new());
                Some(full)
            }
            Err(d) => {
                report.push("manifest matches library", d);
                None
            }
        },
        _ => {
            report.skip(
                "manifest matches library",
                "needs both a valid manifest and a library",
            );
            None
        }
    };
    let for_policy = effective.as_ref().or(if embedded.is_none() {
        manifest.as_ref()
    } else {
        None
    });
    check_policy(
        for_policy.map(|m| (m.name.as_str(), m.capabilities.as_slice())),
        None,
        options,
        report,
    );
    check_dependencies(manifest.as_ref(), options, report);
    // Last: warnings only, so a report's first finding stays its most serious one.
    // A crate has no trust level until it is signed; loaded for development, it is unsigned.
    settings_applied(manifest.as_ref(), TrustLevel::Unsigned, options, report);
}

fn check_package(path: &Path, options: &PreflightOptions<'_>, report: &mut PreflightReport) {
    let verified = match read_and_verify(path, options.trust) {
        Ok(v) => v,
        Err(e) => {
            report.push(
                "package",
                vec![Diagnostic::error(
                    e.code(),
                    "",
                    e.to_string(),
                    e.next_step(),
                )],
            );
            for name in [
                "manifest",
                "compatibility",
                "library",
                "manifest matches library",
                "policy",
                "dependencies",
            ] {
                report.skip(name, "the package did not verify");
            }
            return;
        }
    };
    let mut findings = Vec::new();
    if verified.trust == TrustLevel::Unsigned {
        findings.push(Diagnostic::warning(
            codes_preflight::UNSIGNED_PACKAGE,
            "",
            "the package is unsigned: hosts load it only with the development opt-in",
            "sign it with `switchboard sign PACKAGE --key KEY`",
        ));
    }
    let m = &verified.manifest;
    if let Some(e) = crate::verify::misnamed(path, m) {
        findings.push(Diagnostic::error(
            e.code(),
            "",
            e.to_string(),
            e.next_step(),
        ));
    }
    report.push("package", findings);
    let (_, manifest_findings) = Manifest::check(
        &String::from_utf8_lossy(&verified.manifest_bytes),
        Format::Toml,
    );
    report.push("manifest", manifest_findings);
    check_compatibility(Some(m), options, report);
    let library_name = path.join(&verified.library_path);
    let embedded = match loader::check_bytes(&library_name, verified.library.clone()) {
        Ok(checked) => {
            report.push("library", Vec::new());
            Some(checked.section.manifest)
        }
        Err(e) => {
            report.push("library", vec![load_diagnostic(&e)]);
            None
        }
    };
    match &embedded {
        Some(e) => report.push("manifest matches library", check_embedded(m, e)),
        None => report.skip("manifest matches library", "the library did not check"),
    }
    check_points(embedded.as_ref(), options, report);
    check_kind(Some(m), embedded.as_ref(), report);
    check_policy(
        Some((m.name.as_str(), m.capabilities.as_slice())),
        Some((verified.trust, verified.signer.as_deref())),
        options,
        report,
    );
    check_dependencies(Some(m), options, report);
    settings_applied(Some(m), verified.trust, options, report);
}

/// The settings the manifest (and the policy, when one is given) set that a load would not
/// apply, as warnings: with a policy, the `[limits]` of a plugin its `[isolation]` rules leave
/// in-process (`SB1120`, [`not_applied_for`](crate::not_applied_for)); without one, those of
/// any plugin not `sandbox = "strict"`, saying a host policy may isolate it
/// ([`not_applied`](crate::not_applied)).
fn settings_applied(
    manifest: Option<&Manifest>,
    trust: TrustLevel,
    options: &PreflightOptions<'_>,
    report: &mut PreflightReport,
) {
    let mut found = match (manifest, options.policy) {
        (Some(m), Some(policy)) => {
            let decision = crate::isolation::decide::decide(policy, &m.name, Some(m), trust, None);
            crate::not_applied_for(m, &decision)
        }
        (Some(m), None) => crate::not_applied(m),
        (None, _) => Vec::new(),
    };
    if let Some(policy) = options.policy {
        found.extend(policy.not_applied());
    }
    if manifest.is_some() || options.policy.is_some() {
        report.push("settings applied", found);
    }
}

/// The library's `#[hook]` contributions against the host's declared extension points, when
/// the library has any: reported only then, so plugins without hooks see no new check.
fn check_points(
    embedded: Option<&EmbeddedManifest>,
    options: &PreflightOptions<'_>,
    report: &mut PreflightReport,
) {
    let Some(e) = embedded.filter(|e| !e.hooks.is_empty()) else {
        return;
    };
    let checked = match (options.points, options.point_specs) {
        (Some(host), _) => host.check_hooks(e),
        (None, Some(specs)) => crate::extend::declare_all(specs)
            .and_then(|points| crate::extend::check_manifest(&points, e, None)),
        (None, None) => {
            report.skip(
                "extension points",
                "no points given to check the plugin's hooks against (`--points FILE`; \
                 PreflightOptions::points)",
            );
            return;
        }
    };
    let findings = match checked {
        Ok(()) => Vec::new(),
        Err(err) => vec![Diagnostic::error(
            err.code(),
            "hooks",
            err.to_string(),
            err.next_step(),
        )],
    };
    report.push("extension points", findings);
}

/// The library provides what the manifest's `kind` promises (`crate::kinds`); the check's
/// note names the kind.
fn check_kind(
    manifest: Option<&Manifest>,
    embedded: Option<&EmbeddedManifest>,
    report: &mut PreflightReport,
) {
    let kind = manifest.map_or(crate::kinds::DEFAULT_KIND, |m| m.kind.as_str());
    let Some(e) = embedded else {
        report.skip(
            "plugin kind",
            format!("`{kind}`: no library to check it against"),
        );
        return;
    };
    let findings = match crate::kinds::check_kind(kind, e) {
        Ok(()) => Vec::new(),
        Err(err) => vec![Diagnostic::error(
            err.code(),
            "kind",
            err.to_string(),
            err.next_step(),
        )],
    };
    report.push_noted(
        "plugin kind",
        match crate::kinds::expectation(kind) {
            Some(expects) => format!("`{kind}`, {expects}"),
            None => format!("`{kind}`, no expectations"),
        },
        findings,
    );
}

/// Reads a package and its `.minisig` and `.cert` beside it, and verifies them.
pub(crate) fn read_and_verify(
    path: &Path,
    trust: Option<&TrustStore>,
) -> Result<package::VerifiedPackage, package::PackageError> {
    let io = |p: &Path, e: std::io::Error| package::PackageError::Io {
        what: format!("reading {}", p.display()),
        reason: e.to_string(),
    };
    // Bounded as a host reads them (`verify_package_file`): a huge or endless file, or a FIFO,
    // is refused, not read whole or waited on.
    let limits = UnpackLimits::default();
    let bytes = crate::verify::read(path, limits.max_package_bytes)?;
    let sidecar = |ext: &str| -> Result<Option<String>, package::PackageError> {
        let mut p = path.as_os_str().to_owned();
        p.push(ext);
        let p = PathBuf::from(p);
        match std::fs::metadata(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&p, e)),
            Ok(_) => {
                let b = crate::verify::read(&p, crate::verify::MAX_SIDECAR_BYTES)?;
                Ok(Some(String::from_utf8_lossy(&b).into_owned()))
            }
        }
    };
    let signature = sidecar(".minisig")?;
    let certification = sidecar(".cert")?;
    let empty = TrustStore::new();
    package::verify(
        &bytes,
        signature.as_deref(),
        certification.as_deref(),
        trust.unwrap_or(&empty),
        current_target(),
        &limits,
    )
}

/// Policy: admission (allow and deny lists; trust and signers for packages) and each
/// requested capability's verdict, as a load would decide them before asking an approver.
fn check_policy(
    subject: Option<(&str, &[String])>,
    package: Option<(TrustLevel, Option<&str>)>,
    options: &PreflightOptions<'_>,
    report: &mut PreflightReport,
) {
    let Some(policy) = options.policy else {
        report.skip("policy", "no policy given (use --policy FILE)");
        return;
    };
    let Some((name, capabilities)) = subject else {
        report.skip("policy", "needs a valid manifest or library");
        return;
    };
    let mut findings = Vec::new();
    let admitted = match package {
        Some((trust, signer)) => policy
            .admit_package(name, trust, signer)
            .map_err(|r| (trust, r)),
        // A crate has no trust level until it is packed and signed: only the lists apply.
        None => policy
            .admit(name, policy.required_trust())
            .map_err(|r| (TrustLevel::Unsigned, r)),
    };
    if let Err((trust, refusal)) = admitted {
        let e = crate::host::refusal_error(name, trust, refusal);
        findings.push(Diagnostic::error(
            e.code(),
            "",
            e.to_string(),
            e.next_step(),
        ));
    }
    for (i, raw) in capabilities.iter().enumerate() {
        let field = format!("capabilities[{i}]");
        let Ok(request) = raw.parse::<Capability>() else {
            continue; // The manifest check reports it.
        };
        let request = resolve_paths(in_namespace(name, request));
        match policy.evaluate(&request) {
            Verdict::Blocked(rule) => findings.push(Diagnostic::error(
                codes_preflight::CAPABILITY_BLOCKED,
                &field,
                format!("`{raw}` would be denied: the policy blocks `{rule}`"),
                "drop the request if the plugin can work without it, or change the policy's block list",
            )),
            Verdict::Ask => findings.push(Diagnostic::warning(
                codes_preflight::CAPABILITY_UNDECIDED,
                &field,
                format!("`{raw}` needs an approver's decision (policy: require_approval)"),
                "expect a prompt at load, or allow it in the policy",
            )),
            Verdict::Unmatched => findings.push(Diagnostic::warning(
                codes_preflight::CAPABILITY_UNDECIDED,
                &field,
                format!("no policy rule grants `{raw}`: without an approver it is denied (deny by default)"),
                "allow it in the policy, or load with an approver",
            )),
            Verdict::Allow(granted) if granted != [request.clone()] => {
                let list: Vec<String> = granted.iter().map(ToString::to_string).collect();
                findings.push(Diagnostic::warning(
                    codes_preflight::CAPABILITY_UNDECIDED,
                    &field,
                    format!("`{raw}` would be granted only as {}", list.join(", ")),
                    "request what the policy allows, or widen the policy's rule",
                ));
            }
            Verdict::Allow(_) => {}
        }
    }
    report.push("policy", findings);
}

/// Whether the manifest's dependencies resolve: against an index (preferring a lockfile's
/// versions), or, with only a lockfile, each locked at a version in range.
fn check_dependencies(
    manifest: Option<&Manifest>,
    options: &PreflightOptions<'_>,
    report: &mut PreflightReport,
) {
    let Some(m) = manifest else {
        report.skip("dependencies", "needs a valid manifest");
        return;
    };
    let deps = &m.requires.dependencies;
    if deps.is_empty() {
        report.push("dependencies", Vec::new());
        return;
    }
    let mut wanted = Vec::new();
    for (name, d) in deps {
        // Ranges that do not parse are the manifest check's finding.
        if let Ok(req) = d.range().parse::<semver::VersionReq>() {
            wanted.push(if d.optional() {
                Dependency::optional(name.clone(), req)
            } else {
                Dependency::new(name.clone(), req)
            });
        }
    }
    let findings = match (options.index, options.lockfile) {
        (Some(index), lockfile) => {
            let mut resolver = Resolver::new(index);
            if let Some(h) = options.host {
                if let Ok(v) = semver::Version::parse(&h.host_version) {
                    resolver.host_api(h.host_api.clone(), v);
                }
            }
            if let Some(l) = lockfile {
                resolver.locked(l);
            }
            match resolver.resolve(&wanted) {
                Ok(_) => Vec::new(),
                Err(e) => vec![Diagnostic::error(
                    e.code(),
                    "requires.dependencies",
                    e.to_string(),
                    e.next_step(),
                )],
            }
        }
        (None, Some(lockfile)) => wanted
            .iter()
            .filter_map(|d| {
                let field = format!("requires.dependencies.{}", d.name);
                match lockfile.get(&d.name) {
                    None if d.optional => None,
                    None => Some(Diagnostic::error(
                        codes_preflight::LOCKFILE_DEPENDENCY,
                        field,
                        format!("`{}` is not in the lockfile", d.name),
                        "resolve again to lock it, or pass --index DIR to check against the index",
                    )),
                    Some(locked) if !d.req.matches(&locked.version) => Some(Diagnostic::error(
                        codes_preflight::LOCKFILE_DEPENDENCY,
                        field,
                        format!(
                            "the lockfile has `{}` {}, outside `{}`",
                            d.name, locked.version, d.req
                        ),
                        "update the lockfile, or widen the range in plugin.toml",
                    )),
                    Some(_) => None,
                }
            })
            .collect(),
        (None, None) => {
            report.skip(
                "dependencies",
                "no index or lockfile given (use --index DIR or --lockfile FILE)",
            );
            return;
        }
    };
    report.push("dependencies", findings);
}

/// The crate's built library: in `target_dir` if given, else in `target/` beside the crate or
/// in the nearest ancestor that has one (a workspace); of `release` and `debug`, the newer.
/// `Err` is where it looked.
fn built_library(dir: &Path, target_dir: Option<&Path>, name: &str) -> Result<PathBuf, PathBuf> {
    let file = format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    );
    let target = match target_dir {
        Some(t) => t.to_owned(),
        None => dir
            .ancestors()
            .map(|a| a.join("target"))
            .find(|t| t.is_dir())
            .unwrap_or_else(|| dir.join("target")),
    };
    ["release", "debug"]
        .iter()
        .map(|p| target.join(p).join(&file))
        .filter_map(|p| {
            let modified = std::fs::metadata(&p).ok()?.modified().ok()?;
            Some((modified, p))
        })
        .max_by_key(|(modified, _)| *modified)
        .map(|(_, p)| p)
        .ok_or(target)
}

fn check_manifest_file(path: &Path, report: &mut PreflightReport) -> Option<Manifest> {
    let source = match switchboard_sdk::manifest::read_file(path) {
        Ok(s) => s,
        Err(d) => {
            report.push("manifest", vec![*d]);
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

fn check_library(
    path: &Path,
    from_crate: bool,
    report: &mut PreflightReport,
) -> Option<EmbeddedManifest> {
    match loader::check(
        path,
        crate::package::UnpackLimits::default().max_package_bytes,
    ) {
        Ok(checked) => {
            report.push("library", Vec::new());
            Some(checked.section.manifest)
        }
        Err(LoadError::NoManifest { .. }) if from_crate => {
            report.push("library", vec![no_section(path)]);
            None
        }
        Err(e) => {
            report.push("library", vec![load_diagnostic(&e)]);
            None
        }
    }
}

/// The finding for a crate's library that has no manifest section: usually a build of the
/// crate without its `plugin` feature (a host depending on it with `default-features = false`)
/// has overwritten the cdylib, since both builds write the same file.
pub fn no_section(path: &Path) -> Diagnostic {
    Diagnostic::error(
        codes::LIBRARY_WITHOUT_SECTION,
        "",
        format!(
            "{} has no Switchboard manifest section: it was built without `#[plugin]` — most often a \
             build of the crate without its `plugin` feature (a dependent with \
             `default-features = false`) overwrote the plugin's build",
            path.display()
        ),
        "rebuild the plugin alone (`cargo build --release -p NAME`) and run again; to stop it \
         recurring, move the shared message types into their own crate (docs/guide.md)",
    )
}

/// What a package built from the crate's `plugin.toml` and this library says: the manifest
/// completed with what the library embeds ([`Manifest::with_library`]). `Err` lists what is
/// wrong: a library without a Switchboard section (SB1027) or that cannot be read, or values
/// in `plugin.toml` that contradict it (SB1026). Reads the library as an object file: no plugin
/// code runs.
pub fn package_manifest(manifest: &Manifest, library: &Path) -> Result<Manifest, Vec<Diagnostic>> {
    let embedded = match loader::check(
        library,
        crate::package::UnpackLimits::default().max_package_bytes,
    ) {
        Ok(checked) => checked.section.manifest,
        Err(LoadError::NoManifest { .. }) => return Err(vec![no_section(library)]),
        Err(e) => return Err(vec![load_diagnostic(&e)]),
    };
    manifest.with_library(&embedded)
}

/// A load error as a preflight finding.
pub(crate) fn load_diagnostic(e: &LoadError) -> Diagnostic {
    let field = match e {
        LoadError::AbiMajor { .. } | LoadError::AbiMinor { .. } => "sdk_abi",
        _ => "",
    };
    Diagnostic::error(e.code(), field, e.to_string(), e.next_step())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crate_without_plugin_toml_is_told_to_add_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[package]\nname = \"g\"\n").unwrap();
        let report = preflight(dir.path(), None);
        assert!(!report.ok());
        let d = report.diagnostics();
        assert_eq!(d.len(), 1);
        assert!(d[0].message.contains("no plugin.toml"), "{}", d[0].message);
        assert!(
            d[0].next_step.contains("add a plugin.toml"),
            "{}",
            d[0].next_step
        );
    }
}
