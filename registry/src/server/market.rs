//! The marketplace over HTTP (SPEC S9.8): prices, purchases and entitlements, refunds,
//! revenue-share terms, disputes and the monthly payout report — and the rule that a paid
//! plugin's package is served only to an account entitled to it.
//!
//! - `POST /api/v1/plugins/NAME/pricing` — an owner (token scope `account`, or `publish:`
//!   covering the name) or an admin sets the price (`market::Pricing`: free, paid,
//!   subscription, trial days). Audited (`plugin.pricing`).
//! - `POST /api/v1/plugins/NAME/purchase` — `{"payment_method"}` buys it for the token's
//!   account through the server's [`PaymentProvider`](super::payments::PaymentProvider):
//!   approved, the sale and the entitlement are recorded in one transaction; declined,
//!   nothing is (`SB1481`). `{"trial": true}` starts the plugin's trial instead (once per
//!   account and plugin; no charge). Audited (`market.purchase`, `market.trial`).
//! - `GET /api/v1/entitlements` — the token's account's entitlements.
//! - `POST /api/v1/purchases/ID/refund` — an admin refunds all or part of a sale; a one-off
//!   sale refunded in full ends the entitlement it gave; a subscription charge refunded in
//!   full takes its period out, so the entitlement covers only the periods still paid for
//!   (`market::subscription_span`), renewals included. Audited (`market.refund`).
//! - `POST /api/v1/market/rates`, `/market/thresholds` — an admin sets a revenue-share rate
//!   from a day on (everyone's default, or one publisher's; at most 25 %) and a currency's
//!   payout threshold. Audited.
//! - `POST /api/v1/disputes` (a publisher, about a plugin it owns and sold), `GET
//!   /api/v1/disputes`, `POST /api/v1/disputes/ID/resolve` (an admin, with an optional
//!   adjustment). Audited (`dispute.open`, `dispute.resolve`).
//! - `GET /api/v1/payouts?month=YYYY-MM[&format=csv]` — the month's report
//!   (`market::payout_report`) from the stored ledger: a publisher's own lines, or every
//!   line for an admin; JSON or CSV.
//!
//! Downloads of a package under `/index/packages/` whose plugin is paid need a token of an
//! account with an active entitlement (or an owner's, or an admin's): otherwise HTTP 402,
//! `SB1480`, whose next step is `switchboard buy NAME`. The index files themselves stay open
//! to all (they are signed and mirrored; the price is not in them).

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jiff::civil::Date;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{blocking, ApiError};
use super::audit;
use super::payments::ChargeRequest;
use super::publishing::{authenticated, path_name, require_owner};
use super::store::market::{
    DisputeRecord, EntitlementRecord, RateRecord, RefundRecord, SaleRecord,
};
use super::tokens::{self, Scope, TokenInfo};
use super::{accounts, AppState};
use crate::error::ServerError;
use crate::market::{
    payout_report, Currency, Dispute, Ledger, MarketError, Money, Month, PayoutReport, Period,
    Pricing, PricingModel, Rate, Refund, Sale,
};

/// The fee rate in effect from 1970 until the stored terms say otherwise: 15 %.
pub const DEFAULT_FEE_BASIS_POINTS: u16 = 1500;

/// How long a subscription's period lasts, in days, for its entitlement's expiry.
const MONTH_DAYS: i64 = 30;
const YEAR_DAYS: i64 = 365;
const DAY_SECONDS: i64 = 86_400;

fn refused(e: MarketError) -> ServerError {
    ServerError::MarketRefused {
        reason: format!("[{}] {e}", e.code()),
    }
}

/// How long one subscription period gives access.
fn period_seconds(p: Period) -> i64 {
    DAY_SECONDS
        * match p {
            Period::Month => MONTH_DAYS,
            Period::Year => YEAR_DAYS,
        }
}

