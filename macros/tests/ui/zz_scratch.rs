use switchboard_sdk::prelude::*;

pub struct Greeter;

impl Plugin for Greeter {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Greeter)
    }
}

mod types {
    pub struct Point {
        pub x: i32,
    }
}

#[plugin]
impl Greeter {
    #[command]
    fn a(&self, p: types::Point) -> Result<types::Point, PluginError> {
        Ok(p)
    }

    #[command]
    fn b(&self, p: Option<types::Point>) -> Result<Vec<types::Point>, PluginError> {
        Ok(p.into_iter().collect())
    }
}

fn main() {}
