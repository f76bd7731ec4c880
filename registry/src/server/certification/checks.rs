//! The automated checks a certification request runs on a listed release, each recorded with
//! a [`Verdict`] and a detail, in this order:
//!
//! | check | what it runs | results |
//! |---|---|---|
//! | `manifest` | the host's package verification (archive, signature, pins, manifest, library for this platform) and preflight, as at upload, on the package the registry serves | passed; failed (with the host's code) |
//! | `capabilities` | over-broad requests (the widest pattern of a scoped kind — `fs.read` = `fs.read:/**`, `net.connect` = any host, `env:*`, `service.call:*` …; and `process.spawn`) and requests the manifest shows cannot be used (`service.provide` matching no service it declares, `events.publish` matching no topic it declares, `config.read` without a `[config]` section) | passed; flagged (a reviewer weighs it) |
//! | `provenance` | the signature's key is bound to an account, that account owns the name, and the release's upload was made by an owner | passed; failed |
//! | `tests` | the release's own smoke calls (`[test]`), made in an isolated, sandboxed runner process with the strictest profile ([`super::smoke`]), each compared as `switchboard test` compares it; the detail lists every call's outcome | passed (every call); failed (a mismatch, a crash, a call killed at its limit, a plugin that does not load or start, a mistake in `[test]`); not-run (isolation unavailable on this machine: no runner, a required sandbox layer missing); skipped (none declared) |
//! | `advisories` | the package's `Cargo.lock` against the RustSec snapshot (`--advisory-db`) | passed; flagged (a known-vulnerable crate); failed (a malformed lockfile); not-run (no database configured); flagged (no lockfile: the reviewer decides) |
//!
//! What a check cannot decide is never a pass: a panic, an unreadable input or a database
//! failure is `error`, and `error`, `failed` and `not-run` refuse approval (`SB1465`).
//!
//! What is not checkable from a package: whether native code uses a file, network, key-value,
//! secret, environment or process capability it requests (it can call the operating system
//! directly), and which services it calls (names are chosen at run time). Those are left to
//! the reviewer and to the host's grants.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use switchboard_host::package::UnpackLimits;
use switchboard_host::{Manifest, TrustLevel};
use switchboard_sdk::caps::{Access, Capability, CapabilityKind};

use super::advisories;
use crate::format::IndexLine;
use crate::server::accounts;
use crate::server::store::certification::{CertificationCheck, Verdict};
use crate::server::store::Database;
use crate::server::uploads::UploadState;

/// What the checks look at.
#[derive(Debug)]
pub struct Subject<'a> {
    /// The listed release's index line.
    pub line: &'a IndexLine,
    /// The package's bytes, as the registry serves them.
    pub package: &'a [u8],
    /// The registry's key directory (its vouched-for publisher keys).
    pub registry_keys: &'a Path,
    /// The RustSec advisory database, if the server has one.
    pub advisory_db: Option<&'a Path>,
    /// How the `tests` check runs the release's smoke calls.
    pub smoke: &'a super::smoke::SmokeOptions,
    /// Held while the smoke calls run: one run at a time.
    pub smoke_lock: &'a super::smoke::SmokeLock,
}

/// The result of one check body: a verdict and its detail.
type Outcome = (Verdict, String);

/// Runs `body` as check `name`: a panic is an `error`, never a pass.
fn run(
    results: &mut Vec<CertificationCheck>,
    name: &str,
    body: impl FnOnce() -> Result<Outcome, String>,
) {
    let (verdict, detail) = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(o)) => o,
        Ok(Err(reason)) => (Verdict::Error, reason),
        Err(_) => (Verdict::Error, "the check panicked".to_owned()),
    };
    results.push(CertificationCheck::new(name, verdict, detail));
}

