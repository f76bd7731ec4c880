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

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::testing::{Activity, MockHost};

    /// A mock host granting what `notes-export` asks for, with `notes.search` and `notes`
    /// stubbed: two notes hold "milk".
    fn host() -> MockHost {
        let host = MockHost::new("notes-export");
        host.grant("config.read")
            .unwrap()
            .grant("service.call:notes")
            .unwrap()
            .grant("service.call:notes.search")
            .unwrap();
        host.stub_service("notes.search", "search", |word: String| {
            Ok(if word == "milk" {
                "Breakfast\nGroceries".to_string()
            } else {
                String::new()
            })
        });
        host.stub_service("notes", "get", |title: String| {
            Ok(format!("{title}\nsomething with milk"))
        });
        host
    }

    #[test]
    fn export_asks_search_then_each_note_and_writes_markdown() {
        let host = host();
        let export = host.instantiate::<Export>().unwrap();
        let doc: String = export.call("export", &"milk".to_string()).unwrap();
        assert_eq!(
            doc,
            "## Breakfast\n\nsomething with milk\n\n## Groceries\n\nsomething with milk\n"
        );
        let calls = |s: &str, m: &str| (s.to_string(), m.to_string());
        assert_eq!(
            host.service_calls(),
            [
                calls("notes.search", "search"),
                calls("notes", "get"),
                calls("notes", "get")
            ]
        );
        assert_eq!(
            host.activity().first(),
            Some(&Activity::ConfigRead),
            "the heading level first"
        );
        assert_eq!(
            host.logs(),
            [(Level::Info, "exported 2 notes holding `milk`".to_string())]
        );
        assert_eq!(
            export
                .call::<String, String>("export", &"tea".into())
                .unwrap(),
            ""
        );
    }

    #[test]
    fn the_configured_heading_level_applies() {
        let host = host();
        host.set_config(serde_json::json!({ "heading": 3 }));
        let export = host.instantiate::<Export>().unwrap();
        let doc: String = export.call("export", &"milk".to_string()).unwrap();
        assert!(doc.starts_with("### Breakfast\n"), "{doc}");
    }

    #[test]
    fn the_render_hook_is_served_as_a_command() {
        let host = host();
        let export = host.instantiate::<Export>().unwrap();
        assert_eq!(
            export.manifest().hooks[0].point,
            "notes.render",
            "declared for the host's point"
        );
        let out: String = export.call("render", &"Title\nbody".to_string()).unwrap();
        assert_eq!(out, "# Title\n\nbody\n");
        assert_eq!(markdown("Only a title", 9), "###### Only a title\n");
    }

    #[test]
    fn each_service_needs_its_own_grant() {
        let host = MockHost::new("notes-export");
        host.grant("config.read")
            .unwrap()
            .grant("service.call:notes.search")
            .unwrap();
        host.stub_service("notes.search", "search", |_: String| Ok("A".to_string()));
        let export = host.instantiate::<Export>().unwrap();
        let e = export
            .call::<String, String>("export", &"milk".into())
            .unwrap_err();
        // `service.call` is granted, but for `notes.search` only: `notes` is out of its scope.
        assert_eq!(e.code().to_string(), "SB0412");
        assert!(e.to_string().contains("notes"), "{e}");
    }
}
