//! A registry in a local directory.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::{CacheTag, Fetched, Transport};
use crate::error::FetchError;
use crate::RegistryError;

/// Reads a registry from a directory (as `switchboard registry init` makes one).
///
/// Paths are checked as strings first (relative, no `..`), then resolved: a symbolic link
/// that leads out of the directory, and anything but a regular file, is refused. The tag of a
/// file is its length and modification time, so an unchanged file is answered
/// [`Fetched::NotModified`] without reading it.
#[derive(Debug, Clone)]
pub struct DirTransport {
    root: PathBuf,
    location: String,
}

impl DirTransport {
    /// A transport over the directory `root`, which must exist.
    pub fn new(root: impl AsRef<Path>) -> Result<Self, RegistryError> {
        let given = root.as_ref();
        let root = given.canonicalize().map_err(|e| FetchError::Io {
            registry: given.display().to_string(),
            path: ".".into(),
            reason: e.to_string(),
        })?;
        if !root.is_dir() {
            return Err(FetchError::NotRegular {
                registry: given.display().to_string(),
                path: ".".into(),
            }
            .into());
        }
        Ok(DirTransport {
            location: root.display().to_string(),
            root,
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Opens `path` as a regular file beneath the root, with its length and tag.
    fn open(&self, path: &str) -> Result<(File, u64, CacheTag), RegistryError> {
        let registry = || self.location.clone();
        crate::format::check_relative(path).map_err(|reason| FetchError::OutsideRegistry {
            registry: registry(),
            path: path.to_owned(),
            reason,
        })?;
        let io = |e: std::io::Error| -> RegistryError {
            if e.kind() == std::io::ErrorKind::NotFound {
                FetchError::NotFound {
                    registry: registry(),
                    path: path.to_owned(),
                }
                .into()
            } else {
                FetchError::Io {
                    registry: registry(),
                    path: path.to_owned(),
                    reason: e.to_string(),
                }
                .into()
            }
        };
        let resolved = self.root.join(path).canonicalize().map_err(io)?;
        if !resolved.starts_with(&self.root) {
            return Err(FetchError::OutsideRegistry {
                registry: registry(),
                path: path.to_owned(),
                reason: "a symbolic link leads out of the registry".into(),
            }
            .into());
        }
        let not_regular = || -> RegistryError {
            FetchError::NotRegular {
                registry: registry(),
                path: path.to_owned(),
            }
            .into()
        };
        // Checked before opening: opening a FIFO would wait for a writer.
        if !std::fs::metadata(&resolved).map_err(io)?.is_file() {
            return Err(not_regular());
        }
        let file = File::open(&resolved).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(not_regular());
        }
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let tag = CacheTag(format!("{}-{mtime}", meta.len()));
        Ok((file, meta.len(), tag))
    }

    fn too_large(&self, path: &str, limit: u64) -> RegistryError {
        FetchError::TooLarge {
            registry: self.location.clone(),
            path: path.to_owned(),
            limit,
        }
        .into()
    }

    fn io(&self, path: &str, e: &std::io::Error) -> RegistryError {
        FetchError::Io {
            registry: self.location.clone(),
            path: path.to_owned(),
            reason: e.to_string(),
        }
        .into()
    }
}

impl Transport for DirTransport {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn fetch(
        &self,
        path: &str,
        max_len: u64,
        cached: Option<&CacheTag>,
    ) -> Result<Fetched, RegistryError> {
        let (file, len, tag) = self.open(path)?;
        if cached == Some(&tag) {
            return Ok(Fetched::NotModified);
        }
        if len > max_len {
            return Err(self.too_large(path, max_len));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        // The file may grow after the length was read: never read past the cap.
        file.take(max_len + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.io(path, &e))?;
        if bytes.len() as u64 > max_len {
            return Err(self.too_large(path, max_len));
        }
        Ok(Fetched::Body {
            bytes,
            tag: Some(tag),
        })
    }

    fn fetch_to(
        &self,
        path: &str,
        max_len: u64,
        dest: &mut dyn Write,
        progress: &mut dyn FnMut(u64, Option<u64>),
    ) -> Result<u64, RegistryError> {
        let (file, len, _) = self.open(path)?;
        if len > max_len {
            return Err(self.too_large(path, max_len));
        }
        let mut reader = file.take(max_len + 1);
        let mut buf = vec![0u8; 64 << 10];
        let mut done = 0u64;
        progress(0, Some(len));
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io(path, &e)),
            };
            done += n as u64;
            if done > max_len {
                return Err(self.too_large(path, max_len));
            }
            dest.write_all(&buf[..n]).map_err(|e| self.io(path, &e))?;
            progress(done, Some(len));
        }
        Ok(done)
    }
}
