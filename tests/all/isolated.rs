//! Isolated mode (SPEC S7.2, ARCHITECTURE D4, D5, D13): the same plugin library, the same
//! handles, the same answers — whether it runs in the host's process or in a runner process.
//!
//! Every case here is one function taking the [`Mode`], run once per backend by `both!`: calls,
//! errors with their codes, files, environment, KV, secrets and configuration through the
//! proxied services, events into a plugin's handlers and out of it, shared services both ways,
//! a plugin re-entering itself, logs, the lifecycle, and a panic contained.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver};
use hello::{AddRequest, AddResponse, Payload, WriteFile};
use switchboard_host::bus::{Envelope, Outgoing, ServiceBuilder, SubscribeOptions};
use switchboard_host::caps::Policy;
use switchboard_host::isolation::{IsolationProfile, Layer, Mode, RunnerCommand};
use switchboard_host::{
    AuditFilter, AuditKind, Host, HostBuilder, LoadOptions, PluginHandle, State,
};
use switchboard_tests::{host_with, library};

/// Runs a case once per backend: `NAME::in_process` and `NAME::isolated`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[test]
            fn in_process() {
                super::$name(switchboard_host::isolation::Mode::InProcess)
            }

            #[test]
            fn isolated() {
                super::$name(switchboard_host::isolation::Mode::Isolated)
            }
        })*
    };
}

both!(
    calls_answer_alike,
    plugin_errors_keep_code_and_next_step,
    files_follow_grants,
    environment_follows_grants,
    kv_secrets_and_configuration,
    events_reach_handlers_and_plugins_publish,
    services_both_ways,
    a_plugin_re_entering_itself_completes,
    logs_reach_the_hosts_sink,
    lifecycle_stop_and_start_again,
    a_panic_fails_the_plugin_not_the_host,
    plugins_publish_batches_whole_or_not_at_all,
    borrowed_payloads_are_read_in_place,
);

/// A command taking and returning a message that borrows (`hello::Chunk`), read by the host
/// where the plugin wrote it (`Command::call_with`); owned messages through `call_with` too;
/// and a contract that does not match is refused when the handle is made.
fn borrowed_payloads_are_read_in_place(mode: Mode) {
    use hello::Chunk;
    let (host, _dir) = host(&[], |_, _| {});
    let hello = load(&host, "hello", mode);
    let echo = hello
        .command::<Chunk<'static>, Chunk<'static>>("echo")
        .unwrap();
    // From 1024 bytes the request's field is gathered, not copied (SDK ABI 1.5): the plugin
    // reads the caller's bytes in process, and the runner gets them joined.
    for len in [0usize, 1, 127, 128, 1023, 1024, 1025, 4096, 70_000] {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let same = echo
            .call_with(&Chunk { data: &data }, |reply| {
                reply.data == data.as_slice()
            })
            .unwrap();
        assert!(same, "{len} bytes came back as sent");
    }
    // A call made inside the closure uses buffers of its own.
    let nested = echo
        .call_with(&Chunk { data: b"outer" }, |outer| {
            let inner = echo
                .call_with(&Chunk { data: b"inner" }, |inner| inner.data.to_vec())
                .unwrap();
            (outer.data.to_vec(), inner)
        })
        .unwrap();
    assert_eq!(nested, (b"outer".to_vec(), b"inner".to_vec()));
    // Owned messages through the same door.
    let add = hello.command::<AddRequest, AddResponse>("add").unwrap();
    let sum = add
        .call_with(&AddRequest { a: 1, b: 2 }, |r| r.sum)
        .unwrap();
    assert_eq!(sum, 3);
    // The borrowing type's contract is checked like any other.
    let wrong = hello.command::<Chunk<'static>, Chunk<'static>>("reverse");
    assert_eq!(
        wrong.unwrap_err().code().to_string(),
        "SB0303",
        "Chunk is not reverse's contract"
    );
}

/// The runner binary the tests start (`tests/bin/isolated_runner.rs`).
pub(crate) fn runner() -> RunnerCommand {
    RunnerCommand::binary(env!("CARGO_BIN_EXE_isolated_runner"))
}

pub(crate) fn options(mode: Mode) -> LoadOptions {
    let mut options = LoadOptions::new();
    options.isolation(mode);
    options
}

