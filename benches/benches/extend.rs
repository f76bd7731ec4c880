//! What an extension point costs (SPEC S5.4, issue 19), beside a typed command call measured in
//! the same run.
//!
//! Every id is in the criterion group `extend`, except the baseline:
//!
//! - `dispatch/typed_small`: hello's `add` through `Command<AddRequest, AddResponse>::call`,
//!   as in the `dispatch` bench — the baseline.
//! - `extend/empty_point`: `ExtensionPoint::<u64, u64>::filter` on a declared filter point no
//!   plugin contributes to (target ≤ 5 ns).
//! - `extend/filter_1`: the same on a point with one contribution (the test plugin `tally`'s
//!   `one`, `u64 -> u64`).
//! - `extend/filter_4`: a point with four contributions (all four of `tally`'s), the value
//!   threaded through them in order (target ≤ 4 × `dispatch/typed_small`).
//! - `extend/wrap_4`: `ExtensionPoint::<u64, u64>::run` on an operation point with four
//!   in-process wrappers (`tally`'s `wrap_*`), each changing the input and calling `next`,
//!   which re-enters the host; the innermost `next` runs the host's operation (identity).
//!
//! - `extend/stream_1k_chunks`: a 1,000-chunk stream of the test plugin `streamer`'s `count`
//!   (SPEC S1.6) read through `StreamCommand::start` (a producer thread, a bounded channel of
//!   16), reported as chunks per second; compared with 1,000 × `dispatch/typed_small`.
//! - `extend/stream_1k_callback`: the same stream through `call_streaming` (no thread: each
//!   chunk goes to a closure inside the plugin's `send`).
//!
//! After criterion's report, a real bench run (`--bench`) times the routines again, round-robin,
//! and prints each median beside its ratio to `dispatch/typed_small`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::Criterion;
use hello::{AddRequest, AddResponse};
use streamer::{Done, Run, Tick};
use switchboard_cli::examples::{library, library_file_name, workspace_root, Profile};
use switchboard_host::extend::{ExtensionPoint, PointKind};
use switchboard_host::{Command, Host, Policy, StreamCommand};
use tempfile::TempDir;

/// The test plugin with four filter contributions, built (release) into the examples' target
/// directory.
fn tally() -> PathBuf {
    let target = workspace_root().join("target").join("examples");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "tally",
            "--target-dir",
        ])
        .arg(&target)
        .status()
        .expect("running cargo for the tally plugin");
    assert!(status.success(), "building tally failed ({status})");
    target.join("release").join(library_file_name("tally"))
}

/// The streaming test plugin, built (release) with its `plugin` feature.
fn streamer_library() -> PathBuf {
    let target = workspace_root().join("target").join("examples");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "streamer",
            "--features",
            "streamer/plugin",
            "--target-dir",
        ])
        .arg(&target)
        .status()
        .expect("running cargo for the streamer plugin");
    assert!(status.success(), "building streamer failed ({status})");
    target.join("release").join(library_file_name("streamer"))
}

/// Chunks in one stream of `extend/stream_1k_*`.
const STREAM_CHUNKS: u64 = 1_000;

struct Fixture {
    count: StreamCommand<Run, Tick, Done>,
    add: Command<AddRequest, AddResponse>,
    empty: ExtensionPoint<u64, u64>,
    one: ExtensionPoint<u64, u64>,
    four: ExtensionPoint<u64, u64>,
    wrap: ExtensionPoint<u64, u64>,
    _host: Host,
    _other: Host,
    _data_dirs: (TempDir, TempDir),
}

fn host(dir: &TempDir) -> Host {
    let mut builder = Host::builder();
    let mut policy = Policy::new();
    policy.allow("extend:tally.*".parse().expect("a capability"));
    builder
        .data_dir(dir.path())
        .host_api("switchboard-demo", "0.1.0")
        .policy(policy);
    builder.dangerous().load_unsigned_libraries();
    builder.build().expect("building the host")
}

