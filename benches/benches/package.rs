//! What verifying and loading a signed package costs: the `hello` example packed as
//! `switchboard pack` ships it (release build, linked without debug information) and signed
//! once, then
//!
//! - `package/verify`: reading the package, unpacking it defensively while hashing every file,
//!   checking the signature, the manifest, every file's sha256, policy, compatibility and the
//!   embedded manifest (`Host::verify_package`);
//! - `package/verify_and_load`: the same, then opening the verified bytes from a sealed memfd
//!   and instantiating the plugin (`Host::load_package`), in a fresh host each time (a plugin
//!   name loads once per host) built and dropped outside the timing;
//! - `package/verify_and_load_debuginfo`: the baseline, the same release library with its
//!   debug line tables (what `switchboard pack --keep-debuginfo` ships, and what every
//!   package held before pack stripped them).
//!
//! Loaded libraries are never unloaded (ARCHITECTURE D2), so each `verify_and_load` iteration
//! maps one more copy; the sample count is kept small.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use switchboard_cli::authoring::{self, DebugInfo, PackOptions};
use switchboard_cli::examples::{library, workspace_root, Profile};
use switchboard_cli::output::Progress;
use switchboard_host::package::{build, unpack, UnpackLimits};
use switchboard_host::{current_target, Host, Manifest};
use switchboard_sdk::manifest::Format;

/// The release build of hello with its debug line tables, packed as `pack --keep-debuginfo`
/// packs it, into `out`.
fn with_debuginfo(out: &Path) -> PathBuf {
    let lib = library(Profile::Release, "hello").expect("build the hello plugin");
    let text = std::fs::read_to_string(workspace_root().join("examples/hello/plugin.toml"))
        .expect("manifest");
    let manifest = Manifest::parse(&text, Format::Toml).expect("valid manifest");
    let manifest = switchboard_host::package_manifest(&manifest, &lib).expect("pack's manifest");
    let mut files = BTreeMap::new();
    files.insert(
        format!("lib/{}/libhello.so", current_target()),
        std::fs::read(&lib).expect("library"),
    );
    let built = build(&manifest, &files).expect("package");
    std::fs::create_dir_all(out).expect("out dir");
    let package = out.join(&built.file_name);
    std::fs::write(&package, &built.bytes).expect("write package");
    package
}

/// hello packed by `switchboard pack` as it ships by default, into `out`. It builds in the
/// examples' target directory: the bench's own cargo holds the lock on the workspace's.
fn lean(out: &Path) -> PathBuf {
    let options = PackOptions {
        debuginfo: DebugInfo::Strip,
        target_dir: Some(workspace_root().join("target").join("examples")),
    };
    authoring::pack(
        &workspace_root().join("examples/hello"),
        out,
        &options,
        &Progress::quiet(),
    )
    .expect("pack hello")
    .package
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = dir.path().join("keys");
    authoring::keygen(&keys, true).expect("keygen");
    let public_key = std::fs::read_to_string(keys.join("switchboard.pub")).expect("pub");
    // The debug build first: both build into the examples' target directory, and the lean
    // library is the one left there.
    let full = with_debuginfo(&dir.path().join("full"));
    let lean = lean(&dir.path().join("lean"));
    for package in [&full, &lean] {
        authoring::sign(package, &keys.join("switchboard.key")).expect("sign");
    }

    let host = |n: usize| {
        let mut b = Host::builder();
        b.data_dir(dir.path().join(format!("host-{n}")))
            .host_api("switchboard-demo", "0.1.0")
            .trust(public_key.clone());
        b.build().expect("host")
    };

    let mut group = c.benchmark_group("package");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    let verifier = host(0);
    group.bench_function("verify", |b| {
        b.iter(|| verifier.verify_package(&lean).expect("verifies"))
    });
    // A fresh host for each load, built (a new store: SQLite files and fsyncs) and dropped
    // outside the timing: what is measured is the load.
    let mut n = 1;
    let mut fresh = || {
        n += 1;
        host(n)
    };
    for (id, package) in [
        ("verify_and_load", &lean),
        ("verify_and_load_debuginfo", &full),
    ] {
        group.bench_function(id, |b| {
            b.iter_batched(
                &mut fresh,
                |h| {
                    let handle = h.load_package(package).expect("loads");
                    (h, handle)
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
    for (what, path) in [("lean", &lean), ("with debug info", &full)] {
        let bytes = std::fs::read(path).expect("package");
        let files = unpack(&bytes, &UnpackLimits::default()).expect("unpacks");
        let library = files
            .iter()
            .find(|(p, _)| p.starts_with("lib/"))
            .map_or(0, |(_, b)| b.len());
        eprintln_size(what, bytes.len(), library);
    }
}

#[expect(
    clippy::print_stderr,
    reason = "a bench reports the size of what it measured"
)]
fn eprintln_size(what: &str, package: usize, library: usize) {
    eprintln!("{what}: package {package} bytes, library {library} bytes");
}

criterion_group!(benches, bench);
criterion_main!(benches);
