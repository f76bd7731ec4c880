//! The registry server end to end: a real signed `hello` package published into a server's
//! registry, and the real client (the CLI's own functions and the installer) adding,
//! searching, showing and installing it over HTTP from `http://127.0.0.1:PORT/index`, beside
//! the server's JSON API answering for the same release.

use std::path::Path;

use switchboard_cli::discover::{self, SearchArgs};
use switchboard_cli::registries::{self as cli, Access, AddArgs};
use switchboard_registry::publish::{publish, PublishOptions};
use switchboard_registry::server::{parse_listen, Server, ServerOptions};
use switchboard_registry::SortOrder;
use switchboard_tests::packages::{example_package, keys, sign};

fn start(tmp: &Path) -> Server {
    let options = ServerOptions::new(tmp.join("server"), parse_listen("127.0.0.1:0").unwrap());
    Server::start(&options).unwrap()
}

fn add_args(location: &str) -> AddArgs {
    AddArgs {
        name: "main".into(),
        location: location.into(),
        priority: 10,
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

fn api(server: &Server, path: &str) -> serde_json::Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent.get(format!("{}{path}", server.url())).call().unwrap();
    serde_json::from_slice(&resp.body_mut().read_to_vec().unwrap()).unwrap()
}

#[test]
fn the_real_client_searches_and_installs_a_real_package_from_the_server() {
    // Installs: not while another test has an install failpoint armed (they are process-wide).
    let _g = switchboard_tests::releases::install_lock();
    use switchboard_host::install::{InstallOptions, InstallRequest};
    use switchboard_registry::registries::OpenOptions;
    use switchboard_registry::{Registries, RegistrySource};

    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path());
    let packages = tmp.path().join("packages");
    std::fs::create_dir_all(&packages).unwrap();
    let package = example_package("hello", &packages);
    sign(&package, &keys(&packages));
    let d = server.data_dir();
    publish(&d.registry, &d.keys, &package, &PublishOptions::default()).unwrap();

    // The client adds the server's registry (pinning its root on first use) and searches it.
    let data = tmp.path().join("data");
    let added = cli::add(&data, add_args(&server.registry_url())).unwrap();
    assert_eq!(added.plugins, 1);
    let page = discover::search(&data, &Access::default(), &search_args("hello")).unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.hits[0].name, "hello");
    let info = discover::info(&data, &Access::default(), "hello", None).unwrap();
    let selected = info.selected.clone().unwrap();

    // The API answers for the same release.
    let doc = api(&server, "/api/v1/search?q=hello");
    assert_eq!(doc["total"], 1);
    assert_eq!(doc["hits"][0]["version"], selected.version.to_string());
    let doc = api(&server, "/api/v1/plugins/hello");
    assert_eq!(doc["latest"], selected.version.to_string());
    assert_eq!(doc["channels"]["ga"], selected.version.to_string());
    assert_eq!(doc["versions"][0]["trust"], "self-signed");

    // And the installer installs it, downloading and verifying the package over HTTP.
    let mut b = switchboard_host::Host::builder();
    b.data_dir(&data).host_api("switchboard-demo", "0.1.0");
    let host = b.build().unwrap();
    let regs = Registries::open(
        host.store(),
        &switchboard_host::Policy::new(),
        &OpenOptions::new(cli::cache_dir(&data)),
    )
    .unwrap();
    regs.refresh().unwrap();
    let mut installer = host.installer();
    installer.source(RegistrySource::new(regs, false));
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

#[test]
fn a_publisher_logs_in_and_uploads_over_http_and_names_belong_to_their_account() {
    use switchboard_cli::server::{login, upload};
    use switchboard_host::package::build;
    use switchboard_registry::server::{open_database, tokens};
    use switchboard_tests::packages::{files, manifest, write};

    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path());
    let db = open_database(&server.data_dir().root).unwrap();
    let token = |account: &str| {
        tokens::create(&db, account, "publish:hel*".parse().unwrap(), None)
            .unwrap()
            .token
    };
    let packages = tmp.path().join("packages");
    std::fs::create_dir_all(&packages).unwrap();
    let author = keys(&packages);
    // acme's signing key is bound to acme (mallory's is not, below).
    switchboard_registry::server::accounts::add_key(
        &db,
        "acme",
        &switchboard_tests::packages::public_key(&author),
    )
    .unwrap();
    let package = example_package("hello", &packages);
    sign(&package, &author);

    // acme logs in (the token is stored 0600) and uploads: listed, owned by acme.
    let acme = tmp.path().join("acme");
    cli::add(&acme, add_args(&server.registry_url())).unwrap();
    let e = upload(&acme, "main", &package, "ga").unwrap_err();
    assert_eq!(coded(&e).0, "SB1394", "{e:#}");
    let stored = login(&acme, "main", &token("acme")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&stored).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let doc = upload(&acme, "main", &package, "ga").unwrap();
    assert_eq!(
        (doc["name"].as_str(), doc["added"].as_bool()),
        (Some("hello"), Some(true))
    );
    assert_eq!(doc["account"], "acme");
    // Signed by a key bound to the account: listed as verified.
    assert_eq!(doc["trust"], "verified");
    // The same bytes again change nothing.
    let doc = upload(&acme, "main", &package, "ga").unwrap();
    assert_eq!(doc["added"], false);
    // Other bytes under the same version: the registry's own refusal, with its code.
    let other_dir = packages.join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let mut f = files("hello");
    f.insert("README.md".into(), b"# hello, rebuilt\n".to_vec());
    let built = build(&manifest("hello"), &f).unwrap();
    let rebuilt = write(&other_dir, &built.file_name, &built.bytes);
    sign(&rebuilt, &author);
    let e = upload(&acme, "main", &rebuilt, "ga").unwrap_err();
    assert_eq!(coded(&e).0, "SB1336", "{e:#}");

    // Another account's token may not publish acme's name.
    let mallory = tmp.path().join("mallory");
    cli::add(&mallory, add_args(&server.registry_url())).unwrap();
    login(&mallory, "main", &token("mallory")).unwrap();
    let e = upload(&mallory, "main", &package, "ga").unwrap_err();
    assert_eq!(coded(&e).0, "SB1389", "{e:#}");
    assert!(format!("{e:#}").contains("acme"), "{e:#}");

    // What was uploaded is what the client finds and verifies.
    let page = discover::search(&acme, &Access::default(), &search_args("hello")).unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(
        tokens::owner(&db, "hello").unwrap().as_deref(),
        Some("acme")
    );
}

