//! Subscriptions: what a subscriber declares (queue, overflow policy, delivery guarantee,
//! filter, breaker) and what the bus counts for it.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::bus::envelope::{Batch, Envelope};
use crate::bus::topic::Pattern;

/// The largest queue a subscription may ask for (the queue is allocated up front).
pub const MAX_CAPACITY: usize = 1 << 20;

/// A subscription's id, unique within a bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubscriptionId(pub u64);

impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What happens when a subscriber's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// The publisher waits up to this long for room, then gets
    /// [`BusError::BlockTimeout`](crate::bus::BusError::BlockTimeout).
    Block(Duration),
    /// The oldest queued envelope is dropped to make room (counted).
    DropOldest,
    /// The new envelope is dropped (counted).
    DropNewest,
    /// The publish fails with [`BusError::QueueFull`](crate::bus::BusError::QueueFull).
    Fail,
}

/// How hard the bus tries to deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// The handler runs once per envelope; a failure is counted and the envelope is gone.
    AtMostOnce,
    /// A failing handler is retried, waiting `backoff` then doubling it (up to `max_backoff`),
    /// up to `max_attempts` in all; then the envelope goes to the dead-letter topic
    /// [`DEAD_LETTER_TOPIC`](crate::bus::DEAD_LETTER_TOPIC).
    AtLeastOnce {
        /// Attempts in all, at least 1.
        max_attempts: u32,
        /// The first wait.
        backoff: Duration,
        /// The longest wait.
        max_backoff: Duration,
    },
}

impl Delivery {
    /// At-least-once with 5 attempts, backing off from 10 ms to 1 s.
    pub fn at_least_once() -> Delivery {
        Delivery::AtLeastOnce {
            max_attempts: 5,
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_secs(1),
        }
    }
}

/// How a subscription's handler is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Through the subscriber's bounded queue, on its own delivery worker (the default).
    Queued,
    /// Synchronously, on the publisher's thread, before `publish` returns. For cheap host
    /// handlers only; plugin subscriptions are always queued.
    Inline,
}

/// A condition on an envelope's headers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderFilter {
    /// The header is present with exactly this value.
    Equals(String, String),
    /// The header is present.
    Exists(String),
    /// The header is absent.
    Absent(String),
}

impl HeaderFilter {
    fn accepts(&self, envelope: &Envelope) -> bool {
        match self {
            HeaderFilter::Equals(k, v) => envelope.header(k) == Some(v.as_str()),
            HeaderFilter::Exists(k) => envelope.header(k).is_some(),
            HeaderFilter::Absent(k) => envelope.header(k).is_none(),
        }
    }
}

/// How a subscription is delivered. Build with [`SubscribeOptions::new`] and the setters.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use switchboard_host::bus::{Delivery, Overflow, SubscribeOptions};
///
/// let opts = SubscribeOptions::new()
///     .capacity(1024)
///     .overflow(Overflow::DropOldest)
///     .delivery(Delivery::at_least_once())
///     .header_equals("kind", "markdown")
///     .breaker(3);
/// assert_eq!(opts.capacity_value(), 1024);
/// ```
#[derive(Debug, Clone)]
pub struct SubscribeOptions {
    pub(crate) capacity: usize,
    pub(crate) overflow: Overflow,
    pub(crate) delivery: Delivery,
    pub(crate) mode: Mode,
    pub(crate) filters: Vec<HeaderFilter>,
    pub(crate) breaker: u32,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        SubscribeOptions::new()
    }
}

impl SubscribeOptions {
    /// The defaults: a queue of 1024, block up to 1 s when full, at-most-once, queued, no
    /// filter, breaker after 5 consecutive failures.
    pub fn new() -> SubscribeOptions {
        SubscribeOptions {
            capacity: 1024,
            overflow: Overflow::Block(Duration::from_secs(1)),
            delivery: Delivery::AtMostOnce,
            mode: Mode::Queued,
            filters: Vec::new(),
            breaker: 5,
        }
    }

