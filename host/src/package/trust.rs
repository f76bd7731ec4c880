//! Trust levels and the store of keys a host trusts (ARCHITECTURE D8).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::PackageError;
use super::signature::{key_id_of_public_key, PublicKey};

/// How much a host can trust a package, from its signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TrustLevel {
    /// No signature.
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
    pub fn as_str(self) -> &'static str {
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

impl std::str::FromStr for TrustLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "unsigned" => TrustLevel::Unsigned,
            "self-signed" => TrustLevel::SelfSigned,
            "verified" => TrustLevel::Verified,
            "certified" => TrustLevel::Certified,
            other => {
                return Err(format!(
                    "unknown trust level `{other}`; expected unsigned, self-signed, verified or certified"
                ))
            }
        })
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
