//! Data migrations a plugin declares between its versions, run by the host on update.
//!
//! A migration method in the `#[plugin]` impl, marked `#[migration(from = "0.1", to = "0.2")]`,
//! receives the plugin's data as it stood under the old version — its stored configuration and
//! every KV entry — and changes it through [`MigrationData`]. It runs before the new version
//! starts, with no host lock held; the host applies what it changed in one transaction after
//! an online backup, and a failing migration restores the backup and aborts the update
//! (`SB0730`).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::abi::Output;
use crate::error::{codes, PluginError};
use crate::state::KvWrite;

/// The method index of migration number `i` in the dispatch table: far above any command.
#[doc(hidden)]
pub const MIGRATION_BASE: u32 = 0x8000_0000;

/// What the host sends a migration.
#[doc(hidden)]
#[derive(Debug, Serialize, Deserialize)]
pub struct MigrationRequest {
    pub from: String,
    pub to: String,
    /// The stored configuration, as JSON text.
    pub config: String,
    pub kv: Vec<(String, Vec<u8>)>,
}

/// What a migration sends back.
#[doc(hidden)]
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct MigrationResponse {
    /// The new stored configuration as JSON text, if it changed.
    pub config: Option<String>,
    pub writes: Vec<KvWrite>,
}

/// The plugin's data during a migration: read the old, write the new.
///
/// # Example
///
/// ```
/// use switchboard_sdk::migration::MigrationData;
///
/// let mut data = MigrationData::new(serde_json::json!({}), [("count".to_string(), b"7".to_vec())]);
/// // 0.2 keeps counters under `c/`.
/// for key in data.keys().filter(|k| !k.starts_with("c/")).collect::<Vec<_>>() {
///     let value = data.get(&key).unwrap().to_vec();
///     data.put(&format!("c/{key}"), value);
///     data.delete(&key);
/// }
/// assert_eq!(data.get("c/count"), Some(&b"7"[..]));
/// assert_eq!(data.get("count"), None);
/// ```
#[derive(Debug, Clone)]
pub struct MigrationData {
    from: String,
    to: String,
    config: serde_json::Value,
    config_changed: bool,
    kv: BTreeMap<String, Vec<u8>>,
    writes: BTreeMap<String, Option<Vec<u8>>>,
}

impl MigrationData {
    /// Data for a migration (the host builds it; tests may too).
    pub fn new(
        config: serde_json::Value,
        kv: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> MigrationData {
        MigrationData {
            from: String::new(),
            to: String::new(),
            config,
            config_changed: false,
            kv: kv.into_iter().collect(),
            writes: BTreeMap::new(),
        }
    }

    /// The version the data comes from.
    pub fn from_version(&self) -> &str {
        &self.from
    }

    /// The version it is migrated to.
    pub fn to_version(&self) -> &str {
        &self.to
    }

    /// The value under `key` as it stands now (old data with this migration's writes).
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        match self.writes.get(key) {
            Some(w) => w.as_deref(),
            None => self.kv.get(key).map(Vec::as_slice),
        }
    }

    /// The value under `key` decoded from JSON.
    pub fn get_as<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, PluginError> {
        self.get(key)
            .map(|v| {
                serde_json::from_slice(v).map_err(|e| {
                    PluginError::with_code(
                        codes::BAD_REQUEST,
                        format!("`{key}` does not decode: {e}"),
                    )
                })
            })
            .transpose()
    }

    /// Every key as it stands now, in order.
    pub fn keys(&self) -> impl Iterator<Item = String> + '_ {
        let mut keys: Vec<String> = self
            .kv
            .keys()
            .filter(|k| !matches!(self.writes.get(*k), Some(None)))
            .cloned()
            .collect();
        keys.extend(
            self.writes
                .iter()
                .filter(|(k, v)| v.is_some() && !self.kv.contains_key(*k))
                .map(|(k, _)| k.clone()),
        );
        keys.sort();
        keys.into_iter()
    }

    /// Writes `value` under `key`.
    pub fn put(&mut self, key: &str, value: impl Into<Vec<u8>>) {
        self.writes.insert(key.to_owned(), Some(value.into()));
    }

    /// Writes `value` as JSON under `key`.
    pub fn put_as<T: Serialize>(&mut self, key: &str, value: &T) -> Result<(), PluginError> {
        let bytes = serde_json::to_vec(value).map_err(|e| {
            PluginError::with_code(
                codes::ENCODE_FAILED,
                format!("`{key}` does not encode: {e}"),
            )
        })?;
        self.put(key, bytes);
        Ok(())
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: &str) {
        self.writes.insert(key.to_owned(), None);
    }

    /// The stored configuration (what earlier migrations set; an empty object if none).
    pub fn config(&self) -> &serde_json::Value {
        &self.config
    }

    /// Replaces the stored configuration.
    pub fn set_config(&mut self, config: serde_json::Value) {
        self.config = config;
        self.config_changed = true;
    }

    fn into_response(self) -> MigrationResponse {
        MigrationResponse {
            config: self.config_changed.then(|| self.config.to_string()),
            writes: self
                .writes
                .into_iter()
                .map(|(key, value)| KvWrite { key, value })
                .collect(),
        }
    }
}

/// Encodes a request (for the host).
#[doc(hidden)]
pub fn encode_request(request: &MigrationRequest) -> Vec<u8> {
    let mut bytes = Vec::new();
    crate::message::encode_into(request, &mut bytes);
    bytes
}

/// Decodes a migration's reply (for the host).
#[doc(hidden)]
pub fn decode_response(bytes: &[u8]) -> Result<MigrationResponse, PluginError> {
    crate::message::decode_as(bytes)
}

/// Runs one migration for the generated dispatch table.
#[doc(hidden)]
pub fn run_migration(
    request: &[u8],
    out: &mut Output<'_>,
    f: impl FnOnce(&mut MigrationData) -> Result<(), PluginError>,
) -> Result<(), PluginError> {
    let req: MigrationRequest = crate::message::decode_as(request)?;
    let config = serde_json::from_str(&req.config).map_err(|e| {
        PluginError::with_code(
            codes::BAD_REQUEST,
            format!("the stored configuration is not JSON: {e}"),
        )
    })?;
    let mut data = MigrationData::new(config, req.kv);
    data.from = req.from;
    data.to = req.to;
    f(&mut data)?;
    let mut bytes = Vec::new();
    crate::message::encode_into(&data.into_response(), &mut bytes);
    out.extend_from_slice(&bytes);
    Ok(())
}
