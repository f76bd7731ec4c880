//! `switchboard payouts`: a month's creator payout report (SPEC S9.8) from a marketplace
//! ledger — as a table for people, CSV for accounting, or one JSON document.
//!
//! The figures come from [`switchboard_registry::market::payout_report`]; this module only
//! reads the ledger (a file, or a registry server's stored one over its API) and prints.

use std::fmt::Write as _;
use std::path::Path;

use switchboard_registry::market::{payout_report, Ledger, LineKind, Month, PayoutReport};

/// How to print the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// CSV with a header ([`PayoutReport::to_csv`]).
    Csv,
    /// One JSON document.
    Json,
}

/// The report of `month` (`YYYY-MM`) from the ledger file at `ledger`, printed as `format`.
///
/// ```no_run
/// use switchboard_cli::payouts::{report, Format};
/// let csv = report(std::path::Path::new("ledger.json"), "2026-11", Format::Csv)?;
/// print!("{csv}");
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn report(ledger: &Path, month: &str, format: Format) -> anyhow::Result<String> {
    let month: Month = month.parse()?;
    let ledger = Ledger::read(ledger)?;
    let report = payout_report(&ledger, month)?;
    Ok(match format {
        Format::Csv => report.to_csv(),
        Format::Json => format!("{}\n", serde_json::json!({ "ok": true, "report": report })),
        Format::Table => table(&report),
    })
}

/// The report of `month` from the configured registry server `registry` (its stored
/// ledger, `GET /api/v1/payouts`): the logged-in publisher's own lines, or every line for an
/// admin's token — printed exactly as [`report`] prints a ledger file's.
///
/// ```no_run
/// use switchboard_cli::payouts::{from_server, Format};
/// let csv = from_server(std::path::Path::new("/home/ann/.switchboard"), "main", "2026-11", Format::Csv)?;
/// print!("{csv}");
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn from_server(
    data_dir: &Path,
    registry: &str,
    month: &str,
    format: Format,
) -> anyhow::Result<String> {
    let month: Month = month.parse()?;
    let doc = crate::server::call(
        data_dir,
        registry,
        crate::server::Method::Get,
        &format!("payouts?month={month}"),
        None,
        true,
    )?;
    let report: PayoutReport = serde_json::from_value(doc["report"].clone()).map_err(|e| {
        crate::output::CliError::raise(
            crate::server::codes::SERVER,
            format!("{registry} answered a payout report this CLI cannot read: {e}"),
            "update switchboard to the server's version",
        )
    })?;
    Ok(match format {
        Format::Csv => report.to_csv(),
        Format::Json => format!("{}\n", serde_json::json!({ "ok": true, "report": report })),
        Format::Table => table(&report),
    })
}

fn table(report: &PayoutReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "payouts for {}", report.month);
    if report.lines.is_empty() && report.publishers.is_empty() {
        out.push_str("no sales, refunds or adjustments in the month, and nothing carried\n");
    }
    if !report.lines.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<20} {:<20} {:<4} {:>6} {:>6} {:>14} {:>14} {:>14} {:>14} {:>14}",
            "PUBLISHER",
            "PLUGIN",
            "CUR",
            "RATE",
            "SALES",
            "SALES AMT",
            "REFUNDS",
            "GROSS",
            "FEES",
            "NET"
        );
    }
    for l in &report.lines {
        let m = |a: i64| switchboard_registry::market::Money::new(a, l.currency).to_string();
        let amount = |a: i64| m(a).trim_end_matches(l.currency.as_str()).trim().to_owned();
        let rate = match (l.kind, l.basis_points) {
            (LineKind::Sales, Some(bp)) => format!("{}.{:02}%", bp / 100, bp % 100),
            _ => "adj".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<20} {:<20} {:<4} {:>6} {:>6} {:>14} {:>14} {:>14} {:>14} {:>14}",
            l.publisher,
            l.plugin,
            l.currency,
            rate,
            l.sales_count,
            amount(l.sales),
            amount(l.refunds),
            amount(l.gross),
            amount(l.fees),
            amount(l.net),
        );
        if !l.note.is_empty() {
            let _ = writeln!(out, "  {}", l.note);
        }
    }
    if !report.publishers.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<20} {:<4} {:>14} {:>14} {:>14} {:>14}",
            "PUBLISHER", "CUR", "NET", "CARRIED IN", "PAYABLE", "CARRIED OUT"
        );
    }
    for t in &report.publishers {
        let amount = |a: i64| {
            switchboard_registry::market::Money::new(a, t.currency)
                .to_string()
                .trim_end_matches(t.currency.as_str())
                .trim()
                .to_owned()
        };
        let _ = writeln!(
            out,
            "{:<20} {:<4} {:>14} {:>14} {:>14} {:>14}",
            t.publisher,
            t.currency,
            amount(t.net),
            amount(t.carried_in),
            amount(t.payable),
            amount(t.carried_out),
        );
    }
    if !report.open_disputes.is_empty() {
        let _ = writeln!(out, "\nopen disputes: {}", report.open_disputes.join(", "));
    }
    out
}