impl Fixture {
    fn new() -> Fixture {
        let hello_path = library(Profile::Release, "hello").expect("building the example plugins");
        let tally_path = tally();
        let dirs = (
            tempfile::tempdir().expect("a data directory"),
            tempfile::tempdir().expect("a data directory"),
        );

        let host = host(&dirs.0);
        let hello = host.load_unsigned(&hello_path).expect("loading hello");
        hello.start().expect("starting hello");
        let empty = host
            .extension_point("bench.empty", PointKind::Filter)
            .expect("declaring bench.empty");
        let four = host
            .extension_point("tally.count", PointKind::Filter)
            .expect("declaring tally.count");
        let wrap = host
            .extension_point("tally.wrap", PointKind::Operation)
            .expect("declaring tally.wrap");
        let tally = host.load_unsigned(&tally_path).expect("loading tally");
        tally.start().expect("starting tally");

        // One contribution: the same plugin in a host whose policy grants it the point, with
        // three of its four hooks removed from the manifest the load reads.
        let other = self::host(&dirs.1);
        let one = other
            .extension_point("tally.count", PointKind::Filter)
            .expect("declaring tally.count");
        let single = dirs.1.path().join("libtally.so");
        std::fs::write(&single, only_first_hook(&tally_path)).expect("writing the copy");
        let t = other
            .load_unsigned(&single)
            .expect("loading tally (one hook)");
        t.start().expect("starting tally (one hook)");

        let streamer = host
            .load_unsigned(streamer_library())
            .expect("loading streamer");
        streamer.start().expect("starting streamer");

        let f = Fixture {
            count: streamer
                .stream_command("count")
                .expect("streamer has `count`"),
            add: hello.command("add").expect("hello has `add`"),
            empty,
            one,
            four,
            wrap,
            _host: host,
            _other: other,
            _data_dirs: dirs,
        };
        assert_eq!(f.typed_small().sum, 42);
        assert_eq!(f.empty_point(), 7);
        assert_eq!(f.filter_1(), 71);
        assert_eq!(f.filter_4(), 71234);
        assert_eq!(f.wrap_4(), 71234);
        assert_eq!(f.stream_1k_chunks(), STREAM_CHUNKS);
        assert_eq!(f.stream_1k_callback(), STREAM_CHUNKS);
        f
    }

    fn run() -> Run {
        Run {
            chunks: STREAM_CHUNKS,
            panic_after: None,
            pad: 0,
            ignore_refusals: 0,
        }
    }

    /// A 1,000-chunk stream read to its end; returns the chunks read.
    fn stream_1k_chunks(&self) -> u64 {
        let mut stream = self.count.start(black_box(&Self::run())).expect("start");
        let mut n = 0;
        for tick in &mut stream {
            black_box(tick.expect("a tick"));
            n += 1;
        }
        let done = stream.finish().expect("finish");
        assert_eq!(done.chunks, n);
        n
    }

    /// The same stream through the callback form.
    fn stream_1k_callback(&self) -> u64 {
        let mut n = 0;
        self.count
            .call_streaming(black_box(&Self::run()), |tick| {
                black_box(tick);
                n += 1;
                std::ops::ControlFlow::Continue(())
            })
            .expect("call_streaming");
        n
    }

    #[inline]
    fn typed_small(&self) -> AddResponse {
        self.add
            .call(black_box(&AddRequest { a: 2, b: 40 }))
            .expect("add")
    }

    #[inline]
    fn empty_point(&self) -> u64 {
        self.empty.filter(black_box(7)).expect("empty point")
    }

    #[inline]
    fn filter_1(&self) -> u64 {
        self.one.filter(black_box(7)).expect("filter_1")
    }

    #[inline]
    fn filter_4(&self) -> u64 {
        self.four.filter(black_box(7)).expect("filter_4")
    }

    #[inline]
    fn wrap_4(&self) -> u64 {
        self.wrap.run(black_box(7), |n| n).expect("wrap_4")
    }
}

/// `library` with every hook but the first dropped from its embedded manifest (same length,
/// padded with spaces), as a plugin with one contribution.
fn only_first_hook(library: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(library).expect("reading tally");
    let start_mark = b"{\"format\":1,\"name\":\"tally\",";
    let start = bytes
        .windows(start_mark.len())
        .position(|w| w == start_mark)
        .expect("tally's manifest");
    // The section holds the JSON document, then padding: read exactly one value.
    let mut values =
        serde_json::Deserializer::from_slice(&bytes[start..]).into_iter::<serde_json::Value>();
    let mut manifest = values.next().expect("a manifest").expect("a JSON manifest");
    let len = values.byte_offset();
    if let Some(hooks) = manifest["hooks"].as_array_mut() {
        hooks.truncate(1);
    }
    let mut edited = serde_json::to_vec(&manifest).expect("json");
    assert!(edited.len() <= len);
    edited.resize(len, b' ');
    bytes[start..start + len].copy_from_slice(&edited);
    bytes
}