/// The UTC day of the Unix second `at`.
pub fn day_of(at: i64) -> Date {
    jiff::Timestamp::from_second(at)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

/// The pricing of `name`: as its owner set it, or free.
pub fn pricing_of(state: &AppState, name: &str) -> Result<Pricing, ServerError> {
    match state.db.store().pricing(name)? {
        Some(text) => serde_json::from_str(&text).map_err(|e| ServerError::Internal {
            reason: format!("the stored pricing of `{name}` does not parse: {e}"),
        }),
        None => Ok(Pricing::free()),
    }
}

/// A pricing as the API shows it: the model's fields, and `shown` (`9.00 EUR a month`).
pub fn pricing_json(p: &Pricing) -> Value {
    let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
    v["shown"] = json!(p.to_string());
    v["paid"] = json!(p.is_paid());
    v
}

/// The prices search hits show, kept in memory: read from the store when the server starts
/// and again when it is older than [`PriceList::FRESH_FOR`] (another server sharing the
/// PostgreSQL database may have changed one), and changed at once when this server sets a
/// price. Entitlement checks never read it: they read the store.
#[derive(Debug, Default)]
pub(crate) struct PriceList {
    inner: std::sync::RwLock<PriceSnapshot>,
}

#[derive(Debug, Default)]
struct PriceSnapshot {
    /// Plugin → its pricing as the API shows it, for plugins that are not free.
    paid: std::collections::HashMap<String, Value>,
    /// When the store was last read; `None`: never.
    read_at: Option<std::time::Instant>,
    /// Counts [`PriceList::set`]s, so a reading of the store that began before one does not
    /// undo it.
    changes: u64,
}

impl PriceList {
    /// How long a reading of the store is used before the next search reads it again.
    pub(crate) const FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(5);

    /// Reads the store's prices if the last reading is older than [`Self::FRESH_FOR`].
    pub(crate) fn refresh_if_stale(&self, db: &super::store::Database) -> Result<(), ServerError> {
        let stale = self
            .inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .read_at
            .is_none_or(|t| t.elapsed() >= Self::FRESH_FOR);
        if !stale {
            return Ok(());
        }
        let changes_before = self.inner.read().unwrap_or_else(|p| p.into_inner()).changes;
        let mut paid = std::collections::HashMap::new();
        for (name, text) in db.store().pricings()? {
            if let Ok(p) = serde_json::from_str::<Pricing>(&text) {
                if p.is_paid() {
                    paid.insert(name, pricing_json(&p));
                }
            }
        }
        let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
        // A price this server set while the store was read is newer than the reading: keep
        // the list as it is, and read again at the next search.
        if g.changes == changes_before {
            g.paid = paid;
            g.read_at = Some(std::time::Instant::now());
        }
        Ok(())
    }

    /// Records a price this server has just stored.
    pub(crate) fn set(&self, name: &str, pricing: &Pricing) {
        let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
        g.changes += 1;
        if pricing.is_paid() {
            g.paid.insert(name.to_owned(), pricing_json(pricing));
        } else {
            g.paid.remove(name);
        }
    }

    /// A search answer with each hit's `pricing`, once any plugin of the registry has a
    /// price (free hits say so: `"model": "free"`); a registry where every plugin is free
    /// answers as it was written, with no `pricing` on hits (so a search there pays nothing
    /// for prices).
    pub(crate) fn add_to_hits(&self, body: Vec<u8>) -> Vec<u8> {
        let g = self.inner.read().unwrap_or_else(|p| p.into_inner());
        if g.paid.is_empty() {
            return body;
        }
        let Ok(mut doc) = serde_json::from_slice::<Value>(&body) else {
            return body;
        };
        let free = pricing_json(&Pricing::free());
        for hit in doc["hits"].as_array_mut().into_iter().flatten() {
            let shown = hit["name"]
                .as_str()
                .and_then(|n| g.paid.get(n))
                .unwrap_or(&free)
                .clone();
            hit["pricing"] = shown;
        }
        serde_json::to_vec(&doc).unwrap_or(body)
    }
}

/// Whether the request may have the package of paid plugin `name` (priced `pricing`):
/// a token of an owner, an admin, or an account with an active entitlement.
fn entitled(
    state: &AppState,
    name: &str,
    pricing: &Pricing,
    headers: &HeaderMap,
) -> Result<(), ServerError> {
    let required = |who: String| ServerError::PaymentRequired {
        name: name.to_owned(),
        price: pricing.to_string(),
        who,
    };
    if headers.get(header::AUTHORIZATION).is_none() {
        return Err(required("a request without a token".into()));
    }
    let token = authenticated(state, headers)?;
    if token.scope == Scope::Admin || accounts::is_owner(&state.db, name, &token.account)? {
        return Ok(());
    }
    match state.db.store().entitlement(&token.account, name)? {
        Some(e) if e.active_at(tokens::now()) => Ok(()),
        _ => Err(required(format!("account `{}`", token.account))),
    }
}

/// Checks a request for the package `sha`: `Ok(true)` when it is a paid plugin's (and the
/// request is entitled to it: serve it as private), `Ok(false)` when free, `SB1480` (402)
/// when the request has no entitlement.
pub fn check_package(
    state: &AppState,
    sha: &str,
    headers: &HeaderMap,
) -> Result<bool, ServerError> {
    let catalog = state.catalog.get(&state.data.registry)?;
    let Some(name) = catalog.by_sha256.get(sha) else {
        return Ok(false);
    };
    let pricing = pricing_of(state, name)?;
    if !pricing.is_paid() {
        return Ok(false);
    }
    entitled(state, name, &pricing, headers)?;
    Ok(true)
}

/// Counts a download of `plugin` today (the dashboard's chart); best effort, as the total.
pub fn count_daily(state: &AppState, plugin: &str) -> Result<(), ServerError> {
    let today = day_of(tokens::now()).to_string();
    state.db.store().count_daily(plugin, &today)
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ServerError> {
    body.map(|Json(b)| b).map_err(|e| ServerError::Malformed {
        reason: e.body_text(),
    })
}

fn require_admin(token: &TokenInfo, action: &str) -> Result<(), ServerError> {
    if token.scope == Scope::Admin {
        return Ok(());
    }
    Err(ServerError::WrongScope {
        id: token.id.clone(),
        scope: token.scope.to_string(),
        action: action.to_owned(),
    })
}

fn entitlement_json(e: &EntitlementRecord, now: i64) -> Value {
    json!({
        "account": e.account,
        "plugin": e.plugin,
        "kind": e.kind,
        "since": e.since,
        "expires": e.expires,
        "purchase": e.sale,
        "active": e.active_at(now),
    })
}

/// `POST /api/v1/plugins/NAME/pricing` with a pricing (`{"model": "paid", "price": {…}}`).
pub async fn set_pricing(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<Pricing>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        let name = path_name(name)?;
        if !token.scope.may_manage() && !token.scope.may_publish(&name) {
            return Err(ServerError::WrongScope {
                id: token.id.clone(),
                scope: token.scope.to_string(),
                action: format!("set the price of `{name}`"),
            }
            .into());
        }
        require_owner(&state, &name, &token)?;
        let pricing = json_body(body)?;
        pricing.check().map_err(refused)?;
        let text = serde_json::to_string(&pricing).map_err(|e| ServerError::Internal {
            reason: e.to_string(),
        })?;
        state
            .db
            .store()
            .set_pricing(&name, &text, &token.account, tokens::now())?;
        state.prices.set(&name, &pricing);
        audit::record(
            &state.db,
            &token.account,
            "plugin.pricing",
            &format!("plugin:{name}"),
            &pricing.to_string(),
        )?;
        Ok(json!({ "name": name, "pricing": pricing_json(&pricing) }))
    })
    .await
    .map(Json)
}

