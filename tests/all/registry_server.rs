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
