use switchboard_sdk::prelude::*;

#[derive(Message)]
pub union Bits {
    pub int: u32,
    pub float: f32,
}

fn main() {}
