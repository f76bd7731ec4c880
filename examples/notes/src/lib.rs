//! `notes`, an internal example plugin (shipped with the host, certified by its registry):
//! notes kept in the host's KV store, a secret, typed configuration, a data migration from
//! the 0.1 layout, events other plugins follow, and a shared service they call.
//!
//! - **State**: each note is a [`Record`] (JSON) under `n/TITLE` in the plugin's KV store.
//! - **Configuration** (`[config]` in `plugin.toml`): `max_len`, the longest note accepted,
//!   and `tag`, the tag a new note gets.
//! - **A secret**: `share_key`, with which `share` signs a link to a note; the key itself
//!   never leaves the plugin.
//! - **Events**: every saved note is announced as `plugin.notes.saved` (its title).
//! - **A service**: `#[plugin(services = ["notes"])]` offers the commands to other plugins as
//!   the methods of the shared service `notes` (`notes-search` and `notes-export` call `get`
//!   and `titles`).
//! - **A migration**: 0.1 kept a note's text as it stood under `note/TITLE` and called the
//!   limit `max_length`; `#[migration(from = "0.1", to = "0.2")]` rewrites both when a host
//!   updates the plugin, before 0.2 starts.

// Examples are what authors copy: input from callers and hosts becomes an error, never a
// panic (tests keep unwrap and expect, as assertions).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
use serde::{Deserialize, Serialize};
use switchboard_sdk::prelude::*;

/// The plugin's configuration (`[config]` in `plugin.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The longest note accepted, in bytes.
    pub max_len: u64,
    /// The tag a new note gets.
    pub tag: String,
}

/// A note as 0.2 stores it, under `n/TITLE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The whole text: the title line, then the body.
    pub text: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// When it was saved, in seconds since the Unix epoch by the host's clock (0: migrated
    /// from 0.1, which kept no time).
    pub saved_at: u64,
}

/// The KV key of a note.
fn key(title: &str) -> String {
    format!("n/{title}")
}

/// A note's title: its first line, trimmed.
pub fn title_of(text: &str) -> &str {
    text.lines().next().unwrap_or_default().trim()
}

/// FNV-1a over `parts`, as hex: the signature of a share link (an example, not cryptography).
fn fnv_hex(parts: &[&[u8]]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// The plugin.
#[derive(Debug, Default)]
pub struct Notes;

impl Plugin for Notes {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Notes)
    }
}

#[plugin(
    capabilities = ["kv", "secrets", "config.read", "service.provide:notes"],
    services = ["notes"]
)]
impl Notes {
    /// Saves a note: its first line is its title. Refuses an empty title or a text longer
    /// than `max_len`; announces the title on `plugin.notes.saved`. Returns the title.
    #[command]
    fn save(&self, ctx: &Context, text: String) -> Result<String, PluginError> {
        let settings: Settings = ctx.config()?;
        let title = title_of(&text).to_owned();
        if title.is_empty() {
            return Err(PluginError::new("a note needs a title on its first line"));
        }
        if text.len() as u64 > settings.max_len {
            return Err(PluginError::new(format!(
                "`{title}` is {} bytes; the limit is {} (`max_len`)",
                text.len(),
                settings.max_len
            )));
        }
        let saved_at = ctx
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let record = Record {
            text,
            tags: vec![settings.tag],
            saved_at,
        };
        ctx.kv().put_as(&key(&title), &record)?;
        ctx.info(&format!("saved `{title}`"));
        ctx.emit("saved", &title)?;
        Ok(title)
    }

    /// The text of the note `title`; an error if there is none.
    #[command]
    fn get(&self, ctx: &Context, title: String) -> Result<String, PluginError> {
        match ctx.kv().get_as::<Record>(&key(&title))? {
            Some(r) => Ok(r.text),
            None => Err(PluginError::new(format!("no note `{title}`"))),
        }
    }

    /// The tags of the note `title`, comma-separated.
    #[command]
    fn tags(&self, ctx: &Context, title: String) -> Result<String, PluginError> {
        match ctx.kv().get_as::<Record>(&key(&title))? {
            Some(r) => Ok(r.tags.join(",")),
            None => Err(PluginError::new(format!("no note `{title}`"))),
        }
    }

    /// Every title, one a line, in order.
    #[command]
    fn titles(&self, ctx: &Context) -> Result<String, PluginError> {
        let titles: Vec<String> = ctx
            .kv()
            .list("n/")?
            .into_iter()
            .map(|(k, _)| k["n/".len()..].to_owned())
            .collect();
        Ok(titles.join("\n"))
    }

