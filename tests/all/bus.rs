//! The event bus on its own (host publishers and subscribers): routing, filters, every
//! overflow policy under a million events, TTL, redelivery and dead letters, the breaker,
//! trace propagation, cycles, and shared services. Plugin subscribers and services are in
//! `bus_plugins.rs`.
//!
//! No test waits for time to pass to succeed: where a subscriber must be slow, it waits on a
//! gate the test opens; `wait_for` only bounds how long a broken bus can hang a test.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};
use switchboard_host::bus::{
    Bus, BusLimits, Delivery, Envelope, HeaderFilter, Mode, Outgoing, Overflow, ServiceBuilder,
    SubscribeOptions, SubscriptionId, Throttle, DEAD_LETTER_TOPIC, SUSPENDED_TOPIC,
};
use switchboard_sdk::PluginError;

const MILLION: u64 = 1_000_000;

/// Polls `cond` until it holds; panics (a failing test, never a passing one) after a minute.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

fn ev(topic: &str, payload: &[u8]) -> Outgoing {
    Outgoing::new(topic, payload.to_vec())
}

/// A subscriber that forwards every envelope to a channel.
fn collect(
    bus: &Bus,
    pattern: &str,
    opts: SubscribeOptions,
) -> (SubscriptionId, Receiver<Envelope>) {
    let (tx, rx) = unbounded();
    let id = bus
        .subscribe(pattern, opts, move |e| {
            let _ = tx.send(e.clone());
            Ok(())
        })
        .unwrap();
    (id, rx)
}

fn inline() -> SubscribeOptions {
    SubscribeOptions::new().mode(Mode::Inline)
}

fn topics(rx: &Receiver<Envelope>) -> Vec<String> {
    rx.try_iter().map(|e| e.topic().to_owned()).collect()
}

/// A gate a handler waits on, and a signal that the handler has entered it.
struct Gate {
    open: Mutex<bool>,
    cv: std::sync::Condvar,
    entered: (Sender<()>, Receiver<()>),
}

impl Gate {
    fn new() -> Arc<Gate> {
        Arc::new(Gate {
            open: Mutex::new(false),
            cv: std::sync::Condvar::new(),
            entered: unbounded(),
        })
    }
    fn wait(&self) {
        let _ = self.entered.0.send(());
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.cv.wait(open).unwrap();
        }
    }
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
    fn await_entered(&self) {
        self.entered
            .1
            .recv_timeout(Duration::from_secs(60))
            .unwrap();
    }
}

#[test]
fn exact_and_wildcard_patterns_route() {
    let bus = Bus::new();
    let (_, exact) = collect(&bus, "host.file.saved", inline());
    let (_, star) = collect(&bus, "host.*.saved", inline());
    let (_, rest) = collect(&bus, "host.>", inline());
    let (_, other) = collect(&bus, "plugin.notes.*", inline());
    for t in [
        "host.file.saved",
        "host.note.saved",
        "host.file.saved.twice",
        "host",
    ] {
        let _ = bus.publish(ev(t, b""));
    }
    assert_eq!(topics(&exact), ["host.file.saved"]);
    assert_eq!(topics(&star), ["host.file.saved", "host.note.saved"]);
    assert_eq!(
        topics(&rest),
        [
            "host.file.saved",
            "host.note.saved",
            "host.file.saved.twice"
        ]
    );
    assert!(topics(&other).is_empty());
}

#[test]
fn publish_counts_the_subscriptions_that_took_it() {
    let bus = Bus::new();
    collect(&bus, "host.a", inline());
    collect(&bus, "host.*", inline());
    assert_eq!(bus.publish(ev("host.a", b"")).unwrap(), 2);
    assert_eq!(bus.publish(ev("host.b", b"")).unwrap(), 1);
    assert_eq!(bus.publish(ev("system.x", b"")).unwrap(), 0);
}

#[test]
fn malformed_topics_and_patterns_are_coded_errors() {
    let bus = Bus::new();
    let e = bus.publish(ev("host..x", b"")).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0802");
    let e = bus.subscribe("host.>.x", inline(), |_| Ok(())).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0801");
    assert!(e.to_string().contains("host.>.x"), "{e}");
    assert!(!e.next_step().is_empty());
}

