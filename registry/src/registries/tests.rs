//! Several registries over real directories, the real host database and the test HTTP server.

use std::path::{Path, PathBuf};

use switchboard_host::{HostProfile, Index, Policy, Resolver, Store};

use super::search::{Compat, SearchQuery};
use super::*;
use crate::format::{Channel, Deprecated, IndexLine, Yanked};
use crate::publish::{init, InitOptions};
use crate::testing::{line, write_index, TestServer};

/// A registry directory and its keys, under one temporary directory.
struct Reg {
    dir: PathBuf,
    keys: PathBuf,
}

fn registry(tmp: &Path, name: &str, files: &[(&str, Vec<IndexLine>)]) -> Reg {
    let reg = Reg {
        dir: tmp.join(format!("{name}-registry")),
        keys: tmp.join(format!("{name}-keys")),
    };
    init(&reg.dir, &reg.keys, &InitOptions::default()).unwrap();
    if !files.is_empty() {
        write_index(&reg.dir, &reg.keys, files).unwrap();
    }
    reg
}

struct Host {
    _tmp: tempfile::TempDir,
    tmp: PathBuf,
    store: Store,
    cache: PathBuf,
}

fn host() -> Host {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().to_owned();
    let data = path.join("data");
    std::fs::create_dir_all(&data).unwrap();
    Host {
        store: Store::open(&data).unwrap(),
        cache: data.join(CACHE_DIR),
        tmp: path,
        _tmp: tmp,
    }
}

fn add_dir(h: &Host, name: &str, reg: &Reg, priority: i64) -> Added {
    add(
        &h.store,
        &Policy::new(),
        &h.cache,
        AddOptions::new(name, Location::Dir(reg.dir.clone()), priority),
    )
    .unwrap()
}

fn open(h: &Host) -> Registries {
    let r = Registries::open(&h.store, &Policy::new(), &OpenOptions::new(&h.cache)).unwrap();
    r.refresh().unwrap();
    r
}

fn code(e: &RegistryError) -> String {
    e.code().to_string()
}

fn versions(found: &Found) -> Vec<String> {
    found
        .plugin
        .releases
        .iter()
        .map(|r| r.version.to_string())
        .collect()
}

#[test]
fn adding_a_registry_pins_its_first_root_and_verifies_it_before_storing() {
    let h = host();
    let reg = registry(&h.tmp, "main", &[("hello", vec![line("hello", "1.0.0")])]);
    let added = add_dir(&h, "main", &reg, 10);
    assert_eq!(added.root_source, RootSource::FirstUse);
    assert_eq!(added.plugins, 1);
    assert_eq!(
        added.record.root,
        std::fs::read(reg.dir.join("1.root.json")).unwrap()
    );
    let list = h.store.registries().list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].location, reg.dir.display().to_string());
    // What the first refresh saw is in the database already.
    let seen = h.store.registries().seen("main").unwrap().unwrap();
    assert!(seen.timestamp_version >= 2, "{seen:?}");
}

#[test]
fn a_root_that_is_not_the_registrys_is_refused_and_nothing_is_stored() {
    let h = host();
    let reg = registry(&h.tmp, "main", &[]);
    let other = registry(&h.tmp, "other", &[]);
    let mut options = AddOptions::new("main", Location::Dir(reg.dir.clone()), 1);
    options.root = Some(std::fs::read(other.dir.join("root.json")).unwrap());
    let e = add(&h.store, &Policy::new(), &h.cache, options).unwrap_err();
    assert!(code(&e).starts_with("SB13"), "{e}");
    assert!(h.store.registries().list().unwrap().is_empty());
    let mut options = AddOptions::new("main", Location::Dir(reg.dir.clone()), 1);
    options.root = Some(b"{\"not\": \"a root\"}".to_vec());
    let e = add(&h.store, &Policy::new(), &h.cache, options).unwrap_err();
    assert_eq!(code(&e), "SB1373", "{e}");
}

