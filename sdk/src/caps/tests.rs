use std::path::Path;

use proptest::prelude::*;

use super::*;

fn cap(s: &str) -> Capability {
    match s.parse() {
        Ok(c) => c,
        Err(e) => panic!("`{s}` should parse: {e}"),
    }
}

#[test]
fn every_kind_parses_by_name_and_displays_back() {
    for k in CapabilityKind::ALL {
        let c = cap(k.as_str());
        assert_eq!(c.kind(), k);
        assert_eq!(c.to_string(), k.as_str());
        assert!(c.is_widest());
    }
}

#[test]
fn scoped_capabilities_round_trip() {
    for s in [
        "fs.read:/srv/data/**",
        "fs.write:/tmp/*/out",
        "fs.read:/",
        "net.connect:api.example.com:443",
        "net.connect:*.example.com:8000-8100",
        "net.connect:[::1]:8080",
        "net.connect:localhost:*",
        "events.publish:plugin.hello.*",
        "events.subscribe:plugin.**",
        "service.call:billing",
        "service.provide:hello.*",
        "env:APP_*",
        "env:HOME",
    ] {
        assert_eq!(cap(s).to_string(), s, "{s}");
    }
}

#[test]
fn equivalent_spellings_display_canonically() {
    assert_eq!(cap("fs.read:/**").to_string(), "fs.read");
    assert_eq!(cap("net.connect:*:*").to_string(), "net.connect");
    assert_eq!(
        cap("net.connect:Example.COM").to_string(),
        "net.connect:example.com:*"
    );
    assert_eq!(cap("fs.read:/a/**/*").to_string(), "fs.read:/a/*/**");
    assert_eq!(cap("env:*"), Capability::Env(NamePattern::any()));
}

#[test]
fn bad_patterns_are_refused_with_a_code() {
    for (s, code) in [
        ("fs.reed", "SB0401"),
        ("filesystem", "SB0401"),
        ("fs.read:relative/path", "SB0402"),
        ("fs.read:/a/../b", "SB0402"),
        ("fs.read:/a/./b", "SB0402"),
        ("fs.read:/a//b", "SB0402"),
        ("fs.read:/a/b/", "SB0402"),
        ("fs.read:/a/*.txt", "SB0402"),
        ("fs.write:/a/\0", "SB0402"),
        ("events.publish:plugin..x", "SB0402"),
        ("events.publish:plugin.he*", "SB0402"),
        ("events.publish:plugin.a b", "SB0402"),
        ("events.subscribe:", "SB0402"),
        ("net.connect:example.com:99999", "SB0402"),
        ("net.connect:example.com:90-80", "SB0402"),
        ("net.connect:exa mple.com", "SB0402"),
        ("net.connect:[nope]:1", "SB0402"),
        ("env:A*B", "SB0402"),
        ("env:", "SB0402"),
        ("service.call:a/b", "SB0402"),
        ("kv:mine", "SB0403"),
        ("secrets:x", "SB0403"),
        ("config.read:x", "SB0403"),
        ("process.spawn:/bin/sh", "SB0403"),
    ] {
        let e = s.parse::<Capability>().expect_err(s);
        assert_eq!(e.code().to_string(), code, "{s}: {e}");
        assert!(!e.next_step().is_empty());
    }
}

#[test]
fn unknown_names_suggest_the_closest() {
    let e = "fs.reed".parse::<Capability>().unwrap_err();
    assert_eq!(
        e,
        CapabilityError::UnknownName {
            name: "fs.reed".into(),
            suggestion: Some("fs.read")
        }
    );
    assert_eq!(e.next_step(), "write `fs.read`");
}

#[test]
fn dot_dot_and_relative_paths_never_match() {
    let c = cap("fs.read:/srv/data/**");
    assert!(c.allows(&Access::ReadFile(Path::new("/srv/data/x"))));
    assert!(!c.allows(&Access::ReadFile(Path::new("/srv/data/../etc/passwd"))));
    // `Path` drops inner `.` components: `/srv/data/./x` is `/srv/data/x`.
    assert!(c.allows(&Access::ReadFile(Path::new("/srv/data/./x"))));
    assert!(!c.allows(&Access::ReadFile(Path::new("srv/data/x"))));
}

#[test]
fn a_single_star_is_one_segment() {
    let c = cap("fs.read:/srv/*");
    assert!(c.allows(&Access::ReadFile(Path::new("/srv/a"))));
    assert!(!c.allows(&Access::ReadFile(Path::new("/srv/a/b"))));
    assert!(!c.allows(&Access::ReadFile(Path::new("/srv"))));
}

#[test]
fn topics_outside_the_pattern_are_refused() {
    let c = cap("events.publish:plugin.hello.*");
    assert!(c.allows(&Access::Publish("plugin.hello.greeted")));
    assert!(!c.allows(&Access::Publish("plugin.wordcount.greeted")));
    assert!(!c.allows(&Access::Publish("plugin.hello.a.b")));
    assert!(!c.allows(&Access::Publish("plugin.hello.*")));
}

#[test]
fn subscriptions_broader_than_granted_are_refused() {
    let c = cap("events.subscribe:plugin.hello.*");
    assert!(c.allows(&Access::Subscribe("plugin.hello.greeted")));
    assert!(c.allows(&Access::Subscribe("plugin.hello.*")));
    assert!(!c.allows(&Access::Subscribe("plugin.hello.**")));
    assert!(!c.allows(&Access::Subscribe("plugin.*.greeted")));
    assert!(!c.allows(&Access::Subscribe("not a pattern")));
}

