//! Resolver tests over small hand-written indexes, and property tests against a brute-force
//! oracle.

use std::borrow::Cow;

use semver::{Version, VersionReq};

use super::*;
use crate::error::{IndexError, ResolveError};
use crate::package::TrustLevel;

/// Builds an index from `(name, version, specs)`. A spec is `NAME REQ` (a dependency; `NAME?`
/// for an optional one), `host:NAME REQ`, `abi:MAJOR.MINOR` or `yanked`.
fn index(entries: &[(&str, &str, &[&str])]) -> MemoryIndex {
    let mut index = MemoryIndex::new();
    for (name, version, specs) in entries {
        // SDK ABI 1.0 unless a spec says otherwise: the test host supports 1.0 to 1.2,
        // whatever the SDK's current minor is.
        let mut release =
            Release::new(v(version), format!("sha256:{name}-{version}")).with_sdk_abi(1, 0);
        for spec in *specs {
            release = apply(release, spec);
        }
        index.add(*name, release);
    }
    index
}

fn apply(release: Release, spec: &str) -> Release {
    if spec == "yanked" {
        return release.yanked();
    }
    if let Some(abi) = spec.strip_prefix("abi:") {
        let (major, minor) = abi.split_once('.').unwrap();
        return release.with_sdk_abi(major.parse().unwrap(), minor.parse().unwrap());
    }
    let (name, req) = spec.split_once(' ').unwrap_or((spec, "*"));
    if let Some(host) = name.strip_prefix("host:") {
        return release.with_host_api(host, r(req));
    }
    release.with_dependency(dep(name, req))
}

fn dep(name: &str, req: &str) -> Dependency {
    match name.strip_suffix('?') {
        Some(name) => Dependency::optional(name, r(req)),
        None => Dependency::new(name, r(req)),
    }
}

/// A request: `["weather ^2", "maps"]`.
fn request(specs: &[&str]) -> Vec<Dependency> {
    specs
        .iter()
        .map(|s| {
            let (name, req) = s.split_once(' ').unwrap_or((s, "*"));
            dep(name, req)
        })
        .collect()
}

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

fn r(s: &str) -> VersionReq {
    VersionReq::parse(s).unwrap()
}

fn resolver(index: &MemoryIndex) -> Resolver<'_> {
    let mut resolver = Resolver::new(index);
    resolver.host_api("my-app", v("1.4.0")).sdk_abi(1, 2);
    resolver
}

fn chosen(resolution: &Resolution) -> Vec<String> {
    resolution
        .plugins()
        .map(|p| format!("{} {}", p.name, p.version()))
        .collect()
}

fn no_solution(result: Result<Resolution, ResolveError>) -> (String, String) {
    match result {
        Err(ResolveError::NoSolution {
            explanation,
            next_step,
        }) => (explanation, next_step),
        other => panic!("expected no solution, got {other:?}"),
    }
}

fn solve(index: &MemoryIndex, specs: &[&str]) -> Resolution {
    match resolver(index).resolve(&request(specs)) {
        Ok(resolution) => resolution,
        Err(e) => panic!("expected a solution, got: {e}\nnext: {}", e.next_step()),
    }
}

// --- choosing versions ---

#[test]
fn newest_version_is_chosen_when_nothing_else_decides() {
    let index = index(&[
        ("geo", "1.0.0", &[]),
        ("geo", "1.2.0", &[]),
        ("geo", "1.1.0", &[]),
    ]);
    assert_eq!(chosen(&solve(&index, &["geo"])), ["geo 1.2.0"]);
}

#[test]
fn empty_request_resolves_to_nothing() {
    let index = index(&[("geo", "1.0.0", &[])]);
    let resolution = solve(&index, &[]);
    assert!(resolution.is_empty());
    assert!(resolution.graph().load_order().is_empty());
}

#[test]
fn diamond_shares_one_version_of_the_common_dependency() {
    let index = index(&[
        ("app", "1.0.0", &["left ^1", "right ^1"]),
        ("left", "1.0.0", &["base >=1.1"]),
        ("right", "1.0.0", &["base <1.3"]),
        ("base", "1.0.0", &[]),
        ("base", "1.1.0", &[]),
        ("base", "1.2.0", &[]),
        ("base", "1.3.0", &[]),
    ]);
    let resolution = solve(&index, &["app"]);
    assert_eq!(
        chosen(&resolution),
        ["app 1.0.0", "base 1.2.0", "left 1.0.0", "right 1.0.0"]
    );
    assert_eq!(
        resolution.graph().load_order(),
        ["base", "left", "right", "app"]
    );
}

#[test]
fn diamond_backtracks_to_an_older_release_that_agrees() {
    // The newest `left` wants base 2, which `right` refuses; the solver must fall back.
    let index = index(&[
        ("app", "1.0.0", &["left", "right"]),
        ("left", "1.0.0", &["base ^1"]),
        ("left", "1.1.0", &["base ^2"]),
        ("right", "1.0.0", &["base ^1"]),
        ("base", "1.5.0", &[]),
        ("base", "2.0.0", &[]),
    ]);
    assert_eq!(
        chosen(&solve(&index, &["app"])),
        ["app 1.0.0", "base 1.5.0", "left 1.0.0", "right 1.0.0"]
    );
}

