//! Subscriptions: what a subscriber declares (queue, overflow policy, delivery guarantee,
//! filter, breaker) and what the bus counts for it.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
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
    pub(crate) cut_off_after: u32,
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
            cut_off_after: 5,
        }
    }

    /// What a plugin's `#[subscribe]` handler gets unless it asks for more (within the host's
    /// [`DeliveryPolicy`]): a queue of 1024 that **drops the oldest** envelope when full, so a
    /// slow plugin never delays a publisher; each episode of dropping publishes
    /// [`LAGGING_TOPIC`](crate::bus::LAGGING_TOPIC) and the drops are counted. At-most-once,
    /// breaker after 5 consecutive failures.
    pub fn for_plugin() -> SubscribeOptions {
        SubscribeOptions::new().overflow(Overflow::DropOldest)
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
    /// Events the handler reports as undecodable ([`codes::BAD_EVENT`]) do not count: they
    /// are the publisher's fault (see [`cut_off_after`](Self::cut_off_after)).
    ///
    /// [`codes::BAD_EVENT`]: switchboard_sdk::codes::BAD_EVENT
    pub fn breaker(mut self, failures: u32) -> Self {
        self.breaker = failures;
        self
    }

    /// Stops delivering one publisher's envelopes to this subscription after this many
    /// consecutive envelopes of that publisher the handler reported as undecodable (0: never).
    /// Other publishers' envelopes keep flowing; [`Bus::readmit`](crate::bus::Bus::readmit)
    /// lets the publisher back in. Default 5.
    pub fn cut_off_after(mut self, undecodable: u32) -> Self {
        self.cut_off_after = undecodable;
        self
    }
}

/// The limits a host sets on the delivery options plugins may request for their
/// `#[subscribe]` handlers (`queue`, `overflow`, `block_ms`). Policy `[delivery]`.
///
/// A requested queue larger than `max_queue` is clamped to it (as KV quotas are); a `block`
/// request is refused at start when `max_block` is zero, and its timeout clamped to
/// `max_block` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryPolicy {
    /// The largest queue a plugin subscription may have (slots).
    pub max_queue: usize,
    /// The longest a publisher may be made to wait for a plugin's full queue; zero forbids
    /// the `block` overflow for plugins.
    pub max_block: Duration,
}

impl Default for DeliveryPolicy {
    /// Queues of up to 8,192 slots (each allocated up front); plugins may not make publishers
    /// wait.
    fn default() -> Self {
        DeliveryPolicy {
            max_queue: 8192,
            max_block: Duration::ZERO,
        }
    }
}

impl DeliveryPolicy {
    /// A policy with these limits.
    pub fn new(max_queue: usize, max_block: Duration) -> DeliveryPolicy {
        DeliveryPolicy {
            max_queue: max_queue.clamp(1, MAX_CAPACITY),
            max_block,
        }
    }

