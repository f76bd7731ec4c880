//! A plugin's data belongs to its publisher, not to its name: state, secrets and stored
//! grants are handed only to the identity that wrote them (ARCHITECTURE D6, issue 13.2).

use std::path::Path;

use switchboard_host::{AuditFilter, Error, Host, PluginIdentity, Policy};
use switchboard_tests::packages::{example_package, keys, sign};
use switchboard_tests::{host_with, library, patched_copy};

fn state_policy() -> Policy {
    let mut p = Policy::new();
    p.allow("kv".parse().unwrap());
    p.allow("secrets".parse().unwrap());
    p
}

fn refusal<T: std::fmt::Debug>(r: Result<T, Error>) -> Error {
    match r {
        Ok(v) => panic!("expected a refusal, got {v:?}"),
        Err(e) => e,
    }
}

/// `counter` with its embedded name changed to `Counter` — a name that aliases it — in the
/// manifest section and in the `plugin.toml` embedded beside it.
fn alias_of_counter(dir: &Path) -> std::path::PathBuf {
    let once = patched_copy(
        &library("counter"),
        dir,
        b"\"name\":\"counter\"",
        b"\"name\":\"Counter\"",
    );
    patched_copy(
        &once,
        dir,
        b"name = \\\"counter\\\"",
        b"name = \\\"Counter\\\"",
    )
}

#[test]
fn another_library_under_an_aliasing_name_does_not_get_the_first_ones_data() {
    let (host, dir) = host_with(|b, _| {
        b.policy(state_policy());
    });
    let victim = host.load_unsigned(library("counter")).unwrap();
    drop(victim);
    host.kv("counter").put("c/private", b"42").unwrap();
    host.secrets("counter").put("token", b"hunter2").unwrap();
    host.remove("counter").unwrap();

    let alias = alias_of_counter(dir.path());
    let e = refusal(host.load_unsigned(&alias));
    assert_eq!(e.code().to_string(), "SB0440", "{e}");
    let text = e.to_string();
    assert!(
        text.contains(
            &library("counter")
                .canonicalize()
                .unwrap()
                .display()
                .to_string()
        ) && text.contains(&alias.canonicalize().unwrap().display().to_string()),
        "both identities are named: {text}"
    );
    assert!(host.plugin_names().is_empty());
    assert_eq!(
        host.plugin_identity("Counter").unwrap(),
        Some(PluginIdentity::Library(
            library("counter").canonicalize().unwrap()
        )),
        "names compare by key: the data is still counter's"
    );

    // The operator hands the data over explicitly; then the alias loads and sees it.
    let to: PluginIdentity = format!("library:{}", alias.canonicalize().unwrap().display())
        .parse()
        .unwrap();
    host.transfer_state("counter", &to).unwrap();
    let h = host.load_unsigned(&alias).unwrap();
    h.start().unwrap();
    let read = h.command::<String, String>("read").unwrap();
    assert_eq!(read.call(&"c/private".to_string()).unwrap(), "42");
    // ...and may not hand it on while it is loaded.
    let e = refusal(host.transfer_state("counter", &to));
    assert_eq!(e.code().to_string(), "SB0442", "{e}");
    let audited = host
        .audit()
        .query(&AuditFilter::new().plugin("counter".to_string()))
        .unwrap();
    assert!(audited
        .iter()
        .any(|r| r.kind == "identity" && r.detail.contains("transfer")));
}

#[test]
fn wiping_a_plugins_state_lets_another_identity_start_afresh() {
    let (host, dir) = host_with(|b, root| {
        b.policy(state_policy());
        let _ = root;
    });
    host.load_unsigned(library("counter")).unwrap();
    host.kv("counter").put("c/private", b"42").unwrap();
    host.secrets("counter").put("token", b"hunter2").unwrap();
    host.remove("counter").unwrap();

    // Through the CLI's `state wipe`, on the host's data directory.
    let data = dir.path().join("data");
    let shown = switchboard_cli::state::show(&data, "counter").unwrap();
    assert!(shown["owner"].as_str().unwrap().starts_with("library:"));
    let wiped = switchboard_cli::state::wipe(&data, "counter").unwrap();
    assert_eq!(wiped["wiped"]["kv_entries"], 1);
    assert_eq!(wiped["wiped"]["secrets"], 1);

    let alias = alias_of_counter(dir.path());
    let h = host.load_unsigned(&alias).unwrap();
    h.start().unwrap();
    assert_eq!(host.kv("counter").get("c/private").unwrap(), None);
    assert!(host.secrets("counter").get("token").unwrap().is_none());
    assert_eq!(
        host.plugin_identity("counter")
            .unwrap()
            .map(|i| i.to_string()),
        Some(format!(
            "library:{}",
            alias.canonicalize().unwrap().display()
        ))
    );
}

#[test]
fn a_development_rebuild_at_the_same_path_keeps_its_data() {
    let (host, _dir) = host_with(|b, _| {
        b.policy(state_policy());
    });
    host.load_unsigned(library("counter")).unwrap();
    host.kv("counter").put("c/kept", b"1").unwrap();
    host.remove("counter").unwrap();
    // The same library path (as after `cargo build`) is the same identity.
    host.load_unsigned(library("counter")).unwrap();
    assert_eq!(
        host.kv("counter").get("c/kept").unwrap().as_deref(),
        Some(&b"1"[..])
    );
}

#[test]
fn a_package_signed_by_another_key_does_not_get_the_first_ones_data() {
    let _g = switchboard_tests::canary_lock();
    let dir = tempfile::tempdir().unwrap();
    switchboard_tests::arm_canary(dir.path());
    let first = dir.path().join("first");
    let second = dir.path().join("second");
    std::fs::create_dir_all(&first).unwrap();
    std::fs::create_dir_all(&second).unwrap();
    let a = example_package("canary", &first);
    sign(&a, &keys(&first));
    let b = example_package("canary", &second);
    sign(&b, &keys(&second));
    let mut builder = Host::builder();
    builder
        .data_dir(dir.path().join("data"))
        .host_api("switchboard-demo", "0.1.0");
    let host = builder.build().unwrap();
    host.load_package(&a).unwrap();
    host.kv("canary").put("k", b"v").unwrap();
    host.remove("canary").unwrap();
    let e = refusal(host.load_package(&b));
    assert_eq!(e.code().to_string(), "SB0440", "{e}");
}

#[test]
fn a_load_that_fails_after_admission_keeps_no_claim_on_the_names_data() {
    // An invalid configuration refuses counter's load after policy admitted it (SB0722).
    let (host, dir) = host_with(|b, _| {
        b.policy(state_policy());
        b.config_vars([("SWITCHBOARD_COUNTER_STEP", "0")]);
    });
    let e = refusal(host.load_unsigned(library("counter")));
    assert_eq!(e.code().to_string(), "SB0722", "{e}");
    assert_eq!(host.plugin_identity("counter").unwrap(), None);

    // So another copy of the library, elsewhere (another identity), is not refused as the
    // owner of data nobody ever wrote: it fails for the same configuration reason, not SB0440.
    let copy = dir.path().join("elsewhere");
    std::fs::create_dir_all(&copy).unwrap();
    let copy = copy.join(library("counter").file_name().unwrap());
    std::fs::copy(library("counter"), &copy).unwrap();
    let e = refusal(host.load_unsigned(&copy));
    assert_eq!(e.code().to_string(), "SB0722", "{e}");
}