fn policy(caps: &[String]) -> Policy {
    let mut p = Policy::new();
    for c in caps {
        p.allow(c.parse().unwrap());
    }
    p
}

/// A host with the test runner, `caps` allowed (`{root}` is the temporary directory), set up
/// further by `setup`.
fn host(caps: &[&str], setup: impl FnOnce(&mut HostBuilder, &Path)) -> (Host, tempfile::TempDir) {
    host_with(|b, root| {
        let caps: Vec<String> = caps
            .iter()
            .map(|c| c.replace("{root}", &root.display().to_string()))
            .collect();
        b.policy(policy(&caps)).runner(runner());
        setup(b, root);
    })
}

fn load(host: &Host, package: &str, mode: Mode) -> PluginHandle {
    let plugin = host
        .load_unsigned_with(library(package), &options(mode))
        .unwrap();
    assert_eq!(plugin.isolation().mode, mode);
    plugin.start().unwrap();
    plugin
}

fn call<Req: switchboard_sdk::Message, Resp: switchboard_sdk::Message>(
    plugin: &PluginHandle,
    command: &str,
    request: &Req,
) -> Result<Resp, switchboard_host::CallError> {
    plugin.command::<Req, Resp>(command).unwrap().call(request)
}

fn code<T: std::fmt::Debug>(result: Result<T, switchboard_host::CallError>) -> String {
    result.unwrap_err().code().to_string()
}

fn calls_answer_alike(mode: Mode) {
    let (host, _dir) = host(&[], |_, _| {});
    let hello = load(&host, "hello", mode);
    if mode == Mode::Isolated {
        let isolation = hello.isolation();
        assert_ne!(
            isolation.runner_pid.unwrap(),
            std::process::id(),
            "the plugin runs in another process"
        );
        // Layers every Linux this project runs on has; the others are reported either way.
        for layer in [Layer::Seccomp, Layer::NoNewPrivs, Layer::Rlimits] {
            let status = isolation.layers.iter().find(|l| l.layer == layer).unwrap();
            assert!(status.active, "{status:?}");
        }
    }
    assert_eq!(
        call::<String, String>(&hello, "greet", &"Ada".into()).unwrap(),
        "Hello, Ada!"
    );
    assert_eq!(
        call::<AddRequest, AddResponse>(&hello, "add", &AddRequest { a: 2, b: 40 }).unwrap(),
        AddResponse { sum: 42, calls: 1 }
    );
    let data: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
    let out: Payload = call(&hello, "reverse", &Payload { data: data.clone() }).unwrap();
    assert_eq!(out.data, data.iter().rev().copied().collect::<Vec<_>>());
    let upper = hello.raw_command("upper").unwrap();
    assert_eq!(upper.call(b"abc").unwrap(), b"ABC");
    let checksum = hello.raw_command("checksum").unwrap();
    let mut out = Vec::new();
    checksum.call_into(&[1, 2, 3, 250], &mut out).unwrap();
    assert_eq!(out, 256u64.to_le_bytes());
    // Many threads at once: each takes a channel of its own.
    let add = hello.command::<AddRequest, AddResponse>("add").unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    add.call(&AddRequest { a: 1, b: 1 }).unwrap();
                }
            });
        }
    });
    let last = add.call(&AddRequest { a: 0, b: 0 }).unwrap();
    assert_eq!(last.calls, 1 + 200 + 1);
    // A request over the payload limit never reaches the plugin, in either mode.
    let big = vec![0u8; 17 << 20];
    assert_eq!(upper.call(&big).unwrap_err().code().to_string(), "SB0309");
}