#[test]
fn header_filters_select_envelopes_and_count_the_rest() {
    let bus = Bus::new();
    let (md, md_rx) = collect(
        &bus,
        "host.file.*",
        inline().header_equals("kind", "markdown"),
    );
    let (_, tagged) = collect(
        &bus,
        "host.file.*",
        inline().filter(HeaderFilter::Exists("tag".into())),
    );
    let (_, untagged) = collect(
        &bus,
        "host.file.*",
        inline().filter(HeaderFilter::Absent("tag".into())),
    );
    bus.publish(ev("host.file.saved", b"1").header("kind", "markdown"))
        .unwrap();
    bus.publish(
        ev("host.file.saved", b"2")
            .header("kind", "text")
            .header("tag", "x"),
    )
    .unwrap();
    bus.publish(ev("host.file.saved", b"3")).unwrap();
    let payloads = |rx: &Receiver<Envelope>| {
        rx.try_iter()
            .map(|e| e.payload().to_vec())
            .collect::<Vec<_>>()
    };
    assert_eq!(payloads(&md_rx), [b"1".to_vec()]);
    assert_eq!(payloads(&tagged), [b"2".to_vec()]);
    assert_eq!(payloads(&untagged), [b"1".to_vec(), b"3".to_vec()]);
    assert_eq!(bus.stats(md).unwrap().filtered, 2);
}

#[test]
fn block_policy_loses_nothing_of_a_million_events_and_stays_bounded() {
    let bus = Bus::new();
    let capacity = 64;
    let seen = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let (s, n) = (seen.clone(), next.clone());
    let id = bus
        .subscribe(
            "host.tick",
            SubscribeOptions::new()
                .capacity(capacity)
                .overflow(Overflow::Block(Duration::from_secs(600))),
            move |e| {
                // Slower than the publisher, and checks the order as it goes.
                let v = u64::from_le_bytes(e.payload().try_into().unwrap());
                assert_eq!(v, n.fetch_add(1, Ordering::Relaxed));
                for _ in 0..50 {
                    std::hint::spin_loop();
                }
                s.fetch_add(1, Ordering::Relaxed);
                Ok(())
            },
        )
        .unwrap();
    let mut max_queued = 0;
    for i in 0..MILLION {
        bus.publish(Outgoing::new("host.tick", i.to_le_bytes().to_vec()))
            .unwrap();
        if i % 4096 == 0 {
            max_queued = max_queued.max(bus.stats(id).unwrap().queued);
        }
    }
    wait_for("every event", || seen.load(Ordering::Relaxed) == MILLION);
    let stats = bus.stats(id).unwrap();
    assert_eq!(stats.delivered, MILLION);
    assert_eq!(stats.dropped(), 0);
    assert_eq!(stats.failures, 0);
    assert!(max_queued <= capacity as u64, "queue held {max_queued}");
}

/// A flooded bus: the subscription, its gate, what it received, and how many publishes failed.
type Flooded = (Bus, SubscriptionId, Arc<Gate>, Arc<Mutex<Vec<u64>>>, u64);

/// Fills a gated subscriber: one envelope in the handler, then `total - 1` more published.
fn flood(overflow: Overflow, capacity: usize, total: u64) -> Flooded {
    let bus = Bus::new();
    let gate = Gate::new();
    let got = Arc::new(Mutex::new(Vec::new()));
    let (g, out) = (gate.clone(), got.clone());
    let id = bus
        .subscribe(
            "host.flood",
            SubscribeOptions::new()
                .capacity(capacity)
                .overflow(overflow),
            move |e| {
                let v = u64::from_le_bytes(e.payload().try_into().unwrap());
                if v == 0 {
                    g.wait();
                }
                out.lock().unwrap().push(v);
                Ok(())
            },
        )
        .unwrap();
    bus.publish(Outgoing::new("host.flood", 0u64.to_le_bytes().to_vec()))
        .unwrap();
    gate.await_entered();
    let mut refused = 0;
    for i in 1..total {
        if bus
            .publish(Outgoing::new("host.flood", i.to_le_bytes().to_vec()))
            .is_err()
        {
            refused += 1;
        }
    }
    (bus, id, gate, got, refused)
}

#[test]
fn drop_newest_keeps_the_first_and_counts_every_drop_exactly() {
    let (bus, id, gate, got, refused) = flood(Overflow::DropNewest, 100, MILLION);
    assert_eq!(refused, 0, "drops are not errors");
    let queued = bus.stats(id).unwrap();
    assert_eq!(queued.queued, 100);
    assert_eq!(queued.dropped_newest, MILLION - 101);
    gate.open();
    wait_for("the queue to drain", || got.lock().unwrap().len() == 101);
    assert_eq!(*got.lock().unwrap(), (0..101).collect::<Vec<u64>>());
    let stats = bus.stats(id).unwrap();
    assert_eq!(stats.delivered + stats.dropped_newest, MILLION);
}

