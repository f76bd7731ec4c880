//! Unit tests of the bus's bookkeeping: workers retired, closing, runs cut short, limits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use switchboard_sdk::PluginError;

use super::*;

fn workers(bus: &Bus) -> usize {
    bus.inner.workers.lock().len()
}

#[test]
fn unsubscribing_the_last_subscription_retires_its_worker() {
    let bus = Bus::new();
    let ids: Vec<_> = (0..20)
        .map(|_| {
            bus.subscribe("host.x", SubscribeOptions::new(), |_| Ok(()))
                .unwrap()
        })
        .collect();
    assert_eq!(workers(&bus), 20, "one worker per host subscription");
    for id in ids {
        bus.unsubscribe(id).unwrap();
    }
    assert_eq!(workers(&bus), 0);
}

#[test]
fn removing_an_owner_keeps_no_worker_and_no_route() {
    let bus = Bus::new();
    let owner: Arc<str> = "plugin-a".into();
    for pattern in ["host.a", "host.b"] {
        bus.inner
            .subscribe_as(
                owner.clone(),
                Pattern::parse(pattern).unwrap(),
                SubscribeOptions::new(),
                Arc::new(|_: &Envelope| Ok(())),
            )
            .unwrap();
    }
    assert_eq!(
        workers(&bus),
        1,
        "one worker per plugin, however many subscriptions"
    );
    bus.inner.remove_owner("plugin-a");
    assert_eq!(workers(&bus), 0);
    assert_eq!(bus.publish(Outgoing::new("host.a", Vec::new())).unwrap(), 0);
}

#[test]
fn closing_withdraws_services_and_refuses_new_work() {
    let bus = Bus::new();
    bus.provide(ServiceBuilder::new("clock").method("now", |_: ()| Ok(1u64)))
        .unwrap();
    let now = bus.client::<(), u64>("clock", "now").unwrap();
    bus.subscribe("host.x", SubscribeOptions::new(), |_| Ok(()))
        .unwrap();
    bus.close();
    assert!(bus.services().is_empty());
    assert_eq!(now.call(&()).unwrap_err().code().to_string(), "SB0807");
    assert_eq!(workers(&bus), 0);
    let e = bus
        .subscribe("host.x", SubscribeOptions::new(), |_| Ok(()))
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0816");
    assert_eq!(
        bus.publish(Outgoing::new("host.x", Vec::new()))
            .unwrap_err()
            .code()
            .to_string(),
        "SB0816"
    );
}

#[test]
fn a_run_stops_when_the_breaker_trips_and_counts_the_rest() {
    let bus = Bus::new();
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let id = bus
        .subscribe(
            "host.items",
            SubscribeOptions::new().mode(Mode::Inline).breaker(1),
            move |_| {
                c.fetch_add(1, Ordering::Relaxed);
                Err(PluginError::new("down"))
            },
        )
        .unwrap();
    bus.publish_batch("host.items", (0..64).map(|_| b"x"))
        .unwrap();
    let s = bus.stats(id).unwrap();
    assert_eq!(
        calls.load(Ordering::Relaxed),
        1,
        "no handler call after the breaker tripped"
    );
    assert!(s.suspended);
    assert_eq!((s.failures, s.discarded), (1, 63));
    assert_eq!(s.dropped(), 63);
}

#[test]
fn absurd_limits_are_clamped_not_fatal() {
    let opts = SubscribeOptions::new().capacity(usize::MAX);
    assert_eq!(opts.capacity_value(), MAX_CAPACITY);
    assert_eq!(SubscribeOptions::new().capacity(0).capacity_value(), 1);
    // A TTL too long to represent means "never expires".
    let bus = Bus::new();
    let seen = Arc::new(AtomicU64::new(0));
    let s = seen.clone();
    let id = bus
        .subscribe(
            "host.x",
            SubscribeOptions::new().mode(Mode::Inline),
            move |_| {
                s.fetch_add(1, Ordering::Relaxed);
                Ok(())
            },
        )
        .unwrap();
    bus.publish(Outgoing::new("host.x", Vec::new()).ttl(Duration::MAX))
        .unwrap();
    assert_eq!(seen.load(Ordering::Relaxed), 1);
    assert_eq!(bus.stats(id).unwrap().expired, 0);
}

