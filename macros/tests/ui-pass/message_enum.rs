//! `#[derive(Message)]` on an enum, with a declared version.

use serde::{Deserialize, Serialize};
use switchboard_sdk::prelude::*;

#[derive(Debug, PartialEq, Serialize, Deserialize, Message)]
#[message(version = 3)]
pub enum Shape {
    Circle { radius: f64 },
    Square(f64),
    Point,
}

fn main() {
    assert_eq!(Shape::CONTRACT.version, 3);
    assert!(Shape::CONTRACT.id.contains("::Shape@3#"), "{}", Shape::CONTRACT.id);
    let bytes = switchboard_sdk::encode(&Shape::Square(2.0));
    let back: Shape = switchboard_sdk::decode(&bytes).unwrap();
    assert_eq!(back, Shape::Square(2.0));
}
