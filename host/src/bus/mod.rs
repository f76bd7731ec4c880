//! The event bus and shared services (SPEC S5, ARCHITECTURE D4–D6).
//!
//! - [`topic`](Pattern) — topics and compiled subscription patterns (`*` one segment, `>` the
//!   rest).
//! - [`Envelope`], [`Outgoing`], [`TraceContext`], [`EventId`] — what travels, with trace and
//!   causation ids propagated through handlers and service calls.
//! - [`SubscribeOptions`], [`Overflow`], [`Delivery`], [`Mode`], [`HeaderFilter`],
//!   [`SubscriptionStats`] — what a subscriber declares and what the bus counts.
//! - Delivery workers — one per subscriber, so a slow one only delays itself.
//! - [`ServiceBuilder`], [`ServiceClient`], [`RawServiceClient`] — named services with typed
//!   methods, contract-checked at bind time, throttled per caller.
//! - [`BusError`] — every failure, coded `SB08xx`.
//!
//! No lock is held while a handler or a service method runs: routes are read from a
//! snapshot guarded by per-thread hazard slots, and a plugin's queue is its own.
//!
//! # Example
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use switchboard_host::bus::{Bus, Mode, Outgoing, SubscribeOptions};
//!
//! let bus = Bus::new();
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let log = seen.clone();
//! bus.subscribe("host.file.*", SubscribeOptions::new().mode(Mode::Inline), move |e| {
//!     log.lock().unwrap().push(e.topic().to_owned());
//!     Ok(())
//! })
//! .unwrap();
//! bus.publish(Outgoing::new("host.file.saved", b"a.md".to_vec())).unwrap();
//! bus.publish(Outgoing::new("host.window.closed", Vec::new())).unwrap();
//! assert_eq!(*seen.lock().unwrap(), ["host.file.saved"]);
//! ```

mod envelope;
mod error;
mod service;
mod snapshot;
mod subscription;
#[cfg(test)]
mod tests;
mod throttle;
pub(crate) mod topic;
mod worker;

use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{SendTimeoutError, TrySendError};
use switchboard_sdk::PluginError;

pub use self::envelope::{Envelope, EventId, Header, Outgoing, TraceContext};
pub use self::error::BusError;
pub use self::service::{RawServiceClient, ServiceBuilder, ServiceClient, ServiceInfo};
pub use self::subscription::{
    Delivery, DeliveryPolicy, HeaderFilter, Mode, Overflow, SubscribeOptions, SubscriptionId,
    SubscriptionStats, MAX_CAPACITY,
};
pub use self::throttle::Throttle;
pub use self::topic::{validate_topic, Pattern, MAX_TOPIC_LEN};

use self::envelope::{Batch, Publisher};
pub(crate) use self::service::{MethodDef, ServiceDef, ServiceImpl};
use self::snapshot::{Freed, Held, Snapshot};
pub(crate) use self::subscription::Handler;
use self::subscription::{Counters, Offer, PublisherMarks, Slot, Sub, ACTIVE, CLOSED, SUSPENDED};
use self::worker::WorkerHandle;

/// Where envelopes go after their last failed attempt under at-least-once delivery. Headers
/// name the original topic and id, the subscription, the subscriber, the attempts and the
/// last error.
pub const DEAD_LETTER_TOPIC: &str = "system.dead_letter";

/// Published when the breaker suspends a subscription; headers name it, its subscriber and
/// pattern; the payload is the last error.
pub const SUSPENDED_TOPIC: &str = "system.subscription.suspended";

/// Published when a subscription's queue first overflows after it was last empty (envelopes
/// are being dropped, or publishers refused, because the subscriber is not keeping up); headers
/// name it, its subscriber, pattern, capacity and overflow policy. One notice per episode: the
/// next comes after the queue has drained. Drops are counted in its
/// [`SubscriptionStats`].
pub const LAGGING_TOPIC: &str = "system.subscription.lagging";

/// Published when a subscription stops taking one publisher's envelopes because its handler
/// reported [`cut_off_after`](SubscribeOptions::cut_off_after) of them in a row as undecodable
/// ([`BAD_EVENT`](switchboard_sdk::codes::BAD_EVENT)); headers name the publisher, the
/// subscription, its subscriber and pattern, and the streak; the payload is the last error.
/// [`Bus::readmit`] lets the publisher back in.
pub const CUT_OFF_TOPIC: &str = "system.publisher.cut_off";

/// The most envelopes `publish_batch` puts in one queue slot.
const BATCH_RUN: usize = 64;

/// The headers of the host's batches: none (one shared empty slice).
fn no_headers() -> Arc<[Header]> {
    static NONE: std::sync::OnceLock<Arc<[Header]>> = std::sync::OnceLock::new();
    NONE.get_or_init(|| Arc::from(Vec::new())).clone()
}

/// The publisher name the host application publishes as.
pub const HOST_PUBLISHER: &str = "host";

