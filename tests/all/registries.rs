//! Several registries end to end: a real signed `hello` package published to a registry
//! directory, served as it is and over the test HTTP server on 127.0.0.1, added to a data
//! directory, searched and shown through the CLI's own functions — with the refusals a user
//! meets (policy, dependency confusion, offline, an endless server) coded and with a next step.

use std::path::{Path, PathBuf};

use switchboard_cli::discover::{self, SearchArgs};
use switchboard_cli::registries::{self as cli, Access, AddArgs};
use switchboard_registry::publish::{init, publish, InitOptions, PublishOptions};
use switchboard_registry::testing::{Mode, TestServer};
use switchboard_registry::SortOrder;
use switchboard_tests::packages::{example_package, keys, sign};

/// A registry directory with `hello` published (signed by a fresh key), and its keys.
fn published(tmp: &Path, name: &str) -> (PathBuf, PathBuf) {
    let dir = tmp.join(format!("{name}-registry"));
    let registry_keys = tmp.join(format!("{name}-registry-keys"));
    init(&dir, &registry_keys, &InitOptions::default()).unwrap();
    let packages = tmp.join(format!("{name}-packages"));
    std::fs::create_dir_all(&packages).unwrap();
    let package = example_package("hello", &packages);
    sign(&package, &keys(&packages));
    publish(&dir, &registry_keys, &package, &PublishOptions::default()).unwrap();
    (dir, registry_keys)
}

fn add_args(name: &str, location: &str, priority: i64) -> AddArgs {
    AddArgs {
        name: name.into(),
        location: location.into(),
        priority,
        root: None,
        token_env: None,
        certified_only: false,
        channel: "ga".into(),
        policy: None,
    }
}

fn search_args(query: &str) -> SearchArgs {
    SearchArgs {
        query: query.into(),
        category: None,
        capability: None,
        compatible: false,
        host_api: None,
        trust: None,
        maintainer: None,
        sort: SortOrder::Relevance,
        page: 1,
        per_page: 20,
    }
}

/// The code and next step the CLI would print for `e`.
fn coded(e: &anyhow::Error) -> (String, String) {
    switchboard_cli::output::code_of(e)
}

fn round_trip(data: &Path, location: &str) {
    let added = cli::add(data, add_args("main", location, 10)).unwrap();
    assert!(cli::added_text(&added).contains("pinned on first use"));
    assert_eq!(added.plugins, 1);
    let access = Access::default();
    let page = discover::search(data, &access, &search_args("hello")).unwrap();
    assert_eq!(page.total, 1);
    let hit = &page.hits[0];
    assert_eq!(
        (hit.name.as_str(), hit.registry.as_str()),
        ("hello", "main")
    );
    assert!(hit.capabilities.iter().any(|c| c == "kv"), "{hit:?}");
    let doc = discover::search_json(&page);
    assert_eq!(doc["hits"][0]["reference"], "hello");

    let info = discover::info(data, &access, "hello", Some("switchboard-demo@0.1.0")).unwrap();
    let selected = info.selected.clone().unwrap();
    assert_eq!(selected.version.to_string(), "0.1.0");
    assert_eq!(selected.trust.to_string(), "self-signed");
    assert!(
        info.compatibility[0].is_compatible(),
        "{:?}",
        info.compatibility
    );
    let text = discover::info_text(&info);
    assert!(text.contains("this host:    compatible"), "{text}");
    let doc = discover::info_json(&info);
    assert_eq!(doc["releases"][0]["host_api"]["name"], "switchboard-demo");
    // What the index lists is what was published: the package on disk has that hash.
    let sha = doc["releases"][0]["sha256"].as_str().unwrap().to_owned();
    assert_eq!(sha.len(), 64);
}

#[test]
fn publish_search_info_round_trip_over_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = published(tmp.path(), "main");
    round_trip(&tmp.path().join("data"), dir.to_str().unwrap());
}

