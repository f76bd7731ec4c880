use switchboard_sdk::prelude::*;

pub struct Greeter;

#[plugin]
impl Greeter {
    #[command]
    fn greet(&self, name: String) -> String {
        format!("Hello, {name}!")
    }
}

fn main() {}