/// The publisher name of the bus's own notices.
const SYSTEM_PUBLISHER: &str = "system";

/// Limits that stop runaway chains and oversized payloads. Set them on a host with
/// [`HostBuilder::bus_limits`](crate::HostBuilder::bus_limits).
///
/// # Example
///
/// ```
/// use switchboard_host::bus::BusLimits;
///
/// let limits = BusLimits { max_event_bytes: 64 << 10, ..BusLimits::default() };
/// assert_eq!(limits.max_call_bytes, 16 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusLimits {
    /// The deepest causation chain of events (an event published by a handler of an event …).
    pub max_hops: u32,
    /// The deepest nesting of service calls on one thread.
    pub max_call_depth: u32,
    /// The largest event anyone may publish — payload plus header names and values — in bytes
    /// (default 1 MiB); larger ones are refused with [`BusError::EventTooLarge`] before the
    /// bus copies them.
    pub max_event_bytes: usize,
    /// The largest request or reply of a service call, and of a plugin command, in bytes
    /// (default 16 MiB): [`BusError::RequestTooLarge`] / [`BusError::ReplyTooLarge`] for
    /// services, [`CallError::RequestTooLarge`](crate::CallError::RequestTooLarge) /
    /// [`CallError::ResponseTooLarge`](crate::CallError::ResponseTooLarge) for commands.
    pub max_call_bytes: usize,
}

impl Default for BusLimits {
    fn default() -> Self {
        BusLimits {
            max_hops: 64,
            max_call_depth: 32,
            max_event_bytes: 1 << 20,
            max_call_bytes: 16 << 20,
        }
    }
}

/// What one subscription is, for listings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SubscriptionInfo {
    /// Its id.
    pub id: SubscriptionId,
    /// Who subscribed: a plugin name, or `host`.
    pub owner: String,
    /// The pattern.
    pub pattern: String,
    /// Its counters now.
    pub stats: SubscriptionStats,
    /// The publishers whose envelopes it no longer takes (see [`CUT_OFF_TOPIC`]).
    pub cut_off: Vec<String>,
}

/// The routing table, replaced whole on every change and read without a lock.
///
/// Exact topics are found by hash with foldhash (seeded per table, like std's SipHash, but
/// about a tenth of its cost on a topic-sized key: SipHash was a seventh of a publish) —
/// after a hint: each thread remembers where its last exact topic was, and a topic equal to
/// the one found there needs no hash (a publisher usually publishes one topic many times).
#[derive(Default)]
struct Routes {
    /// Exact topics and their subscriptions.
    exact: Vec<(Box<str>, Vec<Arc<Sub>>)>,
    /// Where each exact topic is in `exact`.
    index: HashMap<Box<str>, usize, foldhash::fast::RandomState>,
    wild: Vec<Arc<Sub>>,
}

thread_local! {
    /// Where this thread's last exact topic was found in its table: only a hint, checked
    /// against the topic there (so it holds nothing, and a stale one just misses).
    static TOPIC_HINT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl Routes {
    /// The subscriptions to exactly `topic`, if any.
    #[inline]
    fn exact(&self, topic: &str) -> Option<&[Arc<Sub>]> {
        let hint = TOPIC_HINT.with(std::cell::Cell::get);
        if let Some((t, subs)) = self.exact.get(hint) {
            if same(t.as_bytes(), topic.as_bytes()) {
                return Some(subs);
            }
        }
        self.exact_by_hash(topic)
    }

    /// [`exact`](Self::exact) when the hint missed: by hash, and the hint set.
    #[inline(never)]
    fn exact_by_hash(&self, topic: &str) -> Option<&[Arc<Sub>]> {
        let i = *self.index.get(topic)?;
        TOPIC_HINT.with(|h| h.set(i));
        self.exact.get(i).map(|(_, subs)| &subs[..])
    }

    /// Gathers the subscriptions `topic` goes to into `out`: exact ones by hash, then matching
    /// patterns, in that order.
    fn collect<'r>(&'r self, topic: &str, out: &mut Targets<'r>) {
        if let Some(exact) = self.exact(topic) {
            for s in exact {
                out.push(s);
            }
        }
        self.collect_wild(topic, out);
    }

    /// Gathers the matching patterns only.
    fn collect_wild<'r>(&'r self, topic: &str, out: &mut Targets<'r>) {
        for s in &self.wild {
            if s.pattern.matches(topic) {
                out.push(s);
            }
        }
    }
}

