use switchboard_sdk::prelude::*;

pub struct Greeter;

#[plugin]
impl Plugin for Greeter {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Greeter)
    }
}

fn main() {}