#[test]
fn publish_search_info_round_trip_over_http() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = published(tmp.path(), "main");
    let server = TestServer::serve(&dir).unwrap();
    let data = tmp.path().join("data");
    round_trip(&data, &server.url());
    // The next command revalidates the timestamp with its ETag: 304, no snapshot, no index.
    server.clear_requests();
    discover::search(&data, &Access::default(), &search_args("hello")).unwrap();
    let asked: Vec<_> = server
        .requests()
        .into_iter()
        .map(|r| (r.path, r.status))
        .collect();
    assert!(asked.contains(&("timestamp.json".into(), 304)), "{asked:?}");
    assert!(
        asked
            .iter()
            .all(|(p, _)| !p.starts_with("index/") && p != "snapshot.json"),
        "{asked:?}"
    );
    // Offline, with the server gone: what was verified is used; online is refused, coded.
    drop(server);
    let e = discover::search(&data, &Access::default(), &search_args("hello")).unwrap_err();
    assert_eq!(coded(&e).0, "SB1351", "{e:#}");
    assert!(coded(&e).1.contains("--offline"));
    let offline = Access {
        offline: true,
        ..Access::default()
    };
    assert_eq!(
        discover::search(&data, &offline, &search_args("hello"))
            .unwrap()
            .total,
        1
    );
}

#[test]
fn the_policy_file_in_the_data_directory_limits_the_registries() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = published(tmp.path(), "main");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join(cli::POLICY_FILE),
        "allowed_registries = [\"https://plugins.example.com\"]\n",
    )
    .unwrap();
    let e = cli::add(&data, add_args("main", dir.to_str().unwrap(), 1)).unwrap_err();
    let (code, next) = coded(&e);
    assert_eq!(code, "SB1364", "{e:#}");
    assert!(next.contains("allowed_registries"), "{next}");
    assert!(cli::list(&data).unwrap().is_empty());
    // Allowed by its directory: added; then the policy narrows and using it is refused.
    std::fs::write(
        data.join(cli::POLICY_FILE),
        format!("allowed_registries = [{:?}]\n", dir.display().to_string()),
    )
    .unwrap();
    cli::add(&data, add_args("main", dir.to_str().unwrap(), 1)).unwrap();
    std::fs::write(
        data.join(cli::POLICY_FILE),
        "allowed_registries = [\"https://plugins.example.com\"]\n",
    )
    .unwrap();
    let e = discover::search(&data, &Access::default(), &search_args("")).unwrap_err();
    assert_eq!(coded(&e).0, "SB1364", "{e:#}");
}

/// Dependency confusion with real packages: the same name published to a private and a
/// public registry; the private one (higher priority) answers for it.
#[test]
fn the_same_plugin_in_two_registries_comes_from_the_higher_priority_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (team, _) = published(tmp.path(), "team");
    let (public, _) = published(tmp.path(), "public");
    let data = tmp.path().join("data");
    cli::add(&data, add_args("public", public.to_str().unwrap(), 1)).unwrap();
    cli::add(&data, add_args("team", team.to_str().unwrap(), 5)).unwrap();
    let access = Access::default();
    let info = discover::info(&data, &access, "hello", None).unwrap();
    assert_eq!(info.found.registry, "team");
    assert_eq!(info.found.shadows, ["public"]);
    assert!(discover::info_text(&info).contains("REGISTRY:hello"));
    let named = discover::info(&data, &access, "public:hello", None).unwrap();
    assert_eq!(named.found.registry, "public");
    let page = discover::search(&data, &access, &search_args("hello")).unwrap();
    let text = discover::search_text(&page);
    assert!(text.contains("public:hello"), "{text}");
    assert!(
        text.contains("`hello` alone means the one in team"),
        "{text}"
    );
    let lines: Vec<_> = cli::list(&data)
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(lines, ["team", "public"]);
    // Resolution (`switchboard tree --resolve`) takes it from the same registry, or from the
    // one named.
    let mut tree = discover::TreeFromRegistries {
        resolve: vec!["hello@^0.1".into()],
        host_api: Some("switchboard-demo@0.1.0".into()),
        data_dir: Some(data.clone()),
        ..Default::default()
    };
    let doc: serde_json::Value = serde_json::from_str(
        &discover::tree_from_registries(&tree, switchboard_cli::tree::Format::Json).unwrap(),
    )
    .unwrap();
    assert_eq!(doc["plugins"][0]["registry"], "team", "{doc}");
    tree.resolve = vec!["public:hello".into()];
    let text = discover::tree_from_registries(&tree, switchboard_cli::tree::Format::Text).unwrap();
    assert!(text.contains("hello 0.1.0 — registry public"), "{text}");
}

