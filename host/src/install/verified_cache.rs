//! Packages this process verified from the package store, kept so that a rollback (or any
//! later activation of the same package) loads the very bytes that were verified without
//! unpacking and verifying the package again.
//!
//! An entry is the whole [`VerifiedPlugin`] — manifest, signer, trust level and the
//! library's verified bytes — keyed by the package's sha256 (its name in the store) and the
//! store file's [`FileStamp`] when it was verified. ARCHITECTURE D3 holds by construction:
//! what loads is the bytes verified, held in memory, sealed into a memfd by the loader. The
//! stamp only answers "is the store file still the one verified?" so that a store tampered
//! with after install is noticed: a file whose stamp changed is a miss, and the caller
//! hashes it again and verifies it in full (a changed file is then refused, `SB1402`).
//! Policy is re-checked on every hit (it may have changed since).
//!
//! The cache is bounded ([`CAPACITY`] packages, the oldest dropped first): each entry holds
//! one library's bytes.

use std::collections::VecDeque;
use std::path::Path;

use parking_lot::Mutex;

use crate::verify::VerifiedPlugin;

/// How many verified packages are kept: enough for the packages of a few generations of a
/// typical installation, at one library's bytes each.
pub(crate) const CAPACITY: usize = 16;

/// What identifies one version of a file without reading it: device, inode, size,
/// modification and status-change times. Writing the file changes its size or times;
/// replacing it changes its inode; the status-change time (`ctime`) cannot be set back by
/// `utimes`, so restoring the modification time after an edit is still seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    /// The stamp of the regular file at `path`; `None` when it cannot be read (or on a
    /// platform without inodes, where nothing is cached).
    pub(crate) fn of(path: &Path) -> Option<FileStamp> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::symlink_metadata(path).ok()?;
            if !m.is_file() {
                return None;
            }
            Some(FileStamp {
                dev: m.dev(),
                ino: m.ino(),
                len: m.len(),
                mtime: (m.mtime(), m.mtime_nsec()),
                ctime: (m.ctime(), m.ctime_nsec()),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            None
        }
    }
}

#[derive(Debug)]
struct Entry {
    sha256: String,
    stamp: FileStamp,
    plugin: VerifiedPlugin,
}

/// The verified packages of one host (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct VerifiedCache {
    entries: Mutex<VecDeque<Entry>>,
}

impl VerifiedCache {
    /// Keeps a copy of `plugin`, verified from the store file `path` holding package
    /// `sha256`, whose stamp was `stamp` before it was read.
    pub(crate) fn remember(&self, sha256: &str, stamp: Option<FileStamp>, plugin: &VerifiedPlugin) {
        let Some(stamp) = stamp else { return };
        // The file must still be the one whose bytes were read.
        if FileStamp::of(plugin.source()).as_ref() != Some(&stamp) {
            return;
        }
        let mut entries = self.entries.lock();
        entries.retain(|e| e.sha256 != sha256);
        if entries.len() >= CAPACITY {
            entries.pop_front();
        }
        entries.push_back(Entry {
            sha256: sha256.to_owned(),
            stamp,
            plugin: plugin.clone(),
        });
    }

    /// The verified copy of package `sha256`, if kept and the store file at `path` is still
    /// the one verified; an entry whose file changed is dropped.
    pub(crate) fn recall(&self, sha256: &str, path: &Path) -> Option<VerifiedPlugin> {
        let mut entries = self.entries.lock();
        let i = entries.iter().position(|e| e.sha256 == sha256)?;
        let now = FileStamp::of(path);
        if entries[i].plugin.source() != path || now.as_ref() != Some(&entries[i].stamp) {
            entries.remove(i);
            return None;
        }
        Some(entries[i].plugin.clone())
    }
}