    /// How many notes there are.
    #[command]
    fn count(&self, ctx: &Context) -> Result<u64, PluginError> {
        Ok(ctx.kv().list("n/")?.len() as u64)
    }

    /// Deletes the note `title`; whether there was one.
    #[command]
    fn delete(&self, ctx: &Context, title: String) -> Result<bool, PluginError> {
        ctx.kv().delete(&key(&title))
    }

    /// Stores the secret `share_key` that `share` signs links with.
    #[command]
    fn set_share_key(&self, ctx: &Context, share_key: String) -> Result<(), PluginError> {
        ctx.secrets().put("share_key", share_key.as_bytes())
    }

    /// A link to the note `title`, signed with the secret `share_key` (which stays here).
    #[command]
    fn share(&self, ctx: &Context, title: String) -> Result<String, PluginError> {
        if ctx.kv().get(&key(&title))?.is_none() {
            return Err(PluginError::new(format!("no note `{title}`")));
        }
        let Some(secret) = ctx.secrets().get("share_key")? else {
            return Err(PluginError::new("no share key: call `set_share_key` first"));
        };
        Ok(format!(
            "notes://{title}#{}",
            fnv_hex(&[secret.expose(), b"/", title.as_bytes()])
        ))
    }

    /// From 0.1 to 0.2: 0.1 kept each note's text as it stood under `note/TITLE`, with no
    /// tags or time, and called the limit `max_length`. Each becomes a [`Record`] under
    /// `n/TITLE` (tag `migrated`, time 0), and the stored `max_length` becomes `max_len`.
    /// A value that is not UTF-8 text refuses the migration, which aborts the update and
    /// leaves the 0.1 data as it was.
    #[migration(from = "0.1", to = "0.2")]
    fn migrate_0_1_to_0_2(&self, data: &mut MigrationData) -> Result<(), PluginError> {
        let old: Vec<String> = data.keys().filter(|k| k.starts_with("note/")).collect();
        for k in old {
            let bytes = data.get(&k).unwrap_or_default().to_vec();
            let text = String::from_utf8(bytes)
                .map_err(|_| PluginError::new(format!("`{k}` is not UTF-8 text")))?;
            let record = Record {
                text,
                tags: vec!["migrated".to_owned()],
                saved_at: 0,
            };
            data.put_as(&key(&k["note/".len()..]), &record)?;
            data.delete(&k);
        }
        let mut config = data.config().clone();
        if let Some(map) = config.as_object_mut() {
            if let Some(limit) = map.remove("max_length") {
                map.insert("max_len".into(), limit);
                data.set_config(config);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use switchboard_sdk::testing::{Activity, MockHost};

    /// A mock host granting what `notes` asks for, its clock at 1,000 s past the epoch.
    fn host() -> MockHost {
        let host = MockHost::new("notes");
        host.grant("kv")
            .unwrap()
            .grant("secrets")
            .unwrap()
            .grant("config.read")
            .unwrap();
        host.set_time(UNIX_EPOCH + Duration::from_secs(1_000));
        host
    }

    #[test]
    fn a_saved_note_is_stored_announced_logged_and_read_back() {
        let host = host();
        let notes = host.instantiate::<Notes>().unwrap();
        let title: String = notes
            .call("save", &"Groceries\nmilk, bread".to_string())
            .unwrap();
        assert_eq!(title, "Groceries");
        // Stored as a 0.2 record, stamped with the host's (fake) clock.
        let stored: Record =
            serde_json::from_slice(&host.kv_value("n/Groceries").unwrap()).unwrap();
        assert_eq!(stored.saved_at, 1_000);
        assert_eq!(stored.tags, ["inbox"], "the plugin.toml default tag");
        // Announced on its own topic, and logged.
        let published = host.published();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].0, "plugin.notes.saved");
        assert_eq!(
            switchboard_sdk::decode::<String>(&published[0].1).unwrap(),
            "Groceries"
        );
        assert_eq!(
            host.logs(),
            [(Level::Info, "saved `Groceries`".to_string())]
        );
        let text: String = notes.call("get", &"Groceries".to_string()).unwrap();
        assert_eq!(text, "Groceries\nmilk, bread");
        assert_eq!(notes.call::<(), u64>("count", &()).unwrap(), 1);
        assert_eq!(
            notes.call::<(), String>("titles", &()).unwrap(),
            "Groceries"
        );
        assert!(notes
            .call::<String, bool>("delete", &"Groceries".into())
            .unwrap());
        let e = notes
            .call::<String, String>("get", &"Groceries".into())
            .unwrap_err();
        assert_eq!(e.code().to_string(), "SB0100");
    }

    #[test]
    fn the_activity_shows_the_configuration_read_then_the_write() {
        let host = host();
        let notes = host.instantiate::<Notes>().unwrap();
        host.clear_activity();
        notes
            .call::<String, String>("save", &"A\nb".into())
            .unwrap();
        assert_eq!(
            host.activity(),
            [Activity::ConfigRead, Activity::KvWrite("n/A".into())]
        );
        host.clear_activity();
        notes.call::<String, String>("get", &"A".into()).unwrap();
        assert_eq!(host.activity(), [Activity::KvRead("n/A".into())]);
    }

    #[test]
    fn the_configuration_limits_a_note_and_names_its_tag() {
        let host = host();
        host.set_config(serde_json::json!({ "max_len": 8, "tag": "work" }));
        let notes = host.instantiate::<Notes>().unwrap();
        let e = notes
            .call::<String, String>("save", &"Too long\nfor eight".into())
            .unwrap_err();
        assert!(e.to_string().contains("max_len"), "{e}");
        assert!(host.published().is_empty(), "nothing announced");
        let e = notes
            .call::<String, String>("save", &"\nbody".into())
            .unwrap_err();
        assert!(e.to_string().contains("title"), "{e}");
        notes
            .call::<String, String>("save", &"Short".into())
            .unwrap();
        assert_eq!(
            notes
                .call::<String, String>("tags", &"Short".into())
                .unwrap(),
            "work"
        );
    }

    #[test]
    fn a_share_link_is_signed_with_the_secret_which_never_leaves() {
        let host = host();
        let notes = host.instantiate::<Notes>().unwrap();
        notes
            .call::<String, String>("save", &"Plan".into())
            .unwrap();
        let e = notes
            .call::<String, String>("share", &"Plan".into())
            .unwrap_err();
        assert!(e.to_string().contains("set_share_key"), "{e}");
        notes
            .call::<String, ()>("set_share_key", &"s3cret".into())
            .unwrap();
        host.clear_activity();
        let link: String = notes.call("share", &"Plan".to_string()).unwrap();
        assert!(link.starts_with("notes://Plan#"), "{link}");
        assert!(!link.contains("s3cret"));
        assert_eq!(
            host.activity(),
            [
                Activity::KvRead("n/Plan".into()),
                Activity::SecretRead("share_key".into())
            ]
        );
        // Another key signs differently.
        notes
            .call::<String, ()>("set_share_key", &"other".into())
            .unwrap();
        assert_ne!(
            notes
                .call::<String, String>("share", &"Plan".into())
                .unwrap(),
            link
        );
    }

    #[test]
    fn without_grants_state_is_denied_with_the_capability_named() {
        let host = MockHost::new("notes");
        host.grant("config.read").unwrap();
        let notes = host.instantiate::<Notes>().unwrap();
        let e = notes
            .call::<String, String>("save", &"A".into())
            .unwrap_err();
        assert_eq!(e.code().to_string(), "SB0410");
        assert!(e.to_string().contains("kv"), "{e}");
    }

    #[test]
    fn the_migration_turns_0_1_text_into_records_and_renames_the_limit() {
        let mut data = MigrationData::new(
            serde_json::json!({ "max_length": 100, "tag": "inbox" }),
            [
                ("note/Groceries".to_string(), b"Groceries\nmilk".to_vec()),
                ("unrelated".to_string(), b"x".to_vec()),
            ],
        );
        Notes.migrate_0_1_to_0_2(&mut data).unwrap();
        let record: Record = serde_json::from_slice(data.get("n/Groceries").unwrap()).unwrap();
        assert_eq!(record.text, "Groceries\nmilk");
        assert_eq!(record.tags, ["migrated"]);
        assert_eq!(data.get("note/Groceries"), None);
        assert_eq!(data.get("unrelated"), Some(&b"x"[..]));
        assert_eq!(
            data.config(),
            &serde_json::json!({ "max_len": 100, "tag": "inbox" })
        );
        // Data it cannot read refuses the migration (the host then keeps the 0.1 data).
        let mut bad = MigrationData::new(
            serde_json::json!({}),
            [("note/Bad".to_string(), vec![0xff, 0xfe])],
        );
        let e = Notes.migrate_0_1_to_0_2(&mut bad).unwrap_err();
        assert!(e.to_string().contains("note/Bad"), "{e}");
    }
}