#[test]
fn drop_oldest_keeps_the_newest_and_counts_every_drop_exactly() {
    let (bus, id, gate, got, refused) = flood(Overflow::DropOldest, 100, MILLION);
    assert_eq!(refused, 0);
    assert_eq!(bus.stats(id).unwrap().dropped_oldest, MILLION - 101);
    gate.open();
    wait_for("the queue to drain", || got.lock().unwrap().len() == 101);
    let mut expect = vec![0];
    expect.extend(MILLION - 100..MILLION);
    assert_eq!(*got.lock().unwrap(), expect);
    let stats = bus.stats(id).unwrap();
    assert_eq!(stats.delivered + stats.dropped_oldest, MILLION);
}

#[test]
fn fail_policy_refuses_exactly_the_overflow_with_a_coded_error() {
    let (bus, id, gate, got, refused) = flood(Overflow::Fail, 100, MILLION);
    assert_eq!(refused, MILLION - 101);
    assert_eq!(bus.stats(id).unwrap().rejected, MILLION - 101);
    let e = bus
        .publish(Outgoing::new("host.flood", 7u64.to_le_bytes().to_vec()))
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0803");
    assert!(e.to_string().contains("100 envelopes"), "{e}");
    gate.open();
    wait_for("the queue to drain", || got.lock().unwrap().len() == 101);
    assert_eq!(*got.lock().unwrap(), (0..101).collect::<Vec<u64>>());
}

#[test]
fn block_policy_times_out_with_a_coded_error_and_delivers_the_rest_later() {
    let (bus, id, gate, got, refused) = flood(Overflow::Block(Duration::from_millis(5)), 10, 20);
    assert_eq!(refused, 9, "the 10 that fit went in; the other 9 timed out");
    let e = bus
        .publish(Outgoing::new("host.flood", 99u64.to_le_bytes().to_vec()))
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0804");
    gate.open();
    wait_for("the queue to drain", || got.lock().unwrap().len() == 11);
    assert_eq!(bus.stats(id).unwrap().rejected, 10);
}

#[test]
fn one_slow_subscriber_never_delays_another() {
    let bus = Bus::new();
    let gate = Gate::new();
    let g = gate.clone();
    let slow = bus
        .subscribe(
            "host.x",
            SubscribeOptions::new()
                .capacity(4)
                .overflow(Overflow::DropNewest),
            move |_| {
                g.wait();
                Ok(())
            },
        )
        .unwrap();
    let fast_seen = Arc::new(AtomicU64::new(0));
    let f = fast_seen.clone();
    bus.subscribe(
        "host.x",
        SubscribeOptions::new().capacity(10_000),
        move |_| {
            f.fetch_add(1, Ordering::Relaxed);
            Ok(())
        },
    )
    .unwrap();
    for _ in 0..5_000 {
        bus.publish(ev("host.x", b"")).unwrap();
    }
    wait_for("the fast subscriber", || {
        fast_seen.load(Ordering::Relaxed) == 5_000
    });
    assert_eq!(
        bus.stats(slow).unwrap().delivered,
        0,
        "the slow one is still stuck"
    );
    gate.open();
}

