//! A small driver for instruction-count profiling of single-event publishing (the shape of
//! `bus/publish_single_1to1`): one host publisher, one queued subscriber that counts.
//!
//! ```text
//! cargo build --release -p switchboard-host --example publish_driver
//! valgrind --tool=callgrind --separate-threads=yes target/release/examples/publish_driver 100000
//! ```
//!
//! The queue holds every event, so the publisher never waits for the worker and the
//! publisher thread's count is the cost of `publish` alone; divide by the events published.

#![expect(
    clippy::print_stdout,
    reason = "a profiling driver reports what it did"
)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use switchboard_host::bus::{Bus, Outgoing, SubscribeOptions, MAX_CAPACITY};

#[inline(never)]
fn publish_one(bus: &Bus, topic: &Arc<str>, payload: &Arc<[u8]>) {
    if let Err(e) = bus.publish(Outgoing::new(topic.clone(), payload.clone())) {
        println!("publish failed: {e}");
    }
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let bus = Bus::new();
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    let subscribed = bus.subscribe(
        "host.tick",
        SubscribeOptions::new().capacity(MAX_CAPACITY),
        move |e| {
            black_box(e.payload());
            c.fetch_add(1, Ordering::Release);
            Ok(())
        },
    );
    if let Err(e) = subscribed {
        println!("cannot subscribe: {e}");
        return;
    }
    let topic: Arc<str> = Arc::from("host.tick");
    let payload: Arc<[u8]> = Arc::from(&[1u8; 16][..]);
    for _ in 0..n {
        publish_one(&bus, &topic, &payload);
    }
    while count.load(Ordering::Acquire) < n {
        std::thread::yield_now();
    }
    println!("published and delivered {n} events");
}