#[test]
fn deep_chain_resolves_every_level_and_loads_bottom_up() {
    let names: Vec<String> = (0..12).map(|i| format!("level{i:02}")).collect();
    let mut entries = Vec::new();
    let deps: Vec<Vec<String>> = (0..12)
        .map(|i| match names.get(i + 1) {
            Some(next) => vec![format!("{next} ^2")],
            None => vec![],
        })
        .collect();
    let specs: Vec<Vec<&str>> = deps
        .iter()
        .map(|d| d.iter().map(String::as_str).collect())
        .collect();
    for (i, name) in names.iter().enumerate() {
        entries.push((name.as_str(), "1.0.0", &specs[i][..]));
        entries.push((name.as_str(), "2.0.0", &specs[i][..]));
        entries.push((name.as_str(), "3.0.0", &specs[i][..]));
    }
    let index = index(&entries);
    let resolution = solve(&index, &["level00 ^2"]);
    assert_eq!(resolution.len(), 12);
    assert!(resolution.plugins().all(|p| p.version() == &v("2.0.0")));
    let mut bottom_up = names.clone();
    bottom_up.reverse();
    assert_eq!(resolution.graph().load_order(), bottom_up);
}

#[test]
fn same_input_gives_the_same_resolution_whatever_the_index_order() {
    let entries: &[(&str, &str, &[&str])] = &[
        ("app", "1.0.0", &["left", "right"]),
        ("left", "1.0.0", &["base ^1"]),
        ("left", "1.1.0", &["base ^2"]),
        ("right", "1.0.0", &["base ^1"]),
        ("right", "1.1.0", &["base >=1.2"]),
        ("base", "1.5.0", &[]),
        ("base", "2.0.0", &[]),
    ];
    let forward = chosen(&solve(&index(entries), &["app"]));
    let reversed: Vec<_> = entries.iter().rev().copied().collect();
    let backward = chosen(&solve(&index(&reversed), &["app"]));
    assert_eq!(forward, backward);
    assert_eq!(forward, chosen(&solve(&index(entries), &["app"])));
}

#[test]
fn two_requirements_on_one_plugin_in_a_release_both_apply() {
    let index = index(&[
        ("app", "1.0.0", &["base >=1.1", "base <1.3"]),
        ("base", "1.0.0", &[]),
        ("base", "1.2.0", &[]),
        ("base", "1.4.0", &[]),
    ]);
    assert_eq!(
        chosen(&solve(&index, &["app"])),
        ["app 1.0.0", "base 1.2.0"]
    );
}

// --- optional dependencies ---

#[test]
fn optional_dependency_is_not_installed_for_its_own_sake() {
    let index = index(&[("weather", "1.0.0", &["maps? ^1"]), ("maps", "1.0.0", &[])]);
    let resolution = solve(&index, &["weather"]);
    assert_eq!(chosen(&resolution), ["weather 1.0.0"]);
    assert!(resolution.get("weather").unwrap().dependencies.is_empty());
}

#[test]
fn optional_dependency_constrains_a_plugin_installed_anyway() {
    let index = index(&[
        ("weather", "1.0.0", &["maps? ~1.4"]),
        ("maps", "1.4.0", &[]),
        ("maps", "1.4.7", &[]),
        ("maps", "1.5.0", &[]),
        ("maps", "2.0.0", &[]),
    ]);
    let resolution = solve(&index, &["weather", "maps"]);
    assert_eq!(chosen(&resolution), ["maps 1.4.7", "weather 1.0.0"]);
    let weather = resolution.get("weather").unwrap();
    assert_eq!(weather.dependencies, ["maps"]);
    assert_eq!(weather.optional_dependencies, ["maps"]);
    assert_eq!(resolution.graph().load_order(), ["maps", "weather"]);
}

#[test]
fn optional_dependency_pulled_in_by_another_plugin_is_constrained_too() {
    let index = index(&[
        ("weather", "1.0.0", &["maps? <2"]),
        ("atlas", "1.0.0", &["maps"]),
        ("maps", "1.9.0", &[]),
        ("maps", "2.0.0", &[]),
    ]);
    assert_eq!(
        chosen(&solve(&index, &["weather", "atlas"])),
        ["atlas 1.0.0", "maps 1.9.0", "weather 1.0.0"]
    );
}

#[test]
fn optional_request_only_constrains() {
    let index = index(&[
        ("weather", "1.0.0", &["maps"]),
        ("maps", "1.0.0", &[]),
        ("maps", "2.0.0", &[]),
        ("geo", "1.0.0", &[]),
    ]);
    let resolution = solve(&index, &["weather", "maps? ^1", "geo? ^1"]);
    assert_eq!(chosen(&resolution), ["maps 1.0.0", "weather 1.0.0"]);
}

#[test]
fn optional_dependency_conflict_is_explained() {
    let index = index(&[("weather", "2.0.0", &["maps? ^2"]), ("maps", "1.4.0", &[])]);
    let (explanation, next) = no_solution(resolver(&index).resolve(&request(&["weather", "maps"])));
    assert_eq!(
        explanation,
        "Because weather works only with maps ^2 (an optional dependency) and you asked for \
         weather, maps cannot be installed.\n\
         And because you asked for maps, your request cannot be satisfied."
    );
    assert_eq!(next, "Ask for maps ^2 instead, or drop maps or weather.");
}

// --- prereleases ---

