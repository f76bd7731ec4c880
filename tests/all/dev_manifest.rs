//! Development loads see the manifest a package would: the crate's `plugin.toml`, embedded
//! in the library by `#[plugin]` (issue 12.8).

use switchboard_host::Policy;
use switchboard_tests::{host_with, library};

#[test]
fn load_unsigned_applies_the_crates_plugin_toml_config_defaults() {
    let (host, _dir) = host_with(|b, _| {
        let mut p = Policy::new();
        p.allow("kv".parse().unwrap());
        p.allow("config.read".parse().unwrap());
        b.policy(p);
    });
    let counter = host.load_unsigned(library("counter")).unwrap();
    counter.start().unwrap();
    let settings = counter
        .command::<(), String>("settings")
        .unwrap()
        .call(&())
        .unwrap();
    assert!(
        settings.contains("c/"),
        "the manifest's defaults: {settings}"
    );
}

#[test]
fn load_unsigned_checks_the_host_api_the_plugin_requires() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = switchboard_host::Host::builder();
    b.data_dir(dir.path()).host_api("another-app", "1.0.0");
    b.dangerous().load_unsigned_libraries();
    let host = b.build().unwrap();
    match host.load_unsigned(library("hello")) {
        Ok(_) => panic!("hello requires host API switchboard-demo"),
        Err(e) => assert_eq!(e.code().to_string(), "SB1101", "{e}"),
    }
}