/// The body of a purchase.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseBody {
    /// What to pay with (the provider's payment-method id; `test-approve` for
    /// [`TestPayments`](super::payments::TestPayments)).
    #[serde(default)]
    pub payment_method: Option<String>,
    /// Start the plugin's trial instead (no charge).
    #[serde(default)]
    pub trial: bool,
}

/// `POST /api/v1/plugins/NAME/purchase` with `{"payment_method"}` or `{"trial": true}`.
pub async fn purchase(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<PurchaseBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        let name = path_name(name)?;
        let body = json_body(body)?;
        // One purchase, trial or refund of a plugin by an account at a time: the check of
        // what the account has, the charge and the record are one step, so a double click
        // does not charge twice nor a trial replace a purchase made at the same moment. On
        // this server the mutex; across servers sharing a PostgreSQL database, the
        // database's lock on the account and plugin (`purchase_lock`).
        let _one_at_a_time = state
            .market_writes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let _in_the_database = state.db.store().purchase_lock(&token.account, &name)?;
        Ok(buy(&state, &token, &name, &body)?)
    })
    .await
    .map(Json)
}

fn buy(
    state: &AppState,
    token: &TokenInfo,
    name: &str,
    body: &PurchaseBody,
) -> Result<Value, ServerError> {
    let catalog = state.catalog.get(&state.data.registry)?;
    if !catalog.plugins.contains_key(name) {
        return Err(ServerError::UnknownPlugin {
            name: name.to_owned(),
        });
    }
    let pricing = pricing_of(state, name)?;
    let nothing = |reason: &str| ServerError::NothingToBuy {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    let (price, period) = match pricing.model {
        PricingModel::Free => return Err(nothing("it is free")),
        PricingModel::Paid { price } => (price, None),
        PricingModel::Subscription { price, period } => (price, Some(period)),
    };
    let Some(publisher) = accounts::owners(&state.db, name)?
        .first()
        .map(|o| o.account.clone())
    else {
        return Err(nothing("no account owns it to be paid"));
    };
    let now = tokens::now();
    let store = state.db.store();
    let current = store
        .entitlement(&token.account, name)?
        .filter(|e| e.active_at(now));
    if body.trial {
        if pricing.trial_days == 0 {
            return Err(nothing("it offers no trial"));
        }
        if current.is_some() {
            return Err(nothing("the account is entitled to it already"));
        }
        let entitlement = EntitlementRecord {
            account: token.account.clone(),
            plugin: name.to_owned(),
            kind: "trial".into(),
            since: now,
            expires: Some(now + i64::from(pricing.trial_days) * DAY_SECONDS),
            sale: None,
        };
        if !store.start_trial(&entitlement)? {
            return Err(ServerError::TrialUsed {
                name: name.to_owned(),
                account: token.account.clone(),
            });
        }
        audit::record(
            &state.db,
            &token.account,
            "market.trial",
            &format!("plugin:{name}"),
            &format!("{} days", pricing.trial_days),
        )?;
        return Ok(json!({
            "name": name,
            "purchase": null,
            "charged": null,
            "entitlement": entitlement_json(&entitlement, now),
        }));
    }
    // A one-off purchase is made once; a subscription renews from its current end.
    if let Some(e) = current.as_ref().filter(|e| e.kind == "purchase") {
        return Ok(json!({
            "name": name,
            "purchase": e.sale,
            "charged": null,
            "entitlement": entitlement_json(e, now),
        }));
    }
    let provider = state.payments.as_ref().ok_or(ServerError::NoPayments)?;
    let id = format!("sale-{}", tokens::random_hex(8)?);
    let request = ChargeRequest::new(
        token.account.clone(),
        name,
        price,
        body.payment_method.clone().unwrap_or_default(),
        id.clone(),
    );
    let charge = provider
        .charge(&request)
        .map_err(|reason| ServerError::PaymentDeclined {
            name: name.to_owned(),
            reason: reason.chars().take(200).collect(),
        })?;
    let expires = period.map(|p| {
        let from = current
            .as_ref()
            .filter(|e| e.kind == "subscription")
            .and_then(|e| e.expires)
            .unwrap_or(now)
            .max(now);
        from + period_seconds(p)
    });
    let sale = SaleRecord {
        id: id.clone(),
        buyer: token.account.clone(),
        publisher,
        plugin: name.to_owned(),
        day: day_of(now).to_string(),
        amount: price.amount,
        currency: price.currency.to_string(),
        at: now,
        reference: charge.reference,
    };
    let entitlement = EntitlementRecord {
        account: token.account.clone(),
        plugin: name.to_owned(),
        kind: if period.is_some() {
            "subscription"
        } else {
            "purchase"
        }
        .into(),
        since: now,
        expires,
        sale: Some(id.clone()),
    };
    store.record_sale(&sale, &entitlement)?;
    if let Some(p) = period {
        // The period this charge bought, for a refund after renewal (`refund`).
        store.record_period(&id, period_seconds(p))?;
    }
    audit::record(
        &state.db,
        &token.account,
        "market.purchase",
        &format!("plugin:{name}"),
        &format!("{id}: {price}"),
    )?;
    Ok(json!({
        "name": name,
        "purchase": id,
        "charged": price,
        "entitlement": entitlement_json(&entitlement, now),
    }))
}

/// `GET /api/v1/entitlements`: the token's account's entitlements (active or ended).
pub async fn entitlements(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        let now = tokens::now();
        let list = state.db.store().entitlements(&token.account)?;
        Ok(json!({
            "account": token.account,
            "entitlements": list.iter().map(|e| entitlement_json(e, now)).collect::<Vec<_>>(),
        }))
    })
    .await
    .map(Json)
}