#[test]
fn network_patterns() {
    let c = cap("net.connect:*.example.com:443");
    assert!(c.allows(&Access::Connect {
        host: "api.example.com",
        port: 443
    }));
    assert!(c.allows(&Access::Connect {
        host: "a.b.EXAMPLE.com",
        port: 443
    }));
    assert!(!c.allows(&Access::Connect {
        host: "example.com",
        port: 443
    }));
    assert!(!c.allows(&Access::Connect {
        host: "evilexample.com",
        port: 443
    }));
    assert!(!c.allows(&Access::Connect {
        host: "api.example.com",
        port: 80
    }));
    let v6 = cap("net.connect:[::1]:8080");
    assert!(v6.allows(&Access::from_parts("net.connect", "[::1]:8080").unwrap()));
}

#[test]
fn names_and_prefixes() {
    let c = cap("env:APP_*");
    assert!(c.allows(&Access::Env("APP_MODE")));
    assert!(!c.allows(&Access::Env("HOME")));
    assert!(cap("env:APP_*").covers(&cap("env:APP_MODE")));
    assert!(!cap("env:APP_MODE").covers(&cap("env:APP_*")));
    assert!(cap("env:APP_*").overlaps(&cap("env:APP_M*")));
    assert!(!cap("service.call:a").overlaps(&cap("service.call:b")));
}

#[test]
fn kinds_never_cover_each_other() {
    assert!(!cap("fs.read").covers(&cap("fs.write:/x")));
    assert!(!cap("kv").covers(&cap("secrets")));
    assert!(cap("kv").covers(&cap("kv")));
    assert!(!cap("fs.read").allows(&Access::WriteFile(Path::new("/x"))));
}

#[test]
fn accesses_parse_from_their_wire_parts() {
    assert_eq!(Access::from_parts("kv", "").unwrap(), Access::Kv);
    assert_eq!(
        Access::from_parts("fs.read", "/a").unwrap(),
        Access::ReadFile(Path::new("/a"))
    );
    assert_eq!(
        Access::from_parts("kv", "x")
            .unwrap_err()
            .code()
            .to_string(),
        "SB0403"
    );
    assert_eq!(
        Access::from_parts("fs.read", "")
            .unwrap_err()
            .code()
            .to_string(),
        "SB0402"
    );
    assert_eq!(
        Access::from_parts("net.connect", "nohost")
            .unwrap_err()
            .code()
            .to_string(),
        "SB0402"
    );
    assert_eq!(
        Access::from_parts("nope", "")
            .unwrap_err()
            .code()
            .to_string(),
        "SB0401"
    );
}

#[test]
fn serde_uses_the_text_form() {
    let c = cap("fs.read:/srv/**");
    let json = serde_json::to_string(&c).unwrap();
    assert_eq!(json, "\"fs.read:/srv/**\"");
    let back: Capability = serde_json::from_str(&json).unwrap();
    assert_eq!(back, c);
    assert!(serde_json::from_str::<Capability>("\"kv:x\"").is_err());
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        Just("**".to_owned()),
        "[a-z0-9_-]{1,6}",
    ]
}

fn capability_text() -> impl Strategy<Value = String> {
    let path =
        || proptest::collection::vec(segment(), 0..5).prop_map(|s| format!("/{}", s.join("/")));
    let topic = || proptest::collection::vec(segment(), 1..5).prop_map(|s| s.join("."));
    let name = "[A-Za-z0-9_.-]{1,8}\\*?";
    let host = prop_oneof![
        Just("*".to_owned()),
        "[a-z][a-z0-9-]{0,6}(\\.[a-z]{2,4}){0,2}",
        "\\*\\.[a-z]{1,6}\\.[a-z]{2,3}",
        Just("[::1]".to_owned()),
    ];
    let port = prop_oneof![
        Just(String::new()),
        Just(":*".to_owned()),
        (0u16..).prop_map(|p| format!(":{p}")),
        (0u16..1000, 0u16..1000).prop_map(|(a, b)| format!(":{a}-{}", a + b)),
    ];
    prop_oneof![
        path().prop_map(|p| format!("fs.read:{p}")),
        path().prop_map(|p| format!("fs.write:{p}")),
        (host, port).prop_map(|(h, p)| format!("net.connect:{h}{p}")),
        topic().prop_map(|t| format!("events.publish:{t}")),
        topic().prop_map(|t| format!("events.subscribe:{t}")),
        name.prop_map(|n| format!("service.call:{n}")),
        name.prop_map(|n| format!("env:{n}")),
        Just("kv".to_owned()),
        Just("process.spawn".to_owned()),
    ]
}

proptest! {
    #[test]
    fn parse_display_round_trips(text in capability_text()) {
        let c: Capability = text.parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        let shown = c.to_string();
        let again: Capability = shown.parse().map_err(|e| TestCaseError::fail(format!("{shown}: {e}")))?;
        prop_assert_eq!(&again, &c);
        prop_assert_eq!(again.to_string(), shown);
        prop_assert!(c.covers(&c));
        prop_assert!(Capability::widest(c.kind()).covers(&c));
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
        let _ = text.parse::<Capability>();
    }
}
