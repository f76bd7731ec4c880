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
    fn time(&self, next: Next<String, String>) -> Result<String, PluginError> {
        next.call(String::new())
    }
}

fn main() {}