#[test]
fn names_and_priorities_are_unique() {
    let h = host();
    let reg = registry(&h.tmp, "main", &[]);
    add_dir(&h, "main", &reg, 10);
    let again = |name: &str, priority| {
        add(
            &h.store,
            &Policy::new(),
            &h.cache,
            AddOptions::new(name, Location::Dir(reg.dir.clone()), priority),
        )
        .unwrap_err()
    };
    assert_eq!(code(&again("main", 11)), "SB1362");
    assert_eq!(code(&again("second", 10)), "SB1363");
    assert_eq!(code(&again("Bad Name", 12)), "SB1365");
    // A token for a directory would be parsed and never used: refused.
    let mut options = AddOptions::new("second", Location::Dir(reg.dir.clone()), 12);
    options.token_env = Some("TOKEN".into());
    options.token = Some("t".into());
    let e = add(&h.store, &Policy::new(), &h.cache, options).unwrap_err();
    assert_eq!(code(&e), "SB1374", "{e}");
}

#[test]
fn the_policys_allowed_registries_refuse_adding_and_using_others() {
    let h = host();
    let reg = registry(&h.tmp, "main", &[("hello", vec![line("hello", "1.0.0")])]);
    let mut policy = Policy::new();
    policy.allow_registry("https://plugins.example.com");
    let e = add(
        &h.store,
        &policy,
        &h.cache,
        AddOptions::new("main", Location::Dir(reg.dir.clone()), 1),
    )
    .unwrap_err();
    assert_eq!(code(&e), "SB1364", "{e}");
    assert!(e.next_step().contains("allowed_registries"), "{e}");
    assert!(h.store.registries().list().unwrap().is_empty());
    // Added while the policy allowed it; the policy changed since: not used quietly.
    add_dir(&h, "main", &reg, 1);
    let e = Registries::open(&h.store, &policy, &OpenOptions::new(&h.cache)).unwrap_err();
    assert_eq!(code(&e), "SB1364", "{e}");
    // Listing it by its directory allows it.
    policy.allow_registry(&reg.dir.display().to_string());
    Registries::open(&h.store, &policy, &OpenOptions::new(&h.cache)).unwrap();
}

/// The dependency-confusion attack: a public registry publishes a plugin under the name of a
/// team's private one, with a higher version. Names go to the higher-priority registry, and
/// never to a lower one, even when the higher one shows no release of it.
#[test]
fn a_name_in_two_registries_comes_from_the_higher_priority_one_only() {
    let h = host();
    let team = registry(
        &h.tmp,
        "team",
        &[("billing", vec![line("billing", "1.0.0")])],
    );
    let mut evil = line("billing", "99.0.0");
    evil.description = "totally the billing plugin".into();
    let public = registry(
        &h.tmp,
        "public",
        &[
            ("billing", vec![evil]),
            ("hello", vec![line("hello", "2.0.0")]),
        ],
    );
    add_dir(&h, "public", &public, 1);
    add_dir(&h, "team", &team, 10);
    let regs = open(&h);
    let found = regs.find(&PluginRef::new("billing")).unwrap();
    assert_eq!(found.registry, "team");
    assert_eq!(versions(&found), ["1.0.0"]);
    assert_eq!(found.shadows, ["public"]);
    // The resolver sees only the team's releases.
    let index = regs.index(false);
    let releases = index.releases("billing").unwrap().unwrap();
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0].version.to_string(), "1.0.0");
    let resolution = Resolver::new(&index)
        .resolve(&[switchboard_host::Dependency::new(
            "billing",
            "*".parse().unwrap(),
        )])
        .unwrap();
    assert_eq!(resolution.version("billing").unwrap().to_string(), "1.0.0");
    // Names only the public registry has still come from it.
    assert_eq!(
        regs.find(&PluginRef::new("hello")).unwrap().registry,
        "public"
    );
    // Asking for the public one by name is the only way to get it.
    let named = regs.find(&"public:billing".parse().unwrap()).unwrap();
    assert_eq!(versions(&named), ["99.0.0"]);
    let mut pinned = regs.index(false);
    pinned.pin("billing", "public");
    assert_eq!(
        pinned.releases("billing").unwrap().unwrap()[0]
            .version
            .to_string(),
        "99.0.0"
    );
    // Search shows both, and says which one `billing` means.
    let page = regs.search(&SearchQuery::new("billing")).unwrap();
    let hits: Vec<_> = page
        .hits
        .iter()
        .map(|h| (h.registry.as_str(), h.shadowed_by.as_deref()))
        .collect();
    assert_eq!(hits, [("team", None), ("public", Some("team"))]);
}

