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
//! - `health_check`: one round of health checks (`Host::check_health`) over a host with
//!   `hello` active — its hook asked on a thread of its own under the deadline, the rules
//!   evaluated, the status kept (no change, so nothing published or audited).
//! - `health_hook`: the baseline beside it — `hello`'s `health` hook asked on the caller's
//!   thread (`PluginHandle::health`), what a round adds its thread and bookkeeping to.
//!
//! Each reload keeps its library copy mapped (ARCHITECTURE D2), so the host is built with no
//! reload bound and the samples are few. After criterion's report a real bench run (`--bench`)
//! prints what each reload leaves behind: the growth of the process's resident memory
//! (`VmRSS`) and of its shared memory (`RssShmem`: the sealed images) over 20 more reloads.

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
    group.bench_function("health_check", |b| {
        b.iter(|| {
            let report = reload_host.check_health();
            assert!(report.plugins[0].status.is_healthy());
            report
        })
    });
    group.bench_function("health_hook", |b| b.iter(|| hello.health()));
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

/// A field of `/proc/self/status`, in KiB (0 where there is none).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// What each reload of `hello` leaves mapped: memory growth over 20 reloads, per reload.
#[expect(
    clippy::print_stdout,
    reason = "the per-reload memory is this bench's report, beside criterion's own output"
)]
fn print_cost_per_reload() {
    const RELOADS: u64 = 20;
    let path = library(Profile::Release, "hello").expect("building the example plugins");
    let size = std::fs::metadata(&path)
        .map(|m| m.len() / 1024)
        .unwrap_or(0);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let host = host(&dir);
    let hello = host.load_unsigned(&path).expect("loading hello");
    hello.start().expect("starting hello");
    hello.reload(&path).expect("reloading hello");
    let (rss, shmem) = (status_kib("VmRSS:"), status_kib("RssShmem:"));
    for _ in 0..RELOADS {
        hello.reload(&path).expect("reloading hello");
    }
    let grew = |before: u64, after: u64| after.saturating_sub(before) / RELOADS;
    println!();
    println!("lifecycle/reload: what one reload of hello ({size} KiB library) leaves mapped");
    println!(
        "  VmRSS    +{} KiB per reload",
        grew(rss, status_kib("VmRSS:"))
    );
    println!(
        "  RssShmem +{} KiB per reload",
        grew(shmem, status_kib("RssShmem:"))
    );
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| {
        args.iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    if has("--bench") && !has("--list") && !has("--profile-time") {
        print_cost_per_reload();
    }
}