fn prerelease_index() -> MemoryIndex {
    index(&[
        ("geo", "1.0.0", &[]),
        ("geo", "1.1.0-beta.1", &[]),
        ("geo", "2.0.0-rc.1", &[]),
    ])
}

#[test]
fn prereleases_are_not_chosen_by_default() {
    assert_eq!(chosen(&solve(&prerelease_index(), &["geo"])), ["geo 1.0.0"]);
}

#[test]
fn prerelease_is_chosen_when_the_range_names_it() {
    assert_eq!(
        chosen(&solve(&prerelease_index(), &["geo ^1.1.0-beta"])),
        ["geo 1.1.0-beta.1"]
    );
}

#[test]
fn prereleases_of_one_plugin_can_be_allowed() {
    let index = index(&[
        ("geo", "1.0.0", &[]),
        ("geo", "1.1.0-beta.1", &[]),
        ("maps", "1.0.0", &[]),
        ("maps", "1.1.0-alpha.1", &[]),
    ]);
    let mut resolver = resolver(&index);
    resolver.allow_prereleases("geo");
    let resolution = resolver.resolve(&request(&["geo ^1", "maps ^1"])).unwrap();
    assert_eq!(chosen(&resolution), ["geo 1.1.0-beta.1", "maps 1.0.0"]);
}

#[test]
fn all_prereleases_can_be_allowed() {
    let index = prerelease_index();
    let mut resolver = resolver(&index);
    resolver.allow_all_prereleases();
    let resolution = resolver.resolve(&request(&["geo"])).unwrap();
    assert_eq!(chosen(&resolution), ["geo 2.0.0-rc.1"]);
}

#[test]
fn locked_prerelease_is_kept_without_asking() {
    let index = prerelease_index();
    let mut resolver = resolver(&index);
    resolver.lock("geo", v("1.1.0-beta.1"));
    let resolution = resolver.resolve(&request(&["geo ^1"])).unwrap();
    assert_eq!(chosen(&resolution), ["geo 1.1.0-beta.1"]);
}

#[test]
fn allowed_prereleases_still_respect_the_range() {
    let index = prerelease_index();
    let mut resolver = resolver(&index);
    resolver.allow_all_prereleases();
    let resolution = resolver.resolve(&request(&["geo ^1"])).unwrap();
    assert_eq!(chosen(&resolution), ["geo 1.1.0-beta.1"]);
}

// --- yanked releases ---

#[test]
fn yanked_versions_are_skipped() {
    let index = index(&[("geo", "1.0.0", &[]), ("geo", "1.1.0", &["yanked"])]);
    assert_eq!(chosen(&solve(&index, &["geo"])), ["geo 1.0.0"]);
}

#[test]
fn yanked_version_is_kept_when_locked() {
    let index = index(&[
        ("geo", "1.0.0", &[]),
        ("geo", "1.1.0", &["yanked"]),
        ("geo", "1.2.0", &[]),
    ]);
    let mut resolver = resolver(&index);
    resolver.lock("geo", v("1.1.0"));
    let resolution = resolver.resolve(&request(&["geo"])).unwrap();
    assert_eq!(chosen(&resolution), ["geo 1.1.0"]);
}

#[test]
fn dependency_matching_only_yanked_releases_is_explained() {
    let index = index(&[
        ("weather", "2.0.0", &["geo ^3"]),
        ("geo", "2.0.0", &[]),
        ("geo", "3.0.0", &["yanked"]),
    ]);
    let (explanation, next) = no_solution(resolver(&index).resolve(&request(&["weather"])));
    assert_eq!(
        explanation,
        "Because weather needs geo ^3 (geo 3.0.0 is yanked) and you asked for weather, your \
         request cannot be satisfied."
    );
    assert_eq!(
        next,
        "Wait for a release of weather that does without geo 3.0.0, or drop weather."
    );
}

// --- host API and SDK ABI ---

#[test]
fn host_api_excludes_the_newest_version() {
    let index = index(&[
        ("weather", "2.0.0", &["host:my-app ^1.2"]),
        ("weather", "3.0.0", &["host:my-app ^2"]),
    ]);
    assert_eq!(chosen(&solve(&index, &["weather"])), ["weather 2.0.0"]);
}

#[test]
fn host_api_conflict_is_explained() {
    let index = index(&[
        ("weather", "2.0.0", &["host:my-app ^1"]),
        ("weather", "3.0.0", &["host:my-app ^2"]),
    ]);
    let (explanation, next) = no_solution(resolver(&index).resolve(&request(&["weather >=3"])));
    assert_eq!(
        explanation,
        "Because weather 3.0.0 needs host API my-app ^2 (this host provides my-app 1.4.0) and \
         you asked for weather ≥ 3, your request cannot be satisfied."
    );
    assert_eq!(
        next,
        "Pin weather to 2.0.0 (its newest release for my-app 1.4.0), or upgrade the host to \
         one that provides my-app ^2."
    );
}

#[test]
fn host_api_of_another_host_is_refused() {
    let index = index(&[("weather", "1.0.0", &["host:other-app ^1"])]);
    let (explanation, _) = no_solution(resolver(&index).resolve(&request(&["weather"])));
    assert!(
        explanation.contains("needs host API other-app ^1 (this host provides my-app 1.4.0)"),
        "{explanation}"
    );
}