/// Runs every check on `subject` (blocking: writes the package to a temporary directory,
/// verifies it as a host does, reads the database).
pub fn run_all(db: &Database, subject: &Subject<'_>) -> Vec<CertificationCheck> {
    let line = subject.line;
    let mut results = Vec::new();
    let key_id = accounts::key_id_of_signature(&line.signature);
    let bound = key_id
        .as_deref()
        .map(|id| accounts::key(db, id))
        .transpose()
        .map(Option::flatten)
        .map_err(|e| e.to_string());

    // The package as a host reads it: a file named for the release, its `.minisig` beside.
    let staged = (|| -> Result<(tempfile::TempDir, std::path::PathBuf), String> {
        let dir = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
        let path = dir
            .path()
            .join(format!("{}-{}.sbpkg", line.name, line.version));
        std::fs::write(&path, subject.package).map_err(|e| e.to_string())?;
        let mut sig = path.as_os_str().to_owned();
        sig.push(".minisig");
        std::fs::write(&sig, &line.signature).map_err(|e| e.to_string())?;
        Ok((dir, path))
    })();
    let mut manifest: Option<Manifest> = None;
    let mut verified_plugin: Option<switchboard_host::VerifiedPlugin> = None;
    let mut trust_found = None;
    run(&mut results, "manifest", || {
        let (_dir, path) = staged.as_ref().map_err(Clone::clone)?;
        let mut trust =
            crate::publish::trust_store(subject.registry_keys).map_err(|e| e.message())?;
        match &bound {
            Ok(Some(k)) => {
                trust
                    .add_author(&k.public_key)
                    .map_err(|e| format!("the bound key does not parse: {e}"))?;
            }
            Ok(None) => {}
            Err(e) => return Err(format!("looking the signing key up failed: {e}")),
        }
        let verified = match switchboard_host::verify_package_file(
            path,
            &trust,
            &UnpackLimits::default(),
            None,
        ) {
            Ok(v) => v,
            Err(e) => {
                return Ok((
                    Verdict::Failed,
                    format!(
                        "the package does not verify: [{}] {}",
                        e.code(),
                        e.message()
                    ),
                ))
            }
        };
        let p = verified.package();
        trust_found = Some(p.trust);
        manifest = Some(p.manifest.clone());
        let mut options = switchboard_host::PreflightOptions::new();
        options.trust(&trust);
        let report = switchboard_host::preflight_with(path, &options);
        let diagnostics = report.diagnostics();
        if let Some(d) = diagnostics.iter().find(|d| d.is_error()) {
            return Ok((
                Verdict::Failed,
                format!("preflight refuses it: [{}] {}", d.code, d.message),
            ));
        }
        verified_plugin = Some(verified);
        Ok((
            Verdict::Passed,
            format!(
                "verified as a host verifies it (archive, signature, pins, manifest, library); \
                 preflight: no errors ({} other finding(s))",
                diagnostics.len()
            ),
        ))
    });

    run(&mut results, "capabilities", || match &manifest {
        None => Err("cannot tell: the package did not verify".into()),
        Some(m) => Ok(capabilities(m)),
    });

    run(&mut results, "provenance", || {
        let Some(key_id) = key_id.clone() else {
            return Ok((
                Verdict::Failed,
                "the release's signature is not a minisign signature with a key id".into(),
            ));
        };
        let key = bound
            .clone()
            .map_err(|e| format!("looking the key up failed: {e}"))?;
        let Some(key) = key else {
            return Ok((
                Verdict::Failed,
                format!(
                    "signed by key {key_id}, which no account of this registry holds: the \
                     signer is not bound to a publisher"
                ),
            ));
        };
        if trust_found.is_some_and(|t| t < TrustLevel::Verified) {
            return Ok((
                Verdict::Failed,
                format!(
                    "key {key_id} is bound to `{}` but did not verify the package",
                    key.account
                ),
            ));
        }
        let owners = accounts::owners(db, &line.name).map_err(|e| e.to_string())?;
        if !owners.iter().any(|o| o.account == key.account) {
            return Ok((
                Verdict::Failed,
                format!(
                    "signed by key {key_id} of `{}`, which does not own `{}`",
                    key.account, line.name
                ),
            ));
        }
        let version = line.version.to_string();
        let uploads = db
            .store()
            .uploads_of(&line.name, 1000)
            .map_err(|e| e.to_string())?;
        let upload = uploads.iter().find(|u| {
            u.version == version && u.state == UploadState::Listed && u.sha256 == line.sha256
        });
        match upload {
            Some(u)
                if owners.iter().any(|o| o.account == u.account) || u.account == key.account =>
            {
                Ok((
                    Verdict::Passed,
                    format!(
                        "signed by key {key_id}, bound to `{}` (an owner); uploaded by `{}` as \
                         upload {}",
                        key.account, u.account, u.id
                    ),
                ))
            }
            Some(u) => Ok((
                Verdict::Failed,
                format!(
                    "uploaded by `{}`, who does not own `{}` (upload {})",
                    u.account, line.name, u.id
                ),
            )),
            None => Ok((
                Verdict::Failed,
                format!(
                    "no upload of {}@{version} with these bytes is recorded: the release was \
                     written into the registry directory by hand, so who published it is unknown",
                    line.name
                ),
            )),
        }
    });

    let files: Result<BTreeMap<String, Vec<u8>>, String> =
        switchboard_host::package::unpack(subject.package, &UnpackLimits::default())
            .map_err(|e| format!("the package cannot be unpacked: {e}"));

    run(&mut results, "tests", || {
        let m = manifest
            .as_ref()
            .ok_or("cannot tell: the package did not verify")?;
        let calls = m.test.as_ref().map_or(0, |t| t.calls.len());
        let Some(verified) = verified_plugin.take() else {
            if calls == 0 {
                return Ok((
                    Verdict::Skipped,
                    "the release declares no smoke calls ([test]): nothing to run".into(),
                ));
            }
            return Ok((
                Verdict::NotRun,
                format!(
                    "the release declares {calls} smoke call(s), but preflight refused it, so \
                     its library was not loaded"
                ),
            ));
        };
        super::smoke::run(verified, m, subject.smoke, subject.smoke_lock)
    });

    run(&mut results, "advisories", || {
        let files = files.as_ref().map_err(Clone::clone)?;
        let Some(lock) = files.get("Cargo.lock") else {
            // Flagged, not skipped: leaving the lockfile out must not be a way around the
            // check. The reviewer decides whether a plugin without one may be certified.
            return Ok((
                Verdict::Flagged,
                "the package carries no Cargo.lock, so its dependencies could not be looked up \
                 in the advisory database (`switchboard pack` ships the crate's Cargo.lock)"
                    .into(),
            ));
        };
        let Some(db_dir) = subject.advisory_db else {
            return Ok((
                Verdict::NotRun,
                "the package carries a Cargo.lock but this server has no advisory database \
                 (--advisory-db): its dependencies were not looked up"
                    .into(),
            ));
        };
        let crates = match advisories::locked_crates(lock) {
            Ok(c) => c,
            Err(e) => return Ok((Verdict::Failed, format!("Cargo.lock: {e}"))),
        };
        let report = advisories::check(db_dir, &crates)?;
        if report.findings.is_empty() {
            return Ok((
                Verdict::Passed,
                format!(
                    "{} locked crate(s) from a registry; no advisory applies",
                    report.checked
                ),
            ));
        }
        let list: Vec<String> = report
            .findings
            .iter()
            .map(|f| {
                format!(
                    "{} {}@{} (patched: {})",
                    f.id,
                    f.package,
                    f.version,
                    if f.patched.is_empty() {
                        "none".to_owned()
                    } else {
                        f.patched.join(" or ")
                    }
                )
            })
            .collect();
        Ok((
            Verdict::Flagged,
            format!("known-vulnerable dependencies: {}", list.join("; ")),
        ))
    });
    results
}

