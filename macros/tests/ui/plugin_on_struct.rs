use switchboard_sdk::prelude::*;

#[plugin]
pub struct Greeter;

impl Plugin for Greeter {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Greeter)
    }
}

fn main() {}
