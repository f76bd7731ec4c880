//! What installing costs (issue 15): the release builds of the example plugins, packed and
//! signed once (debug information stripped, as a publisher ships them), then
//!
//! - `install/local_package`: install hello from its local package file into a new
//!   generation and activate it — resolve, copy into the package store, verify (signature,
//!   pins, policy, compatibility), write the generation, flip, load, start, health-check —
//!   in a fresh data directory each time (the setup, not timed, opens the host);
//! - `install/rollback`: flip between two generations (hello 0.1.0 and 0.2.0) and activate
//!   the one flipped to: stop the running version, back up and restore its data, load and
//!   start the other;
//! - `install/start_all`: open a host whose current generation holds every example plugin,
//!   installed from signed packages, and start them all in dependency order.
//!
//! Loaded libraries are never unloaded (ARCHITECTURE D2), so every iteration maps one more
//! copy of what it loads; the sample counts are kept small.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use switchboard_cli::examples::{self, Profile, PLUGINS};
use switchboard_cli::release::{example_release, ReleaseSpec};
use switchboard_host::install::{
    CapabilityApproval, FileSource, GenerationId, InstallOptions, InstallRequest, Installer,
};
use switchboard_host::Host;

/// The release library of `name`, its debug line tables stripped (or as built where
/// `objcopy` is missing).
fn stripped(dir: &Path, name: &str) -> PathBuf {
    let built = examples::library(Profile::Release, name).expect("build the example plugins");
    examples::stripped_copy(&built, dir)
}

struct Fixture {
    dir: tempfile::TempDir,
    packages: PathBuf,
    public_key: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = dir.path().join("keys");
    switchboard_cli::authoring::keygen(&keys, true).expect("keygen");
    let secret = keys.join("switchboard.key");
    let packages = dir.path().join("packages");
    let release = |name: &str, version: &str, extra: &[&str]| {
        let library = stripped(dir.path(), name);
        let spec = ReleaseSpec {
            name,
            version,
            extra_capabilities: extra,
            changelog: &format!("# Changelog\n\n## {version}\n- a release\n"),
            dependencies: &[],
            library: Some(&library),
        };
        example_release(Profile::Release, &spec, &packages, &secret).expect("release")
    };
    for name in PLUGINS {
        release(name, "0.1.0", &[]);
    }
    release("hello", "0.2.0", &["net.connect:api.example.com:443"]);
    let public_key = std::fs::read_to_string(keys.join("switchboard.pub")).expect("pub");
    Fixture {
        dir,
        packages,
        public_key,
    }
}

fn host(f: &Fixture, data: &Path) -> Host {
    let mut b = Host::builder();
    b.data_dir(data)
        .host_api("switchboard-demo", "0.1.0")
        .trust(f.public_key.clone());
    b.build().expect("host")
}

fn approved() -> InstallOptions {
    let mut o = InstallOptions::new();
    o.approval(CapabilityApproval::All);
    o
}

fn bench(c: &mut Criterion) {
    let f = fixture();
    let mut group = c.benchmark_group("install");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));

    let package = f.packages.join("hello-0.1.0.sbpkg");
    let mut n = 0;
    group.bench_function("local_package", |b| {
        b.iter_batched(
            || {
                n += 1;
                let h = host(&f, &f.dir.path().join(format!("local-{n}")));
                Installer::new(&h)
            },
            |installer| {
                installer
                    .install(&[InstallRequest::File(package.clone())], &approved())
                    .expect("installs")
            },
            BatchSize::PerIteration,
        )
    });

    let data = f.dir.path().join("rollback");
    let h = host(&f, &data);
    let mut installer = Installer::new(&h);
    installer.source(FileSource::open(&f.packages).expect("source"));
    let first = installer
        .install(&["hello@=0.1.0".parse().expect("request")], &approved())
        .expect("install")
        .generation
        .expect("a generation");
    let second = installer
        .update(&["hello".to_owned()], &approved())
        .expect("update")
        .generation
        .expect("a generation");
    let mut to_first = true;
    group.bench_function("rollback", |b| {
        b.iter(|| {
            let to: GenerationId = if to_first { first } else { second };
            to_first = !to_first;
            installer.rollback(Some(to)).expect("rolls back")
        })
    });
    drop(installer);
    drop(h);

    let data = f.dir.path().join("all");
    {
        let h = host(&f, &data);
        let mut installer = Installer::new(&h);
        installer.source(FileSource::open(&f.packages).expect("source"));
        let requests: Vec<InstallRequest> = PLUGINS
            .iter()
            .map(|p| format!("{p}@=0.1.0").parse().expect("request"))
            .collect();
        installer
            .install(&requests, &approved())
            .expect("install all");
    }
    group.bench_function("start_all", |b| {
        b.iter_batched(
            || (),
            |()| {
                let h = host(&f, &data);
                let report = Installer::new(&h).start().expect("starts");
                assert_eq!(report.started.len(), PLUGINS.len(), "{:?}", report.failed);
                // Dropped after the measurement: stopping is not starting.
                h
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
