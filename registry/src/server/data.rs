//! The server's data directory: `registry/` (the signed registry directory it serves),
//! `keys/` (its signing keys, `0700`, each key `0600`) and `server.db` (accounts, tokens,
//! publishers). Made on first start; checked on every start after.

use std::path::{Path, PathBuf};

use crate::error::ServerError;
use crate::publish::{self, InitOptions};
use crate::RegistryError;

/// The parts of a server's data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    /// The data directory itself.
    pub root: PathBuf,
    /// The registry directory served under `/index/`.
    pub registry: PathBuf,
    /// The registry's signing keys (never served).
    pub keys: PathBuf,
    /// The SQLite database.
    pub database: PathBuf,
    /// Uploads being checked or held for review (`uploads/ID/NAME-VERSION.sbpkg`), never
    /// served.
    pub uploads: PathBuf,
}

impl DataDir {
    /// The layout under `root` (nothing is read or made).
    pub fn at(root: &Path) -> DataDir {
        DataDir {
            root: root.to_owned(),
            registry: root.join("registry"),
            keys: root.join("keys"),
            database: root.join("server.db"),
            uploads: root.join("uploads"),
        }
    }

    /// Opens the data directory, making it on first start (a new registry with new keys).
    /// Returns whether it was made now. A directory holding a registry without its keys (or
    /// the reverse), or other files, is refused rather than guessed at.
    pub fn open_or_init(root: &Path) -> Result<(DataDir, bool), RegistryError> {
        let dir = DataDir::at(root);
        let refuse = |reason: String| -> RegistryError {
            ServerError::DataDir {
                path: root.display().to_string(),
                reason,
            }
            .into()
        };
        if root.exists() && !root.is_dir() {
            return Err(refuse("it is a file".into()));
        }
        let has_registry = dir.registry.join("timestamp.json").is_file();
        let has_keys = dir.keys.join("timestamp.key").is_file();
        match (has_registry, has_keys) {
            (true, true) => return Ok((dir, false)),
            (true, false) => return Err(refuse(format!("{} has no keys", dir.keys.display()))),
            (false, true) => {
                return Err(refuse(format!(
                    "{} has keys but no registry",
                    dir.keys.display()
                )))
            }
            (false, false) => {}
        }
        if let Ok(mut entries) = std::fs::read_dir(root) {
            if let Some(Ok(e)) = entries.next() {
                return Err(refuse(format!(
                    "it holds {} and is not a server's data directory",
                    e.file_name().to_string_lossy()
                )));
            }
        }
        let io = |p: &Path, e: std::io::Error| refuse(format!("{}: {e}", p.display()));
        std::fs::create_dir_all(root).map_err(|e| io(root, e))?;
        std::fs::create_dir(&dir.keys).map_err(|e| io(&dir.keys, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir.keys, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| io(&dir.keys, e))?;
        }
        publish::init(&dir.registry, &dir.keys, &InitOptions::default())?;
        Ok((dir, true))
    }
}
