//! Taking payments (SPEC S9.8): the [`PaymentProvider`] trait a real provider (a card
//! processor, an invoicing system) is plugged in through, and [`TestPayments`], the one this
//! crate ships — it moves no money and answers deterministically, for tests, demos and
//! development.
//!
//! The server asks the provider to charge only after every other check passed (the plugin
//! is paid, the account may buy it); a charge the provider declines records nothing. What the
//! provider approved is recorded as a sale (the ledger's) and an entitlement in one
//! transaction, with the provider's reference kept beside the sale.
//!
//! A server started without a provider ([`ServerOptions::payments`](super::ServerOptions)
//! `None`, the default) sells nothing: purchases are refused (`SB1484`), while trials,
//! which charge nothing, still start.

use crate::market::Money;

/// What the server asks a provider to charge.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChargeRequest {
    /// The buying account.
    pub account: String,
    /// The plugin bought.
    pub plugin: String,
    /// The amount (a one-off price, or a subscription's price per period).
    pub price: Money,
    /// What the buyer gave to pay with, as opaque text (a provider's payment-method id).
    pub payment_method: String,
    /// A key unique to this purchase: a provider must charge at most once per key.
    pub idempotency_key: String,
}

/// A charge the provider approved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Charge {
    /// The provider's reference for it (kept with the sale, for refunds and support).
    pub reference: String,
}

impl Charge {
    /// A charge of reference `reference`.
    pub fn new(reference: impl Into<String>) -> Charge {
        Charge {
            reference: reference.into(),
        }
    }
}

/// Takes payments for the server. Called on the server's blocking pool; may block (network).
///
/// # Example: a provider of one's own
///
/// ```
/// use switchboard_registry::server::payments::{Charge, ChargeRequest, PaymentProvider};
///
/// #[derive(Debug)]
/// struct Invoices;
///
/// impl PaymentProvider for Invoices {
///     fn charge(&self, request: &ChargeRequest) -> Result<Charge, String> {
///         // Bill `request.account` `request.price` for `request.plugin` …
///         Ok(Charge::new(format!("invoice-{}", request.idempotency_key)))
///     }
/// }
/// ```
pub trait PaymentProvider: Send + Sync + std::fmt::Debug {
    /// Charges `request`: `Ok` with the provider's reference when the money is taken,
    /// `Err` with the reason shown to the buyer when declined (nothing is then recorded).
    fn charge(&self, request: &ChargeRequest) -> Result<Charge, String>;
}

/// The payment method [`TestPayments`] approves.
pub const TEST_APPROVE: &str = "test-approve";
/// The payment method [`TestPayments`] declines.
pub const TEST_DECLINE: &str = "test-decline";

/// A provider that moves no money: it approves the payment method [`TEST_APPROVE`], declines
/// [`TEST_DECLINE`] ("card declined") and any other method ("unknown payment method"), and
/// gives each approved charge the reference `test-` + its idempotency key. Deterministic, so
/// tests and the demo can rely on it; `switchboard registry serve --test-payments` uses it.
///
/// ```
/// use switchboard_registry::market::Money;
/// use switchboard_registry::server::payments::{ChargeRequest, PaymentProvider, TestPayments};
/// let mut request = ChargeRequest::new("ann", "lint", Money::new(900, "EUR".parse().unwrap()), "test-approve", "k1");
/// assert_eq!(TestPayments.charge(&request).unwrap().reference, "test-k1");
/// request.payment_method = "test-decline".into();
/// assert!(TestPayments.charge(&request).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TestPayments;

impl PaymentProvider for TestPayments {
    fn charge(&self, request: &ChargeRequest) -> Result<Charge, String> {
        match request.payment_method.as_str() {
            TEST_APPROVE => Ok(Charge::new(format!("test-{}", request.idempotency_key))),
            TEST_DECLINE => Err("card declined (the test provider declines `test-decline`)".into()),
            other => Err(format!(
                "unknown payment method `{}` (the test provider takes `{TEST_APPROVE}`)",
                other.chars().take(40).collect::<String>()
            )),
        }
    }
}

impl ChargeRequest {
    /// A request to charge `account` `price` for `plugin` with `payment_method`, at most once
    /// per `idempotency_key`.
    pub fn new(
        account: impl Into<String>,
        plugin: impl Into<String>,
        price: Money,
        payment_method: impl Into<String>,
        idempotency_key: impl Into<String>,
    ) -> ChargeRequest {
        ChargeRequest {
            account: account.into(),
            plugin: plugin.into(),
            price,
            payment_method: payment_method.into(),
            idempotency_key: idempotency_key.into(),
        }
    }
}