#[test]
fn host_without_a_host_api_refuses_plugins_that_need_one() {
    let index = index(&[
        ("weather", "1.0.0", &["host:my-app ^1"]),
        ("clock", "1.0.0", &[]),
    ]);
    let bare = Resolver::new(&index);
    assert_eq!(
        chosen(&bare.resolve(&request(&["clock"])).unwrap()),
        ["clock 1.0.0"]
    );
    let (explanation, _) = no_solution(bare.resolve(&request(&["weather"])));
    assert!(
        explanation.contains("(this host declares no host API)"),
        "{explanation}"
    );
}

#[test]
fn sdk_abi_excludes_a_newer_minor_and_another_major() {
    let index = index(&[
        ("weather", "1.0.0", &["abi:1.1"]),
        ("weather", "1.1.0", &["abi:1.3"]),
        ("weather", "2.0.0", &["abi:2.0"]),
    ]);
    // The test host supports SDK ABI 1.0 to 1.2.
    assert_eq!(chosen(&solve(&index, &["weather"])), ["weather 1.0.0"]);
}

#[test]
fn sdk_abi_conflict_is_explained() {
    let index = index(&[("weather", "2.0.0", &["abi:2.0"])]);
    let (explanation, next) = no_solution(resolver(&index).resolve(&request(&["weather"])));
    assert_eq!(
        explanation,
        "Because weather is built for SDK ABI 2.0 (this host supports SDK ABI 1.0 to 1.2) and \
         you asked for weather, your request cannot be satisfied."
    );
    assert_eq!(
        next,
        "No release of weather runs on SDK ABI 1.2: upgrade the host to one that supports SDK \
         ABI 2.0, or drop weather."
    );
}

// --- locked and installed versions ---

fn geo_versions() -> MemoryIndex {
    index(&[
        ("geo", "1.0.0", &[]),
        ("geo", "1.1.0", &[]),
        ("geo", "1.2.0", &[]),
        ("geo", "2.0.0", &[]),
    ])
}

#[test]
fn locked_version_is_preferred_over_a_newer_one() {
    let index = geo_versions();
    let mut resolver = resolver(&index);
    resolver.lock("geo", v("1.1.0"));
    assert_eq!(
        chosen(&resolver.resolve(&request(&["geo"])).unwrap()),
        ["geo 1.1.0"]
    );
}

#[test]
fn installed_version_is_preferred_over_a_newer_one() {
    let index = geo_versions();
    let mut resolver = resolver(&index);
    resolver.installed("geo", v("1.0.0"));
    assert_eq!(
        chosen(&resolver.resolve(&request(&["geo"])).unwrap()),
        ["geo 1.0.0"]
    );
}

#[test]
fn locked_version_is_preferred_over_the_installed_one() {
    let index = geo_versions();
    let mut resolver = resolver(&index);
    resolver
        .installed("geo", v("1.0.0"))
        .lock("geo", v("1.2.0"));
    assert_eq!(
        chosen(&resolver.resolve(&request(&["geo"])).unwrap()),
        ["geo 1.2.0"]
    );
}

#[test]
fn locked_version_is_upgraded_when_the_request_needs_a_newer_one() {
    let index = geo_versions();
    let mut resolver = resolver(&index);
    resolver.lock("geo", v("1.1.0"));
    assert_eq!(
        chosen(&resolver.resolve(&request(&["geo ^2"])).unwrap()),
        ["geo 2.0.0"]
    );
}

#[test]
fn locked_version_is_downgraded_when_a_new_plugin_needs_an_older_one() {
    let mut index = geo_versions();
    index.add(
        "legacy",
        Release::new(v("1.0.0"), "sha256:legacy")
            .with_sdk_abi(1, 0)
            .with_dependency(dep("geo", "<1.2")),
    );
    let mut resolver = resolver(&index);
    resolver.lock("geo", v("2.0.0"));
    assert_eq!(
        chosen(&resolver.resolve(&request(&["geo", "legacy"])).unwrap()),
        ["geo 1.1.0", "legacy 1.0.0"]
    );
}

#[test]
fn unlocking_a_plugin_lets_it_update() {
    let index = geo_versions();
    let mut resolver = resolver(&index);
    resolver.lock("geo", v("1.0.0")).unlock("geo");
    assert_eq!(
        chosen(&resolver.resolve(&request(&["geo"])).unwrap()),
        ["geo 2.0.0"]
    );
}

#[test]
fn locking_from_a_lockfile_keeps_every_version() {
    let index = index(&[
        ("weather", "1.0.0", &["geo ^1"]),
        ("weather", "1.1.0", &["geo ^1"]),
        ("geo", "1.0.0", &[]),
        ("geo", "1.5.0", &[]),
    ]);
    let mut old = resolver(&index);
    old.lock("weather", v("1.0.0")).lock("geo", v("1.0.0"));
    let first = old.resolve(&request(&["weather"])).unwrap();
    let lock = Lockfile::from_resolution(&first, |_| Provenance::new("test", TrustLevel::Unsigned));
    let mut again = resolver(&index);
    again.locked(&lock);
    let second = again.resolve(&request(&["weather"])).unwrap();
    assert_eq!(chosen(&second), ["geo 1.0.0", "weather 1.0.0"]);
    let relock =
        Lockfile::from_resolution(&second, |_| Provenance::new("test", TrustLevel::Unsigned));
    assert!(lock.check_locked(&relock).is_ok());
}

