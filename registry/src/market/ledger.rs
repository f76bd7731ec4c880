//! What payouts are computed from: sales, refunds, disputes, the revenue-share terms and the
//! payout thresholds — as the registry server records them, or as an operator exports them to a
//! JSON file for `switchboard payouts --ledger FILE`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::{MarketError, Money, RevenueShare};

/// The largest ledger file read (64 MiB): about half a million sales.
pub const MAX_LEDGER_BYTES: u64 = 64 << 20;

/// The earliest and latest years a ledger's dates may have.
const EARLIEST_YEAR: i16 = 1970;
const LATEST_YEAR: i16 = 9999;

/// One sale of a plugin (a one-off purchase, or one subscription charge).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sale {
    /// Unique in the ledger.
    pub id: String,
    /// The publisher's account, who is paid.
    pub publisher: String,
    /// The plugin sold.
    pub plugin: String,
    /// The day of the sale: it picks the terms and the month.
    pub date: Date,
    /// What the buyer paid (above zero).
    pub price: Money,
}

/// Money given back to a buyer for a sale, in whole or in part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refund {
    /// The sale's id.
    pub sale: String,
    /// The day of the refund: it picks the month it is reported in.
    pub date: Date,
    /// How much (above zero; the refunds of a sale add up to at most its price).
    pub amount: Money,
}

/// A publisher's dispute of a payout. While open it is listed in each report; when resolved,
/// its adjustment (positive: owed to the publisher; negative: owed by them) is a line of the
/// report of the month it was resolved in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dispute {
    /// Unique in the ledger.
    pub id: String,
    /// Who opened it.
    pub publisher: String,
    /// About which plugin's payouts.
    pub plugin: String,
    /// The day it was opened.
    pub opened: Date,
    /// The day it was resolved, if it is.
    #[serde(default)]
    pub resolved: Option<Date>,
    /// What the resolution pays (or takes back); none for a dispute resolved without change.
    #[serde(default)]
    pub adjustment: Option<Money>,
    /// Why (shown in the report).
    #[serde(default)]
    pub note: String,
}

/// Everything a payout report is computed from.
///
/// ```
/// use switchboard_registry::market::Ledger;
/// let ledger = Ledger::from_json(br#"{"terms":{"default":[{"from":"2026-01-01","basis_points":1500}]}}"#).unwrap();
/// assert!(ledger.sales.is_empty());
/// let err = Ledger::from_json(b"{\"terms\":{},\"sales\":[{}]}").unwrap_err();
/// assert_eq!(err.code().to_string(), "SB1342");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ledger {
    /// The fee rates over time.
    pub terms: RevenueShare,
    /// Per currency, the smallest payout made: a smaller total rolls over to the next month.
    #[serde(default)]
    pub thresholds: Vec<Money>,
    /// The sales.
    #[serde(default)]
    pub sales: Vec<Sale>,
    /// The refunds.
    #[serde(default)]
    pub refunds: Vec<Refund>,
    /// The disputes.
    #[serde(default)]
    pub disputes: Vec<Dispute>,
}

impl Ledger {
    /// Parses a ledger from JSON and [checks](Self::check) it.
    pub fn from_json(bytes: &[u8]) -> Result<Ledger, MarketError> {
        if bytes.len() as u64 > MAX_LEDGER_BYTES {
            return Err(MarketError::LedgerInvalid {
                reason: format!(
                    "{} bytes, more than the {MAX_LEDGER_BYTES} read",
                    bytes.len()
                ),
            });
        }
        let ledger: Ledger =
            serde_json::from_slice(bytes).map_err(|e| MarketError::LedgerInvalid {
                reason: e.to_string(),
            })?;
        ledger.check()?;
        Ok(ledger)
    }

    /// Reads a ledger file (at most [`MAX_LEDGER_BYTES`]) and parses it.
    pub fn read(path: &Path) -> Result<Ledger, MarketError> {
        use std::io::Read;
        let unreadable = |reason: String| MarketError::LedgerUnreadable {
            path: path.display().to_string(),
            reason,
        };
        // Checked before opening: opening a FIFO would wait for a writer.
        if !std::fs::metadata(path)
            .map_err(|e| unreadable(e.to_string()))?
            .is_file()
        {
            return Err(unreadable("not a regular file".into()));
        }
        let file = std::fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;
        let mut bytes = Vec::new();
        file.take(MAX_LEDGER_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| unreadable(e.to_string()))?;
        if bytes.len() as u64 > MAX_LEDGER_BYTES {
            return Err(unreadable(format!("larger than {MAX_LEDGER_BYTES} bytes")));
        }
        Ledger::from_json(&bytes)
    }

