//! Compatibility: semver edge cases (each a named case), the ABI rule, platforms, host API
//! names, the embedded-manifest comparison, and a property test against an oracle written
//! here from the specifications (semver.org's precedence, cargo's range operators), sharing no
//! code with the `semver` crate that `version_matches` uses.

use proptest::prelude::*;
use switchboard_sdk::manifest::{Format, Manifest};

use super::*;

fn m(range: &str) -> bool {
    version_matches(
        range,
        HOST_VERSION_UNDER_TEST
            .with(|v| v.borrow().clone())
            .as_str(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

thread_local! {
    static HOST_VERSION_UNDER_TEST: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn host(v: &str) {
    HOST_VERSION_UNDER_TEST.with(|h| *h.borrow_mut() = v.to_owned());
}

macro_rules! case {
    ($name:ident: $range:literal accepts $($yes:literal),* ; rejects $($no:literal),*) => {
        #[test]
        fn $name() {
            $( host($yes); assert!(m($range), "{} should accept {}", $range, $yes); )*
            $( host($no); assert!(!m($range), "{} should reject {}", $range, $no); )*
        }
    };
}

case!(caret_major: "^2" accepts "2.0.0", "2.9.9"; rejects "1.9.9", "3.0.0");
case!(caret_minor: "^2.1" accepts "2.1.0", "2.99.0"; rejects "2.0.9", "3.0.0");
case!(caret_patch: "^2.1.3" accepts "2.1.3", "2.2.0"; rejects "2.1.2", "3.0.0");
case!(caret_zero_minor: "^0.3" accepts "0.3.0", "0.3.9"; rejects "0.4.0", "0.2.9");
case!(caret_zero_patch: "^0.0.3" accepts "0.0.3"; rejects "0.0.4", "0.0.2");
case!(caret_zero_zero: "^0.0" accepts "0.0.0", "0.0.9"; rejects "0.1.0");
case!(bare_version_is_caret: "1.2" accepts "1.2.0", "1.9.0"; rejects "2.0.0", "1.1.9");
case!(tilde_minor: "~1.4" accepts "1.4.0", "1.4.99"; rejects "1.5.0", "1.3.9");
case!(tilde_patch: "~1.4.2" accepts "1.4.2", "1.4.9"; rejects "1.4.1", "1.5.0");
case!(tilde_major: "~1" accepts "1.0.0", "1.9.0"; rejects "2.0.0");
case!(exact: "=1.2.3" accepts "1.2.3"; rejects "1.2.4", "1.2.2");
case!(exact_partial: "=1.2" accepts "1.2.0", "1.2.7"; rejects "1.3.0");
case!(greater: ">1.2.3" accepts "1.2.4", "9.0.0"; rejects "1.2.3");
case!(greater_eq: ">=1.2.3" accepts "1.2.3", "2.0.0"; rejects "1.2.2");
case!(less: "<2.0.0" accepts "1.99.99"; rejects "2.0.0", "2.0.1");
case!(less_eq: "<=2.0.0" accepts "2.0.0"; rejects "2.0.1");
case!(greater_partial: ">1.2" accepts "1.3.0"; rejects "1.2.9", "1.2.0");
case!(less_eq_partial: "<=1.2" accepts "1.2.9"; rejects "1.3.0");
case!(comma_range: ">=1.2, <1.5" accepts "1.2.0", "1.4.9"; rejects "1.5.0", "1.1.0");
case!(comma_three: ">=1, <3, >=1.5" accepts "1.5.0", "2.9.9"; rejects "1.4.9", "3.0.0");
case!(star: "*" accepts "0.0.1", "99.0.0"; rejects "1.0.0-alpha");
case!(x_wildcard_minor: "1.x" accepts "1.0.0", "1.9.9"; rejects "2.0.0");
case!(star_wildcard_patch: "1.2.*" accepts "1.2.0", "1.2.99"; rejects "1.3.0");
case!(x_wildcard_patch: "1.2.x" accepts "1.2.5"; rejects "1.1.5");
case!(prerelease_excluded_by_default: "^1.0" accepts "1.0.0"; rejects "1.1.0-beta.1", "1.0.0-rc.1");
case!(prerelease_named_same_triple: ">=1.0.0-beta.2" accepts "1.0.0-beta.2", "1.0.0-beta.10", "1.0.0-rc.1", "1.0.0"; rejects "1.0.0-beta.1", "1.0.1-alpha");
case!(prerelease_other_triple_rejected: "^1.0.0-alpha" accepts "1.0.0-alpha", "1.5.0"; rejects "1.1.0-alpha", "2.0.0-alpha");
case!(prerelease_ordering_numeric: ">1.0.0-alpha.2, <1.0.0" accepts "1.0.0-alpha.10"; rejects "1.0.0-alpha.1");
case!(prerelease_exact: "=2.0.0-rc.1" accepts "2.0.0-rc.1"; rejects "2.0.0-rc.2", "2.0.0");
case!(build_metadata_ignored_in_version: "=1.2.3" accepts "1.2.3+build.5", "1.2.3+other"; rejects "1.2.4+build");
case!(build_metadata_in_range_ignored: ">=1.2.3+abc" accepts "1.2.3", "1.2.4"; rejects "1.2.2");
case!(caret_with_prerelease_upper: "^1.2.3-beta" accepts "1.2.3-beta", "1.2.3", "1.9.0"; rejects "1.2.4-beta", "2.0.0");
case!(zero_prerelease_is_below_its_release: ">=0.0.0" accepts "0.0.0"; rejects "0.0.0-0");
case!(tilde_zero: "~0" accepts "0.0.0", "0.9.9"; rejects "1.0.0");
case!(whitespace_tolerated: " >= 1.0 , < 2 " accepts "1.5.0"; rejects "2.0.0");

#[test]
fn malformed_ranges_are_errors() {
    for r in ["^^1", ">=", "1.2.3.4", "one", ">=1 <2 ||", "~>1"] {
        assert!(version_matches(r, "1.0.0").is_err(), "{r} should not parse");
    }
}

#[test]
fn leading_v_is_rejected_as_range() {
    // `v1.2.3` is a tag name, not semver: a range written with it is an error, never a
    // silently different range.
    for r in [
        "v1.2.3",
        "^v1.2",
        ">=v1.0.0",
        "~v1",
        "=v2.0.0",
        ">=1.0.0, <v2",
    ] {
        assert!(version_matches(r, "1.2.3").is_err(), "{r} should not parse");
        assert!(describe_range(r).is_err(), "{r} should not be described");
    }
    // Control: the same ranges without the `v` parse.
    for r in ["1.2.3", "^1.2", ">=1.0.0", "~1", "=2.0.0", ">=1.0.0, <2"] {
        assert!(version_matches(r, "1.2.3").is_ok(), "{r} should parse");
    }
}

#[test]
fn malformed_versions_are_errors() {
    for v in ["1.0", "v1.0.0", "01.0.0", "1.0.0-"] {
        assert!(version_matches("*", v).is_err(), "{v} should not parse");
    }
}

#[test]
fn describe_ranges() {
    assert_eq!(describe_range("^2.1").unwrap(), ">=2.1.0, <3.0.0");
    assert_eq!(describe_range("~1").unwrap(), ">=1.0.0, <2.0.0");
    assert_eq!(describe_range(">=1.2, <1.5").unwrap(), ">=1.2.0, <1.5.0");
    assert_eq!(describe_range("=1.2.3").unwrap(), "=1.2.3");
    assert_eq!(describe_range("1.2.*").unwrap(), ">=1.2.0, <1.3.0");
    assert_eq!(describe_range("^0.0.3").unwrap(), ">=0.0.3, <0.0.4");
    assert_eq!(describe_range(">1.2").unwrap(), ">1.2.*");
}

#[test]
fn abi_rule() {
    assert!(sdk_abi_compatible((SDK_ABI_MAJOR, 0)));
    assert!(sdk_abi_compatible((SDK_ABI_MAJOR, SDK_ABI_MINOR)));
    assert!(!sdk_abi_compatible((SDK_ABI_MAJOR, SDK_ABI_MINOR + 1)));
    assert!(!sdk_abi_compatible((SDK_ABI_MAJOR + 1, 0)));
    assert!(!sdk_abi_compatible((0, 0)));
}

fn manifest(extra: &str) -> Manifest {
    Manifest::parse(
        &format!("name = \"w\"\nversion = \"1.0.0\"\n{extra}"),
        Format::Toml,
    )
    .unwrap()
}

fn codes_of(d: &[Diagnostic]) -> Vec<&str> {
    d.iter().map(|d| d.code.as_str()).collect()
}

fn profile(version: &str) -> HostProfile {
    HostProfile::new("my-editor", version)
}

#[test]
fn host_api_in_range_passes() {
    let m = manifest("[requires]\nhost_api = { name = \"my-editor\", version = \"^2.1\" }");
    assert!(check_manifest(&m, &profile("2.4.0")).is_empty());
}

#[test]
fn host_api_newer_than_range_lists_accepted_versions() {
    let m = manifest("[requires]\nhost_api = { name = \"my-editor\", version = \"^2.1\" }");
    let d = check_manifest(&m, &profile("3.0.0"));
    assert_eq!(codes_of(&d), ["SB1102"]);
    assert_eq!(d[0].field, "requires.host_api.version");
    assert!(d[0].message.contains(">=2.1.0, <3.0.0"), "{}", d[0].message);
    assert!(d[0].message.contains("this host is 3.0.0"));
}

#[test]
fn host_api_prerelease_host_needs_a_prerelease_range() {
    let m = manifest("[requires]\nhost_api = { name = \"my-editor\", version = \"^2\" }");
    assert_eq!(
        codes_of(&check_manifest(&m, &profile("2.5.0-beta.1"))),
        ["SB1102"]
    );
    let m = manifest(
        "[requires]\nhost_api = { name = \"my-editor\", version = \">=2.5.0-beta.1, <3\" }",
    );
    assert!(check_manifest(&m, &profile("2.5.0-beta.1")).is_empty());
}

#[test]
fn host_api_other_name() {
    let m = manifest("[requires]\nhost_api = { name = \"other-app\", version = \"*\" }");
    let d = check_manifest(&m, &profile("1.0.0"));
    assert_eq!(codes_of(&d), ["SB1101"]);
}

#[test]
fn sdk_abi_in_manifest() {
    assert!(check_manifest(
        &manifest("[requires]\nsdk_abi = \"1.0\""),
        &profile("1.0.0")
    )
    .is_empty());
    assert_eq!(
        codes_of(&check_manifest(
            &manifest("[requires]\nsdk_abi = \"2.0\""),
            &profile("1.0.0")
        )),
        ["SB0204"]
    );
    assert_eq!(
        codes_of(&check_manifest(
            &manifest("[requires]\nsdk_abi = \"1.7\""),
            &profile("1.0.0")
        )),
        ["SB0205"]
    );
}

#[test]
fn platforms() {
    let here = current_target();
    assert!(check_manifest(
        &manifest(&format!("platforms = [\"{here}\"]")),
        &profile("1.0.0")
    )
    .is_empty());
    let d = check_manifest(
        &manifest("platforms = [\"riscv64gc-unknown-none-elf\"]"),
        &profile("1.0.0"),
    );
    assert_eq!(codes_of(&d), ["SB1103"]);
    assert!(
        check_manifest(&manifest(""), &profile("1.0.0")).is_empty(),
        "no platforms: any"
    );
}

fn embedded() -> EmbeddedManifest {
    serde_json::from_str(
        r#"{"format":1,"name":"w","version":"1.0.0","description":"","sdk_abi":"1.0",
            "commands":[{"name":"a","request":"string@1","response":"bytes"}],"capabilities":["kv"]}"#,
    )
    .unwrap()
}

const MATCHING: &str = "capabilities = [\"kv\"]\n[requires]\nsdk_abi = \"1.0\"\n\
    [[provides.commands]]\nname = \"a\"\nrequest = \"string@1\"\nresponse = \"bytes\"";

#[test]
fn embedded_manifest_matches() {
    assert!(check_embedded(&manifest(MATCHING), &embedded()).is_empty());
}

#[test]
fn embedded_mismatch_names_the_first_field() {
    let mut e = embedded();
    e.version = "1.0.1".into();
    assert_eq!(check_embedded(&manifest(MATCHING), &e)[0].field, "version");
    let mut e = embedded();
    e.commands[0].response = "string@1".into();
    assert_eq!(
        check_embedded(&manifest(MATCHING), &e)[0].field,
        "provides.commands[0].response"
    );
    let mut e = embedded();
    e.capabilities.push("secrets".into());
    let d = check_embedded(&manifest(MATCHING), &e);
    assert_eq!(
        (d[0].code.as_str(), d[0].field.as_str()),
        ("SB1104", "capabilities")
    );
    let mut e = embedded();
    e.name = "x".into();
    assert_eq!(check_embedded(&manifest(MATCHING), &e)[0].field, "name");
}

/// The oracle: semver.org §11 precedence and cargo's documented range operators, for the
/// grammar the strategies below generate — comparators on full versions (optionally with a
/// prerelease) joined by commas, or one wildcard (`*`, `I.*`, `I.J.x`) alone.
mod oracle {
    use std::cmp::Ordering;

    /// A prerelease identifier: numeric ones compare as numbers and sort below alphanumeric
    /// ones (§11.4.1–3).
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Ident {
        Num(u64),
        Alpha(String),
    }

    impl Ord for Ident {
        fn cmp(&self, other: &Self) -> Ordering {
            match (self, other) {
                (Ident::Num(a), Ident::Num(b)) => a.cmp(b),
                (Ident::Num(_), Ident::Alpha(_)) => Ordering::Less,
                (Ident::Alpha(_), Ident::Num(_)) => Ordering::Greater,
                (Ident::Alpha(a), Ident::Alpha(b)) => a.as_bytes().cmp(b.as_bytes()),
            }
        }
    }

    impl PartialOrd for Ident {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct V {
        pub triple: (u64, u64, u64),
        pre: Vec<Ident>,
    }

    impl V {
        /// `MAJOR.MINOR.PATCH[-PRE][+BUILD]`; build metadata is dropped (§10).
        pub fn parse(s: &str) -> V {
            let s = s.split('+').next().unwrap_or(s);
            let (core, pre) = match s.split_once('-') {
                Some((c, p)) => (c, p),
                None => (s, ""),
            };
            let n: Vec<u64> = core.split('.').map(|x| x.parse().unwrap()).collect();
            V {
                triple: (n[0], n[1], n[2]),
                pre: if pre.is_empty() {
                    Vec::new()
                } else {
                    pre.split('.')
                        .map(|i| match i.parse() {
                            Ok(n) => Ident::Num(n),
                            Err(_) => Ident::Alpha(i.to_owned()),
                        })
                        .collect()
                },
            }
        }

        /// `a.b.c-0`: below every other version of that triple (the least prerelease).
        fn floor(a: u64, b: u64, c: u64) -> V {
            V {
                triple: (a, b, c),
                pre: vec![Ident::Num(0)],
            }
        }

        pub fn is_pre(&self) -> bool {
            !self.pre.is_empty()
        }
    }

    impl Ord for V {
        fn cmp(&self, other: &Self) -> Ordering {
            self.triple.cmp(&other.triple).then_with(|| {
                match (self.pre.is_empty(), other.pre.is_empty()) {
                    (true, true) => Ordering::Equal,
                    // A prerelease sorts below its release (§11.3).
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    // Identifier by identifier; a longer list wins a tie (§11.4.4).
                    (false, false) => self.pre.cmp(&other.pre),
                }
            })
        }
    }

    impl PartialOrd for V {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }

    /// One comparator as the versions it admits: `lower <= v < upper`, or `v == exact`.
    fn admits(op: &str, p: &V, v: &V) -> bool {
        let (a, b, c) = p.triple;
        let below = |upper: V| p <= v && *v < upper;
        match op {
            "=" => v == p,
            ">" => v > p,
            ">=" => v >= p,
            "<" => v < p,
            "<=" => v <= p,
            "~" => below(V::floor(a, b + 1, 0)),
            // Caret (also a bare version): the leftmost non-zero part may not change.
            _ if a > 0 => below(V::floor(a + 1, 0, 0)),
            _ if b > 0 => below(V::floor(0, b + 1, 0)),
            _ => below(V::floor(0, 0, c + 1)),
        }
    }

    /// Whether `version` is in `range`.
    pub fn matches(range: &str, version: &str) -> bool {
        let v = V::parse(version);
        let range = range.trim();
        // Wildcards: releases whose given parts match (no prerelease is ever named by one).
        if range == "*" {
            return !v.is_pre();
        }
        if let Some(major) = range.strip_suffix(".*") {
            if !major.contains('.') {
                return !v.is_pre() && v.triple.0 == major.parse::<u64>().unwrap();
            }
        }
        if let Some(mm) = range.strip_suffix(".x") {
            let (a, b) = mm.split_once('.').unwrap();
            return !v.is_pre()
                && (v.triple.0, v.triple.1) == (a.parse().unwrap(), b.parse().unwrap());
        }
        let comparators: Vec<(&str, V)> = range
            .split(',')
            .map(|c| {
                let c = c.trim();
                let split = c.find(|ch: char| ch.is_ascii_digit()).unwrap();
                (&c[..split], V::parse(&c[split..]))
            })
            .collect();
        // A prerelease is admitted only when a comparator names a prerelease of its own
        // triple (cargo's rule), and then like any other version.
        if v.is_pre()
            && !comparators
                .iter()
                .any(|(_, p)| p.is_pre() && p.triple == v.triple)
        {
            return false;
        }
        comparators.iter().all(|(op, p)| admits(op, p, &v))
    }

    #[test]
    fn precedence_follows_the_spec_example() {
        // semver.org §11.4's example chain, in order.
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "2.0.0",
            "2.1.0",
            "2.1.1",
        ];
        for pair in chain.windows(2) {
            assert!(V::parse(pair[0]) < V::parse(pair[1]), "{pair:?}");
        }
        assert_eq!(V::parse("1.0.0+a"), V::parse("1.0.0+b"));
        assert!(V::floor(1, 0, 0) < V::parse("1.0.0-0.1"));
    }

    #[test]
    fn oracle_agrees_with_the_named_cases() {
        // Spot checks written from the documentation, not from either implementation.
        assert!(matches("^1.2.3", "1.9.0") && !matches("^1.2.3", "2.0.0"));
        assert!(matches("^0.2.3", "0.2.9") && !matches("^0.2.3", "0.3.0"));
        assert!(matches("^0.0.3", "0.0.3") && !matches("^0.0.3", "0.0.4"));
        assert!(matches("~1.2.3", "1.2.9") && !matches("~1.2.3", "1.3.0"));
        assert!(!matches("^1.0.0", "1.1.0-alpha"));
        assert!(matches(">=1.0.0-beta.2", "1.0.0-beta.11"));
        assert!(!matches(">=1.0.0-beta.2", "1.0.1-alpha"));
        assert!(!matches("^1.2.3-beta, <2.0.0", "2.0.0-alpha"));
        assert!(matches("1.2.x", "1.2.7") && !matches("1.2.x", "1.2.7-rc.1"));
    }
}

fn arb_pre() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        4 => Just(""),
        1 => Just("-0"),
        1 => Just("-1"),
        1 => Just("-alpha"),
        1 => Just("-alpha.1"),
        1 => Just("-alpha.10"),
        1 => Just("-alpha.beta"),
        1 => Just("-beta.2"),
        1 => Just("-beta.11"),
        1 => Just("-rc.1"),
    ]
}

fn arb_version() -> impl Strategy<Value = String> {
    (0u64..4, 0u64..4, 0u64..4, arb_pre()).prop_map(|(a, b, c, pre)| format!("{a}.{b}.{c}{pre}"))
}

/// A version to test, sometimes with build metadata (which must not matter).
fn arb_tested_version() -> impl Strategy<Value = String> {
    (
        arb_version(),
        prop_oneof![3 => Just(""), 1 => Just("+build.5")],
    )
        .prop_map(|(v, build)| format!("{v}{build}"))
}

fn arb_comparator() -> impl Strategy<Value = String> {
    let op = prop_oneof![
        Just("^"),
        Just("~"),
        Just("="),
        Just(">"),
        Just(">="),
        Just("<"),
        Just("<="),
        Just("")
    ];
    (op, arb_version()).prop_map(|(o, v)| format!("{o}{v}"))
}

fn arb_range() -> impl Strategy<Value = String> {
    prop_oneof![
        arb_comparator(),
        (arb_comparator(), arb_comparator()).prop_map(|(a, b)| format!("{a}, {b}")),
        (arb_comparator(), arb_comparator(), arb_comparator())
            .prop_map(|(a, b, c)| format!("{a}, {b}, {c}")),
        (0u64..4).prop_map(|a| format!("{a}.*")),
        (0u64..4, 0u64..4).prop_map(|(a, b)| format!("{a}.{b}.x")),
        Just("*".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn decision_equals_the_spec_oracle(range in arb_range(), version in arb_tested_version()) {
        let expected = oracle::matches(&range, &version);
        prop_assert_eq!(version_matches(&range, &version), Ok(expected), "{} on {}", range, version);
        // And the host API check agrees with it (the host's own version carries no build).
        let release = version.split('+').next().unwrap_or(&version).to_owned();
        let m = manifest(&format!("[requires]\nhost_api = {{ name = \"my-editor\", version = \"{range}\" }}"));
        prop_assert_eq!(
            check_manifest(&m, &profile(&release)).is_empty(),
            oracle::matches(&range, &release)
        );
    }

    #[test]
    fn described_range_accepts_what_the_range_accepts(range in arb_range(), (a, b, c) in (0u64..5, 0u64..5, 0u64..5)) {
        // The description is an equivalent range for release versions.
        let v = Version::new(a, b, c);
        let described = describe_range(&range).unwrap();
        prop_assume!(described != "any version" && !described.contains('*'));
        let original = VersionReq::parse(&range).unwrap().matches(&v);
        let again = VersionReq::parse(&described).unwrap().matches(&v);
        prop_assert_eq!(original, again, "{} described as {}", range, described);
    }
}
