//! Delivery workers: one thread per subscriber (a plugin, or a host subscription), so a slow
//! subscriber only ever delays itself.
//!
//! A worker waits on its subscriptions' queues at once (`crossbeam_channel::Select`) and, once
//! one is ready, drains it in a batch before waiting again. It takes one envelope at a time off
//! the queue, so a queue never holds more than its capacity and nothing hides in a side buffer.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select, Sender};
use switchboard_sdk::{codes, PluginError};

use crate::audit::{AuditEvent, AuditKind};
use crate::bus::envelope::{Envelope, Header, Outgoing, TraceContext};
use crate::bus::subscription::{bump, Delivery, Slot, Sub, ACTIVE, CLOSED, SUSPENDED};
use crate::bus::{BusInner, CUT_OFF_TOPIC, DEAD_LETTER_TOPIC, SUSPENDED_TOPIC};

/// How many envelopes a worker takes from one ready queue before looking at the others.
const BATCH: usize = 256;

/// How long a worker keeps looking at an empty queue, or a publisher at a full one, before it
/// parks its thread. Parking costs a futex round trip on both sides (microseconds); a partner
/// mid-burst usually makes progress well within this.
const PATIENCE: Duration = Duration::from_micros(50);

/// A short, bounded wait: spins growing from 1 to 64 iterations, then yields the core, until
/// [`PATIENCE`] has passed.
#[derive(Debug, Default)]
pub(crate) struct Patience {
    step: u32,
    since: Option<Instant>,
}

impl Patience {
    /// Waits a little; `false` once patience has run out (park instead).
    pub(crate) fn wait(&mut self) -> bool {
        if self.step < 7 {
            for _ in 0..(1u32 << self.step) {
                std::hint::spin_loop();
            }
        } else {
            let since = *self.since.get_or_insert_with(Instant::now);
            if since.elapsed() > PATIENCE {
                return false;
            }
            thread::yield_now();
        }
        self.step += 1;
        true
    }
}

static NEXT_WORKER: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The id of the delivery worker running on this thread (0: none).
    static WORKER: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The delivery worker running on this thread, if any.
pub(crate) fn current_worker() -> u64 {
    WORKER.with(std::cell::Cell::get)
}

pub(crate) enum Ctrl {
    Add(Arc<Sub>),
    /// Something changed (a subscription resumed or closed): look again.
    Wake,
}

/// The bus's handle on one worker.
#[derive(Debug)]
pub(crate) struct WorkerHandle {
    pub id: u64,
    ctrl: Sender<Ctrl>,
}

impl WorkerHandle {
    pub fn spawn(owner: &str, bus: Weak<BusInner>) -> std::io::Result<WorkerHandle> {
        let id = NEXT_WORKER.fetch_add(1, Ordering::Relaxed);
        let (ctrl, rx) = crossbeam_channel::unbounded();
        thread::Builder::new()
            .name(format!("sb-bus-{owner}"))
            .spawn(move || {
                WORKER.with(|w| w.set(id));
                run(&rx, &bus);
            })?;
        Ok(WorkerHandle { id, ctrl })
    }

    pub fn add(&self, sub: Arc<Sub>) {
        let _ = self.ctrl.send(Ctrl::Add(sub));
    }

    pub fn wake(&self) {
        let _ = self.ctrl.send(Ctrl::Wake);
    }
}

fn run(ctrl: &Receiver<Ctrl>, bus: &Weak<BusInner>) {
    let mut subs: Vec<Arc<Sub>> = Vec::new();
    let mut done: Vec<Slot> = Vec::with_capacity(BATCH);
    loop {
        subs.retain(|s| s.state.load(Ordering::Acquire) != CLOSED);
        let active: Vec<Arc<Sub>> = subs
            .iter()
            .filter(|s| s.state.load(Ordering::Acquire) == ACTIVE)
            .cloned()
            .collect();
        let mut sel = Select::new();
        let ctrl_index = sel.recv(ctrl);
        for s in &active {
            sel.recv(&s.rx);
        }
        let op = sel.select();
        let index = op.index();
        if index == ctrl_index {
            match op.recv(ctrl) {
                Ok(Ctrl::Add(sub)) => subs.push(sub),
                Ok(Ctrl::Wake) => {}
                // The bus is gone.
                Err(_) => return,
            }
            continue;
        }
        let Some(sub) = active.get(index - 1) else {
            continue;
        };
        let Ok(mut first) = op.recv(&sub.rx) else {
            continue;
        };
        let Some(bus) = bus.upgrade() else { return };
        let mut count = first.len();
        // The subscription's exact topic, lent to each envelope queued without one.
        let mut topic = sub.exact.clone();
        first.deliver_to(sub, &mut topic, |e| deliver(&bus, sub, e));
        // Delivered envelopes are dropped together after the batch: their shared reference
        // counts (topic, publisher, payload) then change hands between the publisher's core and
        // this one once per batch rather than once per envelope.
        done.push(first);
        let mut patience = Patience::default();
        while count < BATCH as u64 && sub.state.load(Ordering::Acquire) == ACTIVE {
            match sub.rx.try_recv() {
                Ok(mut slot) => {
                    patience = Patience::default();
                    count += slot.len();
                    slot.deliver_to(sub, &mut topic, |e| deliver(&bus, sub, e));
                    done.push(slot);
                }
                // Empty for now: a publisher that is mid-burst usually refills the queue within
                // microseconds, and waiting a little here is far cheaper than going to sleep
                // and being woken (a futex round trip per envelope when the worker is faster).
                Err(crossbeam_channel::TryRecvError::Empty) if patience.wait() => {}
                Err(_) => break,
            }
        }
        done.clear();
        // Caught up: the next overflow is a new episode and gets its own notice.
        let lagging = &sub.counters.publish.lagging;
        if lagging.load(Ordering::Relaxed) && sub.rx.is_empty() {
            lagging.store(false, Ordering::Relaxed);
        }
    }
}

