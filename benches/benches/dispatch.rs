//! What one call costs, from a plain Rust function to a typed Switchboard command.
//!
//! Every id is in the criterion group `dispatch`:
//!
//! - `fn_direct`: a 16-byte checksum in a plain (not inlined) Rust function.
//! - `dyn_fn`: the same through a `Box<dyn Fn(&[u8]) -> u64>`.
//! - `cdylib_fn_ptr`: `hello_checksum_baseline`, an `extern "C"` function of `libhello.so`
//!   looked up with `libloading`, called through its pointer. The floor for any call into a
//!   plugin library.
//! - `raw_bytes`: hello's `checksum` command over the same 16 bytes, through
//!   `RawCommand::call_buffered` with a reused `ResponseBuffer`: Switchboard's dispatch with no
//!   serialisation.
//! - `typed_small`: hello's `add` command through `Command<AddRequest, AddResponse>::call`:
//!   encoding the request, the dispatch, decoding the response.
//! - `typed_small_metrics`: the same call through a host that records metrics (the default):
//!   the call counted, one in 64 timed, errors counted by code. `typed_small` and every other
//!   Switchboard id run with metrics off (`HostBuilder::metrics(false)`), so the difference
//!   between the two is what recording costs.
//! - `payload_4k`: hello's `reverse` command through `Command<Payload, Payload>::call` with a
//!   4096-byte payload. The request is passed by reference, so nothing is cloned per call; the
//!   figure includes encoding 4 KiB into the host's reused buffer, the plugin decoding it into a
//!   new `Vec` and reversing it, encoding the result into the host's buffer, the host decoding
//!   it into a new `Vec`, and dropping that response.
//! - `payload_4k_borrowed`: hello's `echo` command through
//!   `Command<Chunk<'static>, Chunk<'static>>::call_with` with the same 4096 bytes: the request
//!   encoded once into the buffer the plugin reads, the plugin reading it there and writing it
//!   back once into the host's response buffer, the host reading the response where it lies.
//!   Two copies of 4 KiB in all, no allocation. (`echo` does no work on the bytes; `reverse`
//!   above reverses them, which is part of its figure.)
//!
//! After criterion's report the bench times the routines again itself (criterion does not hand
//! its estimates to code) and prints each Switchboard path's median as a multiple of
//! `cdylib_fn_ptr`'s. That table is only printed by a real bench run (`--bench`), not when
//! `cargo test` runs this target as a smoke test, nor under `--profile-time`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use hello::{AddRequest, AddResponse, Chunk, Payload};
use switchboard_cli::examples::{library, Profile};
use switchboard_host::{Command, Host, RawCommand, ResponseBuffer};
use tempfile::TempDir;

/// The input of every checksum routine.
const SMALL: [u8; 16] = [
    1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 121, 98, 219, 61,
];

/// The size of the `payload_4k` payload.
const PAYLOAD_BYTES: usize = 4096;

/// The signature of `hello_checksum_baseline`.
type Baseline = unsafe extern "C" fn(*const u8, usize) -> u64;

/// The checksum behind a trait object, for `dyn_fn`.
type DynChecksum = Box<dyn Fn(&[u8]) -> u64>;

/// The work every checksum routine does, as a plain Rust function.
#[inline(never)]
fn checksum(input: &[u8]) -> u64 {
    input.iter().map(|&b| u64::from(b)).sum()
}

/// Everything the routines call, set up once.
struct Fixture {
    dyn_fn: DynChecksum,
    baseline: Baseline,
    raw: RawCommand,
    add: Command<AddRequest, AddResponse>,
    /// `add` on a second host, which records metrics.
    add_metered: Command<AddRequest, AddResponse>,
    reverse: Command<Payload, Payload>,
    echo: Command<Chunk<'static>, Chunk<'static>>,
    payload: Payload,
    // Kept so the hosts' data directories outlive the hosts.
    _hosts: [Host; 2],
    _data_dir: TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let path = library(Profile::Release, "hello").expect("building the example plugins");

        // SAFETY: `libhello.so` is the example plugin of this workspace, just built from its
        // sources; its initialisers are the ones the host runs too. The library is leaked below,
        // so it is never unloaded (unloading a Rust library is unsound, ARCHITECTURE D2).
        let lib = unsafe { libloading::Library::new(&path) }.expect("opening libhello.so");
        let lib: &'static libloading::Library = Box::leak(Box::new(lib));
        // SAFETY: hello exports `hello_checksum_baseline` with exactly the signature `Baseline`
        // (`unsafe extern "C" fn(*const u8, usize) -> u64`, see examples/hello/src/lib.rs).
        let baseline: Baseline = *unsafe { lib.get::<Baseline>(b"hello_checksum_baseline\0") }
            .expect("libhello.so exports hello_checksum_baseline");

