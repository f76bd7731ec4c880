//! The client's local cache: verified copies of a registry's files and their revalidation
//! tags, each written to a temporary file and renamed into place.
//!
//! Files the snapshot pins (index files, `config.json`) are cached without an fsync
//! ([`Cache::write_pinned`]): every read checks the cached copy against the signed snapshot,
//! and one that a crash left empty or stale fails that check and is fetched again. A sync per
//! file bought nothing and made the first listing of a large registry (10,000 index files)
//! take 10–28 s. The rename stays, so a reader never sees half of a file. The timestamp and
//! snapshot (revalidated by tag, two files a refresh), the registry's own files (`publish/`)
//! and downloaded packages are still written durably by [`write_atomic`].

use std::io::Read;
use std::path::{Path, PathBuf};

use super::ClientError;
use crate::transport::CacheTag;
use crate::RegistryError;

/// A directory of verified registry files, by their path in the registry.
#[derive(Debug, Clone)]
pub(crate) struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Cache { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// The cached bytes of `rel`, if any, at most `limit` bytes and only a regular file.
    /// A missing, oversized or unreadable copy is no copy: it is fetched again.
    pub(crate) fn read(&self, rel: &str, limit: u64) -> Option<Vec<u8>> {
        let path = self.path(rel);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > limit {
            return None;
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        std::fs::File::open(&path)
            .ok()?
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .ok()?;
        (bytes.len() as u64 <= limit).then_some(bytes)
    }

    /// The tag kept with `rel`'s cached copy.
    pub(crate) fn tag(&self, rel: &str) -> Option<CacheTag> {
        let bytes = self.read(&format!("{rel}.etag"), 1024)?;
        String::from_utf8(bytes).ok().map(CacheTag)
    }

    /// Stores verified `bytes` as `rel`, and its tag (or removes a stale one).
    pub(crate) fn write(
        &self,
        rel: &str,
        bytes: &[u8],
        tag: Option<&CacheTag>,
    ) -> Result<(), RegistryError> {
        write_atomic(&self.path(rel), bytes)?;
        let tag_path = self.path(&format!("{rel}.etag"));
        match tag {
            Some(t) => write_atomic(&tag_path, t.0.as_bytes())?,
            None => {
                let _ = std::fs::remove_file(tag_path);
            }
        }
        Ok(())
    }

    /// Stores `bytes` as `rel` without an fsync: for a file the snapshot pins, whose cached
    /// copy is checked against the pin on every read (so a copy a crash damaged is fetched
    /// again). Any stale tag is removed: pinned files are fetched without one.
    pub(crate) fn write_pinned(&self, rel: &str, bytes: &[u8]) -> Result<(), RegistryError> {
        write_cached(&self.path(rel), bytes)?;
        let _ = std::fs::remove_file(self.path(&format!("{rel}.etag")));
        Ok(())
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory, fsync and a
/// rename, so a reader sees the old file or the new one, never half of one, and the new one
/// survives a crash once this returns. For the registry's own files and downloads.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    write_file(path, bytes, true)
}

/// [`write_atomic`] without the fsync, for the cache: a reader still sees the old file or
/// the new one, but a crash may leave an older, empty or missing copy, which the next read
/// finds does not match the signed snapshot and fetches again.
pub(crate) fn write_cached(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    write_file(path, bytes, false)
}

fn write_file(path: &Path, bytes: &[u8], durable: bool) -> Result<(), RegistryError> {
    let local = |e: std::io::Error| -> RegistryError {
        ClientError::Local {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
        .into()
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(local)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(local)?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(local)?;
    // Registry files are public (served as they are); temporary files start owner-only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(local)?;
    }
    if durable {
        tmp.as_file().sync_all().map_err(local)?;
    }
    tmp.persist(path).map_err(|e| local(e.error))?;
    Ok(())
}
