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
    fn time(&self, job: String, next: Next<String, String>, extra: u32) -> Result<String, PluginError> {
        let _ = extra;
        next.call(job)
    }
}

fn main() {}
