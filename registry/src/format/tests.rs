//! Hostile index lines and files: refused with a coded error, never a panic.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

fn good() -> Value {
    json!({
        "format": 1,
        "name": "hello",
        "version": "1.2.0",
        "dependencies": [{"name": "geo", "req": "^1", "optional": false}],
        "host_api": {"name": "my-app", "req": "^1.4"},
        "sdk_abi": "1.0",
        "capabilities": ["kv"],
        "sha256": "a".repeat(64),
        "size": 1234,
        "signer": "0123456789ABCDEF",
        "signature": "untrusted comment: x\nRW...\n",
        "trust": "self-signed",
        "channel": "ga",
        "yanked": null,
        "deprecated": null,
        "published": "2026-12-02T08:00:00Z",
        "description": "says hello",
        "keywords": ["greeting"],
        "categories": ["demo"],
        "license": "MIT",
        "repository": null,
        "maintainers": ["Ann"]
    })
}

fn parse(v: &Value) -> Result<ParsedLine, FormatError> {
    IndexLine::parse(&serde_json::to_vec(v).unwrap(), &|| "line".into())
}

fn with(key: &str, value: Value) -> Value {
    let mut v = good();
    v[key] = value;
    v
}

#[test]
fn a_good_line_round_trips() {
    let ParsedLine::Release(line) = parse(&good()).unwrap() else {
        panic!("not a release")
    };
    assert_eq!(line.name, "hello");
    let back = IndexLine::parse(&line.to_json_line(), &|| "x".into()).unwrap();
    assert_eq!(back, ParsedLine::Release(line));
}

#[test]
fn huge_lines_are_refused_unparsed() {
    let v = with("description", Value::String("x".repeat(70_000)));
    assert!(matches!(parse(&v), Err(FormatError::TooLarge { .. })));
    let mut file = serde_json::to_vec(&good()).unwrap();
    file.resize(MAX_INDEX_FILE_BYTES as usize + 1, b' ');
    assert_eq!(
        IndexFile::parse("hello", &file)
            .unwrap_err()
            .code()
            .to_string(),
        "SB1300"
    );
}

#[test]
fn deep_json_is_refused() {
    let mut deep = Value::Null;
    for _ in 0..20 {
        deep = json!([deep]);
    }
    let e = parse(&with("keywords", deep)).unwrap_err();
    assert_eq!(e.code().to_string(), "SB1301", "{e}");
    let line = format!("{}{}", "{\"a\":".repeat(50_000), "1");
    assert!(IndexLine::parse(line.as_bytes(), &|| "x".into()).is_err());
}

#[test]
fn wrong_types_are_refused() {
    for (key, value) in [
        ("size", json!("1234")),
        ("size", json!(-1)),
        ("size", json!(1.5)),
        ("version", json!(1)),
        ("version", json!("one")),
        ("capabilities", json!("kv")),
        ("channel", json!("stable")),
        ("trust", json!("unsigned")),
        ("trust", json!("trusted")),
        ("yanked", json!(true)),
        ("sha256", json!("A".repeat(64))),
        ("sha256", json!("abc")),
        ("sdk_abi", json!("1")),
        ("published", json!("yesterday")),
        (
            "dependencies",
            json!([{"name": "geo", "req": "not a range"}]),
        ),
        ("host_api", json!({"name": "x", "req": ">>1"})),
        ("format", json!("1")),
    ] {
        let e = parse(&with(key, value.clone())).unwrap_err();
        assert_eq!(e.code().to_string(), "SB1302", "{key} = {value}: {e}");
    }
}

#[test]
fn unknown_fields_are_refused_unless_the_format_is_newer() {
    let e = parse(&with("surprise", json!(1))).unwrap_err();
    assert!(e.to_string().contains("surprise"), "{e}");
    let mut newer = with("surprise", json!(1));
    newer["format"] = json!(2);
    assert_eq!(parse(&newer).unwrap(), ParsedLine::Newer(2));
    let mut missing = good();
    missing.as_object_mut().unwrap().remove("sha256");
    assert!(parse(&missing).is_err());
}

#[test]
fn names_with_paths_or_upper_case_are_refused() {
    for name in ["../etc", "a/b", "Hello", "..", "", "x.y", "hello\n"] {
        let e = parse(&with("name", json!(name))).unwrap_err();
        assert_eq!(e.code().to_string(), "SB1303", "{name:?}: {e}");
    }
    let e = parse(&with(
        "dependencies",
        json!([{"name": "../../x", "req": "^1"}]),
    ))
    .unwrap_err();
    assert_eq!(e.code().to_string(), "SB1303");
}

#[test]
fn an_index_file_holds_one_plugin_once_per_version() {
    let line = serde_json::to_vec(&good()).unwrap();
    let mut twice = line.clone();
    twice.push(b'\n');
    twice.extend_from_slice(&line);
    assert_eq!(
        IndexFile::parse("hello", &twice)
            .unwrap_err()
            .code()
            .to_string(),
        "SB1306"
    );
    // A line of another plugin in hello's file (a case alias included).
    assert!(IndexFile::parse("other", &line).is_err());
    assert!(IndexFile::parse("Hello", &line).is_err());
    let file = IndexFile::parse("hello", &line).unwrap();
    assert_eq!(IndexFile::parse("hello", &file.to_bytes()).unwrap(), file);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = IndexFile::parse("hello", &bytes);
        let _ = RegistryConfig::parse(&bytes);
    }

    #[test]
    fn mutated_good_lines_never_panic(
        key in prop::sample::select(vec![
            "format", "name", "version", "dependencies", "host_api", "sdk_abi", "capabilities",
            "sha256", "size", "signer", "trust", "channel", "yanked", "deprecated", "published",
            "keywords", "maintainers", "unknown",
        ]),
        value in prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            ".{0,40}".prop_map(Value::String),
            prop::collection::vec(".{0,8}".prop_map(Value::String), 0..4).prop_map(Value::Array),
        ],
    ) {
        let _ = parse(&with(key, value));
    }

    #[test]
    fn truncated_lines_never_panic(cut in 0usize..400) {
        let bytes = serde_json::to_vec(&good()).unwrap();
        let cut = cut.min(bytes.len());
        let _ = IndexLine::parse(&bytes[..cut], &|| "x".into());
    }
}

#[test]
fn a_line_becomes_the_resolvers_release() {
    let mut v = with("yanked", json!({"reason": "bad"}));
    v["dependencies"] = json!([{"name": "geo", "req": "^1", "optional": true}]);
    let ParsedLine::Release(line) = parse(&v).unwrap() else {
        panic!()
    };
    let r = line.to_release().unwrap();
    assert_eq!(r.version, semver::Version::new(1, 2, 0));
    assert!(r.yanked);
    assert_eq!(r.checksum, format!("sha256:{}", "a".repeat(64)));
    assert_eq!(r.sdk_abi, (1, 0));
    assert!(r.dependencies[0].optional);
    assert_eq!(r.host_api.unwrap().name, "my-app");
}
