//! The registry's signing keys in their key directory: `root.key`, `snapshot.key`,
//! `timestamp.key` (unencrypted minisign secret keys, mode 0600, for unattended re-signing),
//! their `.pub` files, and `publishers/*.pub` (publisher keys the registry vouches for).

use std::path::Path;

use super::{io_error, read_capped, PublishError};
use crate::metadata::{Role, RootMeta, SigningKey};
use crate::RegistryError;

/// The sub-directory of the key directory holding trusted publishers' public keys.
pub const PUBLISHERS_DIR: &str = "publishers";

/// The three metadata signing keys.
#[derive(Debug)]
#[non_exhaustive]
pub struct RegistryKeys {
    /// Signs `root.json` and its successors.
    pub root: SigningKey,
    /// Signs `snapshot.json`.
    pub snapshot: SigningKey,
    /// Signs `timestamp.json`.
    pub timestamp: SigningKey,
}

impl RegistryKeys {
    /// Generates the three keys and writes them to `dir` (created if missing; refused if it
    /// already holds any of them).
    pub fn create(dir: &Path) -> Result<RegistryKeys, RegistryError> {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))?;
        for role in ROLES {
            let path = dir.join(format!("{role}.key"));
            if path.exists() {
                return Err(PublishError::NotEmpty {
                    path: dir.display().to_string(),
                    reason: format!(
                        "{} exists (a key directory serves one registry)",
                        path.display()
                    ),
                }
                .into());
            }
        }
        let gen = || {
            SigningKey::generate().map_err(|reason| -> RegistryError {
                PublishError::Key {
                    path: dir.display().to_string(),
                    reason,
                }
                .into()
            })
        };
        let keys = RegistryKeys {
            root: gen()?,
            snapshot: gen()?,
            timestamp: gen()?,
        };
        for (role, key) in [
            (Role::Root, &keys.root),
            (Role::Snapshot, &keys.snapshot),
            (Role::Timestamp, &keys.timestamp),
        ] {
            let secret = key.secret_text().map_err(|reason| PublishError::Key {
                path: dir.display().to_string(),
                reason,
            })?;
            write_private(&dir.join(format!("{role}.key")), secret.as_bytes())?;
            super::write(
                &dir.join(format!("{role}.pub")),
                key.public_text().as_bytes(),
            )?;
        }
        Ok(keys)
    }

    /// Loads the keys from `dir` and checks each is one `root` names for its role.
    pub fn load(dir: &Path, root: &RootMeta) -> Result<RegistryKeys, RegistryError> {
        let load = |role: Role| -> Result<SigningKey, RegistryError> {
            // A rotation interrupted after the new root was written left the new key as
            // `ROLE.key.next`: the root names it, so it is the key (the swap is finished).
            let next = dir.join(format!("{role}.key.next"));
            if let Some(key) = read_key(&next).filter(|k| names(root, role, k)) {
                let current = dir.join(format!("{role}.key"));
                let kept = dir.join(format!("{role}.key.{}", root.version.saturating_sub(1)));
                if current.exists() {
                    std::fs::rename(&current, &kept).map_err(|e| io_error(&current, &e))?;
                }
                std::fs::rename(&next, &current).map_err(|e| io_error(&next, &e))?;
                return Ok(key);
            }
            let path = dir.join(format!("{role}.key"));
            let key_error = |reason: String| -> RegistryError {
                PublishError::Key {
                    path: path.display().to_string(),
                    reason,
                }
                .into()
            };
            let bytes = read_capped(&path, 4096).map_err(|e| key_error(e.message()))?;
            let text = String::from_utf8(bytes).map_err(|_| key_error("not text".into()))?;
            let key = SigningKey::from_secret_text(&text).map_err(key_error)?;
            if !names(root, role, &key) {
                return Err(key_error(format!(
                    "key {} is not one of the registry's {role} keys",
                    key.id()
                )));
            }
            Ok(key)
        };
        Ok(RegistryKeys {
            root: load(Role::Root)?,
            snapshot: load(Role::Snapshot)?,
            timestamp: load(Role::Timestamp)?,
        })
    }

    /// The key of `role`.
    pub fn get(&self, role: Role) -> &SigningKey {
        match role {
            Role::Root => &self.root,
            Role::Snapshot => &self.snapshot,
            _ => &self.timestamp,
        }
    }

    pub(crate) fn set(&mut self, role: Role, key: SigningKey) {
        match role {
            Role::Root => self.root = key,
            Role::Snapshot => self.snapshot = key,
            _ => self.timestamp = key,
        }
    }

    /// Copies a publisher's public key into `dir/publishers/`, named by its key id.
    pub fn add_publisher(&self, dir: &Path, key: &Path) -> Result<String, RegistryError> {
        let bytes = read_capped(key, 4096)?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let id = switchboard_host::package::key_id_of_public_key(&text).map_err(|reason| {
            PublishError::Key {
                path: key.display().to_string(),
                reason,
            }
        })?;
        super::write(
            &dir.join(PUBLISHERS_DIR).join(format!("{id}.pub")),
            text.as_bytes(),
        )?;
        Ok(id)
    }
}

/// Whether `root` names `key` for `role`.
fn names(root: &RootMeta, role: Role, key: &SigningKey) -> bool {
    root.roles.get(role).keyids.iter().any(|id| id == key.id())
}

/// A secret key file, if it is one.
fn read_key(path: &Path) -> Option<SigningKey> {
    let bytes = read_capped(path, 4096).ok()?;
    SigningKey::from_secret_text(std::str::from_utf8(&bytes).ok()?).ok()
}

const ROLES: [Role; 3] = [Role::Root, Role::Snapshot, Role::Timestamp];

/// The trust store a publish verifies packages with: the registry's publishers as authors.
pub(crate) fn trust_store(
    dir: &Path,
) -> Result<switchboard_host::package::TrustStore, RegistryError> {
    let mut store = switchboard_host::package::TrustStore::new();
    let publishers = dir.join(PUBLISHERS_DIR);
    let Ok(entries) = std::fs::read_dir(&publishers) else {
        return Ok(store);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "pub") {
            let bytes = read_capped(&path, 4096)?;
            store
                .add_author(&String::from_utf8_lossy(&bytes))
                .map_err(|e| PublishError::Key {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
        }
    }
    Ok(store)
}

/// Writes a secret key readable by its owner only.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| io_error(path, &e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(path, &e))
}