// --- conflicts ---

#[test]
fn shared_dependency_conflict_is_explained_with_a_pin() {
    let index = index(&[
        ("weather", "1.9.0", &["geo ^2"]),
        ("weather", "2.0.0", &["geo >=3"]),
        ("weather", "2.1.0", &["geo >=3"]),
        ("maps", "1.4.0", &["geo <3"]),
        ("geo", "2.5.0", &[]),
        ("geo", "3.0.0", &[]),
    ]);
    let result = resolver(&index).resolve(&request(&["weather ^2", "maps"]));
    let err = result.unwrap_err();
    assert_eq!(err.code().to_string(), "SB0501");
    let (explanation, next) = no_solution(Err(err));
    assert_eq!(
        explanation,
        "Because weather 2.x needs geo ≥ 3 and maps needs geo < 3, maps and weather 2.x cannot \
         be used together.\n\
         And because you asked for maps and weather ^2, your request cannot be satisfied."
    );
    assert_eq!(
        next,
        "Pin weather to 1.9.0 (it accepts geo < 3), or drop maps or weather."
    );
}

#[test]
fn conflict_suggests_upgrading_when_a_newer_release_agrees() {
    let index = index(&[
        ("weather", "2.1.0", &["geo >=3"]),
        ("maps", "1.4.0", &["geo <3"]),
        ("maps", "2.0.0", &["geo ^3"]),
        ("geo", "2.5.0", &[]),
        ("geo", "3.0.0", &[]),
    ]);
    let (explanation, next) =
        no_solution(resolver(&index).resolve(&request(&["weather", "maps =1.4.0"])));
    assert_eq!(
        explanation,
        "Because maps 1.4.0 needs geo < 3 and weather needs geo ≥ 3, maps 1.4.0 and weather \
         cannot be used together.\n\
         And because you asked for maps = 1.4.0 and weather, your request cannot be satisfied."
    );
    assert_eq!(
        next,
        "Upgrade maps to 2.0.0 (it accepts geo ≥ 3), or drop maps or weather."
    );
}

#[test]
fn conflict_suggests_upgrading_the_host_when_only_a_newer_host_agrees() {
    let index = index(&[
        ("weather", "2.0.0", &["geo >=3"]),
        ("maps", "1.4.0", &["geo <3"]),
        ("maps", "2.0.0", &["geo ^3", "host:my-app ^2"]),
        ("geo", "2.5.0", &[]),
        ("geo", "3.0.0", &[]),
    ]);
    let (explanation, next) = no_solution(resolver(&index).resolve(&request(&["weather", "maps"])));
    assert_eq!(
        explanation,
        "Because weather needs geo ≥ 3 and maps 1.4.0 needs geo < 3, maps 1.4.0 and weather \
         cannot be used together.\n\
         And because maps 2.0.0 needs host API my-app ^2 (this host provides my-app 1.4.0), \
         maps and weather cannot be used together.\n\
         And because you asked for maps and weather, your request cannot be satisfied."
    );
    assert_eq!(
        next,
        "Upgrade the host to one that provides my-app ^2, then maps to 2.0.0 (it accepts geo \
         ≥ 3), or drop maps or weather."
    );
}

#[test]
fn conflict_with_the_request_itself_suggests_the_other_range() {
    let index = index(&[
        ("weather", "1.0.0", &["geo ^2"]),
        ("geo", "2.0.0", &[]),
        ("geo", "3.0.0", &[]),
    ]);
    let (explanation, next) =
        no_solution(resolver(&index).resolve(&request(&["weather", "geo ^3"])));
    assert_eq!(
        explanation,
        "Because weather needs geo ^2 and you asked for weather, your request needs geo 2.0.0.\n\
         And because you asked for geo ^3, your request cannot be satisfied."
    );
    assert_eq!(next, "Ask for geo ^2 instead, or drop geo or weather.");
}

#[test]
fn missing_version_in_the_request_lists_what_exists() {
    let index = index(&[("weather", "2.0.0", &[]), ("weather", "2.1.0", &[])]);
    let (explanation, next) = no_solution(resolver(&index).resolve(&request(&["weather =9.0.0"])));
    assert_eq!(
        explanation,
        "You asked for weather = 9.0.0 (the index has weather 2.0.0 – 2.1.0 only)."
    );
    assert_eq!(
        next,
        "Ask for a version of weather the index has, such as 2.1.0."
    );
}

#[test]
fn unknown_requested_plugin_is_its_own_error() {
    let index = index(&[("weather", "2.0.0", &[])]);
    let err = resolver(&index).resolve(&request(&["wether"])).unwrap_err();
    assert_eq!(err.code().to_string(), "SB0502");
    assert_eq!(err.to_string(), "no plugin named `wether` is in the index");
    assert!(err.next_step().contains("spelling of `wether`"));
}

#[test]
fn unknown_dependency_is_explained() {
    let index = index(&[("weather", "2.0.0", &["geoo ^1"])]);
    let (explanation, next) = no_solution(resolver(&index).resolve(&request(&["weather"])));
    assert_eq!(
        explanation,
        "Because weather needs geoo ^1 (no plugin named `geoo` is in the index) and you asked \
         for weather, your request cannot be satisfied."
    );
    assert_eq!(
        next,
        "Add a registry that publishes `geoo`, or drop weather."
    );
}