/// The body of a refund.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// Minor units to give back (default: all that is left).
    #[serde(default)]
    pub amount: Option<i64>,
}

fn id_of(p: Result<Path<String>, PathRejection>, what: &str) -> Result<String, ServerError> {
    let Path(id) = p.map_err(|e| ServerError::BadPath {
        path: format!("/api/v1/{what}/…"),
        reason: e.body_text(),
    })?;
    Ok(id.chars().take(80).collect())
}

/// `POST /api/v1/purchases/ID/refund` with `{"amount"?}` (admin).
pub async fn refund(
    State(state): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<RefundBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        require_admin(&token, "refund a purchase")?;
        let id = id_of(id, "purchases")?;
        let body = json_body(body)?;
        // What is left to refund is read and the refund recorded as one step (see purchase).
        let _one_at_a_time = state
            .market_writes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let store = state.db.store();
        let sale = store
            .sale(&id)?
            .ok_or_else(|| ServerError::UnknownPurchase { id: id.clone() })?;
        let _in_the_database = store.purchase_lock(&sale.buyer, &sale.plugin)?;
        let refunded: i64 = store
            .refunds()?
            .iter()
            .filter(|r| r.sale == id)
            .map(|r| r.amount)
            .sum();
        let left = sale.amount - refunded;
        let amount = body.amount.unwrap_or(left);
        let bad = |reason: String| ServerError::BadRefund {
            id: id.clone(),
            reason,
        };
        if amount <= 0 {
            return Err(bad(format!(
                "{amount} minor units: a refund is above zero (left to refund: {left})"
            ))
            .into());
        }
        if amount > left {
            return Err(bad(format!(
                "{amount} minor units is more than the {left} left of the {} paid",
                sale.amount
            ))
            .into());
        }
        let now = tokens::now();
        let record = RefundRecord {
            sale: id.clone(),
            day: day_of(now).to_string(),
            amount,
            currency: sale.currency.clone(),
            at: now,
            by: token.account.clone(),
        };
        let full = amount == left;
        // A subscription charge refunded in full takes its period out of the entitlement,
        // wherever it is among the renewals: the entitlement then covers only the periods
        // still paid for (`market::subscription_span`, docs/marketplace.md). A one-off
        // purchase refunded in full ends the entitlement it gave.
        let subscribed = store
            .entitlement(&sale.buyer, &sale.plugin)?
            .is_some_and(|e| e.kind == "subscription");
        let mut entitlement_ends = None;
        if full && subscribed {
            let fallback = match pricing_of(&state, &sale.plugin)?.model {
                PricingModel::Subscription { period, .. } => period_seconds(period),
                _ => period_seconds(Period::Month),
            };
            let left = store.refund_subscription(&record, &sale.buyer, &sale.plugin, fallback)?;
            entitlement_ends = Some(left.map(|(_, ends)| ends));
        } else {
            store.add_refund(&record, full)?;
        }
        audit::record(
            &state.db,
            &token.account,
            "market.refund",
            &format!("plugin:{}", sale.plugin),
            &format!("{id}: {amount} {} to {}", sale.currency, sale.buyer),
        )?;
        Ok(json!({
            "purchase": id,
            "refunded": amount,
            "currency": sale.currency,
            "left": left - amount,
            "entitlement_ended": match entitlement_ends {
                Some(ends) => ends.is_none_or(|e| e <= now),
                None => full,
            },
            "entitlement_expires": entitlement_ends.flatten(),
        }))
    })
    .await
    .map(Json)
}

