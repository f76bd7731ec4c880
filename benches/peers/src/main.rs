//! The comparison suite (issue 17): what one call costs through Switchboard and through other
//! ways of calling plugin code, all measured in one run on one machine, each figure a median and
//! a ratio to a raw `extern "C"` function pointer doing the same work.
//!
//! Three workloads, where a system can carry them:
//!
//! - **no-op**: nothing in, nothing (or one `u64`) out;
//! - **struct**: hello's `add`: a 16-byte request `{a, b}` in, a 16-byte response
//!   `{sum, calls}` out (each system carries it its own way: C structs by value, postcard-encoded
//!   `Message`s, wasm values, bytes);
//! - **4 KiB**: 4096 bytes in, the same bytes reversed out.
//!
//! The cases, and what exactly each row does, are listed in the `what` column of the table this
//! prints (and writes to `results.md`). Run it with `benches/peers/run.sh`, which builds hello and
//! this suite in release first.
//!
//! Timing: every case is calibrated to samples of about `--sample-ms` milliseconds, then sampled
//! round-robin `--rounds` times (see [`timer`]); the figure is the median sample.

mod child;
mod timer;

use std::hint::black_box;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hello::{AddRequest, AddResponse, Payload};
use peers_abi_plugin::{AddFn, AddIn, AddOut, PeersModRef, ReverseFn};
use switchboard_host::isolation::{Mode, RunnerCommand};
use switchboard_host::{Command, Host, LoadOptions, PluginHandle, RawCommand, ResponseBuffer};

use timer::{Case, Workload};

/// The no-op input of checksum-style calls.
const EMPTY: &[u8] = &[];

/// The struct workload's request bytes for raw-bytes paths: `{a: 2, b: 40}` as little-endian
/// `i64`s (also the 16 bytes `dispatch/raw_bytes` checksums).
const ADD_BYTES: [u8; 16] = [2, 0, 0, 0, 0, 0, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0];

/// The 4 KiB workload's size.
const PAYLOAD_BYTES: usize = 4096;

/// The system of the baseline rows.
const FN_PTR: &str = "`extern \"C\"` fn pointer";

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

/// The signature of hello's `hello_checksum_baseline` (the floor `dispatch/cdylib_fn_ptr` uses).
type Checksum = unsafe extern "C" fn(*const u8, usize) -> u64;

/// Command-line settings.
struct Settings {
    hello: PathBuf,
    out: Option<PathBuf>,
    readme: Option<PathBuf>,
    rounds: usize,
    sample: Duration,
}

impl Settings {
    fn from_args() -> AnyResult<Settings> {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut settings = Settings {
            hello: here.join("../../target/examples/release/libhello.so"),
            out: None,
            readme: None,
            rounds: 101,
            sample: Duration::from_millis(5),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--hello" => settings.hello = PathBuf::from(value()?),
                "--out" => settings.out = Some(PathBuf::from(value()?)),
                "--readme" => settings.readme = Some(PathBuf::from(value()?)),
                "--rounds" => settings.rounds = value()?.parse()?,
                "--sample-ms" => settings.sample = Duration::from_millis(value()?.parse()?),
                other => {
                    return Err(format!(
                    "unknown argument `{other}` (known: --hello PATH, --out PATH, --readme PATH, \
                         --rounds N, --sample-ms N)"
                )
                    .into())
                }
            }
        }
        if !settings.hello.is_file() {
            return Err(format!(
                "{} is missing: build hello first (benches/peers/run.sh does)",
                settings.hello.display()
            )
            .into());
        }
        Ok(settings)
    }
}

/// The 4 KiB payload: the same bytes for every case.
fn payload() -> Vec<u8> {
    (0..PAYLOAD_BYTES).map(|i| (i % 251) as u8).collect()
}

/// Everything the native and Switchboard cases borrow, set up once.
struct Natives {
    checksum: Checksum,
    noop: extern "C" fn() -> u64,
    add: AddFn,
    reverse: ReverseFn,
    abi: PeersModRef,
}

