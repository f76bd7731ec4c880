//! What isolated mode costs (issue 16): calls into a plugin whose code runs in a sandboxed
//! runner process, beside the bare unix-socket round trip between two processes and the same
//! call in-process, all measured in the same run.
//!
//! Every id is in the criterion group `isolation`:
//!
//! - `uds_baseline`: 16 bytes written to a unix socket, read back from a child process that
//!   echoes them, both sides blocking in `read` — the classic floor for a request/response
//!   between two processes, two wake-ups per round trip.
//! - `uds_spin_baseline`: the same, each side polling its socket for up to 50 µs before it
//!   blocks — what the isolated call path does (caller 30 µs, runner 50 µs), so the floor for
//!   it: a round trip that answers within the poll costs no wake-up.
//! - `call_roundtrip`: hello's raw-bytes command `upper` with an empty input, isolated,
//!   through `RawCommand::call_buffered` with a reused `ResponseBuffer`: the no-op call.
//! - `call_4k`: `upper` over 4096 bytes, isolated: a 4 KiB request and a 4 KiB response.
//! - `inprocess_call`: `upper` with an empty input, in-process, for comparison.
//! - `spawn`: load hello isolated (read and check the library, policy, a runner process that
//!   sandboxes itself and opens the library from the sealed image), start it, remove it (the
//!   runner is killed).
//!
//! The runner is this bench's own executable: `main` calls
//! [`switchboard_host::isolation::hook`] first, so the host can start it with
//! `RunnerCommand::current_exe()` — no other binary to build or find. The echo child of
//! `uds_baseline` is this executable too, started with `SWITCHBOARD_BENCH_ECHO=block` (or
//! `=spin`).
//!
//! After criterion's report, a real bench run (`--bench`) times the routines again itself,
//! round-robin, and prints each median as a multiple of `uds_baseline`'s.

use std::hint::black_box;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use criterion::Criterion;
use switchboard_cli::examples::{self, Profile};
use switchboard_host::isolation::{Mode, RunnerCommand};
use switchboard_host::{Host, LoadOptions, RawCommand, ResponseBuffer};
use tempfile::TempDir;

/// The environment variable that makes this executable the echo child of `uds_baseline`.
const ECHO_ENV: &str = "SWITCHBOARD_BENCH_ECHO";

/// The bytes of a `uds_baseline` round trip.
const SMALL: usize = 16;

/// The size of the `call_4k` request (and response).
const PAYLOAD_BYTES: usize = 4096;

/// How long a polling side of `uds_spin_baseline` polls before it blocks.
const SPIN: Duration = Duration::from_micros(50);

/// The echo child: echoes what arrives on stdin (a unix socket) until it closes, blocking in
/// `read` or first polling for `SPIN`.
fn echo(spin: bool) -> ! {
    let stdin = std::io::stdin();
    let fd = std::os::fd::AsFd::as_fd(&stdin)
        .try_clone_to_owned()
        .expect("stdin");
    let socket = UnixStream::from(fd);
    if spin {
        socket.set_nonblocking(true).expect("non-blocking");
    }
    let mut buf = [0u8; 65536];
    loop {
        let read = if spin {
            read_polling(&socket, &mut buf)
        } else {
            (&socket).read(&mut buf)
        };
        match read {
            Ok(0) | Err(_) => std::process::exit(0),
            Ok(n) => {
                if (&socket).write_all(&buf[..n]).is_err() {
                    std::process::exit(0);
                }
            }
        }
    }
}

/// One read of a non-blocking socket that polls for up to `SPIN`, then blocks.
fn read_polling(socket: &UnixStream, buf: &mut [u8]) -> std::io::Result<usize> {
    let until = Instant::now() + SPIN;
    loop {
        match (&*socket).read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => return other,
        }
        if Instant::now() >= until {
            break;
        }
        std::thread::yield_now();
    }
    socket.set_nonblocking(false)?;
    let read = (&*socket).read(buf);
    socket.set_nonblocking(true)?;
    read
}

/// An echo child of this executable and the socket to it.
fn echo_child(mode: &str) -> (UnixStream, Child) {
    let (ours, theirs) = UnixStream::pair().expect("a socket pair");
    let child = Process::new(std::env::current_exe().expect("this executable"))
        .env(ECHO_ENV, mode)
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stdout(Stdio::null())
        .spawn()
        .expect("starting the echo child");
    (ours, child)
}

