use switchboard_sdk::prelude::*;

pub struct Greeter;

impl Plugin for Greeter {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Greeter)
    }
}

#[plugin]
impl Greeter {
    #[command]
    fn greet<T: ToString>(&self, name: T) -> String {
        format!("Hello, {}!", name.to_string())
    }
}

fn main() {}
