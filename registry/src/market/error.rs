//! The marketplace's coded errors (SB1341–SB1349).

use switchboard_sdk::ErrorCode;

/// A marketplace rule refused its input: a ledger, a price, terms, a month.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MarketError {
    /// The ledger file could not be read: missing, not a regular file, or larger than
    /// [`MAX_LEDGER_BYTES`](super::MAX_LEDGER_BYTES). (Bytes handed to
    /// [`Ledger::from_json`](super::Ledger::from_json) over the cap are `SB1342`.)
    #[error("cannot read the ledger {path}: {reason}")]
    LedgerUnreadable {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The ledger is not JSON of the ledger's shape.
    #[error("the ledger is not valid: {reason}")]
    LedgerInvalid {
        /// What the parser said, with the place.
        reason: String,
    },
    /// An amount that is not allowed where it is: a sale or refund at zero or below, a
    /// negative threshold, two thresholds in one currency. (A currency that is not three
    /// capital letters is refused by the parser, `SB1342`; a refund in another currency than
    /// its sale is `SB1345`.)
    #[error("{what}: {reason}")]
    BadMoney {
        /// Where (`sale s1`, `threshold`).
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The revenue-share terms are not usable: a rate above the cap, two rates from the same
    /// day, or no rate in effect on a sale's date.
    #[error("revenue-share terms: {reason}")]
    BadTerms {
        /// What is wrong.
        reason: String,
    },
    /// A refund that does not fit its sale: an unknown sale, more than was paid, before the
    /// sale, or in another currency.
    #[error("refund of sale `{sale}`: {reason}")]
    BadRefund {
        /// The sale's id.
        sale: String,
        /// What is wrong.
        reason: String,
    },
    /// A month that is not `YYYY-MM`.
    #[error("`{given}` is not a month (YYYY-MM)")]
    BadMonth {
        /// What was given (cut to 40 characters).
        given: String,
    },
    /// A price that is not allowed: a paid model at zero, a free one with a price, too many
    /// trial days.
    #[error("pricing: {reason}")]
    BadPricing {
        /// What is wrong.
        reason: String,
    },
    /// A dispute that does not fit: an id used twice, resolved before it was opened, or about
    /// a plugin the publisher never sold.
    #[error("dispute `{id}`: {reason}")]
    BadDispute {
        /// The dispute's id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// A sum does not fit in 64 bits of minor units.
    #[error("the amounts of {what} overflow")]
    Overflow {
        /// Which sum.
        what: String,
    },
}

impl MarketError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::from_number(match self {
            MarketError::LedgerUnreadable { .. } => 1341,
            MarketError::LedgerInvalid { .. } => 1342,
            MarketError::BadMoney { .. } => 1343,
            MarketError::BadTerms { .. } => 1344,
            MarketError::BadRefund { .. } => 1345,
            MarketError::BadMonth { .. } => 1346,
            MarketError::BadPricing { .. } => 1347,
            MarketError::BadDispute { .. } => 1348,
            MarketError::Overflow { .. } => 1349,
        })
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            MarketError::LedgerUnreadable { .. } => {
                "check the path and permissions; export the ledger again if it is cut".into()
            }
            MarketError::LedgerInvalid { .. } => "fix the ledger at the place named (see \
                 docs/marketplace.md for its fields); nothing was computed"
                .into(),
            MarketError::BadMoney { .. } => "write amounts as integers in minor units (cents), \
                 non-negative, with an ISO 4217 code such as `EUR`"
                .into(),
            MarketError::BadTerms { .. } => "give the default terms a rate from a date on or \
                 before the first sale, one rate per date, each at most 2500 basis points (25 %)"
                .into(),
            MarketError::BadRefund { .. } => "a refund names a sale of the ledger, is dated on or \
                 after it, in its currency, and the refunds of a sale add up to at most its price"
                .into(),
            MarketError::BadMonth { .. } => "write the month as YYYY-MM, e.g. 2026-11".into(),
            MarketError::BadPricing { .. } => "a paid or subscription price is above zero, a \
                 free plugin has none, and a trial is at most 365 days"
                .into(),
            MarketError::BadDispute { .. } => "give each dispute its own id, a resolution dated \
                 on or after its opening, and the publisher and plugin of a sale"
                .into(),
            MarketError::Overflow { .. } => "the ledger's amounts are beyond any real sale: \
                 check the export"
                .into(),
        }
    }
}