/// Whether two topics are equal, compared eight bytes at a time inline: topics are short,
/// and a call to `memcmp` cost more than the comparison.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut a, mut b) = (a, b);
    while let (Some((x, ra)), Some((y, rb))) =
        (a.split_first_chunk::<8>(), b.split_first_chunk::<8>())
    {
        if x != y {
            return false;
        }
        (a, b) = (ra, rb);
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

/// How many targets a publish gathers without allocating.
const INLINE_TARGETS: usize = 8;

/// The subscriptions one publish goes to: the first few on the stack, the rest (rare) in a
/// vector.
#[derive(Default)]
struct Targets<'r> {
    inline: [Option<&'r Arc<Sub>>; INLINE_TARGETS],
    len: usize,
    spill: Vec<&'r Arc<Sub>>,
}

impl<'r> Targets<'r> {
    #[inline]
    fn push(&mut self, sub: &'r Arc<Sub>) {
        if self.len < INLINE_TARGETS && self.spill.is_empty() {
            self.inline[self.len] = Some(sub);
            self.len += 1;
        } else {
            if self.spill.is_empty() {
                self.spill.extend(self.inline.iter().flatten().copied());
            }
            self.spill.push(sub);
        }
    }

    /// How many there are.
    #[inline]
    fn len(&self) -> usize {
        if self.spill.is_empty() {
            self.len
        } else {
            self.spill.len()
        }
    }

    /// Target `i`, in the order gathered.
    #[inline]
    fn get(&self, i: usize) -> Option<&'r Arc<Sub>> {
        if self.spill.is_empty() {
            self.inline.get(i).copied().flatten()
        } else {
            self.spill.get(i).copied()
        }
    }
}

/// What a publish did: deliveries taken, and the first refusal.
#[derive(Default)]
struct Tally {
    taken: usize,
    first_error: Option<BusError>,
}

impl Tally {
    /// Counts one offer's outcome.
    #[inline]
    fn add(&mut self, n: u64, outcome: Result<bool, BusError>) {
        match outcome {
            Ok(true) => self.taken += n as usize,
            Ok(false) => {}
            Err(e) => {
                self.first_error.get_or_insert(e);
            }
        }
    }

    fn finish(self) -> Result<usize, BusError> {
        match self.first_error {
            Some(e) => Err(e),
            None => Ok(self.taken),
        }
    }
}

/// The event bus: topics, subscriptions, delivery and shared services. Cheap to clone; clones
/// share everything. A [`Host`](crate::Host) owns one ([`Host::bus`](crate::Host::bus)); a bus
/// can also be used on its own.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<BusInner>,
}

pub(crate) struct BusInner {
    routes: Snapshot<Routes>,
    /// Serialises changes to the routes and the subscription list (never held while plugin
    /// code runs).
    subs: Mutex<BTreeMap<SubscriptionId, Arc<Sub>>>,
    workers: Mutex<HashMap<Arc<str>, WorkerHandle>>,
    next_sub: AtomicU64,
    pub(crate) limits: BusLimits,
    /// What plugins' `#[subscribe]` handlers may ask for.
    pub(crate) delivery: DeliveryPolicy,
    /// Where cut-offs are recorded, for a host's bus.
    pub(crate) audit: std::sync::OnceLock<crate::audit::AuditLog>,
    closed: AtomicBool,
    pub(crate) services: service::Registry,
    host_name: Arc<str>,
    system_name: Arc<str>,
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus")
            .field("subscriptions", &self.lock_subs().len())
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl Default for Bus {
    fn default() -> Self {
        Bus::new()
    }
}

impl Bus {
    /// A bus with the default limits and no throttle.
    pub fn new() -> Bus {
        Bus::with_limits(BusLimits::default(), None)
    }

    /// A bus with these limits, throttling every caller of every service as `throttle` says.
    pub fn with_limits(limits: BusLimits, throttle: Option<Throttle>) -> Bus {
        Bus::with_policy(limits, throttle, DeliveryPolicy::default())
    }

    /// A bus with these limits and throttle, bounding plugins' delivery requests by
    /// `delivery`.
    pub fn with_policy(
        limits: BusLimits,
        throttle: Option<Throttle>,
        delivery: DeliveryPolicy,
    ) -> Bus {
        Bus {
            inner: Arc::new(BusInner {
                routes: Snapshot::new(Arc::new(Routes::default())),
                subs: Mutex::new(BTreeMap::new()),
                workers: Mutex::new(HashMap::new()),
                next_sub: AtomicU64::new(1),
                limits,
                delivery,
                audit: std::sync::OnceLock::new(),
                closed: AtomicBool::new(false),
                services: service::Registry::new(throttle),
                host_name: HOST_PUBLISHER.into(),
                system_name: SYSTEM_PUBLISHER.into(),
            }),
        }
    }

    fn lock_subs(&self) -> parking_lot::MutexGuard<'_, BTreeMap<SubscriptionId, Arc<Sub>>> {
        self.inner.subs.lock()
    }

