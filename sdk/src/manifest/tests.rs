//! Manifest validation: each case asserts the exact code and field path.

use proptest::prelude::*;

use super::{Format, Manifest};

const GOOD: &str = r#"
name = "weather"
version = "1.2.0"
description = "Forecasts for the editor"
authors = ["Ada <ada@example.com>"]
license = "MIT"
repository = "https://example.com/weather"
categories = ["utilities"]
keywords = ["forecast"]
kind = "extension"
capabilities = ["kv", "net.connect:api.example.com:443"]
platforms = ["x86_64-unknown-linux-gnu"]
sandbox = "strict"

[requires]
host_api = { name = "my-editor", version = "^2.1" }
sdk_abi = "1.0"
dependencies = { geo = "^3", maps = { version = "~1.4", optional = true } }

[[provides.commands]]
name = "forecast"
request = "weather::Query@1#0123456789abcdef"
response = "string@1"

[[provides.topics]]
name = "plugin.weather.updated"
contract = "weather::Update@2#0123456789abcdef"

[[provides.services]]
name = "weather.lookup"
contract = "bytes"

[config]
schema = { type = "object", properties = { units = { enum = ["metric", "imperial"] }, refresh = { type = "integer", minimum = 1 } }, additionalProperties = false }
defaults = { units = "metric", refresh = 30 }

[limits]
memory_mb = 64
cpu_ms = 1000
call_timeout_ms = 500
"#;

/// The (code, field) of every error for `source`.
fn errors(source: &str) -> Vec<(String, String)> {
    match Manifest::parse(source, Format::Toml) {
        Ok(_) => Vec::new(),
        Err(d) => d.into_iter().map(|d| (d.code, d.field)).collect(),
    }
}

fn with(extra: &str) -> String {
    format!("name = \"weather\"\nversion = \"1.0.0\"\n{extra}")
}

fn assert_one(source: &str, code: &str, field: &str) {
    let got = errors(source);
    assert!(
        got.iter().any(|(c, f)| c == code && f == field),
        "expected {code} at `{field}`, got {got:?}"
    );
}

#[test]
fn a_complete_manifest_is_valid() {
    let m = Manifest::parse(GOOD, Format::Toml).unwrap();
    assert_eq!(m.name, "weather");
    assert_eq!(m.requires.dependencies["geo"].range(), "^3");
    assert!(m.requires.dependencies["maps"].optional());
    assert_eq!(m.limits.memory_mb, Some(64));
}

#[test]
fn toml_and_json_forms_are_the_same_document() {
    let m = Manifest::parse(GOOD, Format::Toml).unwrap();
    let json = serde_json::to_string(&m).unwrap();
    let back = Manifest::parse(&json, Format::Json).unwrap();
    assert_eq!(m, back);
    let toml = m.to_toml_string().unwrap();
    assert_eq!(Manifest::parse(&toml, Format::Toml).unwrap(), m);
}

/// A packed streaming plugin's manifest names its chunk contract (`stream`); it parses back,
/// so the package can be signed and installed (the golden harness met this with `instrument`).
#[test]
fn a_streaming_command_keeps_its_chunk_contract_through_toml() {
    let source = with(
        "[[provides.commands]]\nname = \"generate\"\nrequest = \"string@1\"\n\
         response = \"u64@1\"\nstream = \"string@1\"\n",
    );
    let m = Manifest::parse(&source, Format::Toml).unwrap();
    assert_eq!(m.provides.commands[0].stream.as_deref(), Some("string@1"));
    let toml = m.to_toml_string().unwrap();
    assert_eq!(Manifest::parse(&toml, Format::Toml).unwrap(), m);
    assert_one(
        &with(
            "[[provides.commands]]\nname = \"g\"\nrequest = \"a\"\nresponse = \"b\"\nstream = 1\n",
        ),
        "SB1003",
        "provides.commands[0].stream",
    );
}

#[test]
fn syntax_error_has_line_and_column() {
    let d = Manifest::parse("name = \"x\"\nversion = \n", Format::Toml).unwrap_err();
    assert_eq!(d[0].code, "SB1001");
    assert_eq!(d[0].line, Some(2));
    assert!(d[0].column.is_some());
}

#[test]
fn json_syntax_error_has_line_and_column() {
    let d = Manifest::parse("{\n  \"name\": \"x\",\n  oops\n}", Format::Json).unwrap_err();
    assert_eq!(d[0].code, "SB1001");
    assert_eq!(d[0].line, Some(3));
}

#[test]
fn unknown_field_suggests_the_near_miss() {
    let d = Manifest::parse(&with("descripton = \"x\""), Format::Toml).unwrap_err();
    assert_eq!(d[0].code, "SB1002");
    assert_eq!(d[0].field, "descripton");
    assert!(
        d[0].message.contains("did you mean `description`?"),
        "{}",
        d[0].message
    );
    assert_eq!(d[0].line, Some(3));
}

#[test]
fn unknown_nested_field_has_its_full_path() {
    assert_one(
        &with("[requires]\nhost_apl = { name = \"a\", version = \"1\" }"),
        "SB1002",
        "requires.host_apl",
    );
}

