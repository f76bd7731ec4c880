//! Lifecycle: transitions, history, and panics in every entry point contained.

use switchboard_host::{Error, LifecycleError, State};
use switchboard_tests::{canary_lock, dev_host, library};

#[test]
fn start_stop_and_history() {
    let (host, _d) = dev_host();
    let h = host.load_unsigned(library("wordcount")).unwrap();
    assert_eq!(h.state(), State::Loaded);
    h.start().unwrap();
    h.stop().unwrap();
    h.start().unwrap();
    let states: Vec<State> = h.history().iter().map(|t| t.to).collect();
    use State::*;
    assert_eq!(
        states,
        [Loaded, Starting, Active, Stopping, Stopped, Starting, Active]
    );
    assert_eq!(h.history()[1].from, Some(Loaded));
}

#[test]
fn invalid_transitions_are_refused_with_a_code() {
    let (host, _d) = dev_host();
    let h = host.load_unsigned(library("wordcount")).unwrap();
    let e = h.stop().unwrap_err();
    assert_eq!(Error::from(e).code().to_string(), "SB0306");
    h.start().unwrap();
    let e = h.start().unwrap_err();
    assert!(matches!(
        e,
        LifecycleError::InvalidTransition {
            from: State::Active,
            to: State::Starting,
            ..
        }
    ));
    assert_eq!(
        h.state(),
        State::Active,
        "a refused transition changes nothing"
    );
}

#[test]
fn panic_in_a_command_fails_the_plugin_and_nothing_else() {
    let (host, _d) = dev_host();
    let hello = host.load_unsigned(library("hello")).unwrap();
    let wc = host.load_unsigned(library("wordcount")).unwrap();
    hello.start().unwrap();
    wc.start().unwrap();
    let crash = hello.command::<(), ()>("crash").unwrap();
    let e = crash.call(&()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0101");
    assert!(e.to_string().contains("hello crashed on purpose"), "{e}");
    assert_eq!(hello.state(), State::Failed);
    let greet = hello.command::<String, String>("greet").unwrap();
    let e = greet.call(&"x".into()).unwrap_err();
    assert_eq!(e.code().to_string(), "SB0304", "later calls: PluginFailed");
    assert!(matches!(
        hello.health(),
        switchboard_host::Health::Unhealthy(_)
    ));
    let who = wc.command::<(), String>("whoami").unwrap();
    assert_eq!(
        who.call(&()).unwrap(),
        "wordcount",
        "the other plugin keeps working"
    );
}

#[test]
fn panic_in_start_fails_the_plugin() {
    let _g = canary_lock();
    let (host, _d) = dev_host();
    let h = host.load_unsigned(library("canary")).unwrap();
    std::env::set_var("SWITCHBOARD_CANARY_PANIC_IN_START", "1");
    let r = h.start();
    std::env::remove_var("SWITCHBOARD_CANARY_PANIC_IN_START");
    let e = r.unwrap_err();
    assert_eq!(Error::from(e).code().to_string(), "SB0308");
    assert_eq!(h.state(), State::Failed);
    let sing = h.command::<(), String>("sing").unwrap();
    assert_eq!(sing.call(&()).unwrap_err().code().to_string(), "SB0304");
    // The host goes on: another plugin loads and runs.
    let wc = host.load_unsigned(library("wordcount")).unwrap();
    wc.start().unwrap();
}

#[test]
fn panic_in_stop_fails_the_plugin() {
    let _g = canary_lock();
    let (host, _d) = dev_host();
    let h = host.load_unsigned(library("canary")).unwrap();
    h.start().unwrap();
    h.command::<(), ()>("panic_on_stop")
        .unwrap()
        .call(&())
        .unwrap();
    let e = h.stop().unwrap_err();
    assert!(
        e.to_string().contains("canary panicked in stop on purpose"),
        "{e}"
    );
    assert_eq!(h.state(), State::Failed);
    let last = h.history().last().cloned().unwrap();
    assert_eq!(last.to, State::Failed);
    assert!(last.reason.unwrap().contains("stop hook failed"));
    host.remove("canary").unwrap();
    assert!(host.plugin("canary").is_err());
}

#[test]
fn dropping_the_host_stops_active_plugins() {
    let (host, _d) = dev_host();
    let h = host.load_unsigned(library("wordcount")).unwrap();
    h.start().unwrap();
    drop(host);
    assert_eq!(h.state(), State::Stopped);
}