    /// Publishes as the host application. Returns how many subscriptions took the envelope
    /// (queued or handled inline).
    ///
    /// Every matching subscription is tried; if one refuses (a full queue under
    /// [`Overflow::Fail`], or [`Overflow::Block`] timing out) the others still get the
    /// envelope and the first refusal is returned. A subscription that has cut this publisher
    /// off ([`CUT_OFF_TOPIC`]) is skipped and not counted. A payload over
    /// [`BusLimits::max_event_bytes`] is refused ([`BusError::EventTooLarge`]) before anything
    /// is routed.
    #[inline]
    pub fn publish(&self, event: Outgoing) -> Result<usize, BusError> {
        self.inner.publish_as(&self.inner.host_name, event)
    }

    /// Publishes many payloads on one topic, routing once. Returns how many deliveries were
    /// queued in all.
    ///
    /// The payloads are copied into runs of up to 64 envelopes, each one allocation with one
    /// block of ids, that cross a subscriber's queue as **one slot**: a queue of capacity `c`
    /// holds at most `c × 64` batched envelopes, and the overflow policies act on whole runs
    /// (a run dropped or refused counts all its envelopes). Batched envelopes carry no headers
    /// and no time to live; they share the current trace context.
    ///
    /// A payload over [`BusLimits::max_event_bytes`] stops the batch with
    /// [`BusError::EventTooLarge`] before it is copied: the runs before the one holding it
    /// have been delivered, that run and the rest are not.
    pub fn publish_batch<I>(&self, topic: &str, payloads: I) -> Result<usize, BusError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.inner
            .publish_batch_as(&self.inner.host_name, topic, &no_headers(), payloads)
    }

    /// Subscribes a host closure to `pattern`. The closure runs on the subscription's own
    /// delivery worker (or inline, with [`Mode::Inline`]); an error or a panic counts as a
    /// failed delivery.
    pub fn subscribe<F>(
        &self,
        pattern: &str,
        options: SubscribeOptions,
        handler: F,
    ) -> Result<SubscriptionId, BusError>
    where
        F: Fn(&Envelope) -> Result<(), PluginError> + Send + Sync + 'static,
    {
        // Each host subscription gets its own worker.
        static NEXT_HOST_SUBSCRIBER: AtomicU64 = AtomicU64::new(1);
        let n = NEXT_HOST_SUBSCRIBER.fetch_add(1, Ordering::Relaxed);
        let owner: Arc<str> = format!("host#{n}").into();
        self.inner
            .subscribe_as(owner, Pattern::parse(pattern)?, options, Arc::new(handler))
    }

    /// Stops a subscription; what is still queued for it is dropped.
    pub fn unsubscribe(&self, id: SubscriptionId) -> Result<(), BusError> {
        self.inner.unsubscribe(id)
    }

    /// Resumes a subscription the breaker suspended; queued envelopes are delivered again.
    pub fn resume(&self, id: SubscriptionId) -> Result<(), BusError> {
        let sub = self.inner.find(id)?;
        sub.counters.deliver.streak.store(0, Ordering::Relaxed);
        let _ = sub
            .state
            .compare_exchange(SUSPENDED, ACTIVE, Ordering::AcqRel, Ordering::Acquire);
        self.inner.wake(&sub.owner);
        Ok(())
    }

    /// Lets `publisher` deliver to subscription `id` again after it was cut off for
    /// undecodable envelopes ([`CUT_OFF_TOPIC`]). Returns whether it was cut off.
    pub fn readmit(&self, id: SubscriptionId, publisher: &str) -> Result<bool, BusError> {
        Ok(self.inner.find(id)?.publishers.readmit(publisher))
    }

    /// The limits this bus enforces.
    pub fn limits(&self) -> BusLimits {
        self.inner.limits
    }

    /// The counters of one subscription.
    pub fn stats(&self, id: SubscriptionId) -> Result<SubscriptionStats, BusError> {
        Ok(self.inner.find(id)?.stats())
    }

    /// Every subscription, in id order.
    pub fn subscriptions(&self) -> Vec<SubscriptionInfo> {
        self.lock_subs()
            .values()
            .map(|s| SubscriptionInfo {
                id: s.id,
                owner: s.owner.to_string(),
                pattern: s.pattern.to_string(),
                stats: s.stats(),
                cut_off: s.publishers.cut_off(),
            })
            .collect()
    }

    /// Events delivered and dropped by each owner's subscriptions, by owner (the metrics).
    pub(crate) fn events_by_owner(&self) -> BTreeMap<String, (u64, u64)> {
        let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for s in self.lock_subs().values() {
            let stats = s.stats();
            let e = out.entry(s.owner.to_string()).or_default();
            e.0 += stats.delivered;
            e.1 += stats.dropped();
        }
        out
    }

    /// Events delivered and dropped by `owner`'s subscriptions.
    pub(crate) fn events_of(&self, owner: &str) -> (u64, u64) {
        self.lock_subs()
            .values()
            .filter(|s| &*s.owner == owner)
            .map(|s| s.stats())
            .fold((0, 0), |(d, x), st| (d + st.delivered, x + st.dropped()))
    }

    /// Registers a service built with [`ServiceBuilder`], provided by the host application.
    pub fn provide(&self, service: ServiceBuilder) -> Result<(), BusError> {
        self.inner
            .services
            .register(service.finish(HOST_PUBLISHER.into()))
    }

    /// Withdraws a service; clients bound to it get [`BusError::UnknownService`].
    pub fn withdraw(&self, name: &str) -> bool {
        self.inner.services.withdraw(name)
    }

    /// Every service provided now.
    pub fn services(&self) -> Vec<ServiceInfo> {
        self.inner.services.list()
    }

    /// A typed client for `service.method`, called as the host application. Contracts are
    /// checked now; a mismatch names both ids.
    pub fn client<Req, Resp>(
        &self,
        service: &str,
        method: &str,
    ) -> Result<ServiceClient<Req, Resp>, BusError>
    where
        Req: switchboard_sdk::Message,
        Resp: switchboard_sdk::Message,
    {
        self.inner
            .services
            .bind_typed(&self.inner, HOST_PUBLISHER, None, service, method)
    }

    /// A raw-bytes client for `service.method`, called as the host application.
    pub fn raw_client(&self, service: &str, method: &str) -> Result<RawServiceClient, BusError> {
        self.inner
            .services
            .bind_raw(&self.inner, HOST_PUBLISHER, None, service, method)
    }

    /// Stops every delivery worker. Queued envelopes are dropped; later publishes fail with
    /// [`BusError::Closed`].
    pub fn close(&self) {
        self.inner.close();
    }

    /// Records the bus's decisions about plugins (a publisher cut off from a subscription) in
    /// `audit`.
    pub(crate) fn audited(self, audit: crate::audit::AuditLog) -> Bus {
        let _ = self.inner.audit.set(audit);
        self
    }

    pub(crate) fn inner(&self) -> &Arc<BusInner> {
        &self.inner
    }
}