fn bench_extend(c: &mut Criterion, f: &Fixture) {
    c.bench_function("dispatch/typed_small", |b| b.iter(|| f.typed_small()));
    let mut group = c.benchmark_group("extend");
    group.bench_function("empty_point", |b| b.iter(|| f.empty_point()));
    group.bench_function("filter_1", |b| b.iter(|| f.filter_1()));
    group.bench_function("filter_4", |b| b.iter(|| f.filter_4()));
    group.bench_function("wrap_4", |b| b.iter(|| f.wrap_4()));
    group.throughput(criterion::Throughput::Elements(STREAM_CHUNKS));
    group.bench_function("stream_1k_chunks", |b| b.iter(|| f.stream_1k_chunks()));
    group.bench_function("stream_1k_callback", |b| b.iter(|| f.stream_1k_callback()));
    group.finish();
}

/// Samples per routine for the table, and the time each sample aims for.
const SAMPLES: usize = 31;
const SAMPLE_TIME: Duration = Duration::from_millis(5);

/// A routine as the table times it: given `n`, runs it `n` times (called directly in the
/// loop) and returns the time taken; only this closure is called through a pointer, once
/// per sample.
type Timed<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

fn timed<'a, R>(mut routine: impl FnMut() -> R + 'a) -> Timed<'a> {
    Box::new(move |n| {
        let start = Instant::now();
        for _ in 0..n {
            black_box(routine());
        }
        start.elapsed()
    })
}

/// Runs per sample so that one takes about `SAMPLE_TIME`.
fn calibrate(run: &mut Timed<'_>) -> u64 {
    let mut iters = 1u64;
    loop {
        let took = run(iters);
        if took >= SAMPLE_TIME / 8 {
            let scale = SAMPLE_TIME.as_secs_f64() / took.as_secs_f64();
            return ((iters as f64 * scale) as u64).max(1);
        }
        iters *= 2;
    }
}

#[expect(
    clippy::print_stdout,
    reason = "the ratio table is this bench's report, beside criterion's own output"
)]
fn print_ratios(f: &Fixture) {
    let mut routines: [(&str, Timed<'_>); 7] = [
        ("dispatch/typed_small", timed(|| f.typed_small())),
        ("extend/empty_point", timed(|| f.empty_point())),
        ("extend/filter_1", timed(|| f.filter_1())),
        ("extend/filter_4", timed(|| f.filter_4())),
        ("extend/wrap_4", timed(|| f.wrap_4())),
        ("extend/stream_1k_chunks", timed(|| f.stream_1k_chunks())),
        (
            "extend/stream_1k_callback",
            timed(|| f.stream_1k_callback()),
        ),
    ];
    let iters: Vec<u64> = routines.iter_mut().map(|(_, r)| calibrate(r)).collect();
    let mut samples = vec![Vec::with_capacity(SAMPLES); routines.len()];
    // Round-robin, so a change in the machine's load touches every routine alike.
    for _ in 0..SAMPLES {
        for (i, (_, run)) in routines.iter_mut().enumerate() {
            let took = run(iters[i]);
            samples[i].push(took.as_secs_f64() * 1e9 / iters[i] as f64);
        }
    }
    let medians: Vec<f64> = samples
        .iter_mut()
        .map(|s| {
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
        .collect();
    let baseline = medians[0];
    println!();
    println!("extend: own medians, {SAMPLES} round-robin samples of ~{SAMPLE_TIME:?} each");
    println!("{:<24} {:>10} {:>18}", "id", "median ns", "/ typed_small");
    for ((id, _), ns) in routines.iter().zip(&medians) {
        if id.starts_with("extend/stream_") {
            let per_chunk = ns / STREAM_CHUNKS as f64;
            println!(
                "{id:<24} {ns:>10.0} {:>17.2}x  ({per_chunk:.1} ns/chunk, {:.2} M chunks/s; \
                 ratio to {STREAM_CHUNKS} typed calls)",
                ns / (baseline * STREAM_CHUNKS as f64),
                1e3 / per_chunk,
            );
        } else {
            println!("{id:<24} {ns:>10.2} {:>17.2}x", ns / baseline);
        }
    }
}

fn main() {
    let fixture = Fixture::new();
    let mut criterion = Criterion::default().configure_from_args();
    bench_extend(&mut criterion, &fixture);
    criterion.final_summary();
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| {
        args.iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    if has("--bench") && !has("--list") && !has("--profile-time") {
        print_ratios(&fixture);
    }
}