#[test]
fn each_publisher_is_fifo_to_each_subscriber() {
    let bus = Bus::new();
    let (_, rx) = collect(&bus, "host.seq.*", SubscribeOptions::new().capacity(256));
    let publishers = 4;
    let per = 20_000u64;
    let start = Arc::new(Barrier::new(publishers));
    let handles: Vec<_> = (0..publishers)
        .map(|p| {
            let (bus, start) = (bus.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                for i in 0..per {
                    bus.publish(Outgoing::new(
                        format!("host.seq.p{p}"),
                        i.to_le_bytes().to_vec(),
                    ))
                    .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut last = vec![None::<u64>; publishers];
    for _ in 0..publishers as u64 * per {
        let e = rx.recv_timeout(Duration::from_secs(60)).unwrap();
        let p: usize = e.topic()["host.seq.p".len()..].parse().unwrap();
        let v = u64::from_le_bytes(e.payload().try_into().unwrap());
        assert_eq!(
            last[p].map_or(0, |l| l + 1),
            v,
            "publisher {p} out of order"
        );
        last[p] = Some(v);
    }
}

#[test]
fn expired_envelopes_are_not_delivered_and_are_counted() {
    let bus = Bus::new();
    let gate = Gate::new();
    let g = gate.clone();
    let got = Arc::new(Mutex::new(Vec::new()));
    let out = got.clone();
    let id = bus
        .subscribe("host.ttl", SubscribeOptions::new(), move |e| {
            if e.payload() == b"first" {
                g.wait();
            }
            out.lock().unwrap().push(e.payload().to_vec());
            Ok(())
        })
        .unwrap();
    bus.publish(ev("host.ttl", b"first")).unwrap();
    gate.await_entered();
    bus.publish(ev("host.ttl", b"stale").ttl(Duration::from_millis(1)))
        .unwrap();
    bus.publish(ev("host.ttl", b"instant").ttl(Duration::ZERO))
        .unwrap();
    bus.publish(ev("host.ttl", b"fresh").ttl(Duration::from_secs(3600)))
        .unwrap();
    // Time only moves forward: after this the 1 ms TTL has certainly passed.
    thread::sleep(Duration::from_millis(20));
    gate.open();
    wait_for("delivery", || got.lock().unwrap().len() == 2);
    wait_for("expiry counts", || bus.stats(id).unwrap().expired == 2);
    assert_eq!(*got.lock().unwrap(), [b"first".to_vec(), b"fresh".to_vec()]);
}

fn flaky(fail_times: u64) -> impl Fn(&Envelope) -> Result<(), PluginError> + Send + Sync {
    let calls = AtomicU64::new(0);
    move |_| {
        if calls.fetch_add(1, Ordering::Relaxed) < fail_times {
            Err(PluginError::new("not yet"))
        } else {
            Ok(())
        }
    }
}

fn quick_retries(max_attempts: u32) -> Delivery {
    Delivery::AtLeastOnce {
        max_attempts,
        backoff: Duration::from_micros(10),
        max_backoff: Duration::from_micros(100),
    }
}

#[test]
fn at_least_once_redelivers_until_the_handler_succeeds() {
    let bus = Bus::new();
    let id = bus
        .subscribe("host.job", inline().delivery(quick_retries(5)), flaky(3))
        .unwrap();
    bus.publish(ev("host.job", b"")).unwrap();
    let s = bus.stats(id).unwrap();
    assert_eq!(
        (s.delivered, s.failures, s.redelivered, s.dead_lettered),
        (1, 3, 3, 0)
    );
}

#[test]
fn at_least_once_dead_letters_after_the_last_attempt() {
    let bus = Bus::new();
    let (_, letters) = collect(&bus, DEAD_LETTER_TOPIC, inline());
    let id = bus
        .subscribe(
            "host.job",
            SubscribeOptions::new().delivery(quick_retries(3)),
            |_| Err(PluginError::new("always broken")),
        )
        .unwrap();
    bus.publish(ev("host.job", b"payload")).unwrap();
    let letter = letters.recv_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(letter.payload(), b"payload");
    assert_eq!(letter.header("original-topic"), Some("host.job"));
    assert_eq!(letter.header("attempts"), Some("3"));
    assert_eq!(letter.header("subscription"), Some(id.to_string().as_str()));
    assert!(letter.header("error").unwrap().contains("always broken"));
    let s = bus.stats(id).unwrap();
    assert_eq!(
        (s.failures, s.redelivered, s.dead_lettered, s.delivered),
        (3, 2, 1, 0)
    );
}

#[test]
fn at_most_once_never_retries() {
    let bus = Bus::new();
    let id = bus.subscribe("host.job", inline(), flaky(1)).unwrap();
    bus.publish(ev("host.job", b"")).unwrap();
    bus.publish(ev("host.job", b"")).unwrap();
    let s = bus.stats(id).unwrap();
    assert_eq!((s.failures, s.redelivered, s.delivered), (1, 0, 1));
}

#[test]
fn the_breaker_suspends_announces_and_resumes() {
    let bus = Bus::new();
    let (_, notices) = collect(&bus, SUSPENDED_TOPIC, inline());
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let h = healthy.clone();
    let seen = Arc::new(AtomicU64::new(0));
    let s2 = seen.clone();
    let id = bus
        .subscribe("host.job", SubscribeOptions::new().breaker(3), move |_| {
            s2.fetch_add(1, Ordering::Relaxed);
            if h.load(Ordering::Relaxed) {
                Ok(())
            } else {
                Err(PluginError::new("down"))
            }
        })
        .unwrap();
    for _ in 0..3 {
        bus.publish(ev("host.job", b"")).unwrap();
    }
    let notice = notices.recv_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(notice.header("subscription"), Some(id.to_string().as_str()));
    assert_eq!(notice.header("failures"), Some("3"));
    assert!(bus.stats(id).unwrap().suspended);
    // While suspended, envelopes wait in the queue.
    for _ in 0..5 {
        bus.publish(ev("host.job", b"")).unwrap();
    }
    wait_for("queued while suspended", || {
        bus.stats(id).unwrap().queued == 5
    });
    assert_eq!(seen.load(Ordering::Relaxed), 3);
    healthy.store(true, Ordering::Relaxed);
    bus.resume(id).unwrap();
    wait_for("delivery after resume", || {
        bus.stats(id).unwrap().delivered == 5
    });
    assert!(!bus.stats(id).unwrap().suspended);
}

#[test]
fn a_panicking_handler_is_a_counted_failure_and_trips_the_breaker() {
    let bus = Bus::new();
    let (_, notices) = collect(&bus, SUSPENDED_TOPIC, inline());
    let id = bus
        .subscribe("host.job", inline().breaker(2), |_| panic!("handler bug"))
        .unwrap();
    bus.publish(ev("host.job", b"")).unwrap();
    bus.publish(ev("host.job", b"")).unwrap();
    let notice = notices.try_recv().unwrap();
    assert!(String::from_utf8_lossy(notice.payload()).contains("handler bug"));
    let s = bus.stats(id).unwrap();
    assert_eq!(s.failures, 2);
    assert!(s.suspended);
    // Still usable afterwards: the bus itself did not unwind.
    assert_eq!(bus.publish(ev("host.other", b"")).unwrap(), 0);
}

#[test]
fn trace_and_causation_ids_follow_a_chain_of_events() {
    let bus = Bus::new();
    let (_, second) = collect(&bus, "host.second", inline());
    let relay = bus.clone();
    bus.subscribe("host.first", SubscribeOptions::new(), move |_| {
        relay
            .publish(ev("host.second", b""))
            .map(|_| ())
            .map_err(|e| PluginError::new(e.to_string()))
    })
    .unwrap();
    let (_, first) = collect(&bus, "host.first", inline());
    bus.publish(ev("host.first", b"")).unwrap();
    let a = first.recv_timeout(Duration::from_secs(60)).unwrap();
    let b = second.recv_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(a.causation_id(), None);
    assert_eq!(a.trace_id(), a.id());
    assert_eq!(b.trace_id(), a.trace_id());
    assert_eq!(b.causation_id(), Some(a.id()));
    assert_eq!(b.hops(), 1);
}

#[test]
fn trace_ids_pass_through_service_calls() {
    let bus = Bus::new();
    let (_, out) = collect(&bus, "host.audit", inline());
    let b2 = bus.clone();
    bus.provide(
        ServiceBuilder::new("ledger").method("note", move |s: String| {
            b2.publish(ev("host.audit", s.as_bytes()))
                .map_err(|e| PluginError::new(e.to_string()))?;
            Ok(true)
        }),
    )
    .unwrap();
    let client = bus.client::<String, bool>("ledger", "note").unwrap();
    let c2 = client.clone();
    bus.subscribe("host.start", inline(), move |_| {
        c2.call(&"x".into())
            .map(|_| ())
            .map_err(|e| PluginError::new(e.to_string()))
    })
    .unwrap();
    let (_, start) = collect(&bus, "host.start", inline());
    bus.publish(ev("host.start", b"")).unwrap();
    let s = start.try_recv().unwrap();
    let a = out.try_recv().unwrap();
    assert_eq!(
        a.trace_id(),
        s.trace_id(),
        "one trace from the event through the call"
    );
    assert_ne!(
        a.causation_id(),
        Some(s.id()),
        "the call, not the event, caused it"
    );
    assert!(a.causation_id().is_some());
}

#[test]
fn an_event_cycle_stops_at_the_hop_limit_instead_of_spinning() {
    let bus = Bus::with_limits(
        BusLimits {
            max_hops: 16,
            max_call_depth: 8,
            ..BusLimits::default()
        },
        None,
    );
    for (from, to) in [("host.ping", "host.pong"), ("host.pong", "host.ping")] {
        let b = bus.clone();
        bus.subscribe(from, SubscribeOptions::new().breaker(0), move |_| {
            b.publish(ev(to, b""))
                .map(|_| ())
                .map_err(|e| PluginError::with_code(e.code(), e.to_string()))
        })
        .unwrap();
    }
    let (_, loops) = collect(&bus, "host.*", inline());
    bus.publish(ev("host.ping", b"")).unwrap();
    let failures = || {
        bus.subscriptions()
            .iter()
            .map(|s| s.stats.failures)
            .sum::<u64>()
    };
    wait_for("the cycle to be refused", || failures() >= 1);
    assert_eq!(
        loops.try_iter().count(),
        16,
        "the first envelope and 15 more hops"
    );
    assert_eq!(failures(), 1, "exactly one handler was refused (SB0805)");
}

#[test]
fn a_handler_publishing_into_its_own_full_queue_fails_fast() {
    let bus = Bus::new();
    let b = bus.clone();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let errs = errors.clone();
    let id = bus
        .subscribe(
            "host.echo",
            SubscribeOptions::new()
                .capacity(1)
                .overflow(Overflow::Block(Duration::from_secs(3600))),
            move |e| {
                if e.payload() == b"go" {
                    for _ in 0..3 {
                        if let Err(e) = b.publish(ev("host.echo", b"again")) {
                            errs.lock().unwrap().push(e.code().to_string());
                        }
                    }
                }
                Ok(())
            },
        )
        .unwrap();
    bus.publish(ev("host.echo", b"go")).unwrap();
    wait_for("the handler to finish", || {
        bus.stats(id).unwrap().delivered >= 2
    });
    assert_eq!(
        *errors.lock().unwrap(),
        ["SB0804", "SB0804"],
        "one fit, two refused at once"
    );
}

#[test]
fn unsubscribing_stops_delivery() {
    let bus = Bus::new();
    let (id, rx) = collect(&bus, "host.x", inline());
    bus.publish(ev("host.x", b"")).unwrap();
    bus.unsubscribe(id).unwrap();
    assert_eq!(bus.publish(ev("host.x", b"")).unwrap(), 0);
    assert_eq!(rx.try_iter().count(), 1);
    assert_eq!(bus.stats(id).unwrap_err().code().to_string(), "SB0806");
    assert_eq!(
        bus.unsubscribe(id).unwrap_err().code().to_string(),
        "SB0806"
    );
}

#[test]
fn a_batch_routes_once_and_keeps_order() {
    let bus = Bus::new();
    let (_, rx) = collect(&bus, "host.batch", SubscribeOptions::new().capacity(10_000));
    let n = bus
        .publish_batch("host.batch", (0u32..1000).map(|i| i.to_le_bytes().to_vec()))
        .unwrap();
    assert_eq!(n, 1000);
    for i in 0u32..1000 {
        let e = rx.recv_timeout(Duration::from_secs(60)).unwrap();
        assert_eq!(e.payload(), i.to_le_bytes());
    }
}

#[test]
fn services_answer_typed_calls() {
    let bus = Bus::new();
    bus.provide(
        ServiceBuilder::new("text.tools")
            .method("upper", |s: String| Ok(s.to_uppercase()))
            .method("len", |s: String| Ok(s.len() as u64)),
    )
    .unwrap();
    let upper = bus.client::<String, String>("text.tools", "upper").unwrap();
    assert_eq!(upper.call(&"abc".into()).unwrap(), "ABC");
    let len = bus.client::<String, u64>("text.tools", "len").unwrap();
    assert_eq!(len.call(&"abcd".into()).unwrap(), 4);
    let info = bus.services();
    assert_eq!(info[0].name, "text.tools");
    assert_eq!(info[0].provider, "host");
}

#[test]
fn a_contract_mismatch_at_bind_names_both_ids() {
    let bus = Bus::new();
    bus.provide(ServiceBuilder::new("text.tools").method("len", |s: String| Ok(s.len() as u64)))
        .unwrap();
    let e = bus
        .client::<String, String>("text.tools", "len")
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0809");
    let text = e.to_string();
    assert!(
        text.contains("u64@1") && text.contains("string@1"),
        "{text}"
    );
}

#[test]
fn unknown_services_and_methods_are_explained() {
    let bus = Bus::new();
    bus.provide(ServiceBuilder::new("text.tools").method("upper", |s: String| Ok(s)))
        .unwrap();
    let e = bus.raw_client("text.tool", "upper").unwrap_err();
    assert_eq!(e.code().to_string(), "SB0807");
    assert!(e.to_string().contains("did you mean `text.tools`"), "{e}");
    let e = bus.raw_client("text.tools", "lower").unwrap_err();
    assert_eq!(e.code().to_string(), "SB0808");
    assert!(e.to_string().contains("upper"), "{e}");
    let e = bus
        .provide(ServiceBuilder::new("text.tools").method("x", |s: String| Ok(s)))
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0814");
    assert!(bus.withdraw("text.tools"));
    let e = bus.raw_client("text.tools", "upper").unwrap_err();
    assert_eq!(e.code().to_string(), "SB0807");
}

#[test]
fn a_withdrawn_service_fails_bound_clients_cleanly() {
    let bus = Bus::new();
    bus.provide(ServiceBuilder::new("clock").method("now", |_: ()| Ok(1u64)))
        .unwrap();
    let now = bus.client::<(), u64>("clock", "now").unwrap();
    assert_eq!(now.call(&()).unwrap(), 1);
    bus.withdraw("clock");
    assert_eq!(now.call(&()).unwrap_err().code().to_string(), "SB0807");
}

#[test]
fn callers_over_their_rate_are_throttled_with_a_retry_after() {
    // One token per 1000 s: nothing refills during the test.
    let bus = Bus::with_limits(BusLimits::default(), Some(Throttle::new(0.001, 3)));
    bus.provide(ServiceBuilder::new("clock").method("now", |_: ()| Ok(1u64)))
        .unwrap();
    let now = bus.client::<(), u64>("clock", "now").unwrap();
    for _ in 0..3 {
        now.call(&()).unwrap();
    }
    let e = now.call(&()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0810");
    match e {
        switchboard_host::BusError::Throttled { retry_after, .. } => {
            assert!(retry_after > Duration::from_secs(900), "{retry_after:?}")
        }
        other => panic!("{other}"),
    }
    // A second client for the same caller shares the bucket.
    let again = bus.client::<(), u64>("clock", "now").unwrap();
    assert_eq!(again.call(&()).unwrap_err().code().to_string(), "SB0810");
}

#[test]
fn a_slow_provider_times_out_with_a_coded_error() {
    let bus = Bus::new();
    let gate = Gate::new();
    let g = gate.clone();
    bus.provide(ServiceBuilder::new("slow").method("wait", move |_: ()| {
        g.wait();
        Ok(())
    }))
    .unwrap();
    let wait = bus.client::<(), ()>("slow", "wait").unwrap();
    let e = wait
        .call_timeout(&(), Duration::from_millis(20))
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0811");
    gate.open();
    // The provider's thread is free again; a later call answers.
    wait.call_timeout(&(), Duration::from_secs(60)).unwrap();
}

/// `ping` calls `pong`, which calls `ping` again while `n > 0`.
fn ping_pong(bus: &Bus, timeout: Option<Duration>) {
    for (name, other) in [("ping", "pong"), ("pong", "ping")] {
        let b = bus.clone();
        bus.provide(ServiceBuilder::new(name).method("hit", move |n: u32| {
            if n == 0 {
                return Ok(0u32);
            }
            let client = b
                .client::<u32, u32>(other, "hit")
                .map_err(|e| PluginError::new(e.to_string()))?;
            let r = match timeout {
                Some(t) => client.call_timeout(&(n - 1), t),
                None => client.call(&(n - 1)),
            };
            r.map(|v| v + 1)
                .map_err(|e| PluginError::with_code(e.code(), e.to_string()))
        }))
        .unwrap();
    }
}

#[test]
fn a_re_entrant_chain_of_calls_completes() {
    let bus = Bus::new();
    ping_pong(&bus, None);
    let ping = bus.client::<u32, u32>("ping", "hit").unwrap();
    assert_eq!(ping.call(&10).unwrap(), 10);
}

#[test]
fn a_re_entrant_chain_with_timeouts_completes_without_waiting_on_itself() {
    let bus = Bus::new();
    ping_pong(&bus, Some(Duration::from_secs(3600)));
    let ping = bus.client::<u32, u32>("ping", "hit").unwrap();
    assert_eq!(ping.call_timeout(&6, Duration::from_secs(3600)).unwrap(), 6);
}

#[test]
fn a_runaway_chain_of_calls_fails_fast_at_the_depth_limit() {
    let bus = Bus::with_limits(
        BusLimits {
            max_hops: 64,
            max_call_depth: 8,
            ..BusLimits::default()
        },
        None,
    );
    ping_pong(&bus, None);
    let ping = bus.client::<u32, u32>("ping", "hit").unwrap();
    let e = ping.call(&1000).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("limit is 8"), "{text}");
    // The error surfaces through every level with its code kept.
    assert_eq!(e.code().to_string(), "SB0813", "{text}");
    // And the depth is back to zero afterwards.
    assert_eq!(ping.call(&3).unwrap(), 3);
}

#[test]
fn a_provider_that_panics_fails_the_call_not_the_caller() {
    let bus = Bus::new();
    bus.provide(
        ServiceBuilder::new("bad").method("boom", |_: ()| -> Result<(), PluginError> {
            panic!("provider bug")
        }),
    )
    .unwrap();
    let boom = bus.client::<(), ()>("bad", "boom").unwrap();
    let e = boom.call(&()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0101");
}

#[test]
fn batched_envelopes_have_consecutive_ids_and_traces_of_their_own() {
    let bus = Bus::new();
    let (_, rx) = collect(
        &bus,
        "host.items",
        inline().filter(HeaderFilter::Absent("x".into())),
    );
    bus.publish_batch("host.items", (0u32..130).map(|i| i.to_le_bytes()))
        .unwrap();
    let got: Vec<Envelope> = rx.try_iter().collect();
    assert_eq!(got.len(), 130);
    for (i, e) in got.iter().enumerate() {
        assert_eq!(e.payload(), (i as u32).to_le_bytes());
        assert_eq!(
            e.id().0,
            got[0].id().0 + i as u64,
            "one block of ids per run, runs in order"
        );
        assert_eq!(
            e.trace_id(),
            e.id(),
            "an outside event begins its own trace"
        );
        assert_eq!(e.causation_id(), None);
        assert!(e.headers().is_empty());
        assert_eq!(e.publisher(), "host");
    }
}

#[test]
fn a_batch_published_from_a_handler_joins_its_trace() {
    let bus = Bus::new();
    let (_, items) = collect(&bus, "host.items", inline());
    let b = bus.clone();
    bus.subscribe("host.start", inline(), move |_| {
        b.publish_batch("host.items", [b"a", b"b", b"c"])
            .map(|_| ())
            .map_err(|e| PluginError::new(e.to_string()))
    })
    .unwrap();
    let (_, start) = collect(&bus, "host.start", inline());
    bus.publish(ev("host.start", b"")).unwrap();
    let s = start.try_recv().unwrap();
    let got: Vec<Envelope> = items.try_iter().collect();
    assert_eq!(got.len(), 3);
    for e in &got {
        assert_eq!(e.trace_id(), s.trace_id());
        assert_eq!(e.causation_id(), Some(s.id()));
        assert_eq!(e.hops(), 1);
    }
}

#[test]
fn overflow_policies_count_every_envelope_of_a_run() {
    let bus = Bus::new();
    let gate = Gate::new();
    let g = gate.clone();
    let seen = Arc::new(AtomicU64::new(0));
    let s2 = seen.clone();
    let id = bus
        .subscribe(
            "host.items",
            SubscribeOptions::new()
                .capacity(1)
                .overflow(Overflow::DropNewest),
            move |e| {
                if e.payload() == b"first" {
                    g.wait();
                }
                s2.fetch_add(1, Ordering::Relaxed);
                Ok(())
            },
        )
        .unwrap();
    bus.publish(ev("host.items", b"first")).unwrap();
    gate.await_entered();
    // 200 envelopes make runs of 64, 64, 64 and 8: the first run takes the one free slot,
    // the other three are dropped whole — and counted envelope by envelope.
    let taken = bus
        .publish_batch("host.items", (0..200).map(|_| b"x"))
        .unwrap();
    assert_eq!(taken, 64);
    let s = bus.stats(id).unwrap();
    assert_eq!(s.dropped_newest, 136);
    assert_eq!(s.enqueued, 1 + 64);
    gate.open();
    wait_for("the run", || seen.load(Ordering::Relaxed) == 65);
    assert_eq!(bus.stats(id).unwrap().delivered, 65);
}

#[test]
fn a_call_that_timed_out_while_queued_is_never_run_late() {
    let bus = Bus::new();
    let gate = Gate::new();
    let runs = Arc::new(AtomicU64::new(0));
    let (g, r) = (gate.clone(), runs.clone());
    bus.provide(
        ServiceBuilder::new("slow").method("hit", move |first: bool| {
            r.fetch_add(1, Ordering::Relaxed);
            if first {
                g.wait();
            }
            Ok(())
        }),
    )
    .unwrap();
    let hit = bus.client::<bool, ()>("slow", "hit").unwrap();
    // The first call occupies the service's thread; the second waits behind it and gives up.
    let e = hit
        .call_timeout(&true, Duration::from_millis(10))
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0811");
    gate.await_entered();
    let e = hit
        .call_timeout(&false, Duration::from_millis(10))
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0811");
    gate.open();
    hit.call_timeout(&false, Duration::from_secs(60)).unwrap();
    assert_eq!(
        runs.load(Ordering::Relaxed),
        2,
        "the abandoned call was skipped, not run"
    );
}
