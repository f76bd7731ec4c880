use serde::{Deserialize, Serialize};
use switchboard_sdk::prelude::*;

#[derive(Serialize, Deserialize, Message)]
#[message(versoin = 2)]
pub struct Forecast {
    pub city: String,
    pub celsius: f32,
}

fn main() {}
