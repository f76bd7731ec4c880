//! The event bus and shared services, each figure beside a bare baseline measured in the same
//! run: a crossbeam channel between two threads for queued delivery, direct closure calls for
//! inline delivery and service calls.
//!
//! - `bus/crossbeam_baseline` — u64s through a bounded crossbeam channel, thread to thread,
//!   one `send` each.
//! - `bus/throughput_batch_1to1` — one host publisher, `publish_batch` (runs of 64 envelopes
//!   per queue slot), one queued subscriber.
//! - `bus/throughput_batch_1to8` — the same, eight queued subscribers (elements: deliveries).
//! - `bus/throughput_batch_8to1` — eight publisher threads, one queued subscriber.
//! - `bus/publish_single_1to1` — the 1→1 shape with one `Bus::publish` per event (one
//!   `Outgoing` each, topic and payload shared `Arc`s): the figure to set beside the
//!   baseline's one `send` per value.
//! - `bus/throughput_single_1to8`, `_8to1` — the other shapes with one `publish` per event.
//! - `bus/publish_to_handler` — one publish, then wait until the handler ran (round trip).
//!   p50 and p99 of publish → handler, from a histogram, are printed after the run.
//! - `bus/inline_per_subscriber` — a publish to eight inline subscribers (elements:
//!   deliveries), beside `bus/inline_baseline`, eight boxed closure calls.
//! - `bus/service_call` — a typed call of a host-provided service, beside
//!   `bus/service_baseline`, the same closure called through an `Arc<dyn Fn>`.
//! - `bus/publish_plugin_single` — the 1→1 shape published by a plugin (the `relay` example,
//!   in-process, release build): one command call whose handler makes one `ctx.publish` per
//!   event (each crosses the plugin boundary and is checked on its own).
//! - `bus/publish_plugin_batch` — the same events in one `ctx.batch()`: one crossing, one
//!   check, runs of 64 per queue slot.

#![expect(
    clippy::print_stderr,
    reason = "reports latency percentiles criterion does not compute"
)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use switchboard_host::bus::{Bus, Mode, Outgoing, Overflow, ServiceBuilder, SubscribeOptions};

const N: u64 = 100_000;

fn queued() -> SubscribeOptions {
    SubscribeOptions::new()
        .capacity(4096)
        .overflow(Overflow::Block(Duration::from_secs(60)))
}

/// A subscriber that counts; returns the counter.
fn counting(bus: &Bus, pattern: &str) -> Arc<AtomicU64> {
    let n = Arc::new(AtomicU64::new(0));
    let c = n.clone();
    bus.subscribe(pattern, queued(), move |e| {
        black_box(e.payload());
        c.fetch_add(1, Ordering::Release);
        Ok(())
    })
    .unwrap();
    n
}

/// Waits until the consumer has counted `target`. Looks at the counter only every few hundred
/// spins: polling it hot would pull its cache line away from the consumer on every increment
/// and measure that instead.
fn wait_count(n: &AtomicU64, target: u64) {
    while n.load(Ordering::Acquire) < target {
        for _ in 0..512 {
            std::hint::spin_loop();
        }
    }
}

/// How a throughput bench publishes its events.
#[derive(Debug, Clone, Copy)]
enum Publishing {
    /// `publish_batch`: one call for all of them.
    Batch,
    /// One `publish` per event.
    Single,
}

