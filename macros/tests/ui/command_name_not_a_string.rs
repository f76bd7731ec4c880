use switchboard_sdk::prelude::*;

pub struct Greeter;

impl Plugin for Greeter {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Greeter)
    }
}

#[plugin]
impl Greeter {
    #[command(name = greet)]
    fn hello(&self, name: String) -> String {
        name
    }
}

fn main() {}
