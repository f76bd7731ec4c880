//! Capability checks and the audit log.
//!
//! The checks go through a real host: the release `hello` cdylib is loaded with `kv` and an
//! `fs.read` pattern granted, and its token is checked in the host's grant table exactly as
//! the host's services check it.

#![expect(
    clippy::print_stderr,
    reason = "reports figures criterion does not measure"
)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use switchboard_cli::examples::{self, Profile};
use switchboard_host::caps::{Access, Policy};
use switchboard_host::{AuditEvent, AuditFilter, AuditKind, Host, Store, Timestamp};

fn host_with_hello(dir: &Path) -> (Host, switchboard_host::PluginHandle) {
    let lib = match examples::library(Profile::Release, "hello") {
        Ok(p) => p,
        Err(e) => panic!("cannot build the hello example: {e:#}"),
    };
    let mut policy = Policy::new();
    policy.allow("kv".parse().unwrap());
    policy.allow("fs.read:/srv/data/**".parse().unwrap());
    let mut b = Host::builder();
    b.data_dir(dir)
        .host_api("switchboard-demo", "0.1.0")
        .policy(policy);
    b.dangerous().load_unsigned_libraries();
    let host = b.build().unwrap();
    let hello = host.load_unsigned(lib).unwrap();
    (host, hello)
}

fn checks(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (host, hello) = host_with_hello(dir.path());
    let table = host.grant_table();
    let token = hello.token();
    assert!(table.check(token, &Access::Kv));
    assert!(!table.check(token, &Access::Secrets));
    let mut g = c.benchmark_group("caps");
    g.bench_function("check_cached", |b| {
        b.iter(|| table.check(black_box(token), black_box(&Access::Kv)))
    });
    g.bench_function("check_denied", |b| {
        b.iter(|| table.check(black_box(token), black_box(&Access::Secrets)))
    });
    let path = Path::new("/srv/data/reports/2025/june.csv");
    assert!(table.check(token, &Access::ReadFile(path)));
    g.bench_function("check_path", |b| {
        b.iter(|| table.check(black_box(token), black_box(&Access::ReadFile(path))))
    });
    g.finish();
}

fn audit_append(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let log = Store::open(dir.path()).unwrap().audit();
    let event = AuditEvent::new(
        AuditKind::Deny,
        "hello",
        "fs.read:/etc/passwd",
        json!({ "code": "SB0412", "at": "runtime" }),
    );
    let mut g = c.benchmark_group("caps");
    g.bench_function("audit_append", |b| {
        b.iter(|| log.append(black_box(&event)).unwrap())
    });
    g.finish();
}

const ROWS: usize = 1_000_000;
const PLUGINS: usize = 100;

fn audit_query(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let log = Store::open(dir.path()).unwrap().audit();
    let started = Instant::now();
    let mut batch = Vec::with_capacity(10_000);
    let mut mid = None;
    for i in 0..ROWS {
        batch.push(AuditEvent::new(
            if i % 7 == 0 {
                AuditKind::Deny
            } else {
                AuditKind::State
            },
            format!("plugin-{:03}", i % PLUGINS),
            "active",
            json!({ "i": i }),
        ));
        if batch.len() == 10_000 {
            log.append_all(&batch).unwrap();
            batch.clear();
            // Rows are stamped when appended: spread them over time so a range means something.
            std::thread::sleep(Duration::from_millis(2));
            if i >= ROWS / 2 && mid.is_none() {
                mid = Some(Timestamp::now());
            }
        }
    }
    log.append_all(&batch).unwrap();
    eprintln!(
        "caps/audit_query_1m: wrote {ROWS} chained rows in {:.1?}",
        started.elapsed()
    );
    let since = mid
        .unwrap_or_else(Timestamp::now)
        .minus(Duration::from_millis(300));
    let until = since.plus(Duration::from_millis(600));
    let filter = AuditFilter::new()
        .plugin("plugin-042")
        .since(since)
        .until(until);
    let t = Instant::now();
    let n = log.query(&filter).unwrap().len();
    eprintln!(
        "caps/audit_query_1m: one query (plugin-042, 600 ms window) returned {n} rows in {:.2?}",
        t.elapsed()
    );
    assert!(n > 0);
    let mut g = c.benchmark_group("caps");
    g.sample_size(20);
    g.bench_function("audit_query_1m", |b| {
        b.iter(|| log.query(black_box(&filter)).unwrap().len())
    });
    g.finish();
    let t = Instant::now();
    assert!(log.verify().unwrap().is_intact());
    eprintln!(
        "caps/audit_query_1m: verifying the 1M-row chain took {:.1?}",
        t.elapsed()
    );
}

criterion_group!(benches, checks, audit_append, audit_query);
criterion_main!(benches);
