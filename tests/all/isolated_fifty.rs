//! Fifty isolated instances of one test plugin side by side in one host (issue 16): each keeps
//! its own KV, secrets, files and events, and none can read another's — neither through the
//! SDK (the host's checks) nor, for files, through raw system calls (the sandbox).
//!
//! The host names a plugin by its manifest, so the fifty are one build of `escape` with its
//! embedded manifest renamed fifty times ([`renamed_library`]), each copy's grants and
//! subscription narrowed to its own directory and topics.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use escape::{Found, Outcome, Pair, Seen};
use switchboard_host::caps::{Approval, ApprovalRequest, Scope};
use switchboard_host::isolation::{Mode, RunnerCommand};
use switchboard_host::{CallError, LoadOptions, PluginHandle, State};
use switchboard_sdk::Message;
use switchboard_tests::{host_with, renamed_library, test_plugin};

const INSTANCES: usize = 50;

/// Threads loading them.
const LOADERS: usize = 4;

/// What the escape plugin's grants cover as built.
const BUILT_DIR: &str = "/tmp/switchboard-escape";

fn call<Req: Message, Resp: Message>(
    plugin: &PluginHandle,
    command: &str,
    request: &Req,
) -> Result<Resp, CallError> {
    plugin.command::<Req, Resp>(command)?.call(request)
}

fn pair(key: impl Into<String>, value: impl Into<String>) -> Pair {
    Pair {
        key: key.into(),
        value: value.into(),
    }
}

fn file_of(run: &Path, i: usize) -> PathBuf {
    run.join(format!("{i:02}")).join("file.txt")
}

