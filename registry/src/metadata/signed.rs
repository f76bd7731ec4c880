//! Signing and verifying metadata: a `{"signed": …, "signatures": […]}` envelope whose
//! signatures are minisign signatures over the canonical JSON of `signed`.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Role, RoleKeys, RootMeta, TrustError};
use crate::format::{canonical_json, parse_bounded, FormatError};
use crate::RegistryError;

/// The largest root, snapshot-less metadata file a client reads.
pub const MAX_ROOT_BYTES: u64 = 64 << 10;
/// The largest `timestamp.json` a client reads.
pub const MAX_TIMESTAMP_BYTES: u64 = 16 << 10;
/// The largest `snapshot.json` a client reads (10,000 plugins take about 1.5 MiB).
pub const MAX_SNAPSHOT_BYTES: u64 = 16 << 20;
/// The most signatures an envelope may carry (bounds the work of verifying one).
pub const MAX_SIGNATURES: usize = 32;

/// The trusted comment of every metadata signature (the canonical JSON names the role and
/// version; the comment only marks what the signature is for).
pub const TRUSTED_COMMENT: &str = "switchboard registry metadata";

/// One signature in an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SignatureEntry {
    /// The signing key's id.
    pub keyid: String,
    /// The minisign signature, as the text of a `.minisig` file.
    pub sig: String,
}

/// A metadata file: the signed object and its signatures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Envelope {
    /// The role's object; signatures cover its canonical JSON.
    pub signed: Value,
    /// Signatures, by distinct keys.
    pub signatures: Vec<SignatureEntry>,
}

impl Envelope {
    /// Parses a metadata file with a size cap.
    pub fn parse(bytes: &[u8], limit: u64, what: &str) -> Result<Envelope, FormatError> {
        let env: Envelope = parse_bounded(bytes, limit, &|| what.to_owned())?;
        if env.signatures.len() > MAX_SIGNATURES {
            return Err(FormatError::Invalid {
                what: what.to_owned(),
                reason: format!("more than {MAX_SIGNATURES} signatures"),
            });
        }
        Ok(env)
    }

    /// The file's bytes: pretty JSON with a final newline (only `signed`'s canonical form is
    /// signed, so the layout of the file is free).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// The typed `signed` object, which must be of role `role`.
    pub fn signed_as<T: DeserializeOwned>(
        &self,
        registry: &str,
        role: Role,
    ) -> Result<T, RegistryError> {
        if self.signed.get("type").and_then(Value::as_str) != Some(role.as_str()) {
            return Err(malformed(
                registry,
                role.file(),
                format!("its `type` is not `{role}`"),
            ));
        }
        if let Some(f) = self.signed.get("format").and_then(Value::as_u64) {
            if f > crate::format::FORMAT_VERSION {
                return Err(FormatError::NewerFormat {
                    what: role.file().into(),
                    found: f,
                    supported: crate::format::FORMAT_VERSION,
                }
                .into());
            }
        }
        T::deserialize(&self.signed).map_err(|e| {
            FormatError::Invalid {
                what: role.file().into(),
                reason: e.to_string(),
            }
            .into()
        })
    }

    /// Checks that at least `keys.threshold` distinct keys of `keys` signed, with their public
    /// keys from `known` (key id → base64 minisign public key).
    pub fn verify(
        &self,
        registry: &str,
        role: Role,
        keys: &RoleKeys,
        known: &BTreeMap<String, String>,
    ) -> Result<(), RegistryError> {
        let message = canonical_json(&self.signed)?;
        let allowed: BTreeSet<&str> = keys.keyids.iter().map(String::as_str).collect();
        let mut valid = BTreeSet::new();
        for entry in &self.signatures {
            if !allowed.contains(entry.keyid.as_str()) || valid.contains(entry.keyid.as_str()) {
                continue;
            }
            let Some(public) = known.get(&entry.keyid) else {
                continue;
            };
            if verify_one(public, &entry.keyid, &entry.sig, &message) {
                valid.insert(entry.keyid.as_str());
            }
        }
        if keys.threshold == 0 || (valid.len() as u64) < keys.threshold {
            return Err(TrustError::Threshold {
                registry: registry.to_owned(),
                role: role.as_str().to_owned(),
                valid: valid.len(),
                threshold: keys.threshold,
            }
            .into());
        }
        Ok(())
    }
}

/// Whether `sig` is a valid minisign signature of `message` by the key `public` whose id is
/// `keyid`.
fn verify_one(public: &str, keyid: &str, sig: &str, message: &[u8]) -> bool {
    let Ok(pk) = minisign_verify::PublicKey::from_base64(public) else {
        return false;
    };
    if key_id(public).as_deref() != Some(keyid) {
        return false;
    }
    let Ok(sig) = minisign_verify::Signature::decode(sig) else {
        return false;
    };
    pk.verify(message, &sig, false).is_ok()
}

/// The key id of a minisign public key given as its base64 line: the 8 key-number bytes,
/// as 16 upper-case hex digits (as `switchboard keygen` prints them).
pub fn key_id(public_base64: &str) -> Option<String> {
    switchboard_host::package::key_id_of_public_key(public_base64).ok()
}