/// The body of a rate change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateBody {
    /// The publisher it is for (none: everyone's default).
    #[serde(default)]
    pub publisher: Option<String>,
    /// The first day it applies.
    pub from: Date,
    /// The fee in basis points (at most 2,500).
    pub basis_points: u16,
}

/// `POST /api/v1/market/rates` with `{"publisher"?, "from", "basis_points"}` (admin).
pub async fn set_rate(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<RateBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        require_admin(&token, "set revenue-share terms")?;
        let body = json_body(body)?;
        if let Some(p) = &body.publisher {
            if !tokens::valid_account(p) {
                return Err(ServerError::BadAccount {
                    account: p.chars().take(80).collect(),
                }
                .into());
            }
        }
        let rate = Rate {
            from: body.from,
            basis_points: body.basis_points,
        };
        let mut check = crate::market::RevenueShare::default();
        check.default.push(rate);
        check.check().map_err(refused)?;
        if !(1970..=9999).contains(&body.from.year()) {
            return Err(ServerError::MarketRefused {
                reason: format!("the date {} is outside 1970–9999", body.from),
            }
            .into());
        }
        let publisher = body.publisher.clone().unwrap_or_default();
        state.db.store().set_rate(
            &RateRecord {
                publisher: publisher.clone(),
                day: body.from.to_string(),
                basis_points: i64::from(body.basis_points),
            },
            &token.account,
            tokens::now(),
        )?;
        let whose = if publisher.is_empty() {
            "default".to_owned()
        } else {
            publisher.clone()
        };
        audit::record(
            &state.db,
            &token.account,
            "market.rate",
            &format!("terms:{whose}"),
            &format!("{} basis points from {}", body.basis_points, body.from),
        )?;
        Ok(json!({ "terms": terms(&state)? }))
    })
    .await
    .map(Json)
}

