//! `switchboard buy NAME --registry R` and `switchboard entitlements --registry R`: buying a
//! paid plugin from a registry server for the account whose token `switchboard login`
//! stored (SPEC S9.8), and listing what that account may download; `switchboard price NAME
//! --registry R …`: an owner setting a plugin's price.
//!
//! The server charges through its payment provider and records the sale and the entitlement;
//! `switchboard install NAME` then downloads the package with the same token (a paid plugin's
//! package is refused without an entitlement, `SB1480`, naming this command).

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use serde_json::{json, Value};

use crate::output::print;
use crate::server::{call, escape, Method};

/// `switchboard buy`.
#[derive(Debug, Args)]
pub struct BuyArgs {
    /// The plugin to buy.
    pub name: String,
    /// The configured registry server selling it (`switchboard registry add NAME
    /// http://HOST:PORT/index`; `switchboard login --registry NAME` first).
    #[arg(long)]
    pub registry: String,
    /// What to pay with: the server's payment provider's payment-method id (the test
    /// provider of `registry serve --test-payments` takes `test-approve`).
    #[arg(
        long,
        value_name = "METHOD",
        env = "SWITCHBOARD_PAYMENT_METHOD",
        conflicts_with = "trial"
    )]
    pub payment_method: Option<String>,
    /// Start the plugin's free trial instead (once per account and plugin).
    #[arg(long)]
    pub trial: bool,
    /// The data directory holding the configured registries and logins.
    #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
    pub data_dir: Option<PathBuf>,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// `switchboard price`.
#[derive(Debug, Args)]
pub struct PriceArgs {
    /// The plugin (one your account owns).
    pub name: String,
    /// The configured registry server.
    #[arg(long)]
    pub registry: String,
    /// Make it free again.
    #[arg(long, conflicts_with_all = ["amount", "period", "trial_days"])]
    pub free: bool,
    /// The price in minor units (cents): `4900` is 49.00 EUR.
    #[arg(
        long,
        value_name = "MINOR_UNITS",
        requires = "currency",
        required_unless_present = "free"
    )]
    pub amount: Option<i64>,
    /// The currency (ISO 4217: `EUR`, `USD`, `JPY`).
    #[arg(long, value_name = "CODE")]
    pub currency: Option<String>,
    /// A subscription charged every `month` or `year` (default: paid once).
    #[arg(long, value_name = "month|year")]
    pub period: Option<String>,
    /// Days of free use before buying (at most 365).
    #[arg(long, value_name = "DAYS", default_value_t = 0)]
    pub trial_days: u16,
    /// The data directory holding the configured registries and logins.
    #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
    pub data_dir: Option<PathBuf>,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// The pricing document `args` describe (as `POST /api/v1/plugins/NAME/pricing` takes it).
pub fn pricing_body(args: &PriceArgs) -> Value {
    if args.free {
        return json!({ "model": "free" });
    }
    let price = json!({ "amount": args.amount, "currency": args.currency });
    let mut body = match &args.period {
        Some(p) => json!({ "model": "subscription", "price": price, "period": p }),
        None => json!({ "model": "paid", "price": price }),
    };
    if args.trial_days > 0 {
        body["trial_days"] = json!(args.trial_days);
    }
    body
}

/// Runs `switchboard price`: sets the plugin's price with the logged-in owner's token.
pub fn run_price(args: PriceArgs) -> Result<bool> {
    let data = crate::data_dir::resolve(args.data_dir.clone())?;
    let doc = call(
        &data,
        &args.registry,
        Method::Post,
        &format!("plugins/{}/pricing", escape(&args.name)),
        Some(&pricing_body(&args)),
        true,
    )?;
    if args.json {
        print(&format!("{}\n", json!({ "ok": true, "pricing": doc })));
    } else {
        print(&format!(
            "{}: {}\n",
            args.name,
            doc["pricing"]["shown"].as_str().unwrap_or("")
        ));
    }
    Ok(true)
}

