//! An example plugin for `host-pipeline`: it extends the host's build phase
//! (`pipeline.build`, an operation point) with a `before` hook that tidies the job and refuses
//! an empty one, and adds a `lint` entry to the host's command list (`pipeline.commands`, a
//! registry point).

use switchboard_sdk::prelude::*;

/// No state.
#[derive(Debug)]
pub struct Lint;

impl Plugin for Lint {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Lint)
    }
}

#[plugin(capabilities = ["extend:pipeline.build", "extend:pipeline.commands"])]
impl Lint {
    /// Runs before the build: trims the job's name and refuses an empty one, which stops the
    /// build (the host's point propagates errors).
    #[hook("pipeline.build", before, priority = 10)]
    fn check(&self, ctx: &Context, job: String) -> Result<String, PluginError> {
        let job = job.trim().to_owned();
        if job.is_empty() {
            return Err(PluginError::new("lint: the job names nothing to build"));
        }
        ctx.info(&format!("lint: `{job}` looks fine"));
        Ok(job)
    }

    /// The host lists this under `lint` in its commands.
    #[hook("pipeline.commands", register, name = "lint")]
    fn lint_entry(&self) -> String {
        "check a job before it builds".to_owned()
    }
}
