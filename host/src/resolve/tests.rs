//! Resolver tests over small hand-written indexes, and property tests against a brute-force
//! oracle.

use semver::{Version, VersionReq};

use super::*;
use crate::error::ResolveError;

/// Builds an index from `(name, version, specs)`. A spec is `NAME REQ` (a dependency; `NAME?`
/// for an optional one), `host:NAME REQ`, `abi:MAJOR.MINOR` or `yanked`.
fn index(entries: &[(&str, &str, &[&str])]) -> MemoryIndex {
    let mut index = MemoryIndex::new();
    for (name, version, specs) in entries {
        let mut release = Release::new(v(version), format!("sha256:{name}-{version}"));
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

#[test]
fn scratch_print_reports() {
    let cases: Vec<(MemoryIndex, Vec<&str>)> = vec![
        (
            index(&[
                ("weather", "1.9.0", &["geo ^2"]),
                ("weather", "2.0.0", &["geo >=3"]),
                ("weather", "2.1.0", &["geo >=3"]),
                ("maps", "1.4.0", &["geo <3"]),
                ("geo", "2.5.0", &[]),
                ("geo", "3.0.0", &[]),
            ]),
            vec!["weather ^2", "maps"],
        ),
        (
            index(&[
                ("weather", "2.0.0", &["geo >=3"]),
                ("weather", "2.1.0", &["geo >=3"]),
                ("maps", "1.4.0", &["geo <3"]),
                ("maps", "2.0.0", &["geo ^3", "host:my-app ^2"]),
                ("geo", "2.5.0", &[]),
                ("geo", "3.0.0", &[]),
            ]),
            vec!["weather", "maps"],
        ),
        (
            index(&[
                ("weather", "2.0.0", &["host:my-app ^1"]),
                ("weather", "3.0.0", &["host:my-app ^2"]),
            ]),
            vec!["weather >=3"],
        ),
        (
            index(&[("weather", "2.0.0", &["geoo ^1"])]),
            vec!["weather"],
        ),
        (
            index(&[("weather", "2.0.0", &[]), ("weather", "2.1.0", &[])]),
            vec!["weather =9.0.0"],
        ),
        (
            index(&[
                ("weather", "2.0.0", &["geo ^3"]),
                ("geo", "2.0.0", &[]),
                ("geo", "3.0.0", &["yanked"]),
            ]),
            vec!["weather"],
        ),
        (
            index(&[
                ("weather", "2.0.0", &["maps? ^2"]),
                ("maps", "1.4.0", &[]),
            ]),
            vec!["weather", "maps"],
        ),
        (
            index(&[("weather", "2.0.0", &["abi:2.0"])]),
            vec!["weather"],
        ),
        (
            index(&[
                ("a", "1.0.0", &["b ^1"]),
                ("b", "1.0.0", &["c ^1"]),
                ("c", "1.0.0", &["d ^2"]),
                ("d", "1.0.0", &[]),
                ("d", "2.0.0", &["e ^5"]),
                ("e", "1.0.0", &[]),
            ]),
            vec!["a"],
        ),
    ];
    for (index, req) in cases {
        let result = resolver(&index).resolve(&request(&req));
        match result {
            Ok(res) => eprintln!("OK {:?}\n", chosen(&res)),
            Err(e) => eprintln!("{e}\nNEXT: {}\n", e.next_step()),
        }
    }
}
