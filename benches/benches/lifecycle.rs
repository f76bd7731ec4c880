//! What a plugin's lifecycle operations cost.
//!
//! Every id is in the criterion group `lifecycle`:
//!
//! - `reload`: a hot reload of the example plugin `hello` (release build, in-process) from its
//!   library file to the same file — everything from `PluginHandle::reload` to the new code
//!   serving: the development load's checks (the file read and its manifest section parsed),
//!   grants decided and audited, the library copied into a fresh sealed image and opened, the
//!   pause, the old version's `snapshot` and `stop`, the new one's `restore`, `start` and health
//!   check, the records and the audit row. Target: at most 100 ms median.
//! - `load`: the baseline beside it in the same run — loading and starting `hello` in a fresh
//!   host (the host is built and dropped outside the timing), the nearest thing a reload
//!   replaces.
//!
//! Each reload keeps its library copy mapped (ARCHITECTURE D2), so the host is built with no
//! reload bound and the samples are few.

use std::time::{Duration, Instant};

use criterion::Criterion;
use switchboard_cli::examples::{library, Profile};
use switchboard_host::Host;
use tempfile::TempDir;

fn host(dir: &TempDir) -> Host {
    let mut builder = Host::builder();
    builder
        .data_dir(dir.path())
        .host_api("switchboard-demo", "0.1.0")
        .max_reloads(u32::MAX);
    builder.dangerous().load_unsigned_libraries();
    builder.build().expect("building the host")
}

fn bench(c: &mut Criterion) {
    let path = library(Profile::Release, "hello").expect("building the example plugins");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let reload_host = host(&dir);
    let hello = reload_host.load_unsigned(&path).expect("loading hello");
    hello.start().expect("starting hello");

    let mut group = c.benchmark_group("lifecycle");
    group.sample_size(10);
    group.bench_function("reload", |b| {
        b.iter(|| hello.reload(&path).expect("reloading hello"))
    });
    group.bench_function("load", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let fresh = host(&dir);
                let began = Instant::now();
                let plugin = fresh.load_unsigned(&path).expect("loading hello");
                plugin.start().expect("starting hello");
                total += began.elapsed();
                drop(plugin);
                drop(fresh);
            }
            total
        })
    });
    group.finish();
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
