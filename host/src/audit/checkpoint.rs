//! Signed checkpoints of the audit log's head, kept outside the database (ARCHITECTURE D15).
//!
//! The hash chain shows that no row was edited, inserted or removed *between* rows, but the
//! end of the log lives in the same file: whoever cuts rows off the end and rewrites the head
//! row, or deletes every row, leaves a chain that verifies. A checkpoint — like a Certificate
//! Transparency signed tree head — states "the log had `rows` rows and row `rows` hashed to
//! `head`", signed with the host's audit key and written to a file beside the database
//! (`audit.checkpoint`), where it can also be copied away. Verifying against it finds a log
//! that no longer holds that row with that hash.
//!
//! The key is a minisign key (Ed25519, the format packages are signed with): by default
//! `<data dir>/audit.key`, created with mode 0600 like the secrets master key, or one the host
//! keeps elsewhere ([`HostBuilder::audit_key`](crate::HostBuilder::audit_key)). The public key
//! is written to `<data dir>/audit.pub` for tools; keep a copy elsewhere too, since someone who
//! can replace the data directory's files can replace both the checkpoint and that copy.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::StoreError;
use crate::private_file::create_private;
use crate::timestamp::Timestamp;

/// The audit secret key's file name in the data directory.
pub const AUDIT_KEY_FILE: &str = "audit.key";
/// The audit public key's file name in the data directory.
pub const AUDIT_PUBLIC_KEY_FILE: &str = "audit.pub";
/// The latest checkpoint's file name in the data directory.
pub const CHECKPOINT_FILE: &str = "audit.checkpoint";

const HEADER: &str = "switchboard-audit-checkpoint v1";
/// A checkpoint is a few hundred bytes; anything much larger is not one.
const MAX_CHECKPOINT_BYTES: u64 = 16 * 1024;

/// The key that signs audit checkpoints: a minisign key pair. Its `Debug` shows the key id only.
///
/// # Example
///
/// ```
/// use switchboard_host::AuditKey;
///
/// let dir = tempfile::tempdir().unwrap();
/// let key = AuditKey::load_or_create(dir.path()).unwrap();
/// let again = AuditKey::load_or_create(dir.path()).unwrap();
/// assert_eq!(key.key_id(), again.key_id());
/// assert!(key.public_key().starts_with("untrusted comment:"));
/// ```
#[derive(Clone)]
pub struct AuditKey {
    pk: minisign::PublicKey,
    sk: minisign::SecretKey,
    public_text: String,
    key_id: String,
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl AuditKey {
    /// A new random key.
    pub fn generate() -> Result<Self, StoreError> {
        let kp = minisign::KeyPair::generate_unencrypted_keypair().map_err(|e| key_err("", e))?;
        Self::from_parts(kp.pk, kp.sk, Path::new(""))
    }

    /// A key from the text of an unencrypted minisign secret key file (for hosts that keep the
    /// key in their own secret store).
    pub fn from_secret_key_text(text: &str) -> Result<Self, StoreError> {
        Self::parse(text, Path::new(""))
    }

    fn parse(text: &str, path: &Path) -> Result<Self, StoreError> {
        let sk = minisign::SecretKeyBox::from_string(text)
            .and_then(minisign::SecretKeyBox::into_unencrypted_secret_key)
            .map_err(|e| key_err(path, e))?;
        let pk = minisign::PublicKey::from_secret_key(&sk).map_err(|e| key_err(path, e))?;
        Self::from_parts(pk, sk, path)
    }

    fn from_parts(
        pk: minisign::PublicKey,
        sk: minisign::SecretKey,
        path: &Path,
    ) -> Result<Self, StoreError> {
        let public_text = pk.to_box().map_err(|e| key_err(path, e))?.to_string();
        let key_id =
            crate::package::key_id_of_public_key(&public_text).map_err(|e| key_err(path, e))?;
        Ok(AuditKey {
            pk,
            sk,
            public_text,
            key_id,
        })
    }

    /// Reads `<data_dir>/audit.key`, creating it (mode 0600) if missing.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(AUDIT_KEY_FILE);
        // A key file is a few hundred bytes: a FIFO or a huge file there is refused unread.
        let read = |path: &Path| {
            crate::loader::read_small(path, 64 << 10).and_then(|b| {
                String::from_utf8(b)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
            })
        };
        match read(&path) {
            Ok(text) => Self::parse(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let kp = minisign::KeyPair::generate_unencrypted_keypair()
                    .map_err(|e| key_err(&path, e))?;
                let text = kp
                    .sk
                    .to_box(Some("switchboard audit key: signs audit checkpoints"))
                    .map_err(|e| key_err(&path, e))?
                    .to_string();
                // Written whole under a private name, then linked into place: two hosts
                // starting at once in a new directory end up with one key, never half a file.
                let tmp = unique_tmp(&path);
                let linked = create_private(&tmp)
                    .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
                    .and_then(|()| std::fs::hard_link(&tmp, &path));
                let _ = std::fs::remove_file(&tmp);
                match linked {
                    Ok(()) => Self::from_parts(kp.pk, kp.sk, &path),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let text = read(&path).map_err(|e| key_err(&path, e))?;
                        Self::parse(&text, &path)
                    }
                    Err(e) => Err(key_err(&path, e)),
                }
            }
            Err(e) => Err(key_err(&path, e)),
        }
    }

    /// The public key, as the text of a minisign `.pub` file.
    pub fn public_key(&self) -> &str {
        &self.public_text
    }

    /// The key id, as minisign shows it.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Writes the public key to `<data_dir>/audit.pub` (replacing what was there).
    pub fn write_public_key(&self, data_dir: &Path) -> Result<(), StoreError> {
        let path = data_dir.join(AUDIT_PUBLIC_KEY_FILE);
        if std::fs::read_to_string(&path).is_ok_and(|t| t == self.public_text) {
            return Ok(());
        }
        write_atomically(&path, self.public_text.as_bytes()).map_err(|e| key_err(&path, e))
    }

    /// Signs a checkpoint stating that the log has `rows` rows and the last one hashes to
    /// `head`.
    pub(crate) fn sign(&self, rows: u64, head: [u8; 32]) -> Result<Checkpoint, StoreError> {
        let at = Timestamp::now();
        let body = body(rows, &head, at, &self.key_id);
        let signature = minisign::sign(
            Some(&self.pk),
            &self.sk,
            body.as_bytes(),
            Some(&format!("{HEADER} rows={rows} head={}", hex::encode(head))),
            Some("switchboard audit checkpoint signature"),
        )
        .map_err(|e| key_err("", e))?
        .to_string();
        Ok(Checkpoint {
            rows,
            head,
            at,
            key_id: self.key_id.clone(),
            signature,
        })
    }
}

