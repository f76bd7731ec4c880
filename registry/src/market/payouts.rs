//! The monthly creator payout report (SPEC S9.8).
//!
//! For a month, one line per publisher, plugin, currency and fee rate: the sales dated in the
//! month, the refunds dated in it (at the rate of the sale they refund, so a full refund gives
//! the fee back exactly), `gross = sales − refunds`, `fees`, and `net = gross − fees`; then a
//! line per dispute resolved in the month with an adjustment (no fee). Each sale's fee is
//! rounded on its own, half away from zero, at the rate in effect on the sale's date.
//!
//! Per publisher and currency: the month's net plus what earlier months carried over; paid out
//! when it reaches the currency's threshold (and is above zero), carried over to the next month
//! otherwise — a debit too, so refunds of paid-out sales are recovered from later sales.
//! Nothing is lost: over any span of months, the payouts plus what is carried out of the last
//! month equal the sum of the lines' net amounts (tested over random ledgers).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::money::format_minor;
use super::{Currency, Ledger, MarketError};

/// A calendar month.
///
/// ```
/// use switchboard_registry::market::Month;
/// let m: Month = "2026-11".parse().unwrap();
/// assert_eq!(m.to_string(), "2026-11");
/// assert_eq!(m.next().to_string(), "2026-12");
/// assert!("2026-13".parse::<Month>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i16,
    month: i8,
}

impl Month {
    /// The month `date` is in.
    pub fn of(date: Date) -> Month {
        Month {
            year: date.year(),
            month: date.month(),
        }
    }

    /// The month after.
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year.saturating_add(1),
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }
}

impl std::str::FromStr for Month {
    type Err = MarketError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || MarketError::BadMonth {
            given: s.chars().take(40).collect(),
        };
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let year: i16 = y.parse().map_err(|_| bad())?;
        let month: i8 = m.parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) || Date::new(year, month, 1).is_err() {
            return Err(bad());
        }
        Ok(Month { year, month })
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl Serialize for Month {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Month {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What a line counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LineKind {
    /// Sales and refunds at one fee rate.
    Sales,
    /// A resolved dispute's adjustment.
    Adjustment,
}

/// One line of a payout report; amounts in minor units of `currency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutLine {
    /// The publisher paid.
    pub publisher: String,
    /// The plugin.
    pub plugin: String,
    /// The currency of every amount on the line.
    pub currency: Currency,
    /// Sales or an adjustment.
    pub kind: LineKind,
    /// The fee rate of the line's sales, in basis points (`None` for an adjustment).
    pub basis_points: Option<u16>,
    /// How many sales.
    pub sales_count: u32,
    /// What the sales brought in.
    pub sales: i64,
    /// What was refunded.
    pub refunds: i64,
    /// `sales − refunds` (or the adjustment).
    pub gross: i64,
    /// The marketplace's fee.
    pub fees: i64,
    /// `gross − fees`: the publisher's.
    pub net: i64,
    /// The dispute's id and note, for an adjustment.
    pub note: String,
}

/// One publisher's month in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublisherTotal {
    /// The publisher.
    pub publisher: String,
    /// The currency.
    pub currency: Currency,
    /// The sum of the month's lines' gross.
    pub gross: i64,
    /// The sum of their fees.
    pub fees: i64,
    /// The sum of their net.
    pub net: i64,
    /// Carried over from earlier months (negative: a debit).
    pub carried_in: i64,
    /// Paid out this month: `net + carried_in` when it reaches the threshold, else 0.
    pub payable: i64,
    /// Carried over to the next month: `net + carried_in − payable`.
    pub carried_out: i64,
}

/// A month's payout report: its lines, the totals per publisher, the disputes still open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutReport {
    /// The month.
    pub month: Month,
    /// The lines, by publisher, plugin, currency, kind and rate.
    pub lines: Vec<PayoutLine>,
    /// The totals, by publisher and currency.
    pub publishers: Vec<PublisherTotal>,
    /// The ids of disputes open at the month's end.
    pub open_disputes: Vec<String>,
}

/// The fee on `amount` at `bp` basis points, rounded half away from zero.
fn fee(amount: i64, bp: u16) -> i64 {
    let x = i128::from(amount) * i128::from(bp);
    let q = (x.abs() + 5_000) / 10_000;
    // At most a quarter of an i64: fits.
    i64::try_from(if x < 0 { -q } else { q }).unwrap_or(0)
}

type LineKey = (String, String, Currency, LineKind, Option<u16>, String);

/// One priced entry of the ledger: what it adds to which line.
struct Entry {
    key: LineKey,
    sales: i64,
    count: u32,
    refunds: i64,
    fees: i64,
}

fn overflow(what: &str) -> MarketError {
    MarketError::Overflow { what: what.into() }
}

/// Adds `x` to `to`, refusing an overflow of `what`.
fn add(to: &mut i64, x: i64, what: &str) -> Result<(), MarketError> {
    *to = to.checked_add(x).ok_or_else(|| overflow(what))?;
    Ok(())
}

