//! Revenue-share terms (SPEC S9.8): the marketplace's fee as a rate in basis points, with the
//! date each rate takes effect — a default for everyone and overrides per publisher — capped
//! at [`MAX_FEE_BASIS_POINTS`].

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::MarketError;

/// The highest fee the marketplace may take: 25 % (2,500 basis points), whatever the terms say.
pub const MAX_FEE_BASIS_POINTS: u16 = 2500;

/// One rate and the day it takes effect (it stays in effect until the next one's day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// The first day the rate applies to sales.
    pub from: Date,
    /// The fee in basis points of the sale (1,500 = 15 %).
    pub basis_points: u16,
}

/// The fee rates over time: the default and per-publisher overrides.
///
/// ```
/// use switchboard_registry::market::RevenueShare;
/// let terms: RevenueShare = serde_json::from_str(r#"{
///     "default": [ {"from": "2026-01-01", "basis_points": 1500},
///                  {"from": "2026-11-15", "basis_points": 2000} ],
///     "publishers": { "acme": [ {"from": "2026-06-01", "basis_points": 1000} ] }
/// }"#).unwrap();
/// terms.check().unwrap();
/// let day = |s: &str| s.parse().unwrap();
/// assert_eq!(terms.rate_on("zeta", day("2026-11-14")).unwrap(), 1500);
/// assert_eq!(terms.rate_on("zeta", day("2026-11-15")).unwrap(), 2000);
/// assert_eq!(terms.rate_on("acme", day("2026-11-20")).unwrap(), 1000);
/// assert_eq!(terms.rate_on("acme", day("2026-05-31")).unwrap(), 1500);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevenueShare {
    /// Everyone's rates.
    pub default: Vec<Rate>,
    /// A publisher's own rates, which take precedence from their dates on.
    #[serde(default)]
    pub publishers: BTreeMap<String, Vec<Rate>>,
}

impl RevenueShare {
    /// Refuses a rate above the cap and two rates taking effect the same day in one list.
    pub fn check(&self) -> Result<(), MarketError> {
        let lists = std::iter::once(("default", &self.default))
            .chain(self.publishers.iter().map(|(p, r)| (p.as_str(), r)));
        for (whose, rates) in lists {
            if let Some(r) = rates.iter().find(|r| r.basis_points > MAX_FEE_BASIS_POINTS) {
                return Err(MarketError::BadTerms {
                    reason: format!(
                        "{whose}'s rate from {} is {} basis points, above the cap of \
                         {MAX_FEE_BASIS_POINTS}",
                        r.from, r.basis_points
                    ),
                });
            }
            let mut days: Vec<Date> = rates.iter().map(|r| r.from).collect();
            days.sort_unstable();
            if let Some(pair) = days.windows(2).find(|w| w[0] == w[1]) {
                return Err(MarketError::BadTerms {
                    reason: format!("{whose} has two rates from {}", pair[0]),
                });
            }
        }
        Ok(())
    }

    /// The fee rate in basis points for a sale by `publisher` on `day`: the publisher's latest
    /// override in effect that day, else the default's; an error if neither has begun.
    pub fn rate_on(&self, publisher: &str, day: Date) -> Result<u16, MarketError> {
        self.sorted().rate_on(publisher, day)
    }

    /// The terms with each list sorted by date, for many lookups.
    pub(crate) fn sorted(&self) -> SortedTerms<'_> {
        let sort = |rates: &[Rate]| {
            let mut v = rates.to_vec();
            v.sort_unstable_by_key(|r| r.from);
            v
        };
        SortedTerms {
            default: sort(&self.default),
            publishers: self
                .publishers
                .iter()
                .map(|(p, r)| (p.as_str(), sort(r)))
                .collect(),
        }
    }
}

/// [`RevenueShare`] with every list sorted by date: a lookup is a binary search.
pub(crate) struct SortedTerms<'a> {
    default: Vec<Rate>,
    publishers: BTreeMap<&'a str, Vec<Rate>>,
}

impl SortedTerms<'_> {
    /// As [`RevenueShare::rate_on`].
    pub(crate) fn rate_on(&self, publisher: &str, day: Date) -> Result<u16, MarketError> {
        let latest = |rates: &[Rate]| {
            let n = rates.partition_point(|r| r.from <= day);
            n.checked_sub(1)
                .and_then(|i| rates.get(i))
                .map(|r| r.basis_points.min(MAX_FEE_BASIS_POINTS))
        };
        self.publishers
            .get(publisher)
            .and_then(|r| latest(r))
            .or_else(|| latest(&self.default))
            .ok_or_else(|| MarketError::BadTerms {
                reason: format!("no rate is in effect on {day} (a sale by `{publisher}`)"),
            })
    }
}