impl Publishing {
    fn name(self) -> &'static str {
        match self {
            Publishing::Batch => "batch",
            Publishing::Single => "single",
        }
    }

    /// Publishes `n` 16-byte events on `topic`.
    fn publish(self, bus: &Bus, topic: &str, n: u64) {
        let payload: Arc<[u8]> = Arc::from(&[1u8; 16][..]);
        match self {
            Publishing::Batch => {
                bus.publish_batch(topic, (0..n).map(|_| payload.clone()))
                    .unwrap();
            }
            Publishing::Single => {
                let topic: Arc<str> = Arc::from(topic);
                for _ in 0..n {
                    bus.publish(Outgoing::new(topic.clone(), payload.clone()))
                        .unwrap();
                }
            }
        }
    }
}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("bus");
    g.sample_size(20);
    g.throughput(Throughput::Elements(N));

    g.bench_function("crossbeam_baseline", |b| {
        let (tx, rx) = crossbeam_channel::bounded::<u64>(4096);
        let count = Arc::new(AtomicU64::new(0));
        let c2 = count.clone();
        let consumer = thread::spawn(move || {
            for v in rx {
                black_box(v);
                c2.fetch_add(1, Ordering::Release);
            }
        });
        let mut sent = 0;
        b.iter(|| {
            for i in 0..N {
                tx.send(i).unwrap();
            }
            sent += N;
            wait_count(&count, sent);
        });
        drop(tx);
        consumer.join().unwrap();
    });

    for mode in [Publishing::Batch, Publishing::Single] {
        g.throughput(Throughput::Elements(N));
        let id = match mode {
            Publishing::Batch => "throughput_batch_1to1",
            Publishing::Single => "publish_single_1to1",
        };
        g.bench_function(id, |b| {
            let bus = Bus::new();
            let count = counting(&bus, "host.tick");
            let mut sent = 0;
            b.iter(|| {
                mode.publish(&bus, "host.tick", N);
                sent += N;
                wait_count(&count, sent);
            });
        });

        g.throughput(Throughput::Elements(N * 8));
        g.bench_function(format!("throughput_{}_1to8", mode.name()), |b| {
            let bus = Bus::new();
            let counts: Vec<_> = (0..8).map(|_| counting(&bus, "host.tick")).collect();
            let mut sent = 0;
            b.iter(|| {
                mode.publish(&bus, "host.tick", N);
                sent += N;
                for c in &counts {
                    wait_count(c, sent);
                }
            });
        });

        g.throughput(Throughput::Elements(N));
        g.bench_function(format!("throughput_{}_8to1", mode.name()), |b| {
            let bus = Bus::new();
            let count = counting(&bus, "host.tick.*");
            let mut sent = 0;
            b.iter(|| {
                let start = Arc::new(Barrier::new(8));
                let handles: Vec<_> = (0..8)
                    .map(|p| {
                        let (bus, start) = (bus.clone(), start.clone());
                        thread::spawn(move || {
                            let topic = format!("host.tick.p{p}");
                            start.wait();
                            mode.publish(&bus, &topic, N / 8);
                        })
                    })
                    .collect();
                for h in handles {
                    h.join().unwrap();
                }
                sent += N / 8 * 8;
                wait_count(&count, sent);
            });
        });
    }
    g.finish();
}

fn latency(c: &mut Criterion) {
    let bus = Bus::new();
    let done = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(Mutex::new(Vec::with_capacity(1 << 20)));
    let (d, s) = (done.clone(), samples.clone());
    let origin = Instant::now();
    bus.subscribe("host.ping", queued(), move |e| {
        let sent = u64::from_le_bytes(e.payload().try_into().unwrap_or([0; 8]));
        let now = origin.elapsed().as_nanos() as u64;
        if let Ok(mut s) = s.lock() {
            s.push(now.saturating_sub(sent));
        }
        d.fetch_add(1, Ordering::Release);
        Ok(())
    })
    .unwrap();
    let mut g = c.benchmark_group("bus");
    let mut sent = 0;
    g.bench_function("publish_to_handler", |b| {
        b.iter(|| {
            let stamp = origin.elapsed().as_nanos() as u64;
            bus.publish(Outgoing::new("host.ping", stamp.to_le_bytes().to_vec()))
                .unwrap();
            sent += 1;
            // One event at a time: wait hot, the consumer is not being measured for
            // throughput here.
            while done.load(Ordering::Acquire) < sent {
                std::hint::spin_loop();
            }
        })
    });
    g.finish();
    let mut s = samples.lock().unwrap().clone();
    s.sort_unstable();
    if !s.is_empty() {
        let pct = |p: f64| s[((s.len() - 1) as f64 * p) as usize];
        eprintln!(
            "bus/publish_to_handler one-way latency over {} events: p50 {} ns, p99 {} ns, p99.9 {} ns",
            s.len(),
            pct(0.50),
            pct(0.99),
            pct(0.999)
        );
    }
}