/// The line a sale (and its refunds) counts on.
fn sales_key(s: &super::Sale, bp: u16) -> LineKey {
    (
        s.publisher.clone(),
        s.plugin.clone(),
        s.price.currency,
        LineKind::Sales,
        Some(bp),
        String::new(),
    )
}

/// Every sale, refund and adjustment of the ledger, priced once and put in its month.
///
/// A sale's fee is at the rate on its date. A sale's refunds, in date order, give back
/// `fee(refunded after) − fee(refunded before)` at that rate: the fees given back add up to the
/// fee on what was refunded, so a sale refunded in full — at once or in parts — ends with no
/// fee at all.
fn entries(ledger: &Ledger) -> Result<BTreeMap<Month, Vec<Entry>>, MarketError> {
    let terms = ledger.terms.sorted();
    let mut by_month: BTreeMap<Month, Vec<Entry>> = BTreeMap::new();
    let mut sales = BTreeMap::new();
    for s in &ledger.sales {
        let bp = terms.rate_on(&s.publisher, s.date)?;
        sales.insert(s.id.as_str(), (s, bp));
        by_month.entry(Month::of(s.date)).or_default().push(Entry {
            key: sales_key(s, bp),
            sales: s.price.amount,
            count: 1,
            refunds: 0,
            fees: fee(s.price.amount, bp),
        });
    }
    let mut refunds: Vec<(usize, &super::Refund)> = ledger.refunds.iter().enumerate().collect();
    refunds.sort_unstable_by_key(|(i, r)| (r.date, *i));
    let mut refunded: BTreeMap<&str, i64> = BTreeMap::new();
    for (_, r) in refunds {
        let Some((s, bp)) = sales.get(r.sale.as_str()) else {
            return Err(MarketError::BadRefund {
                sale: r.sale.clone(),
                reason: "no sale has this id".into(),
            });
        };
        let before = refunded.entry(r.sale.as_str()).or_default();
        let after = before
            .checked_add(r.amount.amount)
            .ok_or_else(|| overflow("a sale's refunds"))?;
        let given_back = fee(after, *bp) - fee(*before, *bp);
        *before = after;
        by_month.entry(Month::of(r.date)).or_default().push(Entry {
            key: sales_key(s, *bp),
            sales: 0,
            count: 0,
            refunds: r.amount.amount,
            fees: -given_back,
        });
    }
    for d in &ledger.disputes {
        let (Some(day), Some(adj)) = (d.resolved, d.adjustment) else {
            continue;
        };
        let note = if d.note.is_empty() {
            format!("dispute {}", d.id)
        } else {
            format!("dispute {}: {}", d.id, d.note)
        };
        // An adjustment is all gross and all net: it enters through `sales` (negative for a
        // debit) so that gross = sales − refunds still holds.
        by_month.entry(Month::of(day)).or_default().push(Entry {
            key: (
                d.publisher.clone(),
                d.plugin.clone(),
                adj.currency,
                LineKind::Adjustment,
                None,
                note,
            ),
            sales: adj.amount,
            count: 0,
            refunds: 0,
            fees: 0,
        });
    }
    Ok(by_month)
}

/// The lines of one month's entries.
fn lines_of(entries: &[Entry]) -> Result<Vec<PayoutLine>, MarketError> {
    let mut out: BTreeMap<&LineKey, PayoutLine> = BTreeMap::new();
    for e in entries {
        let l = out.entry(&e.key).or_insert_with(|| PayoutLine {
            publisher: e.key.0.clone(),
            plugin: e.key.1.clone(),
            currency: e.key.2,
            kind: e.key.3,
            basis_points: e.key.4,
            sales_count: 0,
            sales: 0,
            refunds: 0,
            gross: 0,
            fees: 0,
            net: 0,
            note: e.key.5.clone(),
        });
        l.sales_count = l.sales_count.saturating_add(e.count);
        add(&mut l.sales, e.sales, "a line's sales")?;
        add(&mut l.refunds, e.refunds, "a line's refunds")?;
        add(&mut l.fees, e.fees, "a line's fees")?;
    }
    let mut lines: Vec<PayoutLine> = out.into_values().collect();
    for l in &mut lines {
        l.gross = l
            .sales
            .checked_sub(l.refunds)
            .ok_or_else(|| overflow("a line's gross"))?;
        l.net = l
            .gross
            .checked_sub(l.fees)
            .ok_or_else(|| overflow("a line's net"))?;
    }
    Ok(lines)
}

type Carried = BTreeMap<(String, Currency), i64>;

