use switchboard_sdk::prelude::*;

pub struct Watcher;

impl Plugin for Watcher {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Watcher)
    }
}

#[plugin]
impl Watcher {
    #[subscribe("host.>", queue = 4096, overflow = "wait")]
    fn on_host(&self, _ctx: &Context, _event: &Event<'_>) {}
}

fn main() {}