/// Opens a library for the rest of the process (it is never unloaded).
fn open(path: &Path) -> AnyResult<&'static libloading::Library> {
    // SAFETY: the libraries opened here are hello and this suite's own abi_plugin, both built
    // from this repository's sources just before the run; their initialisers are plain Rust.
    // The library is leaked, so it is never unloaded and the symbols taken from it stay valid.
    let lib = unsafe { libloading::Library::new(path) }?;
    Ok(Box::leak(Box::new(lib)))
}

/// A function pointer of type `T` exported from `lib` as `name`.
///
/// # Safety
///
/// The symbol must be a function of exactly the signature `T`.
unsafe fn symbol<T: Copy>(lib: &'static libloading::Library, name: &[u8]) -> AnyResult<T> {
    // SAFETY: the caller guarantees the symbol's type; the library lives for the process.
    Ok(*unsafe { lib.get::<T>(name) }?)
}

impl Natives {
    fn new(hello: &Path) -> AnyResult<Natives> {
        let hello = open(hello)?;
        let plugin_path = std::env::current_exe()?
            .parent()
            .ok_or("this executable has no directory")?
            .join("libpeers_abi_plugin.so");
        let plugin = open(&plugin_path)?;
        // SAFETY: the signatures are those of the functions' definitions (hello's
        // `hello_checksum_baseline`; `peers_noop`, `peers_add`, `peers_reverse` in abi_plugin,
        // whose types `AddFn` and `ReverseFn` this crate shares).
        let natives = unsafe {
            Natives {
                checksum: symbol(hello, b"hello_checksum_baseline\0")?,
                noop: symbol(plugin, b"peers_noop\0")?,
                add: symbol(plugin, b"peers_add\0")?,
                reverse: symbol(plugin, b"peers_reverse\0")?,
                abi: abi_stable::library::RootModule::load_from_file(&plugin_path)?,
            }
        };
        Ok(natives)
    }

    fn checksum(&self, input: &[u8]) -> u64 {
        // SAFETY: `input` is a live slice: its pointer is valid for `input.len()` bytes.
        unsafe { (self.checksum)(input.as_ptr(), input.len()) }
    }

    fn reverse(&self, input: &[u8], out: &mut [u8]) {
        assert_eq!(input.len(), out.len());
        // SAFETY: `input` is valid for `len` bytes and `out` for as many, writable, and two
        // distinct slices never overlap.
        unsafe { (self.reverse)(input.as_ptr(), input.len(), out.as_mut_ptr()) }
    }
}

/// The cases of the raw function pointer and of `abi_stable`.
fn native_cases(n: &Natives) -> AnyResult<Vec<Case<'_>>> {
    let input = payload();
    let expected: Vec<u8> = input.iter().rev().copied().collect();
    let mut out = vec![0u8; PAYLOAD_BYTES];
    n.reverse(&input, &mut out);
    assert_eq!(out, expected);
    assert_eq!((n.add)(AddIn { a: 2, b: 40 }).sum, 42);
    assert_eq!(n.checksum(EMPTY), 0);
    assert_eq!((n.noop)(), 0);
    assert_eq!((n.abi.noop())(), 0);
    assert_eq!((n.abi.add())(AddIn { a: 2, b: 40 }).sum, 42);
    assert_eq!(
        (n.abi.reverse())(input.as_slice().into()).as_slice(),
        &expected[..]
    );

    let abi = "`abi_stable` root module";
    let abi_input = input.clone();
    Ok(vec![
        Case::new(
            Workload::Noop,
            FN_PTR,
            "hello's `hello_checksum_baseline` over 0 bytes → `u64` (the floor of `dispatch/cdylib_fn_ptr`)",
            move || n.checksum(black_box(EMPTY)),
        ),
        Case::new(
            Workload::Noop,
            FN_PTR,
            "abi_plugin's `peers_noop() -> u64`",
            move || (n.noop)(),
        ),
        Case::new(
            Workload::Struct,
            FN_PTR,
            "`peers_add(AddIn) -> AddOut`, 16-byte `repr(C)` structs by value",
            move || (n.add)(black_box(AddIn { a: 2, b: 40 })),
        ),
        Case::new(
            Workload::Payload4k,
            FN_PTR,
            "`peers_reverse(ptr, len, out)`: 4096 bytes reversed into the caller's reused buffer",
            move || {
                n.reverse(black_box(&input), &mut out);
                out[0]
            },
        ),
        Case::new(
            Workload::Noop,
            abi,
            "`noop() -> u64` through the module's prefix-type accessor",
            move || (n.abi.noop())(),
        ),
        Case::new(
            Workload::Struct,
            abi,
            "`add(AddIn) -> AddOut`, `StableAbi` structs by value",
            move || (n.abi.add())(black_box(AddIn { a: 2, b: 40 })),
        ),
        Case::new(
            Workload::Payload4k,
            abi,
            "`reverse(RSlice<u8>) -> RVec<u8>`: a new `RVec` per call, dropped by the caller",
            move || (n.abi.reverse())(black_box(abi_input.as_slice()).into()),
        ),
    ])
}