/// The totals of a month's `lines` given what earlier months `carried`, and what this one
/// carries on.
fn settle(
    lines: &[PayoutLine],
    carried: &Carried,
    threshold: &dyn Fn(Currency) -> i64,
) -> Result<(Vec<PublisherTotal>, Carried), MarketError> {
    let mut totals: BTreeMap<(String, Currency), PublisherTotal> = BTreeMap::new();
    let blank = |publisher: &str, currency: Currency| PublisherTotal {
        publisher: publisher.to_owned(),
        currency,
        gross: 0,
        fees: 0,
        net: 0,
        carried_in: 0,
        payable: 0,
        carried_out: 0,
    };
    for l in lines {
        let t = totals
            .entry((l.publisher.clone(), l.currency))
            .or_insert_with(|| blank(&l.publisher, l.currency));
        add(&mut t.gross, l.gross, "a total")?;
        add(&mut t.fees, l.fees, "a total")?;
        add(&mut t.net, l.net, "a total")?;
    }
    // A publisher with nothing this month but something carried still gets a total.
    for (publisher, currency) in carried.keys() {
        totals
            .entry((publisher.clone(), *currency))
            .or_insert_with(|| blank(publisher, *currency));
    }
    let mut next = Carried::new();
    for (key, t) in &mut totals {
        t.carried_in = carried.get(key).copied().unwrap_or(0);
        let total = t
            .net
            .checked_add(t.carried_in)
            .ok_or_else(|| overflow("a total"))?;
        let due = total > 0 && total >= threshold(t.currency);
        t.payable = if due { total } else { 0 };
        t.carried_out = total - t.payable;
        if t.carried_out != 0 {
            next.insert(key.clone(), t.carried_out);
        }
    }
    Ok((totals.into_values().collect(), next))
}

/// The payout report of `month` from `ledger` (which should have passed [`Ledger::check`];
/// refunds of unknown sales and missing terms are refused here too). The months before it
/// that have entries are settled as well, for what they carry over; a month without entries
/// changes nothing (a total not due stays not due), so the work grows with the ledger, not
/// with the span of dates.
pub fn payout_report(ledger: &Ledger, month: Month) -> Result<PayoutReport, MarketError> {
    let by_month = entries(ledger)?;
    let threshold = |c: Currency| {
        ledger
            .thresholds
            .iter()
            .find(|t| t.currency == c)
            .map_or(0, |t| t.amount)
    };
    let mut carried = Carried::new();
    for list in by_month.range(..month).map(|(_, l)| l) {
        let lines = lines_of(list)?;
        carried = settle(&lines, &carried, &threshold)?.1;
    }
    let lines = lines_of(by_month.get(&month).map_or(&[][..], Vec::as_slice))?;
    let (publishers, _) = settle(&lines, &carried, &threshold)?;
    let open_disputes = ledger
        .disputes
        .iter()
        .filter(|d| Month::of(d.opened) <= month && d.resolved.is_none_or(|r| Month::of(r) > month))
        .map(|d| d.id.clone())
        .collect();
    Ok(PayoutReport {
        month,
        lines,
        publishers,
        open_disputes,
    })
}

/// A CSV field, quoted when it holds a comma, a quote or a line break; a leading `=`, `+`,
/// `-`, `@`, tab or carriage return in text is prefixed with `'` so a spreadsheet does not run
/// it as a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

impl PayoutReport {
    /// The report as CSV: a header, one row per line (`kind` `sales` or `adjustment`), then one
    /// `total` row per publisher and currency. Amounts in major units with the currency's
    /// decimals (`49.00`), rates in basis points.
    ///
    /// ```
    /// # use switchboard_registry::market::{payout_report, Ledger};
    /// # let ledger = Ledger::from_json(br#"{"terms":{"default":[{"from":"2026-01-01","basis_points":1500}]},
    /// #   "sales":[{"id":"s1","publisher":"acme","plugin":"lint","date":"2026-11-03","price":{"amount":4900,"currency":"EUR"}}]}"#).unwrap();
    /// let csv = payout_report(&ledger, "2026-11".parse().unwrap()).unwrap().to_csv();
    /// let rows: Vec<&str> = csv.lines().collect();
    /// assert_eq!(rows[0], "month,publisher,plugin,currency,kind,basis_points,sales_count,sales,refunds,gross,fees,net,carried_in,payable,carried_out,note");
    /// assert_eq!(rows[1], "2026-11,acme,lint,EUR,sales,1500,1,49.00,0.00,49.00,7.35,41.65,,,,");
    /// assert_eq!(rows[2], "2026-11,acme,,EUR,total,,,,,49.00,7.35,41.65,0.00,41.65,0.00,");
    /// ```
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "month,publisher,plugin,currency,kind,basis_points,sales_count,sales,refunds,gross,\
             fees,net,carried_in,payable,carried_out,note\n",
        );
        for l in &self.lines {
            let m = |a: i64| format_minor(a, l.currency);
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},,,,{}",
                self.month,
                csv_field(&l.publisher),
                csv_field(&l.plugin),
                l.currency,
                match l.kind {
                    LineKind::Sales => "sales",
                    LineKind::Adjustment => "adjustment",
                },
                l.basis_points.map(|b| b.to_string()).unwrap_or_default(),
                l.sales_count,
                m(l.sales),
                m(l.refunds),
                m(l.gross),
                m(l.fees),
                m(l.net),
                csv_field(&l.note),
            );
        }
        for t in &self.publishers {
            let m = |a: i64| format_minor(a, t.currency);
            let _ = writeln!(
                out,
                "{},{},,{},total,,,,,{},{},{},{},{},{},",
                self.month,
                csv_field(&t.publisher),
                t.currency,
                m(t.gross),
                m(t.fees),
                m(t.net),
                m(t.carried_in),
                m(t.payable),
                m(t.carried_out),
            );
        }
        out
    }
}