impl BusInner {
    fn find(&self, id: SubscriptionId) -> Result<Arc<Sub>, BusError> {
        self.subs
            .lock()
            .get(&id)
            .cloned()
            .ok_or(BusError::UnknownSubscription { id: id.0 })
    }

    fn wake(&self, owner: &str) {
        if let Some(w) = self.workers.lock().get(owner) {
            w.wake();
        }
    }

    /// Replaces the route table. Returns the tables no publish holds any more: the caller
    /// drops them after releasing `subs` (the subscriptions only they still hold go with
    /// them, and a handler's `Drop` may use the bus).
    fn rebuild_routes(&self, subs: &BTreeMap<SubscriptionId, Arc<Sub>>) -> Freed<Routes> {
        let mut routes = Routes::default();
        for s in subs.values() {
            if s.pattern.is_exact() {
                let topic = s.pattern.as_str();
                let i = match routes.index.get(topic) {
                    Some(&i) => i,
                    None => {
                        routes.exact.push((topic.into(), Vec::new()));
                        routes.index.insert(topic.into(), routes.exact.len() - 1);
                        routes.exact.len() - 1
                    }
                };
                routes.exact[i].1.push(s.clone());
            } else {
                routes.wild.push(s.clone());
            }
        }
        self.routes.store(Arc::new(routes))
    }

