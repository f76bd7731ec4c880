use switchboard_sdk::prelude::*;

pub struct Greeter;

impl Plugin for Greeter {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Greeter)
    }
}

pub struct Greeting {
    pub text: String,
}

#[plugin]
impl Greeter {
    #[command]
    fn greet(&self, name: String) -> Greeting {
        Greeting { text: format!("Hello, {name}!") }
    }
}

fn main() {}