#[test]
fn a_hidden_name_in_the_higher_registry_is_not_looked_up_lower_down() {
    let h = host();
    let mut beta = line("billing", "1.0.0");
    beta.channel = Channel::Beta;
    let team = registry(&h.tmp, "team", &[("billing", vec![beta])]);
    let public = registry(
        &h.tmp,
        "public",
        &[("billing", vec![line("billing", "9.0.0")])],
    );
    add_dir(&h, "team", &team, 10);
    add_dir(&h, "public", &public, 1);
    let regs = open(&h);
    let e = regs.find(&PluginRef::new("billing")).unwrap_err();
    assert_eq!(code(&e), "SB1370", "{e}");
    assert!(e.next_step().contains("--channel beta"), "{e}");
    // The resolver sees no release either (it says why in its own words), not the public one.
    let index = regs.index(false);
    assert!(index.releases("billing").unwrap().unwrap().is_empty());
    assert_eq!(index.source_of("billing").unwrap().as_deref(), Some("team"));
}

#[test]
fn channels_drafts_yanks_and_certified_only() {
    let h = host();
    let mut beta = line("hello", "2.0.0-beta.1");
    beta.channel = Channel::Beta;
    let mut draft = line("hello", "3.0.0");
    draft.channel = Channel::Draft;
    let mut yanked = line("hello", "1.1.0");
    yanked.yanked = Some(Yanked {
        reason: "broke things".into(),
    });
    let mut certified = line("hello", "1.0.0");
    certified.trust = switchboard_host::TrustLevel::Certified;
    let reg = registry(
        &h.tmp,
        "main",
        &[("hello", vec![certified, yanked, beta, draft])],
    );
    add_dir(&h, "main", &reg, 1);
    let regs = open(&h);
    let found = regs.find(&PluginRef::new("hello")).unwrap();
    assert_eq!(versions(&found), ["1.1.0", "1.0.0"], "no beta, no draft");
    // `info` shows the yanked one as yanked; search and the newest skip it.
    let info = regs
        .info(&PluginRef::new("hello"), &Compat::default())
        .unwrap();
    assert_eq!(info.selected.unwrap().version.to_string(), "1.0.0");
    assert_eq!(
        info.found.plugin.releases[0].yanked.as_deref(),
        Some("broke things")
    );
    // The resolver gets the yanked release flagged (used only when locked), betas on request.
    let plain: Vec<_> = regs
        .index(false)
        .releases("hello")
        .unwrap()
        .unwrap()
        .iter()
        .map(|r| (r.version.to_string(), r.yanked))
        .collect();
    assert_eq!(plain, [("1.0.0".into(), false), ("1.1.0".into(), true)]);
    let with_betas = regs.index(true).releases("hello").unwrap().unwrap().len();
    assert_eq!(with_betas, 3, "betas when asked, drafts never");
    // `NAME@VERSION` of a draft is not there to see.
    let e = regs
        .info(&"hello@3.0.0".parse().unwrap(), &Compat::default())
        .unwrap_err();
    assert_eq!(code(&e), "SB1370");

    // Re-added on the beta channel and certified only.
    remove(&h.store, &h.cache, "main").unwrap();
    let mut options = AddOptions::new("main", Location::Dir(reg.dir.clone()), 1);
    options.channel = "beta".into();
    options.certified_only = true;
    add(&h.store, &Policy::new(), &h.cache, options).unwrap();
    let regs = open(&h);
    let found = regs.find(&PluginRef::new("hello")).unwrap();
    assert_eq!(versions(&found), ["1.0.0"], "only the certified release");
}

