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
    fn from_0_1(&self, data: &mut MigrationData) -> Result<(), PluginError> {
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
