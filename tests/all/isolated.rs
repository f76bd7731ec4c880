//! Isolated mode (SPEC S7.2, ARCHITECTURE D13): the same plugin library in a runner process —
//! the same calls, services proxied to the host, the runner's death contained.

use hello::{AddRequest, AddResponse, Payload};
use switchboard_host::isolation::{Mode, RunnerCommand};
use switchboard_host::{Host, LoadOptions, PluginHandle, State};
use switchboard_tests::{host_with, library};

/// The runner binary the tests start (`tests/bin/isolated_runner.rs`).
fn runner() -> RunnerCommand {
    RunnerCommand::binary(env!("CARGO_BIN_EXE_isolated_runner"))
}

fn isolated() -> LoadOptions {
    let mut options = LoadOptions::new();
    options.isolation(Mode::Isolated);
    options
}

/// A host with the test runner, and `package` loaded isolated and started.
fn started(package: &str) -> (Host, PluginHandle, tempfile::TempDir) {
    let (host, dir) = host_with(|b, _| {
        b.runner(runner());
    });
    let plugin = host
        .load_unsigned_with(library(package), &isolated())
        .unwrap();
    plugin.start().unwrap();
    (host, plugin, dir)
}

#[test]
fn an_isolated_plugin_answers_typed_and_raw_calls_from_another_process() {
    let (_host, hello, _d) = started("hello");
    let isolation = hello.isolation();
    assert_eq!(isolation.mode, Mode::Isolated);
    let pid = isolation.runner_pid.unwrap();
    assert_ne!(pid, std::process::id());
    let greet = hello.command::<String, String>("greet").unwrap();
    assert_eq!(greet.call(&"Ada".into()).unwrap(), "Hello, Ada!");
    let add = hello.command::<AddRequest, AddResponse>("add").unwrap();
    assert_eq!(
        add.call(&AddRequest { a: 2, b: 40 }).unwrap(),
        AddResponse { sum: 42, calls: 1 }
    );
    let rev = hello.command::<Payload, Payload>("reverse").unwrap();
    let data: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
    let out = rev.call(&Payload { data: data.clone() }).unwrap();
    assert_eq!(out.data, data.iter().rev().copied().collect::<Vec<_>>());
    let upper = hello.raw_command("upper").unwrap();
    assert_eq!(upper.call(b"abc").unwrap(), b"ABC");
    let e = greet.call(&"   ".into()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0100");
    assert_eq!(e.next_step(), "pass a non-empty name");
    assert_eq!(hello.state(), State::Active);
}
