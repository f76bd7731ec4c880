//! Calls: typed, raw, errors with codes, contracts checked at bind time, concurrency.

use hello::{AddRequest, AddResponse, Payload};
use switchboard_host::{CallError, State};
use switchboard_tests::{dev_host, library};

fn started_hello() -> (
    switchboard_host::Host,
    switchboard_host::PluginHandle,
    tempfile::TempDir,
) {
    let (host, dir) = dev_host();
    let h = host.load_unsigned(library("hello")).unwrap();
    h.start().unwrap();
    (host, h, dir)
}

#[test]
fn typed_string_struct_and_payload_calls() {
    let (_host, h, _d) = started_hello();
    let greet = h.command::<String, String>("greet").unwrap();
    assert_eq!(greet.call(&"Grace".into()).unwrap(), "Hello, Grace!");
    let add = h.command::<AddRequest, AddResponse>("add").unwrap();
    assert_eq!(
        add.call(&AddRequest { a: 2, b: 40 }).unwrap(),
        AddResponse { sum: 42, calls: 1 }
    );
    let rev = h.command::<Payload, Payload>("reverse").unwrap();
    // Around the length from which a `Vec<u8>` field is gathered rather than copied (1024).
    for len in [0u32, 1023, 1024, 1025, 4096, 100_000] {
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let out = rev.call(&Payload { data: data.clone() }).unwrap();
        assert_eq!(
            out.data,
            data.iter().rev().copied().collect::<Vec<_>>(),
            "{len}"
        );
        let back = rev
            .call_with(&Payload { data: data.clone() }, |p| p.data.len())
            .unwrap();
        assert_eq!(back as u32, len);
    }
}

/// Typed calls of every size around the small-call windows (SDK ABI 1.4, 256 bytes each on the
/// caller's stack): requests and responses that fit, a response that spills past its window, a
/// request too long for its window (the thread's buffers), a plugin error; between them `add`,
/// whose counter says each call ran it exactly once. (That a spilled response's command runs
/// once is the SDK's `a_response_past_the_window_spills_whole_and_the_command_runs_once`.)
#[test]
fn typed_calls_around_the_small_call_windows() {
    let (_host, h, _d) = started_hello();
    let greet = h.command::<String, String>("greet").unwrap();
    let add = h.command::<AddRequest, AddResponse>("add").unwrap();
    let mut calls = 0;
    for len in (0..=300).chain([511, 512, 4096, 70_000]) {
        let name = "x".repeat(len);
        if len == 0 {
            let e = greet.call(&name).unwrap_err();
            assert!(e.to_string().contains("no name given"), "{e}");
            continue;
        }
        // "Hello, " + name + "!": spills past 256 bytes from a 248-byte name (its request,
        // 250 bytes with the length varint, still fits).
        assert_eq!(
            greet.call(&name).unwrap(),
            format!("Hello, {name}!"),
            "{len}"
        );
        calls += 1;
        assert_eq!(add.call(&AddRequest { a: 1, b: 2 }).unwrap().calls, calls);
    }
    // A handle whose response spilled once takes the reused buffers from then on; small and
    // large answers stay right, and other handles keep their window.
    let fresh = h.command::<String, String>("greet").unwrap();
    for len in [300, 3, 260, 1] {
        let name = "y".repeat(len);
        assert_eq!(fresh.call(&name).unwrap(), format!("Hello, {name}!"));
        calls += 1;
        assert_eq!(add.call(&AddRequest { a: 1, b: 2 }).unwrap().calls, calls);
    }
    assert_eq!(h.state(), State::Active);
}

#[test]
fn raw_commands_write_into_the_callers_buffer() {
    let (_host, h, _d) = started_hello();
    let checksum = h.raw_command("checksum").unwrap();
    assert!(checksum.is_raw());
    let mut out = Vec::with_capacity(64);
    checksum.call_into(&[1, 2, 3, 250], &mut out).unwrap();
    assert_eq!(out, 256u64.to_le_bytes());
    checksum.call_into(&[7], &mut out).unwrap();
    assert_eq!(
        out,
        7u64.to_le_bytes(),
        "the previous response is replaced, not appended to"
    );
    let upper = h.raw_command("upper").unwrap();
    assert_eq!(upper.call(b"abc").unwrap(), b"ABC");
}