/// A host on a fresh data directory that may load unsigned libraries and starts this executable
/// as its runner for isolated plugins.
fn host(dir: &Path) -> AnyResult<Host> {
    let mut builder = Host::builder();
    builder
        .data_dir(dir)
        .host_api("switchboard-demo", "0.1.0")
        .runner(RunnerCommand::current_exe()?);
    builder.dangerous().load_unsigned_libraries();
    Ok(builder.build()?)
}

/// hello's commands in one plugin instance.
struct HelloCommands {
    checksum: RawCommand,
    upper: RawCommand,
    add: Command<AddRequest, AddResponse>,
    reverse: Command<Payload, Payload>,
}

impl HelloCommands {
    fn new(hello: &PluginHandle) -> AnyResult<HelloCommands> {
        hello.start()?;
        let commands = HelloCommands {
            checksum: hello.raw_command("checksum")?,
            upper: hello.raw_command("upper")?,
            add: hello.command("add")?,
            reverse: hello.command("reverse")?,
        };
        let mut out = ResponseBuffer::new();
        assert_eq!(commands.checksum.call_buffered(EMPTY, &mut out)?, [0; 8]);
        assert_eq!(
            commands.checksum.call_buffered(&ADD_BYTES, &mut out)?,
            42u64.to_le_bytes()
        );
        let input = payload();
        assert_eq!(
            commands.upper.call_buffered(&input, &mut out)?,
            input.to_ascii_uppercase()
        );
        assert_eq!(commands.add.call(&AddRequest { a: 2, b: 40 })?.sum, 42);
        let reversed = commands.reverse.call(&Payload {
            data: input.clone(),
        })?;
        assert!(reversed.data.iter().eq(input.iter().rev()));
        Ok(commands)
    }
}

/// hello loaded in-process and isolated, each in its own host.
struct Switchboard {
    in_process: HelloCommands,
    /// `None` where this machine cannot run isolated plugins (the run says why and goes on).
    isolated: Option<HelloCommands>,
    _hosts: Vec<Host>,
    _dir: tempfile::TempDir,
}

impl Switchboard {
    fn new(library: &Path) -> AnyResult<Switchboard> {
        let dir = tempfile::tempdir()?;
        let in_process_host = host(&dir.path().join("in-process"))?;
        let in_process = HelloCommands::new(&in_process_host.load_unsigned(library)?)?;
        let mut hosts = vec![in_process_host];
        let isolated = match Self::isolated(library, &dir.path().join("isolated")) {
            Ok((host, commands)) => {
                hosts.push(host);
                Some(commands)
            }
            Err(e) => {
                eprintln!("peers: no isolated cases: {e}");
                None
            }
        };
        Ok(Switchboard {
            in_process,
            isolated,
            _hosts: hosts,
            _dir: dir,
        })
    }

