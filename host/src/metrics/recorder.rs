//! What the call path records: per command, calls (striped counters), errors by code and a
//! latency histogram; per plugin, restarts, reloads and panics. Nothing here takes a lock.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use switchboard_sdk::ErrorCode;

use super::histogram::AtomicHistogram;

/// Owned counter stripes per command: each belongs to one thread at a time, which adds to
/// it with a plain load and store (no locked instruction on the call path); threads calling
/// one command at once add to different cache lines. A thread that finds every stripe owned
/// adds to one more, shared, atomically.
const STRIPES: usize = 8;
/// The shared stripe's index.
const SHARED: usize = STRIPES;
/// A fast command is timed on one call in this many (a clock read costs more than such a
/// call, ARCHITECTURE "Metrics"); each timed call then counts for this many.
pub(crate) const SAMPLE_EVERY: u64 = 64;
/// A timed call at least this long makes the command slow: every call of it is timed.
const SLOW_NANOS: u64 = 4_000;
/// A timed call of a slow command under this makes it fast again.
const FAST_NANOS: u64 = 1_000;
/// Distinct error codes one command counts separately; others are counted together.
const ERROR_SLOTS: usize = 16;

/// Aligned to a cache line (128 bytes covers adjacent-line prefetching).
#[derive(Default)]
#[repr(align(128))]
struct Stripe {
    calls: AtomicU64,
}

/// Which thread owns each stripe index, in every recorder at once.
static OWNED: [AtomicBool; STRIPES] = [const { AtomicBool::new(false) }; STRIPES];

thread_local! {
    /// This thread's stripe: one it owns (below [`STRIPES`]), [`SHARED`], or `usize::MAX`
    /// until its first metered call. No destructor, so reading it costs no registration
    /// check; the ownership is given back by [`OWNER`]'s.
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    /// Gives this thread's stripe back when the thread ends.
    static OWNER: Owner = const { Owner };
}

/// The owner of a stripe index, for as long as its thread lives.
struct Owner;

impl Drop for Owner {
    fn drop(&mut self) {
        // Metered calls made later in this thread's teardown (other thread-locals'
        // destructors) add to the shared stripe, atomically. (`try_with`: on a target
        // without native thread-locals even `STRIPE` has a destructor, which may have run.)
        let s = STRIPE.try_with(|s| s.replace(SHARED)).unwrap_or(SHARED);
        if let Some(owned) = OWNED.get(s) {
            // Release: the next owner's claim (acquire) sees every count this thread stored.
            owned.store(false, Ordering::Release);
        }
    }
}

/// The stripe the calling thread adds to.
#[inline]
fn stripe() -> usize {
    let s = STRIPE.get();
    if s <= SHARED {
        return s;
    }
    claim_stripe()
}

/// The first metered call of a thread: the first free stripe index, owned until the thread
/// ends, or the shared one when all are taken (or the thread is too far into its teardown
/// to run a destructor).
#[cold]
fn claim_stripe() -> usize {
    let mut s = SHARED;
    if OWNER.try_with(|_| ()).is_ok() {
        for (i, owned) in OWNED.iter().enumerate() {
            if owned
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                s = i;
                break;
            }
        }
    }
    STRIPE.set(s);
    s
}

/// One command's counters.
pub(crate) struct CommandRecorder {
    stripes: [Stripe; STRIPES + 1],
    /// Set while the command's calls take long enough that timing every one costs little.
    slow: AtomicBool,
    /// [`SLOW_NANOS`], except in tests that need every call sampled the same way.
    slow_after: u64,
    latency: AtomicHistogram,
    /// Error codes (0: a free slot) and their counts, filled first come first served.
    error_codes: [AtomicU16; ERROR_SLOTS],
    error_counts: [AtomicU64; ERROR_SLOTS],
    /// Errors whose code found no free slot.
    other_errors: AtomicU64,
    /// Usage its calls reported, by unit (SPEC S1.6); locked only when a call reports some.
    usage: Mutex<BTreeMap<String, u64>>,
}

impl std::fmt::Debug for CommandRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandRecorder")
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

/// A metered call in progress: when it started, if it is one of those timed, and what a
/// timed call counts for.
#[must_use]
pub(crate) struct CallTimer {
    started: Option<(Instant, u64)>,
}