#[test]
fn deprecation_and_compatibility_show_in_info() {
    let h = host();
    let mut old = line("hello", "1.0.0");
    old.host_api = Some(crate::format::LineHostApi::new("switchboard-demo", "^0.1"));
    let mut newer = line("hello", "2.0.0");
    newer.host_api = Some(crate::format::LineHostApi::new("switchboard-demo", "^0.2"));
    newer.deprecated = Some(Deprecated::new(Some("hello2".into()), None));
    let reg = registry(&h.tmp, "main", &[("hello", vec![old, newer])]);
    add_dir(&h, "main", &reg, 1);
    let regs = open(&h);
    let compat = Compat::new(Some(HostProfile::new("switchboard-demo", "0.1.3")));
    let info = regs.info(&PluginRef::new("hello"), &compat).unwrap();
    assert_eq!(info.found.plugin.deprecated, Some(Some("hello2".into())));
    let kinds: Vec<_> = info.compatibility.iter().map(|c| c.as_str()).collect();
    assert_eq!(kinds, ["incompatible", "compatible"]);
    let mut q = SearchQuery::new("hello");
    q.compatible = Some(compat);
    let page = regs.search(&q).unwrap();
    assert_eq!(page.hits[0].version.to_string(), "1.0.0");
}

#[test]
fn an_unknown_plugin_or_registry_is_coded() {
    let h = host();
    let reg = registry(&h.tmp, "main", &[]);
    add_dir(&h, "main", &reg, 1);
    let regs = open(&h);
    assert_eq!(
        code(&regs.find(&PluginRef::new("nope")).unwrap_err()),
        "SB1369"
    );
    assert_eq!(
        code(&regs.find(&"other:nope".parse().unwrap()).unwrap_err()),
        "SB1361"
    );
    assert!(regs.index(false).releases("nope").unwrap().is_none());
    assert_eq!(
        code(&remove(&h.store, &h.cache, "other").unwrap_err()),
        "SB1361"
    );
}

#[test]
fn the_search_listing_is_cached_per_snapshot_and_rebuilt_when_it_changes() {
    let h = host();
    let reg = registry(&h.tmp, "main", &[("hello", vec![line("hello", "1.0.0")])]);
    add_dir(&h, "main", &reg, 1);
    let regs = open(&h);
    assert_eq!(regs.search(&SearchQuery::new("")).unwrap().total, 1);
    let cached = h.cache.join("main").join("search-listing.json");
    assert!(cached.is_file());
    write_index(
        &reg.dir,
        &reg.keys,
        &[("world", vec![line("world", "1.0.0")])],
    )
    .unwrap();
    // The next command refreshes, sees a new snapshot and rebuilds.
    let regs = open(&h);
    let page = regs.search(&SearchQuery::new("")).unwrap();
    let names: Vec<_> = page.hits.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["hello", "world"]);
}

#[test]
fn offline_uses_what_was_verified_and_refuses_without_it() {
    let h = host();
    let reg = registry(&h.tmp, "main", &[("hello", vec![line("hello", "1.0.0")])]);
    let server = TestServer::serve(&reg.dir).unwrap();
    let mut options = AddOptions::new("main", Location::Url(server.url()), 1);
    options.root = Some(std::fs::read(reg.dir.join("root.json")).unwrap());
    // Pinned from a file: nothing is fetched to pin it, but the first refresh runs.
    let added = add(&h.store, &Policy::new(), &h.cache, options).unwrap();
    assert_eq!(added.root_source, RootSource::File);
    let regs = open(&h);
    assert_eq!(regs.search(&SearchQuery::new("hello")).unwrap().total, 1);
    drop(server);
    let offline = Registries::open(&h.store, &Policy::new(), &OpenOptions::new(&h.cache)).unwrap();
    let e = offline.refresh().unwrap_err();
    assert_eq!(code(&e), "SB1351", "{e}");
    offline.use_cached().unwrap();
    assert_eq!(
        offline.find(&PluginRef::new("hello")).unwrap().registry,
        "main"
    );
    // A cache wiped: nothing to use offline.
    std::fs::remove_dir_all(&h.cache).unwrap();
    let bare = Registries::open(&h.store, &Policy::new(), &OpenOptions::new(&h.cache)).unwrap();
    assert_eq!(code(&bare.use_cached().unwrap_err()), "SB1372");
}