    fn isolated(library: &Path, dir: &Path) -> AnyResult<(Host, HelloCommands)> {
        let host = host(dir)?;
        let mut options = LoadOptions::new();
        options.isolation(Mode::Isolated);
        let hello = host.load_unsigned_with(library, &options)?;
        if hello.isolation().mode != Mode::Isolated {
            return Err("hello did not load isolated".into());
        }
        let commands = HelloCommands::new(&hello)?;
        Ok((host, commands))
    }
}

/// The cases of one Switchboard instance of hello.
fn switchboard_cases<'a>(
    c: &'a HelloCommands,
    raw: &'static str,
    typed: &'static str,
) -> Vec<Case<'a>> {
    let mut noop_out = ResponseBuffer::new();
    let mut struct_out = ResponseBuffer::new();
    let mut payload_out = ResponseBuffer::new();
    let raw_input = payload();
    let typed_input = Payload { data: payload() };
    vec![
        Case::new(
            Workload::Noop,
            raw,
            "`checksum` over 0 bytes → 8 bytes, `RawCommand::call_buffered` into a reused `ResponseBuffer`",
            move || {
                c.checksum
                    .call_buffered(black_box(EMPTY), &mut noop_out)
                    .map(|r| r.len())
                    .ok()
            },
        ),
        Case::new(
            Workload::Struct,
            raw,
            "`checksum` over the 16 request bytes → 8 bytes (raw bytes: no struct; `dispatch/raw_bytes`)",
            move || {
                c.checksum
                    .call_buffered(black_box(&ADD_BYTES), &mut struct_out)
                    .map(|r| r.len())
                    .ok()
            },
        ),
        Case::new(
            Workload::Payload4k,
            raw,
            "`upper` 4096 → 4096 bytes (ASCII upper case, not reverse: hello has no raw reverse)",
            move || {
                c.upper
                    .call_buffered(black_box(&raw_input), &mut payload_out)
                    .map(|r| r.len())
                    .ok()
            },
        ),
        Case::new(
            Workload::Struct,
            typed,
            "`add`: `Command<AddRequest, AddResponse>::call` (postcard both ways; `dispatch/typed_small`)",
            move || c.add.call(black_box(&AddRequest { a: 2, b: 40 })).ok(),
        ),
        Case::new(
            Workload::Payload4k,
            typed,
            "`reverse`: `Command<Payload, Payload>::call`, a new `Vec` per response (`dispatch/payload_4k`)",
            move || c.reverse.call(black_box(&typed_input)).ok(),
        ),
    ]
}