#[test]
fn fifty_isolated_instances_keep_their_kv_secrets_files_and_events_to_themselves() {
    std::fs::create_dir_all(BUILT_DIR).unwrap();
    let run = tempfile::Builder::new()
        .prefix("fifty-")
        .tempdir_in(BUILT_DIR)
        .unwrap();
    let (host, _dir) = host_with(|b, _| {
        b.runner(RunnerCommand::binary(env!("CARGO_BIN_EXE_isolated_runner")))
            .approver(|_: &ApprovalRequest<'_>| Approval::Allow(Scope::Session));
    });
    let built = std::fs::read(switchboard_cli::examples::stripped_copy(
        &test_plugin("escape"),
        run.path(),
    ))
    .unwrap();
    let mut options = LoadOptions::new();
    options.isolation(Mode::Isolated);
    let copies = tempfile::tempdir().unwrap();
    let load = |i: usize| -> PluginHandle {
        let own_dir = run.path().join(format!("{i:02}"));
        std::fs::create_dir_all(&own_dir).unwrap();
        let own_dir = own_dir.to_str().unwrap().to_owned();
        let name = format!("escape-{i:02}");
        let bytes = renamed_library(&built, "escape", &name, |item| {
            item.replace(BUILT_DIR, &own_dir)
                .replace("escape.", &format!("escape.{i:02}."))
        });
        let path = copies.path().join(format!("{name}.so"));
        std::fs::write(&path, bytes).unwrap();
        let plugin = host.load_unsigned_with(&path, &options).unwrap();
        // The host holds the verified bytes; the copy on disk is no longer needed.
        std::fs::remove_file(&path).unwrap();
        plugin.start().unwrap();
        assert_eq!(plugin.name(), name);
        plugin
    };
    let started = Instant::now();
    // Loaded by a few threads at once, as an application starting many plugins would.
    let mut plugins: Vec<(usize, PluginHandle)> = std::thread::scope(|s| {
        let load = &load;
        let loaders: Vec<_> = (0..LOADERS)
            .map(|w| {
                s.spawn(move || {
                    (w..INSTANCES)
                        .step_by(LOADERS)
                        .map(|i| (i, load(i)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        loaders
            .into_iter()
            .flat_map(|l| l.join().unwrap())
            .collect()
    });
    plugins.sort_by_key(|(i, _)| *i);
    let plugins: Vec<PluginHandle> = plugins.into_iter().map(|(_, p)| p).collect();
    let spawned = started.elapsed();
    let pids: std::collections::BTreeSet<u32> = plugins
        .iter()
        .map(|p| p.isolation().runner_pid.unwrap())
        .collect();
    assert_eq!(pids.len(), INSTANCES, "one runner each");

    // Each writes its own KV entry, secret, file and event, under the same key names.
    for (i, p) in plugins.iter().enumerate() {
        call::<Pair, ()>(p, "kv_put", &pair("mine", format!("kv-{i:02}"))).unwrap();
        call::<Pair, ()>(p, "secret_put", &pair("mine", format!("secret-{i:02}"))).unwrap();
        let file = file_of(run.path(), i);
        call::<Pair, ()>(
            p,
            "sdk_write",
            &pair(file.to_str().unwrap(), format!("file-{i:02}")),
        )
        .unwrap();
        call::<Pair, u32>(
            p,
            "publish",
            &pair(format!("escape.{i:02}.note"), format!("note-{i:02}")),
        )
        .unwrap();
    }
    // Published after every note: once an instance has seen its own `end`, every note that
    // could have reached it has.
    for (i, p) in plugins.iter().enumerate() {
        call::<Pair, u32>(p, "publish", &pair(format!("escape.{i:02}.end"), "end")).unwrap();
    }

    for (i, p) in plugins.iter().enumerate() {
        let other = (i + 1) % INSTANCES;
        // KV and secrets: the same key names, each instance its own value.
        let kv: Found = call(p, "kv_get", &"mine".to_owned()).unwrap();
        assert_eq!(kv.value.as_deref(), Some(format!("kv-{i:02}").as_str()));
        let secret: Found = call(p, "secret_get", &"mine".to_owned()).unwrap();
        assert_eq!(
            secret.value.as_deref(),
            Some(format!("secret-{i:02}").as_str())
        );
        assert_eq!(
            host.kv(p.name()).get("mine").unwrap().as_deref(),
            Some(format!("kv-{i:02}").as_bytes())
        );
        // Files: its own through the host and raw; another's neither way.
        let own = file_of(run.path(), i);
        let read: String = call(p, "sdk_read", &own.to_str().unwrap().to_owned()).unwrap();
        assert_eq!(read, format!("file-{i:02}"));
        let raw: Outcome = call(p, "read_raw", &own.to_str().unwrap().to_owned()).unwrap();
        assert!(raw.allowed, "{raw:?}");
        let theirs = file_of(run.path(), other).to_str().unwrap().to_owned();
        let e = call::<String, String>(p, "sdk_read", &theirs).unwrap_err();
        assert!(e.code().to_string().starts_with("SB04"), "{e}");
        let raw: Outcome = call(p, "read_raw", &theirs).unwrap();
        assert!(
            !raw.allowed,
            "instance {i} read instance {other}'s file: {raw:?}"
        );
        // Events: it cannot publish on another's topics, and saw only its own.
        let e = call::<Pair, u32>(
            p,
            "publish",
            &pair(format!("escape.{other:02}.note"), "forged"),
        )
        .unwrap_err();
        assert!(e.code().to_string().starts_with("SB04"), "{e}");
        let deadline = Instant::now() + Duration::from_secs(60);
        let seen = loop {
            let seen: Seen = call(p, "events_seen", &()).unwrap();
            if seen.events.iter().any(|e| e.ends_with("=end")) || Instant::now() > deadline {
                break seen;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(
            seen.events,
            [
                format!("escape.{i:02}.note=note-{i:02}"),
                format!("escape.{i:02}.end=end")
            ]
        );
        assert_eq!(p.state(), State::Active);
    }
    report(spawned);
    for p in &plugins {
        host.remove(p.name()).unwrap();
    }
}

#[expect(
    clippy::print_stderr,
    reason = "the time it took, in the test's output"
)]
fn report(spawned: Duration) {
    eprintln!("loaded and started {INSTANCES} isolated instances in {spawned:?}");
}