#[test]
fn an_endless_registry_is_cut_off_and_nothing_is_added() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = published(tmp.path(), "main");
    let server = TestServer::serve(&dir).unwrap();
    server.set_mode(Mode::Endless);
    let data = tmp.path().join("data");
    let e = cli::add(&data, add_args("main", &server.url(), 1)).unwrap_err();
    assert_eq!(coded(&e).0, "SB1350", "{e:#}");
    assert!(cli::list(&data).unwrap().is_empty());
}

#[test]
fn commands_without_a_registry_say_how_to_add_one() {
    let tmp = tempfile::tempdir().unwrap();
    let e = discover::search(tmp.path(), &Access::default(), &search_args("x")).unwrap_err();
    let (code, next) = coded(&e);
    assert_eq!(code, "SB0050");
    assert!(next.contains("registry add"), "{next}");
    let e = discover::info(tmp.path(), &Access::default(), "../x", None).unwrap_err();
    assert_eq!(coded(&e).0, "SB1371", "{e:#}");
}

/// The installer reads registries through `RegistrySource`: hello is resolved, downloaded over
/// HTTP (size and sha256 checked against the signed index), verified as a host verifies it,
/// and installed; a package whose bytes differ from what the index lists is refused before
/// any of its code runs.
#[test]
fn the_installer_installs_from_a_registry_and_refuses_a_swapped_package() {
    // Installs: not while another test has an install failpoint armed (they are process-wide).
    let _g = switchboard_tests::releases::install_lock();
    use switchboard_host::install::{InstallOptions, InstallRequest};
    use switchboard_registry::registries::OpenOptions;
    use switchboard_registry::{Registries, RegistrySource};

    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = published(tmp.path(), "main");
    let server = TestServer::serve(&dir).unwrap();
    let data = tmp.path().join("data");
    cli::add(&data, add_args("main", &server.url(), 1)).unwrap();
    let host = || {
        let mut b = switchboard_host::Host::builder();
        b.data_dir(&data).host_api("switchboard-demo", "0.1.0");
        b.build().unwrap()
    };
    let source = |host: &switchboard_host::Host| {
        let regs = Registries::open(
            host.store(),
            &switchboard_host::Policy::new(),
            &OpenOptions::new(cli::cache_dir(&data)),
        )
        .unwrap();
        regs.refresh().unwrap();
        RegistrySource::new(regs, false)
    };

    // The registry's package swapped for other bytes: refused, nothing installed.
    let packages = dir.join("packages");
    let stored = std::fs::read_dir(&packages)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "sbpkg"))
        .unwrap();
    let original = std::fs::read(&stored).unwrap();
    let mut swapped = original.clone();
    let last = swapped.len() - 1;
    swapped[last] ^= 0xff;
    std::fs::write(&stored, &swapped).unwrap();
    let h = host();
    let mut installer = h.installer();
    installer.source(source(&h));
    let e = installer
        .install(
            &[InstallRequest::name("hello", semver::VersionReq::STAR)],
            &InstallOptions::new(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("SB1327"), "{e}");
    assert!(installer.list().unwrap().is_empty());
    drop(installer);
    drop(h);

    std::fs::write(&stored, &original).unwrap();
    let h = host();
    let mut installer = h.installer();
    installer.source(source(&h));
    let report = installer
        .install(
            &[InstallRequest::name("hello", semver::VersionReq::STAR)],
            &InstallOptions::new(),
        )
        .unwrap();
    assert_eq!(report.changes.len(), 1, "{report:?}");
    let installed = installer.list().unwrap();
    assert_eq!(installed[0].name, "hello");
    assert_eq!(installed[0].source, "registry:main");
}