/// The Wasmtime cases: each owns its own store and instance of `wat/wasmtime.wat`.
fn wasmtime_cases() -> AnyResult<Vec<Case<'static>>> {
    use wasmtime::{Engine, Instance, Module, Store};

    let engine = Engine::default();
    let module = Module::new(&engine, include_str!("../wat/wasmtime.wat"))?;
    let instance = || -> AnyResult<(Store<()>, Instance)> {
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[])?;
        Ok((store, instance))
    };
    let system = "Wasmtime `TypedFunc`";
    let mut cases = Vec::new();

    let (mut store, i) = instance()?;
    let noop = i.get_typed_func::<(), ()>(&mut store, "noop")?;
    noop.call(&mut store, ())?;
    cases.push(Case::new(
        Workload::Noop,
        system,
        "`noop: () -> ()`",
        move || noop.call(&mut store, ()).is_ok(),
    ));

    let (mut store, i) = instance()?;
    let add = i.get_typed_func::<(i64, i64), (i64, i64)>(&mut store, "add")?;
    assert_eq!(add.call(&mut store, (2, 40))?, (42, 1));
    cases.push(Case::new(
        Workload::Struct,
        system,
        "`add: (i64, i64) -> (i64, i64)`: the struct's fields as wasm values (multi-value)",
        move || add.call(&mut store, black_box((2, 40))).ok(),
    ));

    let (mut store, i) = instance()?;
    let add_mem = i.get_typed_func::<(i32, i32), ()>(&mut store, "add_mem")?;
    let memory = i
        .get_memory(&mut store, "memory")
        .ok_or("the module exports its memory")?;
    let mut add_via_memory = move |request: &[u8; 16]| -> AnyResult<AddOut> {
        memory.write(&mut store, 0, request)?;
        add_mem.call(&mut store, (0, 16))?;
        let mut response = [0u8; 16];
        memory.read(&store, 16, &mut response)?;
        let (sum, calls) = child::decode_pair(&response);
        Ok(AddOut {
            sum,
            calls: calls as u64,
        })
    };
    assert_eq!(add_via_memory(&ADD_BYTES)?.sum, 42);
    cases.push(Case::new(
        Workload::Struct,
        "Wasmtime `TypedFunc`, linear memory",
        "`add_mem(req, resp)`: 16 request bytes copied into linear memory, 16 response bytes copied out",
        move || add_via_memory(black_box(&ADD_BYTES)).ok(),
    ));

    let (mut store, i) = instance()?;
    let reverse = i.get_typed_func::<(i32, i32, i32), ()>(&mut store, "reverse")?;
    let memory = i
        .get_memory(&mut store, "memory")
        .ok_or("the module exports its memory")?;
    let input = payload();
    let mut out = vec![0u8; PAYLOAD_BYTES];
    let len = PAYLOAD_BYTES as i32;
    let mut reverse_via_memory = move |input: &[u8], out: &mut [u8]| -> AnyResult<()> {
        memory.write(&mut store, 0, input)?;
        reverse.call(&mut store, (0, len, len))?;
        memory.read(&store, PAYLOAD_BYTES, out)?;
        Ok(())
    };
    reverse_via_memory(&input, &mut out)?;
    assert!(out.iter().eq(input.iter().rev()));
    cases.push(Case::new(
        Workload::Payload4k,
        system,
        "`reverse(in, len, out)`: 4096 bytes copied into linear memory, reversed 16 bytes a step (SIMD shuffle), copied out into a reused buffer",
        move || reverse_via_memory(black_box(&input), &mut out).is_ok(),
    ));
    Ok(cases)
}

/// The Extism cases: each owns its own `Plugin` of `wat/extism.wat`.
fn extism_cases() -> AnyResult<Vec<Case<'static>>> {
    let plugin = || extism::Plugin::new(include_str!("../wat/extism.wat"), [], false);
    let system = "Extism `Plugin::call`";
    let mut cases = Vec::new();

    let mut noop = plugin()?;
    assert!(noop.call::<&[u8], &[u8]>("noop", EMPTY)?.is_empty());
    cases.push(Case::new(
        Workload::Noop,
        system,
        "`noop`: empty input, no output",
        move || {
            noop.call::<&[u8], &[u8]>("noop", black_box(EMPTY))
                .map(|o| o.len())
                .ok()
        },
    ));

    let mut add = plugin()?;
    assert_eq!(
        child::decode_pair(add.call::<&[u8], &[u8]>("add", &ADD_BYTES)?).0,
        42
    );
    cases.push(Case::new(
        Workload::Struct,
        system,
        "`add`: 16 bytes in, 16 bytes out (a WAT plugin reading and writing through the Extism kernel)",
        move || {
            add.call::<&[u8], &[u8]>("add", black_box(&ADD_BYTES[..]))
                .map(|o| child::decode_pair(o).0)
                .ok()
        },
    ));

    let mut reverse = plugin()?;
    let input = payload();
    let output = reverse.call::<&[u8], &[u8]>("reverse", &input)?;
    assert!(output.iter().eq(input.iter().rev()));
    cases.push(Case::new(
        Workload::Payload4k,
        system,
        "`reverse`: 4096 bytes in, 4096 out, borrowed from the plugin (`&[u8]`, no copy out)",
        move || {
            reverse
                .call::<&[u8], &[u8]>("reverse", black_box(&input[..]))
                .map(|o| o.len())
                .ok()
        },
    ));
    Ok(cases)
}