/// A host on a fresh data directory that may load unsigned libraries and starts this
/// executable as its runner.
fn host(dir: &Path) -> Host {
    let mut builder = Host::builder();
    builder
        .data_dir(dir)
        .host_api("switchboard-demo", "0.1.0")
        .runner(RunnerCommand::current_exe().expect("this executable"));
    builder.dangerous().load_unsigned_libraries();
    builder.build().expect("building the host")
}

fn isolated() -> LoadOptions {
    let mut options = LoadOptions::new();
    options.isolation(Mode::Isolated);
    options
}

/// Everything the routines use, set up once.
struct Fixture {
    echo: UnixStream,
    spin_echo: UnixStream,
    children: [Child; 2],
    isolated: RawCommand,
    in_process: RawCommand,
    payload: Vec<u8>,
    spawn_host: Host,
    library: PathBuf,
    _hosts: [Host; 2],
    _dir: TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let built = examples::library(Profile::Release, "hello").expect("building hello");
        let library = examples::stripped_copy(&built, dir.path());

        let (echo, block_child) = echo_child("block");
        let (spin_echo, spin_child) = echo_child("spin");
        spin_echo.set_nonblocking(true).expect("non-blocking");

        let isolated_host = host(&dir.path().join("isolated"));
        let hello = isolated_host
            .load_unsigned_with(&library, &isolated())
            .expect("loading hello isolated");
        hello.start().expect("starting hello");
        assert_eq!(hello.isolation().mode, Mode::Isolated);
        let isolated_upper = hello.raw_command("upper").expect("hello has `upper`");

        let in_process_host = host(&dir.path().join("in-process"));
        let hello = in_process_host
            .load_unsigned(&library)
            .expect("loading hello in-process");
        hello.start().expect("starting hello");
        let in_process_upper = hello.raw_command("upper").expect("hello has `upper`");

        let fixture = Fixture {
            echo,
            spin_echo,
            children: [block_child, spin_child],
            isolated: isolated_upper,
            in_process: in_process_upper,
            payload: (0..PAYLOAD_BYTES).map(|i| b'a' + (i % 26) as u8).collect(),
            spawn_host: host(&dir.path().join("spawn")),
            library,
            _hosts: [isolated_host, in_process_host],
            _dir: dir,
        };
        fixture.check();
        fixture
    }

    /// Every routine does what it claims.
    fn check(&self) {
        let mut out = ResponseBuffer::new();
        assert_eq!(self.isolated.call(b"abc").expect("upper"), b"ABC");
        let upper = self
            .isolated
            .call_buffered(&self.payload, &mut out)
            .expect("upper 4k");
        assert_eq!(upper, self.payload.to_ascii_uppercase());
        assert!(self.call_roundtrip(&mut out) == 0);
        assert!(self.inprocess_call(&mut out) == 0);
        let mut back = *b"0123456789abcdef";
        self.uds_baseline(&mut back);
        assert_eq!(&back, b"0123456789abcdef");
        self.uds_spin_baseline(&mut back);
        assert_eq!(&back, b"0123456789abcdef");
        self.spawn();
    }

    // The routines, called directly from the timing loops.

    #[inline]
    fn uds_baseline(&self, buf: &mut [u8; SMALL]) {
        let mut echo = &self.echo;
        echo.write_all(black_box(&buf[..])).expect("echo write");
        echo.read_exact(buf).expect("echo read");
    }

    #[inline]
    fn uds_spin_baseline(&self, buf: &mut [u8; SMALL]) {
        (&self.spin_echo)
            .write_all(black_box(&buf[..]))
            .expect("echo write");
        let mut got = 0;
        while got < SMALL {
            got += read_polling(&self.spin_echo, &mut buf[got..]).expect("echo read");
        }
    }

    #[inline]
    fn call_roundtrip(&self, out: &mut ResponseBuffer) -> usize {
        let response = self
            .isolated
            .call_buffered(black_box(b""), out)
            .expect("upper");
        black_box(response).len()
    }

    #[inline]
    fn call_4k(&self, out: &mut ResponseBuffer) -> usize {
        let response = self
            .isolated
            .call_buffered(black_box(&self.payload), out)
            .expect("upper 4k");
        black_box(response).len()
    }

    #[inline]
    fn inprocess_call(&self, out: &mut ResponseBuffer) -> usize {
        let response = self
            .in_process
            .call_buffered(black_box(b""), out)
            .expect("upper");
        black_box(response).len()
    }

    /// Load hello isolated, start it, remove it.
    fn spawn(&self) {
        let hello = self
            .spawn_host
            .load_unsigned_with(&self.library, &isolated())
            .expect("loading hello isolated");
        hello.start().expect("starting hello");
        self.spawn_host.remove("hello").expect("removing hello");
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.echo.shutdown(std::net::Shutdown::Both);
        let _ = self.spin_echo.shutdown(std::net::Shutdown::Both);
        for child in &mut self.children {
            let _ = child.wait();
        }
    }
}