    /// Adds a subscription for `owner` (its delivery worker is started on first use).
    ///
    /// Lock order, here and everywhere: `subs`, then `workers`. Both are held together while
    /// a subscription and its worker are added or removed, so a concurrent removal or `close`
    /// can never leave a routed subscription without a worker.
    pub(crate) fn subscribe_as(
        self: &Arc<Self>,
        owner: Arc<str>,
        pattern: Pattern,
        opts: SubscribeOptions,
        handler: Arc<dyn Handler>,
    ) -> Result<SubscriptionId, BusError> {
        let id = SubscriptionId(self.next_sub.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = crossbeam_channel::bounded(opts.capacity);
        let inline = opts.mode == Mode::Inline;
        let mut subs = self.subs.lock();
        let mut workers = self.workers.lock();
        if self.closed.load(Ordering::Acquire) {
            return Err(BusError::Closed);
        }
        let worker = if inline {
            None
        } else {
            if !workers.contains_key(&owner) {
                let handle = WorkerHandle::spawn(&owner, Arc::downgrade(self)).map_err(|e| {
                    BusError::ServiceFailed {
                        service: "bus".into(),
                        method: "subscribe".into(),
                        error: PluginError::with_code(
                            switchboard_sdk::codes::SERVICE_FAILED,
                            format!("cannot start a delivery worker: {e}"),
                        ),
                    }
                })?;
                workers.insert(owner.clone(), handle);
            }
            workers.get(&owner)
        };
        let sub = Arc::new(Sub {
            id,
            owner: owner.clone(),
            exact: pattern.is_exact().then(|| pattern.as_str().into()),
            pattern,
            opts,
            tx,
            rx,
            counters: Counters::default(),
            publishers: PublisherMarks::default(),
            state: AtomicU8::new(ACTIVE),
            worker: worker.map_or(0, |w| w.id),
            handler,
        });
        if let Some(w) = worker {
            w.add(sub.clone());
        }
        drop(workers);
        subs.insert(id, sub);
        let freed = self.rebuild_routes(&subs);
        drop(subs);
        drop(freed);
        Ok(id)
    }

    pub(crate) fn unsubscribe(&self, id: SubscriptionId) -> Result<(), BusError> {
        let mut subs = self.subs.lock();
        let sub = subs
            .remove(&id)
            .ok_or(BusError::UnknownSubscription { id: id.0 })?;
        sub.state.store(CLOSED, Ordering::Release);
        let freed = self.rebuild_routes(&subs);
        let owner_left = subs.values().any(|s| s.owner == sub.owner);
        let mut workers = self.workers.lock();
        // The owner's last subscription: its worker goes too (dropping the handle disconnects
        // its control channel and it exits); otherwise it is told to look again.
        let retired = if owner_left {
            if let Some(w) = workers.get(&sub.owner) {
                w.wake();
            }
            None
        } else {
            workers.remove(&sub.owner)
        };
        drop(workers);
        drop(subs);
        drop(freed);
        drop(retired);
        while sub.rx.try_recv().is_ok() {}
        Ok(())
    }

    /// Removes every subscription and the worker of `owner` (a plugin being stopped or
    /// removed), and withdraws its services.
    pub(crate) fn remove_owner(&self, owner: &str) {
        let mut subs = self.subs.lock();
        let gone: Vec<Arc<Sub>> = subs
            .values()
            .filter(|s| &*s.owner == owner)
            .cloned()
            .collect();
        for s in &gone {
            s.state.store(CLOSED, Ordering::Release);
            subs.remove(&s.id);
        }
        let freed = self.rebuild_routes(&subs);
        let retired = self.workers.lock().remove(owner);
        drop(subs);
        // Handlers and workers are dropped with no bus lock held: their `Drop` may use the bus.
        drop(freed);
        drop(gone);
        drop(retired);
        self.services.withdraw_owner(owner);
    }

    fn close(&self) {
        let mut subs = self.subs.lock();
        self.closed.store(true, Ordering::Release);
        for s in subs.values() {
            s.state.store(CLOSED, Ordering::Release);
        }
        let gone = std::mem::take(&mut *subs);
        let freed = self.rebuild_routes(&subs);
        let retired = std::mem::take(&mut *self.workers.lock());
        drop(subs);
        drop(freed);
        drop(gone);
        drop(retired);
        self.services.withdraw_all();
    }

    /// Publishes a bus notice (dead letters, suspensions). Failures are logged, not returned:
    /// there is no one to return them to.
    pub(crate) fn publish_system(&self, event: Outgoing) {
        if let Err(e) = self.publish_as(&self.system_name, event) {
            tracing::warn!(target: "switchboard::bus", "cannot publish a bus notice: {e}");
        }
    }

    #[inline]
    fn check_hops(&self, topic: &str) -> Result<(), BusError> {
        if let Some(ctx) = TraceContext::current() {
            if ctx.hops + 1 >= self.limits.max_hops {
                return Err(self.causation_loop(topic, ctx));
            }
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn causation_loop(&self, topic: &str, ctx: TraceContext) -> BusError {
        BusError::CausationLoop {
            topic: topic.to_owned(),
            hops: ctx.hops + 1,
            limit: self.limits.max_hops,
            trace: ctx.trace_id.to_string(),
        }
    }

    /// What every publish checks first: the bus is open, the topic is well formed, the
    /// causation chain is within its limit. Returns the routes to use.
    fn admit(&self, topic: &str) -> Result<Held<'_, Routes>, BusError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(BusError::Closed);
        }
        validate_topic(topic)?;
        self.check_hops(topic)?;
        Ok(self.routes.load())
    }

    /// Offers one batch run to every subscription in `targets`; adds what was taken to
    /// `tally` and keeps the first refusal (the others still get the offer).
    fn offer_all(&self, targets: &Targets<'_>, run: &Arc<Batch>, tally: &mut Tally) {
        let n = u64::from(run.len());
        for sub in (0..targets.len()).filter_map(|i| targets.get(i)) {
            tally.add(n, self.offer(sub, Offer::Run(run)));
        }
    }

    /// Refuses an event over [`BusLimits::max_event_bytes`]: `size` is its payload plus its
    /// headers' names and values.
    #[inline]
    pub(crate) fn check_event_size(
        &self,
        topic: &str,
        publisher: &str,
        size: usize,
    ) -> Result<(), BusError> {
        if size > self.limits.max_event_bytes {
            return Err(self.too_large(topic, publisher, size));
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn too_large(&self, topic: &str, publisher: &str, size: usize) -> BusError {
        BusError::EventTooLarge {
            topic: topic.to_owned(),
            publisher: publisher.to_owned(),
            size,
            limit: self.limits.max_event_bytes,
        }
    }

    pub(crate) fn publish_as(
        &self,
        publisher: &Arc<str>,
        event: Outgoing,
    ) -> Result<usize, BusError> {
        let headers: usize = event.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
        self.check_event_size(&event.topic, publisher, event.payload.len() + headers)?;
        let routes = self.routes.load();
        // `admit` and routing in one: a topic an exact subscription names is well formed
        // already (exact patterns are checked topics), so only a topic no exact subscription
        // names is checked byte by byte. The checks and their order are `admit`'s.
        if self.closed.load(Ordering::Acquire) {
            return Err(BusError::Closed);
        }
        let exact = routes.exact(&event.topic);
        if exact.is_none() {
            validate_topic(&event.topic)?;
        }
        self.check_hops(&event.topic)?;
        // Routed before the envelope is sealed, so the last subscription can be handed the
        // envelope itself rather than a clone (its reference count then never changes hands
        // between the publisher's core and the worker's). Without patterns, the exact
        // subscriptions are the targets as they stand.
        let exact = exact.unwrap_or_default();
        if routes.wild.is_empty() {
            return self.offer_sealed(publisher, event, exact.iter());
        }
        let mut targets = Targets::default();
        for s in exact {
            targets.push(s);
        }
        routes.collect_wild(&event.topic, &mut targets);
        self.offer_sealed(
            publisher,
            event,
            (0..targets.len()).filter_map(|i| targets.get(i)),
        )
    }

    /// Seals `event` and offers it to each of `targets` in order, the last one the envelope
    /// itself. Seals nothing when there are no targets.
    #[inline]
    fn offer_sealed<'r>(
        &self,
        publisher: &Arc<str>,
        event: Outgoing,
        mut targets: impl Iterator<Item = &'r Arc<Sub>>,
    ) -> Result<usize, BusError> {
        let Some(mut sub) = targets.next() else {
            return Ok(0);
        };
        let who = if Arc::ptr_eq(publisher, &self.host_name) {
            Publisher::Host
        } else {
            Publisher::Named(publisher.clone())
        };
        let Outgoing {
            topic,
            payload,
            headers,
            ttl,
        } = event;
        let envelope = Envelope::seal(topic, payload, headers, ttl, who);
        let mut tally = Tally::default();
        for next in targets {
            tally.add(1, self.offer(sub, Offer::One(&envelope)));
            sub = next;
        }
        tally.add(1, self.offer(sub, Offer::Last(envelope)));
        tally.finish()
    }

    /// Publishes runs of envelopes on `topic` that all carry `headers` (see
    /// [`Bus::publish_batch`]).
    pub(crate) fn publish_batch_as<I>(
        &self,
        publisher: &Arc<str>,
        topic: &str,
        headers: &Arc<[Header]>,
        payloads: I,
    ) -> Result<usize, BusError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let routes = self.admit(topic)?;
        let mut targets = Targets::default();
        routes.collect(topic, &mut targets);
        let topic: Arc<str> = topic.into();
        let mut tally = Tally::default();
        let mut payloads = payloads.into_iter();
        let limit = self.limits.max_event_bytes;
        while let Some(batch) =
            Batch::pack(&topic, publisher, headers, &mut payloads, BATCH_RUN, limit).map_err(
                |size| BusError::EventTooLarge {
                    topic: topic.to_string(),
                    publisher: publisher.to_string(),
                    size,
                    limit,
                },
            )?
        {
            let batch = Arc::new(batch);
            self.offer_all(&targets, &batch, &mut tally);
        }
        tally.finish()
    }

    /// Hands one queue slot (an envelope, or a run of a batch) to one subscription under its
    /// overflow policy. `Ok(false)`: not taken, and not an error (filtered, dropped, closed).
    /// Counters count envelopes, whatever the slot holds.
    ///
    /// Only the common case is here — room in the queue — so that it inlines into the publish
    /// paths; inline delivery and a full queue are out of line.
    #[inline(always)]
    fn offer(&self, sub: &Sub, offer: Offer<'_>) -> Result<bool, BusError> {
        if sub.state.load(Ordering::Acquire) == CLOSED {
            return Ok(false);
        }
        let n = offer.len();
        let c = &sub.counters.publish;
        if sub.publishers.any_cut_off() && sub.publishers.is_cut_off(offer.publisher()) {
            c.cut_off.fetch_add(n, Ordering::Relaxed);
            return Ok(false);
        }
        if !sub.opts.filters.is_empty() && !offer.accepted_by(sub) {
            c.filtered.fetch_add(n, Ordering::Relaxed);
            return Ok(false);
        }
        if sub.opts.mode == Mode::Inline {
            return Ok(self.offer_inline(sub, offer));
        }
        match sub.tx.try_send(offer.into_slot(sub)) {
            Ok(()) => {
                c.enqueued.fetch_add(n, Ordering::Relaxed);
                Ok(true)
            }
            Err(TrySendError::Disconnected(_)) => Ok(false),
            Err(TrySendError::Full(slot)) => self.offer_full(sub, slot, n),
        }
    }

    /// Runs an inline subscription's handler on the publisher's thread.
    #[inline(never)]
    fn offer_inline(&self, sub: &Sub, offer: Offer<'_>) -> bool {
        sub.counters
            .publish
            .enqueued
            .fetch_add(offer.len(), Ordering::Relaxed);
        if sub.state.load(Ordering::Acquire) == ACTIVE {
            offer.deliver_to(sub, |e| worker::deliver(self, sub, e));
        }
        true
    }

    /// [`offer`](Self::offer) once the queue was found full: the overflow policy decides.
    #[cold]
    #[inline(never)]
    fn offer_full(&self, sub: &Sub, slot: Slot, n: u64) -> Result<bool, BusError> {
        let c = &sub.counters.publish;
        let topic = |slot: &Slot| slot.topic(sub);
        match sub.opts.overflow {
            Overflow::Block(timeout) => {
                // A short wait for the worker to make room, which it usually does within
                // microseconds, before parking the thread. A worker waiting for room in its
                // own queue would wait for itself, so it does not wait at all.
                let mut pending = slot;
                let own = sub.worker != 0 && worker::current_worker() == sub.worker;
                let mut patience = worker::Patience::default();
                while !own && patience.wait() {
                    match sub.tx.try_send(pending) {
                        Ok(()) => {
                            c.enqueued.fetch_add(n, Ordering::Relaxed);
                            return Ok(true);
                        }
                        Err(TrySendError::Disconnected(_)) => return Ok(false),
                        Err(TrySendError::Full(back)) => pending = back,
                    }
                }
                let wait = if own { Duration::ZERO } else { timeout };
                match sub.tx.send_timeout(pending, wait) {
                    Ok(()) => {}
                    Err(SendTimeoutError::Timeout(back)) => {
                        c.rejected.fetch_add(n, Ordering::Relaxed);
                        self.note_lagging(sub);
                        return Err(BusError::BlockTimeout {
                            subscription: sub.id.0,
                            pattern: sub.pattern.to_string(),
                            topic: topic(&back),
                            waited: wait,
                        });
                    }
                    Err(SendTimeoutError::Disconnected(_)) => return Ok(false),
                }
            }
            Overflow::DropOldest => {
                let mut pending = slot;
                loop {
                    if let Ok(old) = sub.rx.try_recv() {
                        c.dropped_oldest.fetch_add(old.len(), Ordering::Relaxed);
                        self.note_lagging(sub);
                    }
                    match sub.tx.try_send(pending) {
                        Ok(()) => break,
                        Err(TrySendError::Full(back)) => pending = back,
                        Err(TrySendError::Disconnected(_)) => return Ok(false),
                    }
                }
            }
            Overflow::DropNewest => {
                c.dropped_newest.fetch_add(n, Ordering::Relaxed);
                self.note_lagging(sub);
                return Ok(false);
            }
            Overflow::Fail => {
                c.rejected.fetch_add(n, Ordering::Relaxed);
                self.note_lagging(sub);
                return Err(BusError::QueueFull {
                    subscription: sub.id.0,
                    pattern: sub.pattern.to_string(),
                    topic: topic(&slot),
                    capacity: sub.opts.capacity,
                });
            }
        }
        c.enqueued.fetch_add(n, Ordering::Relaxed);
        Ok(true)
    }

    /// Marks `sub` as lagging and, on the first overflow since its queue was last empty,
    /// publishes one [`LAGGING_TOPIC`] notice (so a flood of drops is one notice, not one per
    /// drop, and a notice about a lagging notice subscriber ends there).
    #[cold]
    fn note_lagging(&self, sub: &Sub) {
        let flag = &sub.counters.publish.lagging;
        if flag.load(Ordering::Relaxed) || flag.swap(true, Ordering::AcqRel) {
            return;
        }
        let policy = match sub.opts.overflow {
            Overflow::Block(_) => "block",
            Overflow::DropOldest => "drop_oldest",
            Overflow::DropNewest => "drop_newest",
            Overflow::Fail => "fail",
        };
        tracing::warn!(
            target: "switchboard::bus",
            "subscription {} (`{}`) of `{}` is not keeping up: its queue of {} is full ({policy})",
            sub.id, sub.pattern, sub.owner, sub.opts.capacity
        );
        self.publish_system(Outgoing {
            topic: LAGGING_TOPIC.into(),
            payload: Arc::from(&[][..]),
            headers: vec![
                ("subscription".into(), sub.id.to_string().into()),
                ("subscriber".into(), (*sub.owner).into()),
                ("pattern".into(), sub.pattern.as_str().into()),
                ("capacity".into(), sub.opts.capacity.to_string().into()),
                ("overflow".into(), policy.into()),
            ],
            ttl: None,
        });
    }
}
