//! The demo's certification tour (issue 21 item 2): a registry server on a free port of
//! 127.0.0.1, a publisher uploading counter and submitting it for certification (the checks
//! run and each result is shown), a reviewer approving it (the registry countersigns it),
//! notes — whose `plugin.toml` declares smoke calls — submitted and its calls made by the
//! server in a sandboxed runner process, each passing, and a host that trusts the registry's certification key installing it from the server — each
//! claim checked against the server's answers and the installer's record of the trust level.

use std::path::Path;

use anyhow::Result;
use serde_json::{json, Value};
use switchboard_host::install::{InstallOptions, InstallRequest};
use switchboard_host::{Host, TrustLevel};
use switchboard_registry::registries::OpenOptions;
use switchboard_registry::server::{parse_listen, tokens, Server, ServerOptions};
use switchboard_registry::{Registries, RegistrySource};

use super::Report;
use crate::examples::Profile;
use crate::registries::AddArgs;
use crate::release::{example_release, ReleaseSpec};
use crate::server::{call, login, upload, Method};

fn add(dir: &Path, url: String) -> Result<()> {
    crate::registries::add(
        dir,
        AddArgs {
            name: "hub".into(),
            location: url,
            priority: 10,
            root: None,
            token_env: None,
            certified_only: false,
            channel: "ga".into(),
            policy: None,
        },
    )?;
    Ok(())
}

