//! Verifying a package file: every check a load makes before plugin code runs, in the order
//! of ARCHITECTURE D3 — sizes, signature over the manifest's bytes, the manifest, file hashes,
//! policy, compatibility with the host, the library's own section (name, SDK ABI) against the
//! package manifest. [`Host::verify_package`](crate::Host::verify_package) adds what the host
//! has recorded (the data's owner, the version); tools without a host call
//! [`verify_package_file`].

use std::path::{Path, PathBuf};

use switchboard_sdk::manifest::{Diagnostic, Manifest};
use switchboard_sdk::ErrorCode;

use crate::compat::{check_embedded, check_manifest, current_target, HostProfile};
use crate::error::{Error, LoadError};
use crate::loader;
use crate::package::{self, PackageError, TrustStore, UnpackLimits, VerifiedPackage};

/// The largest signature or certification file read beside a package.
pub(crate) const MAX_SIDECAR_BYTES: u64 = 64 << 10;

/// A package that passed every check that needs no plugin code; load it with
/// [`Host::load_verified`](crate::Host::load_verified).
#[derive(Debug, Clone)]
pub struct VerifiedPlugin {
    pub(crate) source: PathBuf,
    pub(crate) package: VerifiedPackage,
    pub(crate) checked: loader::Checked,
    pub(crate) warnings: Vec<Diagnostic>,
}

impl VerifiedPlugin {
    /// What verification found: manifest, trust level, signer, file checks.
    pub fn package(&self) -> &VerifiedPackage {
        &self.package
    }

    /// Settings of the package's manifest (and, from a host, its policy) that this host does
    /// not apply (`SB1120`, `SB1121`, see [`not_applied`](crate::not_applied)), to show before
    /// loading; the load reports them again on its
    /// [`PluginHandle::warnings`](crate::PluginHandle::warnings).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The package file it was read from.
    pub fn source(&self) -> &Path {
        &self.source
    }
}

/// Verifies the package at `path` without a host: size caps, signature (`PATH.minisig`,
/// trust levels from `trust`), certification (`PATH.cert`), manifest, file hashes, the library
/// for this platform, its embedded section (name, SDK ABI) against the package manifest, and —
/// when `host` is given — the host API the package requires. Policy and what a host has
/// recorded are a host's to check ([`Host::verify_package`](crate::Host::verify_package)).
/// Unsigned packages verify as [`TrustLevel::Unsigned`](crate::TrustLevel).
pub fn verify_package_file(
    path: &Path,
    trust: &TrustStore,
    limits: &UnpackLimits,
    host: Option<&HostProfile>,
) -> Result<VerifiedPlugin, Error> {
    verify(path, trust, limits, host, &|_| Ok(()))
}

/// [`verify_package_file`], with `admit` (the host's policy) run once the signature and
/// manifest hold and before the library is examined.
pub(crate) fn verify(
    path: &Path,
    trust: &TrustStore,
    limits: &UnpackLimits,
    host: Option<&HostProfile>,
    admit: &dyn Fn(&VerifiedPackage) -> Result<(), Error>,
) -> Result<VerifiedPlugin, Error> {
    let bytes = read(path, limits.max_package_bytes)?;
    let sidecar = |ext: &str| -> Result<Option<String>, Error> {
        let mut p = path.as_os_str().to_owned();
        p.push(ext);
        let p = PathBuf::from(p);
        if !p.exists() {
            return Ok(None);
        }
        let b = read(&p, MAX_SIDECAR_BYTES)?;
        Ok(Some(String::from_utf8_lossy(&b).into_owned()))
    };
    let signature = sidecar(".minisig")?;
    let certification = sidecar(".cert")?;
    let mut verified = package::verify(
        &bytes,
        signature.as_deref(),
        certification.as_deref(),
        trust,
        current_target(),
        limits,
    )?;
    drop(bytes);
    let m = &verified.manifest;
    if let Some(e) = misnamed(path, m) {
        return Err(e.into());
    }
    admit(&verified)?;
    let m = &verified.manifest;
    if let Some(profile) = host {
        if let Some(d) = check_manifest(m, profile).iter().find(|d| d.is_error()) {
            return Err(incompatible(&m.name, d).into());
        }
    }
    let library_name = path.join(&verified.library_path);
    let checked = loader::check_bytes(&library_name, std::mem::take(&mut verified.library))?;
    let m = &verified.manifest;
    if let Some(d) = check_embedded(m, checked.manifest()).first() {
        return Err(incompatible(&m.name, d).into());
    }
    let warnings = crate::not_applied(&verified.manifest);
    Ok(VerifiedPlugin {
        source: path.to_owned(),
        package: verified,
        checked,
        warnings,
    })
}

/// A package file named for one release must hold that release: a validly signed older
/// release renamed to a newer one is a downgrade (`SB1205`). `None` when the name agrees, or
/// the file is not named `*.sbpkg`.
pub(crate) fn misnamed(path: &Path, m: &Manifest) -> Option<PackageError> {
    let stem = path
        .file_name()
        .and_then(|f| f.to_str())
        .and_then(|f| f.strip_suffix(&format!(".{}", package::EXTENSION)))?;
    let expected = format!("{}-{}", m.name, m.version);
    (stem != expected).then(|| PackageError::Replayed {
        reason: format!("the file is named `{stem}` but holds `{expected}`"),
    })
}

/// A compatibility finding as a load error.
pub(crate) fn incompatible(plugin: &str, d: &Diagnostic) -> LoadError {
    LoadError::Incompatible {
        plugin: plugin.to_owned(),
        code: ErrorCode::from_number(d.code.trim_start_matches("SB").parse().unwrap_or(1100)),
        message: format!("{}: {}", d.field, d.message),
        next_step: d.next_step.clone(),
    }
}

/// Reads a file of at most `limit` bytes; a larger one is refused from its size.
pub(crate) fn read(path: &Path, limit: u64) -> Result<Vec<u8>, PackageError> {
    loader::read_bounded(path, limit)
        .map_err(|e| PackageError::Io {
            what: format!("reading {}", path.display()),
            reason: e.to_string(),
        })?
        .ok_or_else(|| PackageError::FileTooLarge {
            path: path.display().to_string(),
            limit,
        })
}
