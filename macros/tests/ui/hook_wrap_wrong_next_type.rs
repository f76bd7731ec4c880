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
    #[hook("pipeline.build", wrap)]
    fn time(&self, job: String, next: Next<u32, String>) -> Result<String, PluginError> {
        let _ = job;
        next.call(7)
    }
}

fn main() {}
