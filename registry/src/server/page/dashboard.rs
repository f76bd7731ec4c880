//! The publisher dashboard (issue 21, item 5): `/publishers/ACCOUNT` — the plugins an
//! account owns on this server, each with its price, downloads in all and per day over the
//! last 30 days (a bar chart drawn as inline SVG on the server, with the same numbers in a
//! table for screen readers), and — after the publisher gives a token in a form (POSTed,
//! never in the address) — its payouts of a month, from the server's ledger.
//!
//! Each plugin's row also shows its rating (the damped average of approved reviews, from the
//! review store) and the certification state of its newest release (from the certification
//! store), with links to the plugin page where both are shown in full.
//!
//! No JavaScript: plain links, a form with labels, and the page's own stylesheet; every
//! control is reachable with the keyboard in reading order.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{blocking, render, respond, PageError};
use crate::market::{LineKind, Money, Month, PayoutReport};
use crate::server::tokens::{self, Scope};
use crate::server::{market, AppState};

/// The days the download chart covers, ending today.
pub const CHART_DAYS: i64 = 30;

/// The largest form body read (a token and a month).
const MAX_FORM_BYTES: usize = 4096;

/// One bar of the chart.
#[derive(Debug, Clone)]
struct Bar {
    day: String,
    count: u64,
    /// SVG coordinates, computed on the server.
    x: u64,
    y: u64,
    height: u64,
}

/// One plugin's row and chart.
#[derive(Debug, Clone)]
struct PluginRow {
    name: String,
    latest: String,
    price: String,
    downloads: u64,
    recent: u64,
    bars: Vec<Bar>,
    peak: u64,
    /// The damped rating of approved reviews and their count, in words.
    rating: String,
    /// The newest release's certification, in words (`certified`, `denied: REASON`, …).
    certification: String,
}

/// One payout line as shown.
#[derive(Debug, Clone)]
struct LineRow {
    plugin: String,
    kind: String,
    rate: String,
    sales_count: u32,
    sales: String,
    refunds: String,
    gross: String,
    fees: String,
    net: String,
}

/// A publisher total as shown.
#[derive(Debug, Clone)]
struct TotalRow {
    currency: String,
    net: String,
    carried_in: String,
    payable: String,
    carried_out: String,
}

/// The payouts section, once a token was given.
#[derive(Debug, Clone)]
struct Payouts {
    month: String,
    lines: Vec<LineRow>,
    totals: Vec<TotalRow>,
    open_disputes: Vec<String>,
}

#[derive(Template)]
#[template(path = "page/dashboard.html")]
struct Dashboard {
    account: String,
    plugins: Vec<PluginRow>,
    month: String,
    payouts: Option<Payouts>,
    /// A refusal of the form (a bad token, month), shown above it.
    problem: Option<String>,
    chart_width: u64,
    chart_height: u64,
}

const BAR_WIDTH: u64 = 10;
const BAR_GAP: u64 = 2;
const CHART_HEIGHT: u64 = 80;

fn account_of(p: Result<Path<String>, PathRejection>) -> Result<String, PageError> {
    let Path(account) = p.map_err(|e| PageError::BadName {
        what: "publisher",
        name: String::new(),
        reason: e.body_text(),
    })?;
    if !tokens::valid_account(&account) {
        return Err(PageError::BadName {
            what: "publisher",
            name: super::error::shorten(&account, 40),
            reason: "an account is lower-case letters, digits, `-` and `_`, at most 64".into(),
        });
    }
    Ok(account)
}

fn internal(e: impl std::fmt::Display) -> PageError {
    PageError::Internal {
        reason: e.to_string(),
    }
}

/// The plugins `account` owns, with prices and downloads.
fn plugins(state: &AppState, account: &str) -> Result<Vec<PluginRow>, PageError> {
    let (catalog, _) = super::catalog(state)?;
    let mut owned: Vec<String> = crate::server::accounts::owned_by(&state.db, account)
        .map_err(internal)?
        .into_iter()
        .filter(|n| catalog.plugins.contains_key(n))
        .collect();
    owned.sort();
    let today = market::day_of(tokens::now());
    let first = today
        .checked_sub(jiff::Span::new().days(CHART_DAYS - 1))
        .map_err(internal)?;
    let mut rows = Vec::new();
    for name in owned {
        let counts = state
            .db
            .store()
            .daily_counts(&name, &first.to_string())
            .map_err(internal)?;
        let mut days = Vec::new();
        let mut day = first;
        while day <= today {
            let key = day.to_string();
            let count = counts
                .iter()
                .find(|(d, _)| *d == key)
                .map_or(0, |(_, c)| *c);
            days.push((key, count));
            day = day.tomorrow().map_err(internal)?;
        }
        let peak = days.iter().map(|d| d.1).max().unwrap_or(0);
        let bars = days
            .into_iter()
            .zip(0u64..)
            .map(|((day, count), i)| {
                let height = if peak == 0 {
                    0
                } else {
                    (count * CHART_HEIGHT).div_ceil(peak)
                };
                Bar {
                    day,
                    count,
                    x: i * (BAR_WIDTH + BAR_GAP),
                    y: CHART_HEIGHT - height,
                    height,
                }
            })
            .collect::<Vec<_>>();
        let latest = catalog
            .plugins
            .get(&name)
            .and_then(|l| crate::server::catalog::newest_visible(l))
            .map(|l| l.version.to_string())
            .unwrap_or_else(|| "none installable".into());
        let price = market::pricing_of(state, &name).map_err(internal)?;
        let rating = crate::server::reviews::rating_of(&state.db, &name).map_err(internal)?;
        let rating = match rating.count {
            0 => "no reviews yet".to_owned(),
            1 => format!("{:.2} from 1 review", rating.damped),
            n => format!("{:.2} from {n} reviews", rating.damped),
        };
        let certification = match super::certification::for_release(state, &name, &latest) {
            None => "not submitted".to_owned(),
            Some(c) => match &c.reason {
                Some(reason) if c.state == "denied" => format!("{latest} denied: {reason}"),
                _ => format!("{latest} {}", c.state_words),
            },
        };
        rows.push(PluginRow {
            rating,
            certification,
            downloads: state.downloads.of(&name),
            recent: bars.iter().map(|b| b.count).sum(),
            bars,
            peak,
            latest,
            price: price.to_string(),
            name,
        });
    }
    Ok(rows)
}