#[test]
fn an_undecodable_envelope_is_never_retried_and_never_trips_the_breaker() {
    let bus = Bus::new();
    let id = bus
        .subscribe(
            "host.x",
            SubscribeOptions::new()
                .mode(Mode::Inline)
                .delivery(Delivery::at_least_once())
                .breaker(1)
                .cut_off_after(2),
            |e| match e.payload() {
                b"bad" => Err(PluginError::with_code(
                    switchboard_sdk::codes::BAD_EVENT,
                    "not a note",
                )),
                _ => Ok(()),
            },
        )
        .unwrap();
    let bad = || Outgoing::new("host.x", b"bad".to_vec());
    bus.publish(bad()).unwrap();
    // A good envelope from the same publisher ends its streak.
    bus.publish(Outgoing::new("host.x", b"ok".to_vec()))
        .unwrap();
    bus.publish(bad()).unwrap();
    let s = bus.stats(id).unwrap();
    assert_eq!((s.undecodable, s.failures, s.redelivered), (2, 0, 0));
    assert_eq!(s.dead_lettered, 2);
    assert!(!s.suspended, "a breaker of 1 did not open");
    assert_eq!(bus.subscriptions()[0].cut_off, Vec::<String>::new());
    bus.publish(bad()).unwrap();
    assert_eq!(bus.subscriptions()[0].cut_off, ["host"]);
    assert_eq!(bus.publish(bad()).unwrap(), 0, "cut off: not taken");
    assert_eq!(bus.stats(id).unwrap().cut_off, 1);
    assert!(bus.readmit(id, "host").unwrap());
    assert_eq!(
        bus.publish(Outgoing::new("host.x", b"ok".to_vec()))
            .unwrap(),
        1
    );
}

#[test]
fn a_drop_oldest_queue_reports_one_lagging_notice_per_episode() {
    let bus = Bus::new();
    let notices = Arc::new(AtomicU64::new(0));
    let n = notices.clone();
    bus.subscribe(
        LAGGING_TOPIC,
        SubscribeOptions::new().mode(Mode::Inline),
        move |_| {
            n.fetch_add(1, Ordering::Relaxed);
            Ok(())
        },
    )
    .unwrap();
    // The handler waits until the test ends, so the queue stops draining after its first.
    let (gate_tx, gate) = crossbeam_channel::bounded::<()>(0);
    let id = bus
        .subscribe(
            "host.y",
            SubscribeOptions::for_plugin().capacity(2),
            move |_| {
                let _ = gate.recv();
                Ok(())
            },
        )
        .unwrap();
    for _ in 0..10 {
        bus.publish(Outgoing::new("host.y", Vec::new())).unwrap();
    }
    let s = bus.stats(id).unwrap();
    assert!(s.lagging);
    assert!(s.dropped_oldest >= 7, "{s:?}");
    assert_eq!(notices.load(Ordering::Relaxed), 1);
    drop(gate_tx);
}

/// More targets than a publish gathers on the stack: every one gets the envelope, exact
/// subscriptions before patterns, each in subscription order, and the publisher is named.
#[test]
fn a_publish_to_many_subscriptions_reaches_each_in_order() {
    let bus = Bus::new();
    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let inline = || SubscribeOptions::new().mode(Mode::Inline);
    for (i, pattern) in ["host.a.*", "host.a.b", "host.>"]
        .iter()
        .cycle()
        .take(3 * INLINE_TARGETS)
        .enumerate()
    {
        let seen = seen.clone();
        bus.subscribe(pattern, inline(), move |e| {
            assert_eq!(e.publisher(), HOST_PUBLISHER);
            seen.lock().push(i);
            Ok(())
        })
        .unwrap();
    }
    let taken = bus
        .publish(Outgoing::new("host.a.b", b"x".to_vec()))
        .unwrap();
    assert_eq!(taken, 3 * INLINE_TARGETS);
    let exact: Vec<usize> = (0..3 * INLINE_TARGETS).filter(|i| i % 3 == 1).collect();
    let wild: Vec<usize> = (0..3 * INLINE_TARGETS).filter(|i| i % 3 != 1).collect();
    assert_eq!(*seen.lock(), [exact, wild].concat());
    assert_eq!(
        bus.publish(Outgoing::new("host.z", Vec::new())).unwrap(),
        INLINE_TARGETS
    );
}

