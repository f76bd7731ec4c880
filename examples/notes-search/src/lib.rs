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
//! - **Events of its own**: each indexed note is announced on `plugin.notes-search.indexed`.
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

    /// Indexes every note again, asking the `notes` service for the titles (notes saved
    /// before this plugin was installed, or migrated from an older `notes`). Returns how many.
    #[command]
    fn reindex(&self, ctx: &Context) -> Result<u64, PluginError> {
        let titles: String = ctx.call_service("notes", "titles", &())?;
        let mut n = 0;
        for title in titles.lines().filter(|t| !t.is_empty()) {
            index(ctx, title)?;
            n += 1;
        }
        Ok(n)
    }

    /// Indexes the note a `plugin.notes.saved` event names, reading it through the `notes`
    /// service, then announces it on `plugin.notes-search.indexed`. An event that is not a
    /// title is the publisher's fault (`BAD_EVENT`).
    #[subscribe("plugin.notes.saved")]
    fn on_saved(&self, ctx: &Context, event: &Event<'_>) -> Result<(), PluginError> {
        let title: String = event
            .decode()
            .map_err(|e| PluginError::with_code(switchboard_sdk::codes::BAD_EVENT, e.message()))?;
        index(ctx, &title)?;
        ctx.emit("indexed", &title)?;
        Ok(())
    }
}

/// Adds the words of note `title` (its text from the `notes` service) to the index.
fn index(ctx: &Context, title: &str) -> Result<(), PluginError> {
    let text: String = ctx.call_service("notes", "get", &title.to_owned())?;
    let found = words(&text);
    ctx.kv().transaction(|tx| {
        for w in &found {
            let k = format!("w/{w}");
            let mut titles: Vec<String> = tx.get_as(&k)?.unwrap_or_default();
            if !titles.iter().any(|t| t == title) {
                titles.push(title.to_owned());
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

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::testing::{Activity, MockHost};

    fn host() -> MockHost {
        let host = MockHost::new("notes-search");
        host.grant("kv")
            .unwrap()
            .grant("events.subscribe:plugin.notes.*")
            .unwrap()
            .grant("service.call:notes")
            .unwrap();
        host
    }

    #[test]
    fn a_saved_note_event_is_indexed_through_the_stubbed_notes_service() {
        let host = host();
        // Stands in for the `notes` plugin: its `get` method, by name and contract.
        host.stub_service("notes", "get", |title: String| {
            Ok(format!("{title}\nMilk, bread and more milk"))
        });
        let search = host.instantiate::<Search>().unwrap();
        let handlers = search
            .deliver("plugin.notes.saved", &"Groceries".to_string())
            .unwrap();
        assert_eq!(handlers, 1);
        assert_eq!(
            host.service_calls(),
            [("notes".to_string(), "get".to_string())]
        );
        assert_eq!(
            search
                .call::<String, String>("search", &"MILK".into())
                .unwrap(),
            "Groceries"
        );
        assert_eq!(search.call::<(), u64>("indexed", &()).unwrap(), 1);
        assert_eq!(host.published()[0].0, "plugin.notes-search.indexed");
        assert!(host
            .activity()
            .contains(&Activity::KvWrite("w/bread".into())));
        assert!(host
            .logs()
            .iter()
            .any(|(level, line)| *level == Level::Debug && line.contains("Groceries")));
        // A second note sharing a word: both titles, in order.
        search
            .deliver("plugin.notes.saved", &"Breakfast".to_string())
            .unwrap();
        assert_eq!(
            search
                .call::<String, String>("search", &"bread".into())
                .unwrap(),
            "Breakfast\nGroceries"
        );
    }

    #[test]
    fn reindex_walks_every_title_the_notes_service_lists() {
        let host = host();
        host.stub_service("notes", "titles", |()| Ok("A\nB".to_string()));
        host.stub_service("notes", "get", |t: String| Ok(format!("{t}\nshared")));
        let search = host.instantiate::<Search>().unwrap();
        assert_eq!(search.call::<(), u64>("reindex", &()).unwrap(), 2);
        assert_eq!(
            search
                .call::<String, String>("search", &"shared".into())
                .unwrap(),
            "A\nB"
        );
        assert!(host.published().is_empty(), "reindexing announces nothing");
    }

    #[test]
    fn without_the_notes_service_the_event_fails_and_nothing_is_indexed() {
        let host = host();
        let search = host.instantiate::<Search>().unwrap();
        let e = search
            .deliver("plugin.notes.saved", &"Groceries".to_string())
            .unwrap_err();
        assert_eq!(e.code().to_string(), "SB0807", "{e}");
        assert_eq!(search.call::<(), u64>("indexed", &()).unwrap(), 0);
    }

    #[test]
    fn an_event_that_is_not_a_title_is_the_publishers_fault() {
        let host = host();
        let search = host.instantiate::<Search>().unwrap();
        let e = search
            .deliver_raw("plugin.notes.saved", &[0xff], &[])
            .unwrap_err();
        assert_eq!(e.code(), switchboard_sdk::codes::BAD_EVENT);
        // Other topics reach no handler; without the grant, nothing is delivered.
        assert_eq!(
            search
                .deliver("plugin.notes.deleted", &"x".to_string())
                .unwrap(),
            0
        );
        let bare = MockHost::new("notes-search");
        let search = bare.instantiate::<Search>().unwrap();
        let e = search
            .deliver("plugin.notes.saved", &"x".to_string())
            .unwrap_err();
        assert_eq!(e.code().to_string(), "SB0410");
    }

    #[test]
    fn words_are_lower_cased_runs_of_two_or_more() {
        let w = words("A note: Milk, milk & 2 eggs!");
        assert_eq!(w.into_iter().collect::<Vec<_>>(), ["eggs", "milk", "note"]);
    }
}
