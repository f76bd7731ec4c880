//! Packages: `NAME-VERSION.sbpkg`, a deterministic zstd-compressed tar holding `plugin.toml`,
//! `lib/<target-triple>/<library>`, `README.md`, `CHANGELOG.md` and `LICENSE`; the manifest
//! pins the sha256 of every other file; a minisign signature (`PACKAGE.minisig`) covers the
//! manifest, and its trusted comment binds name, version and manifest hash (ARCHITECTURE D8).
//!
//! [`verify`] runs the checks of ARCHITECTURE D3 that come before loading, on bytes in memory:
//! sizes (package, each entry, manifest) → unpack defensively, refusing trailing data →
//! signature over the manifest's bytes → trusted comment (which binds their hash) → only then
//! parse the manifest, and check it names the release the signature binds → every file
//! pinned, present and matching → a library for this target. The host then checks policy,
//! compatibility and the embedded manifest, and opens the library's verified bytes.
//!
//! # Example
//!
//! ```
//! use std::collections::BTreeMap;
//! use switchboard_host::package::{build, verify, TrustStore, UnpackLimits};
//! use switchboard_host::Manifest;
//! use switchboard_sdk::manifest::Format;
//!
//! let manifest = Manifest::parse("name = \"demo\"\nversion = \"1.0.0\"\n", Format::Toml).unwrap();
//! let mut files = BTreeMap::new();
//! files.insert("lib/x86_64-unknown-linux-gnu/libdemo.so".to_string(), b"\x7fELF...".to_vec());
//! files.insert("README.md".to_string(), b"# demo".to_vec());
//! let package = build(&manifest, &files).unwrap();
//! assert_eq!(package.file_name, "demo-1.0.0.sbpkg");
//! assert_eq!(build(&manifest, &files).unwrap().bytes, package.bytes, "reproducible");
//!
//! let checked = verify(&package.bytes, None, None, &TrustStore::new(), "x86_64-unknown-linux-gnu", &UnpackLimits::default()).unwrap();
//! assert_eq!(checked.trust.as_str(), "unsigned");
//! ```

mod archive;
mod error;
mod signature;
mod trust;

use std::collections::BTreeMap;

use serde::Serialize;
use switchboard_sdk::manifest::{Diagnostic, Format, Manifest, MANIFEST_FILE};

pub use self::archive::UnpackLimits;
pub use self::error::PackageError;
pub use self::signature::{
    certification_comment, key_id_of_public_key, release_comment, sha256_hex, PUBLIC_KEY_MARK,
};
pub use self::trust::{TrustLevel, TrustLevelError, TrustStore};

/// The files a package may hold besides `plugin.toml` and `lib/<target>/<library>`: documents,
/// and the `Cargo.lock` the library was built with (a registry's certification looks its
/// crates up in an advisory database; hosts never read it).
pub const DOCUMENT_FILES: &[&str] = &["README.md", "CHANGELOG.md", "LICENSE", "Cargo.lock"];
/// The file extension of packages.
pub const EXTENSION: &str = "sbpkg";

/// A package built in memory.
#[derive(Debug, Clone)]
pub struct BuiltPackage {
    /// `NAME-VERSION.sbpkg`.
    pub file_name: String,
    /// The package bytes.
    pub bytes: Vec<u8>,
    /// The pinned manifest, exactly as stored (what a signature covers).
    pub manifest_bytes: Vec<u8>,
}