impl Default for CommandRecorder {
    fn default() -> Self {
        CommandRecorder {
            stripes: Default::default(),
            slow: AtomicBool::new(false),
            slow_after: SLOW_NANOS,
            latency: AtomicHistogram::default(),
            error_codes: Default::default(),
            error_counts: Default::default(),
            other_errors: AtomicU64::new(0),
            usage: Mutex::new(BTreeMap::new()),
        }
    }
}

/// Adds `amount` to `unit` in `map`, saturating.
fn add_to(map: &Mutex<BTreeMap<String, u64>>, unit: &str, amount: u64) {
    let mut map = map.lock();
    match map.get_mut(unit) {
        Some(total) => *total = total.saturating_add(amount),
        None => {
            map.insert(unit.to_owned(), amount);
        }
    }
}

impl CommandRecorder {
    /// Counts a call starting now; times it if it is slow or one of every
    /// [`SAMPLE_EVERY`].
    #[inline]
    pub(crate) fn start(&self) -> CallTimer {
        let n = self.count();
        let weight = if self.slow.load(Ordering::Relaxed) {
            1
        } else if n.is_multiple_of(SAMPLE_EVERY) {
            SAMPLE_EVERY
        } else {
            return CallTimer { started: None };
        };
        CallTimer {
            started: Some((Instant::now(), weight)),
        }
    }

    /// Adds one call to this thread's stripe; the stripe's count before it.
    #[inline]
    fn count(&self) -> u64 {
        let s = stripe();
        let calls = &self.stripes[s].calls;
        if s < STRIPES {
            // Owned: no other thread writes this stripe (of any recorder) while this thread
            // lives, so a load and a store count exactly, without a locked instruction.
            let n = calls.load(Ordering::Relaxed);
            calls.store(n + 1, Ordering::Relaxed);
            n
        } else {
            calls.fetch_add(1, Ordering::Relaxed)
        }
    }

    /// Ends the call `timer` started.
    #[inline]
    pub(crate) fn finish(&self, timer: CallTimer) {
        if let Some((started, weight)) = timer.started {
            self.timed(started, weight);
        }
    }

    #[inline(never)]
    fn timed(&self, started: Instant, weight: u64) {
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.latency.record(nanos, weight);
        let slow = self.slow.load(Ordering::Relaxed);
        if !slow && nanos >= self.slow_after {
            self.slow.store(true, Ordering::Relaxed);
        } else if slow && nanos < FAST_NANOS {
            self.slow.store(false, Ordering::Relaxed);
        }
    }

    /// Counts a failed call under `code`.
    #[cold]
    pub(crate) fn error(&self, code: ErrorCode) {
        let code = code.number().max(1);
        for (slot, count) in self.error_codes.iter().zip(&self.error_counts) {
            match slot.compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    count.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(held) if held == code => {
                    count.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(_) => {}
            }
        }
        self.other_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Calls counted so far.
    pub(crate) fn calls(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.calls.load(Ordering::Relaxed))
            .sum()
    }

    /// Errors counted so far, by code (`"other"` for codes past the slots).
    pub(crate) fn errors(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (slot, count) in self.error_codes.iter().zip(&self.error_counts) {
            let code = slot.load(Ordering::Acquire);
            let n = count.load(Ordering::Relaxed);
            if code != 0 && n > 0 {
                out.insert(ErrorCode::from_number(code).to_string(), n);
            }
        }
        let other = self.other_errors.load(Ordering::Relaxed);
        if other > 0 {
            out.insert("other".to_owned(), other);
        }
        out
    }

    /// The latencies recorded so far.
    pub(crate) fn latency(&self) -> hdrhistogram::Histogram<u64> {
        self.latency.read()
    }

    /// Counts usage a call reported.
    #[cold]
    pub(crate) fn add_usage(&self, unit: &str, amount: u64) {
        add_to(&self.usage, unit, amount);
    }

    /// Usage counted so far, by unit.
    pub(crate) fn usage(&self) -> BTreeMap<String, u64> {
        self.usage.lock().clone()
    }
}

