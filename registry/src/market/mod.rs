//! The marketplace's commercial rules (SPEC S9.4, S9.8): money, prices, revenue-share terms,
//! the monthly creator payout report and the damped rating average — pure functions over plain
//! data, so the registry server, the CLI and tests compute exactly the same figures.
//!
//! - `money` — [`Money`]: an amount in integer minor units (cents) and its [`Currency`];
//!   never a float.
//! - `pricing` — [`Pricing`]: free, paid once, or a subscription, with trial days.
//! - `terms` — [`RevenueShare`]: the marketplace's fee rate with effective dates, a default and
//!   per-publisher overrides, capped at [`MAX_FEE_BASIS_POINTS`] (25 %).
//! - `ledger` — [`Ledger`]: sales, refunds, disputes and terms, as the server records them
//!   or as an operator exports them (`switchboard payouts --ledger FILE`).
//! - `payouts` — [`payout_report`]: one month's lines per publisher and plugin (sales,
//!   refunds, gross, fees, net, the rate in effect on each sale's date), dispute adjustments,
//!   and the threshold below which a payout rolls over to the next month; CSV and JSON.
//! - `rating` — [`damped_rating`]: the average shown for a plugin, pulled towards a prior so
//!   one review does not make a five-star plugin.
//! - `error` — [`MarketError`], coded SB1341–SB1349.
//!
//! # Example
//!
//! ```
//! use switchboard_registry::market::{payout_report, Ledger, Month};
//!
//! let ledger: Ledger = serde_json::from_str(r#"{
//!     "terms": { "default": [ { "from": "2026-01-01", "basis_points": 1500 } ] },
//!     "thresholds": [ { "amount": 1000, "currency": "EUR" } ],
//!     "sales": [
//!         { "id": "s1", "publisher": "acme", "plugin": "lint", "date": "2026-11-03",
//!           "price": { "amount": 4900, "currency": "EUR" } }
//!     ]
//! }"#).unwrap();
//! let report = payout_report(&ledger, "2026-11".parse::<Month>()?)?;
//! let line = &report.lines[0];
//! assert_eq!((line.gross, line.fees, line.net), (4900, 735, 4165));
//! assert_eq!(report.publishers[0].payable, 4165);
//! # Ok::<(), switchboard_registry::market::MarketError>(())
//! ```

mod error;
mod ledger;
mod money;
mod payouts;
mod pricing;
mod rating;
mod renewals;
mod terms;

pub use self::error::MarketError;
pub use self::ledger::{Dispute, Ledger, Refund, Sale, MAX_LEDGER_BYTES};
pub use self::money::{Currency, Money};
pub use self::payouts::{payout_report, LineKind, Month, PayoutLine, PayoutReport, PublisherTotal};
pub use self::pricing::{Period, Pricing, PricingModel, MAX_TRIAL_DAYS};
pub use self::rating::{
    damped_from_totals, damped_hundredths, damped_rating, DampedRating, PRIOR_MEAN, PRIOR_WEIGHT,
};
pub use self::renewals::{subscription_span, PaidPeriod};
pub use self::terms::{Rate, RevenueShare, MAX_FEE_BASIS_POINTS};

#[cfg(test)]
mod tests;
