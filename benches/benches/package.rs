//! What verifying and loading a signed package costs: the release build of the `hello` example,
//! packed and signed once, then
//!
//! - `package/verify`: reading the package, unpacking it defensively, checking the signature,
//!   the manifest, every file's sha256, policy, compatibility and the embedded manifest
//!   (`Host::verify_package`);
//! - `package/verify_and_load`: the same, then opening the verified bytes from a sealed memfd
//!   and instantiating the plugin (`Host::load_package`), in a fresh host each time (a plugin
//!   name loads once per host).
//!
//! Loaded libraries are never unloaded (ARCHITECTURE D2), so each `verify_and_load` iteration
//! maps one more copy; the sample count is kept small.

use std::collections::BTreeMap;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use switchboard_cli::examples::{library, Profile};
use switchboard_host::package::build;
use switchboard_host::{current_target, Host, Manifest};
use switchboard_sdk::manifest::Format;

fn bench(c: &mut Criterion) {
    let root = switchboard_cli::examples::workspace_root();
    let lib = library(Profile::Release, "hello").expect("build the hello plugin");
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest_text =
        std::fs::read_to_string(root.join("examples/hello/plugin.toml")).expect("manifest");
    let manifest = Manifest::parse(&manifest_text, Format::Toml).expect("valid manifest");
    let manifest = switchboard_host::package_manifest(&manifest, &lib).expect("pack's manifest");
    let mut files = BTreeMap::new();
    files.insert(
        format!("lib/{}/libhello.so", current_target()),
        std::fs::read(&lib).expect("library"),
    );
    let built = build(&manifest, &files).expect("package");
    let package = dir.path().join(&built.file_name);
    std::fs::write(&package, &built.bytes).expect("write package");
    let keys = dir.path().join("keys");
    switchboard_cli::authoring::keygen(&keys, true).expect("keygen");
    switchboard_cli::authoring::sign(&package, &keys.join("switchboard.key")).expect("sign");
    let public_key = std::fs::read_to_string(keys.join("switchboard.pub")).expect("pub");

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
        b.iter(|| verifier.verify_package(&package).expect("verifies"))
    });
    let mut n = 1;
    group.bench_function("verify_and_load", |b| {
        b.iter(|| {
            n += 1;
            host(n).load_package(&package).expect("loads")
        })
    });
    group.finish();
    eprintln_size(built.bytes.len(), files.values().map(Vec::len).sum());
}

#[expect(
    clippy::print_stderr,
    reason = "a bench reports the size of what it measured"
)]
fn eprintln_size(package: usize, library: usize) {
    eprintln!("package: {package} bytes, library: {library} bytes");
}

criterion_group!(benches, bench);
criterion_main!(benches);
