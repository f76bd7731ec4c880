//! Creating files only their owner may read: the secrets master key and the audit signing key.

use std::path::Path;

/// Creates `path` for writing, failing if it exists, readable by its owner alone (mode 0600 on
/// Unix; elsewhere the directory's permissions decide).
#[cfg(unix)]
pub(crate) fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Creates `path` for writing, failing if it exists, readable by its owner alone (mode 0600 on
/// Unix; elsewhere the directory's permissions decide).
#[cfg(not(unix))]
pub(crate) fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}