    /// Checks what the types cannot: unique ids, positive prices and refunds, refunds that
    /// fit their sales, disputes that fit, one threshold per currency, the terms.
    pub fn check(&self) -> Result<(), MarketError> {
        self.terms.check()?;
        let dates = self
            .terms
            .default
            .iter()
            .chain(self.terms.publishers.values().flatten())
            .map(|r| r.from)
            .chain(self.sales.iter().map(|s| s.date))
            .chain(self.refunds.iter().map(|r| r.date))
            .chain(
                self.disputes
                    .iter()
                    .flat_map(|d| std::iter::once(d.opened).chain(d.resolved)),
            );
        for day in dates {
            if !(EARLIEST_YEAR..=LATEST_YEAR).contains(&day.year()) {
                return Err(MarketError::LedgerInvalid {
                    reason: format!(
                        "the date {day} is outside {EARLIEST_YEAR}–{LATEST_YEAR}: not a real \
                         marketplace date"
                    ),
                });
            }
        }
        let mut currencies = BTreeSet::new();
        for t in &self.thresholds {
            t.check(&format!("threshold in {}", t.currency), false)?;
            if !currencies.insert(t.currency) {
                return Err(MarketError::BadMoney {
                    what: "thresholds".into(),
                    reason: format!("two thresholds in {}", t.currency),
                });
            }
        }
        let mut sales: BTreeMap<&str, &Sale> = BTreeMap::new();
        for s in &self.sales {
            s.price.check(&format!("sale `{}`", s.id), true)?;
            if sales.insert(&s.id, s).is_some() {
                return Err(MarketError::LedgerInvalid {
                    reason: format!("two sales have the id `{}`", s.id),
                });
            }
            self.terms.rate_on(&s.publisher, s.date)?;
        }
        let mut refunded: BTreeMap<&str, i64> = BTreeMap::new();
        for r in &self.refunds {
            let bad = |reason: String| MarketError::BadRefund {
                sale: r.sale.clone(),
                reason,
            };
            let Some(sale) = sales.get(r.sale.as_str()) else {
                return Err(bad("no sale has this id".into()));
            };
            r.amount
                .check(&format!("refund of sale `{}`", r.sale), true)?;
            if r.amount.currency != sale.price.currency {
                return Err(bad(format!(
                    "in {}, the sale was in {}",
                    r.amount.currency, sale.price.currency
                )));
            }
            if r.date < sale.date {
                return Err(bad(format!(
                    "dated {}, before the sale ({})",
                    r.date, sale.date
                )));
            }
            let total = refunded.entry(&r.sale).or_default();
            *total = total.saturating_add(r.amount.amount);
            if *total > sale.price.amount {
                return Err(bad(format!(
                    "refunds add up to {} minor units, more than the {} paid",
                    total, sale.price.amount
                )));
            }
        }
        let sold: BTreeSet<(&str, &str)> = self
            .sales
            .iter()
            .map(|s| (s.publisher.as_str(), s.plugin.as_str()))
            .collect();
        let mut ids = BTreeSet::new();
        for d in &self.disputes {
            let bad = |reason: String| MarketError::BadDispute {
                id: d.id.clone(),
                reason,
            };
            if !ids.insert(d.id.as_str()) {
                return Err(bad("the id is used twice".into()));
            }
            if !sold.contains(&(d.publisher.as_str(), d.plugin.as_str())) {
                return Err(bad(format!(
                    "`{}` has no sale of `{}` in the ledger",
                    d.publisher, d.plugin
                )));
            }
            match (d.resolved, d.adjustment) {
                (Some(day), _) if day < d.opened => {
                    return Err(bad(format!(
                        "resolved on {day}, before it was opened ({})",
                        d.opened
                    )))
                }
                (None, Some(_)) => return Err(bad("an adjustment, but not resolved".into())),
                _ => {}
            }
        }
        Ok(())
    }
}
