//! Who a plugin's data belongs to. A plugin's state — KV, secrets, stored configuration and
//! persistent grants — is bound to the identity that first wrote it, not to its name: the
//! signer's key for signed packages (as mobile platforms refuse an update signed by another
//! key), where the code came from for unsigned code. Another identity under the same name (or
//! a name that aliases it, `Victim_B` for `victim-b`) is refused (`SB0440`) until an operator
//! transfers the data to it or wipes it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rusqlite::{params, OptionalExtension};
use serde_json::json;
use switchboard_sdk::manifest::name_key;
use switchboard_sdk::ErrorCode;

use crate::audit::{AuditEvent, AuditKind};
use crate::error::{Error, StoreError};
use crate::store::Store;
use crate::timestamp::Timestamp;

/// The identity that owns a plugin's data.
///
/// Written as text (the form errors, the audit log and the CLI use): `key:KEYID`,
/// `library:/abs/path/libname.so` or `package-dir:/abs/dir`.
///
/// ```
/// use switchboard_host::PluginIdentity;
/// let id: PluginIdentity = "key:72C4E2A32E20195D".parse().unwrap();
/// assert_eq!(id, PluginIdentity::Signer("72C4E2A32E20195D".into()));
/// assert_eq!(id.to_string(), "key:72C4E2A32E20195D");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PluginIdentity {
    /// A signed package: its signer's key id. Every release signed with the key keeps the
    /// data; a release signed with another key does not.
    Signer(String),
    /// An unsigned development library: its canonical path. Rebuilding the crate writes the
    /// same path, so a rebuild keeps its data; another library (another crate, or a copy
    /// elsewhere) does not.
    Library(PathBuf),
    /// An unsigned package (development opt-in): the canonical directory it was loaded
    /// from, since its file name changes with every version.
    PackageDir(PathBuf),
}

impl PluginIdentity {
    /// The identity of an unsigned library at `path`.
    pub(crate) fn of_library(path: &Path) -> Self {
        PluginIdentity::Library(canonical(path))
    }

    /// The identity of a package at `path`, signed by `signer` (a key id) or not.
    pub(crate) fn of_package(path: &Path, signer: Option<&str>) -> Self {
        match signer {
            Some(id) => PluginIdentity::Signer(id.to_owned()),
            None => {
                let file = canonical(path);
                PluginIdentity::PackageDir(file.parent().map_or(file.clone(), Path::to_path_buf))
            }
        }
    }
}

/// The path with symlinks and `..` resolved, so one file is one identity however it is named;
/// as given if it cannot be resolved (it was just read, so that is rare).
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

impl fmt::Display for PluginIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginIdentity::Signer(id) => write!(f, "key:{id}"),
            PluginIdentity::Library(p) => write!(f, "library:{}", p.display()),
            PluginIdentity::PackageDir(p) => write!(f, "package-dir:{}", p.display()),
        }
    }
}

impl FromStr for PluginIdentity {
    type Err = IdentityError;

    fn from_str(text: &str) -> Result<Self, IdentityError> {
        let invalid = |reason: &str| IdentityError::Invalid {
            text: text.chars().take(200).collect(),
            reason: reason.to_owned(),
        };
        let (kind, value) = text
            .split_once(':')
            .ok_or_else(|| invalid("no `kind:` prefix"))?;
        if value.is_empty() {
            return Err(invalid("nothing after the prefix"));
        }
        match kind {
            "key" if value.chars().all(|c| c.is_ascii_hexdigit()) => {
                Ok(PluginIdentity::Signer(value.to_owned()))
            }
            "key" => Err(invalid("a key id is hexadecimal")),
            "library" | "package-dir" if !Path::new(value).is_absolute() => {
                Err(invalid("the path must be absolute"))
            }
            "library" => Ok(PluginIdentity::Library(value.into())),
            "package-dir" => Ok(PluginIdentity::PackageDir(value.into())),
            _ => Err(invalid("the kind is `key`, `library` or `package-dir`")),
        }
    }
}

/// Errors binding a plugin's data to an identity (`SB0440`–`SB0443`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The plugin's data belongs to another identity; nothing of it was handed over and no
    /// plugin code ran.
    #[error("plugin `{plugin}`: its data belongs to {recorded}; this copy is {found}")]
    Mismatch {
        /// The plugin, as this copy names itself.
        plugin: String,
        /// The identity that owns the data.
        recorded: String,
        /// This copy's identity.
        found: String,
    },
    /// No identity is recorded for the plugin, so there is nothing to transfer.
    #[error("no data owner is recorded for plugin `{plugin}`")]
    NotRecorded {
        /// The plugin.
        plugin: String,
    },
    /// The plugin is loaded; its data does not change owner under it.
    #[error("plugin `{plugin}` is loaded; its data cannot change owner while it runs")]
    Loaded {
        /// The plugin.
        plugin: String,
    },
    /// The text is not an identity.
    #[error("`{text}` is not a plugin identity: {reason}")]
    Invalid {
        /// The text given.
        text: String,
        /// What is wrong.
        reason: String,
    },
}

