//! What the host's metrics tick costs once it stores metrics and evaluates SLOs.
//!
//! Every id is in the criterion group `slo`:
//!
//! - `tick`: `Host::flush_metrics` — the delta since the last tick written to the current
//!   minute's rows, retention applied (minute rows older than 2 days merged into hours once an
//!   hour), and the three burn-rate rules evaluated for both objectives — on a host whose
//!   database holds 3 days of minute rows (the longest alert window) for two commands of the
//!   example plugin `hello`, after 10 calls. The clock (a `ManualClock`) moves a minute per
//!   iteration, so compaction bursts are included at their real rate.
//! - `export`: the baseline beside it in the same run — `Host::export_metrics`, the tick's
//!   work before this (the snapshot handed to the `metrics` facade), after the same 10 calls.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::Criterion;
use switchboard_cli::examples::{library, Profile};
use switchboard_host::slo::ManualClock;
use switchboard_host::Host;

fn bench(c: &mut Criterion) {
    let path = library(Profile::Release, "hello").expect("building the example plugins");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let start: SystemTime = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let clock = ManualClock::new(start);
    let mut builder = Host::builder();
    builder
        .data_dir(dir.path())
        .host_api("switchboard-demo", "0.1.0")
        .clock(clock.clone())
        .metrics_export_interval(None);
    builder.dangerous().load_unsigned_libraries();
    let host = builder.build().expect("building the host");
    let hello = host.load_unsigned(&path).expect("loading hello");
    hello.start().expect("starting hello");
    let greet = host
        .command::<String, String>("hello", "greet")
        .expect("binding greet");
    let env = host
        .command::<String, String>("hello", "env")
        .expect("binding env");
    let name = "Ada".to_string();
    let traffic = || {
        for _ in 0..10 {
            let _ = greet.call(&name);
        }
        let _ = env.call(&"SB_UNSET".to_string());
    };
    // Three days of minutes.
    for _ in 0..3 * 24 * 60 {
        clock.advance(Duration::from_secs(60));
        traffic();
        host.flush_metrics().expect("a tick");
    }

    let mut group = c.benchmark_group("slo");
    group.bench_function("tick", |b| {
        b.iter(|| {
            clock.advance(Duration::from_secs(60));
            traffic();
            host.flush_metrics().expect("a tick")
        })
    });
    group.bench_function("export", |b| {
        b.iter(|| {
            traffic();
            host.export_metrics()
        })
    });
    group.finish();
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