/// Sets its flag when dropped.
struct DropFlag(Arc<std::sync::atomic::AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn inline_opts() -> SubscribeOptions {
    SubscribeOptions::new().mode(Mode::Inline)
}

#[test]
fn an_unsubscribed_handler_is_dropped_before_unsubscribe_returns() {
    let bus = Bus::new();
    let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let id = bus
        .subscribe("host.x", inline_opts(), move |_| {
            let _held = &flag;
            Ok(())
        })
        .unwrap();
    assert_eq!(bus.publish(Outgoing::new("host.x", Vec::new())).unwrap(), 1);
    bus.unsubscribe(id).unwrap();
    assert!(dropped.load(Ordering::SeqCst), "no route table keeps it");
    assert_eq!(bus.publish(Outgoing::new("host.x", Vec::new())).unwrap(), 0);
}

#[test]
fn a_publish_in_flight_keeps_an_unsubscribed_handler_until_it_returns() {
    let bus = Bus::new();
    let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let victim = bus
        .subscribe("host.victim", inline_opts(), move |_| {
            let _held = &flag;
            Ok(())
        })
        .unwrap();
    let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let (entered_tx, go_rx) = (Mutex::new(entered_tx), Mutex::new(go_rx));
    bus.subscribe("host.slow", inline_opts(), move |_| {
        entered_tx.lock().send(()).unwrap();
        go_rx.lock().recv().unwrap();
        Ok(())
    })
    .unwrap();
    let publisher = {
        let bus = bus.clone();
        std::thread::spawn(move || bus.publish(Outgoing::new("host.slow", Vec::new())).unwrap())
    };
    entered_rx.recv().unwrap();
    // The publish is inside its inline handler, holding the table it routed with.
    bus.unsubscribe(victim).unwrap();
    assert!(
        !dropped.load(Ordering::SeqCst),
        "the publish in flight still reads that table"
    );
    go_tx.send(()).unwrap();
    assert_eq!(publisher.join().unwrap(), 1);
    assert!(
        dropped.load(Ordering::SeqCst),
        "dropped by the publish that held the table last, before it returned"
    );
    assert_eq!(
        bus.publish(Outgoing::new("host.victim", Vec::new()))
            .unwrap(),
        0
    );
}

#[test]
fn the_topic_hint_never_routes_to_another_topic() {
    let bus = Bus::new();
    let a = Arc::new(AtomicU64::new(0));
    let b = Arc::new(AtomicU64::new(0));
    for (topic, n) in [
        ("host.aaaaaaaa.x", a.clone()),
        ("host.aaaaaaaa.y", b.clone()),
    ] {
        bus.subscribe(topic, inline_opts(), move |_| {
            n.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
    }
    // Same length, same first eight bytes: the hint for one must not match the other.
    for _ in 0..3 {
        bus.publish(Outgoing::new("host.aaaaaaaa.x", Vec::new()))
            .unwrap();
        bus.publish(Outgoing::new("host.aaaaaaaa.y", Vec::new()))
            .unwrap();
        bus.publish(Outgoing::new("host.aaaaaaaa.z", Vec::new()))
            .unwrap();
    }
    assert_eq!(a.load(Ordering::SeqCst), 3);
    assert_eq!(b.load(Ordering::SeqCst), 3);
    assert!(super::same(b"host.tick", b"host.tick"));
    assert!(!super::same(b"host.tick", b"host.tock"));
    assert!(!super::same(b"host.tick", b"host.tic"));
    assert!(!super::same(b"host.ticks.a", b"host.ticks.b"));
}

/// Says, when dropped, whether the bus's subscription lock was held, then uses the bus.
struct UsesTheBusWhenDropped {
    bus: Bus,
    locked: std::sync::mpsc::Sender<bool>,
    used: std::sync::mpsc::Sender<usize>,
}

impl Drop for UsesTheBusWhenDropped {
    fn drop(&mut self) {
        let _ = self.locked.send(self.bus.inner.subs.is_locked());
        let _ = self.used.send(self.bus.subscriptions().len());
    }
}

#[test]
fn a_handler_freed_by_another_subscribe_is_dropped_after_its_lock_is_released() {
    use super::snapshot::{pause_at, Pause};

    let bus = Bus::new();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (used_tx, used_rx) = std::sync::mpsc::channel();
    let probe = UsesTheBusWhenDropped {
        bus: bus.clone(),
        locked: locked_tx,
        used: used_tx,
    };
    let victim = bus
        .subscribe("host.victim", inline_opts(), move |_| {
            let _held = &probe;
            Ok(())
        })
        .unwrap();
    // On a thread of its own: should the drop deadlock, the test fails instead of hanging.
    let scenario = {
        let bus = bus.clone();
        std::thread::spawn(move || {
            // A publish in flight holds the table that routes to the victim.
            let held = bus.inner.routes.load();
            // The table, kept for that publish, now holds the victim's last reference.
            bus.unsubscribe(victim).unwrap();
            // The publisher clears its slot and is overtaken before it looks again; another
            // thread subscribes meanwhile, and its rebuild is the one that frees the table.
            let other = bus.clone();
            pause_at(Pause::Cleared, move || {
                other
                    .subscribe("host.other", inline_opts(), |_| Ok(()))
                    .unwrap();
            });
            drop(held);
        })
    };
    let wait = Duration::from_secs(20);
    let locked = locked_rx
        .recv_timeout(wait)
        .expect("the victim's handler was dropped");
    assert!(
        !locked,
        "the victim's handler was dropped under the bus's subscription lock"
    );
    let left = used_rx
        .recv_timeout(wait)
        .expect("the handler's drop used the bus without a deadlock");
    assert_eq!(left, 1, "the other subscription");
    scenario.join().unwrap();
}
