//! What dependency resolution costs on a large index.
//!
//! Every id is in the criterion group `resolve`:
//!
//! - `index_scan`: the baseline — read every release of every plugin from the index and test
//!   each of its requirements against every release of the plugin it names, once. The least
//!   any resolver must do to look at the whole index.
//! - `synthetic_1000x10`: solve a request for the 125 plugins of the top layer of a synthetic
//!   index of 1,000 plugins × 10 versions, eight layers deep (each release depends on three
//!   plugins of the next layer with ranges that often exclude the newest version), and build
//!   the installed graph with its load order. Target: ≤ 50 ms median (SPEC S3, issue #7).
//! - `unsat_report`: the same index with one plugin near the bottom made unusable, and the
//!   request plus a plugin that can only reach it, through a chain of six plugins: time to
//!   fail and write the explanation and next step. Target: ≤ 100 ms median.
//!
//! The index is built once, outside the measurements.

use std::hint::black_box;

use criterion::Criterion;
use switchboard_host::{Dependency, Index, MemoryIndex, Release, ResolveError, Resolver};

const LAYERS: usize = 8;
const PER_LAYER: usize = 125;
const DEPS_PER_RELEASE: usize = 3;

/// `1.0.0`–`1.4.0` and `2.0.0`–`2.4.0`.
fn versions() -> impl Iterator<Item = (u64, u64)> {
    (1..=2).flat_map(|major| (0..5).map(move |minor| (major, minor)))
}

fn name(layer: usize, i: usize) -> String {
    format!("l{layer}-{i:03}")
}

/// A fixed pseudo-random number from a few inputs (SplitMix64), so every run sees the same
/// index.
fn mix(parts: &[u64]) -> u64 {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for p in parts {
        x ^= p.wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
    }
    x
}

fn req(s: &str) -> semver::VersionReq {
    s.parse().unwrap_or(semver::VersionReq::STAR)
}

/// 1,000 plugins × 10 versions. Release `M.m` of a plugin in layer `k < 7` depends on three
/// plugins of layer `k + 1`, chosen per release, each with a range `>=1.a, <2.b` (`b` ≥ 1, so
/// `2.0.0` always fits and the index is satisfiable, while the newest versions often do not).
fn synthetic_index() -> MemoryIndex {
    let mut index = MemoryIndex::new();
    for layer in 0..LAYERS {
        for i in 0..PER_LAYER {
            for (major, minor) in versions() {
                let version = semver::Version::new(major, minor, 0);
                let mut release =
                    Release::new(version, format!("sha256:{layer}-{i}-{major}.{minor}"));
                if layer + 1 < LAYERS {
                    for d in 0..DEPS_PER_RELEASE {
                        let seed = [layer as u64, i as u64, major, minor, d as u64];
                        let target = (mix(&seed) % PER_LAYER as u64) as usize;
                        let low = mix(&[seed[0], seed[1], seed[2], seed[3], seed[4], 1]) % 5;
                        let high = 1 + mix(&[seed[0], seed[1], seed[2], seed[3], seed[4], 2]) % 4;
                        release = release.with_dependency(Dependency::new(
                            name(layer + 1, target),
                            req(&format!(">=1.{low}, <2.{high}")),
                        ));
                    }
                }
                index.add(name(layer, i), release);
            }
        }
    }
    index
}

fn top_layer_request() -> Vec<Dependency> {
    (0..PER_LAYER)
        .map(|i| Dependency::new(name(0, i), semver::VersionReq::STAR))
        .collect()
}

/// The synthetic index with one poisoned plugin, `l6-042`, whose every release needs a major of
/// `l7-007` that does not exist, and `doomed`, which reaches it through a chain of six
/// plugins of ten versions each; the request is the top layer plus `doomed`. The solver must
/// solve most of the graph, work around the poisoned plugin where other plugins use it, and
/// prove that nothing rescues `doomed`; the report walks the chain.
fn unsat_case() -> (MemoryIndex, Vec<Dependency>) {
    let mut index = synthetic_index();
    let poisoned = name(LAYERS - 2, 42);
    for (major, minor) in versions() {
        let version = semver::Version::new(major, minor, 0);
        let mut release = index
            .releases(&poisoned)
            .ok()
            .flatten()
            .and_then(|rs| rs.iter().find(|r| r.version == version).cloned())
            .unwrap_or_else(|| Release::new(version.clone(), "sha256:poisoned"));
        release = release.with_dependency(Dependency::new(name(LAYERS - 1, 7), req("^3")));
        index.add(poisoned.clone(), release);
    }
    let chain: Vec<String> = (1..=6).map(|i| format!("chain-{i}")).collect();
    for (i, link) in chain.iter().enumerate() {
        let next = chain.get(i + 1).unwrap_or(&poisoned);
        for (major, minor) in versions() {
            let version = semver::Version::new(major, minor, 0);
            index.add(
                link.clone(),
                Release::new(version, format!("sha256:{link}-{major}.{minor}"))
                    .with_dependency(Dependency::new(next.clone(), req("*"))),
            );
        }
    }
    index.add(
        "doomed",
        Release::new(semver::Version::new(1, 0, 0), "sha256:doomed")
            .with_dependency(Dependency::new("chain-1", req("*"))),
    );
    let mut request = top_layer_request();
    request.push(Dependency::new("doomed", req("*")));
    (index, request)
}

/// The baseline: every requirement of every release tested against every release it names.
fn index_scan(index: &MemoryIndex) -> usize {
    let mut matches = 0;
    for name in index.names() {
        let Ok(Some(releases)) = index.releases(name) else {
            continue;
        };
        for release in releases.iter() {
            for d in &release.dependencies {
                if let Ok(Some(targets)) = index.releases(&d.name) {
                    matches += targets.iter().filter(|t| d.req.matches(&t.version)).count();
                }
            }
        }
    }
    matches
}

fn solve(index: &MemoryIndex, request: &[Dependency]) -> Result<usize, ResolveError> {
    let resolution = Resolver::new(index).resolve(request)?;
    Ok(resolution.graph().load_order().len())
}

fn benches(c: &mut Criterion) {
    let index = synthetic_index();
    let request = top_layer_request();
    let (unsat_index, unsat_request) = unsat_case();

    // Check the cases are what they claim before timing them.
    match solve(&index, &request) {
        Ok(n) => assert!(
            n > 900,
            "the synthetic request should reach most plugins, got {n}"
        ),
        Err(e) => panic!("the synthetic index must be satisfiable: {e}"),
    }
    match solve(&unsat_index, &unsat_request) {
        Err(ResolveError::NoSolution {
            explanation,
            next_step,
        }) => {
            assert!(explanation.contains("chain-6"), "{explanation}");
            assert!(!next_step.is_empty());
        }
        other => panic!("the unsat case must fail to solve, got {other:?}"),
    }

    let mut group = c.benchmark_group("resolve");
    group.bench_function("index_scan", |b| b.iter(|| index_scan(black_box(&index))));
    group.bench_function("synthetic_1000x10", |b| {
        b.iter(|| solve(black_box(&index), black_box(&request)))
    });
    group.bench_function("unsat_report", |b| {
        b.iter(
            || match solve(black_box(&unsat_index), black_box(&unsat_request)) {
                Err(ResolveError::NoSolution {
                    explanation,
                    next_step,
                }) => explanation.len() + next_step.len(),
                _ => 0,
            },
        )
    });
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
}
