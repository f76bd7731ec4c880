use switchboard_sdk::prelude::*;

pub struct Greeter;

impl Plugin for Greeter {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Greeter)
    }
}

pub struct Point {
    pub x: i32,
    pub y: i32,
}

#[plugin]
impl Greeter {
    #[command]
    fn norm(&self, p: Point) -> i32 {
        p.x.abs() + p.y.abs()
    }
}

fn main() {}
