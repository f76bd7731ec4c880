use switchboard_sdk::prelude::*;

pub struct Watcher;

impl Plugin for Watcher {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Watcher)
    }
}

#[plugin]
impl Watcher {
    #[subscribe("host.>", queue = 0)]
    fn on_host(&self, _ctx: &Context, _event: &Event<'_>) {}
}

fn main() {}
