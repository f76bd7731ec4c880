//! Loading: every refusal has its own code, and none lets plugin code run first.

use switchboard_host::{Error, Host, LoadError};
use switchboard_tests::{
    arm_canary, canary_lock, current_sdk_abi_field, dev_host, library, patched_copy,
};

fn load_error(r: Result<switchboard_host::PluginHandle, Error>) -> Error {
    match r {
        Ok(h) => panic!("expected a refusal, loaded {}", h.name()),
        Err(e) => e,
    }
}

#[test]
fn canary_marker_proves_code_ran_when_loaded() {
    // The control for every "no code ran" test below: a real load does write the marker.
    let _g = canary_lock();
    let (host, dir) = dev_host();
    let marker = arm_canary(dir.path());
    host.load_unsigned(library("canary")).unwrap();
    assert!(
        marker.exists(),
        "loading the canary must run its constructor"
    );
}

#[test]
fn a_file_that_is_not_a_library_is_refused() {
    let (host, dir) = dev_host();
    let text = dir.path().join("notes.so");
    std::fs::write(&text, "just some text, not ELF").unwrap();
    let e = load_error(host.load_unsigned(&text));
    assert_eq!(e.code().to_string(), "SB0201");
    assert!(matches!(e, Error::Load(LoadError::NotALibrary { .. })));
    assert!(e.next_step().contains("cdylib"));
}

#[test]
fn a_missing_file_is_a_read_error() {
    let (host, dir) = dev_host();
    let e = load_error(host.load_unsigned(dir.path().join("nope.so")));
    assert_eq!(e.code().to_string(), "SB0211");
}

#[test]
fn a_library_without_the_manifest_section_is_refused_before_code_runs() {
    let _g = canary_lock();
    let (host, dir) = dev_host();
    let marker = arm_canary(dir.path());
    let lib = patched_copy(
        &library("canary"),
        dir.path(),
        b"switchboard_manifest",
        b"xwitchboard_manifest",
    );
    let e = load_error(host.load_unsigned(&lib));
    assert_eq!(e.code().to_string(), "SB0202");
    assert!(
        !marker.exists(),
        "no plugin code may run before the refusal"
    );
}

#[test]
fn an_sdk_abi_major_mismatch_is_refused_before_code_runs() {
    let _g = canary_lock();
    let (host, dir) = dev_host();
    let marker = arm_canary(dir.path());
    let lib = patched_copy(
        &library("canary"),
        dir.path(),
        &current_sdk_abi_field(),
        b"\"sdk_abi\":\"9.0\"",
    );
    let e = load_error(host.load_unsigned(&lib));
    assert_eq!(e.code().to_string(), "SB0204");
    assert!(e.to_string().contains("9.0"), "{e}");
    assert!(!marker.exists());
}

#[test]
fn an_sdk_abi_minor_from_the_future_is_refused_before_code_runs() {
    let _g = canary_lock();
    let (host, dir) = dev_host();
    let marker = arm_canary(dir.path());
    let lib = patched_copy(
        &library("canary"),
        dir.path(),
        &current_sdk_abi_field(),
        b"\"sdk_abi\":\"1.9\"",
    );
    let e = load_error(host.load_unsigned(&lib));
    assert_eq!(e.code().to_string(), "SB0205");
    assert!(!marker.exists());
}

#[test]
fn a_manifest_section_that_does_not_parse_is_refused_before_code_runs() {
    let _g = canary_lock();
    let (host, dir) = dev_host();
    let marker = arm_canary(dir.path());
    let lib = patched_copy(
        &library("canary"),
        dir.path(),
        b"{\"format\":1,",
        b"{\"format\":#,",
    );
    let e = load_error(host.load_unsigned(&lib));
    assert_eq!(e.code().to_string(), "SB0203");
    assert!(
        e.to_string().contains("line 1 column"),
        "the parser's position is reported: {e}"
    );
    assert!(!marker.exists());
}

