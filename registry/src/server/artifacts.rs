//! Where the server keeps bytes: uploads while they are checked or held for review, and the
//! listed packages it serves under `/index/packages/` — behind [`Artifacts`], with the data
//! directory ([`ArtifactDir`]) as the default and, so far, the only store.
//!
//! The checks read a staged upload from a local path (the host's package verification works
//! on files), and the registry's own publish writes a listed package into the registry
//! directory, content-addressed (`registry/packages/SHA256.sbpkg`), under the registry's lock.
//! An S3-compatible store is the documented next step (`docs/registry.md`): it would keep the
//! staged uploads and the listed packages in a bucket, stage to a local temporary file for
//! the checks, and serve (or redirect to) the bucket's object for `/index/packages/`.

use std::path::{Path, PathBuf};

use crate::error::ServerError;

/// Stores the bytes of uploads and listed packages.
pub trait Artifacts: Send + Sync + std::fmt::Debug {
    /// Stores upload `upload`'s package (as `file_name`) and its `.minisig`; returns the local
    /// path of the package, which the checks read.
    fn stage(
        &self,
        upload: &str,
        file_name: &str,
        package: &[u8],
        signature: &[u8],
    ) -> Result<PathBuf, ServerError>;
    /// The local path of staged upload `upload`'s package `file_name`, and its `.minisig`'s
    /// text (a held upload, released by an admin).
    fn staged(&self, upload: &str, file_name: &str) -> Result<(PathBuf, String), ServerError>;
    /// Deletes staged upload `upload` (listed, failed or rejected). Deleting what is gone is
    /// no error.
    fn discard(&self, upload: &str);
    /// The bytes of the listed package whose sha256 is `sha256` (hex), as
    /// `/index/packages/SHA256.sbpkg` serves them.
    fn package(&self, sha256: &str) -> Result<Vec<u8>, ServerError>;
}

/// The default: the data directory (`uploads/ID/`, and the registry directory's
/// `packages/`).
#[derive(Debug, Clone)]
pub struct ArtifactDir {
    uploads: PathBuf,
    registry: PathBuf,
}

impl ArtifactDir {
    /// Uploads under `uploads`, packages in the registry directory `registry`.
    pub fn new(uploads: &Path, registry: &Path) -> ArtifactDir {
        ArtifactDir {
            uploads: uploads.to_owned(),
            registry: registry.to_owned(),
        }
    }

    fn dir(&self, upload: &str) -> PathBuf {
        self.uploads.join(upload)
    }
}

impl Artifacts for ArtifactDir {
    fn stage(
        &self,
        upload: &str,
        file_name: &str,
        package: &[u8],
        signature: &[u8],
    ) -> Result<PathBuf, ServerError> {
        let internal = |e: std::io::Error| ServerError::Internal {
            reason: format!("storing the upload: {e}"),
        };
        let dir = self.dir(upload);
        std::fs::create_dir_all(&dir).map_err(internal)?;
        let path = dir.join(file_name);
        std::fs::write(&path, package).map_err(internal)?;
        std::fs::write(dir.join(format!("{file_name}.minisig")), signature).map_err(internal)?;
        Ok(path)
    }

    fn staged(&self, upload: &str, file_name: &str) -> Result<(PathBuf, String), ServerError> {
        let dir = self.dir(upload);
        let signature =
            std::fs::read_to_string(dir.join(format!("{file_name}.minisig"))).map_err(|e| {
                ServerError::Internal {
                    reason: format!("the held upload {upload} lost its files: {e}"),
                }
            })?;
        Ok((dir.join(file_name), signature))
    }

    fn discard(&self, upload: &str) {
        let _ = std::fs::remove_dir_all(self.dir(upload));
    }

    fn package(&self, sha256: &str) -> Result<Vec<u8>, ServerError> {
        super::files::read(&self.registry, &format!("packages/{sha256}.sbpkg"))
    }
}
