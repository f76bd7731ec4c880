//! Errors that cross the plugin boundary, and the stable codes every Switchboard error carries.

use std::fmt;

/// A stable error code, shown as `SB####` (ARCHITECTURE D12).
///
/// Codes never change meaning once released. The SDK owns `SB01xx` (errors raised by or inside
/// plugin code) and defines the capability codes plugins can meet (`SB04xx`, raised by hosts
/// and by the SDK's capability parser); the host, CLI and registry own the other ranges, all
/// listed in `docs/errors.md`.
///
/// # Example
///
/// ```
/// use switchboard_sdk::codes;
///
/// assert_eq!(codes::PLUGIN_PANICKED.to_string(), "SB0101");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(u16);

impl ErrorCode {
    /// A code from its number (`101` is `SB0101`).
    pub const fn from_number(n: u16) -> Self {
        ErrorCode(n)
    }

    /// The number of this code.
    pub const fn number(self) -> u16 {
        self.0
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SB{:04}", self.0)
    }
}

/// The codes of errors raised by or inside plugin code, and of the capability errors a plugin
/// may receive from its host.
pub mod codes {
    use super::ErrorCode;

    /// The plugin reported an error of its own.
    pub const PLUGIN_ERROR: ErrorCode = ErrorCode(100);
    /// Plugin code panicked; the instance is now failed.
    pub const PLUGIN_PANICKED: ErrorCode = ErrorCode(101);
    /// The request bytes did not decode as the command's request type.
    pub const BAD_REQUEST: ErrorCode = ErrorCode(102);
    /// The response could not be encoded.
    pub const ENCODE_FAILED: ErrorCode = ErrorCode(103);
    /// No command has this method index.
    pub const UNKNOWN_METHOD: ErrorCode = ErrorCode(104);
    /// The plugin subscribes to no such topic.
    pub const UNKNOWN_TOPIC: ErrorCode = ErrorCode(105);

    /// No capability has this name.
    pub const CAPABILITY_UNKNOWN: ErrorCode = ErrorCode(401);
    /// A capability's pattern is not valid.
    pub const CAPABILITY_BAD_PATTERN: ErrorCode = ErrorCode(402);
    /// A pattern was given to a capability that takes none.
    pub const CAPABILITY_UNEXPECTED_SCOPE: ErrorCode = ErrorCode(403);
    /// Denied: the plugin's manifest does not declare a capability for this access.
    pub const CAPABILITY_NOT_DECLARED: ErrorCode = ErrorCode(410);
    /// Denied: declared, but policy or the approver did not grant it.
    pub const CAPABILITY_NOT_GRANTED: ErrorCode = ErrorCode(411);
    /// Denied: granted, but for a narrower pattern than this access needs.
    pub const CAPABILITY_OUT_OF_SCOPE: ErrorCode = ErrorCode(412);
    /// Denied: the time-limited grant has expired.
    pub const GRANT_EXPIRED: ErrorCode = ErrorCode(413);
    /// Denied: the grant was revoked.
    pub const GRANT_REVOKED: ErrorCode = ErrorCode(414);
    /// Denied: a `once` grant was already used.
    pub const GRANT_USED: ErrorCode = ErrorCode(415);
    /// Denied: the instance's token is forged or stale.
    pub const INVALID_TOKEN: ErrorCode = ErrorCode(416);
    /// Denied: the instance is stopped or failed; its host services are suspended until it
    /// starts again (a thread that outlived `stop` meets this).
    pub const INSTANCE_NOT_RUNNING: ErrorCode = ErrorCode(320);
    /// A host service failed after the access was allowed (a file not found, an I/O error).
    pub const SERVICE_FAILED: ErrorCode = ErrorCode(430);
    /// The host offers no such service (yet).
    pub const SERVICE_UNAVAILABLE: ErrorCode = ErrorCode(431);
    /// A file helper refused a path that is not a regular file (a directory, FIFO, socket or
    /// device).
    pub const NOT_A_REGULAR_FILE: ErrorCode = ErrorCode(432);
    /// A file helper refused to open for writing a file with more than one hard link (a link
    /// may name a file outside the grant).
    pub const HARD_LINKED_FILE: ErrorCode = ErrorCode(433);

    /// An event does not decode as the message its handler expects (or the handler refused
    /// its content as invalid). The bus counts it against the event's *publisher*, never
    /// against the subscriber's breaker; return it from a `#[subscribe]` handler for input
    /// that is the publisher's fault, so no publisher can silence a subscription at will.
    pub const BAD_EVENT: ErrorCode = ErrorCode(818);
    /// A service call's request or response contract is not the provider's (both ids named).
    pub const SERVICE_CONTRACT_MISMATCH: ErrorCode = ErrorCode(809);

