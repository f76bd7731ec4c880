//! The demo's purchase tour (issue 21, items 3–4): a registry server selling through the
//! test payment provider; its publisher prices hello at 49.00 EUR; a buyer's install is
//! refused (`SB1480`, naming `switchboard buy`), a declined payment records nothing, the
//! purchase goes through, the same install then installs it, and the publisher's payout
//! report of the month has the sale with the fee taken. Each claim is checked against the
//! server's answers and the installer's records.

use std::path::Path;

use anyhow::Result;
use serde_json::json;
use switchboard_host::install::{InstallOptions, InstallRequest};
use switchboard_host::Host;
use switchboard_registry::server::payments::TestPayments;
use switchboard_registry::server::{parse_listen, tokens, Server, ServerOptions};
use switchboard_registry::RegistrySource;

use super::Report;
use crate::examples::Profile;
use crate::registries::{Access, AddArgs};
use crate::release::{example_release, ReleaseSpec};
use crate::server::{call, login, upload, Method};

fn add(client: &Path, url: String) -> Result<()> {
    crate::registries::add(
        client,
        AddArgs {
            name: "shop".into(),
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

/// Installs hello into the host of `client` from the server (with the login token).
fn install(client: &Path) -> Result<usize> {
    let mut b = Host::builder();
    b.data_dir(client)
        .host_api("switchboard-demo", env!("CARGO_PKG_VERSION"));
    let host = b.build()?;
    let regs = crate::registries::open(client, &Access::default())?;
    let mut installer = host.installer();
    installer.source(RegistrySource::new(regs, false));
    let report = installer.install(
        &[InstallRequest::name("hello", semver::VersionReq::STAR)],
        &InstallOptions::new(),
    )?;
    Ok(report.changes.len())
}

/// Runs the tour in `data_dir`, hello signed by `secret_key` (public half `public_key`).
pub(super) fn run(
    r: &mut Report<'_>,
    data_dir: &Path,
    profile: Profile,
    secret_key: &Path,
    public_key: &Path,
) -> Result<()> {
    let mut options = ServerOptions::new(data_dir.join("server"), parse_listen("127.0.0.1:0")?);
    options.rate_limit = None;
    options.payments = Some(std::sync::Arc::new(TestPayments));
    let server = Server::start(&options)?;
    let db = switchboard_registry::server::open_database(&server.data_dir().root)?;
    let acme_account = tokens::create(&db, "acme", "account".parse()?, None)?.token;
    let acme_publish = tokens::create(&db, "acme", "publish:*".parse()?, None)?.token;
    let ann_token = tokens::create(&db, "ann", "account".parse()?, None)?.token;

    // The publisher uploads hello and prices it.
    let acme = data_dir.join("acme");
    add(&acme, server.registry_url())?;
    login(&acme, "shop", &acme_account)?;
    call(
        &acme,
        "shop",
        Method::Post,
        "accounts/acme/keys",
        Some(&json!({ "public_key": std::fs::read_to_string(public_key)? })),
        true,
    )?;
    login(&acme, "shop", &acme_publish)?;
    let package = example_release(
        profile,
        &ReleaseSpec {
            name: "hello",
            version: "0.1.0",
            extra_capabilities: &[],
            changelog: "# Changelog\n\n## 0.1.0\n- First release.\n",
            dependencies: &[],
            library: None,
        },
        &data_dir.join("releases"),
        secret_key,
    )?;
    upload(&acme, "shop", &package, "ga")?;
    login(&acme, "shop", &acme_account)?;
    let priced = call(
        &acme,
        "shop",
        Method::Post,
        "plugins/hello/pricing",
        Some(&json!({ "model": "paid", "price": { "amount": 4900, "currency": "EUR" } })),
        true,
    )?;

    // The buyer installs without buying: refused, coded, with the command to run.
    let ann = data_dir.join("ann");
    add(&ann, server.registry_url())?;
    login(&ann, "shop", &ann_token)?;
    let refused = install(&ann).err();
    let (code, next) = refused
        .as_ref()
        .map(crate::output::code_of)
        .unwrap_or_default();
    let message = refused
        .as_ref()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    r.say(
        "Marketplace: a paid plugin (49.00 EUR) is refused to an account that has not bought it, with a coded error naming `switchboard buy`",
        priced["pricing"]["shown"] == "49.00 EUR"
            && message.contains("SB1480")
            && next.contains("switchboard buy hello --registry shop"),
        format!(
            "switchboard price hello --amount 4900 --currency EUR → {}\nswitchboard install hello → {code}: {message}\nnext: {next}",
            priced["pricing"]["shown"].as_str().unwrap_or("?")
        ),
    )?;

    // A declined payment records nothing; an approved one entitles ann.
    let declined = crate::buy::buy(&ann, "shop", "hello", Some("test-decline"), false).err();
    let nothing = crate::buy::entitlements(&ann, "shop")?;
    let bought = crate::buy::buy(&ann, "shop", "hello", Some("test-approve"), false)?;
    let declined_code = declined
        .as_ref()
        .map(|e| crate::output::code_of(e).0)
        .unwrap_or_default();
    r.say(
        "Bought it: a declined payment records nothing (SB1481); the approved one records a sale and an entitlement",
        declined_code == "SB1481"
            && nothing["entitlements"] == json!([])
            && bought["charged"] == json!({ "amount": 4900, "currency": "EUR" })
            && bought["entitlement"]["kind"] == "purchase",
        format!(
            "switchboard buy hello --payment-method test-decline → {declined_code}\n\
             switchboard buy hello --payment-method test-approve → {} ({} for {})",
            bought["purchase"].as_str().unwrap_or("?"),
            bought["entitlement"]["kind"].as_str().unwrap_or("?"),
            bought["entitlement"]["account"].as_str().unwrap_or("?"),
        ),
    )?;

    // The same install now installs it.
    let installed = install(&ann);
    r.say(
        "Installed the bought plugin with the same command",
        installed.as_ref().is_ok_and(|n| *n == 1),
        format!(
            "switchboard install hello → {}",
            match &installed {
                Ok(n) => format!("{n} change(s)"),
                Err(e) => format!("{e:#}"),
            }
        ),
    )?;

    // The publisher's payout line of this month: 49.00 gross, 15 % fee, 41.65 net.
    let month = bought["entitlement"]["since"]
        .as_i64()
        .and_then(|at| jiff::Timestamp::from_second(at).ok())
        .map(|t| t.strftime("%Y-%m").to_string())
        .unwrap_or_default();
    let csv = crate::payouts::from_server(&acme, "shop", &month, crate::payouts::Format::Csv)?;
    let line = format!("{month},acme,hello,EUR,sales,1500,1,49.00,0.00,49.00,7.35,41.65");
    r.say(
        "The publisher's payout report from the server's ledger has the sale: gross = fees + net",
        csv.lines().any(|l| l.starts_with(&line)),
        format!("switchboard payouts --registry shop --month {month} --csv\n{csv}"),
    )?;
    Ok(())
}