#[test]
fn unknown_dependency_suggests_a_release_without_it() {
    let index = index(&[
        ("weather", "1.0.0", &[]),
        ("weather", "2.0.0", &["geoo ^1"]),
    ]);
    let (_, next) = no_solution(resolver(&index).resolve(&request(&["weather ^2"])));
    assert_eq!(
        next,
        "Pin weather to 1.0.0 (it does not need geoo), or add a registry that publishes \
         `geoo`, or drop weather."
    );
}

#[test]
fn deep_chain_failure_is_explained_step_by_step() {
    let index = index(&[
        ("a", "1.0.0", &["b ^1"]),
        ("b", "1.0.0", &["c ^1"]),
        ("c", "1.0.0", &["d ^2"]),
        ("d", "1.0.0", &[]),
        ("d", "2.0.0", &["e ^5"]),
        ("e", "1.0.0", &[]),
    ]);
    let (explanation, next) = no_solution(resolver(&index).resolve(&request(&["a"])));
    assert_eq!(
        explanation,
        "Because d 2.0.0 needs e ^5 (the index has e 1.0.0 only) and c needs d ^2, no version \
         of c can be used.\n\
         And because b needs c ^1, no version of b can be used.\n\
         And because a needs b ^1 and you asked for a, your request cannot be satisfied."
    );
    assert_eq!(next, "Add a registry that publishes e ^5, or drop a.");
}

// --- cycles ---

#[test]
fn dependency_cycle_in_a_solution_is_reported_as_a_path() {
    let index = index(&[
        ("a", "1.0.0", &["b"]),
        ("b", "1.0.0", &["c"]),
        ("c", "1.0.0", &["a"]),
    ]);
    let err = resolver(&index).resolve(&request(&["b"])).unwrap_err();
    assert_eq!(err.code().to_string(), "SB0503");
    assert_eq!(err.to_string(), "dependency cycle: a → b → c → a");
    assert_eq!(
        err.next_step(),
        "use a release of `c` that does not depend on `a`, or drop one of `a`, `b` and `c`"
    );
}

#[test]
fn release_that_needs_itself_at_its_own_version_is_a_cycle() {
    let index = index(&[("a", "1.0.0", &["a ^1"])]);
    let err = resolver(&index).resolve(&request(&["a"])).unwrap_err();
    assert_eq!(err.to_string(), "dependency cycle: a → a");
    assert_eq!(
        err.next_step(),
        "use a release of `a` that does not depend on `a`, or drop `a`"
    );
}

#[test]
fn release_that_needs_another_version_of_itself_is_skipped() {
    let index = index(&[("a", "1.0.0", &[]), ("a", "2.0.0", &["a ^1"])]);
    assert_eq!(chosen(&solve(&index, &["a"])), ["a 1.0.0"]);
    let (explanation, next) = no_solution(resolver(&index).resolve(&request(&["a ^2"])));
    assert_eq!(
        explanation,
        "Because a 2.0.0 needs itself at ^1 (it is 2.0.0) and you asked for a ^2, your request \
         cannot be satisfied."
    );
    assert_eq!(next, "Pin a to 1.0.0 (its dependencies are consistent).");
}

// --- the index ---

/// An index whose registry is down.
struct Unreachable;

impl Index for Unreachable {
    fn releases(&self, name: &str) -> Result<Option<Cow<'_, [Release]>>, IndexError> {
        Err(IndexError::new(name, "connection refused"))
    }
}

#[test]
fn index_failure_is_reported_with_the_plugin() {
    let err = Resolver::new(&Unreachable)
        .resolve(&request(&["geo"]))
        .unwrap_err();
    assert_eq!(err.code().to_string(), "SB0506");
    assert_eq!(
        err.to_string(),
        "cannot read the index entry for `geo`: connection refused"
    );
}

#[test]
fn index_failure_during_the_solve_is_reported() {
    /// Knows `app`, fails on anything else.
    struct HalfDown(MemoryIndex);
    impl Index for HalfDown {
        fn releases(&self, name: &str) -> Result<Option<Cow<'_, [Release]>>, IndexError> {
            match name {
                "app" => self.0.releases(name),
                _ => Err(IndexError::new(name, "timed out")),
            }
        }
    }
    let inner = index(&[("app", "1.0.0", &["geo"])]);
    let err = Resolver::new(&HalfDown(inner))
        .resolve(&request(&["app"]))
        .unwrap_err();
    assert_eq!(err.code().to_string(), "SB0506");
    assert!(err.to_string().contains("`geo`: timed out"));
}

// --- properties, against a brute-force oracle ---

mod properties {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use super::super::provider::req_matches;
    use super::*;

    const VERSIONS: &[&str] = &[
        "0.1.0",
        "1.0.0",
        "1.1.0",
        "1.2.0-beta.1",
        "1.2.0",
        "2.0.0-rc.1",
        "2.0.0",
        "3.0.0",
    ];
    const REQS: &[&str] = &[
        "*",
        "^1",
        ">=1.1",
        "<2",
        "^2",
        "=1.0.0",
        "^1.2.0-beta.1",
        ">=2.0.0-rc.1",
        "~1.1",
        "^3",
        "^0.1",
    ];
    const HOST_REQS: &[&str] = &["^1", "^2", ">=1.4"];
    /// Plugins are `p0`…; `ghost` is never in the index.
    const GHOST: usize = 99;