/// `POST /api/v1/market/thresholds` with `{"amount", "currency"}` (admin).
pub async fn set_threshold(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<Money>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        require_admin(&token, "set payout thresholds")?;
        let money = json_body(body)?;
        if money.amount < 0 {
            return Err(ServerError::MarketRefused {
                reason: format!("a threshold of {} minor units is below zero", money.amount),
            }
            .into());
        }
        state
            .db
            .store()
            .set_threshold(money.currency.as_str(), money.amount)?;
        audit::record(
            &state.db,
            &token.account,
            "market.threshold",
            &format!("terms:threshold:{}", money.currency),
            &money.to_string(),
        )?;
        Ok(json!({ "threshold": money }))
    })
    .await
    .map(Json)
}

/// The revenue-share terms in effect: the built-in default from 1970, then the stored rates.
fn terms(state: &AppState) -> Result<crate::market::RevenueShare, ServerError> {
    let mut terms = crate::market::RevenueShare::default();
    let epoch = Date::constant(1970, 1, 1);
    terms.default.push(Rate {
        from: epoch,
        basis_points: DEFAULT_FEE_BASIS_POINTS,
    });
    for r in state.db.store().rates()? {
        let from: Date = r.day.parse().map_err(|e| ServerError::Internal {
            reason: format!("a stored rate's day `{}`: {e}", r.day),
        })?;
        let rate = Rate {
            from,
            basis_points: u16::try_from(r.basis_points).unwrap_or(u16::MAX),
        };
        if r.publisher.is_empty() {
            terms.default.retain(|x| x.from != from);
            terms.default.push(rate);
        } else {
            terms.publishers.entry(r.publisher).or_default().push(rate);
        }
    }
    Ok(terms)
}