impl IdentityError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::from_number(match self {
            IdentityError::Mismatch { .. } => 440,
            IdentityError::NotRecorded { .. } => 441,
            IdentityError::Loaded { .. } => 442,
            IdentityError::Invalid { .. } => 443,
        })
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            IdentityError::Mismatch { plugin, found, .. } => format!(
                "if this copy is the same publisher's plugin, hand it the data with \
                 `switchboard state transfer {plugin} --to '{found}' --data-dir DATA_DIR` \
                 (`Host::transfer_state`; DATA_DIR is the host's data directory); to start \
                 afresh, `switchboard state wipe {plugin} --data-dir DATA_DIR` \
                 (`Host::wipe_state`); otherwise load the original"
            ),
            IdentityError::NotRecorded { .. } => {
                "nothing to do: the next load of the plugin becomes the owner of its data".into()
            }
            IdentityError::Loaded { plugin } => {
                format!("remove `{plugin}` first (`Host::remove`), then try again")
            }
            IdentityError::Invalid { .. } => {
                "write `key:KEYID`, `library:/abs/path` or `package-dir:/abs/dir`, as the refusal \
                 printed it"
                    .into()
            }
        }
    }
}

/// What [`Store::wipe_state`] deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct WipeReport {
    /// KV entries.
    pub kv_entries: u64,
    /// Secrets.
    pub secrets: u64,
    /// Stored grants.
    pub grants: u64,
    /// The identity that owned the data, if one was recorded.
    pub owner: Option<String>,
}

impl Store {
    /// The identity that owns `plugin`'s data (names compare by their key: `Victim_B` is
    /// `victim-b`), if one is recorded.
    pub fn plugin_identity(&self, plugin: &str) -> Result<Option<PluginIdentity>, Error> {
        let text = self.recorded_identity(plugin)?;
        Ok(text.map(|t| t.parse()).transpose()?)
    }

    fn recorded_identity(&self, plugin: &str) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT identity FROM plugin_identities WHERE plugin = ?1",
                [name_key(plugin)],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    /// Refuses (`SB0440`) if `plugin`'s data belongs to an identity other than `identity`.
    pub(crate) fn check_identity(
        &self,
        plugin: &str,
        identity: &PluginIdentity,
    ) -> Result<(), Error> {
        let found = identity.to_string();
        match self.recorded_identity(plugin)? {
            Some(recorded) if recorded != found => Err(IdentityError::Mismatch {
                plugin: plugin.to_owned(),
                recorded,
                found,
            }
            .into()),
            _ => Ok(()),
        }
    }

    /// Makes `identity` the owner of `plugin`'s data if nobody is; refuses (`SB0440`) if
    /// someone else is. The first claim is audited.
    pub(crate) fn claim_identity(
        &self,
        plugin: &str,
        identity: &PluginIdentity,
    ) -> Result<bool, Error> {
        let text = identity.to_string();
        let inserted = self.with(|c| {
            Ok(c.execute(
                "INSERT OR IGNORE INTO plugin_identities (plugin, name, identity, recorded_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![name_key(plugin), plugin, text, Timestamp::now().as_millis()],
            )?)
        })?;
        if inserted == 1 {
            self.audit().append(&AuditEvent::new(
                AuditKind::Identity,
                plugin,
                &text,
                json!({ "action": "claim" }),
            ))?;
            return Ok(true);
        }
        self.check_identity(plugin, identity).map(|()| false)
    }

    /// Undoes a claim [`claim_identity`](Store::claim_identity) just made, when the load that
    /// made it failed: a library whose `create` failed must not keep the name's data for
    /// itself. Only a row naming `identity` is removed. Audited.
    pub(crate) fn unclaim_identity(
        &self,
        plugin: &str,
        identity: &PluginIdentity,
    ) -> Result<(), Error> {
        let text = identity.to_string();
        let removed = self.with(|c| {
            Ok(c.execute(
                "DELETE FROM plugin_identities WHERE plugin = ?1 AND identity = ?2",
                params![name_key(plugin), text],
            )?)
        })?;
        if removed == 1 {
            self.audit().append(&AuditEvent::new(
                AuditKind::Identity,
                plugin,
                &text,
                json!({ "action": "unclaim", "reason": "the load failed" }),
            ))?;
        }
        Ok(())
    }