/// `switchboard entitlements`.
#[derive(Debug, Args)]
pub struct EntitlementsArgs {
    /// The configured registry server.
    #[arg(long)]
    pub registry: String,
    /// The data directory holding the configured registries and logins.
    #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
    pub data_dir: Option<PathBuf>,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// Buys `name` (or with `trial` starts its trial) from the registry server `registry` for
/// the logged-in account; returns the server's answer (`purchase`, `charged`, `entitlement`).
/// A refusal keeps the server's code: `SB1481` declined (nothing recorded), `SB1482` free,
/// `SB1483` trial used, `SB1484` the server takes no payments.
///
/// ```no_run
/// let doc = switchboard_cli::buy::buy(std::path::Path::new("/home/ann/.switchboard"), "main", "lint", Some("test-approve"), false)?;
/// println!("{}", doc["entitlement"]["kind"]);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn buy(
    data_dir: &Path,
    registry: &str,
    name: &str,
    payment_method: Option<&str>,
    trial: bool,
) -> Result<Value> {
    let mut body = json!({ "trial": trial });
    if let Some(m) = payment_method {
        body["payment_method"] = json!(m);
    }
    call(
        data_dir,
        registry,
        Method::Post,
        &format!("plugins/{}/purchase", escape(name)),
        Some(&body),
        true,
    )
}

/// The logged-in account's entitlements on `registry`.
pub fn entitlements(data_dir: &Path, registry: &str) -> Result<Value> {
    call(data_dir, registry, Method::Get, "entitlements", None, true)
}

fn expiry(e: &Value) -> String {
    match e["expires"].as_i64() {
        Some(at) => jiff::Timestamp::from_second(at)
            .map(|t| format!("until {}", t.strftime("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default(),
        None => "no expiry".into(),
    }
}

/// Runs `switchboard buy`.
pub fn run_buy(args: BuyArgs) -> Result<bool> {
    let data = crate::data_dir::resolve(args.data_dir.clone())?;
    let doc = buy(
        &data,
        &args.registry,
        &args.name,
        args.payment_method.as_deref(),
        args.trial,
    )?;
    if args.json {
        print(&format!("{}\n", json!({ "ok": true, "purchase": doc })));
        return Ok(true);
    }
    let e = &doc["entitlement"];
    let what = match (doc["purchase"].as_str(), doc["charged"].is_null()) {
        (None, _) => "trial started".to_owned(),
        (Some(id), true) => format!("already bought ({id}): nothing charged"),
        (Some(id), false) => format!(
            "bought ({id}): charged {} {}",
            doc["charged"]["amount"], doc["charged"]["currency"]
        ),
    };
    print(&format!(
        "{}: {what}\nentitlement: {} for account {}, {}\ninstall it: switchboard install {}\n",
        args.name,
        e["kind"].as_str().unwrap_or(""),
        e["account"].as_str().unwrap_or(""),
        expiry(e),
        args.name
    ));
    Ok(true)
}

/// Runs `switchboard entitlements`.
pub fn run_entitlements(args: EntitlementsArgs) -> Result<bool> {
    let data = crate::data_dir::resolve(args.data_dir.clone())?;
    let doc = entitlements(&data, &args.registry)?;
    if args.json {
        print(&format!("{}\n", json!({ "ok": true, "entitlements": doc })));
        return Ok(true);
    }
    let mut text = String::new();
    for e in doc["entitlements"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "{:<24} {:<13} {:<7} {}\n",
            e["plugin"].as_str().unwrap_or(""),
            e["kind"].as_str().unwrap_or(""),
            if e["active"].as_bool() == Some(true) {
                "active"
            } else {
                "ended"
            },
            expiry(e)
        ));
    }
    if text.is_empty() {
        text = format!(
            "account {} has no entitlements on {}\n",
            doc["account"].as_str().unwrap_or(""),
            args.registry
        );
    }
    print(&text);
    Ok(true)
}