/// The capability check over a verified manifest.
pub fn capabilities(m: &Manifest) -> (Verdict, String) {
    let mut broad = Vec::new();
    let mut unusable = Vec::new();
    let mut unparsed = Vec::new();
    for text in &m.capabilities {
        let Ok(cap) = text.parse::<Capability>() else {
            unparsed.push(text.clone());
            continue;
        };
        if cap.kind() == CapabilityKind::ProcessSpawn
            || (cap.kind().takes_pattern() && cap.is_widest())
        {
            broad.push(text.clone());
        }
        let declared_use = match cap.kind() {
            CapabilityKind::ServiceProvide => Some(
                m.provides
                    .services
                    .iter()
                    .any(|s| cap.allows(&Access::ProvideService(&s.name))),
            ),
            CapabilityKind::EventsPublish => Some(
                m.provides
                    .topics
                    .iter()
                    .any(|t| cap.allows(&Access::Publish(&t.name))),
            ),
            CapabilityKind::ConfigRead => Some(m.config.is_some()),
            _ => None,
        };
        if declared_use == Some(false) {
            unusable.push(text.clone());
        }
    }
    let mut found = Vec::new();
    if !broad.is_empty() {
        found.push(format!("broad: {}", broad.join(", ")));
    }
    if !unusable.is_empty() {
        found.push(format!(
            "requested but unusable by what the manifest declares: {}",
            unusable.join(", ")
        ));
    }
    if !unparsed.is_empty() {
        found.push(format!("not capabilities: {}", unparsed.join(", ")));
    }
    if found.is_empty() {
        let n = m.capabilities.len();
        return (
            Verdict::Passed,
            format!("{n} capability request(s), each scoped and usable as declared"),
        );
    }
    (Verdict::Flagged, found.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(caps: &[&str], extra: &str) -> Manifest {
        let text = format!(
            "name = \"x\"\nversion = \"1.0.0\"\ncapabilities = [{}]\n{extra}",
            caps.iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Manifest::parse(&text, switchboard_sdk::manifest::Format::Toml).unwrap()
    }

    #[test]
    fn broad_and_unusable_capabilities_are_flagged_and_scoped_ones_pass() {
        let (v, d) = capabilities(&manifest(&["kv", "fs.read:/data/**"], ""));
        assert_eq!(v, Verdict::Passed, "{d}");
        for broad in [
            "fs.read:/**",
            "fs.write",
            "net.connect",
            "env:*",
            "process.spawn",
        ] {
            let (v, d) = capabilities(&manifest(&[broad], ""));
            assert_eq!(v, Verdict::Flagged, "{broad}: {d}");
            assert!(d.contains("broad"), "{d}");
        }
        let (v, d) = capabilities(&manifest(&["service.provide:billing", "config.read"], ""));
        assert_eq!(v, Verdict::Flagged);
        assert!(
            d.contains("service.provide:billing") && d.contains("config.read"),
            "{d}"
        );
        let (v, d) = capabilities(&manifest(
            &["service.provide:billing", "config.read"],
            "[provides]\nservices = [{ name = \"billing\", contract = \"bytes\" }]\n\
             [config]\ndefaults = { a = 1 }\n",
        ));
        assert_eq!(v, Verdict::Passed, "{d}");
    }
}