    /// A batch publish ([`Context::batch`](crate::Context::batch)) reached a host older than
    /// SDK ABI 1.2, which cannot take one; nothing was published.
    pub const BATCH_UNSUPPORTED: ErrorCode = ErrorCode(1620);
    /// A batch of events is larger in all than the host takes in one call (its
    /// `max_call_bytes`, 16 MiB by default); nothing was published.
    pub const BATCH_TOO_LARGE: ErrorCode = ErrorCode(1621);
    /// A batch of events does not hold together (an index or offset out of range): sent by
    /// something other than the SDK's batch builder; nothing was published.
    pub const BATCH_MALFORMED: ErrorCode = ErrorCode(1622);

    /// A streaming command was called as a plain one (`command`, `raw_command`): it sends its
    /// output in chunks, so the host refuses the call before the plugin runs. Call it with
    /// `stream_command`.
    pub const CALL_STYLE_STREAM: ErrorCode = ErrorCode(1730);
    /// A plain command was called as a streaming one (`stream_command`): it returns one
    /// response. Call it with `command`.
    pub const CALL_STYLE_PLAIN: ErrorCode = ErrorCode(1731);
    /// The consumer of a stream stopped it ([`Sink::send`](crate::Sink::send) returns this
    /// once it has): return it (`out.send(chunk)?` does) so the plugin stops promptly.
    pub const STREAM_CANCELLED: ErrorCode = ErrorCode(1732);
    /// A streaming call met a plugin or host built before SDK ABI 1.3, which cannot stream.
    pub const STREAM_UNSUPPORTED: ErrorCode = ErrorCode(1733);
    /// A usage report ([`Context::usage`](crate::Context::usage)) names its unit badly:
    /// 1–64 characters, a lower-case ASCII letter first, then letters, digits, `_`, `.`, `-`.
    pub const BAD_USAGE_UNIT: ErrorCode = ErrorCode(1734);
    /// A usage report reached a host older than SDK ABI 1.3, which cannot meter; nothing was
    /// recorded.
    pub const USAGE_UNSUPPORTED: ErrorCode = ErrorCode(1735);
    /// A stream chunk is larger than the host takes in one piece (its `max_call_bytes`,
    /// 16 MiB by default): it was not delivered, and the call fails with `SB0310`.
    pub const CHUNK_TOO_LARGE: ErrorCode = ErrorCode(1737);
    /// A usage report names a unit past the number of distinct units the host keeps for one
    /// plugin (32): it was not recorded. Meter a few units and put detail elsewhere (a log).
    pub const TOO_MANY_USAGE_UNITS: ErrorCode = ErrorCode(1738);

    /// A KV key or secret name is not valid (empty, too long, or not allowed).
    pub const STATE_BAD_KEY: ErrorCode = ErrorCode(701);
    /// A KV write would exceed the plugin's quota; the message gives usage and limit.
    pub const STATE_QUOTA_EXCEEDED: ErrorCode = ErrorCode(702);
    /// A KV transaction kept meeting concurrent writes and gave up.
    pub const STATE_CONFLICT: ErrorCode = ErrorCode(703);
    /// A stored value failed its checksum.
    pub const STATE_CORRUPT: ErrorCode = ErrorCode(704);
    /// A stored value does not decode as the type asked for.
    pub const STATE_BAD_VALUE: ErrorCode = ErrorCode(708);
    /// The effective configuration does not deserialize into the type asked for.
    pub const CONFIG_TYPE: ErrorCode = ErrorCode(724);
}

/// An error returned by plugin code, carried across the boundary to the host.
///
/// # Example
///
/// ```
/// use switchboard_sdk::{codes, PluginError};
///
/// let e = PluginError::new("city not found").next_step("check the spelling of the city");
/// assert_eq!(e.code(), codes::PLUGIN_ERROR);
/// assert_eq!(e.to_string(), "SB0100: city not found");
/// ```
///
/// One pointer wide (the code and texts live behind a `Box`), so the `Result<(), PluginError>`
/// every command returns is one register on the path that succeeds; a fatter error was copied
/// through every frame of a typed call (issue 17's profile).
#[derive(Clone, PartialEq, Eq)]
pub struct PluginError(Box<Inner>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    code: ErrorCode,
    message: String,
    next_step: Option<String>,
}

impl fmt::Debug for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginError")
            .field("code", &self.0.code)
            .field("message", &self.0.message)
            .field("next_step", &self.0.next_step)
            .finish()
    }
}

impl PluginError {
    /// A plugin error with the generic code `SB0100`.
    pub fn new(message: impl Into<String>) -> Self {
        Self::with_code(codes::PLUGIN_ERROR, message)
    }

    /// An error with a specific code.
    pub fn with_code(code: ErrorCode, message: impl Into<String>) -> Self {
        PluginError(Box::new(Inner {
            code,
            message: message.into(),
            next_step: None,
        }))
    }

    /// Adds what the caller should do next.
    pub fn next_step(mut self, step: impl Into<String>) -> Self {
        self.0.next_step = Some(step.into());
        self
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.0.code
    }

    /// The one-line message.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// What to do next, if the plugin said.
    pub fn next_step_hint(&self) -> Option<&str> {
        self.0.next_step.as_deref()
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0.code, self.0.message)
    }
}

impl std::error::Error for PluginError {}
