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
    fn greet(&self, name: String) -> String {
        format!("Hello, {name}!")
    }

    #[command(name = "greet")]
    fn greet_politely(&self, name: String) -> String {
        format!("Good day, {name}.")
    }
}

fn main() {}
