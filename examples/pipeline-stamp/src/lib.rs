//! An example plugin for `host-pipeline`: it wraps the host's build phase (`pipeline.build`,
//! an operation point) and adds a `stamp` entry to the host's command list.
//!
//! The wrapper shows what a `wrap` hook can do that `before`/`after` hooks cannot: it runs
//! the build through `next` and stamps the artefact (changes the result), answers a job it
//! has built before from its cache without running the build at all (skips `next`), and
//! names the job in the error of a build that failed (changes the error).

use std::collections::HashMap;
use std::sync::Mutex;

use switchboard_sdk::extend::Next;
use switchboard_sdk::prelude::*;

/// The artefacts built so far, by job.
#[derive(Debug, Default)]
pub struct Stamp {
    cache: Mutex<HashMap<String, String>>,
}

impl Plugin for Stamp {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Stamp::default())
    }
}

#[plugin(capabilities = ["extend:pipeline.*"])]
impl Stamp {
    /// Wraps the build: a cached job is answered at once; otherwise the build runs (with any
    /// wrapper inside this one) and its artefact is stamped and cached; a failed build's error
    /// comes back naming the job.
    #[hook("pipeline.build", wrap)]
    fn around_build(
        &self,
        ctx: &Context,
        job: String,
        next: Next<String, String>,
    ) -> Result<String, PluginError> {
        let cached = self
            .cache
            .lock()
            .map_err(|_| PluginError::new("the stamp cache is poisoned"))?
            .get(&job)
            .cloned();
        if let Some(artefact) = cached {
            ctx.info(&format!(
                "stamp: `{job}` is built already; the build is skipped"
            ));
            return Ok(artefact);
        }
        match next.call(job.clone()) {
            Ok(artefact) => {
                let stamped = format!("{artefact} [stamped by pipeline-stamp]");
                self.cache
                    .lock()
                    .map_err(|_| PluginError::new("the stamp cache is poisoned"))?
                    .insert(job, stamped.clone());
                Ok(stamped)
            }
            Err(e) => Err(PluginError::with_code(
                e.code(),
                format!("the build of `{job}` failed: {}", e.message()),
            )),
        }
    }

    /// The host lists this under `stamp` in its commands.
    #[hook("pipeline.commands", register, name = "stamp")]
    fn stamp_entry(&self) -> String {
        "stamp and cache a build's artefact".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::testing::MockHost;

    #[test]
    fn stamps_caches_and_names_the_job_in_an_error() {
        let host = MockHost::new("pipeline-stamp");
        let ctx = host.context();
        let stamp = Stamp::default();
        let built = stamp
            .around_build(
                &ctx,
                "app".into(),
                Next::from_fn(|j| Ok(format!("built {j}"))),
            )
            .unwrap();
        assert_eq!(built, "built app [stamped by pipeline-stamp]");
        // Cached: `next` is not called.
        let again = stamp
            .around_build(
                &ctx,
                "app".into(),
                Next::from_fn(|_| panic!("the build must not run")),
            )
            .unwrap();
        assert_eq!(again, built);
        let e = stamp
            .around_build(
                &ctx,
                "broken".into(),
                Next::from_fn(|_| Err(PluginError::new("disk full"))),
            )
            .unwrap_err();
        assert_eq!(e.message(), "the build of `broken` failed: disk full");
    }

    #[test]
    fn the_wrapper_runs_through_the_generated_dispatch_with_a_closure_as_next() {
        let plugin = MockHost::new("pipeline-stamp")
            .instantiate::<Stamp>()
            .unwrap();
        let out: String = plugin
            .wrap("around_build", &"app".to_owned(), |job: String| {
                Ok(format!("built {job}"))
            })
            .unwrap();
        assert_eq!(out, "built app [stamped by pipeline-stamp]");
    }
}