    /// The options a plugin's handler on `pattern` gets: [`SubscribeOptions::for_plugin`],
    /// changed by what it asks for, within this policy.
    pub(crate) fn options_for(
        &self,
        plugin: &str,
        pattern: &str,
        request: Option<&switchboard_sdk::DeliveryRequest>,
    ) -> Result<SubscribeOptions, crate::bus::BusError> {
        let mut opts = SubscribeOptions::for_plugin();
        let Some(r) = request else {
            return Ok(opts);
        };
        if let Some(q) = r.queue {
            let q = usize::try_from(q).unwrap_or(usize::MAX);
            opts = opts.capacity(q.min(self.max_queue));
        }
        let refuse = |requested: String, reason: String| crate::bus::BusError::DeliveryRefused {
            plugin: plugin.to_owned(),
            pattern: pattern.to_owned(),
            requested,
            reason,
        };
        match r.overflow.as_deref() {
            None | Some("drop_oldest") => {}
            Some("drop_newest") => opts = opts.overflow(Overflow::DropNewest),
            Some("block") => {
                let asked = Duration::from_millis(r.block_ms.unwrap_or(1000));
                if self.max_block.is_zero() {
                    return Err(refuse(
                        format!("overflow = \"block\" ({asked:?})"),
                        "plugins may not make publishers wait (`[delivery] max_block_ms` is 0)"
                            .into(),
                    ));
                }
                opts = opts.overflow(Overflow::Block(asked.min(self.max_block)));
            }
            Some(other) => {
                return Err(refuse(
                    format!("overflow = \"{other}\""),
                    "unknown overflow policy; the SDK writes drop_oldest, drop_newest or block"
                        .into(),
                ))
            }
        }
        Ok(opts)
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
    /// Handler runs that failed or panicked (each attempt), undecodable envelopes excepted.
    pub failures: u64,
    /// Envelopes the handler reported as undecodable ([`BAD_EVENT`]): counted against their
    /// publisher, dead-lettered, never retried, never counted by the breaker.
    ///
    /// [`BAD_EVENT`]: switchboard_sdk::codes::BAD_EVENT
    pub undecodable: u64,
    /// Envelopes not queued because their publisher is cut off from this subscription.
    pub cut_off: u64,
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
    /// Whether the queue has overflowed since it was last empty (a
    /// [`LAGGING_TOPIC`](crate::bus::LAGGING_TOPIC) notice was published).
    pub lagging: bool,
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
    pub cut_off: AtomicU64,
    /// Set by the first overflow after the queue was last seen empty; cleared by the worker.
    pub lagging: AtomicBool,
}

#[derive(Debug, Default)]
pub(crate) struct DeliverSide {
    pub delivered: AtomicU64,
    pub expired: AtomicU64,
    pub failures: AtomicU64,
    pub undecodable: AtomicU64,
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

/// What a publisher offers a subscription, borrowed until it is actually queued — or, for
/// the last subscription an envelope goes to, handed over whole.
pub(crate) enum Offer<'a> {
    One(&'a Envelope),
    /// The publisher's own envelope, offered to its last target: queued without a reference
    /// count changing hands between the publisher's core and the worker's.
    Last(Envelope),
    Run(&'a Arc<Batch>),
}

impl Offer<'_> {
    /// How many envelopes it holds.
    pub fn len(&self) -> u64 {
        match self {
            Offer::One(_) | Offer::Last(_) => 1,
            Offer::Run(b) => u64::from(b.len()),
        }
    }

    /// Who published it.
    pub fn publisher(&self) -> &str {
        match self {
            Offer::One(e) => e.publisher(),
            Offer::Last(e) => e.publisher(),
            Offer::Run(b) => b.publisher(),
        }
    }

    /// Whether the subscription's header filter accepts it (every envelope of a run has the
    /// same, empty, headers, so the first decides for all).
    pub fn accepted_by(&self, sub: &Sub) -> bool {
        match self {
            Offer::One(e) => sub.accepts(e),
            Offer::Last(e) => sub.accepts(e),
            Offer::Run(b) => sub.accepts(&b.envelope(0)),
        }
    }

    /// The slot to queue for `sub`.
    #[inline(always)]
    pub fn into_slot(self, sub: &Sub) -> Slot {
        let exact = sub.exact.is_some();
        match self {
            Offer::One(e) => Slot::One(e.clone().queued_for(exact)),
            Offer::Last(e) => Slot::One(e.queued_for(exact)),
            Offer::Run(b) => Slot::Run(b.clone()),
        }
    }

    /// Delivers each envelope to `sub`, in order (a run stops if `sub` is suspended).
    pub fn deliver_to(&self, sub: &Sub, mut f: impl FnMut(&Envelope)) {
        match self {
            Offer::One(e) => f(e),
            Offer::Last(e) => f(e),
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

    /// The topic of what it holds, queued for `sub`.
    pub fn topic(&self, sub: &Sub) -> String {
        match self {
            Slot::One(e) => match &sub.exact {
                Some(t) if e.topic().is_empty() => t.to_string(),
                _ => e.topic().to_owned(),
            },
            Slot::Run(b) => b.envelope(0).topic().to_owned(),
        }
    }

    /// Delivers each envelope to `sub`, in order (a run stops if `sub` is suspended). One
    /// envelope value walks a run: one reference count for the whole run. An envelope queued
    /// without its topic is lent `topic` — the subscription's, which the worker holds once
    /// per batch — for the handler's run and gives it back after, so no reference count
    /// changes per envelope (a handler that clones the envelope takes a count of its own).
    #[inline]
    pub fn deliver_to(
        &mut self,
        sub: &Sub,
        topic: &mut Option<Arc<str>>,
        mut f: impl FnMut(&Envelope),
    ) {
        match self {
            Slot::One(e) => {
                let lent = e.lend_topic(topic);
                f(e);
                if lent {
                    e.return_topic(topic);
                }
            }
            Slot::Run(b) => sub.deliver_run(b, f),
        }
    }
}

/// A subscription as the bus holds it.
pub(crate) struct Sub {
    pub id: SubscriptionId,
    pub owner: Arc<str>,
    pub pattern: Pattern,
    /// The topic, for a pattern without wildcards: envelopes queued for it carry none.
    pub exact: Option<Arc<str>>,
    pub opts: SubscribeOptions,
    pub tx: Sender<Slot>,
    /// Kept by publishers too, to drop the oldest slot under `DropOldest`.
    pub rx: Receiver<Slot>,
    pub counters: Counters,
    /// Undecodable streaks and cut-offs, per publisher.
    pub publishers: PublisherMarks,
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
            undecodable: l(&d.undecodable),
            cut_off: l(&p.cut_off),
            redelivered: l(&d.redelivered),
            dead_lettered: l(&d.dead_lettered),
            discarded: l(&d.discarded),
            queued: self.rx.len() as u64,
            capacity: self.opts.capacity as u64,
            suspended: self.state.load(Ordering::Acquire) == SUSPENDED,
            lagging: p.lagging.load(Ordering::Relaxed),
        }
    }
}

/// What one subscription holds against each publisher: consecutive undecodable envelopes, and
/// whether the publisher is cut off. Rarely anything: the hot paths read one flag each.
#[derive(Debug, Default)]
pub(crate) struct PublisherMarks {
    /// Some publisher is cut off (read by publishers on every offer).
    any_cut: AtomicBool,
    /// Some publisher has a streak (read by the worker after every success).
    any_streak: AtomicBool,
    marks: Mutex<HashMap<Box<str>, Mark>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Mark {
    streak: u32,
    cut: bool,
}

impl PublisherMarks {
    fn lock(&self) -> parking_lot::MutexGuard<'_, HashMap<Box<str>, Mark>> {
        self.marks.lock()
    }