/// The child-process cases, sharing one child.
fn child_cases(peer: &child::Peer) -> AnyResult<Vec<Case<'_>>> {
    let input = payload();
    let (mut scratch, mut response) = (Vec::new(), Vec::new());
    peer.call(child::ADD, &ADD_BYTES, &mut scratch, &mut response)?;
    assert_eq!(child::decode_pair(&response).0, 42);
    peer.call(child::REVERSE, &input, &mut scratch, &mut response)?;
    assert!(response.iter().eq(input.iter().rev()));
    peer.call(child::NOOP, EMPTY, &mut scratch, &mut response)?;
    assert!(response.is_empty());

    let system = "child process, unix socket";
    let buffers = || (Vec::new(), Vec::new());
    let (mut s1, mut r1) = buffers();
    let (mut s2, mut r2) = buffers();
    let (mut s3, mut r3) = buffers();
    Ok(vec![
        Case::new(
            Workload::Noop,
            system,
            "a 5-byte request header, a 4-byte empty response; both sides block in `read`",
            move || {
                peer.call(child::NOOP, black_box(EMPTY), &mut s1, &mut r1)
                    .is_ok()
            },
        ),
        Case::new(
            Workload::Struct,
            system,
            "`add`: 16 bytes each way after the header",
            move || {
                peer.call(child::ADD, black_box(&ADD_BYTES), &mut s2, &mut r2)
                    .is_ok()
            },
        ),
        Case::new(
            Workload::Payload4k,
            system,
            "`reverse`: 4096 bytes each way, into reused buffers",
            move || {
                peer.call(child::REVERSE, black_box(&input), &mut s3, &mut r3)
                    .is_ok()
            },
        ),
    ])
}

/// A median in the table's units.
fn format_ns(ns: f64) -> String {
    if ns < 100.0 {
        format!("{ns:.1} ns")
    } else if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.1} ms", ns / 1e6)
    }
}

/// A one-line description of this machine, from `/proc` and the environment `run.sh` sets.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let rustc = std::env::var("PEERS_RUSTC").unwrap_or_else(|_| "rustc (version not given)".into());
    format!("{model}, {cores} cores (`nproc`), {rustc}")
}