/// Runs the handler once, inside the envelope's trace context; a panic becomes an error.
///
/// The context is swapped in and out by hand rather than with [`TraceContext::enter`]'s drop
/// guard: the handler cannot unwind past `catch_unwind`, so there is nothing for a guard to
/// do, and it cost a landing pad and a second copy of the context per envelope.
#[inline]
pub(crate) fn run_handler(sub: &Sub, envelope: &Envelope) -> Result<(), PluginError> {
    let outer = TraceContext::swap(Some(envelope.context()));
    let run = catch_unwind(AssertUnwindSafe(|| sub.handler.handle(envelope)));
    TraceContext::swap(outer);
    match run {
        Ok(r) => r,
        Err(payload) => panicked(&*payload),
    }
}

/// A handler's panic as an error.
#[cold]
#[inline(never)]
fn panicked(payload: &(dyn std::any::Any + Send)) -> Result<(), PluginError> {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned());
    Err(PluginError::with_code(
        codes::PLUGIN_PANICKED,
        format!("the handler panicked: {text}"),
    ))
}

/// An envelope the handler could not decode: the publisher's fault, so it is counted against
/// the publisher — dead-lettered at once (a retry would fail the same way), and after
/// `cut_off_after` in a row that publisher's envelopes stop reaching this subscription. The
/// subscriber's breaker neither counts it nor resets: no publisher can open it, or close it.
#[cold]
fn undecodable(bus: &BusInner, sub: &Sub, envelope: &Envelope, e: &PluginError) {
    bump(&sub.counters.deliver.undecodable);
    bump(&sub.counters.deliver.dead_lettered);
    let publisher = envelope.publisher();
    let error = format!("{}: {}", e.code(), e.message());
    let letter = Outgoing {
        topic: DEAD_LETTER_TOPIC.into(),
        payload: Arc::from(envelope.payload()),
        headers: vec![
            ("original-topic".into(), envelope.topic().into()),
            ("original-id".into(), envelope.id().to_string().into()),
            ("publisher".into(), publisher.into()),
            ("subscription".into(), sub.id.to_string().into()),
            ("subscriber".into(), (*sub.owner).into()),
            ("attempts".into(), "1".into()),
            ("reason".into(), "undecodable".into()),
            ("error".into(), error.clone().into()),
        ],
        ttl: None,
    };
    envelope.context().enter(|| bus.publish_system(letter));
    let (streak, cut) = sub
        .publishers
        .undecodable(publisher, sub.opts.cut_off_after);
    if cut {
        tracing::warn!(
            target: "switchboard::bus",
            "subscription {} (`{}`) of `{}` no longer takes envelopes from `{publisher}`: \
             {streak} in a row did not decode; last: {error}",
            sub.id, sub.pattern, sub.owner
        );
        // Recorded before the notice, so whoever sees the notice finds the row.
        if let Some(audit) = bus.audit.get() {
            let row = AuditEvent::new(
                AuditKind::Deny,
                publisher,
                format!("events.deliver:{}", sub.pattern),
                serde_json::json!({
                    "code": codes::BAD_EVENT.to_string(),
                    "reason": format!("cut off after {streak} undecodable events in a row"),
                    "subscriber": &*sub.owner,
                    "subscription": sub.id.0,
                    "last_error": error,
                    "at": "runtime",
                }),
            );
            if let Err(e) = audit.append(&row) {
                tracing::error!(target: "switchboard::audit", "cannot record that `{publisher}` was cut off: {e}");
            }
        }
        notify(
            bus,
            envelope,
            CUT_OFF_TOPIC,
            &error,
            vec![
                ("publisher".into(), publisher.into()),
                ("subscription".into(), sub.id.to_string().into()),
                ("subscriber".into(), (*sub.owner).into()),
                ("pattern".into(), sub.pattern.as_str().into()),
                ("undecodable".into(), streak.to_string().into()),
            ],
        );
    }
}

/// Publishes a `system.*` notice about a subscription, in the trace of the envelope that
/// caused it.
fn notify(bus: &BusInner, envelope: &Envelope, topic: &str, text: &str, headers: Vec<Header>) {
    let notice = Outgoing {
        topic: topic.into(),
        payload: Arc::from(text.as_bytes()),
        headers,
        ttl: None,
    };
    envelope.context().enter(|| bus.publish_system(notice));
}

