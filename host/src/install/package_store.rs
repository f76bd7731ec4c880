//! The package store: every package a kept generation runs, content-addressed by sha256 in
//! `<data dir>/packages/`, beside its signature. Written by temp file, fsync and rename, so a
//! crash leaves either no file or the whole file, never a torn one.
//!
//! Files are named by their digest alone (`packages/<sha256>`, signature
//! `packages/<sha256>.minisig`), without the `.sbpkg` extension on purpose: the check that a
//! `NAME-VERSION.sbpkg` file holds that release (`SB1205`) guards files people rename; here
//! the generation records the name, version and sha256 of every package, and the installer
//! checks all three before a load, which is stronger than a file name.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use super::error::InstallError;
use super::journal::OperationId;
use super::source::{sha256_file, with_suffix};

/// The sidecar files a package may have, moved and removed with it.
const SIDECARS: [&str; 2] = [".minisig", ".cert"];

/// The package store of one data directory.
#[derive(Debug, Clone)]
pub(crate) struct PackageStore {
    dir: PathBuf,
    staging: PathBuf,
}

fn io(what: &'static str, path: &Path, e: std::io::Error) -> InstallError {
    InstallError::Io {
        what,
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

impl PackageStore {
    pub fn new(data_dir: &Path) -> Self {
        PackageStore {
            dir: data_dir.join("packages"),
            staging: data_dir.join("install-staging"),
        }
    }

    /// Where the package with digest `hex` lives.
    pub fn path(&self, hex: &str) -> PathBuf {
        self.dir.join(hex)
    }

    /// Whether the store holds a package with digest `hex` (by name; [`check`](Self::check)
    /// hashes it).
    pub fn contains(&self, hex: &str) -> bool {
        self.path(hex).is_file()
    }

    /// A fresh directory for an operation's downloads.
    pub fn staging_dir(&self, op: &OperationId) -> Result<PathBuf, InstallError> {
        let d = self.staging.join(op.as_str());
        std::fs::create_dir_all(&d).map_err(|e| io("create", &d, e))?;
        Ok(d)
    }

    /// Removes an operation's staging directory (idempotent).
    pub fn clear_staging(&self, op: &OperationId) {
        let d = self.staging.join(op.as_str());
        if let Err(e) = std::fs::remove_dir_all(&d) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(target: "switchboard::install", "cannot remove {}: {e}", d.display());
            }
        }
    }

    /// Moves a staged package (and its sidecars) into the store under its digest; returns
    /// the digest. A package already stored is kept (same digest, same bytes).
    #[cfg(test)]
    pub fn put(&self, staged: &Path) -> Result<String, InstallError> {
        let hex = sha256_file(staged).map_err(|e| io("read", staged, e))?;
        self.put_hashed(staged, &hex)?;
        Ok(hex)
    }

    /// [`put`](Self::put) for a staged file whose digest the caller just computed (and the
    /// file is the installer's own, in its staging directory).
    pub fn put_hashed(&self, staged: &Path, hex: &str) -> Result<(), InstallError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| io("create", &self.dir, e))?;
        let dest = self.path(hex);
        // Sidecars first: a stored package always has the signature it arrived with.
        for ext in SIDECARS {
            let from = with_suffix(staged, ext);
            let to = with_suffix(&dest, ext);
            if from.is_file() {
                sync_file(&from)?;
                std::fs::rename(&from, &to).map_err(|e| io("store", &to, e))?;
            }
        }
        if !dest.is_file() {
            sync_file(staged)?;
            std::fs::rename(staged, &dest).map_err(|e| io("store", &dest, e))?;
        }
        sync_dir(&self.dir)
    }

    /// Hashes the stored package `hex`; refuses one whose bytes changed.
    pub fn check(&self, name: &str, version: &str, hex: &str) -> Result<PathBuf, InstallError> {
        let p = self.path(hex);
        let found = sha256_file(&p).map_err(|e| io("read", &p, e))?;
        if found != hex {
            return Err(InstallError::ChecksumMismatch {
                name: name.to_owned(),
                version: version.to_owned(),
                expected: format!("sha256:{hex}"),
                found: format!("sha256:{found}"),
            });
        }
        Ok(p)
    }

    /// Every stored digest.
    pub fn digests(&self) -> Result<Vec<String>, InstallError> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io("list", &self.dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io("list", &self.dir, e))?;
            if let Some(name) = entry.file_name().to_str() {
                if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                    out.push(name.to_owned());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes every stored package not in `keep`, and staging directories of operations
    /// not in `running`. Returns the digests removed.
    pub fn collect(
        &self,
        keep: &BTreeSet<String>,
        running: &[OperationId],
    ) -> Result<Vec<String>, InstallError> {
        let mut removed = Vec::new();
        for hex in self.digests()? {
            if keep.contains(&hex) {
                continue;
            }
            let p = self.path(&hex);
            std::fs::remove_file(&p).map_err(|e| io("remove", &p, e))?;
            for ext in SIDECARS {
                let _ = std::fs::remove_file(with_suffix(&p, ext));
            }
            removed.push(hex);
        }
        // A sidecar whose package never arrived (a crash between the two renames of `put`).
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                let base = SIDECARS
                    .iter()
                    .find_map(|ext| name.strip_suffix(ext))
                    .or_else(|| name.strip_suffix(".tmp"));
                if let Some(base) = base {
                    if !keep.contains(base) && !self.path(base).is_file() {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
            }
        }
        if let Ok(entries) = std::fs::read_dir(&self.staging) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let live = running.iter().any(|op| name.to_str() == Some(op.as_str()));
                if !live {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        Ok(removed)
    }
}

fn sync_file(path: &Path) -> Result<(), InstallError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("sync", path, e))
}

/// Makes a rename inside `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), InstallError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|f| f.sync_all())
            .map_err(|e| io("sync", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes `bytes` to `path` atomically: a temp file beside it, fsync, rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), InstallError> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io("create", dir, e))?;
    let tmp = with_suffix(path, ".tmp");
    // Whatever a crash (or anyone) left at the temporary name goes first, and the file is
    // created new: opening a FIFO left there would wait for a reader for ever.
    let _ = std::fs::remove_file(&tmp);
    let written = (|| {
        let mut f = File::options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| io("write", &tmp, e))?;
        f.write_all(bytes).map_err(|e| io("write", &tmp, e))?;
        f.sync_all().map_err(|e| io("sync", &tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| io("write", path, e))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    sync_dir(dir)
}
