//! Trust levels and the store of keys a host trusts (ARCHITECTURE D8).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::PackageError;
use super::signature::{key_id_of_public_key, PublicKey};

/// How much a host can trust a plugin's origin, from least to most. Ordered: a policy's
/// minimum admits that level and every higher one. Development loads
/// ([`Host::load_unsigned`](crate::Host::load_unsigned)) are `Unsigned`.
///
/// # Example
///
/// ```
/// use switchboard_host::TrustLevel;
///
/// assert!(TrustLevel::Unsigned < TrustLevel::Verified);
/// assert_eq!("self-signed".parse::<TrustLevel>().unwrap(), TrustLevel::SelfSigned);
/// assert_eq!(TrustLevel::Certified.to_string(), "certified");
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TrustLevel {
    /// No signature.
    #[default]
    Unsigned,
    /// A valid signature by a key the host does not know.
    SelfSigned,
    /// A valid signature by a key the host trusts (or a registry binds to the publisher).
    Verified,
    /// Verified, and countersigned by a trusted registry after review.
    Certified,
}

impl TrustLevel {
    /// The level's name, as written in policies and reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            TrustLevel::Unsigned => "unsigned",
            TrustLevel::SelfSigned => "self-signed",
            TrustLevel::Verified => "verified",
            TrustLevel::Certified => "certified",
        }
    }
}

impl fmt::Display for TrustLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not a trust level's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a trust level: write unsigned, self-signed, verified or certified")]
pub struct TrustLevelError(String);

impl TrustLevel {
    /// Every level, from least to most trusted.
    pub const ALL: [TrustLevel; 4] = [
        TrustLevel::Unsigned,
        TrustLevel::SelfSigned,
        TrustLevel::Verified,
        TrustLevel::Certified,
    ];
}

impl std::str::FromStr for TrustLevel {
    type Err = TrustLevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TrustLevel::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| TrustLevelError(s.to_owned()))
    }
}

/// The public keys a host trusts: authors' keys (for `verified`) and registry keys (for
/// `certified` countersignatures), by key id.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    authors: BTreeMap<String, PublicKey>,
    registries: BTreeMap<String, PublicKey>,
}

impl TrustStore {
    /// An empty store.
    pub fn new() -> Self {
        TrustStore::default()
    }

    /// Trusts an author key, given as the text of a minisign `.pub` file or its base64 line.
    /// Returns the key id.
    pub fn add_author(&mut self, public_key: &str) -> Result<String, PackageError> {
        let (id, key) = parse(public_key)?;
        self.authors.insert(id.clone(), key);
        Ok(id)
    }

    /// Trusts a registry's countersigning key. Returns the key id.
    pub fn add_registry(&mut self, public_key: &str) -> Result<String, PackageError> {
        let (id, key) = parse(public_key)?;
        self.registries.insert(id.clone(), key);
        Ok(id)
    }

    pub(crate) fn author(&self, key_id: &str) -> Option<&PublicKey> {
        self.authors.get(key_id)
    }

    pub(crate) fn registries(&self) -> impl Iterator<Item = (&String, &PublicKey)> {
        self.registries.iter()
    }

    /// The ids of the trusted author keys.
    pub fn author_ids(&self) -> Vec<String> {
        self.authors.keys().cloned().collect()
    }
}

fn parse(text: &str) -> Result<(String, PublicKey), PackageError> {
    let key = PublicKey::parse(text).map_err(|reason| PackageError::Key {
        path: "(public key)".into(),
        reason,
    })?;
    let id = key_id_of_public_key(text).map_err(|reason| PackageError::Key {
        path: "(public key)".into(),
        reason,
    })?;
    Ok((id, key))
}