#[test]
fn unknown_field_far_from_any_lists_the_fields() {
    let d = Manifest::parse(&with("zzzzzz = 1"), Format::Toml).unwrap_err();
    assert!(
        d[0].message.contains("expected one of: name, version"),
        "{}",
        d[0].message
    );
}

#[test]
fn all_problems_are_reported_in_one_pass() {
    let got = errors(&with("descripton = \"x\"\nkeywrds = []\nlicense = 3"));
    assert_eq!(got.len(), 3, "{got:?}");
}

#[test]
fn missing_name_and_version() {
    let got = errors("description = \"x\"");
    assert!(got.contains(&("SB1004".into(), "name".into())));
    assert!(got.contains(&("SB1004".into(), "version".into())));
}

#[test]
fn wrong_type_says_expected_and_found() {
    let d = Manifest::parse("name = \"w\"\nversion = 1", Format::Toml).unwrap_err();
    assert_eq!(
        (d[0].code.as_str(), d[0].field.as_str()),
        ("SB1003", "version")
    );
    assert!(d[0].message.contains("expected a string, found an integer"));
}

#[test]
fn wrong_type_in_a_list_names_the_index() {
    assert_one(&with("keywords = [\"a\", 2]"), "SB1003", "keywords[1]");
}

#[test]
fn invalid_names() {
    assert_one("name = \"2fast\"\nversion = \"1.0.0\"", "SB1005", "name");
    assert_one("name = \"wéather\"\nversion = \"1.0.0\"", "SB1005", "name");
    let long = "a".repeat(65);
    assert_one(
        &format!("name = \"{long}\"\nversion = \"1.0.0\""),
        "SB1005",
        "name",
    );
}

#[test]
fn sixty_four_characters_is_allowed() {
    let name = "a".repeat(64);
    assert!(errors(&format!("name = \"{name}\"\nversion = \"1.0.0\"")).is_empty());
}

#[test]
fn invalid_version() {
    assert_one("name = \"w\"\nversion = \"1.0\"", "SB1006", "version");
}

#[test]
fn invalid_dependency_range_has_the_version_path() {
    assert_one(
        &with("[requires.dependencies]\ngeo = { version = \">>3\" }"),
        "SB1007",
        "requires.dependencies.geo.version",
    );
    assert_one(
        &with("[requires.dependencies]\ngeo = \"~~1\""),
        "SB1007",
        "requires.dependencies.geo",
    );
}

#[test]
fn invalid_host_api_range() {
    assert_one(
        &with("[requires]\nhost_api = { name = \"ed\", version = \"two\" }"),
        "SB1007",
        "requires.host_api.version",
    );
}

#[test]
fn invalid_sdk_abi() {
    assert_one(
        &with("[requires]\nsdk_abi = \"one\""),
        "SB1013",
        "requires.sdk_abi",
    );
}

#[test]
fn self_dependency_and_same_name_twice() {
    assert_one(
        &with("[requires.dependencies]\nWeather = \"1\""),
        "SB1016",
        "requires.dependencies.Weather",
    );
    let got = errors(&with(
        "[requires.dependencies]\ngeo-data = \"1\"\ngeo_data = \"1\"",
    ));
    assert!(got.iter().any(|(c, _)| c == "SB1016"), "{got:?}");
}

#[test]
fn unknown_capability_suggests() {
    let d = Manifest::parse(
        &with("capabilities = [\"kv\", \"fs.raed:/x\"]"),
        Format::Toml,
    )
    .unwrap_err();
    assert_eq!(
        (d[0].code.as_str(), d[0].field.as_str()),
        ("SB1011", "capabilities[1]")
    );
    assert!(d[0].next_step.contains("fs.read"));
}

#[test]
fn empty_capability_scope() {
    assert_one(
        &with("capabilities = [\"env:\"]"),
        "SB1011",
        "capabilities[0]",
    );
}

#[test]
fn duplicate_command_names() {
    let src = with(
        "[[provides.commands]]\nname = \"a\"\nrequest = \"bytes\"\nresponse = \"bytes\"\n\
         [[provides.commands]]\nname = \"a\"\nrequest = \"bytes\"\nresponse = \"bytes\"",
    );
    assert_one(&src, "SB1008", "provides.commands[1].name");
}

#[test]
fn duplicate_topics() {
    let src = with(
        "[[provides.topics]]\nname = \"plugin.weather.x\"\ncontract = \"bytes\"\n\
         [[provides.topics]]\nname = \"plugin.weather.x\"\ncontract = \"bytes\"",
    );
    assert_one(&src, "SB1009", "provides.topics[1].name");
}

#[test]
fn topic_outside_namespace() {
    let src = with("[[provides.topics]]\nname = \"plugin.other.x\"\ncontract = \"bytes\"");
    assert_one(&src, "SB1021", "provides.topics[0].name");
}

