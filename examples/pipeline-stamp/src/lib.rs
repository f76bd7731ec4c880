//! An example plugin for `host-pipeline`: it extends the host's build phase
//! (`pipeline.build`) with an `after` hook that stamps the artefact, and adds a `stamp` entry
//! to the host's command list.

use switchboard_sdk::prelude::*;

/// No state.
#[derive(Debug)]
pub struct Stamp;

impl Plugin for Stamp {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Stamp)
    }
}

#[plugin(capabilities = ["extend:pipeline.*"])]
impl Stamp {
    /// Runs after the build and marks what it produced.
    #[hook("pipeline.build", after)]
    fn mark(&self, artefact: String) -> String {
        format!("{artefact} [stamped by pipeline-stamp]")
    }

    /// The host lists this under `stamp` in its commands.
    #[hook("pipeline.commands", register, name = "stamp")]
    fn stamp_entry(&self) -> String {
        "mark a build's artefact".to_owned()
    }
}
