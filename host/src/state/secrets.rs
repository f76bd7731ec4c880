//! Secrets: values encrypted at rest with XChaCha20-Poly1305 under the host's master key.
//!
//! The master key is 32 random bytes, kept in `<data dir>/master.key` (created with mode 0600
//! the first time a host runs there) unless the host hands one to the builder
//! ([`HostBuilder::master_key`](crate::HostBuilder::master_key)). Each secret gets a fresh
//! 24-byte random nonce; the associated data binds the ciphertext to its plugin and name, so a
//! row copied to another plugin or name does not decrypt. A wrong key or an altered row fails
//! authentication and is reported as `SB0711`, never returned as garbage. Values appear in no
//! error, log line or audit row: they travel as [`Secret`], whose `Debug` prints `***`.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rusqlite::{params, OptionalExtension};
use switchboard_sdk::manifest::name_key;
use switchboard_sdk::state::{valid_key, Secret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::StateError;
use crate::private_file::create_private;
use crate::store::Store;

/// The master key file's name in the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

/// The host's 32-byte master key. Its `Debug` prints `***`; its bytes are zeroed when it is
/// dropped (`zeroize`).
///
/// # Example
///
/// ```
/// use switchboard_host::state::MasterKey;
///
/// let key = MasterKey::from_bytes([7; 32]);
/// assert_eq!(format!("{key:?}"), "MasterKey(***)");
/// ```
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for MasterKey {}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    /// A key from its bytes (for hosts that keep the key in their own secret store).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        MasterKey(bytes)
    }

    /// A new random key.
    pub fn generate() -> Self {
        MasterKey(XChaCha20Poly1305::generate_key(&mut OsRng).into())
    }

    /// Reads `<data_dir>/master.key`, creating it (mode 0600, 32 random bytes) if missing.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, StateError> {
        let path = data_dir.join(MASTER_KEY_FILE);
        let fail = |reason: String| StateError::MasterKey {
            path: path.clone(),
            reason,
        };
        // A key is 32 bytes: a FIFO or a huge file there is refused, never waited on or read.
        match crate::loader::read_small(&path, 1024) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                let bytes: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| fail(format!("holds {} bytes, not 32", bytes.len())))?;
                Ok(MasterKey(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = MasterKey::generate();
                let mut file = create_private(&path).map_err(|e| fail(e.to_string()))?;
                file.write_all(&key.0)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| fail(e.to_string()))?;
                Ok(key)
            }
            Err(e) => Err(fail(e.to_string())),
        }
    }
}

fn aad(ns: &str, name: &str) -> Vec<u8> {
    let mut a = Vec::with_capacity(20 + ns.len() + name.len());
    a.extend_from_slice(b"switchboard-secret\0");
    a.extend_from_slice(ns.as_bytes());
    a.push(0);
    a.extend_from_slice(name.as_bytes());
    a
}

/// One plugin's secrets, for host code. Get it with [`Host::secrets`](crate::Host::secrets)
/// or [`Store::secrets`].
///
/// # Example
///
/// ```
/// use switchboard_host::state::MasterKey;
/// use switchboard_host::Store;
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = Store::open(dir.path()).unwrap();
/// let key = MasterKey::generate();
/// let secrets = store.secrets("mailer", &key);
/// secrets.put("smtp", b"hunter2").unwrap();
/// assert_eq!(secrets.get("smtp").unwrap().unwrap().expose(), b"hunter2");
/// // Another key cannot read it: a coded error, not garbage.
/// let other = store.secrets("mailer", &MasterKey::generate());
/// assert_eq!(other.get("smtp").unwrap_err().code().to_string(), "SB0711");
/// ```
#[derive(Clone)]
pub struct Secrets {
    store: Store,
    plugin: String,
    ns: String,
    cipher: Arc<XChaCha20Poly1305>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("plugin", &self.plugin)
            .finish_non_exhaustive()
    }
}

impl Secrets {
    pub(crate) fn new(store: Store, plugin: &str, key: &MasterKey) -> Self {
        Secrets {
            store,
            plugin: plugin.to_owned(),
            ns: name_key(plugin),
            cipher: Arc::new(XChaCha20Poly1305::new(&key.0.into())),
        }
    }

    fn check_name(&self, name: &str) -> Result<(), StateError> {
        if valid_key(name) {
            Ok(())
        } else {
            Err(StateError::BadKey {
                plugin: self.plugin.clone(),
                key: name.chars().take(80).collect(),
            })
        }
    }

