//! What a subscription's entitlement covers after renewals and refunds (issue 21 gap 4).
//!
//! Each subscription charge buys one period. Renewing extends the entitlement from its current
//! end (or from the renewal, if it had lapsed), so the periods are laid end to end: each
//! starts at its purchase or at the end of the one before, whichever is later.
//!
//! **The rule:** the entitlement covers exactly the periods still paid for — those of the
//! account's charges for the plugin that are not refunded in full — laid end to end in
//! purchase order by that same rule. It begins at the first of them and ends where the last
//! ends; with none left, it ends. So refunding a charge removes its period wherever it was
//! in the chain (later periods move up to close the gap, as if that charge had never been
//! made), whether it was the newest or an older one. A partial refund is a credit: the period
//! stays paid for.

/// One paid period: the charge's sale, when it was made (Unix seconds) and how long a period
/// it bought (seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidPeriod {
    /// The sale.
    pub sale: String,
    /// When it was charged.
    pub at: i64,
    /// The period's length.
    pub seconds: i64,
}

/// What the entitlement of `periods` (in any order) covers: when it begins, when it ends, and
/// the last sale (in purchase order) — `None` when no period is left.
///
/// ```
/// use switchboard_registry::market::{subscription_span, PaidPeriod};
/// let p = |sale: &str, at: i64| PaidPeriod { sale: sale.into(), at, seconds: 30 };
/// // Bought at 0, renewed at 25 (extends to 60), renewed at 100 after lapsing (to 130).
/// let all = [p("a", 0), p("b", 25), p("c", 100)];
/// assert_eq!(subscription_span(&all), Some((0, 130, "c".into())));
/// // Refunding the first: b covers 25–55, c 100–130.
/// assert_eq!(subscription_span(&all[1..]), Some((25, 130, "c".into())));
/// // Refunding the last: the entitlement ends where b's period ends.
/// assert_eq!(subscription_span(&all[..2]), Some((0, 60, "b".into())));
/// assert_eq!(subscription_span(&[]), None);
/// ```
pub fn subscription_span(periods: &[PaidPeriod]) -> Option<(i64, i64, String)> {
    let mut sorted: Vec<&PaidPeriod> = periods.iter().collect();
    sorted.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.sale.cmp(&b.sale)));
    let first = sorted.first()?;
    let mut end = i64::MIN;
    for p in &sorted {
        end = end.max(p.at).saturating_add(p.seconds.max(0));
    }
    let last = sorted.last()?;
    Some((first.at, end, last.sale.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Charges as the server makes them: each extends the entitlement from its end, or from
    /// the charge if it had lapsed.
    fn renewed(periods: &[PaidPeriod]) -> i64 {
        let mut sorted = periods.to_vec();
        sorted.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.sale.cmp(&b.sale)));
        let mut expires: Option<i64> = None;
        for p in &sorted {
            let from = expires.unwrap_or(p.at).max(p.at);
            expires = Some(from + p.seconds);
        }
        expires.unwrap_or(i64::MIN)
    }

    /// Whether each charge came before the entitlement the earlier ones gave had ended.
    fn never_lapsed(periods: &[PaidPeriod]) -> bool {
        let mut sorted = periods.to_vec();
        sorted.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.sale.cmp(&b.sale)));
        let mut end: Option<i64> = None;
        for p in &sorted {
            if end.is_some_and(|e| p.at > e) {
                return false;
            }
            end = Some(end.unwrap_or(p.at).max(p.at) + p.seconds);
        }
        true
    }

    fn periods() -> impl Strategy<Value = Vec<PaidPeriod>> {
        prop::collection::vec((0i64..200, 1i64..60), 0..8).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (at, seconds))| PaidPeriod {
                    sale: format!("s{i:02}"),
                    at,
                    seconds,
                })
                .collect()
        })
    }

    proptest! {
        /// With nothing refunded, the span ends where the renewals took it.
        #[test]
        fn unrefunded_charges_end_where_renewals_took_them(all in periods()) {
            match subscription_span(&all) {
                None => prop_assert!(all.is_empty()),
                Some((since, ends, _)) => {
                    prop_assert_eq!(ends, renewed(&all));
                    prop_assert_eq!(since, all.iter().map(|p| p.at).min().unwrap_or(0));
                }
            }
        }

        /// Refunding any one charge (old or new) never lengthens the entitlement, leaves
        /// exactly the renewals of the others, and — when the subscription never lapsed —
        /// shortens it by no more than that charge's period (later periods move up, but not
        /// before their own purchase).
        #[test]
        fn a_refund_takes_out_at_most_its_own_period(all in periods(), pick in 0usize..8) {
            prop_assume!(!all.is_empty());
            let k = pick % all.len();
            let mut rest = all.clone();
            let gone = rest.remove(k);
            let before = subscription_span(&all).map(|s| s.1).unwrap_or(i64::MIN);
            match subscription_span(&rest) {
                None => prop_assert!(rest.is_empty()),
                Some((_, after, _)) => {
                    prop_assert!(after <= before);
                    prop_assert_eq!(after, renewed(&rest));
                    if never_lapsed(&all) {
                        prop_assert!(before - after <= gone.seconds);
                    }
                }
            }
        }
    }

    #[test]
    fn an_older_charge_refunded_after_renewal_shortens_the_entitlement() {
        let month = 30;
        let p = |sale: &str, at: i64| PaidPeriod {
            sale: sale.into(),
            at,
            seconds: month,
        };
        // Bought at 0 (to 30), renewed at 20 (to 60).
        let both = [p("a", 0), p("b", 20)];
        assert_eq!(subscription_span(&both), Some((0, 60, "b".into())));
        // The older refunded: only b's month is paid, from when it was bought.
        assert_eq!(subscription_span(&both[1..]), Some((20, 50, "b".into())));
        // The newer refunded: a's month.
        assert_eq!(subscription_span(&both[..1]), Some((0, 30, "a".into())));
    }
}