        let data_dir = tempfile::tempdir().expect("a temporary data directory");
        let open = |dir: &str, metrics: bool| {
            let mut builder = Host::builder();
            builder
                .data_dir(data_dir.path().join(dir))
                .host_api("switchboard-demo", "0.1.0")
                .metrics(metrics)
                .metrics_export_interval(None);
            builder.dangerous().load_unsigned_libraries();
            let host = builder.build().expect("building the host");
            let hello = host.load_unsigned(&path).expect("loading hello");
            hello.start().expect("starting hello");
            (host, hello)
        };
        let (host, hello) = open("plain", false);
        let (metered_host, metered) = open("metered", true);

        let fixture = Fixture {
            dyn_fn: Box::new(checksum),
            baseline,
            raw: hello.raw_command("checksum").expect("hello has `checksum`"),
            add: hello.command("add").expect("hello has `add`"),
            add_metered: metered.command("add").expect("hello has `add`"),
            reverse: hello.command("reverse").expect("hello has `reverse`"),
            echo: hello.command("echo").expect("hello has `echo`"),
            payload: Payload {
                data: (0..PAYLOAD_BYTES).map(|i| (i % 251) as u8).collect(),
            },
            _hosts: [host, metered_host],
            _data_dir: data_dir,
        };
        fixture.check();
        fixture
    }

    /// Every path computes what the others do, so the figures compare the same work.
    fn check(&self) {
        let want = checksum(&SMALL);
        assert_eq!(self.fn_direct(), want);
        assert_eq!(self.dyn_fn(), want);
        assert_eq!(self.cdylib_fn_ptr(), want);
        let mut out = Vec::new();
        self.raw.call_into(&SMALL, &mut out).expect("checksum");
        assert_eq!(out, want.to_le_bytes());
        let sum = self.add.call(&AddRequest { a: 2, b: 40 }).expect("add");
        assert_eq!(sum.sum, 42);
        let sum = self
            .add_metered
            .call(&AddRequest { a: 2, b: 40 })
            .expect("add");
        assert_eq!(sum.sum, 42);
        let reversed = self.reverse.call(&self.payload).expect("reverse");
        assert!(reversed.data.iter().eq(self.payload.data.iter().rev()));
        let echoed = self
            .echo
            .call_with(
                &Chunk {
                    data: &self.payload.data,
                },
                |reply| reply.data == self.payload.data.as_slice(),
            )
            .expect("echo");
        assert!(echoed);
    }

    // The routines. Criterion and the ratio table time these same methods, each called
    // directly from the timing loop (no indirection of their own).

    #[inline]
    fn fn_direct(&self) -> u64 {
        checksum(black_box(&SMALL))
    }

    #[inline]
    fn dyn_fn(&self) -> u64 {
        (black_box(&self.dyn_fn))(black_box(&SMALL))
    }

    #[inline]
    fn cdylib_fn_ptr(&self) -> u64 {
        let input: &[u8] = black_box(&SMALL);
        // SAFETY: `input` is a live slice: its pointer is valid for `input.len()` bytes.
        unsafe { (self.baseline)(input.as_ptr(), input.len()) }
    }

    #[inline]
    fn raw_bytes(&self, out: &mut ResponseBuffer) {
        let response = self
            .raw
            .call_buffered(black_box(&SMALL), out)
            .expect("checksum");
        black_box(response);
    }

    #[inline]
    fn typed_small(&self) -> AddResponse {
        self.add
            .call(black_box(&AddRequest { a: 2, b: 40 }))
            .expect("add")
    }

    #[inline]
    fn typed_small_metrics(&self) -> AddResponse {
        self.add_metered
            .call(black_box(&AddRequest { a: 2, b: 40 }))
            .expect("add")
    }

    /// The response is returned, so it is dropped inside the timing: its deallocation counts.
    #[inline]
    fn payload_4k(&self) -> Payload {
        self.reverse
            .call(black_box(&self.payload))
            .expect("reverse")
    }

    /// The closure reads the borrowed response's length and last byte.
    #[inline]
    fn payload_4k_borrowed(&self) -> (usize, Option<u8>) {
        let request = Chunk {
            data: black_box(&self.payload.data),
        };
        self.echo
            .call_with(&request, |reply| {
                (reply.data.len(), reply.data.last().copied())
            })
            .expect("echo")
    }
}

fn bench_dispatch(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("dispatch");
    group.bench_function("fn_direct", |b| b.iter(|| f.fn_direct()));
    group.bench_function("dyn_fn", |b| b.iter(|| f.dyn_fn()));
    group.bench_function("cdylib_fn_ptr", |b| b.iter(|| f.cdylib_fn_ptr()));
    let mut out = ResponseBuffer::new();
    group.bench_function("raw_bytes", |b| b.iter(|| f.raw_bytes(&mut out)));
    group.bench_function("typed_small", |b| b.iter(|| f.typed_small()));
    group.bench_function("typed_small_metrics", |b| {
        b.iter(|| f.typed_small_metrics())
    });
    group.bench_function("payload_4k", |b| b.iter(|| f.payload_4k()));
    group.bench_function("payload_4k_borrowed", |b| {
        b.iter(|| f.payload_4k_borrowed())
    });
    group.finish();
}

