//! What reading a registry costs, against a real signed registry directory and the host
//! database.
//!
//! Every id is in the criterion group `registry`:
//!
//! - `search_10k`: a search (two words, a trust filter, first page by relevance) over a
//!   registry of 10,000 plugins × 5 versions, warm: the registry was refreshed and its listing
//!   built once (as the first search of a process does), outside the measurement. Target:
//!   ≤ 5 ms median (issue #14).
//! - `name_scan_10k`: the baseline — one lower-case `contains` over the 10,000 names, the
//!   least any search must do.
//! - `refresh_noop`: `RegistryClient::refresh` of that registry when nothing changed, against
//!   the local directory: the timestamp is read and verified (signature, rollback, expiry), the
//!   next root's absence checked, the snapshot recognised as the one held. Target: ≤ 2 ms
//!   median (issue #14).
//! - `refresh_noop_host_db`: the same through `Registries::refresh`, as every CLI command
//!   runs it: what was seen is recorded in the host database (`HostSeenStore`).
//! - `read_timestamp`: the baseline — reading `timestamp.json` from the directory, the least a
//!   refresh must do.
//! - `refresh_new_client`: the same refresh by a new client over the same cache, as each CLI
//!   command is: the root and timestamp verified, the cached snapshot (10,000 entries) read,
//!   matched against the timestamp, verified and parsed.
//!
//! Outside criterion (one cold listing takes seconds), the run prints the median of three
//! cold first listings (`registry: cold first listing`): a new data directory and cache, the
//! registry added and refreshed, then the first search, which fetches, verifies and caches
//! the 10,000 index files and builds the listing — what an operator's first search after
//! `registry add` costs.
//!
//! The registry is built once per run with `switchboard_registry::testing::write_index`
//! (index lines without packages: search and refresh never fetch packages).

#![expect(
    clippy::print_stderr,
    reason = "reports the cold listing build, which criterion does not measure"
)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::Criterion;
use switchboard_host::{Policy, Store, TrustLevel};
use switchboard_registry::publish::{init, InitOptions};
use switchboard_registry::registries::{add, AddOptions, OpenOptions, CACHE_DIR};
use switchboard_registry::testing::{line, write_index};
use switchboard_registry::{
    DirTransport, Location, MemorySeen, Registries, RegistryClient, SearchQuery,
};

const PLUGINS: usize = 10_000;
const VERSIONS: usize = 5;

const WORDS: &[&str] = &[
    "graph", "weather", "audio", "markdown", "git", "chart", "image", "pdf", "spell", "timer",
    "clock", "notes", "search", "vault", "theme", "lint", "format", "shell", "sql", "http",
];

/// A fixed pseudo-random word for plugin `i`, slot `k` (SplitMix64), so every run sees the
/// same registry.
fn word(i: usize, k: usize) -> &'static str {
    let mut x = (i as u64) << 8 | k as u64;
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    WORDS[(x % WORDS.len() as u64) as usize]
}

