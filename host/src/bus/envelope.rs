//! Envelopes: what travels on the bus, with its trace and causation ids.
//!
//! Every envelope carries a trace id (shared by everything one outside event set off) and a
//! causation id (the envelope or call that directly caused it). While a handler or a service
//! method runs, the bus keeps its envelope's ids in a thread-local *trace context*, so whatever
//! that code publishes or calls inherits them without passing anything by hand.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A unique id (within this process) for an envelope, a call or a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(pub u64);

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_id() -> EventId {
    EventId(NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

/// The trace context of the code running on this thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace everything here belongs to.
    pub trace_id: EventId,
    /// The envelope or call being handled: the cause of whatever is published now.
    pub cause: EventId,
    /// How many envelopes deep the chain is.
    pub hops: u32,
}

thread_local! {
    static CURRENT: Cell<Option<TraceContext>> = const { Cell::new(None) };
}

impl TraceContext {
    /// The context of the handler or service method running on this thread, if any.
    pub fn current() -> Option<TraceContext> {
        CURRENT.with(Cell::get)
    }

    /// Runs `f` with `self` as the current context, restoring the previous one after (also if
    /// `f` panics).
    pub(crate) fn enter<R>(self, f: impl FnOnce() -> R) -> R {
        struct Restore(Option<TraceContext>);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.with(|c| c.set(self.0));
            }
        }
        let _restore = Restore(CURRENT.with(|c| c.replace(Some(self))));
        f()
    }

    /// A context for a call or an envelope with id `id`, continuing the current trace if any.
    pub(crate) fn child(id: EventId) -> (TraceContext, Option<EventId>) {
        match TraceContext::current() {
            Some(parent) => (
                TraceContext {
                    trace_id: parent.trace_id,
                    cause: id,
                    hops: parent.hops + 1,
                },
                Some(parent.cause),
            ),
            None => (
                TraceContext {
                    trace_id: id,
                    cause: id,
                    hops: 0,
                },
                None,
            ),
        }
    }
}

/// One header: a name and a value.
pub type Header = (Box<str>, Box<str>);

/// What a publisher hands the bus: a topic, a payload, and optional headers and time to live.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use switchboard_host::bus::Outgoing;
///
/// let event = Outgoing::new("host.file.saved", b"/notes/a.md".to_vec())
///     .header("kind", "markdown")
///     .ttl(Duration::from_secs(5));
/// assert_eq!(event.topic(), "host.file.saved");
/// ```
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub(crate) topic: Arc<str>,
    pub(crate) payload: Arc<[u8]>,
    pub(crate) headers: Vec<Header>,
    pub(crate) ttl: Option<Duration>,
}

impl Outgoing {
    /// An event on `topic` carrying `payload`.
    pub fn new(topic: impl Into<Arc<str>>, payload: impl Into<Arc<[u8]>>) -> Outgoing {
        Outgoing {
            topic: topic.into(),
            payload: payload.into(),
            headers: Vec::new(),
            ttl: None,
        }
    }

    /// Adds a header; subscribers may filter on headers.
    pub fn header(mut self, name: impl Into<Box<str>>, value: impl Into<Box<str>>) -> Outgoing {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Drops the event, counted as expired, if it is not delivered within `ttl`.
    pub fn ttl(mut self, ttl: Duration) -> Outgoing {
        self.ttl = Some(ttl);
        self
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

/// An event as subscribers receive it. Cheap to clone (one reference count).
#[derive(Clone)]
pub struct Envelope {
    inner: Arc<Inner>,
}

struct Inner {
    id: EventId,
    trace_id: EventId,
    causation_id: Option<EventId>,
    hops: u32,
    topic: Arc<str>,
    publisher: Arc<str>,
    payload: Arc<[u8]>,
    headers: Box<[Header]>,
    expires: Option<Instant>,
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("id", &self.inner.id)
            .field("trace_id", &self.inner.trace_id)
            .field("causation_id", &self.inner.causation_id)
            .field("topic", &self.inner.topic)
            .field("publisher", &self.inner.publisher)
            .field("payload_len", &self.inner.payload.len())
            .field("headers", &self.inner.headers)
            .finish()
    }
}

impl Envelope {
    /// Seals an outgoing event: assigns its id and takes the trace from the current context.
    pub(crate) fn seal(out: Outgoing, publisher: Arc<str>, now: Option<Instant>) -> Envelope {
        let id = next_id();
        let (ctx, causation_id) = TraceContext::child(id);
        let expires = out.ttl.map(|ttl| now.unwrap_or_else(Instant::now) + ttl);
        Envelope {
            inner: Arc::new(Inner {
                id,
                trace_id: ctx.trace_id,
                causation_id,
                hops: ctx.hops,
                topic: out.topic,
                publisher,
                payload: out.payload,
                headers: out.headers.into_boxed_slice(),
                expires,
            }),
        }
    }

    /// This envelope's id.
    pub fn id(&self) -> EventId {
        self.inner.id
    }

    /// The trace it belongs to.
    pub fn trace_id(&self) -> EventId {
        self.inner.trace_id
    }

    /// The envelope or call that caused it, if it was published from a handler or a service.
    pub fn causation_id(&self) -> Option<EventId> {
        self.inner.causation_id
    }

    /// How many envelopes deep in its causation chain it is (0 for an outside event).
    pub fn hops(&self) -> u32 {
        self.inner.hops
    }

    /// Its topic.
    pub fn topic(&self) -> &str {
        &self.inner.topic
    }

    /// Who published it: a plugin name, or `host`.
    pub fn publisher(&self) -> &str {
        &self.inner.publisher
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.inner.payload
    }

    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner
            .headers
            .iter()
            .find(|(k, _)| &**k == name)
            .map(|(_, v)| &**v)
    }

    /// Every header.
    pub fn headers(&self) -> &[Header] {
        &self.inner.headers
    }

    /// Whether its time to live has passed.
    #[inline]
    pub fn is_expired(&self, now: Instant) -> bool {
        self.inner.expires.is_some_and(|e| now >= e)
    }

    pub(crate) fn has_ttl(&self) -> bool {
        self.inner.expires.is_some()
    }

    /// The context its handler runs in: this envelope's trace, with itself as the cause.
    pub(crate) fn context(&self) -> TraceContext {
        TraceContext {
            trace_id: self.inner.trace_id,
            cause: self.inner.id,
            hops: self.inner.hops,
        }
    }
}
