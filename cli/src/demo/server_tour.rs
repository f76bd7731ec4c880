//! The demo's registry-server tour (issue 20.7): a registry server started on a free port of
//! 127.0.0.1, a publisher account with its signing key bound, hello and wordcount uploaded to
//! it over HTTP (each upload checked before it is listed), then searched and installed from
//! it over HTTP as a user would — each claim checked against the server's answers and the
//! installer's records.

use std::path::Path;

use anyhow::Result;
use serde_json::{json, Value};
use switchboard_host::install::{InstallOptions, InstallRequest};
use switchboard_host::Host;
use switchboard_registry::registries::OpenOptions;
use switchboard_registry::server::{parse_listen, tokens, Server, ServerOptions};
use switchboard_registry::{Registries, RegistrySource, SortOrder};

use super::Report;
use crate::discover::SearchArgs;
use crate::examples::Profile;
use crate::registries::{Access, AddArgs};
use crate::release::{example_release, ReleaseSpec};
use crate::server::{call, login, upload, Method};

/// Runs the tour in `data_dir`, with packages signed by `secret_key` (public half
/// `public_key`).
pub(super) fn run(
    r: &mut Report<'_>,
    data_dir: &Path,
    profile: Profile,
    secret_key: &Path,
    public_key: &Path,
) -> Result<()> {
    let mut options = ServerOptions::new(data_dir.join("server"), parse_listen("127.0.0.1:0")?);
    options.rate_limit = None;
    let server = Server::start(&options)?;
    let url = server.url();
    let stamp = get(&format!("{}/timestamp.json", server.registry_url()));
    r.say(
        &format!("Started a registry server on {url} (`switchboard registry serve --listen 127.0.0.1:0`)"),
        server.addr().ip().is_loopback() && stamp.0 == 200,
        format!(
            "data directory {} (a new signed registry, its keys, server.db)\nGET /index/timestamp.json → {}",
            server.data_dir().root.display(),
            stamp.0
        ),
    )?;

    // The operator makes the publisher's tokens on the server's machine.
    let db = switchboard_registry::server::open_database(&server.data_dir().root)?;
    let account_token = tokens::create(&db, "demo", "account".parse()?, None)?.token;
    let publish_token = tokens::create(&db, "demo", "publish:*".parse()?, None)?.token;

    // The publisher adds the server, binds its key, and uploads.
    let client = data_dir.join("client");
    crate::registries::add(
        &client,
        AddArgs {
            name: "hub".into(),
            location: server.registry_url(),
            priority: 10,
            root: None,
            token_env: None,
            certified_only: false,
            channel: "ga".into(),
            policy: None,
        },
    )?;
    login(&client, "hub", &account_token)?;
    let key = call(
        &client,
        "hub",
        Method::Post,
        "accounts/demo/keys",
        Some(&json!({ "public_key": std::fs::read_to_string(public_key)? })),
        true,
    )?;
    login(&client, "hub", &publish_token)?;
    let releases = data_dir.join("releases");
    let mut uploaded = Vec::new();
    for name in ["hello", "wordcount"] {
        let package = example_release(
            profile,
            &ReleaseSpec {
                name,
                version: "0.1.0",
                extra_capabilities: &[],
                changelog: "# Changelog\n\n## 0.1.0\n- First release.\n",
                dependencies: &[],
                library: None,
            },
            &releases,
            secret_key,
        )?;
        match upload(&client, "hub", &package, "ga") {
            Ok(doc) => uploaded.push(doc),
            // A refusal is this step failing (e.g. a package signed by a key other than the
            // bound one); the rest of the demo runs on.
            Err(e) => {
                r.say(
                    "Bound the publisher's key to its account and uploaded hello and wordcount over HTTP; every check passed before each was listed, as verified",
                    false,
                    format!("the server refused {name}: {e:#}"),
                )?;
                return Ok(());
            }
        }
    }
    let checked = |doc: &Value| {
        doc["checks"]
            .as_array()
            .is_some_and(|c| c.len() >= 7 && c.iter().all(|c| c["outcome"] == "passed"))
    };
    let mut detail = format!(
        "key {} bound to account demo\n",
        key["key"]["key_id"].as_str().unwrap_or("?")
    );
    for doc in &uploaded {
        detail.push_str(&format!(
            "{}@{}: {}, trust {}, checks: {}\n",
            doc["name"].as_str().unwrap_or("?"),
            doc["version"].as_str().unwrap_or("?"),
            doc["state"].as_str().unwrap_or("?"),
            doc["trust"].as_str().unwrap_or("?"),
            doc["checks"]
                .as_array()
                .map(|cs| cs
                    .iter()
                    .map(|c| format!(
                        "{} {}",
                        c["name"].as_str().unwrap_or("?"),
                        c["outcome"].as_str().unwrap_or("?")
                    ))
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        ));
    }
    r.say(
        "Bound the publisher's key to its account and uploaded hello and wordcount over HTTP; every check passed before each was listed, as verified",
        uploaded.len() == 2
            && uploaded
                .iter()
                .all(|d| d["state"] == "listed" && d["trust"] == "verified" && checked(d)),
        detail,
    )?;

    // A user finds them through the client (over HTTP, verifying the signed index) and the
    // API's filters.
    let page = crate::discover::search(
        &client,
        &Access::default(),
        &SearchArgs {
            query: "word".into(),
            category: None,
            capability: None,
            compatible: false,
            host_api: None,
            trust: None,
            maintainer: None,
            sort: SortOrder::Relevance,
            page: 1,
            per_page: 20,
        },
    )?;
    let filtered = get(&format!(
        "{url}/api/v1/search?compatible_with=switchboard-demo@{}&trust=verified&sort=name",
        env!("CARGO_PKG_VERSION")
    ));
    let names: Vec<&str> = filtered.1["hits"]
        .as_array()
        .map(|h| h.iter().filter_map(|h| h["name"].as_str()).collect())
        .unwrap_or_default();
    r.say(
        "Searched the server: `switchboard search word` finds wordcount; the API's compatible_with + trust filters list both",
        page.hits.first().is_some_and(|h| h.name == "wordcount" && h.registry == "hub")
            && names == ["hello", "wordcount"],
        format!(
            "{}\nGET /api/v1/search?compatible_with=…&trust=verified&sort=name → {names:?}",
            crate::discover::search_text(&page)
        ),
    )?;

    // And installs them from the server into a host of its own.
    let mut b = Host::builder();
    b.data_dir(&client)
        .host_api("switchboard-demo", env!("CARGO_PKG_VERSION"));
    let host = b.build()?;
    let regs = Registries::open(
        host.store(),
        &switchboard_host::Policy::new(),
        &OpenOptions::new(crate::registries::cache_dir(&client)),
    )?;
    regs.refresh()?;
    let mut installer = host.installer();
    installer.source(RegistrySource::new(regs, false));
    let report = installer.install(
        &[
            InstallRequest::name("hello", semver::VersionReq::STAR),
            InstallRequest::name("wordcount", semver::VersionReq::STAR),
        ],
        &InstallOptions::new(),
    )?;
    let installed: Vec<(String, String)> = installer
        .list()?
        .into_iter()
        .map(|p| (p.name, p.source))
        .collect();
    let downloads = get(&format!("{url}/api/v1/plugins/hello")).1["downloads"]
        .as_u64()
        .unwrap_or(0);
    r.say(
        "Installed hello and wordcount from the server over HTTP (downloaded, verified, activated in a new generation)",
        report.generation.is_some()
            && installed
                == [
                    ("hello".to_owned(), "registry:hub".to_owned()),
                    ("wordcount".to_owned(), "registry:hub".to_owned()),
                ]
            && downloads >= 1,
        format!("{installed:?}\nhello's downloads on the server: {downloads}"),
    )?;

    let page = get(&format!("{url}/"));
    let api = get(&format!("{url}/api/v1/plugins/wordcount"));
    r.say(
        &format!("The registry answers at {url}/ (its web page) and {url}/api/v1/ (its JSON API, described at /api/openapi.json)"),
        api.0 == 200 && api.1["owners"][0]["account"] == "demo",
        format!(
            "GET / → HTTP {}\nGET /api/v1/plugins/wordcount → HTTP {}, owned by {}",
            page.0,
            api.0,
            api.1["owners"][0]["account"].as_str().unwrap_or("?")
        ),
    )?;
    super::reviews_tour::run(r, &server, &db)?;
    Ok(())
}

/// GET `url`: status and JSON body (null when not JSON).
fn get(url: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into();
    match agent.get(url).call() {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let body = resp
                .body_mut()
                .with_config()
                .limit(4 << 20)
                .read_to_vec()
                .unwrap_or_default();
            (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}
