//! Events as a plugin receives them, and the frame that carries them across the boundary.

use serde::{Deserialize, Serialize};

use crate::error::{codes, PluginError};
use crate::message::Message;

/// The wire frame of one delivery: which `#[subscribe]` handler, the envelope's ids and
/// headers, and the payload. Borrowed on decode: no copy of the payload.
#[doc(hidden)]
#[derive(Debug, Serialize, Deserialize)]
pub struct Frame<'a> {
    pub handler: u32,
    pub id: u64,
    pub trace_id: u64,
    pub causation_id: Option<u64>,
    pub hops: u32,
    pub publisher: &'a str,
    #[serde(borrow)]
    pub headers: Vec<(&'a str, &'a str)>,
    pub payload: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Encodes the frame.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes a frame the host sent.
    pub fn decode(bytes: &'a [u8]) -> Result<Frame<'a>, PluginError> {
        postcard::from_bytes(bytes).map_err(|e| {
            PluginError::with_code(
                codes::BAD_REQUEST,
                format!("the host sent an event frame that does not decode: {e}"),
            )
        })
    }
}

/// One event delivered to a `#[subscribe]` handler.
///
/// # Example
///
/// ```
/// use switchboard_sdk::prelude::*;
///
/// fn on_saved(ctx: &Context, event: &Event<'_>) -> Result<(), PluginError> {
///     let path: String = event.decode()?;
///     ctx.info(&format!("{} saved {path} (trace {:x})", event.publisher(), event.trace_id()));
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct Event<'a> {
    topic: &'a str,
    frame: Frame<'a>,
}

impl<'a> Event<'a> {
    #[doc(hidden)]
    pub fn from_frame(topic: &'a str, frame: Frame<'a>) -> Event<'a> {
        Event { topic, frame }
    }

    /// Which `#[subscribe]` handler of the plugin this delivery is for.
    #[doc(hidden)]
    pub fn handler(&self) -> u32 {
        self.frame.handler
    }

    /// The topic it was published on.
    pub fn topic(&self) -> &str {
        self.topic
    }

    /// Its id.
    pub fn id(&self) -> u64 {
        self.frame.id
    }

    /// The trace it belongs to; what the handler publishes or calls joins the same trace.
    pub fn trace_id(&self) -> u64 {
        self.frame.trace_id
    }

    /// The envelope or call that caused it, if any.
    pub fn causation_id(&self) -> Option<u64> {
        self.frame.causation_id
    }

    /// Who published it: a plugin's name, `host` or `system`.
    pub fn publisher(&self) -> &str {
        self.frame.publisher
    }

    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.frame
            .headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    }

    /// The raw payload.
    pub fn payload(&self) -> &[u8] {
        self.frame.payload
    }

    /// The payload as a message. If the publisher named a contract (the `contract` header, set
    /// by [`Context::publish`](crate::Context::publish)), it must be `M`'s.
    ///
    /// Failures carry [`codes::BAD_EVENT`]: returned from a handler (with `?`), the host counts
    /// them against the publisher of the event, not against this subscription's breaker.
    pub fn decode<M: Message>(&self) -> Result<M, PluginError> {
        if let Some(sent) = self.header("contract") {
            if sent != M::CONTRACT.id {
                return Err(PluginError::with_code(
                    codes::BAD_EVENT,
                    format!(
                        "the event on `{}` carries `{sent}`, not `{}`",
                        self.topic,
                        M::CONTRACT.id
                    ),
                )
                .next_step("build publisher and subscriber against the same message type"));
            }
        }
        crate::message::decode::<M>(self.frame.payload).map_err(|e| {
            PluginError::with_code(
                codes::BAD_EVENT,
                format!(
                    "the event on `{}` from `{}`: {}",
                    self.topic,
                    self.frame.publisher,
                    e.message()
                ),
            )
            .next_step("build publisher and subscriber against the same message type")
        })
    }
}

/// What a `#[subscribe]` handler may return: `()` or a `Result`.
#[doc(hidden)]
pub trait HandlerResult {
    fn into_result(self) -> Result<(), PluginError>;
}

impl HandlerResult for () {
    fn into_result(self) -> Result<(), PluginError> {
        Ok(())
    }
}

impl<E: Into<PluginError>> HandlerResult for Result<(), E> {
    fn into_result(self) -> Result<(), PluginError> {
        self.map_err(Into::into)
    }
}