#[test]
fn bad_contract_id() {
    let src = with("[[provides.commands]]\nname = \"a\"\nrequest = \"Foo\"\nresponse = \"bytes\"");
    assert_one(&src, "SB1017", "provides.commands[0].request");
}

#[test]
fn config_default_violates_schema_with_field_path() {
    let src = with(
        "[config]\nschema = { type = \"object\", properties = { port = { type = \"integer\", maximum = 65535 } } }\n\
         defaults = { port = 70000 }",
    );
    assert_one(&src, "SB1010", "config.defaults.port");
}

#[test]
fn config_default_of_wrong_type() {
    let src = with(
        "[config]\nschema = { type = \"object\", properties = { name = { type = \"string\" } } }\n\
         defaults = { name = 3 }",
    );
    assert_one(&src, "SB1010", "config.defaults.name");
}

#[test]
fn invalid_schema() {
    let src = with("[config]\nschema = { type = \"strng\" }");
    assert_one(&src, "SB1012", "config.schema.type");
}

#[test]
fn unchecked_schema_keyword_is_a_warning_only() {
    let src = with("[config]\nschema = { type = \"object\", patternProperties = {} }");
    assert!(Manifest::parse(&src, Format::Toml).is_ok());
    let (_, d) = Manifest::check(&src, Format::Toml);
    assert_eq!(d[0].code, "SB1022");
}

#[test]
fn zero_limit() {
    assert_one(
        &with("[limits]\ncall_timeout_ms = 0"),
        "SB1015",
        "limits.call_timeout_ms",
    );
}

#[test]
fn kv_quota_requests_parse_and_a_zero_request_is_refused() {
    let m = Manifest::parse(
        &with("[limits]\nkv_bytes = 4096\nkv_keys = 10"),
        Format::Toml,
    )
    .unwrap();
    assert_eq!(
        (m.limits.kv_bytes, m.limits.kv_keys),
        (Some(4096), Some(10))
    );
    assert_one(&with("[limits]\nkv_keys = 0"), "SB1015", "limits.kv_keys");
}

#[test]
fn negative_limit_is_a_type_error() {
    assert_one(
        &with("[limits]\nmemory_mb = -1"),
        "SB1003",
        "limits.memory_mb",
    );
}

#[test]
fn bad_platform() {
    assert_one(&with("platforms = [\"linux\"]"), "SB1014", "platforms[0]");
}

#[test]
fn bad_url() {
    assert_one(
        &with("repository = \"github.com/x\""),
        "SB1018",
        "repository",
    );
}

#[test]
fn bad_kind() {
    assert_one(&with("kind = \"Big Theme\""), "SB1020", "kind");
}

#[test]
fn bad_sandbox_profile() {
    let got = errors(&with("sandbox = \"loose\""));
    assert_eq!(got.len(), 1, "{got:?}");
}

#[test]
fn semantic_errors_carry_positions() {
    let d = Manifest::parse("name = \"w\"\nversion = \"x.y\"\n", Format::Toml).unwrap_err();
    assert_eq!((d[0].line, d[0].column), (Some(2), Some(11)));
}

#[test]
fn a_manifest_over_one_mebibyte_is_refused_before_parsing() {
    let big = format!(
        "name = \"w\"\nversion = \"1.0.0\"\n# {}\n",
        "x".repeat(super::MAX_MANIFEST_BYTES)
    );
    let (manifest, d) = Manifest::check(&big, Format::Toml);
    assert!(manifest.is_none());
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].code, "SB1024");
    assert!(d[0].message.contains("1 MiB"), "{}", d[0].message);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugin.toml");
    std::fs::write(&path, &big).unwrap();
    assert_eq!(super::read_file(&path).unwrap_err().code, "SB1024");
}

#[test]
fn thousands_of_unknown_keys_give_the_first_hundred_findings_and_a_count() {
    let mut source = String::from("name = \"w\"\nversion = \"1.0.0\"\n");
    for i in 0..5000 {
        source.push_str(&format!("unknown_key_{i:05} = \"{}\"\n", "x".repeat(60)));
    }
    let (_, d) = Manifest::check(&source, Format::Toml);
    assert_eq!(d.len(), super::MAX_DIAGNOSTICS + 1);
    assert_eq!(d[0].code, "SB1002");
    assert_eq!((d[99].line, d[99].column), (Some(102), Some(1)));
    let last = &d[super::MAX_DIAGNOSTICS];
    assert_eq!(last.code, "SB1025");
    assert!(last.is_error());
    assert!(
        last.message.starts_with("4900 more findings"),
        "{}",
        last.message
    );
}

proptest! {
    #[test]
    fn the_parser_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = Manifest::check(&text, Format::Toml);
        let _ = Manifest::check(&text, Format::Json);
    }

    #[test]
    fn the_parser_never_panics_on_mutated_manifests(pos in 0usize..GOOD.len(), byte in any::<u8>()) {
        let mut bytes = GOOD.as_bytes().to_vec();
        bytes[pos] = byte;
        let text = String::from_utf8_lossy(&bytes);
        let _ = Manifest::check(&text, Format::Toml);
    }
}