    /// Hands `plugin`'s data (KV, secrets, stored configuration, persistent grants) to
    /// identity `to`: the operator's explicit action after a `SB0440` refusal, e.g. when a
    /// publisher rotated its key. Returns the previous owner. Audited. A host with the plugin
    /// loaded refuses (`Host::transfer_state`); this lower-level call cannot see other
    /// processes, so run it while no host has the plugin loaded.
    pub fn transfer_state(
        &self,
        plugin: &str,
        to: &PluginIdentity,
    ) -> Result<PluginIdentity, Error> {
        let Some(previous) = self.plugin_identity(plugin)? else {
            return Err(IdentityError::NotRecorded {
                plugin: plugin.to_owned(),
            }
            .into());
        };
        self.with(|c| {
            c.execute(
                "UPDATE plugin_identities SET identity = ?2, recorded_at_ms = ?3
                 WHERE plugin = ?1",
                params![
                    name_key(plugin),
                    to.to_string(),
                    Timestamp::now().as_millis()
                ],
            )?;
            Ok(())
        })?;
        self.audit().append(&AuditEvent::new(
            AuditKind::Identity,
            plugin,
            to.to_string(),
            json!({ "action": "transfer", "from": previous.to_string() }),
        ))?;
        Ok(previous)
    }

    /// Deletes `plugin`'s data — KV entries and usage, secrets, stored configuration,
    /// persistent grants — and its recorded owner, so the next load starts afresh under its
    /// own identity. Audited. Like [`transfer_state`](Store::transfer_state), run it while no
    /// host has the plugin loaded.
    pub fn wipe_state(&self, plugin: &str) -> Result<WipeReport, Error> {
        let key = name_key(plugin);
        let owner = self.recorded_identity(plugin)?;
        let report = self.with(|c| {
            let tx = c.transaction()?;
            let kv_entries = tx.execute("DELETE FROM kv WHERE plugin = ?1", [&key])?;
            tx.execute("DELETE FROM kv_usage WHERE plugin = ?1", [&key])?;
            let secrets = tx.execute("DELETE FROM secrets WHERE plugin = ?1", [&key])?;
            tx.execute("DELETE FROM config_stored WHERE plugin = ?1", [&key])?;
            // Grants are stored under the name as the plugin wrote it.
            let grants = tx.execute(
                "DELETE FROM grants WHERE lower(replace(plugin, '-', '_')) = ?1",
                [&key],
            )?;
            tx.execute("DELETE FROM plugin_identities WHERE plugin = ?1", [&key])?;
            tx.commit()?;
            Ok(WipeReport {
                kv_entries: kv_entries as u64,
                secrets: secrets as u64,
                grants: grants as u64,
                owner: owner.clone(),
            })
        })?;
        self.audit().append(&AuditEvent::new(
            AuditKind::Identity,
            plugin,
            owner.as_deref().unwrap_or("(none)"),
            json!({
                "action": "wipe",
                "kv_entries": report.kv_entries,
                "secrets": report.secrets,
                "grants": report.grants,
            }),
        ))?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mismatch_next_step_names_the_data_dir_the_cli_needs() {
        let e = IdentityError::Mismatch {
            plugin: "greeter".into(),
            recorded: "library:/t/libgreeter.so".into(),
            found: "key:0C1313DD3857E1D3".into(),
        };
        let next = e.next_step();
        assert!(
            next.contains("state transfer greeter --to 'key:0C1313DD3857E1D3' --data-dir"),
            "{next}"
        );
        assert!(next.contains("state wipe greeter --data-dir"), "{next}");
    }

    #[test]
    fn identities_round_trip_through_their_text() {
        for text in [
            "key:72C4E2A32E20195D",
            "library:/work/target/debug/libcounter.so",
            "package-dir:/srv/plugins",
        ] {
            let id: PluginIdentity = text.parse().unwrap();
            assert_eq!(id.to_string(), text);
        }
    }

    #[test]
    fn malformed_identities_are_refused_with_their_code() {
        for text in [
            "",
            "counter",
            "key:",
            "key:not-hex",
            "library:relative/lib.so",
            "url:https://x",
        ] {
            let e = text.parse::<PluginIdentity>().unwrap_err();
            assert_eq!(e.code().to_string(), "SB0443", "{text}");
        }
    }

    #[test]
    fn a_store_refuses_a_second_owner_until_the_data_is_transferred() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = PluginIdentity::Signer("AAAA".into());
        let b = PluginIdentity::Signer("BBBB".into());
        store.claim_identity("victim-b", &a).unwrap();
        let e = store.claim_identity("Victim_B", &b).unwrap_err();
        assert_eq!(e.code().to_string(), "SB0440");
        assert!(e.to_string().contains("key:AAAA") && e.to_string().contains("key:BBBB"));
        store.transfer_state("victim-b", &b).unwrap();
        store.claim_identity("Victim_B", &b).unwrap();
        assert_eq!(store.plugin_identity("victim_b").unwrap(), Some(b));
    }
}
