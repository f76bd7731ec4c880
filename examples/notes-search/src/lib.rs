//! `notes-search`, an internal example plugin (shipped with the host, certified by its
//! registry) that depends on another plugin: it keeps a word index of the `notes` plugin's
//! notes.
//!
//! - **A dependency**: `plugin.toml` requires `notes = "^0.2"`, so an install brings `notes`
//!   in and starts it first, and removing `notes` names this plugin as its dependent.
//! - **Events**: `#[subscribe("plugin.notes.saved")]` hears every saved note's title.
//! - **A service call**: for each, it asks the `notes` service for the text
//!   (`ctx.call_service("notes", "get", …)`), which needs `service.call:notes`.
//! - **State**: the index, in its own KV store: `w/WORD` → the titles holding WORD (JSON).
//! - **A service of its own**: `search` is the method of the shared service `notes.search`,
//!   which `notes-export` calls.

// Examples are what authors copy: input from callers and hosts becomes an error, never a
// panic (tests keep unwrap and expect, as assertions).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
use std::collections::BTreeSet;

use switchboard_sdk::prelude::*;

/// The words of `text` the index keeps: lower-cased runs of letters and digits, two or more
/// long.
pub fn words(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2)
        .map(str::to_lowercase)
        .collect()
}

/// The plugin.
#[derive(Debug, Default)]
pub struct Search;

impl Plugin for Search {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Search)
    }
}

#[plugin(
    capabilities = [
        "kv",
        "events.subscribe:plugin.notes.*",
        "service.call:notes",
        "service.provide:notes.search",
    ],
    services = ["notes.search"]
)]
impl Search {
    /// The titles of the notes holding `word` (any case), one a line, in order.
    #[command]
    fn search(&self, ctx: &Context, word: String) -> Result<String, PluginError> {
        let titles: Vec<String> = ctx
            .kv()
            .get_as(&format!("w/{}", word.to_lowercase()))?
            .unwrap_or_default();
        Ok(titles.join("\n"))
    }

    /// How many notes have been indexed.
    #[command]
    fn indexed(&self, ctx: &Context) -> Result<u64, PluginError> {
        Ok(ctx.kv().get_as::<u64>("indexed")?.unwrap_or(0))
    }

    /// Indexes the note a `plugin.notes.saved` event names, reading it through the `notes`
    /// service. An event that is not a title is the publisher's fault (`BAD_EVENT`).
    #[subscribe("plugin.notes.saved")]
    fn on_saved(&self, ctx: &Context, event: &Event<'_>) -> Result<(), PluginError> {
        let title: String = event
            .decode()
            .map_err(|e| PluginError::with_code(switchboard_sdk::codes::BAD_EVENT, e.message()))?;
        let text: String = ctx.call_service("notes", "get", &title)?;
        let found = words(&text);
        ctx.kv().transaction(|tx| {
            for w in &found {
                let k = format!("w/{w}");
                let mut titles: Vec<String> = tx.get_as(&k)?.unwrap_or_default();
                if !titles.contains(&title) {
                    titles.push(title.clone());
                    titles.sort();
                    tx.put_as(&k, &titles)?;
                }
            }
            let n = tx.get_as::<u64>("indexed")?.unwrap_or(0) + 1;
            tx.put_as("indexed", &n)?;
            Ok(())
        })?;
        ctx.debug(&format!("indexed `{title}`: {} words", found.len()));
        Ok(())
    }
}
