//! Streaming commands and usage reports (SPEC S1.6).
//!
//! A command streams when its last argument is `out: &mut Sink<'_, Chunk>`: each
//! [`Sink::send`] encodes one chunk and hands it to the host at once, which passes it to its
//! consumer while the command runs. The host's buffer between the two is bounded, so `send`
//! waits while the consumer is behind (backpressure), and returns
//! [`STREAM_CANCELLED`](crate::codes::STREAM_CANCELLED) once the consumer stopped: with
//! `out.send(chunk)?` the command then ends at its next chunk. The command's return value is
//! the stream's summary, delivered after the last chunk.
//!
//! Any command, streaming or not, may report what it consumed with
//! [`Context::usage`](crate::Context::usage): the host attaches it to the call's result and
//! adds it up per plugin and command for metering.
//!
//! # Example
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use switchboard_sdk::prelude::*;
//!
//! #[derive(Serialize, Deserialize, Message)]
//! pub struct Prompt {
//!     pub text: String,
//! }
//!
//! pub struct Echo;
//!
//! impl Plugin for Echo {
//!     fn create(_ctx: &Context) -> Result<Self, PluginError> {
//!         Ok(Echo)
//!     }
//! }
//!
//! #[plugin]
//! impl Echo {
//!     /// Streams the prompt back word by word; returns how many words it sent.
//!     #[command]
//!     fn words(&self, ctx: &Context, req: Prompt, out: &mut Sink<'_, String>) -> Result<u64, PluginError> {
//!         let mut sent = 0;
//!         for word in req.text.split_whitespace() {
//!             out.send(word.to_owned())?;
//!             sent += 1;
//!         }
//!         ctx.usage("words", sent)?;
//!         Ok(sent)
//!     }
//! }
//! ```

use std::borrow::Borrow;
use std::fmt;
use std::marker::PhantomData;

use crate::error::{codes, PluginError};
use crate::message::Message;

/// Where a streaming command's chunks go: the host's consumer, or a test's collector.
///
/// Implemented by the SDK (across the ABI, and by the `testing` mock host); plugin code uses
/// [`Sink`].
pub trait RawSink {
    /// Hands one encoded chunk over; waits while the consumer is behind. Returns
    /// [`STREAM_CANCELLED`](crate::codes::STREAM_CANCELLED) once the consumer stopped.
    fn send(&mut self, chunk: &[u8]) -> Result<(), PluginError>;
    /// Whether the consumer stopped the stream.
    fn is_cancelled(&self) -> bool;
}

/// The output of a streaming command: chunks of type `T`, sent one by one as the command
/// produces them. See the [module documentation](self).
pub struct Sink<'a, T> {
    raw: &'a mut dyn RawSink,
    buf: Vec<u8>,
    sent: u64,
    _chunk: PhantomData<fn(&T)>,
}

impl<T> fmt::Debug for Sink<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sink").field("sent", &self.sent).finish()
    }
}

impl<'a, T> Sink<'a, T> {
    /// A sink over `raw`. Used by the code `#[plugin]` generates and by the mock host. (No
    /// `Message` bound here: a chunk type that is not a message is reported once, where the
    /// manifest names its contract.)
    #[doc(hidden)]
    pub fn __new(raw: &'a mut dyn RawSink) -> Self {
        Sink {
            raw,
            buf: Vec::new(),
            sent: 0,
            _chunk: PhantomData,
        }
    }
}

impl<T: Message> Sink<'_, T> {
    /// Sends one chunk to the consumer: encodes it and hands it to the host, waiting while
    /// the host's buffer is full (the consumer is behind).
    ///
    /// # Errors
    ///
    /// [`STREAM_CANCELLED`](crate::codes::STREAM_CANCELLED) once the consumer stopped the
    /// stream (return it: `out.send(chunk)?`); a chunk over the host's payload limit
    /// (`SB1737`); the host's refusal otherwise.
    pub fn send(&mut self, chunk: impl Borrow<T>) -> Result<(), PluginError> {
        self.buf.clear();
        chunk.borrow().__encode_into(&mut self.buf);
        self.raw.send(&self.buf)?;
        self.sent += 1;
        Ok(())
    }

    /// Whether the consumer stopped the stream; a command doing long work between chunks can
    /// look before it starts the next one.
    pub fn is_cancelled(&self) -> bool {
        self.raw.is_cancelled()
    }

    /// Chunks sent so far (accepted by the host).
    pub fn sent(&self) -> u64 {
        self.sent
    }
}

/// The longest usage unit name.
pub const MAX_USAGE_UNIT: usize = 64;

/// The most distinct usage units a host keeps for one plugin: a report naming one more is
/// refused with [`TOO_MANY_USAGE_UNITS`](crate::codes::TOO_MANY_USAGE_UNITS) (the mock host
/// refuses it too).
pub const MAX_USAGE_UNITS: usize = 32;

/// Checks a usage unit name: 1–64 characters, a lower-case ASCII letter first, then lower-case
/// letters, digits, `_`, `.` or `-` (`tokens`, `input_tokens`, `gpu.seconds`).
///
/// ```
/// use switchboard_sdk::stream::check_usage_unit;
///
/// assert!(check_usage_unit("tokens").is_ok());
/// assert!(check_usage_unit("gpu.ms").is_ok());
/// assert_eq!(check_usage_unit("Tokens").unwrap_err().code().to_string(), "SB1734");
/// assert!(check_usage_unit("").is_err());
/// ```
pub fn check_usage_unit(unit: &str) -> Result<(), PluginError> {
    let mut chars = unit.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && unit.len() <= MAX_USAGE_UNIT
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        let shown: String = unit.chars().take(MAX_USAGE_UNIT).collect();
        Err(PluginError::with_code(
            codes::BAD_USAGE_UNIT,
            format!("`{}` is not a usage unit name", shown.escape_debug()),
        )
        .next_step(
            "name units with 1-64 characters: a lower-case ASCII letter, then lower-case \
             letters, digits, `_`, `.` or `-` (e.g. `tokens`, `gpu.ms`)",
        ))
    }
}