fn inline(c: &mut Criterion) {
    let bus = Bus::new();
    let count = Arc::new(AtomicU64::new(0));
    for _ in 0..8 {
        let c2 = count.clone();
        bus.subscribe(
            "host.tick",
            SubscribeOptions::new().mode(Mode::Inline),
            move |e| {
                black_box(e.payload());
                c2.fetch_add(1, Ordering::Relaxed);
                Ok(())
            },
        )
        .unwrap();
    }
    type BoxedHandler = Box<dyn Fn(&[u8]) + Send + Sync>;
    let mut handlers: Vec<BoxedHandler> = Vec::new();
    for _ in 0..8 {
        let c2 = count.clone();
        handlers.push(Box::new(move |p: &[u8]| {
            black_box(p);
            c2.fetch_add(1, Ordering::Relaxed);
        }));
    }
    let payload: Arc<[u8]> = Arc::from(&[1u8; 16][..]);
    let mut g = c.benchmark_group("bus");
    g.throughput(Throughput::Elements(8));
    g.bench_function("inline_per_subscriber", |b| {
        b.iter_batched(
            || Outgoing::new("host.tick", payload.clone()),
            |e| bus.publish(e).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("inline_baseline", |b| {
        b.iter(|| {
            for h in &handlers {
                h(black_box(&payload));
            }
        })
    });
    g.finish();
}

fn service(c: &mut Criterion) {
    let bus = Bus::new();
    bus.provide(ServiceBuilder::new("math").method("double", |x: u64| Ok(x * 2)))
        .unwrap();
    let double = bus.client::<u64, u64>("math", "double").unwrap();
    let direct: Arc<dyn Fn(u64) -> Result<u64, ()> + Send + Sync> = Arc::new(|x| Ok(x * 2));
    let mut g = c.benchmark_group("bus");
    g.bench_function("service_call", |b| {
        b.iter(|| double.call(black_box(&21)).unwrap())
    });
    g.bench_function("service_baseline", |b| {
        b.iter(|| direct(black_box(21)).unwrap())
    });
    g.finish();
}

/// The `relay` example plugin, loaded in-process and started, with the grants it declares.
fn relay_host() -> (
    switchboard_host::Host,
    switchboard_host::PluginHandle,
    tempfile::TempDir,
) {
    use switchboard_cli::examples::{library, Profile};
    let path = library(Profile::Release, "relay").expect("building the example plugins");
    let data_dir = tempfile::tempdir().expect("a temporary data directory");
    let mut policy = switchboard_host::caps::Policy::new();
    for cap in [
        "events.subscribe:host.**",
        "service.call:*",
        "service.provide:relay.echo",
    ] {
        policy.allow(cap.parse().expect("a capability"));
    }
    let mut builder = switchboard_host::Host::builder();
    builder
        .data_dir(data_dir.path())
        .host_api("switchboard-demo", "0.1.0")
        .policy(policy);
    builder.dangerous().load_unsigned_libraries();
    let host = builder.build().expect("building the host");
    let relay = host.load_unsigned(&path).expect("loading relay");
    relay.start().expect("starting relay");
    (host, relay, data_dir)
}

fn plugin_publishing(c: &mut Criterion) {
    let (host, relay, _dir) = relay_host();
    let count = counting(host.bus(), "plugin.relay.tick");
    let burst = relay::Burst {
        topics: vec!["plugin.relay.tick".into()],
        rounds: N as u32,
        bytes: 16,
    };
    let mut g = c.benchmark_group("bus");
    g.sample_size(20);
    g.throughput(Throughput::Elements(N));
    let mut sent = 0;
    for (id, command) in [
        ("publish_plugin_single", "announce_each"),
        ("publish_plugin_batch", "announce_batch"),
    ] {
        let publish = relay
            .command::<relay::Burst, u32>(command)
            .expect("relay has the command");
        g.bench_function(id, |b| {
            b.iter(|| {
                publish.call(&burst).unwrap();
                sent += N;
                wait_count(&count, sent);
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    throughput,
    latency,
    inline,
    service,
    plugin_publishing
);
criterion_main!(benches);
