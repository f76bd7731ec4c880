use switchboard_sdk::prelude::*;

pub struct Store;

impl Plugin for Store {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Store)
    }
}

#[plugin]
impl Store {
    #[migration(from = "0.1", to = "0.2")]
    fn up(&self) -> Result<(), PluginError> {
        Ok(())
    }
}

fn main() {}
