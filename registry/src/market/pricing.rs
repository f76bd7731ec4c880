//! A plugin's price (SPEC S9.8): free, paid once, or a subscription, with trial days.

use serde::{Deserialize, Serialize};

use super::{MarketError, Money};

/// The longest trial a price may offer, in days.
pub const MAX_TRIAL_DAYS: u16 = 365;

/// How often a subscription is charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// Every month.
    Month,
    /// Every year.
    Year,
}

/// How a plugin is paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "lowercase", deny_unknown_fields)]
pub enum PricingModel {
    /// No charge.
    Free,
    /// One payment for the plugin's use from then on.
    Paid {
        /// The price.
        price: Money,
    },
    /// A payment every period.
    Subscription {
        /// The price per period.
        price: Money,
        /// The period.
        period: Period,
    },
}

/// A plugin's pricing metadata: its model and the trial a buyer gets first.
///
/// ```
/// use switchboard_registry::market::Pricing;
/// let p: Pricing = serde_json::from_str(
///     r#"{"model":"subscription","price":{"amount":900,"currency":"EUR"},"period":"month","trial_days":14}"#,
/// ).unwrap();
/// p.check().unwrap();
/// assert!(p.is_paid());
/// assert_eq!(p.to_string(), "9.00 EUR a month, 14-day trial");
///
/// let bad: Pricing = serde_json::from_str(r#"{"model":"paid","price":{"amount":0,"currency":"EUR"}}"#).unwrap();
/// assert_eq!(bad.check().unwrap_err().code().to_string(), "SB1347");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pricing {
    /// The model and its price.
    #[serde(flatten)]
    pub model: PricingModel,
    /// Days of use before the first charge (0: none).
    #[serde(default)]
    pub trial_days: u16,
}

impl Pricing {
    /// A free plugin.
    pub fn free() -> Pricing {
        Pricing {
            model: PricingModel::Free,
            trial_days: 0,
        }
    }

    /// Whether using it needs an entitlement.
    pub fn is_paid(&self) -> bool {
        !matches!(self.model, PricingModel::Free)
    }

    /// Refuses a paid model at zero (or below), a trial on a free plugin, and a trial longer
    /// than [`MAX_TRIAL_DAYS`].
    pub fn check(&self) -> Result<(), MarketError> {
        let bad = |reason: String| Err(MarketError::BadPricing { reason });
        match self.model {
            PricingModel::Free if self.trial_days > 0 => {
                return bad("a free plugin has no trial".into())
            }
            PricingModel::Free => {}
            PricingModel::Paid { price } | PricingModel::Subscription { price, .. } => {
                if price.amount <= 0 {
                    return bad(format!("a price of {price} is not above zero"));
                }
            }
        }
        if self.trial_days > MAX_TRIAL_DAYS {
            return bad(format!(
                "a trial of {} days is longer than {MAX_TRIAL_DAYS}",
                self.trial_days
            ));
        }
        Ok(())
    }
}

impl std::fmt::Display for Pricing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.model {
            PricingModel::Free => f.write_str("free")?,
            PricingModel::Paid { price } => write!(f, "{price}")?,
            PricingModel::Subscription { price, period } => write!(
                f,
                "{price} a {}",
                match period {
                    Period::Month => "month",
                    Period::Year => "year",
                }
            )?,
        }
        if self.trial_days > 0 {
            write!(f, ", {}-day trial", self.trial_days)?;
        }
        Ok(())
    }
}