fn key_err(path: impl AsRef<Path>, e: impl fmt::Display) -> StoreError {
    StoreError::AuditKey {
        path: path.as_ref().to_owned(),
        reason: e.to_string(),
    }
}

/// Writes beside the destination, syncs, then renames over it, so a reader sees the old file
/// or the new one, never half of one.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = unique_tmp(path);
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A name beside `path` that no other writer, in this process or another, uses at once.
fn unique_tmp(path: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.{n}.tmp", std::process::id()));
    PathBuf::from(tmp)
}

/// The signed text: everything a checkpoint states, one fact a line.
fn body(rows: u64, head: &[u8; 32], at: Timestamp, key_id: &str) -> String {
    format!(
        "{HEADER}\nrows {rows}\nhead {}\nat {at}\nkey {key_id}\n",
        hex::encode(head)
    )
}

/// A signed statement of the audit log's head: how many rows it had and the last one's hash.
///
/// Its file form is the signed text (`switchboard-audit-checkpoint v1`, then `rows`, `head`,
/// `at` and `key` lines) followed by the minisign signature over that text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Checkpoint {
    /// How many rows the log had (the last row's id).
    pub rows: u64,
    /// The hash of row `rows`, hex when serialized.
    #[serde(serialize_with = "super::hex_ser")]
    pub head: [u8; 32],
    /// When it was signed.
    pub at: Timestamp,
    /// The id of the key that signed it.
    pub key_id: String,
    #[serde(skip)]
    signature: String,
}

impl Checkpoint {
    /// The file form: the signed text, then the signature.
    pub fn to_text(&self) -> String {
        body(self.rows, &self.head, self.at, &self.key_id) + &self.signature
    }

    /// Parses the file form. The signature is not checked here: see [`Checkpoint::verify`].
    pub fn parse(text: &str) -> Result<Checkpoint, StoreError> {
        Self::parse_at(text, Path::new(""))
    }