fn benches(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (dir, keys) = (tmp.path().join("registry"), tmp.path().join("keys"));
    init(&dir, &keys, &InitOptions::default()).expect("init");
    let files: Vec<(String, Vec<_>)> = (0..PLUGINS)
        .map(|i| {
            let name = format!("{}-{}-{i:05}", word(i, 0), word(i, 1));
            let lines = (0..VERSIONS)
                .map(|v| {
                    let mut l = line(&name, &format!("1.{v}.0"));
                    l.description = format!(
                        "A {} plugin for {} and {}",
                        word(i, 2),
                        word(i, 3),
                        word(i, 4)
                    );
                    l.keywords = vec![word(i, 5).to_owned(), word(i, 6).to_owned()];
                    l.categories = vec![word(i, 7).to_owned()];
                    l.capabilities = vec!["kv".into(), format!("fs.read:/srv/{}/**", word(i, 8))];
                    l.maintainers = vec![format!("Maintainer {}", i % 97)];
                    if i % 3 == 0 {
                        l.trust = TrustLevel::Certified;
                    }
                    l.published = format!("2026-01-{:02}T00:00:00Z", 1 + (i + v) % 28);
                    l
                })
                .collect();
            (name, lines)
        })
        .collect();
    let refs: Vec<(&str, Vec<_>)> = files.iter().map(|(n, l)| (n.as_str(), l.clone())).collect();
    write_index(&dir, &keys, &refs).expect("write the index");
    let names: Vec<String> = files.into_iter().map(|(n, _)| n).collect();

    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let store = Store::open(&data).expect("store");
    let cache = data.join(CACHE_DIR);
    add(
        &store,
        &Policy::new(),
        &cache,
        AddOptions::new("main", Location::Dir(dir.clone()), 10),
    )
    .expect("add the registry");
    let regs = Registries::open(&store, &Policy::new(), &OpenOptions::new(&cache)).expect("open");
    regs.refresh().expect("refresh");

    let client = RegistryClient::new(
        "bench",
        Box::new(DirTransport::new(&dir).expect("dir")),
        Arc::new(MemorySeen::default()),
        tmp.path().join("client-cache"),
    );
    client
        .pin(&std::fs::read(dir.join("root.json")).expect("root"))
        .expect("pin");
    assert!(client.refresh().expect("first refresh").snapshot_fetched);
    assert!(!client.refresh().expect("refresh").snapshot_fetched);

    let mut query = SearchQuery::new("graph weather");
    query.min_trust = Some(TrustLevel::Verified);
    // Warm: the first search builds the listing from the verified index.
    let started = std::time::Instant::now();
    let page = regs.search(&query).expect("search");
    eprintln!(
        "registry: first search (listing built from 10,000 index files): {:?}; {} hits",
        started.elapsed(),
        page.total
    );
    assert!(page.total > 0 && page.total < PLUGINS, "{}", page.total);
    assert_eq!(regs.listing("main").expect("listing").len(), PLUGINS);

    // Cold: a new data directory each time, so every index file is fetched and cached.
    let mut cold: Vec<std::time::Duration> = (0..3)
        .map(|k| {
            let data = tmp.path().join(format!("cold-{k}"));
            std::fs::create_dir_all(&data).expect("data dir");
            let store = Store::open(&data).expect("store");
            let cache = data.join(CACHE_DIR);
            let started = std::time::Instant::now();
            add(
                &store,
                &Policy::new(),
                &cache,
                AddOptions::new("main", Location::Dir(dir.clone()), 10),
            )
            .expect("add the registry");
            let regs =
                Registries::open(&store, &Policy::new(), &OpenOptions::new(&cache)).expect("open");
            regs.refresh().expect("refresh");
            let page = regs.search(&query).expect("search");
            let took = started.elapsed();
            assert!(page.total > 0);
            drop(regs);
            drop(store);
            let _ = std::fs::remove_dir_all(&data);
            took
        })
        .collect();
    cold.sort();
    eprintln!(
        "registry: cold first listing (add, refresh, first search; 10,000 plugins), median of 3: {:?} (all: {cold:?})",
        cold[1]
    );

    let mut group = c.benchmark_group("registry");
    group.bench_function("name_scan_10k", |b| {
        b.iter(|| {
            black_box(&names)
                .iter()
                .filter(|n| n.to_lowercase().contains("graph"))
                .count()
        })
    });
    group.bench_function("search_10k", |b| {
        b.iter(|| regs.search(black_box(&query)).map(|p| p.total).unwrap_or(0))
    });
    group.bench_function("read_timestamp", |b| {
        b.iter(|| std::fs::read(black_box(dir.join("timestamp.json"))).map(|v| v.len()))
    });
    group.bench_function("refresh_noop", |b| {
        b.iter(|| client.refresh().map(|r| r.timestamp_version))
    });
    group.bench_function("refresh_noop_host_db", |b| {
        b.iter(|| {
            regs.refresh()
                .map(|r| r[0].report.snapshot_fetched)
                .unwrap_or(true)
        })
    });
    let fresh_cache = tmp.path().join("fresh-client-cache");
    let seen = Arc::new(MemorySeen::default());
    let first = RegistryClient::new(
        "bench",
        Box::new(DirTransport::new(&dir).expect("dir")),
        seen.clone(),
        &fresh_cache,
    );
    first
        .pin(&std::fs::read(dir.join("root.json")).expect("root"))
        .expect("pin");
    first.refresh().expect("refresh");
    group.bench_function("refresh_new_client", |b| {
        b.iter(|| {
            let client = RegistryClient::new(
                "bench",
                Box::new(DirTransport::new(&dir).expect("dir")),
                seen.clone(),
                &fresh_cache,
            );
            client.refresh().map(|r| r.snapshot_fetched)
        })
    });
    group.finish();
    let report = regs.refresh().expect("refresh");
    assert!(
        !report[0].report.snapshot_fetched,
        "a no-op refresh fetches no snapshot"
    );
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
}
