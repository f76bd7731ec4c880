//! Money as integer minor units: no float ever holds an amount.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::MarketError;

/// An ISO 4217 currency code: three capital ASCII letters (`EUR`, `USD`, `JPY`).
///
/// ```
/// use switchboard_registry::market::Currency;
/// let eur: Currency = "EUR".parse().unwrap();
/// assert_eq!(eur.as_str(), "EUR");
/// assert_eq!(eur.minor_digits(), 2);
/// assert!("eur".parse::<Currency>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// The code.
    pub fn as_str(&self) -> &str {
        // Three ASCII capitals, checked when made.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// How many digits the minor unit has: 0 for currencies without one (`JPY`, `KRW`, …),
    /// 3 for those with thousandths (`KWD`, `BHD`, …), 2 otherwise.
    pub fn minor_digits(&self) -> u32 {
        match self.as_str() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF"
            | "UGX" | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }
}

impl std::str::FromStr for Currency {
    type Err = MarketError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_uppercase()) => {
                Ok(Currency([*a, *b, *c]))
            }
            _ => Err(MarketError::BadMoney {
                what: "currency".into(),
                reason: format!(
                    "`{}` is not three capital letters (ISO 4217)",
                    s.chars().take(16).collect::<String>().escape_debug()
                ),
            }),
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = MarketError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount of money: whole minor units (cents for `EUR`) and the currency.
///
/// ```
/// use switchboard_registry::market::Money;
/// let price = Money::new(4900, "EUR".parse().unwrap());
/// assert_eq!(price.to_string(), "49.00 EUR");
/// let yen = Money::new(500, "JPY".parse().unwrap());
/// assert_eq!(yen.to_string(), "500 JPY");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Minor units (cents); never negative in a price, a sale or a refund.
    pub amount: i64,
    /// The currency.
    pub currency: Currency,
}

impl Money {
    /// `amount` minor units of `currency`.
    pub fn new(amount: i64, currency: Currency) -> Money {
        Money { amount, currency }
    }

    /// Refuses a negative amount, or (with `positive`) a zero one, naming `what`.
    pub(crate) fn check(&self, what: &str, positive: bool) -> Result<(), MarketError> {
        if self.amount < 0 || (positive && self.amount == 0) {
            return Err(MarketError::BadMoney {
                what: what.to_owned(),
                reason: format!(
                    "{} minor units: {}",
                    self.amount,
                    if positive {
                        "must be above zero"
                    } else {
                        "must not be negative"
                    }
                ),
            });
        }
        Ok(())
    }
}

/// Writes `amount` minor units with the currency's decimal places (`-12.05`, `500`).
pub(crate) fn format_minor(amount: i64, currency: Currency) -> String {
    let digits = currency.minor_digits();
    if digits == 0 {
        return amount.to_string();
    }
    let scale = 10u64.pow(digits);
    let abs = amount.unsigned_abs();
    let sign = if amount < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = digits as usize
    )
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            format_minor(self.amount, self.currency),
            self.currency
        )
    }
}