    fn name(i: usize) -> String {
        if i == GHOST {
            "ghost".into()
        } else {
            format!("p{i}")
        }
    }

    /// A small random world: an index, a request, locks and a prerelease policy.
    #[derive(Debug, Clone)]
    struct World {
        index: MemoryIndex,
        request: Vec<Dependency>,
        locked: BTreeMap<String, Version>,
        all_prereleases: bool,
    }

    /// A requirement; "any version" half of the time, so that worlds solve often enough.
    fn arb_req() -> impl Strategy<Value = &'static str> {
        prop_oneof![1 => Just("*"), 1 => proptest::sample::select(REQS)]
    }

    /// A dependency on a later plugin (so the graph stays acyclic and every failure is a failure
    /// to solve, never a cycle), now and then on the `ghost` no index has; `None` when there
    /// is nothing later to depend on.
    fn arb_dependency(from: usize, plugins: usize) -> impl Strategy<Value = Option<Dependency>> {
        let later: Vec<usize> = (from + 1..plugins).collect();
        let target = if later.is_empty() {
            proptest::option::weighted(0.1, Just(GHOST)).boxed()
        } else {
            prop_oneof![
                12 => proptest::sample::select(later).prop_map(Some),
                1 => Just(Some(GHOST)),
            ]
            .boxed()
        };
        (target, arb_req(), proptest::bool::weighted(0.2)).prop_map(|(to, req, optional)| {
            let d = Dependency::new(name(to?), r(req));
            Some(Dependency { optional, ..d })
        })
    }

    fn arb_release(from: usize, plugins: usize) -> impl Strategy<Value = Release> {
        (
            proptest::sample::select(VERSIONS),
            proptest::collection::vec(arb_dependency(from, plugins), 0..3),
            proptest::option::weighted(0.2, proptest::sample::select(HOST_REQS)),
            prop_oneof![16 => Just((1u32, 0u32)), 1 => Just((1, 3)), 1 => Just((2, 0))],
            proptest::bool::weighted(0.1),
        )
            .prop_map(|(version, dependencies, host, abi, yanked)| {
                let mut release = Release::new(v(version), format!("sha256:{version}"))
                    .with_sdk_abi(abi.0, abi.1);
                release.dependencies = dependencies.into_iter().flatten().collect();
                if let Some(host) = host {
                    release = release.with_host_api("my-app", r(host));
                }
                release.yanked = yanked;
                release
            })
    }

    fn arb_world() -> impl Strategy<Value = World> {
        (2usize..=5)
            .prop_flat_map(|plugins| {
                let releases: Vec<_> = (0..plugins)
                    .map(|i| proptest::collection::vec(arb_release(i, plugins), 1..=3))
                    .collect();
                let request = proptest::collection::vec(
                    (0..plugins, arb_req(), proptest::bool::weighted(0.15)),
                    1..=3,
                );
                let locks = proptest::collection::vec(
                    (0..plugins, proptest::sample::select(VERSIONS)),
                    0..=2,
                );
                (releases, request, locks, proptest::bool::weighted(0.2))
            })
            .prop_map(|(releases, request, locks, all_prereleases)| {
                let mut index = MemoryIndex::new();
                for (i, rs) in releases.into_iter().enumerate() {
                    for release in rs {
                        index.add(name(i), release);
                    }
                }
                let request = request
                    .into_iter()
                    .map(|(i, req, optional)| {
                        let d = Dependency::new(name(i), r(req));
                        Dependency { optional, ..d }
                    })
                    .collect();
                let locked = locks
                    .into_iter()
                    .map(|(i, ver)| (name(i), v(ver)))
                    .collect();
                World {
                    index,
                    request,
                    locked,
                    all_prereleases,
                }
            })
    }

    impl World {
        fn resolve(&self) -> Result<Resolution, ResolveError> {
            let mut resolver = resolver(&self.index);
            for (name, version) in &self.locked {
                resolver.lock(name.clone(), version.clone());
            }
            if self.all_prereleases {
                resolver.allow_all_prereleases();
            }
            resolver.resolve(&self.request)
        }

        fn matches(&self, name: &str, req: &VersionReq, version: &Version) -> bool {
            let pre = self.all_prereleases || self.locked.get(name) == Some(version);
            req_matches(req, version, pre)
        }

        /// Whether a choice of releases (by name) meets every rule, checked one by one.
        fn satisfies(&self, choice: &BTreeMap<String, &Release>) -> Result<(), String> {
            let met = |d: &Dependency, who: &str| match choice.get(&d.name) {
                Some(r) if self.matches(&d.name, &d.req, &r.version) => Ok(()),
                Some(r) => Err(format!("{who} needs {d}, got {}", r.version)),
                None if d.optional => Ok(()),
                None => Err(format!("{who} needs {d}, which is missing")),
            };
            for d in &self.request {
                met(d, "the request")?;
            }
            for (name, release) in choice {
                if release.yanked && self.locked.get(name) != Some(&release.version) {
                    return Err(format!("{name} {} is yanked", release.version));
                }
                if release.sdk_abi.0 != 1 || release.sdk_abi.1 > 2 {
                    return Err(format!("{name} {} has another SDK ABI", release.version));
                }
                if let Some(h) = &release.host_api {
                    if h.name != "my-app" || !h.req.matches(&v("1.4.0")) {
                        return Err(format!("{name} {} needs another host", release.version));
                    }
                }
                for d in &release.dependencies {
                    met(d, name)?;
                }
            }
            Ok(())
        }

        /// Tries every way to pick nothing or one release per plugin; true as soon as one
        /// meets every rule.
        fn has_solution(&self) -> bool {
            let plugins: Vec<(String, Vec<Release>)> = self
                .index
                .names()
                .map(|n| {
                    (
                        n.to_owned(),
                        self.index.releases(n).unwrap().unwrap().into_owned(),
                    )
                })
                .collect();
            let mut counters = vec![0usize; plugins.len()];
            loop {
                let choice: BTreeMap<String, &Release> = plugins
                    .iter()
                    .zip(&counters)
                    .filter(|(_, c)| **c > 0)
                    .map(|((n, rs), c)| (n.clone(), &rs[*c - 1]))
                    .collect();
                if self.satisfies(&choice).is_ok() {
                    return true;
                }
                // Next combination, odometer style.
                let mut i = 0;
                loop {
                    let Some(counter) = counters.get_mut(i) else {
                        return false;
                    };
                    *counter += 1;
                    if *counter <= plugins[i].1.len() {
                        break;
                    }
                    *counter = 0;
                    i += 1;
                }
            }
        }
    }

    /// Every chosen plugin is reached from the request through required dependencies.
    fn reachable(world: &World, resolution: &Resolution) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = world
            .request
            .iter()
            .filter(|d| !d.optional)
            .map(|d| d.name.clone())
            .collect();
        while let Some(name) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some(p) = resolution.get(&name) {
                todo.extend(
                    p.release
                        .dependencies
                        .iter()
                        .filter(|d| !d.optional)
                        .map(|d| d.name.clone()),
                );
            }
        }
        seen
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn every_solution_satisfies_every_constraint(world in arb_world()) {
            if let Ok(resolution) = world.resolve() {
                let choice: BTreeMap<String, &Release> = resolution
                    .plugins()
                    .map(|p| (p.name.clone(), &p.release))
                    .collect();
                if let Err(broken) = world.satisfies(&choice) {
                    return Err(TestCaseError::fail(broken));
                }
                let needed = reachable(&world, &resolution);
                for p in resolution.plugins() {
                    prop_assert!(needed.contains(&p.name), "{} is installed for nothing", p.name);
                }
                let order = resolution.graph().load_order();
                for p in resolution.plugins() {
                    let at = order.iter().position(|n| *n == p.name);
                    for d in &p.dependencies {
                        prop_assert!(order.iter().position(|n| n == d) < at);
                    }
                }
            }
        }

        #[test]
        fn no_solution_is_confirmed_by_brute_force(world in arb_world()) {
            match world.resolve() {
                Ok(_) => {}
                Err(ResolveError::NoSolution { explanation, next_step }) => {
                    prop_assert!(
                        !world.has_solution(),
                        "the solver gave up but a solution exists:\n{explanation}"
                    );
                    prop_assert!(!explanation.is_empty() && next_step.ends_with('.'));
                }
                Err(other) => prop_assert!(false, "unexpected error: {other}"),
            }
        }

        #[test]
        fn resolving_twice_gives_the_same_lockfile_bytes(world in arb_world()) {
            if let Ok(first) = world.resolve() {
                let provenance = |p: &ResolvedPlugin| {
                    Provenance::new(format!("test+{}", p.name), TrustLevel::Verified)
                };
                let a = Lockfile::from_resolution(&first, provenance).to_toml();
                let b = Lockfile::from_resolution(&world.resolve().unwrap(), provenance).to_toml();
                prop_assert_eq!(&a, &b);
                let reparsed = Lockfile::parse(&a).unwrap().to_toml();
                prop_assert_eq!(a, reparsed);
            }
        }
    }

    #[test]
    fn the_oracle_finds_solutions_and_refuses_conflicts() {
        // The oracle itself must be able to say both yes and no.
        let world = |specs: &[&str], entries: &[(&str, &str, &[&str])]| World {
            index: index(entries),
            request: request(specs),
            locked: BTreeMap::new(),
            all_prereleases: false,
        };
        let entries: &[(&str, &str, &[&str])] = &[
            ("a", "1.0.0", &["c ^1"]),
            ("b", "1.0.0", &["c ^2"]),
            ("c", "1.0.0", &[]),
            ("c", "2.0.0", &[]),
        ];
        assert!(world(&["a", "c"], entries).has_solution());
        assert!(!world(&["a", "b"], entries).has_solution());
        assert!(world(&["a", "b"], entries).resolve().is_err());
    }

    #[test]
    fn lifting_the_prerelease_gate_keeps_the_range() {
        let pre = v("1.2.0-beta.1");
        assert!(!req_matches(&r("^1"), &pre, false));
        assert!(req_matches(&r("^1"), &pre, true));
        assert!(!req_matches(&r("=1.2.0"), &pre, true));
        assert!(!req_matches(&r("^2"), &pre, true));
        assert!(req_matches(&r("<1.2.0"), &pre, true));
        assert!(req_matches(&r("^1.2.0-alpha"), &pre, false));
        assert!(req_matches(&r("^1"), &v("1.5.0"), false));
    }
}
