//! The checks an upload passes before it is listed — the validation a host runs, each
//! recorded on its own, in this order: `size` (the server's cap), `package` (the host's
//! [`verify_package_file`]: size caps, archive hygiene, signature, pins, manifest, the library
//! for this platform), `preflight` (the host's preflight findings), `signed` (a signature a
//! host accepts; registries list signed packages only), `signer` (the signing key is bound to
//! the uploading account) and `name` (registry name rules; not confusable with a listed name).
//! The upload is answered with the first failure's code.
//!
//! Every check runs, whatever the others found, so the record shows them all. A check that
//! panics or cannot run is `errored` and keeps the upload unlisted, like a failure.
//!
//! [`verify_package_file`]: switchboard_host::verify_package_file

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use switchboard_host::package::{TrustStore, UnpackLimits};
use switchboard_host::TrustLevel;

use super::accounts::{self, BoundKey};
use super::catalog::Catalog;
use super::store::Database;
use super::uploads::{CheckResult, Outcome};
use crate::error::{PublishError, ServerError};
use crate::format::{canonical_name, validate_name, FormatError};
use crate::RegistryError;

/// What the checks look at.
#[derive(Debug)]
pub struct Staged<'a> {
    /// The stored package (named `NAME-VERSION.sbpkg`, its `.minisig` beside it).
    pub package: &'a Path,
    /// The name the upload was sent as (`NAME-VERSION.sbpkg`), for messages.
    pub file_name: &'a str,
    /// The name and version the file name gives.
    pub name: &'a str,
    /// The version.
    pub version: &'a str,
    /// The `.minisig`'s text.
    pub signature: &'a str,
    /// Its size and the server's cap.
    pub size: u64,
    /// The cap.
    pub limit: u64,
    /// Accounts whose bound keys may sign it (the uploader's; for an admin, also the name's
    /// owners').
    pub signers: Vec<String>,
    /// The registry's key directory (its vouched-for publisher keys).
    pub registry_keys: &'a Path,
}

/// What the checks found.
#[derive(Debug, Default)]
pub struct Findings {
    /// Every check's result, in order.
    pub results: Vec<CheckResult>,
    /// The first failure's error (what the upload is answered with).
    pub refusal: Option<RegistryError>,
    /// The bound key that signed it.
    pub key: Option<BoundKey>,
}

enum Failure {
    Failed(RegistryError),
    Errored(String),
}

impl<E: Into<RegistryError>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Failed(e.into())
    }
}

/// Runs `check` as `name`, recording its result; a panic is an error, not a pass.
fn run(
    findings: &mut Findings,
    name: &str,
    upload: &str,
    check: impl FnOnce() -> Result<String, Failure>,
) -> bool {
    let outcome = catch_unwind(AssertUnwindSafe(check))
        .unwrap_or_else(|_| Err(Failure::Errored("the check panicked".into())));
    match outcome {
        Ok(message) => {
            findings
                .results
                .push(CheckResult::new(name, Outcome::Passed, None, message));
            true
        }
        Err(Failure::Failed(e)) => {
            findings.results.push(CheckResult::new(
                name,
                Outcome::Failed,
                Some(e.code().to_string()),
                e.message(),
            ));
            findings.refusal.get_or_insert(e);
            false
        }
        Err(Failure::Errored(reason)) => {
            let e = ServerError::CheckErrored {
                check: name.to_owned(),
                upload: upload.to_owned(),
                reason: reason.clone(),
            };
            findings.results.push(CheckResult::new(
                name,
                Outcome::Errored,
                Some(e.code().to_string()),
                reason,
            ));
            findings.refusal.get_or_insert(e.into());
            false
        }
    }
}

