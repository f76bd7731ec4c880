//! TUF-style signed metadata (ARCHITECTURE D9): a root of trust naming every role's keys and
//! threshold, a snapshot pinning every index file and `config.json`, and a short-lived
//! timestamp pinning the snapshot. Signatures are minisign signatures over canonical JSON
//! ([`canonical_json`](crate::format::canonical_json)); `docs/registry.md` specifies the files
//! and the client's order of checks ([`RegistryClient::refresh`](crate::RegistryClient::refresh)).

mod error;
mod roles;
mod signed;

pub use error::TrustError;
pub use roles::{MetaFile, Role, RoleKeys, Roles, RootMeta, SnapshotMeta, TimestampMeta};
pub use signed::{
    check_root, key_id, sign_envelope, Envelope, SignatureEntry, SigningKey, MAX_ROOT_BYTES,
    MAX_SIGNATURES, MAX_SNAPSHOT_BYTES, MAX_TIMESTAMP_BYTES, TRUSTED_COMMENT,
};

use crate::RegistryError;

/// Parses an RFC 3339 expiry.
pub fn parse_expiry(
    registry: &str,
    role: Role,
    expires: &str,
) -> Result<jiff::Timestamp, RegistryError> {
    expires.parse::<jiff::Timestamp>().map_err(|e| {
        signed::malformed(
            registry,
            role.file(),
            format!("`expires` is not an RFC 3339 time: {e}"),
        )
    })
}

/// Refuses metadata whose expiry is at or before `now` (the freeze attack).
pub fn check_expiry(
    registry: &str,
    role: Role,
    expires: &str,
    now: jiff::Timestamp,
) -> Result<(), RegistryError> {
    let at = parse_expiry(registry, role, expires)?;
    if at <= now {
        return Err(TrustError::Expired {
            registry: registry.to_owned(),
            role: role.as_str().to_owned(),
            expires: at.to_string(),
            now: now.to_string(),
        }
        .into());
    }
    Ok(())
}

/// A root of trust: its verified bytes and what they say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedRoot {
    /// The exact `root.json` bytes (what a [`SeenStore`](crate::SeenStore) keeps).
    pub bytes: Vec<u8>,
    /// The parsed root.
    pub meta: RootMeta,
}

impl TrustedRoot {
    /// Reads a root to pin: well-formed, consistent, and signed by its own root keys up to
    /// their threshold. Expiry is not checked here (the client checks it after updating).
    /// Pinning says "this is the registry's root"; the caller decides whether to believe it
    /// (a fingerprint shown to the user, or a `--root FILE` obtained out of band).
    pub fn pin(registry: &str, bytes: &[u8]) -> Result<TrustedRoot, RegistryError> {
        let env = Envelope::parse(bytes, MAX_ROOT_BYTES, "root.json")?;
        let meta: RootMeta = env.signed_as(registry, Role::Root)?;
        check_root(registry, &meta)?;
        env.verify(registry, Role::Root, &meta.roles.root, &meta.keys)?;
        Ok(TrustedRoot {
            bytes: bytes.to_vec(),
            meta,
        })
    }

    /// Accepts `next` (`N+1.root.json`) as the new root: version exactly one more, signed by
    /// this root's root keys up to their threshold AND by its own root keys up to its own.
    pub fn rotate(&self, registry: &str, next: &[u8]) -> Result<TrustedRoot, RegistryError> {
        let expected = self.meta.version + 1;
        let rotation = |reason: String| -> RegistryError {
            TrustError::Rotation {
                registry: registry.to_owned(),
                version: expected,
                reason,
            }
            .into()
        };
        let env = Envelope::parse(next, MAX_ROOT_BYTES, &format!("{expected}.root.json"))?;
        let meta: RootMeta = env.signed_as(registry, Role::Root)?;
        if meta.version != expected {
            return Err(rotation(format!(
                "the file {expected}.root.json holds version {}",
                meta.version
            )));
        }
        check_root(registry, &meta)?;
        env.verify(registry, Role::Root, &self.meta.roles.root, &self.meta.keys)
            .map_err(|e| {
                rotation(format!(
                    "the trusted root's keys did not sign it ({})",
                    e.message()
                ))
            })?;
        env.verify(registry, Role::Root, &meta.roles.root, &meta.keys)
            .map_err(|e| {
                rotation(format!(
                    "its own root keys did not sign it ({})",
                    e.message()
                ))
            })?;
        Ok(TrustedRoot {
            bytes: next.to_vec(),
            meta,
        })
    }

    /// The root's fingerprint: sha256 of its bytes, to show when pinning.
    pub fn fingerprint(&self) -> String {
        crate::sha256_hex(&self.bytes)
    }
}
