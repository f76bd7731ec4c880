use switchboard_sdk::extend::Next;
use switchboard_sdk::prelude::*;

pub struct Tee;

impl Plugin for Tee {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Tee)
    }
}

#[plugin(capabilities = ["extend:**"])]
impl Tee {
    #[hook("text.filter", filter)]
    fn lines(&self, text: String, out: &mut Sink<'_, String>) -> Result<(), PluginError> {
        out.send(text)
    }

    #[hook("pipeline.build", wrap)]
    fn around(
        &self,
        job: String,
        next: Next<String, String>,
        out: &mut Sink<'_, String>,
    ) -> Result<String, PluginError> {
        out.send(job.clone())?;
        next.call(job)
    }
}

fn main() {}
