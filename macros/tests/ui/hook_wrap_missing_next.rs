use switchboard_sdk::prelude::*;

pub struct Timer;

impl Plugin for Timer {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Timer)
    }
}

#[plugin(capabilities = ["extend:**"])]
impl Timer {
    #[hook("pipeline.build", wrap)]
    fn time(&self, job: String) -> Result<String, PluginError> {
        Ok(job)
    }
}

fn main() {}