fn bench_isolation(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("isolation");
    let mut buf = [7u8; SMALL];
    group.bench_function("uds_baseline", |b| b.iter(|| f.uds_baseline(&mut buf)));
    group.bench_function("uds_spin_baseline", |b| {
        b.iter(|| f.uds_spin_baseline(&mut buf))
    });
    let mut out = ResponseBuffer::new();
    group.bench_function("call_roundtrip", |b| b.iter(|| f.call_roundtrip(&mut out)));
    group.bench_function("call_4k", |b| b.iter(|| f.call_4k(&mut out)));
    group.bench_function("inprocess_call", |b| b.iter(|| f.inprocess_call(&mut out)));
    group.sample_size(20);
    group.bench_function("spawn", |b| b.iter(|| f.spawn()));
    group.finish();
}

/// Samples per routine for the ratio table, and the time each sample aims for.
const SAMPLES: usize = 31;
const SAMPLE_TIME: Duration = Duration::from_millis(20);

/// One routine timed for the ratio table.
struct Timer<'a> {
    id: &'static str,
    run: Box<dyn FnMut(u64) -> Duration + 'a>,
    iters: u64,
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

/// Times every routine again, round-robin so a change in the machine's load touches each
/// alike (`spawn` alone, after them), and prints the medians and each one's ratio to
/// `uds_baseline`.
#[expect(
    clippy::print_stdout,
    reason = "the ratio table is this bench's report, beside criterion's own output"
)]
fn print_ratios(f: &Fixture) {
    let mut buf = [7u8; SMALL];
    let mut spin_buf = [7u8; SMALL];
    let mut out_a = ResponseBuffer::new();
    let mut out_b = ResponseBuffer::new();
    let mut out_c = ResponseBuffer::new();
    let mut timers = [
        Timer::new("uds_baseline", || f.uds_baseline(&mut buf)),
        Timer::new("uds_spin_baseline", || f.uds_spin_baseline(&mut spin_buf)),
        Timer::new("call_roundtrip", || f.call_roundtrip(&mut out_a)),
        Timer::new("call_4k", || f.call_4k(&mut out_b)),
        Timer::new("inprocess_call", || f.inprocess_call(&mut out_c)),
    ];
    for _ in 0..SAMPLES {
        for timer in &mut timers {
            timer.sample();
        }
    }
    // Alone: it starts and kills processes, which would disturb the others' samples.
    let mut spawn = Timer::new("spawn", || f.spawn());
    for _ in 0..SAMPLES {
        spawn.sample();
    }
    let mut medians = timers.map(|mut t| (t.id, t.median_ns())).to_vec();
    medians.push((spawn.id, spawn.median_ns()));
    let baseline = medians[0].1;
    println!();
    println!("isolation: own medians, {SAMPLES} round-robin samples of ~{SAMPLE_TIME:?} each");
    println!("{:<28} {:>14} {:>16}", "id", "median ns", "/ uds_baseline");
    for (id, ns) in medians {
        let ratio = if id == "uds_baseline" {
            "1.0x (baseline)".to_owned()
        } else {
            format!("{:.2}x", ns / baseline)
        };
        println!("{:<28} {ns:>14.0} {ratio:>16}", format!("isolation/{id}"));
    }
}

fn main() {
    // First: started as the runner (`--switchboard-runner`), this executable is the runner.
    switchboard_host::isolation::hook();
    if let Some(mode) = std::env::var_os(ECHO_ENV) {
        echo(mode == "spin");
    }
    let fixture = Fixture::new();
    let mut criterion = Criterion::default().configure_from_args();
    bench_isolation(&mut criterion, &fixture);
    criterion.final_summary();

    // `cargo bench` passes `--bench`; `cargo test` runs this target without it, as a smoke
    // test. `--list` and `--profile-time` want no table either.
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| {
        args.iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    if has("--bench") && !has("--list") && !has("--profile-time") {
        print_ratios(&fixture);
    }
}
