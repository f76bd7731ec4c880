//! The verified bytes, in a form the dynamic loader can open without going back to the file
//! (ARCHITECTURE D3): a sealed memfd on Linux, a private read-only copy elsewhere.
//!
//! Each image has its own identity, so loading two plugins (or two versions of one) never makes
//! the loader hand back a library it opened before.

use std::path::{Path, PathBuf};

use crate::error::LoadError;

/// Loadable bytes; keep it alive until the library is opened, then [`keep_forever`](Image::keep_forever).
#[derive(Debug)]
pub(crate) struct Image {
    path: PathBuf,
    #[cfg(target_os = "linux")]
    _fd: std::os::fd::OwnedFd,
}

impl Image {
    /// Called once the library is open. The dynamic loader remembers libraries by path, and a
    /// library is never unloaded (ARCHITECTURE D2); closing the memfd would let a later image get
    /// the same `/proc/self/fd/N` path, and the loader would hand back the earlier library. So
    /// the descriptor stays open for the life of the process: one per loaded library.
    pub fn keep_forever(self) {
        std::mem::forget(self);
    }

    /// The sealed memfd itself, for a runner process to open (isolated mode); this process
    /// does not open it.
    #[cfg(target_os = "linux")]
    pub fn into_fd(self) -> std::os::fd::OwnedFd {
        self._fd
    }

    /// The path to hand the dynamic loader.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Puts `bytes` where the loader can open them and nobody can change them.
    #[cfg(target_os = "linux")]
    pub fn new(
        source: &Path,
        name: &str,
        bytes: &[u8],
        _scratch: &Path,
    ) -> Result<Image, LoadError> {
        use rustix::fs::{fcntl_add_seals, memfd_create, MemfdFlags, SealFlags};
        use std::io::Write;
        use std::os::fd::AsRawFd;

        let fail = |e: std::io::Error| LoadError::Image {
            path: source.to_owned(),
            reason: e.to_string(),
        };
        let fd = memfd_create(
            format!("switchboard:{name}"),
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )
        .map_err(|e| fail(e.into()))?;
        let mut file = std::fs::File::from(fd);
        file.write_all(bytes).map_err(fail)?;
        let fd = std::os::fd::OwnedFd::from(file);
        fcntl_add_seals(
            &fd,
            SealFlags::WRITE | SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL,
        )
        .map_err(|e| fail(e.into()))?;
        Ok(Image {
            path: PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())),
            _fd: fd,
        })
    }

    /// Puts `bytes` where the loader can open them and nobody can change them.
    #[cfg(not(target_os = "linux"))]
    pub fn new(
        source: &Path,
        name: &str,
        bytes: &[u8],
        scratch: &Path,
    ) -> Result<Image, LoadError> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);

        let fail = |e: std::io::Error| LoadError::Image {
            path: source.to_owned(),
            reason: e.to_string(),
        };
        let dir = scratch.join("images");
        std::fs::create_dir_all(&dir).map_err(fail)?;
        let ext = source.extension().and_then(|e| e.to_str()).unwrap_or("lib");
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{name}-{}-{unique}.{ext}", std::process::id()));
        std::fs::write(&path, bytes).map_err(fail)?;
        let mut perms = std::fs::metadata(&path).map_err(fail)?.permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&path, perms).map_err(fail)?;
        Ok(Image { path })
    }
}