/// One plugin's counters: its commands' recorders by name, and what happens to it as a whole.
#[derive(Debug, Default)]
pub(crate) struct PluginRecorder {
    /// Taken only when a handle is bound to a command, never on a call.
    commands: Mutex<BTreeMap<String, Arc<CommandRecorder>>>,
    pub(crate) restarts: AtomicU64,
    pub(crate) reloads: AtomicU64,
    pub(crate) panics: AtomicU64,
    /// Events delivered and dropped by subscriptions it no longer has (stopped, reloaded).
    events_retired: (AtomicU64, AtomicU64),
    /// Usage reported outside any command call (its own threads, event handlers), by unit.
    usage_outside: Mutex<BTreeMap<String, u64>>,
}

impl PluginRecorder {
    /// The recorder of command `name`, made on first use.
    pub(crate) fn command(&self, name: &str) -> Arc<CommandRecorder> {
        let mut commands = self.commands.lock();
        if let Some(c) = commands.get(name) {
            return c.clone();
        }
        let c = Arc::new(CommandRecorder::default());
        commands.insert(name.to_owned(), c.clone());
        c
    }

    /// Keeps the counts of subscriptions about to be removed.
    pub(crate) fn retire_events(&self, delivered: u64, dropped: u64) {
        self.events_retired
            .0
            .fetch_add(delivered, Ordering::Relaxed);
        self.events_retired.1.fetch_add(dropped, Ordering::Relaxed);
    }

    /// Events delivered and dropped by subscriptions removed before now.
    pub(crate) fn retired_events(&self) -> (u64, u64) {
        (
            self.events_retired.0.load(Ordering::Relaxed),
            self.events_retired.1.load(Ordering::Relaxed),
        )
    }

    /// Counts usage reported outside any command call.
    #[cold]
    pub(crate) fn add_usage_outside(&self, unit: &str, amount: u64) {
        add_to(&self.usage_outside, unit, amount);
    }

    /// Usage reported outside any command call so far, by unit.
    pub(crate) fn usage_outside(&self) -> BTreeMap<String, u64> {
        self.usage_outside.lock().clone()
    }

    /// Every command's recorder, by name.
    pub(crate) fn commands(&self) -> Vec<(String, Arc<CommandRecorder>)> {
        self.commands
            .lock()
            .iter()
            .map(|(n, c)| (n.clone(), c.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_is_counted_and_some_are_timed() {
        let r = CommandRecorder {
            slow_after: u64::MAX,
            ..CommandRecorder::default()
        };
        for _ in 0..SAMPLE_EVERY * 4 {
            let t = r.start();
            r.finish(t);
        }
        assert_eq!(r.calls(), SAMPLE_EVERY * 4);
        // Timed calls count for SAMPLE_EVERY each (the first call of a thread's stripe is
        // one), so the histogram's count is the number of calls on every stripe used.
        assert_eq!(r.latency().len(), SAMPLE_EVERY * 4);
    }

    #[test]
    fn a_slow_command_is_timed_on_every_call() {
        let r = CommandRecorder::default();
        r.slow.store(true, Ordering::Relaxed);
        let t = r.start();
        assert!(t.started.is_some_and(|(_, w)| w == 1));
        r.finish(t);
    }

    #[test]
    fn errors_are_counted_by_code_and_past_the_slots_together() {
        let r = CommandRecorder::default();
        r.error(ErrorCode::from_number(305));
        r.error(ErrorCode::from_number(305));
        for n in 1..=ERROR_SLOTS as u16 + 2 {
            r.error(ErrorCode::from_number(1000 + n));
        }
        let e = r.errors();
        assert_eq!(e["SB0305"], 2);
        assert_eq!(e["SB1001"], 1);
        assert_eq!(e["other"], 3);
    }

    #[test]
    fn threads_share_one_count() {
        let r = Arc::new(CommandRecorder::default());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let r = r.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        let t = r.start();
                        r.finish(t);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(r.calls(), 8000);
    }

    /// More threads at once than there are owned stripes (the rest share one, atomically),
    /// then more waves of them, which take over the stripes the ended threads gave back: no
    /// count is lost, as it would be if two threads ever stored to one stripe.
    #[test]
    fn counts_are_exact_with_more_threads_than_stripes_and_stripes_passed_on() {
        let r = Arc::new(CommandRecorder::default());
        let threads = STRIPES * 2 + 3;
        for _wave in 0..3 {
            let start = Arc::new(std::sync::Barrier::new(threads));
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let (r, start) = (r.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        for _ in 0..20_000 {
                            let t = r.start();
                            r.finish(t);
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
        }
        assert_eq!(r.calls(), 3 * threads as u64 * 20_000);
    }
}
