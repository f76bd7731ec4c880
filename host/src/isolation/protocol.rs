//! The messages host and runner exchange: the D4 protocol (start, stop, dispatch, on_event,
//! snapshot, restore, health) one way, the plugin's `Context` services the other way, both as
//! postcard frames on the same channel.
//!
//! A channel carries one exchange at a time. The side that sent a request reads until its reply
//! comes; in between, the other side may send *nested* requests (a plugin calling a host
//! service while the host waits for its command), which the waiting side serves on its own
//! thread and answers before reading on — the same thread-for-thread nesting as in-process, so
//! no exchange needs a thread of its own and re-entrant calls cannot deadlock.

use serde::{Deserialize, Serialize};
use switchboard_sdk::batch::BatchTopic;
use switchboard_sdk::{ErrorCode, PluginError};

use super::sandbox::{LayerStatus, SandboxSpec};

/// The version of this protocol; host and runner must agree (they are one build).
pub(crate) const PROTOCOL_VERSION: u32 = 2;

/// What the host sends the runner first, with the verified image's memfd and the outbound
/// channel's socket attached.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Init {
    pub protocol: u32,
    pub plugin: String,
    /// The manifest section's bytes as the host read them; the library must report the same.
    pub manifest: Vec<u8>,
    pub spec: SandboxSpec,
    /// The host's [`BusLimits::max_call_bytes`](crate::bus::BusLimits): the runner refuses a
    /// larger batch of events with the host's own code before sending it.
    pub max_call_bytes: u64,
}

/// What the runner's answer to [`Init`] starts with: a program that is not a runner (one that
/// echoes its input, say) cannot pass for one by accident.
pub(crate) const RUNNER_MAGIC: [u8; 8] = *b"SBRUNNR1";

/// The runner's answer to [`Init`], after [`RUNNER_MAGIC`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum InitReply {
    /// Sandboxed, loaded, instantiated: these layers are in force.
    Ready { layers: Vec<LayerStatus> },
    /// It could not; nothing of the plugin runs.
    Failed { error: WireError },
}

/// A request to the runner's plugin (host → runner), or a nested service request
/// (runner → host), or a reply to either.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Frame<'a> {
    /// The D4 calls, host → runner.
    #[serde(borrow)]
    Call(Call<'a>),
    /// A plugin's service request, runner → host.
    #[serde(borrow)]
    Service(Service<'a>),
    /// A log line (runner → host); no reply.
    Log { level: u8, message: &'a str },
    /// The answer to the last request sent the other way.
    #[serde(borrow)]
    Reply(Result<&'a [u8], WireError>),
}

/// The D4 protocol.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) enum Call<'a> {
    Start,
    Stop,
    Health,
    Snapshot,
    Restore(&'a [u8]),
    Dispatch {
        method: u32,
        request: &'a [u8],
    },
    OnEvent {
        topic: &'a str,
        envelope: &'a [u8],
    },
    /// A streaming command (protocol 2): while it runs, the runner sends each chunk as a
    /// nested [`Service::StreamChunk`], whose reply (empty, or `STREAM_CANCELLED` once the
    /// consumer stopped) is the plugin's `send` result; then the summary as the reply.
    DispatchStream {
        method: u32,
        request: &'a [u8],
    },
}

/// Everything a plugin reaches through its `Context`; each one is checked on the host against
/// the instance's token exactly as in-process.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Service<'a> {
    Check {
        kind: &'a str,
        target: &'a str,
    },
    ReadFile(&'a str),
    WriteFile {
        path: &'a str,
        data: &'a [u8],
    },
    EnvVar(&'a str),
    Publish {
        topic: &'a str,
        headers: Vec<(&'a str, &'a str)>,
        payload: &'a [u8],
    },
    /// A batch of events: its topics, each event's topic index and payload end, the
    /// payloads (see `switchboard_sdk::batch::EventBatch`).
    PublishBatch {
        #[serde(borrow)]
        topics: Vec<BatchTopic<'a>>,
        events: Vec<u32>,
        ends: Vec<u32>,
        payloads: &'a [u8],
    },
    Invoke {
        service: &'a str,
        method: &'a str,
        request_contract: &'a str,
        response_contract: &'a str,
        request: &'a [u8],
        timeout_ms: Option<u64>,
    },
    KvGet(&'a str),
    KvPut {
        key: &'a str,
        value: &'a [u8],
    },
    KvDelete(&'a str),
    KvList {
        prefix: &'a str,
        after: Option<&'a str>,
        limit: u32,
    },
    /// A postcard `CasRequest`.
    KvCas(&'a [u8]),
    /// A postcard `CommitBatch`.
    KvCommit(&'a [u8]),
    SecretGet(&'a str),
    SecretPut {
        name: &'a str,
        value: &'a [u8],
    },
    SecretDelete(&'a str),
    ConfigJson,
    /// One chunk of the streaming command this channel's call runs (protocol 2): answered
    /// once the host's consumer took it, which is how backpressure crosses the boundary.
    StreamChunk(&'a [u8]),
    /// Whether the consumer of this channel's stream stopped it (a postcard `bool`).
    StreamCancelled,
    /// Usage the plugin reports (protocol 2): served on the thread waiting for the call, so it
    /// is attributed to that call as in-process.
    Usage {
        unit: &'a str,
        amount: u64,
    },
}

/// A [`PluginError`] on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WireError {
    pub code: u16,
    pub message: String,
    pub next_step: Option<String>,
}

impl From<&PluginError> for WireError {
    fn from(e: &PluginError) -> Self {
        WireError {
            code: e.code().number(),
            message: e.message().to_owned(),
            next_step: e.next_step_hint().map(str::to_owned),
        }
    }
}

impl From<WireError> for PluginError {
    fn from(e: WireError) -> Self {
        let error = PluginError::with_code(ErrorCode::from_number(e.code), e.message);
        match e.next_step {
            Some(step) => error.next_step(step),
            None => error,
        }
    }
}

/// Health on the wire: `[status]` + message bytes; `0` healthy, `1` degraded, `2` unhealthy.
pub(crate) fn encode_health(health: &switchboard_sdk::Health) -> Vec<u8> {
    use switchboard_sdk::Health;
    let (status, message) = match health {
        Health::Healthy => (0u8, ""),
        Health::Degraded(m) => (1, m.as_str()),
        Health::Unhealthy(m) => (2, m.as_str()),
        _ => (2, "an unknown health status"),
    };
    let mut out = Vec::with_capacity(1 + message.len());
    out.push(status);
    out.extend_from_slice(message.as_bytes());
    out
}

/// The inverse of [`encode_health`]; anything malformed is unhealthy.
pub(crate) fn decode_health(bytes: &[u8]) -> switchboard_sdk::Health {
    use switchboard_sdk::Health;
    let message = || String::from_utf8_lossy(bytes.get(1..).unwrap_or_default()).into_owned();
    match bytes.first() {
        Some(0) => Health::Healthy,
        Some(1) => Health::Degraded(message()),
        Some(2) => Health::Unhealthy(message()),
        _ => Health::Unhealthy("the runner sent a malformed health report".into()),
    }
}
