use serde::{Deserialize, Serialize};
use switchboard_sdk::extend::{pass, Next};
use switchboard_sdk::prelude::*;
use switchboard_sdk::{EmbeddedManifest, PluginEntry};

#[derive(Serialize, Deserialize, Message)]
pub struct Doc {
    pub title: String,
}

pub struct Stamp;

impl Plugin for Stamp {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Stamp)
    }
}

#[plugin(capabilities = ["extend:doc.*", "extend:app.commands"])]
impl Stamp {
    #[command]
    fn version(&self) -> String {
        "1".into()
    }

    #[hook("doc.title", filter, priority = -10, before = ["audit"], after = ["spell", "lint"])]
    fn stamp(&self, doc: Doc) -> Doc {
        Doc {
            title: format!("{} (stamped)", doc.title),
        }
    }

    #[hook("doc.answer", first, name = "answer-it")]
    fn answer(&self, _ctx: &Context, question: String) -> Result<String, PluginError> {
        if question.is_empty() {
            Err(pass())
        } else {
            Ok(question)
        }
    }

    #[hook("app.commands", register, priority = 3)]
    fn greet(&self) -> String {
        "say hello".into()
    }

    #[hook("doc.build", wrap, priority = 5)]
    fn around(&self, doc: Doc, next: Next<Doc, String>) -> Result<String, PluginError> {
        let built = next.call(Doc {
            title: doc.title.to_uppercase(),
        })?;
        Ok(format!("<{built}>"))
    }

    #[hook("doc.build", wrap, name = "around-ctx")]
    fn around_ctx(&self, ctx: &Context, doc: Doc, next: Next<Doc, String>) -> String {
        ctx.info("wrapping");
        next.call(doc).unwrap_or_else(|e| e.message().to_owned())
    }
}

fn main() {
    let manifest: EmbeddedManifest = serde_json::from_slice(Stamp::MANIFEST).unwrap();
    let commands: Vec<&str> = manifest.commands.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        commands,
        ["version", "stamp", "answer-it", "greet", "around", "around-ctx"]
    );
    assert_eq!(manifest.hooks.len(), 5);
    assert_eq!(manifest.hooks[3].kind, "wrap");
    assert_eq!(manifest.hooks[3].priority, 5);
    assert!(manifest.commands[4].request.contains("::Doc@1#"));
    // A wrapper unit-tested with a closure for `next`.
    let next = Next::from_fn(|doc: Doc| Ok(format!("built {}", doc.title)));
    let got = Stamp.around(Doc { title: "notes".into() }, next).unwrap();
    assert_eq!(got, "<built NOTES>");
    let stamp = &manifest.hooks[0];
    assert_eq!(
        (stamp.point.as_str(), stamp.kind.as_str(), stamp.command.as_str()),
        ("doc.title", "filter", "stamp")
    );
    assert_eq!(stamp.priority, -10);
    assert_eq!(stamp.before, ["audit"]);
    assert_eq!(stamp.after, ["spell", "lint"]);
    assert_eq!(manifest.hooks[1].command, "answer-it");
    assert_eq!(manifest.hooks[2].priority, 3);
    assert!(manifest.commands[1].request.contains("::Doc@1#"));
}