/// The ledger the server's store holds: its sales, refunds, disputes, terms and thresholds.
pub fn ledger(state: &AppState) -> Result<Ledger, ServerError> {
    let store = state.db.store();
    let internal = |what: &str, e: String| ServerError::Internal {
        reason: format!("the stored {what} does not parse: {e}"),
    };
    let day = |s: &str| -> Result<Date, ServerError> {
        s.parse()
            .map_err(|e: jiff::Error| internal("day", e.to_string()))
    };
    let currency = |s: &str| -> Result<Currency, ServerError> {
        s.parse()
            .map_err(|e: MarketError| internal("currency", e.to_string()))
    };
    let mut ledger = Ledger {
        terms: terms(state)?,
        ..Ledger::default()
    };
    for (c, amount) in store.thresholds()? {
        ledger.thresholds.push(Money::new(amount, currency(&c)?));
    }
    for s in store.sales()? {
        ledger.sales.push(Sale {
            id: s.id,
            publisher: s.publisher,
            plugin: s.plugin,
            date: day(&s.day)?,
            price: Money::new(s.amount, currency(&s.currency)?),
        });
    }
    for r in store.refunds()? {
        ledger.refunds.push(Refund {
            sale: r.sale,
            date: day(&r.day)?,
            amount: Money::new(r.amount, currency(&r.currency)?),
        });
    }
    for d in store.disputes()? {
        let adjustment = match (d.adjustment, d.currency.as_deref()) {
            (Some(a), Some(c)) => Some(Money::new(a, currency(c)?)),
            _ => None,
        };
        ledger.disputes.push(Dispute {
            id: d.id,
            publisher: d.publisher,
            plugin: d.plugin,
            opened: day(&d.opened)?,
            resolved: d.resolved.as_deref().map(day).transpose()?,
            adjustment,
            note: d.note,
        });
    }
    Ok(ledger)
}

/// The body of a new dispute.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisputeBody {
    /// The plugin whose payouts are disputed (one the account owns and has sold).
    pub plugin: String,
    /// What is wrong (at most 2,000 characters).
    pub note: String,
}

/// The longest note of a dispute.
const MAX_NOTE_CHARS: usize = 2000;

fn dispute_json(d: &DisputeRecord) -> Value {
    json!({
        "id": d.id,
        "publisher": d.publisher,
        "plugin": d.plugin,
        "opened": d.opened,
        "resolved": d.resolved,
        "adjustment": d.adjustment.zip(d.currency.clone()).map(|(amount, currency)| json!({ "amount": amount, "currency": currency })),
        "note": d.note,
        "resolved_by": d.resolved_by,
    })
}

fn check_note(note: &str) -> Result<(), ServerError> {
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(ServerError::Malformed {
            reason: format!("a note is at most {MAX_NOTE_CHARS} characters"),
        });
    }
    Ok(())
}

/// `POST /api/v1/disputes` with `{"plugin", "note"}`: a publisher disputes its payouts of a
/// plugin it owns and has sold.
pub async fn open_dispute(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<DisputeBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        let body = json_body(body)?;
        crate::format::validate_name(&body.plugin).map_err(|e| ServerError::BadName {
            name: body.plugin.chars().take(80).collect(),
            reason: e.to_string(),
        })?;
        check_note(&body.note)?;
        let store = state.db.store();
        let sold = store
            .sales()?
            .iter()
            .any(|s| s.publisher == token.account && s.plugin == body.plugin);
        if !sold {
            return Err(ServerError::MarketRefused {
                reason: format!(
                    "[SB1348] account `{}` has no sale of `{}` to dispute",
                    token.account, body.plugin
                ),
            }
            .into());
        }
        let now = tokens::now();
        let d = DisputeRecord {
            id: format!("dispute-{}", tokens::random_hex(6)?),
            publisher: token.account.clone(),
            plugin: body.plugin.clone(),
            opened: day_of(now).to_string(),
            resolved: None,
            adjustment: None,
            currency: None,
            note: body.note.clone(),
            opened_at: now,
            resolved_by: None,
        };
        store.insert_dispute(&d)?;
        audit::record(
            &state.db,
            &token.account,
            "dispute.open",
            &format!("plugin:{}", d.plugin),
            &format!("{}: {}", d.id, d.note),
        )?;
        Ok(dispute_json(&d))
    })
    .await
    .map(Json)
}

/// `GET /api/v1/disputes`: the account's own disputes, or every one for an admin.
pub async fn disputes(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        let all = token.scope == Scope::Admin;
        let list: Vec<Value> = state
            .db
            .store()
            .disputes()?
            .iter()
            .filter(|d| all || d.publisher == token.account)
            .map(dispute_json)
            .collect();
        Ok(json!({ "disputes": list }))
    })
    .await
    .map(Json)
}

