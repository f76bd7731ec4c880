//! The demo's marketplace tour (SPEC S9.8): November's creator payouts from the example ledger
//! in `docs/examples/ledger.json` — a month whose default fee rate changed on the 15th, a sale
//! refunded a month later, a total under the payout threshold carried over, an open dispute.
//! Each claim is checked against the rules, not against the printed text.

use anyhow::Result;
use switchboard_registry::market::{payout_report, Ledger, Month};

use super::Report;

/// The ledger the docs show, built in so the demo needs no file at run time.
const LEDGER: &str = include_str!("../../../docs/examples/ledger.json");

/// Runs the tour: no host, the payout rules alone.
pub(super) fn run(r: &mut Report<'_>) -> Result<()> {
    let ledger = Ledger::from_json(LEDGER.as_bytes())?;
    let month: Month = "2026-11".parse()?;
    let report = payout_report(&ledger, month)?;
    let zeta: Vec<_> = report
        .lines
        .iter()
        .filter(|l| l.publisher == "zeta")
        .collect();
    let acme = report.lines.iter().find(|l| l.publisher == "acme");
    let zeta_total = report.publishers.iter().find(|t| t.publisher == "zeta");
    let csv = report.to_csv();
    let ok = report.lines.iter().all(|l| l.gross == l.fees + l.net)
        // Two rates in one month: 15 % before the 15th, 20 % after.
        && zeta.iter().map(|l| l.basis_points).collect::<Vec<_>>() == [Some(1500), Some(2000)]
        && zeta.iter().map(|l| l.fees).collect::<Vec<_>>() == [270, 180]
        // acme's October sale refunded in November at acme's own 10 %: its fee given back.
        && acme.is_some_and(|l| l.refunds == 4900 && l.fees == 0 && l.net == 0)
        // 22.50 under the 25.00 threshold: carried to December, nothing paid.
        && zeta_total.is_some_and(|t| t.net == 2250 && t.payable == 0 && t.carried_out == 2250)
        && report.open_disputes == ["d-7"];
    r.say(
        "Marketplace: November's creator payouts — a fee rate that changed mid-month, a refund giving its fee back, a total under the threshold carried over",
        ok,
        format!(
            "switchboard payouts --ledger docs/examples/ledger.json --month 2026-11 --csv\n{}open disputes: {}",
            csv,
            report.open_disputes.join(", ")
        ),
    )?;
    Ok(())
}
