use switchboard_sdk::prelude::*;

pub struct Watcher;

impl Plugin for Watcher {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Watcher)
    }
}

#[plugin]
impl Watcher {
    #[subscribe("host.>.saved")]
    fn on_saved(&self, _ctx: &Context, _event: &Event<'_>) {}
}

fn main() {}