fn plugin_errors_keep_code_and_next_step(mode: Mode) {
    let (host, _dir) = host(&[], |_, _| {});
    let hello = load(&host, "hello", mode);
    let e = call::<String, String>(&hello, "greet", &"   ".into()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0100");
    assert_eq!(e.next_step(), "pass a non-empty name");
    // Bytes that do not decode are the plugin's coded refusal, not a crash.
    let add = hello.raw_command("add").unwrap();
    assert_eq!(
        add.call(&[0xff; 11]).unwrap_err().code().to_string(),
        "SB0102"
    );
    assert_eq!(hello.state(), State::Active);
}

fn files_follow_grants(mode: Mode) {
    let (host, dir) = host(
        &["fs.read:{root}/grant/**", "fs.write:{root}/grant/**"],
        |_, root| {
            std::fs::create_dir_all(root.join("grant")).unwrap();
        },
    );
    let hello = load(&host, "hello", mode);
    let inside = dir.path().join("grant/note.txt");
    call::<WriteFile, ()>(
        &hello,
        "write_file",
        &WriteFile {
            path: inside.display().to_string(),
            text: "kept".into(),
        },
    )
    .unwrap();
    assert_eq!(std::fs::read_to_string(&inside).unwrap(), "kept");
    assert_eq!(
        call::<String, String>(&hello, "read_file", &inside.display().to_string()).unwrap(),
        "kept"
    );
    let outside = dir.path().join("outside.txt");
    std::fs::write(&outside, "host only").unwrap();
    let denied = code(call::<String, String>(
        &hello,
        "read_file",
        &outside.display().to_string(),
    ));
    assert!(denied.starts_with("SB04"), "{denied}");
}

fn environment_follows_grants(mode: Mode) {
    let (host, _dir) = host(&["env:HELLO_*"], |b, _| {
        b.plugin_env("HELLO_STYLE", "warm")
            .plugin_env("DATABASE_URL", "postgres://secret");
    });
    let hello = load(&host, "hello", mode);
    assert_eq!(
        call::<String, String>(&hello, "env", &"HELLO_STYLE".into()).unwrap(),
        "warm"
    );
    let denied = code(call::<String, String>(
        &hello,
        "env",
        &"DATABASE_URL".into(),
    ));
    assert!(denied.starts_with("SB04"), "{denied}");
}

fn kv_secrets_and_configuration(mode: Mode) {
    let (host, _dir) = host(&["kv", "secrets", "config.read"], |_, _| {});
    let counter = load(&host, "counter", mode);
    assert_eq!(
        call::<String, u64>(&counter, "incr", &"a".into()).unwrap(),
        1
    );
    assert_eq!(
        call::<String, u64>(&counter, "incr", &"a".into()).unwrap(),
        2
    );
    assert_eq!(
        call::<String, u64>(&counter, "value", &"a".into()).unwrap(),
        2
    );
    // What the plugin wrote is in the host's store, in its namespace.
    let page = host.kv("counter").list_page("", None, 10).unwrap();
    assert_eq!(page.entries.len(), 1, "{page:?}");
    call::<String, ()>(&counter, "set_token", &"hunter2".into()).unwrap();
    assert!(call::<String, bool>(&counter, "check_token", &"hunter2".into()).unwrap());
    assert!(!call::<String, bool>(&counter, "check_token", &"guess".into()).unwrap());
    let settings = call::<(), String>(&counter, "settings", &()).unwrap();
    assert!(settings.contains("step"), "{settings}");
}

fn collect(host: &Host, pattern: &str) -> Receiver<Envelope> {
    let (tx, rx) = unbounded();
    host.bus()
        .subscribe(
            pattern,
            SubscribeOptions::new().mode(switchboard_host::bus::Mode::Inline),
            move |e| {
                let _ = tx.send(e.clone());
                Ok(())
            },
        )
        .unwrap();
    rx
}

const RELAY: &[&str] = &[
    "events.subscribe:host.**",
    "service.call:*",
    "service.provide:relay.echo",
];

fn events_reach_handlers_and_plugins_publish(mode: Mode) {
    let (host, _dir) = host(RELAY, |_, _| {});
    let relay = load(&host, "relay", mode);
    let forwarded = collect(&host, "plugin.relay.>");
    host.bus()
        .publish(Outgoing::new("host.job", b"work".to_vec()))
        .unwrap();
    let envelope = forwarded
        .recv_timeout(Duration::from_secs(60))
        .expect("the plugin's handler republished the event");
    assert!(
        envelope.topic().starts_with("plugin.relay."),
        "{}",
        envelope.topic()
    );
    assert_eq!(call::<(), u64>(&relay, "seen", &()).unwrap(), 1);
    // Publishing beyond its namespace needs a grant, checked in the host.
    let denied = code(call::<String, u32>(
        &relay,
        "announce",
        &"plugin.hello.spoofed".into(),
    ));
    assert_eq!(denied, "SB0410");
}

/// The relay example's `Burst`, mirrored field for field. Its contract names the relay crate,
/// whose plugin code cannot be linked into this test binary beside hello's (one root module a
/// binary), so the calls below go raw, with the same postcard bytes.
#[derive(serde::Serialize)]
struct Burst {
    topics: Vec<String>,
    rounds: u32,
    bytes: u32,
}

/// Calls one of relay's `Burst -> u32` commands raw.
fn call_burst(
    plugin: &PluginHandle,
    command: &str,
    burst: &Burst,
) -> Result<u32, switchboard_host::CallError> {
    let mut request = Vec::new();
    switchboard_sdk::encode_into(burst, &mut request);
    let response = plugin.raw_command(command).unwrap().call(&request)?;
    Ok(switchboard_sdk::decode::<u32>(&response).unwrap())
}

fn burst(topics: &[&str], rounds: u32, bytes: u32) -> Burst {
    Burst {
        topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        rounds,
        bytes,
    }
}

/// A plugin's batch: one crossing, delivered in order with its contract; one refused topic
/// refuses the whole batch (audited once); an empty batch is nothing; a batch over the host's
/// call limit is a coded error, and nothing of it is delivered.
fn plugins_publish_batches_whole_or_not_at_all(mode: Mode) {
    let (host, _dir) = host(RELAY, |_, _| {});
    let relay = load(&host, "relay", mode);
    let seen = collect(&host, "plugin.relay.>");
    let take = |n: usize| -> Vec<Envelope> {
        (0..n)
            .map(|_| seen.recv_timeout(Duration::from_secs(60)).unwrap())
            .collect()
    };

    // Order across topics, each event with its contract; one delivery each.
    let two = burst(&["plugin.relay.a", "plugin.relay.b"], 100, 8);
    assert_eq!(call_burst(&relay, "announce_batch", &two).unwrap(), 200);
    let got = take(200);
    for (i, e) in got.iter().enumerate() {
        let (round, topic) = (i / 2, ["plugin.relay.a", "plugin.relay.b"][i % 2]);
        assert_eq!(e.topic(), topic);
        assert_eq!(e.publisher(), "relay");
        assert_eq!(e.header("contract"), Some("string@1"));
        let text: String = switchboard_sdk::decode(e.payload()).unwrap();
        assert_eq!(text.trim_end_matches('.'), round.to_string());
    }
    // The same events one at a time arrive the same way.
    assert_eq!(call_burst(&relay, "announce_each", &two).unwrap(), 200);
    let each = take(200);
    assert!(each
        .iter()
        .zip(&got)
        .all(|(a, b)| a.topic() == b.topic() && a.payload() == b.payload()));

    // One refused topic: nothing is delivered, the denial is audited once.
    let mixed = burst(&["plugin.relay.a", "host.spoofed"], 50, 8);
    let denied = code(call_burst(&relay, "announce_batch", &mixed));
    assert_eq!(denied, "SB0410");
    let rows = host
        .audit()
        .query(&AuditFilter::new().plugin("relay").kind(AuditKind::Deny))
        .unwrap();
    let spoofed = rows
        .iter()
        .filter(|r| r.subject.contains("host.spoofed"))
        .count();
    assert_eq!(spoofed, 1, "{rows:?}");

    // Empty: nothing, and no error.
    let empty = burst(&["plugin.relay.a"], 0, 8);
    assert_eq!(call_burst(&relay, "announce_batch", &empty).unwrap(), 0);

    // Over the call limit (16 MiB by default), each event within the event limit (1 MiB).
    let huge = burst(&["plugin.relay.big"], 17, 1_000_000);
    let e = call_burst(&relay, "announce_batch", &huge).unwrap_err();
    assert_eq!(e.code().to_string(), "SB1621", "{e}");

    // Nothing of the refused batches arrived: the next event is the marker.
    let marker = burst(&["plugin.relay.marker"], 1, 1);
    call_burst(&relay, "announce_batch", &marker).unwrap();
    assert_eq!(take(1)[0].topic(), "plugin.relay.marker");
    assert_eq!(relay.state(), State::Active);
}

fn services_both_ways(mode: Mode) {
    let (host, _dir) = host(RELAY, |_, _| {});
    let relay = load(&host, "relay", mode);
    // The plugin calls a host service …
    host.bus()
        .provide(
            ServiceBuilder::new("text.tools").method("upper", |s: String| Ok(s.to_uppercase())),
        )
        .unwrap();
    assert_eq!(
        call::<String, String>(&relay, "shout", &"hi".into()).unwrap(),
        "HI"
    );
    // … and the host calls the plugin's.
    let echo = host
        .bus()
        .client::<String, String>("relay.echo", "echo")
        .unwrap();
    assert_eq!(echo.call(&"ping".into()).unwrap(), "ping");
}

fn a_plugin_re_entering_itself_completes(mode: Mode) {
    let (host, _dir) = host(RELAY, |_, _| {});
    let relay = load(&host, "relay", mode);
    let bounce = relay.command::<u32, u32>("bounce").unwrap();
    assert_eq!(bounce.call(&10).unwrap(), 10);
    assert_eq!(code(bounce.call(&10_000)), "SB0813");
    assert_eq!(relay.state(), State::Active);
    assert_eq!(bounce.call(&3).unwrap(), 3);
}

fn logs_reach_the_hosts_sink(mode: Mode) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let (host, _dir) = host(&[], move |b, _| {
        b.on_log(move |r| {
            sink.lock()
                .unwrap()
                .push(format!("{}:{}:{}", r.plugin, r.level, r.message))
        });
    });
    let _hello = load(&host, "hello", mode);
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        ["hello:info:hello is ready"]
    );
}