    fn parse_at(text: &str, path: &Path) -> Result<Checkpoint, StoreError> {
        let bad = |reason: &str| StoreError::CheckpointUnreadable {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        let mut lines = text.split_inclusive('\n');
        if lines.next().map(str::trim_end) != Some(HEADER) {
            return Err(bad(
                "it does not start with `switchboard-audit-checkpoint v1`",
            ));
        }
        let mut field = |name: &str| {
            lines
                .next()
                .and_then(|l| l.trim_end().strip_prefix(name))
                .and_then(|v| v.strip_prefix(' '))
                .map(str::to_owned)
        };
        let rows = field("rows").and_then(|v| v.parse::<u64>().ok());
        let head = field("head").and_then(|v| {
            let mut h = [0u8; 32];
            hex::decode_to_slice(v, &mut h).ok().map(|()| h)
        });
        let at = field("at").and_then(|v| v.parse::<Timestamp>().ok());
        let key_id = field("key");
        let signature: String = lines.collect();
        match (rows, head, at, key_id) {
            (Some(rows), Some(head), Some(at), Some(key_id)) if !signature.trim().is_empty() => {
                Ok(Checkpoint {
                    rows,
                    head,
                    at,
                    key_id,
                    signature,
                })
            }
            _ => Err(bad(
                "expected `rows N`, `head HEX`, `at TIME` and `key ID` lines, then a signature",
            )),
        }
    }

    /// Reads and parses a checkpoint file (at most 16 KiB).
    pub fn read(path: &Path) -> Result<Checkpoint, StoreError> {
        use std::io::Read;
        let unreadable = |e: std::io::Error| StoreError::CheckpointUnreadable {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        // Opening a FIFO would block until someone writes to it.
        if !std::fs::metadata(path).map_err(unreadable)?.is_file() {
            return Err(StoreError::CheckpointUnreadable {
                path: path.to_owned(),
                reason: "not a regular file".into(),
            });
        }
        let mut text = String::new();
        std::fs::File::open(path)
            .map_err(unreadable)?
            .take(MAX_CHECKPOINT_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(unreadable)?;
        if text.len() as u64 > MAX_CHECKPOINT_BYTES {
            return Err(StoreError::CheckpointUnreadable {
                path: path.to_owned(),
                reason: format!("it is larger than {MAX_CHECKPOINT_BYTES} bytes"),
            });
        }
        Self::parse_at(&text, path)
    }

    /// Writes the file form to `path`, atomically.
    pub fn write(&self, path: &Path) -> Result<(), StoreError> {
        write_atomically(path, self.to_text().as_bytes()).map_err(|e| StoreError::CheckpointWrite {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Checks the signature with `public_key` (the text of a minisign `.pub` file, or its
    /// base64 line); `SB0621` if it was not made by that key over this checkpoint's content.
    pub fn verify(&self, public_key: &str) -> Result<VerifiedCheckpoint, StoreError> {
        self.verify_at(public_key, Path::new(""))
    }

    /// [`verify`](Checkpoint::verify), naming `path` in the error.
    pub fn verify_at(
        &self,
        public_key: &str,
        path: &Path,
    ) -> Result<VerifiedCheckpoint, StoreError> {
        let forged = |reason: String| StoreError::CheckpointForged {
            path: path.to_owned(),
            reason,
        };
        let line = public_key
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .unwrap_or_default();
        let key =
            minisign_verify::PublicKey::from_base64(line).map_err(|e| StoreError::AuditKey {
                path: PathBuf::new(),
                reason: format!("not a minisign public key: {e}"),
            })?;
        let expected_id = crate::package::key_id_of_public_key(line).unwrap_or_default();
        if self.key_id != expected_id {
            return Err(forged(format!(
                "it names key {}, not the audit key {expected_id}",
                self.key_id
            )));
        }
        let signature = minisign_verify::Signature::decode(&self.signature)
            .map_err(|e| forged(format!("its signature does not parse: {e}")))?;
        let text = body(self.rows, &self.head, self.at, &self.key_id);
        key.verify(text.as_bytes(), &signature, false)
            .map_err(|e| {
                forged(format!(
                    "its signature does not verify with key {expected_id}: {e}"
                ))
            })?;
        Ok(VerifiedCheckpoint(self.clone()))
    }
}

/// A [`Checkpoint`] whose signature verified: what [`AuditAnchors`](super::AuditAnchors)
/// accepts, so an unchecked checkpoint cannot anchor a verification by mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint(Checkpoint);

impl VerifiedCheckpoint {
    /// The checkpoint.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.0
    }
}

impl VerifiedCheckpoint {
    /// A checkpoint this host signed itself, or read and verified earlier.
    pub(crate) fn trusted(checkpoint: Checkpoint) -> Self {
        VerifiedCheckpoint(checkpoint)
    }
}

/// Writes a host's checkpoints: every `every` appended rows (0: never on that account) and
/// when asked (the host asks when it is dropped).
///
/// A checkpoint already in the file that this key did not sign, or that the log no longer
/// extends, is evidence: the checkpointer then writes nothing more, so it stays for
/// `switchboard audit verify` to report.
pub(crate) struct Checkpointer {
    key: AuditKey,
    path: PathBuf,
    every: u64,
    pending: std::sync::atomic::AtomicU64,
    state: parking_lot::Mutex<CheckpointState>,
}

struct CheckpointState {
    last: Option<Checkpoint>,
    /// Why no checkpoint may be written any more.
    stuck: Option<String>,
}

impl fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checkpointer")
            .field("path", &self.path)
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

impl Checkpointer {
    pub(crate) fn new(key: AuditKey, path: PathBuf, every: u64) -> Self {
        let state = if path.exists() {
            match Checkpoint::read(&path).and_then(|cp| cp.verify_at(key.public_key(), &path)) {
                Ok(cp) => CheckpointState {
                    last: Some(cp.0),
                    stuck: None,
                },
                Err(e) => CheckpointState {
                    last: None,
                    stuck: Some(e.to_string()),
                },
            }
        } else {
            CheckpointState {
                last: None,
                stuck: None,
            }
        };
        Checkpointer {
            key,
            path,
            every,
            pending: std::sync::atomic::AtomicU64::new(0),
            state: parking_lot::Mutex::new(state),
        }
    }

    /// Counts `n` appended rows; writes a checkpoint when `every` have accumulated. A failure
    /// is logged, never returned: the append itself succeeded.
    pub(crate) fn appended(&self, n: u64, log: &super::AuditLog) {
        use std::sync::atomic::Ordering;
        if self.every == 0 || self.pending.fetch_add(n, Ordering::Relaxed) + n < self.every {
            return;
        }
        // Another thread already writing one covers these rows too.
        let Some(mut state) = self.state.try_lock() else {
            return;
        };
        if let Err(e) = self.write_locked(&mut state, log) {
            tracing::error!(target: "switchboard::audit", "no audit checkpoint written: {e}");
        }
    }

    /// Writes a checkpoint of the current head now; `None` while the log is empty.
    pub(crate) fn write_now(
        &self,
        log: &super::AuditLog,
    ) -> Result<Option<Checkpoint>, StoreError> {
        let mut state = self.state.lock();
        self.write_locked(&mut state, log)
    }

    fn write_locked(
        &self,
        state: &mut CheckpointState,
        log: &super::AuditLog,
    ) -> Result<Option<Checkpoint>, StoreError> {
        if let Some(reason) = &state.stuck {
            return Err(StoreError::CheckpointWrite {
                path: self.path.clone(),
                reason: format!("the checkpoint there is kept as evidence: {reason}"),
            });
        }
        self.pending.store(0, std::sync::atomic::Ordering::Relaxed);
        let signed = match log.sign_checkpoint_after(&self.key, state.last.as_ref()) {
            Ok(signed) => signed,
            Err(e @ StoreError::ChainBroken { .. }) => {
                state.stuck = Some(e.to_string());
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let Some(checkpoint) = signed else {
            return Ok(None);
        };
        if let Some(last) = state
            .last
            .as_ref()
            .filter(|l| l.rows == checkpoint.rows && l.head == checkpoint.head)
        {
            return Ok(Some(last.clone()));
        }
        // The public key first: where a checkpoint is, the key to check it is too, and a
        // public key without a checkpoint means one was removed.
        if let Some(dir) = self.path.parent() {
            self.key.write_public_key(dir)?;
        }
        checkpoint.write(&self.path)?;
        state.last = Some(checkpoint.clone());
        Ok(Some(checkpoint))
    }
}