#[test]
fn a_plugin_error_keeps_its_code_and_next_step_and_the_plugin_stays_active() {
    let (_host, h, _d) = started_hello();
    let greet = h.command::<String, String>("greet").unwrap();
    let e = greet.call(&"   ".into()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0100");
    assert_eq!(e.next_step(), "pass a non-empty name");
    assert_eq!(h.state(), State::Active);
}

#[test]
fn contract_mismatch_is_refused_at_bind_time_naming_both_ids() {
    let (_host, h, _d) = started_hello();
    let e = h.command::<String, AddResponse>("add").unwrap_err();
    assert_eq!(e.code().to_string(), "SB0303");
    let text = e.to_string();
    assert!(
        text.contains("hello::AddRequest@1#") && text.contains("string@1"),
        "{text}"
    );
    let e = h.command::<AddRequest, String>("add").unwrap_err();
    assert!(matches!(
        e,
        CallError::ContractMismatch {
            side: "response",
            ..
        }
    ));
}

#[test]
fn unknown_command_lists_the_available_ones() {
    let (host, h, _d) = started_hello();
    let e = h.raw_command("gret").unwrap_err();
    assert_eq!(e.code().to_string(), "SB0302");
    assert!(e.to_string().contains("greet, add"), "{e}");
    let e = host
        .command::<String, String>("nobody", "greet")
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0301");
}

#[test]
fn garbage_request_bytes_are_a_coded_error_not_a_crash() {
    let (_host, h, _d) = started_hello();
    let add = h.raw_command("add").unwrap();
    let e = add
        .call(&[
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ])
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0102");
    assert_eq!(
        h.state(),
        State::Active,
        "bad input does not fail the plugin"
    );
}

#[test]
fn calls_before_start_are_refused() {
    let (host, _d) = dev_host();
    let h = host.load_unsigned(library("hello")).unwrap();
    let greet = h.command::<String, String>("greet").unwrap();
    let e = greet.call(&"x".into()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0305");
    assert!(e.next_step().contains("start"));
}

#[test]
fn many_threads_call_one_plugin_without_locks() {
    let (_host, h, _d) = started_hello();
    let add = h.command::<AddRequest, AddResponse>("add").unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let add = add.clone();
            std::thread::spawn(move || {
                for i in 0..500 {
                    let r = add.call(&AddRequest { a: t, b: i }).unwrap();
                    assert_eq!(r.sum, t + i);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let last = add.call(&AddRequest { a: 0, b: 0 }).unwrap();
    assert_eq!(
        last.calls,
        8 * 500 + 1,
        "every call reached the one instance"
    );
}

#[test]
fn plugin_logs_reach_the_hosts_sink() {
    let dir = tempfile::tempdir().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let mut b = switchboard_host::Host::builder();
    b.data_dir(dir.path())
        .host_api("switchboard-demo", "0.1.0")
        .on_log(move |r| {
            sink.lock()
                .unwrap()
                .push(format!("{}:{}:{}", r.plugin, r.level, r.message))
        });
    b.dangerous().load_unsigned_libraries();
    let host = b.build().unwrap();
    let h = host.load_unsigned(library("hello")).unwrap();
    h.start().unwrap();
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        ["hello:info:hello is ready"]
    );
}

#[test]
fn buffered_raw_calls_reuse_the_callers_buffer() {
    let (_host, h, _d) = started_hello();
    let checksum = h.raw_command("checksum").unwrap();
    let mut buf = switchboard_host::ResponseBuffer::new();
    assert_eq!(
        checksum.call_buffered(&[1, 2, 3], &mut buf).unwrap(),
        6u64.to_le_bytes()
    );
    assert_eq!(
        checksum.call_buffered(&[200, 100], &mut buf).unwrap(),
        300u64.to_le_bytes()
    );
    let e = h
        .raw_command("add")
        .unwrap()
        .call_buffered(&[0xff; 11], &mut buf)
        .unwrap_err();
    assert_eq!(e.code().to_string(), "SB0102");
}