/// The body of a resolution.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// What the resolution pays the publisher (negative: takes back); none: no change.
    #[serde(default)]
    pub adjustment: Option<Money>,
    /// Why.
    pub note: String,
}

/// `POST /api/v1/disputes/ID/resolve` with `{"adjustment"?, "note"}` (admin).
pub async fn resolve_dispute(
    State(state): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<ResolveBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        require_admin(&token, "resolve a dispute")?;
        let id = id_of(id, "disputes")?;
        let body = json_body(body)?;
        check_note(&body.note)?;
        let store = state.db.store();
        let d = store
            .dispute(&id)?
            .ok_or_else(|| ServerError::UnknownDispute { id: id.clone() })?;
        let today = day_of(tokens::now()).to_string();
        let note = if d.note.is_empty() {
            body.note.clone()
        } else {
            format!("{} — {}", d.note, body.note)
        };
        let adjustment = body.adjustment.map(|m| (m.amount, m.currency.to_string()));
        let resolved = store.resolve_dispute(
            &id,
            &today,
            adjustment.as_ref().map(|(a, c)| (*a, c.as_str())),
            &note,
            &token.account,
        )?;
        if !resolved {
            return Err(ServerError::DisputeResolved { id }.into());
        }
        audit::record(
            &state.db,
            &token.account,
            "dispute.resolve",
            &format!("plugin:{}", d.plugin),
            &format!(
                "{id}: {}{}",
                body.adjustment
                    .map(|m| format!("adjustment {} ", m))
                    .unwrap_or_default(),
                body.note
            ),
        )?;
        let d = store
            .dispute(&id)?
            .ok_or_else(|| ServerError::UnknownDispute { id: id.clone() })?;
        Ok(dispute_json(&d))
    })
    .await
    .map(Json)
}

/// `GET /api/v1/payouts` parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutsParams {
    /// `YYYY-MM`.
    pub month: Option<String>,
    /// `json` (the default) or `csv`.
    pub format: Option<String>,
}

/// The report of `month` as `account` may see it: its own lines, totals and disputes
/// (`None`: an admin's, everything).
pub fn report_for(
    state: &AppState,
    month: Month,
    account: Option<&str>,
) -> Result<PayoutReport, ServerError> {
    let ledger = ledger(state)?;
    let mut report = payout_report(&ledger, month).map_err(refused)?;
    if let Some(a) = account {
        report.lines.retain(|l| l.publisher == a);
        report.publishers.retain(|t| t.publisher == a);
        let own: std::collections::HashSet<&str> = ledger
            .disputes
            .iter()
            .filter(|d| d.publisher == a)
            .map(|d| d.id.as_str())
            .collect();
        report.open_disputes.retain(|d| own.contains(d.as_str()));
    }
    Ok(report)
}

/// `GET /api/v1/payouts?month=YYYY-MM[&format=csv]`: the publisher's own lines (an admin's
/// token: every publisher's).
pub async fn payouts(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    params: Result<Query<PayoutsParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    blocking(move || {
        let token = authenticated(&state, &headers)?;
        let Query(params) = params.map_err(|e| ServerError::BadQuery {
            reason: e.body_text(),
        })?;
        let month: Month = params
            .month
            .as_deref()
            .ok_or_else(|| ServerError::BadQuery {
                reason: "month=YYYY-MM is required".into(),
            })?
            .parse()
            .map_err(refused)?;
        let csv = match params.format.as_deref() {
            None | Some("json") => false,
            Some("csv") => true,
            Some(other) => {
                return Err(ServerError::BadQuery {
                    reason: format!(
                        "format={} is not `json` or `csv`",
                        other.chars().take(20).collect::<String>()
                    ),
                }
                .into())
            }
        };
        let who = (token.scope != Scope::Admin).then_some(token.account.as_str());
        let report = report_for(&state, month, who)?;
        Ok(if csv {
            (
                [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
                report.to_csv(),
            )
                .into_response()
        } else {
            Json(json!({ "account": token.account, "all": who.is_none(), "report": report }))
                .into_response()
        })
    })
    .await
}
