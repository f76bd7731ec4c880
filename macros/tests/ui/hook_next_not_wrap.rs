use switchboard_sdk::extend::Next;
use switchboard_sdk::prelude::*;

pub struct Timer;

impl Plugin for Timer {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Timer)
    }
}

#[plugin(capabilities = ["extend:**"])]
impl Timer {
    #[hook("pipeline.build", after)]
    fn time(&self, job: String, next: Next<String, String>) -> Result<String, PluginError> {
        next.call(job)
    }
}

fn main() {}
