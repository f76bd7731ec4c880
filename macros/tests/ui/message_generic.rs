use serde::{Deserialize, Serialize};
use switchboard_sdk::prelude::*;

#[derive(Serialize, Deserialize, Message)]
pub struct Envelope<T> {
    pub value: T,
}

fn main() {}