/// Runs the tour in `data_dir`, with packages signed by `secret_key` (public half
/// `public_key`); the server makes smoke calls in `runner` (`None`: the one this process
/// would use — the `switchboard` executable is its own).
pub(super) fn run(
    r: &mut Report<'_>,
    data_dir: &Path,
    profile: Profile,
    secret_key: &Path,
    public_key: &Path,
    runner: Option<switchboard_host::isolation::RunnerCommand>,
) -> Result<()> {
    let mut options = ServerOptions::new(data_dir.join("server"), parse_listen("127.0.0.1:0")?);
    options.rate_limit = None;
    options.smoke.runner = runner;
    let server = Server::start(&options)?;
    let db = switchboard_registry::server::open_database(&server.data_dir().root)?;
    let account = tokens::create(&db, "demo", "account".parse()?, None)?.token;
    let publish = tokens::create(&db, "demo", "publish:*".parse()?, None)?.token;
    let review = tokens::create(&db, "reviewer", "certify".parse()?, None)?.token;

    // The publisher binds its key, uploads counter and submits it.
    let publisher = data_dir.join("publisher");
    add(&publisher, server.registry_url())?;
    login(&publisher, "hub", &account)?;
    call(
        &publisher,
        "hub",
        Method::Post,
        "accounts/demo/keys",
        Some(&json!({ "public_key": std::fs::read_to_string(public_key)? })),
        true,
    )?;
    login(&publisher, "hub", &publish)?;
    let package = example_release(
        profile,
        &ReleaseSpec {
            name: "counter",
            version: "0.1.0",
            extra_capabilities: &[],
            changelog: "# Changelog\n\n## 0.1.0\n- First release.\n",
            dependencies: &[],
            library: None,
        },
        &data_dir.join("releases"),
        secret_key,
    )?;
    upload(&publisher, "hub", &package, "ga")?;
    let submitted = call(
        &publisher,
        "hub",
        Method::Post,
        "plugins/counter/versions/0.1.0/certification",
        None,
        true,
    )?;
    r.say(
        "Submitted counter@0.1.0 for certification (`switchboard certify submit counter@0.1.0`): every check ran and was recorded, none blocks approval",
        submitted["state"] == "pending"
            && submitted["approvable"] == true
            && submitted["checks"].as_array().is_some_and(|c| c.len() == 5),
        crate::certify::request_text(&submitted),
    )?;

    // A reviewer approves it: the registry countersigns the release.
    let reviewer = data_dir.join("reviewer");
    add(&reviewer, server.registry_url())?;
    login(&reviewer, "hub", &review)?;
    let queue = call(
        &reviewer,
        "hub",
        Method::Get,
        "certification/queue",
        None,
        true,
    )?;
    let id = submitted["id"].as_str().unwrap_or("");
    let approved = call(
        &reviewer,
        "hub",
        Method::Post,
        &format!("certification/{id}/approve"),
        Some(&json!({ "reason": "checks clean; capabilities scoped" })),
        true,
    )?;
    let line = get(&format!("{}/api/v1/plugins/counter", server.url()));
    r.say(
        "A reviewer approved it from the queue (`switchboard certify approve ID`): the index now lists counter@0.1.0 as certified, with the registry's countersignature",
        queue["requests"][0]["id"] == submitted["id"]
            && approved["state"] == "approved"
            && line["versions"][0]["trust"] == "certified"
            && line["versions"][0]["certification"].is_string(),
        format!(
            "{}index line: trust {}",
            crate::certify::request_text(&approved),
            line["versions"][0]["trust"].as_str().unwrap_or("?")
        ),
    )?;

    // notes declares smoke calls in its plugin.toml: the server makes them, isolated.
    let notes = example_release(
        profile,
        &ReleaseSpec {
            name: "notes",
            version: "0.2.0",
            extra_capabilities: &[],
            changelog: "# Changelog\n\n## 0.2.0\n- Notes in KV.\n",
            dependencies: &[],
            library: None,
        },
        &data_dir.join("releases"),
        secret_key,
    )?;
    upload(&publisher, "hub", &notes, "ga")?;
    let smoked = call(
        &publisher,
        "hub",
        Method::Post,
        "plugins/notes/versions/0.2.0/certification",
        None,
        true,
    )?;
    let tests = smoked["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "tests"));
    let detail = tests.and_then(|t| t["detail"].as_str()).unwrap_or("");
    r.say(
        "Submitted notes@0.2.0, whose plugin.toml declares four smoke calls: the server made each in a sandboxed runner process (never in its own) and each passed, so it may be approved",
        tests.is_some_and(|t| t["result"] == "passed")
            && detail.contains("isolated in a sandboxed runner")
            && detail.matches("\npassed: ").count() == 4
            && smoked["approvable"] == true,
        crate::certify::request_text(&smoked),
    )?;

    // A user trusts the registry's certification key and installs counter: certified.
    let user = data_dir.join("user");
    add(&user, server.registry_url())?;
    let key = call(&user, "hub", Method::Get, "certification/key", None, false)?;
    let mut b = Host::builder();
    b.data_dir(&user)
        .host_api("switchboard-demo", env!("CARGO_PKG_VERSION"))
        .trust_registry(key["public_key"].as_str().unwrap_or(""));
    let host = b.build()?;
    let regs = Registries::open(
        host.store(),
        &switchboard_host::Policy::new(),
        &OpenOptions::new(crate::registries::cache_dir(&user)),
    )?;
    regs.refresh()?;
    let mut installer = host.installer();
    installer.source(RegistrySource::new(regs, false));
    installer.install(
        &[InstallRequest::name("counter", semver::VersionReq::STAR)],
        &InstallOptions::new(),
    )?;
    let installed = installer.list()?;
    let trust = installed
        .iter()
        .find(|p| p.name == "counter")
        .map(|p| p.trust);
    r.say(
        "A host trusting the registry's certification key (GET /api/v1/certification/key; `switchboard certify trust`) installed counter from the server: trust level certified",
        trust == Some(TrustLevel::Certified),
        format!(
            "certification key {}\ncounter installed with trust {}",
            key["key_id"].as_str().unwrap_or("?"),
            trust.map_or("(not installed)".to_owned(), |t| t.to_string())
        ),
    )?;
    Ok(())
}

/// GET `url`: the JSON body (null when not JSON or not reached).
fn get(url: &str) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into();
    match agent.get(url).call() {
        Ok(mut resp) => {
            let body = resp
                .body_mut()
                .with_config()
                .limit(4 << 20)
                .read_to_vec()
                .unwrap_or_default();
            serde_json::from_slice(&body).unwrap_or(Value::Null)
        }
        Err(_) => Value::Null,
    }
}
