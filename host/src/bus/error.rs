//! The bus's errors (codes SB08xx, ARCHITECTURE D12).

use std::time::Duration;

use switchboard_sdk::{ErrorCode, PluginError};

use crate::error::CapsError;

/// Errors from the event bus and shared services.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// A subscription pattern does not parse.
    #[error("invalid subscription pattern `{pattern}`: {reason}")]
    InvalidPattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A topic does not parse.
    #[error("invalid topic `{topic}`: {reason}")]
    InvalidTopic {
        /// The topic as given.
        topic: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A subscriber with the `fail` policy had a full queue.
    #[error("subscription {subscription} (`{pattern}`) is full ({capacity} envelopes); `{topic}` was not delivered to it")]
    QueueFull {
        /// The subscription.
        subscription: u64,
        /// Its pattern.
        pattern: String,
        /// The topic published.
        topic: String,
        /// Its queue capacity.
        capacity: usize,
    },
    /// A subscriber with the `block` policy stayed full for the whole timeout.
    #[error("subscription {subscription} (`{pattern}`) stayed full for {waited:?}; `{topic}` was not delivered to it")]
    BlockTimeout {
        /// The subscription.
        subscription: u64,
        /// Its pattern.
        pattern: String,
        /// The topic published.
        topic: String,
        /// How long the publisher waited.
        waited: Duration,
    },
    /// An event chain went round more times than the bus allows: a cycle of events.
    #[error("`{topic}` is {hops} events deep in one causation chain (trace {trace}); the bus stops cycles at {limit}")]
    CausationLoop {
        /// The topic that would have been published.
        topic: String,
        /// The depth reached.
        hops: u32,
        /// The limit.
        limit: u32,
        /// The trace id, hex.
        trace: String,
    },
    /// No subscription has this id.
    #[error("no subscription {id}")]
    UnknownSubscription {
        /// The id asked for.
        id: u64,
    },
    /// No service has this name.
    #[error("no service named `{name}` is provided{}", did_you_mean(.suggestion))]
    UnknownService {
        /// The name asked for.
        name: String,
        /// A close name, if any.
        suggestion: Option<String>,
    },
    /// The service has no such method.
    #[error("service `{service}` has no method `{method}` (it has: {available})")]
    UnknownMethod {
        /// The service.
        service: String,
        /// The method asked for.
        method: String,
        /// The methods it has, comma-separated.
        available: String,
    },
    /// The caller's message type is not the one the service method declares.
    #[error("`{service}.{method}` {side} contract mismatch: the provider declares `{declared}`, the caller uses `{used}`")]
    ContractMismatch {
        /// The service.
        service: String,
        /// The method.
        method: String,
        /// `request` or `response`.
        side: &'static str,
        /// The provider's contract id.
        declared: String,
        /// The caller's contract id.
        used: String,
    },
    /// The caller exceeded its rate for this service.
    #[error(
        "`{caller}` is calling `{service}` faster than its allowance; retry after {retry_after:?}"
    )]
    Throttled {
        /// Who called.
        caller: String,
        /// The service.
        service: String,
        /// When a token will be available.
        retry_after: Duration,
    },
    /// The provider did not answer in time.
    #[error("`{service}.{method}` did not answer within {timeout:?}")]
    Timeout {
        /// The service.
        service: String,
        /// The method.
        method: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The provider returned an error or panicked.
    #[error("`{service}.{method}` failed: {}", .error.message())]
    ServiceFailed {
        /// The service.
        service: String,
        /// The method.
        method: String,
        /// What the provider reported.
        error: PluginError,
    },
    /// Calls nested deeper than the bus allows: a runaway re-entrant chain.
    #[error("call to `{service}.{method}` would nest {depth} calls deep; the limit is {limit}")]
    CallDepth {
        /// The service.
        service: String,
        /// The method.
        method: String,
        /// The depth reached.
        depth: u32,
        /// The limit.
        limit: u32,
    },
    /// A service of this name is already provided.
    #[error("service `{name}` is already provided by `{owner}`")]
    ServiceExists {
        /// The service.
        name: String,
        /// Who provides it.
        owner: String,
    },
    /// A payload did not decode as the expected type.
    #[error("a `{contract}` payload does not decode: {reason}")]
    Decode {
        /// The contract id expected.
        contract: String,
        /// The decoder's message.
        reason: String,
    },
    /// The bus has shut down.
    #[error("the bus has shut down")]
    Closed,
    /// A plugin tried to publish in a namespace reserved for the bus.
    #[error("`{publisher}` may not publish `{topic}`: `system.*` belongs to the bus")]
    ReservedTopic {
        /// The topic.
        topic: String,
        /// Who tried.
        publisher: String,
    },
    /// An event payload is larger than [`BusLimits::max_event_bytes`](super::BusLimits).
    #[error(
        "`{publisher}` published {size} bytes on `{topic}`; events are limited to {limit} bytes"
    )]
    EventTooLarge {
        /// The topic.
        topic: String,
        /// Who published.
        publisher: String,
        /// The payload's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A plugin's batch of events is larger in all than
    /// [`BusLimits::max_call_bytes`](super::BusLimits); nothing of it was published.
    #[error(
        "`{publisher}` published a batch of {events} events and {size} bytes; a batch is \
         limited to {limit} bytes"
    )]
    BatchTooLarge {
        /// Who published.
        publisher: String,
        /// How many events it held.
        events: usize,
        /// Its size: every event's payload and headers.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A service request is larger than [`BusLimits::max_call_bytes`](super::BusLimits).
    #[error("a {size}-byte request to `{service}.{method}` is over the {limit}-byte limit")]
    RequestTooLarge {
        /// The service.
        service: String,
        /// The method.
        method: String,
        /// The request's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A service reply is larger than [`BusLimits::max_call_bytes`](super::BusLimits).
    #[error("`{service}.{method}` replied with {size} bytes, over the {limit}-byte limit")]
    ReplyTooLarge {
        /// The service.
        service: String,
        /// The method.
        method: String,
        /// The reply's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A plugin's `#[subscribe]` handler asks for delivery options the host's policy does not
    /// allow.
    #[error("`{plugin}` asks for `{requested}` on `{pattern}`, which the host's delivery policy does not allow: {reason}")]
    DeliveryRefused {
        /// The plugin.
        plugin: String,
        /// The subscription pattern.
        pattern: String,
        /// What it asked for.
        requested: String,
        /// Why not.
        reason: String,
    },
    /// A capability check refused the operation.
    #[error(transparent)]
    Denied(#[from] CapsError),
}

fn did_you_mean(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default()
}

const fn code(n: u16) -> ErrorCode {
    ErrorCode::from_number(n)
}

impl BusError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            BusError::InvalidPattern { .. } => code(801),
            BusError::InvalidTopic { .. } => code(802),
            BusError::QueueFull { .. } => code(803),
            BusError::BlockTimeout { .. } => code(804),
            BusError::CausationLoop { .. } => code(805),
            BusError::UnknownSubscription { .. } => code(806),
            BusError::UnknownService { .. } => code(807),
            BusError::UnknownMethod { .. } => code(808),
            BusError::ContractMismatch { .. } => code(809),
            BusError::Throttled { .. } => code(810),
            BusError::Timeout { .. } => code(811),
            BusError::ServiceFailed { error, .. } => error.code(),
            BusError::CallDepth { .. } => code(813),
            BusError::ServiceExists { .. } => code(814),
            BusError::Decode { .. } => code(815),
            BusError::Closed => code(816),
            BusError::ReservedTopic { .. } => code(817),
            BusError::EventTooLarge { .. } => code(819),
            BusError::BatchTooLarge { .. } => switchboard_sdk::codes::BATCH_TOO_LARGE,
            BusError::RequestTooLarge { .. } => code(820),
            BusError::ReplyTooLarge { .. } => code(821),
            BusError::DeliveryRefused { .. } => code(822),
            BusError::Denied(e) => e.code(),
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            BusError::InvalidPattern { .. } => {
                "write dot-separated segments; `*` is one segment, `>` (last) the rest".into()
            }
            BusError::InvalidTopic { .. } => {
                "publish on a concrete topic such as `plugin.<name>.<event>`".into()
            }
            BusError::QueueFull { .. } => {
                "retry later, or give the subscription a larger queue or another overflow policy"
                    .into()
            }
            BusError::BlockTimeout { .. } => {
                "the subscriber is not keeping up: check its handler, or raise the timeout".into()
            }
            BusError::CausationLoop { .. } => {
                "break the cycle: a handler is republishing what caused it".into()
            }
            BusError::UnknownSubscription { .. } => {
                "use an id returned by `subscribe`; `subscriptions()` lists them".into()
            }
            BusError::UnknownService { .. } => {
                "load the plugin that provides it, or check the name; `services()` lists them"
                    .into()
            }
            BusError::UnknownMethod { .. } => "call one of the methods listed".into(),
            BusError::ContractMismatch { .. } => {
                "build the caller and the provider against the same version of the message type"
                    .into()
            }
            BusError::Throttled { retry_after, .. } => {
                format!("wait {retry_after:?}, or raise the service rate in the host policy")
            }
            BusError::Timeout { .. } => {
                "check the provider's health, or call with a longer timeout".into()
            }
            BusError::ServiceFailed { error, .. } => error
                .next_step_hint()
                .map(str::to_owned)
                .unwrap_or_else(|| "see the provider's message".into()),
            BusError::CallDepth { .. } => {
                "a chain of service calls is re-entering itself without end; break the cycle".into()
            }
            BusError::ServiceExists { .. } => {
                "pick another name, or withdraw the existing service first".into()
            }
            BusError::Decode { .. } => {
                "build both sides against the same version of the message type".into()
            }
            BusError::Closed => "build a new host".into(),
            BusError::ReservedTopic { publisher, .. } => {
                format!("publish in `plugin.{publisher}.*`, or ask for an `events.publish` grant")
            }
            BusError::EventTooLarge { .. } => {
                "publish a reference (a KV key, a file path) instead of the data, or raise \
                 `BusLimits::max_event_bytes` on the host"
                    .into()
            }
            BusError::BatchTooLarge { .. } => {
                "publish it in several smaller batches, or raise `BusLimits::max_call_bytes` on \
                 the host"
                    .into()
            }
            BusError::RequestTooLarge { .. } | BusError::ReplyTooLarge { .. } => {
                "send the data in smaller pieces, or raise `BusLimits::max_call_bytes` on the host"
                    .into()
            }
            BusError::DeliveryRefused { .. } => {
                "ask for less in `#[subscribe(...)]`, or raise `[delivery]` in the host policy"
                    .into()
            }
            BusError::Denied(e) => e.next_step(),
        }
    }

    /// The error as a plugin sees it across the boundary.
    pub(crate) fn to_plugin_error(&self) -> PluginError {
        match self {
            BusError::Denied(e) => e.to_plugin_error(),
            BusError::ServiceFailed { error, .. } => error.clone(),
            other => {
                PluginError::with_code(other.code(), other.to_string()).next_step(other.next_step())
            }
        }
    }
}