fn lifecycle_stop_and_start_again(mode: Mode) {
    let (host, _dir) = host(&[], |_, _| {});
    let hello = load(&host, "hello", mode);
    assert!(matches!(hello.health(), switchboard_sdk::Health::Healthy));
    hello.stop().unwrap();
    assert_eq!(hello.state(), State::Stopped);
    assert_eq!(
        code(call::<String, String>(&hello, "greet", &"Ada".into())),
        "SB0305"
    );
    hello.start().unwrap();
    assert_eq!(
        call::<String, String>(&hello, "greet", &"Ada".into()).unwrap(),
        "Hello, Ada!"
    );
    host.remove("hello").unwrap();
    assert_eq!(hello.state(), State::Removed);
}

fn a_panic_fails_the_plugin_not_the_host(mode: Mode) {
    // Loading canary runs its library constructor: not while a refusal test has it armed.
    let _canary = switchboard_tests::canary_lock();
    let (host, _dir) = host(&[], |_, _| {});
    let hello = load(&host, "hello", mode);
    let canary = load(&host, "canary", Mode::InProcess);
    assert_eq!(code(call::<(), ()>(&hello, "crash", &())), "SB0101");
    assert_eq!(hello.state(), State::Failed);
    assert_eq!(
        code(call::<String, String>(&hello, "greet", &"Ada".into())),
        "SB0304"
    );
    // The host and its other plugin carry on.
    assert_eq!(call::<(), String>(&canary, "sing", &()).unwrap(), "tweet");
}