/// The 1-minute load average, to tell a quiet machine from a busy one.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// The median of a workload's baseline: its first fn-pointer row.
fn baseline(cases: &[Case<'_>], workload: Workload) -> f64 {
    cases
        .iter()
        .find(|c| c.workload == workload && c.system == FN_PTR)
        .map_or(f64::NAN, Case::median_ns)
}

/// The summary: one row per system, one column per workload (the first case of each), median
/// and ratio to the fn-pointer row of the same workload.
fn summary(cases: &[Case<'_>], text: &mut String) {
    let workloads = [Workload::Noop, Workload::Struct, Workload::Payload4k];
    let mut systems: Vec<&'static str> = Vec::new();
    for case in cases {
        if !systems.contains(&case.system) {
            systems.push(case.system);
        }
    }
    text.push_str("| Case |");
    for w in workloads {
        text.push_str(&format!(" {} |", w.name()));
    }
    text.push_str("\n|---|--:|--:|--:|\n");
    for system in systems {
        text.push_str(&format!("| {system} |"));
        for w in workloads {
            match cases.iter().find(|c| c.system == system && c.workload == w) {
                Some(case) => {
                    let median = case.median_ns();
                    text.push_str(&format!(
                        " {} ({:.1}×) |",
                        format_ns(median),
                        median / baseline(cases, w)
                    ));
                }
                None => text.push_str(" — |"),
            }
        }
        text.push('\n');
    }
}

/// The Markdown report: the machine, the table, ratios to the same workload's fn-pointer row.
fn report(cases: &[Case<'_>], load_before: &str, settings: &Settings) -> String {
    let mut rows: Vec<&Case<'_>> = cases.iter().collect();
    rows.sort_by_key(|c| c.workload);
    let mut text = String::new();
    let versions =
        std::env::var("PEERS_VERSIONS").unwrap_or_else(|_| "Wasmtime 37, Extism 1.13".into());
    let date = std::env::var("PEERS_DATE").unwrap_or_default();
    text.push_str(&format!(
        "Measured {date} on {}; {versions}. Load average (1 min) {load_before} before the run, \
         {} after; {} round-robin rounds of ~{} ms samples per case; medians.\n\n",
        machine(),
        load_average(),
        settings.rounds,
        settings.sample.as_millis(),
    ));
    summary(cases, &mut text);
    text.push_str("\nEvery row, with what one call does:\n\n");
    text.push_str("| Workload | Case | What one call does | Median | × fn ptr |\n");
    text.push_str("|---|---|---|--:|--:|\n");
    for case in rows {
        let base = baseline(cases, case.workload);
        let median = case.median_ns();
        text.push_str(&format!(
            "| {} | {} | {} | {} | {:.1}× |\n",
            case.workload.name(),
            case.system,
            case.what,
            format_ns(median),
            median / base,
        ));
    }
    text
}

/// The markers around the summary in the README.
const README_BEGIN: &str =
    "<!-- peers:begin (written by benches/peers/run.sh --readme README.md) -->";
const README_END: &str = "<!-- peers:end -->";

/// Replaces what stands between the README's markers with the report's first two paragraphs:
/// the line on the machine and the summary table.
fn update_readme(readme: &Path, report: &str) -> AnyResult<()> {
    let old = std::fs::read_to_string(readme)?;
    let (Some(begin), Some(end)) = (old.find(README_BEGIN), old.find(README_END)) else {
        return Err(format!(
            "{} has no {README_BEGIN} … {README_END} markers",
            readme.display()
        )
        .into());
    };
    if end < begin {
        return Err(format!("{}: the markers are out of order", readme.display()).into());
    }
    let summary: Vec<&str> = report.split("\n\n").take(2).collect();
    let new = format!(
        "{}{README_BEGIN}\n{}\n{}",
        &old[..begin],
        summary.join("\n\n"),
        &old[end..]
    );
    std::fs::write(readme, new)?;
    Ok(())
}

fn run() -> AnyResult<()> {
    let settings = Settings::from_args()?;
    let load_before = load_average();

    let natives = Natives::new(&settings.hello)?;
    let switchboard = Switchboard::new(&settings.hello)?;
    let peer = child::Peer::spawn()?;

    let mut cases = native_cases(&natives)?;
    cases.extend(switchboard_cases(
        &switchboard.in_process,
        "Switchboard raw, in-process",
        "Switchboard typed, in-process",
    ));
    if let Some(isolated) = &switchboard.isolated {
        cases.extend(switchboard_cases(
            isolated,
            "Switchboard raw, isolated",
            "Switchboard typed, isolated",
        ));
    }
    cases.extend(wasmtime_cases()?);
    cases.extend(extism_cases()?);
    cases.extend(child_cases(&peer)?);

    eprintln!(
        "timing {} cases: {} rounds of ~{} ms samples…",
        cases.len(),
        settings.rounds,
        settings.sample.as_millis()
    );
    timer::run_all(&mut cases, settings.rounds, settings.sample);

    let text = report(&cases, &load_before, &settings);
    std::io::stdout().write_all(text.as_bytes())?;
    if let Some(readme) = &settings.readme {
        update_readme(readme, &text)?;
        eprintln!("the summary replaced the one in {}", readme.display());
    }
    if let Some(out) = &settings.out {
        std::fs::write(out, &text)?;
        eprintln!("written to {}", out.display());
    }
    drop(cases);
    Ok(())
}

fn main() {
    // First: started as an isolated plugin's runner, this executable is the runner.
    switchboard_host::isolation::hook();
    if std::env::args().nth(1).as_deref() == Some(child::ARG) {
        child::serve();
    }
    if let Err(e) = run() {
        eprintln!("peers: {e}");
        std::process::exit(1);
    }
}