#[test]
fn a_name_already_loaded_is_refused_before_code_runs() {
    let _g = canary_lock();
    let (host, dir) = dev_host();
    let marker = arm_canary(dir.path());
    host.load_unsigned(library("canary")).unwrap();
    std::fs::remove_file(&marker).unwrap();
    let e = load_error(host.load_unsigned(library("canary")));
    assert_eq!(e.code().to_string(), "SB0206");
    assert!(e.next_step().contains("canary"));
    assert!(!marker.exists(), "the second copy's code must not run");
}

#[test]
fn unsigned_libraries_are_refused_without_the_dangerous_opt_in() {
    let _g = canary_lock();
    let dir = tempfile::tempdir().unwrap();
    let marker = arm_canary(dir.path());
    let mut b = Host::builder();
    b.data_dir(dir.path());
    let host = b.build().unwrap();
    let e = load_error(host.load_unsigned(library("canary")));
    assert_eq!(e.code().to_string(), "SB0209");
    assert!(e.next_step().contains("load_unsigned_libraries"));
    assert!(!marker.exists());
}

#[test]
fn two_plugins_load_side_by_side_and_answer_with_their_own_code() {
    let (host, _dir) = dev_host();
    let hello = host.load_unsigned(library("hello")).unwrap();
    let wc = host.load_unsigned(library("wordcount")).unwrap();
    hello.start().unwrap();
    wc.start().unwrap();
    let greet = hello.command::<String, String>("greet").unwrap();
    assert_eq!(greet.call(&"Ada".into()).unwrap(), "Hello, Ada!");
    let who = wc.command::<(), String>("whoami").unwrap();
    assert_eq!(who.call(&()).unwrap(), "wordcount");
    assert_eq!(host.plugin_names(), ["hello", "wordcount"]);
}

#[test]
fn two_hosts_in_one_process_each_get_their_own_copy() {
    let (a, _da) = dev_host();
    let (b, _db) = dev_host();
    let ha = a.load_unsigned(library("hello")).unwrap();
    let hb = b.load_unsigned(library("hello")).unwrap();
    ha.start().unwrap();
    hb.start().unwrap();
    let add_a = ha
        .command::<hello::AddRequest, hello::AddResponse>("add")
        .unwrap();
    let add_b = hb
        .command::<hello::AddRequest, hello::AddResponse>("add")
        .unwrap();
    let req = hello::AddRequest { a: 1, b: 1 };
    assert_eq!(add_a.call(&req).unwrap().calls, 1);
    assert_eq!(add_a.call(&req).unwrap().calls, 2);
    // A separate copy of the library, with its own state: not the first one handed back.
    assert_eq!(add_b.call(&req).unwrap().calls, 1);
}

#[test]
fn a_removed_plugin_can_be_loaded_again_as_a_fresh_copy() {
    let (host, _dir) = dev_host();
    let h = host.load_unsigned(library("hello")).unwrap();
    h.start().unwrap();
    let add = h
        .command::<hello::AddRequest, hello::AddResponse>("add")
        .unwrap();
    add.call(&hello::AddRequest { a: 1, b: 2 }).unwrap();
    host.remove("hello").unwrap();
    assert!(
        add.call(&hello::AddRequest { a: 1, b: 2 }).is_err(),
        "old handles see it removed"
    );
    let again = host.load_unsigned(library("hello")).unwrap();
    again.start().unwrap();
    let add = again
        .command::<hello::AddRequest, hello::AddResponse>("add")
        .unwrap();
    assert_eq!(
        add.call(&hello::AddRequest { a: 1, b: 2 }).unwrap().calls,
        1
    );
}

#[test]
fn names_equal_up_to_case_and_dashes_are_one_name() {
    let (host, _dir) = dev_host();
    host.load_unsigned(library("hello")).unwrap();
    assert_eq!(host.plugin("HELLO").unwrap().name(), "hello");
}
