use switchboard_sdk::prelude::*;

pub struct Greeter;

impl Plugin for Greeter {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Greeter)
    }
}

#[plugin(capabilities = ["kv:mine"])]
impl Greeter {
    #[command]
    fn greet(&self, name: String) -> String {
        format!("Hello, {name}!")
    }
}

fn main() {}
