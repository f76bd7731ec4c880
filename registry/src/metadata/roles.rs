//! The signed metadata's roles: root, snapshot and timestamp, as typed JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A metadata role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Role {
    /// Names every role's keys and thresholds; changes only by a signed rotation.
    Root,
    /// Lists every index file and `config.json` with hash, length and version.
    Snapshot,
    /// Names the current snapshot; short-lived, re-signed often.
    Timestamp,
}

impl Role {
    /// Its name in metadata (`type`) and messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Root => "root",
            Role::Snapshot => "snapshot",
            Role::Timestamp => "timestamp",
        }
    }

    /// The file the role is served as (the root's current version also as `N.root.json`).
    pub const fn file(self) -> &'static str {
        match self {
            Role::Root => "root.json",
            Role::Snapshot => "snapshot.json",
            Role::Timestamp => "timestamp.json",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which keys sign a role, and how many of them must.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RoleKeys {
    /// Key ids (minisign key ids, 16 upper-case hex digits), each in the root's `keys`.
    pub keyids: Vec<String>,
    /// How many distinct keys must sign (at least 1).
    pub threshold: u64,
}

impl RoleKeys {
    /// Keys and threshold.
    pub fn new(keyids: Vec<String>, threshold: u64) -> Self {
        RoleKeys { keyids, threshold }
    }
}

/// The three roles' keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Roles {
    /// Who signs the root (and its successors).
    pub root: RoleKeys,
    /// Who signs the snapshot.
    pub snapshot: RoleKeys,
    /// Who signs the timestamp.
    pub timestamp: RoleKeys,
}

impl Roles {
    /// The keys of `role`.
    pub fn get(&self, role: Role) -> &RoleKeys {
        match role {
            Role::Root => &self.root,
            Role::Snapshot => &self.snapshot,
            Role::Timestamp => &self.timestamp,
        }
    }
}

/// The `signed` part of `root.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RootMeta {
    /// Always `root`.
    #[serde(rename = "type")]
    pub kind: Role,
    /// The format version (1).
    pub format: u64,
    /// Starts at 1; each rotation adds 1.
    pub version: u64,
    /// RFC 3339 UTC; refused after.
    pub expires: String,
    /// Every key any role uses: key id → minisign public key (the base64 line of its `.pub`).
    pub keys: BTreeMap<String, String>,
    /// Each role's keys and threshold.
    pub roles: Roles,
}

/// A file as metadata pins it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MetaFile {
    /// sha256 of the file's bytes, lower-case hex.
    pub sha256: String,
    /// Its length in bytes.
    pub length: u64,
    /// Its version: starts at 1, +1 at each change.
    pub version: u64,
}

impl MetaFile {
    /// Pins `bytes` at `version`.
    pub fn of(bytes: &[u8], version: u64) -> Self {
        MetaFile {
            sha256: crate::sha256_hex(bytes),
            length: bytes.len() as u64,
            version,
        }
    }

    /// Whether `bytes` are the pinned file.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        bytes.len() as u64 == self.length && crate::sha256_hex(bytes) == self.sha256
    }
}

/// The `signed` part of `snapshot.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SnapshotMeta {
    /// Always `snapshot`.
    #[serde(rename = "type")]
    pub kind: Role,
    /// The format version (1).
    pub format: u64,
    /// +1 at each change of the registry.
    pub version: u64,
    /// RFC 3339 UTC; refused after.
    pub expires: String,
    /// `config.json` and every index file (`index/…`), by path.
    pub meta: BTreeMap<String, MetaFile>,
}

/// The `signed` part of `timestamp.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TimestampMeta {
    /// Always `timestamp`.
    #[serde(rename = "type")]
    pub kind: Role,
    /// The format version (1).
    pub format: u64,
    /// +1 at each re-signing.
    pub version: u64,
    /// RFC 3339 UTC, short (a day by default); refused after.
    pub expires: String,
    /// The current `snapshot.json`.
    pub snapshot: MetaFile,
}
