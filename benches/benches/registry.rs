//! What reading a registry costs.
//!
//! Every id is in the criterion group `registry`:
//!
//! - `read_timestamp`: the baseline — read `timestamp.json` from the registry directory, the
//!   least a refresh must do.
//! - `refresh_noop`: `RegistryClient::refresh` when nothing changed, against a local directory
//!   registry of 10,000 plugins × 5 versions: only the timestamp is fetched and verified
//!   (signature, rollback, expiry). Target: ≤ 2 ms median (issue #14).
//! - `refresh_new_client`: the same refresh by a new client over the same cache, as each CLI
//!   command is: the root and timestamp verified, the cached snapshot (10,000 entries) read,
//!   matched against the timestamp, verified and parsed.
//!
//! The registry is built once, outside the measurements.

use std::hint::black_box;
use std::sync::Arc;

use criterion::Criterion;
use switchboard_registry::format::IndexLine;
use switchboard_registry::publish::{self, Expiries, InitOptions};
use switchboard_registry::{DirTransport, MemorySeen, RegistryClient};

const PLUGINS: usize = 10_000;
const VERSIONS: u64 = 5;

/// A registry of `PLUGINS` × `VERSIONS` releases (all lines name one small package, so the
/// build writes 10,000 index files rather than 50,000 packages).
fn build(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let registry = dir.join("registry");
    let keys = dir.join("keys");
    publish::init(&registry, &keys, &InitOptions::default()).expect("init");
    let package = b"a package".to_vec();
    let sha = switchboard_registry::sha256_hex(&package);
    let mut releases = Vec::with_capacity(PLUGINS * VERSIONS as usize);
    for i in 0..PLUGINS {
        for minor in 0..VERSIONS {
            let line: IndexLine = serde_json::from_value(serde_json::json!({
                "format": 1, "name": format!("plugin-{i:05}"), "version": format!("1.{minor}.0"),
                "sdk_abi": "1.1", "sha256": sha, "size": package.len(),
                "signer": "0123456789ABCDEF", "signature": "untrusted comment: bench\n",
                "trust": "self-signed", "channel": "ga", "published": "2026-01-01T00:00:00Z",
                "description": format!("benchmark plugin number {i}"),
                "keywords": ["bench", format!("k{}", i % 100)],
            }))
            .expect("line");
            releases.push((line, package.clone()));
        }
    }
    publish::publish_unverified(&registry, &keys, releases, &Expiries::default()).expect("publish");
    (registry, keys)
}

fn benches(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (registry, _keys) = build(tmp.path());
    let client = RegistryClient::new(
        "bench",
        Box::new(DirTransport::new(&registry).expect("dir")),
        Arc::new(MemorySeen::default()),
        tmp.path().join("cache"),
    );
    client
        .pin(&std::fs::read(registry.join("root.json")).expect("root"))
        .expect("pin");
    assert!(client.refresh().expect("first refresh").snapshot_fetched);
    assert_eq!(client.names().expect("names").len(), PLUGINS);
    assert!(!client.refresh().expect("refresh").snapshot_fetched);

    let mut group = c.benchmark_group("registry");
    group.bench_function("read_timestamp", |b| {
        b.iter(|| std::fs::read(black_box(registry.join("timestamp.json"))).map(|v| v.len()))
    });
    group.bench_function("refresh_noop", |b| {
        b.iter(|| client.refresh().map(|r| r.timestamp_version))
    });
    let cache = tmp.path().join("cache");
    let seen = Arc::new(MemorySeen::default());
    let first = RegistryClient::new(
        "bench",
        Box::new(DirTransport::new(&registry).expect("dir")),
        seen.clone(),
        &cache,
    );
    first
        .pin(&std::fs::read(registry.join("root.json")).expect("root"))
        .expect("pin");
    first.refresh().expect("refresh");
    group.bench_function("refresh_new_client", |b| {
        b.iter(|| {
            let client = RegistryClient::new(
                "bench",
                Box::new(DirTransport::new(&registry).expect("dir")),
                seen.clone(),
                &cache,
            );
            client.refresh().map(|r| r.snapshot_fetched)
        })
    });
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
}