    fn refresh(&self, marks: &HashMap<Box<str>, Mark>) {
        self.any_cut
            .store(marks.values().any(|m| m.cut), Ordering::Release);
        self.any_streak
            .store(marks.values().any(|m| !m.cut), Ordering::Release);
    }

    /// Whether some publisher is cut off (one load; then ask [`is_cut_off`](Self::is_cut_off)).
    #[inline]
    pub fn any_cut_off(&self) -> bool {
        self.any_cut.load(Ordering::Acquire)
    }

    /// Whether `publisher`'s envelopes are refused.
    #[inline]
    pub fn is_cut_off(&self, publisher: &str) -> bool {
        self.any_cut.load(Ordering::Acquire) && self.lock().get(publisher).is_some_and(|m| m.cut)
    }

    /// Counts an undecodable envelope of `publisher`; returns its streak and whether this one
    /// cut it off (`threshold` 0: never).
    pub fn undecodable(&self, publisher: &str, threshold: u32) -> (u32, bool) {
        let mut marks = self.lock();
        let mark = marks.entry(publisher.into()).or_default();
        mark.streak = mark.streak.saturating_add(1);
        let now_cut = !mark.cut && threshold > 0 && mark.streak >= threshold;
        mark.cut |= now_cut;
        let streak = mark.streak;
        self.refresh(&marks);
        (streak, now_cut)
    }

    /// Whether some publisher has a streak (one load; then tell
    /// [`delivered`](Self::delivered)).
    #[inline]
    pub fn any_streak(&self) -> bool {
        self.any_streak.load(Ordering::Acquire)
    }

    /// A successful delivery from `publisher` ends its streak.
    #[inline]
    pub fn delivered(&self, publisher: &str) {
        if self.any_streak.load(Ordering::Acquire) {
            let mut marks = self.lock();
            if marks.get(publisher).is_some_and(|m| !m.cut) {
                marks.remove(publisher);
                self.refresh(&marks);
            }
        }
    }

    /// Lets `publisher` back in; whether it was cut off.
    pub fn readmit(&self, publisher: &str) -> bool {
        let mut marks = self.lock();
        let was = marks.remove(publisher).is_some_and(|m| m.cut);
        self.refresh(&marks);
        was
    }

    /// The publishers cut off now, sorted.
    pub fn cut_off(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, m)| m.cut)
            .map(|(p, _)| p.to_string())
            .collect();
        out.sort();
        out
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