/// Waits for `plugin` to reach `state` (a supervisor thread moves it), failing after a minute.
fn wait_for(plugin: &PluginHandle, state: State) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while plugin.state() != state {
        assert!(
            std::time::Instant::now() < deadline,
            "{} stayed {}",
            plugin.name(),
            plugin.state()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_plugin_crashing_past_its_restart_limit_is_given_up_and_the_host_carries_on() {
    let mut profile = IsolationProfile::default();
    profile.max_restarts = Some(1);
    profile.restart_backoff_ms = Some(1);
    let (host, _dir) = host(&[], |b, _| {
        let mut policy = policy(&["events.subscribe:escape.**".to_owned()]);
        policy.isolation_defaults(profile);
        b.policy(policy).runner(runner());
    });
    let escape = host
        .load_unsigned_with(
            switchboard_tests::test_plugin("escape"),
            &options(Mode::Isolated),
        )
        .unwrap();
    escape.start().unwrap();
    let hello = load(&host, "hello", Mode::InProcess);
    let segfault = escape.command::<(), ()>("segfault").unwrap();
    // A crash is restarted (the next call waits for the new runner), and a call it serves
    // clears the count …
    assert_eq!(code(segfault.call(&())), "SB1501");
    assert_eq!(call::<u64, u64>(&escape, "sleep_ms", &0).unwrap(), 0);
    assert_eq!(code(segfault.call(&())), "SB1501");
    // … but two crashes with no call served between them are one too many.
    assert_eq!(code(segfault.call(&())), "SB1501");
    wait_for(&escape, State::Failed);
    let later = code(call::<u64, u64>(&escape, "sleep_ms", &0));
    assert!(["SB0304", "SB1503"].contains(&later.as_str()), "{later}");
    let rows = host
        .audit()
        .query(
            &AuditFilter::new()
                .plugin("escape")
                .kind(AuditKind::Isolation),
        )
        .unwrap();
    let subjects: Vec<&str> = rows.iter().map(|r| r.subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "runner-exited",
            "runner-restarted",
            "runner-exited",
            "runner-restarted",
            "runner-exited",
            "runner-given-up"
        ]
    );
    // The host and its other plugin never noticed.
    assert_eq!(
        call::<String, String>(&hello, "greet", &"Ada".into()).unwrap(),
        "Hello, Ada!"
    );
}

#[test]
fn a_policy_requiring_a_layer_this_machine_lacks_refuses_the_plugin() {
    let Some(missing) = switchboard_host::isolation::sandbox::probe()
        .into_iter()
        .find(|l| !l.active)
    else {
        return; // This machine has every layer; nothing to refuse here.
    };
    let mut profile = IsolationProfile::default();
    profile.require = vec![missing.layer];
    let (host, _dir) = host(&[], |b, _| {
        let mut policy = Policy::new();
        policy.isolation_defaults(profile);
        b.policy(policy).runner(runner());
    });
    let e = host
        .load_unsigned_with(library("hello"), &options(Mode::Isolated))
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB1520", "{e}");
    assert!(host.plugin("hello").is_err(), "nothing of it stays loaded");
    // Without the requirement the same plugin loads.
    let (plain, _plain_dir) = self::host(&[], |_, _| {});
    load(&plain, "hello", Mode::Isolated);
}

#[test]
fn a_runner_that_is_not_one_is_a_coded_refusal_and_nothing_stays_loaded() {
    use std::os::unix::fs::PermissionsExt;
    let scripts = tempfile::tempdir().unwrap();
    // A program that answers: it echoes the host's init message back.
    let echo = scripts.path().join("echo-runner");
    std::fs::write(&echo, "#!/bin/sh\nexec /bin/cat >&0\n").unwrap();
    std::fs::set_permissions(&echo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let missing = std::path::PathBuf::from("/nonexistent/switchboard-runner");
    let exits = std::path::PathBuf::from("/bin/true");
    for program in [missing, exits, echo] {
        let (host, _dir) = host(&[], |b, _| {
            b.runner(RunnerCommand::binary(&program));
        });
        let e = host
            .load_unsigned_with(library("hello"), &options(Mode::Isolated))
            .unwrap_err();
        assert_eq!(e.code().to_string(), "SB1504", "{}: {e}", program.display());
        assert!(
            e.to_string().contains(&program.display().to_string()),
            "{e}"
        );
        assert!(host.plugin("hello").is_err());
        // The same plugin loads in-process on the same host.
        load(&host, "hello", Mode::InProcess);
    }
}

#[test]
fn a_plugin_forging_protocol_frames_is_killed_with_a_coded_error_and_restarted() {
    let (host, _dir) = host(&["events.subscribe:escape.**"], |_, _| {});
    let escape = host
        .load_unsigned_with(
            switchboard_tests::test_plugin("escape"),
            &options(Mode::Isolated),
        )
        .unwrap();
    escape.start().unwrap();
    let forge = escape.raw_command("forge").unwrap();
    let sleep = escape.command::<u64, u64>("sleep_ms").unwrap();
    // A frame announcing 4 GiB, a frame that does not decode, a reply to nothing.
    for forged in [
        vec![0xff, 0xff, 0xff, 0xff],
        vec![3, 0, 0, 0, 0xff, 0xff, 0xff],
        vec![2, 0, 0, 0, 9, 9],
    ] {
        let e = forge.call(&forged).unwrap_err();
        assert!(
            ["SB1505", "SB1501"].contains(&e.code().to_string().as_str()),
            "{forged:?}: {e}"
        );
        // The runner was killed and is restarted: the plugin serves again.
        assert_eq!(sleep.call(&0).unwrap(), 0);
        assert_eq!(escape.state(), State::Active);
    }
}