#[test]
fn uploads_are_checked_before_listing_keys_are_bound_to_accounts_and_squats_are_held() {
    use switchboard_cli::accounts::{
        run_hold, run_key, run_owner, HoldCmd, KeyCmd, OwnerCmd, ServerTarget,
    };
    use switchboard_cli::server::{call, login, upload, Method};
    use switchboard_registry::publish::{publish_unverified, Expiries};
    use switchboard_registry::server::{open_database, tokens};

    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path());
    let db = open_database(&server.data_dir().root).unwrap();
    let token = |account: &str, scope: &str| {
        tokens::create(&db, account, scope.parse().unwrap(), None)
            .unwrap()
            .token
    };
    let packages = tmp.path().join("packages");
    std::fs::create_dir_all(&packages).unwrap();
    let author = keys(&packages);
    let package = example_package("hello", &packages);
    sign(&package, &author);
    let target = |data: &Path| ServerTarget {
        registry: "main".into(),
        data_dir: Some(data.to_owned()),
        json: true,
    };

    // acme uploads with a key not bound to acme: refused, coded, recorded, unlisted.
    let acme = tmp.path().join("acme");
    cli::add(&acme, add_args(&server.registry_url())).unwrap();
    login(&acme, "main", &token("acme", "publish:*")).unwrap();
    let e = upload(&acme, "main", &package, "ga").unwrap_err();
    assert_eq!(coded(&e).0, "SB1442", "{e:#}");
    let message = format!("{e:#}");
    let id = message
        .split("(upload ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .unwrap()
        .to_owned();
    let doc = call(
        &acme,
        "main",
        Method::Get,
        &format!("uploads/{id}"),
        None,
        false,
    )
    .unwrap();
    assert_eq!(doc["state"], "failed");
    let outcome = |doc: &serde_json::Value, check: &str| {
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == check)
            .map(|c| c["outcome"].as_str().unwrap().to_owned())
    };
    assert_eq!(outcome(&doc, "package").as_deref(), Some("passed"), "{doc}");
    assert_eq!(
        outcome(&doc, "preflight").as_deref(),
        Some("passed"),
        "{doc}"
    );
    assert_eq!(outcome(&doc, "signer").as_deref(), Some("failed"), "{doc}");
    assert_eq!(api(&server, "/api/v1/search")["total"], 0);
    assert_eq!(tokens::owner(&db, "hello").unwrap(), None);

    // acme binds the key with an `account` token (through the CLI), then the upload lists.
    let acme_admin = tmp.path().join("acme-account");
    cli::add(&acme_admin, add_args(&server.registry_url())).unwrap();
    login(&acme_admin, "main", &token("acme", "account")).unwrap();
    assert!(run_key(KeyCmd::Add {
        file: author.join("switchboard.pub"),
        account: None,
        target: target(&acme_admin),
    })
    .unwrap());
    let doc = upload(&acme, "main", &package, "ga").unwrap();
    assert_eq!(
        (doc["state"].as_str(), doc["trust"].as_str()),
        (Some("listed"), Some("verified"))
    );
    let details = api(&server, "/api/v1/plugins/hello");
    let checks = details["versions"][0]["checks"].as_array().unwrap();
    assert!(checks.len() >= 7, "{checks:?}");
    assert!(
        checks.iter().all(|c| c["outcome"] == "passed"),
        "{checks:?}"
    );
    assert_eq!(details["owners"][0]["account"], "acme");

    // Deprecate and yank over the CLI, against the server (no --keys): the publish token
    // deprecates; yanking needs a `yank` token.
    let change = |json: bool| switchboard_cli::publish::ChangeTarget {
        registry: "main".into(),
        keys: None,
        expiries: switchboard_cli::publish::ExpiryArgs {
            timestamp_expires: "1d".into(),
            snapshot_expires: "30d".into(),
            root_expires: "365d".into(),
        },
        data_dir: Some(acme.clone()),
        json,
    };
    assert!(
        switchboard_cli::publish::run_deprecate(switchboard_cli::publish::DeprecateArgs {
            name: "hello".into(),
            successor: None,
            message: Some("replaced by the streaming greeter".into()),
            target: change(true),
        })
        .unwrap()
    );
    assert_eq!(
        api(&server, "/api/v1/plugins/hello")["deprecated"]["message"],
        "replaced by the streaming greeter"
    );
    let e = switchboard_cli::publish::run_yank(switchboard_cli::publish::YankArgs {
        release: "hello@0.1.0".into(),
        reason: "broken".into(),
        target: change(true),
    })
    .unwrap_err();
    assert_eq!(coded(&e).0, "SB1388", "{e:#}");

    // Owners over the CLI: acme adds bob; removing the last owner is refused.
    assert!(run_owner(OwnerCmd::Add {
        name: "hello".into(),
        account: "bob".into(),
        target: target(&acme_admin),
    })
    .unwrap());
    assert!(run_owner(OwnerCmd::Remove {
        name: "hello".into(),
        account: "bob".into(),
        target: target(&acme_admin),
    })
    .unwrap());
    let e = run_owner(OwnerCmd::Remove {
        name: "hello".into(),
        account: "acme".into(),
        target: target(&acme_admin),
    })
    .unwrap_err();
    assert_eq!(coded(&e).0, "SB1441", "{e:#}");

    // A squat: `he11o` is listed (by hand); mallory's real `hello`-named upload in a fresh
    // server reads as it, so it is held, not listed, until an admin decides.
    let tmp2 = tempfile::tempdir().unwrap();
    let server2 = start(tmp2.path());
    let d = server2.data_dir();
    let mut squatted = switchboard_registry::testing::line("he11o", "1.0.0");
    squatted.trust = switchboard_host::TrustLevel::SelfSigned;
    squatted.size = b"he11o@1.0.0".len() as u64;
    publish_unverified(
        &d.registry,
        &d.keys,
        vec![(squatted, b"he11o@1.0.0".to_vec())],
        &Expiries::default(),
    )
    .unwrap();
    let db2 = open_database(&d.root).unwrap();
    let mallory = tmp.path().join("mallory");
    cli::add(&mallory, add_args(&server2.registry_url())).unwrap();
    login(
        &mallory,
        "main",
        &tokens::create(&db2, "mallory", "publish:*".parse().unwrap(), None)
            .unwrap()
            .token,
    )
    .unwrap();
    switchboard_registry::server::accounts::add_key(
        &db2,
        "mallory",
        &switchboard_tests::packages::public_key(&author),
    )
    .unwrap();
    let ops = tmp.path().join("ops");
    cli::add(&ops, add_args(&server2.registry_url())).unwrap();
    login(
        &ops,
        "main",
        &tokens::create(&db2, "ops", "admin".parse().unwrap(), None)
            .unwrap()
            .token,
    )
    .unwrap();
    let held = upload(&mallory, "main", &package, "ga").unwrap();
    assert_eq!(held["state"], "held", "{held}");
    assert_eq!(held["similar"], "he11o");
    let first = held["upload"].as_str().unwrap().to_owned();
    let api2 = |path: &str| api(&server2, path);
    assert_eq!(api2("/api/v1/plugins/hello")["code"], "SB1381");
    // Only an admin sees and decides the queue.
    let e = call(&mallory, "main", Method::Get, "holds", None, true).unwrap_err();
    assert_eq!(coded(&e).0, "SB1388");
    let queue = call(&ops, "main", Method::Get, "holds", None, true).unwrap();
    assert_eq!(queue["holds"][0]["upload"], first.as_str());
    assert!(run_hold(HoldCmd::Reject {
        id: first.clone(),
        reason: "reads as he11o".into(),
        target: target(&ops),
    })
    .unwrap());
    assert_eq!(
        api2(&format!("/api/v1/uploads/{first}"))["state"],
        "rejected"
    );
    // Uploaded again: held again; released, it is listed for its uploader.
    let held = upload(&mallory, "main", &package, "ga").unwrap();
    let second = held["upload"].as_str().unwrap().to_owned();
    let released = call(
        &ops,
        "main",
        Method::Post,
        &format!("holds/{second}/release"),
        None,
        true,
    )
    .unwrap();
    assert_eq!(released["state"], "listed", "{released}");
    assert_eq!(released["decided_by"], "ops");
    assert_eq!(
        api2("/api/v1/plugins/hello")["owners"][0]["account"],
        "mallory"
    );
    let e = call(
        &ops,
        "main",
        Method::Post,
        &format!("holds/{second}/release"),
        None,
        true,
    )
    .unwrap_err();
    assert_eq!(coded(&e).0, "SB1448");
}