/// Samples per routine for the ratio table, and the time each sample aims for.
const SAMPLES: usize = 31;
const SAMPLE_TIME: Duration = Duration::from_millis(5);

/// One routine timed for the ratio table.
struct Timer<'a> {
    id: &'static str,
    /// Runs the routine `n` times, returning the time taken. The routine is called directly
    /// inside the loop; only this closure, once per sample, is called through a pointer.
    run: Box<dyn FnMut(u64) -> Duration + 'a>,
    /// Runs per sample, so that one sample takes about `SAMPLE_TIME`.
    iters: u64,
    /// Nanoseconds per run, one per sample.
    samples: Vec<f64>,
}

impl<'a> Timer<'a> {
    fn new<R>(id: &'static str, mut routine: impl FnMut() -> R + 'a) -> Timer<'a> {
        let mut run: Box<dyn FnMut(u64) -> Duration + 'a> = Box::new(move |n: u64| {
            let start = Instant::now();
            for _ in 0..n {
                black_box(routine());
            }
            start.elapsed()
        });
        let mut iters: u64 = 1;
        let iters = loop {
            let elapsed = run(iters);
            if elapsed >= SAMPLE_TIME / 8 {
                let scale = SAMPLE_TIME.as_secs_f64() / elapsed.as_secs_f64();
                break ((iters as f64 * scale) as u64).max(1);
            }
            iters *= 2;
        };
        Timer {
            id,
            run,
            iters,
            samples: Vec::with_capacity(SAMPLES),
        }
    }

    fn sample(&mut self) {
        let elapsed = (self.run)(self.iters);
        self.samples
            .push(elapsed.as_secs_f64() * 1e9 / self.iters as f64);
    }

    fn median_ns(&mut self) -> f64 {
        self.samples.sort_by(f64::total_cmp);
        self.samples[self.samples.len() / 2]
    }
}

/// Times every routine again, `SAMPLES` rounds of one sample each, round-robin so that a change
/// in the machine's load during the run touches every routine alike, and prints the medians and
/// each Switchboard path's ratio to `cdylib_fn_ptr`.
#[expect(
    clippy::print_stdout,
    reason = "the ratio table is this bench's report, beside criterion's own output"
)]
fn print_ratios(f: &Fixture) {
    let mut out = ResponseBuffer::new();
    let mut timers = [
        Timer::new("fn_direct", || f.fn_direct()),
        Timer::new("dyn_fn", || f.dyn_fn()),
        Timer::new("cdylib_fn_ptr", || f.cdylib_fn_ptr()),
        Timer::new("raw_bytes", move || f.raw_bytes(&mut out)),
        Timer::new("typed_small", || f.typed_small()),
        Timer::new("typed_small_metrics", || f.typed_small_metrics()),
        Timer::new("payload_4k", || f.payload_4k()),
        Timer::new("payload_4k_borrowed", || f.payload_4k_borrowed()),
    ];
    for _ in 0..SAMPLES {
        for timer in &mut timers {
            timer.sample();
        }
    }
    let medians = timers.map(|mut t| (t.id, t.median_ns()));
    let baseline = medians[2].1;
    println!();
    println!("dispatch: own medians, {SAMPLES} round-robin samples of ~{SAMPLE_TIME:?} each");
    println!("{:<24} {:>10} {:>16}", "id", "median ns", "/ cdylib_fn_ptr");
    for (id, ns) in medians {
        let ratio = match id {
            "raw_bytes"
            | "typed_small"
            | "typed_small_metrics"
            | "payload_4k"
            | "payload_4k_borrowed" => {
                format!("{:.1}x", ns / baseline)
            }
            "cdylib_fn_ptr" => "1.0x (baseline)".to_owned(),
            _ => String::new(),
        };
        println!("{:<24} {ns:>10.2} {ratio:>16}", format!("dispatch/{id}"));
    }
    let median = |want: &str| medians.iter().find(|(id, _)| *id == want).map(|m| m.1);
    if let (Some(on), Some(off)) = (median("typed_small_metrics"), median("typed_small")) {
        println!(
            "metrics cost on a typed call: {:+.2} ns (target: at most 15)",
            on - off
        );
    }
}

fn main() {
    let fixture = Fixture::new();
    let mut criterion = Criterion::default().configure_from_args();
    bench_dispatch(&mut criterion, &fixture);
    criterion.final_summary();

    // `cargo bench` passes `--bench`; `cargo test` runs this target without it, as a smoke
    // test. `--list` and `--profile-time` (a run under a profiler) want no table either.
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| {
        args.iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    if has("--bench") && !has("--list") && !has("--profile-time") {
        print_ratios(&fixture);
    }
}