/// Runs every check on `staged` (blocking: reads the package, verifies it, runs preflight).
pub fn run_all(db: &Database, catalog: &Catalog, staged: &Staged<'_>, upload: &str) -> Findings {
    let mut f = Findings::default();
    run(&mut f, "size", upload, || {
        if staged.size == 0 || staged.size > staged.limit {
            return Err(ServerError::UploadTooLarge {
                limit: staged.limit,
            }
            .into());
        }
        Ok(format!("{} bytes (cap {})", staged.size, staged.limit))
    });

    // The bound key, if any, is looked up first: a release it signs verifies as `verified`.
    let key_id = accounts::key_id_of_signature(staged.signature);
    let lookup = key_id.as_ref().map(|id| accounts::key(db, id)).transpose();
    let key = match &lookup {
        Ok(found) => found
            .clone()
            .flatten()
            .filter(|k| staged.signers.contains(&k.account)),
        Err(_) => None,
    };
    f.key = key.clone();

    let refused = |code: String, message: &str| -> Failure {
        let staged_path = staged.package.display().to_string();
        PublishError::PackageRefused {
            package: staged.file_name.to_owned(),
            code,
            reason: message.replace(&staged_path, staged.file_name),
        }
        .into()
    };
    let trust = || -> Result<TrustStore, Failure> {
        let mut trust = crate::publish::trust_store(staged.registry_keys)
            .map_err(|e| Failure::Errored(e.message()))?;
        if let Some(k) = &key {
            trust
                .add_author(&k.public_key)
                .map_err(|e| Failure::Errored(e.to_string()))?;
        }
        Ok(trust)
    };

    let mut verified_trust = None;
    run(&mut f, "package", upload, || {
        let limits = UnpackLimits::default();
        let v = switchboard_host::verify_package_file(staged.package, &trust()?, &limits, None)
            .map_err(|e| refused(e.code().to_string(), &e.message()))?;
        let p = v.package();
        let m = &p.manifest;
        if m.name != staged.name || m.version != staged.version {
            return Err(refused(
                "SB1391".into(),
                &format!(
                    "the package holds {}@{}, its file name says {}@{}",
                    m.name, m.version, staged.name, staged.version
                ),
            ));
        }
        verified_trust = Some(p.trust);
        Ok(format!(
            "{}@{} verified as a host verifies it (archive, signature, pins, manifest, \
             library); trust {}",
            m.name, m.version, p.trust
        ))
    });

    run(&mut f, "preflight", upload, || {
        let trust = trust()?;
        let mut options = switchboard_host::PreflightOptions::new();
        options.trust(&trust);
        let report = switchboard_host::preflight_with(staged.package, &options);
        let diagnostics = report.diagnostics();
        if let Some(d) = diagnostics.iter().find(|d| d.is_error()) {
            return Err(refused(d.code.clone(), &d.message));
        }
        let warnings = diagnostics.len();
        Ok(format!(
            "no errors ({warnings} finding(s) that are not errors)"
        ))
    });

    run(&mut f, "signed", upload, || match verified_trust {
        Some(t) if t > TrustLevel::Unsigned => Ok(format!("signed ({t})")),
        Some(_) => Err(PublishError::Unsigned {
            package: staged.file_name.to_owned(),
        }
        .into()),
        None => Err(Failure::Errored(
            "cannot tell: the package did not verify".into(),
        )),
    });

    run(&mut f, "signer", upload, || {
        let key_id = key_id.clone().ok_or_else(|| ServerError::Malformed {
            reason: "the signature is not a minisign signature".into(),
        })?;
        let account = staged.signers.first().cloned().unwrap_or_default();
        if let Err(e) = &lookup {
            return Err(Failure::Errored(format!("looking the key up failed: {e}")));
        }
        match &key {
            Some(k) => Ok(format!(
                "signed by key {key_id}, bound to account `{}`",
                k.account
            )),
            None => Err(ServerError::UnboundKey { key_id, account }.into()),
        }
    });

    run(&mut f, "name", upload, || {
        validate_name(staged.name)?;
        let canonical = canonical_name(staged.name);
        if let Some(existing) = catalog
            .plugins
            .keys()
            .find(|n| *n != staged.name && canonical_name(n) == canonical)
        {
            return Err(FormatError::Confusable {
                name: staged.name.to_owned(),
                existing: existing.clone(),
            }
            .into());
        }
        Ok(format!("`{}` is a registry name of its own", staged.name))
    });
    f
}