/// Builds a package from a manifest and its other files (path in the package → bytes). The
/// manifest is written with a `[files]` table pinning every file's sha256; equal inputs give
/// byte-identical packages.
pub fn build(
    manifest: &Manifest,
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<BuiltPackage, PackageError> {
    for path in files.keys() {
        expected_path(path)?;
    }
    let mut pinned = manifest.clone();
    pinned.files = files
        .iter()
        .map(|(p, b)| (p.clone(), sha256_hex(b)))
        .collect();
    let text = pinned
        .to_toml_string()
        .map_err(|reason| PackageError::InvalidManifest { summary: reason })?;
    let mut all = files.clone();
    all.insert(MANIFEST_FILE.to_owned(), text.clone().into_bytes());
    Ok(BuiltPackage {
        file_name: format!("{}-{}.{EXTENSION}", manifest.name, manifest.version),
        bytes: archive::write(&all)?,
        manifest_bytes: text.into_bytes(),
    })
}

/// Writes exactly these files as a package archive — deterministic tar, zstd — without pinning
/// or checking anything. [`build`] is what authors want; this is for tools and tests.
pub fn write_archive(files: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, PackageError> {
    archive::write(files)
}

/// Unpacks a package archive into memory with the defensive checks and `limits`, without
/// verifying signatures or hashes.
pub fn unpack(
    package: &[u8],
    limits: &UnpackLimits,
) -> Result<BTreeMap<String, Vec<u8>>, PackageError> {
    archive::read(package, limits)
}

/// Whether `path` is a file a package may contain.
fn expected_path(path: &str) -> Result<(), PackageError> {
    let ok = DOCUMENT_FILES.contains(&path)
        || path == MANIFEST_FILE
        || matches!(path.split('/').collect::<Vec<_>>().as_slice(), ["lib", triple, file] if !triple.is_empty() && !file.is_empty());
    if ok {
        Ok(())
    } else {
        Err(PackageError::UnexpectedFile {
            path: path.to_owned(),
        })
    }
}

/// Reads only a package's manifest: the exact bytes a signature covers, and the parsed
/// manifest. Checks nothing else but the caps in `limits` (use [`verify`] before trusting anything in the package).
pub fn read_manifest(
    package: &[u8],
    limits: &UnpackLimits,
) -> Result<(Vec<u8>, Manifest), PackageError> {
    let mut files = archive::read(package, limits)?;
    let bytes = files
        .remove(MANIFEST_FILE)
        .ok_or(PackageError::NoManifest)?;
    let text = String::from_utf8(bytes.clone()).map_err(|_| PackageError::InvalidManifest {
        summary: "plugin.toml is not UTF-8".into(),
    })?;
    let manifest =
        Manifest::parse(&text, Format::Toml).map_err(|d| PackageError::InvalidManifest {
            summary: Diagnostic::summary(&d),
        })?;
    Ok((bytes, manifest))
}

/// One file's check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileCheck {
    /// The path in the package.
    pub path: String,
    /// The sha256 the manifest pins (empty if unpinned).
    pub expected: String,
    /// The file's sha256 (empty if missing).
    pub actual: String,
    /// Whether they match.
    pub ok: bool,
}

/// A package whose signature, manifest and files checked out.
#[derive(Debug, Clone)]
pub struct VerifiedPackage {
    /// The manifest.
    pub manifest: Manifest,
    /// The manifest bytes the signature covers.
    pub manifest_bytes: Vec<u8>,
    /// The trust level its signatures earn with this trust store.
    pub trust: TrustLevel,
    /// The signer's key id, if signed.
    pub signer: Option<String>,
    /// The registry key that certified it, if any.
    pub certified_by: Option<String>,
    /// Every file and its hash check.
    pub files: Vec<FileCheck>,
    /// The path of the library for this target.
    pub library_path: String,
    /// The library's verified bytes: what gets loaded. (Moved out, and so empty, once the
    /// host has taken them to load.)
    pub library: Vec<u8>,
}

/// Verifies a package in memory. `signature` is the text of `PACKAGE.minisig`, `countersignature`
/// that of a registry's certification; `target` the host's target triple.
pub fn verify(
    package: &[u8],
    signature: Option<&str>,
    countersignature: Option<&str>,
    store: &TrustStore,
    target: &str,
    limits: &UnpackLimits,
) -> Result<VerifiedPackage, PackageError> {
    if package.len() as u64 > limits.max_package_bytes {
        return Err(PackageError::FileTooLarge {
            path: "the package".into(),
            limit: limits.max_package_bytes,
        });
    }
    // Every file is hashed as it is decompressed; the hashes are compared below, in their
    // place in the order of checks.
    let mut files = archive::read_hashed(package, limits)?;
    let manifest_bytes = files
        .remove(MANIFEST_FILE)
        .ok_or(PackageError::NoManifest)?
        .bytes;
    // Size, then trust, then parsing: the archive reader capped the manifest's size, and a
    // signature is checked over the manifest's bytes before anything parses them.
    let (trust, signer, bound, certified_by) = match signature {
        None => (TrustLevel::Unsigned, None, None, None),
        Some(sig) => {
            let signed = signature::verify_release(sig, &manifest_bytes, store)?;
            let certified = match countersignature {
                Some(c) => Some(signature::verify_certification(
                    c,
                    sig.as_bytes(),
                    &signed.name,
                    &signed.version,
                    store,
                )?),
                None => None,
            };
            let level = if certified.is_some() {
                TrustLevel::Certified
            } else if signed.signer.trusted {
                TrustLevel::Verified
            } else {
                TrustLevel::SelfSigned
            };
            (
                level,
                Some(signed.signer.key_id),
                Some((signed.name, signed.version)),
                certified,
            )
        }
    };
    let manifest_text =
        std::str::from_utf8(&manifest_bytes).map_err(|_| PackageError::InvalidManifest {
            summary: "plugin.toml is not UTF-8".into(),
        })?;
    let manifest = Manifest::parse(manifest_text, Format::Toml).map_err(|errors| {
        PackageError::InvalidManifest {
            summary: Diagnostic::summary(&errors),
        }
    })?;
    if let Some((name, version)) = bound {
        if manifest.name != name || manifest.version != version {
            return Err(PackageError::Replayed {
                reason: format!(
                    "the signature is for `{name}-{version}`; this package is `{}-{}`",
                    manifest.name, manifest.version
                ),
            });
        }
    }

    for path in files.keys() {
        expected_path(path)?;
        if !manifest.files.contains_key(path) {
            return Err(PackageError::Unpinned { path: path.clone() });
        }
    }
    let mut checks = Vec::new();
    for (path, expected) in &manifest.files {
        let Some(file) = files.get(path) else {
            return Err(PackageError::MissingFile { path: path.clone() });
        };
        let actual = hex::encode(file.sha256);
        if &actual != expected {
            return Err(PackageError::HashMismatch {
                path: path.clone(),
                expected: expected.clone(),
                found: actual,
            });
        }
        checks.push(FileCheck {
            path: path.clone(),
            expected: expected.clone(),
            actual,
            ok: true,
        });
    }
    let prefix = format!("lib/{target}/");
    let library_path = files
        .keys()
        .find(|p| p.starts_with(&prefix))
        .cloned()
        .ok_or_else(|| PackageError::NoLibrary {
            target: target.to_owned(),
            available: files
                .keys()
                .filter_map(|p| p.strip_prefix("lib/").and_then(|r| r.split('/').next()))
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let library = files
        .remove(&library_path)
        .map(|file| file.bytes)
        .unwrap_or_default();
    Ok(VerifiedPackage {
        manifest,
        manifest_bytes,
        trust,
        signer,
        certified_by,
        files: checks,
        library_path,
        library,
    })
}