#[test]
fn a_refresh_with_nothing_new_revalidates_the_timestamp_only() {
    let h = host();
    let reg = registry(&h.tmp, "main", &[("hello", vec![line("hello", "1.0.0")])]);
    let server = TestServer::serve(&reg.dir).unwrap();
    add(
        &h.store,
        &Policy::new(),
        &h.cache,
        AddOptions::new("main", Location::Url(server.url()), 1),
    )
    .unwrap();
    let regs = open(&h);
    regs.search(&SearchQuery::new("")).unwrap();
    server.clear_requests();
    let again = open(&h);
    again.search(&SearchQuery::new("")).unwrap();
    let asked: Vec<_> = server
        .requests()
        .into_iter()
        .map(|r| (r.path, r.status, r.if_none_match.is_some()))
        .collect();
    assert!(
        asked.contains(&("timestamp.json".into(), 304, true)),
        "{asked:?}"
    );
    assert!(
        !asked
            .iter()
            .any(|(p, ..)| p == "snapshot.json" || p.starts_with("index/")),
        "nothing but the timestamp (and the next root's absence): {asked:?}"
    );
}

#[test]
fn a_registry_that_needs_a_token_gets_it_and_refuses_without() {
    let h = host();
    let reg = registry(&h.tmp, "main", &[("hello", vec![line("hello", "1.0.0")])]);
    let server = TestServer::serve(&reg.dir).unwrap();
    server.require_token(Some("t0ken"));
    let mut options = AddOptions::new("team", Location::Url(server.url()), 1);
    options.token_env = Some("TEAM_TOKEN".into());
    let e = add(&h.store, &Policy::new(), &h.cache, options.clone()).unwrap_err();
    assert_eq!(code(&e), "SB1368", "{e}");
    options.token = Some("wrong".into());
    let e = add(&h.store, &Policy::new(), &h.cache, options.clone()).unwrap_err();
    assert_eq!(code(&e), "SB1352", "{e}");
    options.token = Some("t0ken".into());
    add(&h.store, &Policy::new(), &h.cache, options).unwrap();
    let e = Registries::open(&h.store, &Policy::new(), &OpenOptions::new(&h.cache)).unwrap_err();
    assert_eq!(code(&e), "SB1368", "{e}");
    let mut open_options = OpenOptions::new(&h.cache);
    open_options.tokens.insert("team".into(), "t0ken".into());
    let regs = Registries::open(&h.store, &Policy::new(), &open_options).unwrap();
    regs.refresh().unwrap();
    assert_eq!(
        regs.find(&PluginRef::new("hello")).unwrap().registry,
        "team"
    );
}

#[test]
fn a_rollback_is_noticed_after_a_restart() {
    let h = host();
    let reg = registry(&h.tmp, "main", &[("hello", vec![line("hello", "1.0.0")])]);
    add_dir(&h, "main", &reg, 1);
    let old_ts = std::fs::read(reg.dir.join("timestamp.json")).unwrap();
    let old_snap = std::fs::read(reg.dir.join("snapshot.json")).unwrap();
    write_index(
        &reg.dir,
        &reg.keys,
        &[("hello", vec![line("hello", "1.0.1")])],
    )
    .unwrap();
    open(&h);
    std::fs::write(reg.dir.join("timestamp.json"), old_ts).unwrap();
    std::fs::write(reg.dir.join("snapshot.json"), old_snap).unwrap();
    // A new process: only the host database remembers what was seen.
    let store = Store::open(&h.tmp.join("data")).unwrap();
    let regs = Registries::open(&store, &Policy::new(), &OpenOptions::new(&h.cache)).unwrap();
    let e = regs.refresh().unwrap_err();
    assert_eq!(code(&e), "SB1312", "{e}");
}
