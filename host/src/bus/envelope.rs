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

    /// Makes `context` the current one and returns the one it replaces.
    #[inline]
    pub(crate) fn swap(context: Option<TraceContext>) -> Option<TraceContext> {
        CURRENT.with(|c| c.replace(context))
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

/// An event as subscribers receive it. Cheap to clone: a few reference counts, no allocation.
#[derive(Clone)]
pub struct Envelope {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    /// Published on its own, carried by value.
    One(Single),
    /// Envelope `index` of a batch run.
    Batched(Arc<Batch>, u32),
}

/// An envelope published on its own. It is carried **by value** — in the queue slot, and in
/// the `Envelope` its handler gets — so publishing one allocates nothing: it used to be one
/// 120-byte allocation made on the publisher's thread and freed on the worker's, the largest
/// single cost of a publish on both sides. What few envelopes have (a plugin or the bus as
/// publisher, a parent trace, headers, a time to live) sits behind one optional shared
/// pointer, so the common one — the host publishing outside any handler — stays 48 bytes.
#[derive(Clone)]
struct Single {
    id: EventId,
    /// `None` only inside a queue slot of a subscription to an exact topic: the topic is the
    /// subscription's, filled in on delivery (see [`Envelope::queued_for`]). A handler always
    /// sees `Some`.
    topic: Option<Arc<str>>,
    payload: Arc<[u8]>,
    /// `None`: published by the host, outside any handler, without headers or time to live.
    more: Option<Arc<More>>,
}

/// The rarer parts of an envelope published on its own.
struct More {
    publisher: Publisher,
    /// The trace it continues, if it was published from a handler or a service.
    parent: Option<TraceContext>,
    headers: Box<[Header]>,
    expires: Option<Instant>,
}

impl More {
    /// The rarer parts of an envelope being sealed, if it has any. Out of line: the host
    /// publishing outside any handler, without headers or TTL, never needs it, and building
    /// it in `seal` made every publish save and restore more registers.
    #[cold]
    #[inline(never)]
    fn sealed(
        publisher: Publisher,
        parent: Option<TraceContext>,
        headers: Vec<Header>,
        ttl: Option<Duration>,
    ) -> Option<Arc<More>> {
        // A TTL too long to represent never expires.
        let expires = ttl.and_then(|ttl| Instant::now().checked_add(ttl));
        let plain = matches!(publisher, Publisher::Host)
            && parent.is_none()
            && headers.is_empty()
            && expires.is_none();
        (!plain).then(|| {
            Arc::new(More {
                publisher,
                parent,
                headers: headers.into_boxed_slice(),
                expires,
            })
        })
    }
}

/// Who published an envelope. The host's name needs no reference count: a count shared by
/// every envelope the host publishes would change hands between the publisher's core and the
/// worker's once per envelope.
pub(crate) enum Publisher {
    /// The host application ([`HOST_PUBLISHER`](crate::bus::HOST_PUBLISHER)).
    Host,
    /// A plugin, or the bus's own notices.
    Named(Arc<str>),
}

impl Publisher {
    fn as_str(&self) -> &str {
        match self {
            Publisher::Host => crate::bus::HOST_PUBLISHER,
            Publisher::Named(s) => s,
        }
    }
}

/// A run of envelopes from one `publish_batch`: one allocation holding every payload, one
/// block of ids and one trace context. It crosses a queue as a single slot, and the envelopes
/// in it share no reference count with the publisher once it is sent.
pub(crate) struct Batch {
    topic: Arc<str>,
    publisher: Arc<str>,
    /// The headers every envelope of the run carries (a plugin's batch: its `contract`).
    headers: Arc<[Header]>,
    first_id: u64,
    /// The trace the batch continues, if it was published from a handler or a service.
    parent: Option<TraceContext>,
    payloads: Vec<u8>,
    /// `ends[i]` is where payload `i` ends in `payloads`.
    ends: Vec<u32>,
}

impl Batch {
    /// Packs up to `max` payloads from `payloads` into a run; `None` when there are none left.
    /// A payload over `limit` bytes is not copied: the run is abandoned and its size returned.
    pub(crate) fn pack<I>(
        topic: &Arc<str>,
        publisher: &Arc<str>,
        headers: &Arc<[Header]>,
        payloads: &mut I,
        max: usize,
        limit: usize,
    ) -> Result<Option<Batch>, usize>
    where
        I: Iterator,
        I::Item: AsRef<[u8]>,
    {
        let mut bytes = Vec::new();
        let mut ends = Vec::with_capacity(max.min(64));
        for p in payloads.by_ref().take(max) {
            let p = p.as_ref();
            if p.len() > limit {
                return Err(p.len());
            }
            bytes.extend_from_slice(p);
            ends.push(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
        }
        if ends.is_empty() {
            return Ok(None);
        }
        let n = ends.len() as u64;
        let first_id = NEXT_ID.fetch_add(n, Ordering::Relaxed);
        Ok(Some(Batch {
            topic: topic.clone(),
            publisher: publisher.clone(),
            headers: headers.clone(),
            first_id,
            parent: TraceContext::current(),
            payloads: bytes,
            ends,
        }))
    }

    /// Who published it.
    pub(crate) fn publisher(&self) -> &str {
        &self.publisher
    }

    /// How many envelopes it holds.
    pub(crate) fn len(&self) -> u32 {
        u32::try_from(self.ends.len()).unwrap_or(u32::MAX)
    }

    /// Envelope `index` of the run.
    pub(crate) fn envelope(self: &Arc<Self>, index: u32) -> Envelope {
        Envelope {
            repr: Repr::Batched(self.clone(), index),
        }
    }

    fn payload(&self, index: u32) -> &[u8] {
        let i = index as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.payloads[start..self.ends[i] as usize]
    }
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("id", &self.id())
            .field("trace_id", &self.trace_id())
            .field("causation_id", &self.causation_id())
            .field("topic", &self.topic())
            .field("publisher", &self.publisher())
            .field("payload_len", &self.payload().len())
            .field("headers", &self.headers())
            .finish()
    }
}

impl Envelope {
    /// Seals an outgoing event: assigns its id and takes the trace from the current context.
    #[inline(always)]
    pub(crate) fn seal(
        topic: Arc<str>,
        payload: Arc<[u8]>,
        headers: Vec<Header>,
        ttl: Option<Duration>,
        publisher: Publisher,
    ) -> Envelope {
        let id = next_id();
        let parent = TraceContext::current();
        let more = if matches!(publisher, Publisher::Host)
            && parent.is_none()
            && headers.is_empty()
            && ttl.is_none()
        {
            None
        } else {
            More::sealed(publisher, parent, headers, ttl)
        };
        Envelope {
            repr: Repr::One(Single {
                id,
                topic: Some(topic),
                payload,
                more,
            }),
        }
    }

    /// This envelope as queued for a subscription: a subscription to an exact topic knows
    /// its topic, so the slot carries none and the publisher's reference to it is dropped on
    /// the publisher's thread (it never changes hands between cores). The worker puts the
    /// subscription's own in with [`lend_topic`](Self::lend_topic).
    #[inline(always)]
    pub(crate) fn queued_for(mut self, exact: bool) -> Envelope {
        if exact {
            if let Repr::One(s) = &mut self.repr {
                s.topic = None;
            }
        }
        self
    }

    /// Gives an envelope queued without its topic the subscription's exact topic, moved out
    /// of `topic`; whether it did (then [`return_topic`](Self::return_topic) gives it back).
    #[inline]
    pub(crate) fn lend_topic(&mut self, topic: &mut Option<Arc<str>>) -> bool {
        match &mut self.repr {
            Repr::One(s) if s.topic.is_none() => {
                s.topic = topic.take();
                true
            }
            _ => false,
        }
    }

    /// Moves a topic lent by [`lend_topic`](Self::lend_topic) back into `topic`.
    #[inline]
    pub(crate) fn return_topic(&mut self, topic: &mut Option<Arc<str>>) {
        if let Repr::One(s) = &mut self.repr {
            *topic = s.topic.take();
        }
    }

    /// The rarer parts, for an envelope published on its own.
    #[inline]
    fn more(&self) -> Option<&More> {
        match &self.repr {
            Repr::One(s) => s.more.as_deref(),
            Repr::Batched(..) => None,
        }
    }

    /// Points a batched envelope at another index of its run.
    pub(crate) fn set_index(&mut self, index: u32) {
        if let Repr::Batched(_, i) = &mut self.repr {
            *i = index;
        }
    }

    /// This envelope's id.
    pub fn id(&self) -> EventId {
        match &self.repr {
            Repr::One(s) => s.id,
            Repr::Batched(b, n) => EventId(b.first_id + u64::from(*n)),
        }
    }

    /// The trace context it was published in, if any.
    fn parent(&self) -> Option<TraceContext> {
        match &self.repr {
            Repr::One(s) => s.more.as_deref().and_then(|m| m.parent),
            Repr::Batched(b, _) => b.parent,
        }
    }

    /// The trace it belongs to.
    pub fn trace_id(&self) -> EventId {
        self.parent().map_or_else(|| self.id(), |p| p.trace_id)
    }

    /// The envelope or call that caused it, if it was published from a handler or a service.
    pub fn causation_id(&self) -> Option<EventId> {
        self.parent().map(|p| p.cause)
    }

    /// How many envelopes deep in its causation chain it is (0 for an outside event).
    pub fn hops(&self) -> u32 {
        self.parent().map_or(0, |p| p.hops + 1)
    }

    /// Its topic.
    pub fn topic(&self) -> &str {
        match &self.repr {
            Repr::One(s) => s.topic.as_deref().unwrap_or_default(),
            Repr::Batched(b, _) => &b.topic,
        }
    }

    /// Who published it: a plugin name, or `host`.
    pub fn publisher(&self) -> &str {
        match &self.repr {
            Repr::One(s) => s
                .more
                .as_deref()
                .map_or(crate::bus::HOST_PUBLISHER, |m| m.publisher.as_str()),
            Repr::Batched(b, _) => &b.publisher,
        }
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        match &self.repr {
            Repr::One(s) => &s.payload,
            Repr::Batched(b, n) => b.payload(*n),
        }
    }

    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .iter()
            .find(|(k, _)| &**k == name)
            .map(|(_, v)| &**v)
    }

    /// Every header (for an envelope published in a batch: those of its batch — none for
    /// the host's [`Bus::publish_batch`](crate::bus::Bus::publish_batch), the `contract` of
    /// a plugin's typed batch).
    pub fn headers(&self) -> &[Header] {
        match &self.repr {
            Repr::One(s) => s.more.as_deref().map_or(&[], |m| &m.headers),
            Repr::Batched(b, _) => &b.headers,
        }
    }

    /// Whether its time to live has passed.
    #[inline]
    pub fn is_expired(&self, now: Instant) -> bool {
        self.more()
            .and_then(|m| m.expires)
            .is_some_and(|e| now >= e)
    }

    pub(crate) fn has_ttl(&self) -> bool {
        self.more().is_some_and(|m| m.expires.is_some())
    }

    /// The context its handler runs in: this envelope's trace, with itself as the cause.
    #[inline]
    pub(crate) fn context(&self) -> TraceContext {
        let id = self.id();
        match self.parent() {
            Some(p) => TraceContext {
                trace_id: p.trace_id,
                cause: id,
                hops: p.hops + 1,
            },
            None => TraceContext {
                trace_id: id,
                cause: id,
                hops: 0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_fits_a_small_queue_slot() {
        // Carried by value in every queue slot (allocated up front): keep it small (see
        // `Single`).
        assert!(
            std::mem::size_of::<Envelope>() <= 48,
            "{}",
            std::mem::size_of::<Envelope>()
        );
    }

    #[test]
    fn a_plain_host_envelope_allocates_nothing_more_and_reads_back() {
        let e = Envelope::seal(
            "host.a".into(),
            Arc::from(&b"x"[..]),
            Vec::new(),
            None,
            Publisher::Host,
        );
        assert!(e.more().is_none());
        assert_eq!(e.topic(), "host.a");
        assert_eq!(e.publisher(), "host");
        assert_eq!(e.trace_id(), e.id());
        assert_eq!(e.causation_id(), None);
        assert_eq!(e.hops(), 0);
        let mut queued = e.clone().queued_for(true);
        assert_eq!(queued.topic(), "");
        let mut topic: Option<Arc<str>> = Some("host.a".into());
        assert!(queued.lend_topic(&mut topic));
        assert_eq!(queued.topic(), "host.a");
        assert_eq!(queued.id(), e.id());
        queued.return_topic(&mut topic);
        assert_eq!(topic.as_deref(), Some("host.a"));
        assert_eq!(queued.topic(), "");
        assert!(!e.clone().lend_topic(&mut topic), "it has its own");
    }

    #[test]
    fn a_child_envelope_continues_its_trace() {
        let parent = TraceContext {
            trace_id: EventId(7),
            cause: EventId(9),
            hops: 2,
        };
        let e = parent.enter(|| {
            Envelope::seal(
                "host.a".into(),
                Arc::from(&b""[..]),
                vec![("k".into(), "v".into())],
                Some(Duration::from_secs(60)),
                Publisher::Named("p".into()),
            )
        });
        assert_eq!(e.trace_id(), EventId(7));
        assert_eq!(e.causation_id(), Some(EventId(9)));
        assert_eq!(e.hops(), 3);
        assert_eq!(e.publisher(), "p");
        assert_eq!(e.header("k"), Some("v"));
        assert!(e.has_ttl());
        assert!(!e.is_expired(Instant::now()));
    }
}