/// Delivers one envelope to one subscription: TTL, attempts, dead letters, the breaker.
///
/// At-most-once (the default, one attempt) takes a short path of its own; failures, at-least-
/// once retries and their dead letters are out of line.
#[inline]
pub(crate) fn deliver(bus: &BusInner, sub: &Sub, envelope: &Envelope) {
    if !matches!(sub.opts.delivery, Delivery::AtMostOnce) {
        return deliver_retrying(bus, sub, envelope);
    }
    if envelope.has_ttl() && envelope.is_expired(Instant::now()) {
        bump(&sub.counters.deliver.expired);
        return;
    }
    match run_handler(sub, envelope) {
        Ok(()) => delivered(sub, envelope),
        Err(e) if e.code() == codes::BAD_EVENT => undecodable(bus, sub, envelope, &e),
        Err(e) => {
            bump(&sub.counters.deliver.failures);
            failed(bus, sub, envelope, 1, Some(e));
        }
    }
}

/// Counts a successful delivery: the breaker's streak and the publisher's end.
#[inline(always)]
fn delivered(sub: &Sub, envelope: &Envelope) {
    let d = &sub.counters.deliver;
    bump(&d.delivered);
    if d.streak.load(Ordering::Relaxed) != 0 {
        d.streak.store(0, Ordering::Relaxed);
    }
    if sub.publishers.any_streak() {
        sub.publishers.delivered(envelope.publisher());
    }
}

/// [`deliver`] under at-least-once: attempts with back-off, then the dead-letter topic.
#[inline(never)]
fn deliver_retrying(bus: &BusInner, sub: &Sub, envelope: &Envelope) {
    let (attempts, mut backoff, max_backoff) = match sub.opts.delivery {
        Delivery::AtMostOnce => (1, Duration::ZERO, Duration::ZERO),
        Delivery::AtLeastOnce {
            max_attempts,
            backoff,
            max_backoff,
        } => (max_attempts.max(1), backoff, max_backoff),
    };
    let mut last_error = None;
    for attempt in 1..=attempts {
        if envelope.has_ttl() && envelope.is_expired(Instant::now()) {
            bump(&sub.counters.deliver.expired);
            return;
        }
        match run_handler(sub, envelope) {
            Ok(()) => return delivered(sub, envelope),
            Err(e) if e.code() == codes::BAD_EVENT => return undecodable(bus, sub, envelope, &e),
            Err(e) => {
                bump(&sub.counters.deliver.failures);
                last_error = Some(e);
                if attempt < attempts {
                    bump(&sub.counters.deliver.redelivered);
                    if !backoff.is_zero() {
                        thread::sleep(backoff);
                    }
                    backoff = (backoff * 2).min(max_backoff);
                }
            }
        }
    }
    failed(bus, sub, envelope, attempts, last_error);
}

/// After the last failed attempt: the dead letter (at-least-once) and the breaker.
#[cold]
#[inline(never)]
fn failed(
    bus: &BusInner,
    sub: &Sub,
    envelope: &Envelope,
    attempts: u32,
    last_error: Option<PluginError>,
) {
    let error = last_error
        .map(|e| format!("{}: {}", e.code(), e.message()))
        .unwrap_or_default();
    if matches!(sub.opts.delivery, Delivery::AtLeastOnce { .. }) {
        bump(&sub.counters.deliver.dead_lettered);
        let letter = Outgoing {
            topic: DEAD_LETTER_TOPIC.into(),
            payload: Arc::from(envelope.payload()),
            headers: vec![
                ("original-topic".into(), envelope.topic().into()),
                ("original-id".into(), envelope.id().to_string().into()),
                ("subscription".into(), sub.id.to_string().into()),
                ("subscriber".into(), (*sub.owner).into()),
                ("attempts".into(), attempts.to_string().into()),
                ("error".into(), error.clone().into()),
            ],
            ttl: None,
        };
        envelope.context().enter(|| bus.publish_system(letter));
    }
    let d = &sub.counters.deliver;
    let streak = d.streak.load(Ordering::Relaxed).saturating_add(1);
    d.streak.store(streak, Ordering::Relaxed);
    if sub.opts.breaker > 0
        && streak >= sub.opts.breaker
        && sub
            .state
            .compare_exchange(ACTIVE, SUSPENDED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    {
        tracing::warn!(
            target: "switchboard::bus",
            "subscription {} (`{}`) of `{}` suspended after {streak} consecutive failures; last: {error}",
            sub.id, sub.pattern, sub.owner
        );
        notify(
            bus,
            envelope,
            SUSPENDED_TOPIC,
            &error,
            vec![
                ("subscription".into(), sub.id.to_string().into()),
                ("subscriber".into(), (*sub.owner).into()),
                ("pattern".into(), sub.pattern.as_str().into()),
                ("failures".into(), streak.to_string().into()),
            ],
        );
    }
}