/// A metadata signing key: a minisign key pair.
pub struct SigningKey {
    id: String,
    public: minisign::PublicKey,
    secret: minisign::SecretKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new random key pair.
    pub fn generate() -> Result<SigningKey, String> {
        let kp = minisign::KeyPair::generate_unencrypted_keypair().map_err(|e| e.to_string())?;
        SigningKey::from_parts(kp.pk, kp.sk)
    }

    /// A key pair from the texts of its unencrypted `.key` file (the public key is derived).
    pub fn from_secret_text(text: &str) -> Result<SigningKey, String> {
        let sk = minisign::SecretKeyBox::from_string(text)
            .and_then(|b| b.into_unencrypted_secret_key())
            .map_err(|e| format!("not an unencrypted minisign secret key: {e}"))?;
        let pk = minisign::PublicKey::from_secret_key(&sk).map_err(|e| e.to_string())?;
        SigningKey::from_parts(pk, sk)
    }

    fn from_parts(
        public: minisign::PublicKey,
        secret: minisign::SecretKey,
    ) -> Result<Self, String> {
        let id = key_id(&public.to_base64()).ok_or("the public key has no id")?;
        Ok(SigningKey { id, public, secret })
    }

    /// The key id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The public key's base64 line (what `root.json` lists).
    pub fn public_base64(&self) -> String {
        self.public.to_base64()
    }

    /// The text of the public key's `.pub` file.
    pub fn public_text(&self) -> String {
        self.public
            .to_box()
            .map(|b| b.into_string())
            .unwrap_or_default()
    }

    /// The text of the (unencrypted) secret key's `.key` file.
    pub fn secret_text(&self) -> Result<String, String> {
        self.secret
            .to_box(None)
            .map(|b| b.into_string())
            .map_err(|e| e.to_string())
    }

    /// Signs `message`, returning the `.minisig` text.
    pub fn sign(&self, message: &[u8]) -> Result<String, String> {
        minisign::sign(
            Some(&self.public),
            &self.secret,
            message,
            Some(TRUSTED_COMMENT),
            Some("switchboard registry signature"),
        )
        .map(|b| b.into_string())
        .map_err(|e| e.to_string())
    }
}

impl SigningKey {
    /// Signs `message` with `trusted_comment` (what a verifier checks), returning the
    /// `.minisig` text — the registry's certification countersignatures are made so.
    pub fn sign_with_comment(
        &self,
        message: &[u8],
        trusted_comment: &str,
    ) -> Result<String, String> {
        minisign::sign(
            Some(&self.public),
            &self.secret,
            message,
            Some(trusted_comment),
            Some("switchboard registry certification"),
        )
        .map(|b| b.into_string())
        .map_err(|e| e.to_string())
    }
}

/// Signs `signed` (a role's object) with every key in `keys`.
pub fn sign_envelope(signed: &impl Serialize, keys: &[&SigningKey]) -> Result<Envelope, String> {
    let signed = serde_json::to_value(signed).map_err(|e| e.to_string())?;
    let message = canonical_json(&signed).map_err(|e| e.to_string())?;
    let mut signatures = Vec::with_capacity(keys.len());
    for key in keys {
        signatures.push(SignatureEntry {
            keyid: key.id().to_owned(),
            sig: key.sign(&message)?,
        });
    }
    Ok(Envelope { signed, signatures })
}

/// Checks a root's own consistency: format, role keys listed in `keys`, thresholds at least
/// 1 and at most the number of keys, every public key a valid minisign key with its id.
pub fn check_root(registry: &str, root: &RootMeta) -> Result<(), RegistryError> {
    let bad = |reason: String| Err(malformed(registry, "root.json", reason));
    if root.version == 0 {
        return bad("version 0 (versions start at 1)".into());
    }
    for (id, public) in &root.keys {
        if key_id(public).as_deref() != Some(id.as_str())
            || minisign_verify::PublicKey::from_base64(public).is_err()
        {
            return bad(format!(
                "key `{id}` is not a minisign public key with that id"
            ));
        }
    }
    for role in [Role::Root, Role::Snapshot, Role::Timestamp] {
        let keys = root.roles.get(role);
        if let Some(id) = keys.keyids.iter().find(|id| !root.keys.contains_key(*id)) {
            return bad(format!(
                "role {role} names key `{id}`, which `keys` does not list"
            ));
        }
        let distinct: BTreeSet<_> = keys.keyids.iter().collect();
        if keys.threshold == 0 || keys.threshold > distinct.len() as u64 {
            return bad(format!(
                "role {role} has threshold {} over {} distinct key(s)",
                keys.threshold,
                distinct.len()
            ));
        }
    }
    crate::metadata::parse_expiry(registry, Role::Root, &root.expires)?;
    Ok(())
}

pub(crate) fn malformed(registry: &str, what: &str, reason: String) -> RegistryError {
    TrustError::Malformed {
        registry: registry.to_owned(),
        what: what.to_owned(),
        reason,
    }
    .into()
}