fn amount(a: i64, currency: crate::market::Currency) -> String {
    Money::new(a, currency).to_string()
}

fn payouts_view(report: &PayoutReport) -> Payouts {
    Payouts {
        month: report.month.to_string(),
        lines: report
            .lines
            .iter()
            .map(|l| LineRow {
                plugin: l.plugin.clone(),
                kind: match l.kind {
                    LineKind::Sales => "sales".into(),
                    LineKind::Adjustment => format!("adjustment: {}", l.note),
                },
                rate: l
                    .basis_points
                    .map(|bp| format!("{}.{:02} %", bp / 100, bp % 100))
                    .unwrap_or_default(),
                sales_count: l.sales_count,
                sales: amount(l.sales, l.currency),
                refunds: amount(l.refunds, l.currency),
                gross: amount(l.gross, l.currency),
                fees: amount(l.fees, l.currency),
                net: amount(l.net, l.currency),
            })
            .collect(),
        totals: report
            .publishers
            .iter()
            .map(|t| TotalRow {
                currency: t.currency.to_string(),
                net: amount(t.net, t.currency),
                carried_in: amount(t.carried_in, t.currency),
                payable: amount(t.payable, t.currency),
                carried_out: amount(t.carried_out, t.currency),
            })
            .collect(),
        open_disputes: report.open_disputes.clone(),
    }
}

fn page(
    state: &AppState,
    account: String,
    month: String,
    payouts: Option<Payouts>,
    problem: Option<String>,
) -> Result<Dashboard, PageError> {
    Ok(Dashboard {
        plugins: plugins(state, &account)?,
        account,
        month,
        payouts,
        problem,
        chart_width: CHART_DAYS.unsigned_abs() * (BAR_WIDTH + BAR_GAP),
        chart_height: CHART_HEIGHT,
    })
}

/// `GET /publishers/ACCOUNT`.
pub(super) async fn dashboard(
    State(state): State<Arc<AppState>>,
    account: Result<Path<String>, PathRejection>,
) -> Result<Response, PageError> {
    let account = account_of(account)?;
    let html = blocking(move || {
        let month = Month::of(market::day_of(tokens::now())).to_string();
        render(&page(&state, account, month, None, None)?)
    })
    .await?;
    Ok(respond(StatusCode::OK, html))
}

/// Decodes one `application/x-www-form-urlencoded` value.
fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The fields of a form body.
fn form_field(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (form_decode(k) == name).then(|| form_decode(v))
    })
}

/// `POST /publishers/ACCOUNT` with `token` and `month`: the dashboard with that month's
/// payouts, when the token is the account's (or an admin's).
pub(super) async fn dashboard_payouts(
    State(state): State<Arc<AppState>>,
    account: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Response, PageError> {
    let account = account_of(account)?;
    let (status, html) = blocking(move || {
        let text = String::from_utf8_lossy(&body[..body.len().min(MAX_FORM_BYTES)]).into_owned();
        let token = form_field(&text, "token").unwrap_or_default();
        let month_text = form_field(&text, "month")
            .map(|m| m.trim().chars().take(16).collect::<String>())
            .unwrap_or_default();
        let refuse = |status: StatusCode, month: String, problem: String| {
            Ok((
                status,
                render(&page(&state, account.clone(), month, None, Some(problem))?)?,
            ))
        };
        let month: Month = match month_text.parse() {
            Ok(m) => m,
            Err(e) => {
                let e: crate::market::MarketError = e;
                return refuse(
                    StatusCode::BAD_REQUEST,
                    Month::of(market::day_of(tokens::now())).to_string(),
                    format!("[{}] {e}", e.code()),
                );
            }
        };
        let header = format!("Bearer {}", token.trim());
        let who = match tokens::authenticate(&state.db, Some(&header)) {
            Ok(t) if t.account == account || t.scope == Scope::Admin => t,
            Ok(t) => {
                return refuse(
                    StatusCode::FORBIDDEN,
                    month.to_string(),
                    format!(
                        "that token is account `{}`'s: only `{account}`'s own token (or an \
                         admin's) shows its payouts",
                        t.account
                    ),
                )
            }
            Err(e) => {
                let e = crate::RegistryError::from(e);
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    month.to_string(),
                    format!("[{}] {}", e.code(), e.message()),
                );
            }
        };
        drop(who);
        let report = market::report_for(&state, month, Some(&account)).map_err(internal)?;
        let view = payouts_view(&report);
        Ok((
            StatusCode::OK,
            render(&page(
                &state,
                account.clone(),
                month.to_string(),
                Some(view),
                None,
            )?)?,
        ))
    })
    .await?;
    Ok(respond(status, html))
}