    /// The secret `name`, decrypted; `SB0711` if it does not decrypt with this key.
    pub fn get(&self, name: &str) -> Result<Option<Secret>, StateError> {
        self.check_name(name)?;
        let row: Option<(Vec<u8>, Vec<u8>)> = {
            let conn = self.store.lock();
            conn.query_row(
                "SELECT nonce, ciphertext FROM secrets WHERE plugin = ?1 AND name = ?2",
                params![self.ns, name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
        };
        let Some((nonce, ciphertext)) = row else {
            return Ok(None);
        };
        let decrypt_err = || StateError::Decrypt {
            plugin: self.plugin.clone(),
            name: name.to_owned(),
        };
        if nonce.len() != 24 {
            return Err(decrypt_err());
        }
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: &aad(&self.ns, name),
                },
            )
            .map_err(|_| decrypt_err())?;
        Ok(Some(Secret::new(plain)))
    }

    /// Encrypts and stores the secret `name`.
    pub fn put(&self, name: &str, value: &[u8]) -> Result<(), StateError> {
        self.check_name(name)?;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: value,
                    aad: &aad(&self.ns, name),
                },
            )
            .map_err(|_| StateError::MasterKey {
                path: PathBuf::new(),
                reason: "encryption failed".into(),
            })?;
        let conn = self.store.lock();
        conn.execute(
            "INSERT INTO secrets (plugin, name, nonce, ciphertext) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (plugin, name) DO UPDATE SET nonce = ?3, ciphertext = ?4",
            params![self.ns, name, nonce.as_slice(), ciphertext],
        )?;
        Ok(())
    }

    /// Deletes the secret `name`; returns whether it existed.
    pub fn delete(&self, name: &str) -> Result<bool, StateError> {
        self.check_name(name)?;
        let conn = self.store.lock();
        let n = conn.execute(
            "DELETE FROM secrets WHERE plugin = ?1 AND name = ?2",
            params![self.ns, name],
        )?;
        Ok(n > 0)
    }

    /// The names of the plugin's secrets (never their values).
    pub fn names(&self) -> Result<Vec<String>, StateError> {
        let conn = self.store.lock();
        let mut stmt = conn.prepare("SELECT name FROM secrets WHERE plugin = ?1 ORDER BY name")?;
        let names = stmt
            .query_map([&self.ns], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(names)
    }
}

impl Store {
    /// The secrets of `plugin` in this database, under `key`.
    pub fn secrets(&self, plugin: &str, key: &MasterKey) -> Secrets {
        Secrets::new(self.clone(), plugin, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ciphertext_moved_to_another_name_does_not_decrypt() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = MasterKey::generate();
        let s = store.secrets("a", &key);
        s.put("one", b"v1").unwrap();
        store
            .lock()
            .execute(
                "INSERT INTO secrets (plugin, name, nonce, ciphertext)
                 SELECT 'b', 'one', nonce, ciphertext FROM secrets WHERE plugin = 'a'",
                [],
            )
            .unwrap();
        store
            .lock()
            .execute(
                "INSERT INTO secrets (plugin, name, nonce, ciphertext)
                 SELECT 'a', 'two', nonce, ciphertext FROM secrets WHERE plugin = 'a'",
                [],
            )
            .unwrap();
        assert_eq!(s.get("one").unwrap().unwrap().expose(), b"v1");
        let e = store.secrets("b", &key).get("one").unwrap_err();
        assert_eq!(e.code().to_string(), "SB0711");
        assert_eq!(s.get("two").unwrap_err().code().to_string(), "SB0711");
    }

    #[test]
    fn the_master_key_is_zeroized_on_drop_by_the_zeroize_crate() {
        fn zeroizes_on_drop<T: ZeroizeOnDrop>() {}
        zeroizes_on_drop::<MasterKey>();
    }

    #[test]
    fn the_key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let k1 = MasterKey::load_or_create(dir.path()).unwrap();
        let k2 = MasterKey::load_or_create(dir.path()).unwrap();
        assert_eq!(k1.0, k2.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(MASTER_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join(MASTER_KEY_FILE), b"short").unwrap();
        let e = MasterKey::load_or_create(dir.path()).unwrap_err();
        assert_eq!(e.code().to_string(), "SB0710");
    }
}
