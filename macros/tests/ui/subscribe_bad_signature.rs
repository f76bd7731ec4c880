use switchboard_sdk::prelude::*;

pub struct Watcher;

impl Plugin for Watcher {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Watcher)
    }
}

#[plugin]
impl Watcher {
    #[subscribe("host.file.*")]
    fn on_saved(&mut self, _event: &Event<'_>) {}
}

fn main() {}