    /// The queue's capacity in slots — envelopes published one by one, or runs of a batch —
    /// at least 1 and at most [`MAX_CAPACITY`].
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.clamp(1, MAX_CAPACITY);
        self
    }

    /// The capacity set.
    pub fn capacity_value(&self) -> usize {
        self.capacity
    }

    /// What happens when the queue is full.
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// The delivery guarantee.
    pub fn delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    /// Queued (default) or inline delivery.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Delivers only envelopes whose header `name` equals `value`.
    pub fn header_equals(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.filters
            .push(HeaderFilter::Equals(name.into(), value.into()));
        self
    }

    /// Adds a header condition; all conditions must hold.
    pub fn filter(mut self, filter: HeaderFilter) -> Self {
        self.filters.push(filter);
        self
    }

    /// Suspends the subscription after this many consecutive failed deliveries (0: never).
    pub fn breaker(mut self, failures: u32) -> Self {
        self.breaker = failures;
        self
    }
}

/// What the bus has counted for one subscription.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriptionStats {
    /// Envelopes put in the queue (or handed inline).
    pub enqueued: u64,
    /// Envelopes whose handler succeeded.
    pub delivered: u64,
    /// Envelopes skipped by the header filter.
    pub filtered: u64,
    /// Envelopes dropped from the front of a full queue (`DropOldest`).
    pub dropped_oldest: u64,
    /// Envelopes not queued because the queue was full (`DropNewest`).
    pub dropped_newest: u64,
    /// Publishes refused because the queue was full (`Fail`, or `Block` timing out).
    pub rejected: u64,
    /// Envelopes whose time to live ran out before delivery.
    pub expired: u64,
    /// Handler runs that failed or panicked (each attempt).
    pub failures: u64,
    /// Extra attempts made under at-least-once.
    pub redelivered: u64,
    /// Envelopes sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Envelopes of a batch run left undelivered because the subscription was suspended or
    /// closed while the run was being delivered.
    pub discarded: u64,
    /// Queue slots in use now: envelopes published one at a time, or runs of a batch.
    pub queued: u64,
    /// The queue's capacity.
    pub capacity: u64,
    /// Whether the breaker has suspended the subscription.
    pub suspended: bool,
}

impl SubscriptionStats {
    /// Every envelope dropped for any reason (overflow, expiry, a run cut short).
    pub fn dropped(&self) -> u64 {
        self.dropped_oldest + self.dropped_newest + self.expired + self.discarded
    }
}

/// The counters, in two groups on separate cache lines: those publishers write and those the
/// delivery worker writes, so the two threads do not fight over one line per envelope.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub publish: Padded<PublishSide>,
    pub deliver: Padded<DeliverSide>,
}

/// Aligns its contents to a cache line (128 bytes covers adjacent-line prefetching).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

#[derive(Debug, Default)]
pub(crate) struct PublishSide {
    pub enqueued: AtomicU64,
    pub filtered: AtomicU64,
    pub dropped_oldest: AtomicU64,
    pub dropped_newest: AtomicU64,
    pub rejected: AtomicU64,
}

#[derive(Debug, Default)]
pub(crate) struct DeliverSide {
    pub delivered: AtomicU64,
    pub expired: AtomicU64,
    pub failures: AtomicU64,
    pub redelivered: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub discarded: AtomicU64,
    /// Consecutive failed deliveries, for the breaker.
    pub streak: AtomicU32,
}

#[inline]
pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Subscription states.
pub(crate) const ACTIVE: u8 = 0;
pub(crate) const SUSPENDED: u8 = 1;
pub(crate) const CLOSED: u8 = 2;

/// What a publisher offers a subscription, borrowed until it is actually queued.
#[derive(Clone, Copy)]
pub(crate) enum Offer<'a> {
    One(&'a Envelope),
    Run(&'a Arc<Batch>),
}

impl Offer<'_> {
    /// How many envelopes it holds.
    pub fn len(&self) -> u64 {
        match self {
            Offer::One(_) => 1,
            Offer::Run(b) => u64::from(b.len()),
        }
    }

    /// Whether the subscription's header filter accepts it (every envelope of a run has the
    /// same, empty, headers, so the first decides for all).
    pub fn accepted_by(&self, sub: &Sub) -> bool {
        match self {
            Offer::One(e) => sub.accepts(e),
            Offer::Run(b) => sub.accepts(&b.envelope(0)),
        }
    }

    /// The slot to queue.
    pub fn to_slot(self) -> Slot {
        match self {
            Offer::One(e) => Slot::One(e.clone()),
            Offer::Run(b) => Slot::Run(b.clone()),
        }
    }

    /// Delivers each envelope to `sub`, in order (a run stops if `sub` is suspended).
    pub fn deliver_to(&self, sub: &Sub, mut f: impl FnMut(&Envelope)) {
        match self {
            Offer::One(e) => f(e),
            Offer::Run(b) => sub.deliver_run(b, f),
        }
    }
}

