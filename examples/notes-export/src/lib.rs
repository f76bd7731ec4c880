//! `notes-export`, a community example plugin (a third party's, signed by its author): it
//! exports notes as Markdown and contributes to a host's extension point.
//!
//! - **Two dependencies**: `notes` and `notes-search` (which depends on `notes` itself), in
//!   `plugin.toml`'s `[requires] dependencies`.
//! - **Service calls**: `export` asks `notes.search` which notes hold a word and `notes` for
//!   each note's text. Each service needs its own `service.call` grant.
//! - **An extension point**: `#[hook("notes.render", filter)]` turns a note's text into
//!   Markdown wherever the host renders a note; the host declares the point (a `Filter` of
//!   `String`), and the hook needs `extend:notes.render`.
//! - **Configuration**: `heading`, the level of each note's Markdown heading.

// Examples are what authors copy: input from callers and hosts becomes an error, never a
// panic (tests keep unwrap and expect, as assertions).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
use serde::Deserialize;
use switchboard_sdk::prelude::*;

/// The plugin's configuration (`[config]` in `plugin.toml`).
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// The Markdown heading level of each note's title (1 to 6).
    pub heading: u8,
}

/// A note's text as Markdown: its first line a heading of `level`, the rest as it is.
pub fn markdown(text: &str, level: u8) -> String {
    let mut lines = text.lines();
    let title = lines.next().unwrap_or_default().trim();
    let body: Vec<&str> = lines.collect();
    let hashes = "#".repeat(usize::from(level.clamp(1, 6)));
    if body.is_empty() {
        format!("{hashes} {title}\n")
    } else {
        format!("{hashes} {title}\n\n{}\n", body.join("\n"))
    }
}

/// The plugin.
#[derive(Debug, Default)]
pub struct Export;

impl Plugin for Export {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Export)
    }
}

#[plugin(capabilities = [
    "config.read",
    "service.call:notes",
    "service.call:notes.search",
    "extend:notes.render",
])]
impl Export {
    /// Every note holding `word`, as one Markdown document (empty if none does).
    #[command]
    fn export(&self, ctx: &Context, word: String) -> Result<String, PluginError> {
        let settings: Settings = ctx.config()?;
        let titles: String = ctx.call_service("notes.search", "search", &word)?;
        let mut doc = String::new();
        let mut n = 0;
        for title in titles.lines().filter(|t| !t.is_empty()) {
            let text: String = ctx.call_service("notes", "get", &title.to_owned())?;
            if n > 0 {
                doc.push('\n');
            }
            doc.push_str(&markdown(&text, settings.heading));
            n += 1;
        }
        ctx.info(&format!("exported {n} notes holding `{word}`"));
        Ok(doc)
    }

    /// The host's `notes.render` point: a note's text, rendered as Markdown (at level 1: the
    /// host shows one note at a time).
    #[hook("notes.render", filter)]
    fn render(&self, text: String) -> String {
        markdown(&text, 1)
    }
}