/// One queue slot: an envelope published on its own, or a run of a batch.
pub(crate) enum Slot {
    One(Envelope),
    Run(Arc<Batch>),
}

impl Slot {
    /// How many envelopes it holds.
    pub fn len(&self) -> u64 {
        match self {
            Slot::One(_) => 1,
            Slot::Run(b) => u64::from(b.len()),
        }
    }

    /// Its first envelope.
    pub fn first(&self) -> Envelope {
        match self {
            Slot::One(e) => e.clone(),
            Slot::Run(b) => b.envelope(0),
        }
    }

    /// Delivers each envelope to `sub`, in order (a run stops if `sub` is suspended). One
    /// envelope value walks a run: one reference count for the whole run.
    pub fn deliver_to(&self, sub: &Sub, mut f: impl FnMut(&Envelope)) {
        match self {
            Slot::One(e) => f(e),
            Slot::Run(b) => sub.deliver_run(b, f),
        }
    }
}

/// A subscription as the bus holds it.
pub(crate) struct Sub {
    pub id: SubscriptionId,
    pub owner: Arc<str>,
    pub pattern: Pattern,
    pub opts: SubscribeOptions,
    pub tx: Sender<Slot>,
    /// Kept by publishers too, to drop the oldest slot under `DropOldest`.
    pub rx: Receiver<Slot>,
    pub counters: Counters,
    pub state: AtomicU8,
    /// The delivery worker that serves it (0 for inline subscriptions).
    pub worker: u64,
    pub handler: Arc<dyn Handler>,
}

impl fmt::Debug for Sub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sub")
            .field("id", &self.id)
            .field("owner", &self.owner)
            .field("pattern", &self.pattern)
            .finish_non_exhaustive()
    }
}

impl Sub {
    /// Delivers the envelopes of `run` in order while the subscription stays active; what is
    /// left when it is suspended or closed midway is counted as discarded.
    pub fn deliver_run(&self, run: &Arc<Batch>, mut deliver: impl FnMut(&Envelope)) {
        let mut e = run.envelope(0);
        for i in 0..run.len() {
            if self.state.load(Ordering::Acquire) != ACTIVE {
                self.counters
                    .deliver
                    .discarded
                    .fetch_add(u64::from(run.len() - i), Ordering::Relaxed);
                return;
            }
            e.set_index(i);
            deliver(&e);
        }
    }

    #[inline]
    pub fn accepts(&self, envelope: &Envelope) -> bool {
        self.opts.filters.iter().all(|f| f.accepts(envelope))
    }

    pub fn stats(&self) -> SubscriptionStats {
        let (p, d) = (&self.counters.publish, &self.counters.deliver);
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SubscriptionStats {
            enqueued: l(&p.enqueued),
            delivered: l(&d.delivered),
            filtered: l(&p.filtered),
            dropped_oldest: l(&p.dropped_oldest),
            dropped_newest: l(&p.dropped_newest),
            rejected: l(&p.rejected),
            expired: l(&d.expired),
            failures: l(&d.failures),
            redelivered: l(&d.redelivered),
            dead_lettered: l(&d.dead_lettered),
            discarded: l(&d.discarded),
            queued: self.rx.len() as u64,
            capacity: self.opts.capacity as u64,
            suspended: self.state.load(Ordering::Acquire) == SUSPENDED,
        }
    }
}

/// Runs one envelope: a host closure or a plugin's `#[subscribe]` handler.
pub(crate) trait Handler: Send + Sync {
    fn handle(&self, envelope: &Envelope) -> Result<(), switchboard_sdk::PluginError>;
}

impl<F> Handler for F
where
    F: Fn(&Envelope) -> Result<(), switchboard_sdk::PluginError> + Send + Sync,
{
    fn handle(&self, envelope: &Envelope) -> Result<(), switchboard_sdk::PluginError> {
        self(envelope)
    }
}
