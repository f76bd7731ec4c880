//! The route table's snapshot: read on every publish without a reference count, replaced whole
//! on every subscription change.
//!
//! A reader announces the table it is about to use in a *hazard slot* of its own thread (one
//! per nesting level: an inline handler may publish while its publisher still holds the
//! table), then checks that the table is still current; a writer that replaces the table
//! frees the old one only once no slot names it. A slot names a table *of one snapshot*: it
//! records the snapshot it was read from next to the table's address, so a reader that
//! announced an address it read from one bus (and that was meanwhile freed and reused for
//! another bus's table) never makes the other bus keep its table.
//!
//! Who drops a replaced table, and the subscriptions and handlers only it still holds: the
//! writer, if no slot names it when it looks — [`Snapshot::store`] hands it back as
//! [`Freed`], for the caller to drop once it has released its own locks — otherwise it stays
//! in the retired list and whoever looks next after the last slot naming it is cleared drops
//! it: the reader that stops naming it (after clearing its slot it sees that the table has
//! changed), a reader whose announcement went stale and that tried again, or the next
//! writer, again through [`Freed`]. A reader drops it on its own thread after its read has
//! ended, holding no lock of the snapshot's; the bus never reads while holding its own locks,
//! so no bus lock is held whenever a table is dropped. Nothing outlives the last read that
//! uses it, as with an `Arc` held by the reader, except for the moment between a reader
//! clearing its slot and looking again.
//!
//! This is the classic hazard-pointer handshake: a reader stores its slot, then reads the
//! current pointer; a writer stores the pointer, then reads the slots, both sequentially
//! consistent, so either the reader sees the new table (and tries again) or the writer sees
//! the slot (and defers). It replaced an [`arc_swap`] load, whose per-thread debt list costs
//! about 150 instructions per load and guard on the publish path; this costs a thread-local
//! read, one locked store to enter and one to leave.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// How deeply one thread may nest reads (a publish from an inline handler of a publish …)
/// with a slot each; deeper reads take a reference count instead.
const DEPTH: usize = 8;

/// One thread's hazard slots: slot `i` is `values[i]` and `from[i]` (two arrays rather than
/// one of pairs, so a slot's index scales to either without a multiply). Only the owning
/// thread writes them; readers take the first free one, so guards may be dropped in any
/// order.
#[repr(align(128))]
struct Hazards {
    /// The value in use; null when the slot is free.
    values: [AtomicPtr<()>; DEPTH],
    /// The snapshot the value was read from: written (release) before the value, read
    /// (acquire) after it, so a writer that sees the value sees the snapshot it belongs to,
    /// or a later one, written only once the value was cleared.
    from: [AtomicPtr<()>; DEPTH],
}

/// Every thread's slots, ever: a thread that ends gives its slots back for the next thread,
/// so the list is as long as the most threads that ever read at once (plus one set per
/// thread that read while it was ending, see [`take_slots`]).
static THREADS: Mutex<Vec<&'static Hazards>> = Mutex::new(Vec::new());

/// Slots given back by threads that ended (all of them free: reads are scoped).
static FREE: Mutex<Vec<&'static Hazards>> = Mutex::new(Vec::new());

thread_local! {
    /// This thread's slots: a constant-initialised cell, read with no lazy-initialisation
    /// check.
    static MINE: Cell<Option<&'static Hazards>> = const { Cell::new(None) };
    /// Gives this thread's slots back when it ends.
    static GIVE_BACK: GiveBack = const { GiveBack };
}

struct GiveBack;

impl Drop for GiveBack {
    fn drop(&mut self) {
        if let Ok(Some(h)) = MINE.try_with(Cell::take) {
            FREE.lock().push(h);
        }
    }
}

/// This thread's slots, taken on its first read.
#[inline]
fn mine() -> &'static Hazards {
    match MINE.try_with(Cell::get) {
        Ok(Some(h)) => h,
        _ => take_slots(),
    }
}

#[cold]
#[inline(never)]
fn take_slots() -> &'static Hazards {
    // Registering the give-back fails only while the thread is ending, after the give-back
    // ran (another thread-local's destructor publishing): such a thread gets slots of its
    // own that are never given back, kept for the rest of its reads, so at most one set
    // leaks per thread.
    let reusable = GIVE_BACK.try_with(|_| ()).is_ok();
    let reused = if reusable { FREE.lock().pop() } else { None };
    let h = reused.unwrap_or_else(|| {
        let h: &'static Hazards = Box::leak(Box::new(Hazards {
            values: Default::default(),
            from: Default::default(),
        }));
        THREADS.lock().push(h);
        h
    });
    let _ = MINE.try_with(|m| m.set(Some(h)));
    h
}

/// Whether any thread's slot names `p` as a value of the snapshot `from`.
fn named(threads: &[&'static Hazards], from: *const (), p: *const ()) -> bool {
    threads.iter().any(|h| {
        h.values.iter().zip(&h.from).any(|(v, f)| {
            v.load(Ordering::SeqCst).cast_const() == p
                && f.load(Ordering::Acquire).cast_const() == from
        })
    })
}

/// A value replaced whole, read without a reference count (see the module's text).
pub(crate) struct Snapshot<T> {
    /// The current value: the pointer of `current`'s `Arc`.
    ptr: AtomicPtr<T>,
    /// Owns the current value; writers replace it under this lock, and reads nested too
    /// deeply for a slot clone it.
    current: Mutex<Arc<T>>,
    /// Replaced values some slot still named when last looked at.
    retired: Mutex<Vec<Arc<T>>>,
}

/// Replaced values no reader holds, handed back by [`Snapshot::store`]: the caller drops
/// them once it holds no lock their `Drop` might take.
#[must_use = "dropped here, the values' `Drop` runs under the caller's locks"]
pub(crate) struct Freed<T>(
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "held only to be dropped where the caller chooses")
    )]
    Vec<Arc<T>>,
);

#[cfg(test)]
impl<T> Freed<T> {
    /// How many values it frees.
    pub(crate) fn count(&self) -> usize {
        self.0.len()
    }
}

impl<T> Snapshot<T> {
    pub(crate) fn new(value: Arc<T>) -> Snapshot<T> {
        Snapshot {
            ptr: AtomicPtr::new(Arc::as_ptr(&value).cast_mut()),
            current: Mutex::new(value),
            retired: Mutex::new(Vec::new()),
        }
    }

    /// What a slot records as the snapshot its value was read from.
    #[inline(always)]
    fn id(&self) -> *mut () {
        ptr::from_ref(self).cast::<()>().cast_mut()
    }

    /// The current value, held until the guard is dropped (on this thread: a guard is not
    /// `Send`). Holding it holds no lock. Dropping the guard may drop replaced values (see
    /// the module's text), so it is dropped where no lock their `Drop` might take is held.
    #[inline(always)]
    pub(crate) fn load(&self) -> Held<'_, T> {
        let h = mine();
        let Some(index) = h
            .values
            .iter()
            .position(|s| s.load(Ordering::Relaxed).is_null())
        else {
            let counted = self.current.lock().clone();
            return Held {
                snapshot: self,
                value: Arc::as_ptr(&counted),
                how: How::Counted { _alive: counted },
                _not_send: PhantomData,
            };
        };
        h.from[index].store(self.id(), Ordering::Release);
        let slot = &h.values[index];
        let mut p = self.ptr.load(Ordering::Acquire);
        let mut retried = false;
        loop {
            slot.store(p.cast(), Ordering::SeqCst);
            #[cfg(test)]
            pause(Pause::Announced);
            let now = self.ptr.load(Ordering::SeqCst);
            if now == p {
                break;
            }
            p = now;
            retried = true;
        }
        if retried {
            return self.retried(p, h, index);
        }
        Held {
            snapshot: self,
            value: p,
            how: How::Slot(h, index),
            _not_send: PhantomData,
        }
    }

    /// The end of a read that tried again: a writer may have seen the slot name the value it
    /// replaced (announced before we saw it replaced) and left that value for us to free.
    #[cold]
    #[inline(never)]
    fn retried(&self, p: *mut T, h: &'static Hazards, index: usize) -> Held<'_, T> {
        // The guard first: should a freed value's `Drop` panic, unwinding drops the guard,
        // which clears the slot.
        let held = Held {
            snapshot: self,
            value: p,
            how: How::Slot(h, index),
            _not_send: PhantomData,
        };
        drop(self.reclaim());
        held
    }

    /// Replaces the value. Returns the replaced values no reader holds any more (the old
    /// one, unless a reader still holds it, and any earlier one whose last reader is done),
    /// for the caller to drop once it has released its locks; a held one is dropped by its
    /// last reader, or by a later `store`.
    pub(crate) fn store(&self, value: Arc<T>) -> Freed<T> {
        let old = {
            let mut current = self.current.lock();
            self.ptr
                .store(Arc::as_ptr(&value).cast_mut(), Ordering::SeqCst);
            std::mem::replace(&mut *current, value)
        };
        self.retired.lock().push(old);
        self.reclaim()
    }

    /// Takes every retired value no slot names.
    #[cold]
    #[inline(never)]
    fn reclaim(&self) -> Freed<T> {
        let mut retired = self.retired.lock();
        if retired.is_empty() {
            return Freed(Vec::new());
        }
        let threads = THREADS.lock();
        let from = self.id().cast_const();
        let (free, kept) = std::mem::take(&mut *retired)
            .into_iter()
            .partition(|v| !named(&threads, from, Arc::as_ptr(v).cast()));
        *retired = kept;
        Freed(free)
    }
}

/// How a [`Held`] holds its value.
enum How<T> {
    /// Named in slot `.1` of these slots.
    Slot(&'static Hazards, usize),
    /// By a reference count (reads nested deeper than the slots).
    Counted { _alive: Arc<T> },
}

/// A value read from a [`Snapshot`], valid until dropped.
pub(crate) struct Held<'s, T> {
    snapshot: &'s Snapshot<T>,
    /// The value, kept alive as `how` says.
    value: *const T,
    how: How<T>,
    /// The slot belongs to this thread.
    _not_send: PhantomData<*const T>,
}

#[expect(
    unsafe_code,
    reason = "a hazard-slot read hands out a reference to a value it does not count"
)]
impl<T> std::ops::Deref for Held<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: `value` came from the `Arc` in `how` (which keeps it alive), or from the
        // `Arc` the snapshot held when the slot named it (as this snapshot's) and still held
        // after (the check in `load`); a replaced value is dropped only once no slot names it
        // as this snapshot's, and this slot names it until `drop`.
        unsafe { &*self.value }
    }
}

impl<T> Drop for Held<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        if let How::Slot(h, index) = self.how {
            if let Some(slot) = h.values.get(index) {
                slot.store(ptr::null_mut(), Ordering::SeqCst);
            }
            #[cfg(test)]
            pause(Pause::Cleared);
            // Replaced while held: a writer may have left it for the last reader to free.
            if self.snapshot.ptr.load(Ordering::SeqCst).cast_const() != self.value {
                drop(self.snapshot.reclaim());
            }
        }
    }
}

/// Where a test may stop a read to run what another thread could do meanwhile
/// ([`pause_at`]).
#[cfg(test)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Pause {
    /// In `load`, after the slot names the value, before the check that it is current.
    Announced,
    /// In the guard's drop, after the slot is cleared, before the look for a replacement.
    Cleared,
}

/// A step to run at a pause point.
#[cfg(test)]
type Step = (Pause, Box<dyn FnOnce()>);

#[cfg(test)]
thread_local! {
    static PAUSES: std::cell::RefCell<Vec<Step>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` the next time a read on this thread gets to `at`, as if the reader were
/// preempted there and another thread ran `f`.
#[cfg(test)]
pub(crate) fn pause_at(at: Pause, f: impl FnOnce() + 'static) {
    PAUSES.with(|p| p.borrow_mut().push((at, Box::new(f))));
}

#[cfg(test)]
fn pause(at: Pause) {
    // `try_with`: a thread may read while it ends, after this was destroyed.
    let f = PAUSES
        .try_with(|p| {
            let mut p = p.borrow_mut();
            let i = p.iter().position(|(a, _)| *a == at)?;
            Some(p.remove(i).1)
        })
        .ok()
        .flatten();
    if let Some(f) = f {
        f();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64};
    use std::sync::mpsc;

    /// Counts its drops.
    struct Counted(Arc<AtomicU64>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counted(drops: &Arc<AtomicU64>) -> Arc<Counted> {
        Arc::new(Counted(drops.clone()))
    }

    fn all_slots_free() -> bool {
        mine()
            .values
            .iter()
            .all(|s| s.load(Ordering::SeqCst).is_null())
    }

    #[test]
    fn a_replaced_value_nobody_holds_is_handed_back_to_the_writer() {
        let drops = Arc::new(AtomicU64::new(0));
        let s = Snapshot::new(counted(&drops));
        drop(s.load());
        let freed = s.store(counted(&drops));
        assert_eq!(freed.count(), 1);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            0,
            "not before the writer drops it"
        );
        drop(freed);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        drop(s);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_held_value_is_dropped_by_its_last_reader() {
        let drops = Arc::new(AtomicU64::new(0));
        let s = Snapshot::new(counted(&drops));
        let outer = s.load();
        let inner = s.load();
        assert_eq!(s.store(counted(&drops)).count(), 0, "still held");
        let fresh = s.load();
        assert!(!ptr::eq(&*fresh, &*outer));
        drop(fresh);
        drop(inner);
        assert_eq!(drops.load(Ordering::SeqCst), 0, "the outer read holds it");
        drop(outer);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "dropped by its last reader"
        );
    }

    #[test]
    fn reads_nested_deeper_than_the_slots_hold_a_count() {
        let drops = Arc::new(AtomicU64::new(0));
        let s = Snapshot::new(counted(&drops));
        let mut held: Vec<_> = (0..DEPTH + 3).map(|_| s.load()).collect();
        // Dropped out of order, a slot is taken again by the next read.
        let third = held.remove(2);
        drop(third);
        let again = s.load();
        assert!(matches!(again.how, How::Slot(_, 2)));
        held.push(again);
        drop(s.store(counted(&drops)));
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(held);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        let again = s.load();
        assert!(matches!(again.how, How::Slot(_, 0)), "slots free again");
    }

    #[test]
    fn a_value_held_on_another_thread_outlives_the_store() {
        let drops = Arc::new(AtomicU64::new(0));
        let s = Arc::new(Snapshot::new(counted(&drops)));
        let (held_tx, held_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let reader = {
            let s = s.clone();
            std::thread::spawn(move || {
                let v = s.load();
                held_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                drop(v);
            })
        };
        held_rx.recv().unwrap();
        drop(s.store(counted(&drops)));
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        go_tx.send(()).unwrap();
        reader.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1, "freed by the reader");
    }

    #[test]
    fn a_reader_overtaken_after_clearing_its_slot_leaves_the_value_to_the_next_writer() {
        let drops = Arc::new(AtomicU64::new(0));
        let s = Arc::new(Snapshot::new(counted(&drops)));
        let held = s.load();
        assert_eq!(s.store(counted(&drops)).count(), 0, "held");
        let (freed_tx, freed_rx) = mpsc::channel();
        {
            let (s, drops) = (s.clone(), drops.clone());
            pause_at(Pause::Cleared, move || {
                let freed = s.store(counted(&drops));
                freed_tx.send(freed.count()).unwrap();
            });
        }
        drop(held);
        assert_eq!(
            freed_rx.recv().unwrap(),
            2,
            "the writer that ran while the reader was stopped takes both"
        );
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        assert!(s.retired.lock().is_empty());
    }

    #[test]
    fn a_slot_naming_a_value_of_another_snapshot_keeps_nothing() {
        let drops = Arc::new(AtomicU64::new(0));
        let a = Snapshot::new(counted(&drops));
        let b = Snapshot::new(counted(&drops));
        // A reader of `a` read an address, was stopped, `a` freed that value and `b`'s took
        // its place; the reader announces the address and has not yet seen that `a` moved
        // on. `b` must not keep its value for it.
        let (slot, from) = (&mine().values[DEPTH - 1], &mine().from[DEPTH - 1]);
        from.store(a.id(), Ordering::Release);
        slot.store(b.ptr.load(Ordering::SeqCst).cast(), Ordering::SeqCst);
        let freed = b.store(counted(&drops));
        let as_a_slot_of_b = {
            from.store(b.id(), Ordering::Release);
            slot.store(b.ptr.load(Ordering::SeqCst).cast(), Ordering::SeqCst);
            b.store(counted(&drops))
        };
        slot.store(ptr::null_mut(), Ordering::SeqCst);
        assert_eq!(freed.count(), 1, "a slot of `a` does not hold `b`'s value");
        assert_eq!(
            as_a_slot_of_b.count(),
            0,
            "the same slot as `b`'s holds it (the check is not vacuous)"
        );
        drop((freed, as_a_slot_of_b));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        drop(b.store(counted(&drops)));
        assert_eq!(
            drops.load(Ordering::SeqCst),
            3,
            "freed once no slot names it"
        );
    }

    /// Panics when dropped, if told to.
    struct Bomb {
        panics: bool,
        drops: Arc<AtomicU64>,
    }

    impl Drop for Bomb {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
            assert!(!self.panics, "a value whose drop panics");
        }
    }

    #[test]
    fn a_panic_while_a_read_frees_values_leaves_its_slot_free() {
        let drops = Arc::new(AtomicU64::new(0));
        let bomb = |panics| {
            Arc::new(Bomb {
                panics,
                drops: drops.clone(),
            })
        };
        let s = Arc::new(Snapshot::new(bomb(true)));
        {
            // Replaced between the reader's announcing it and its check: the writer sees
            // the slot and keeps it; the reader tries again and frees it, and its drop
            // panics.
            let (s, next) = (s.clone(), bomb(false));
            pause_at(Pause::Announced, move || {
                assert_eq!(s.store(next).count(), 0, "the slot names it");
            });
        }
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(s.load())));
        assert!(unwound.is_err());
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert!(all_slots_free(), "unwinding cleared the slot");
        let freed = s.store(bomb(false));
        assert_eq!(freed.count(), 1, "no slot still names the value read");
        drop(freed);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }

    /// Reads in its `Drop`, which runs while its thread ends.
    struct ReadsWhileEnding {
        snapshot: Arc<Snapshot<u32>>,
        report: mpsc::Sender<(bool, Vec<usize>)>,
    }

    impl Drop for ReadsWhileEnding {
        fn drop(&mut self) {
            let given_back = GIVE_BACK.try_with(|_| ()).is_err();
            let sets = (0..3)
                .map(|_| match &self.snapshot.load().how {
                    How::Slot(h, _) => ptr::from_ref(*h).addr(),
                    How::Counted { .. } => 0,
                })
                .collect();
            let _ = self.report.send((given_back, sets));
        }
    }

    thread_local! {
        static ENDING: std::cell::RefCell<Option<ReadsWhileEnding>> =
            const { std::cell::RefCell::new(None) };
    }

    #[test]
    fn a_thread_reading_while_it_ends_takes_one_set_of_slots() {
        let s = Arc::new(Snapshot::new(Arc::new(7)));
        let (tx, rx) = mpsc::channel();
        {
            let s = s.clone();
            std::thread::spawn(move || {
                // Set before the thread's first read registers the give-back, so it is
                // destroyed after the slots were given back (destructors run in reverse).
                ENDING.with(|e| {
                    *e.borrow_mut() = Some(ReadsWhileEnding {
                        snapshot: s.clone(),
                        report: tx,
                    });
                });
                assert_eq!(*s.load(), 7);
            })
            .join()
            .unwrap();
        }
        let (given_back, sets) = rx.recv().unwrap();
        assert!(given_back, "the reads ran after the give-back");
        assert_ne!(sets[0], 0);
        assert!(
            sets.iter().all(|&h| h == sets[0]),
            "one set of slots for every read: {sets:?}"
        );
    }

    /// A value of the race below: its id, and a mark in `dropped` when dropped.
    struct Marked {
        id: usize,
        dropped: Arc<Vec<AtomicBool>>,
    }

    impl Drop for Marked {
        fn drop(&mut self) {
            let twice = self.dropped[self.id].swap(true, Ordering::SeqCst);
            assert!(!twice, "value {} dropped twice", self.id);
        }
    }

    #[test]
    fn readers_and_writers_race_without_losing_a_value() {
        let stores = 2000;
        // Two snapshots, read nested and replaced in turn, so slots of one snapshot name
        // values while the other is replaced.
        let dropped: Arc<Vec<AtomicBool>> = Arc::new(
            (0..2 * (stores + 1))
                .map(|_| AtomicBool::new(false))
                .collect(),
        );
        let marked = |id| {
            Arc::new(Marked {
                id,
                dropped: dropped.clone(),
            })
        };
        let snapshots = Arc::new([Snapshot::new(marked(0)), Snapshot::new(marked(1))]);
        let stop = Arc::new(AtomicBool::new(false));
        let start = Arc::new(std::sync::Barrier::new(4));
        let readers: Vec<_> = (0..3)
            .map(|r: usize| {
                let (snapshots, stop, dropped, start) = (
                    snapshots.clone(),
                    stop.clone(),
                    dropped.clone(),
                    start.clone(),
                );
                std::thread::spawn(move || {
                    let alive = |id: usize| !dropped[id].load(Ordering::SeqCst);
                    start.wait();
                    while !stop.load(Ordering::Relaxed) {
                        let v = snapshots[r % 2].load();
                        let v_id = v.id;
                        assert!(alive(v_id), "read value {v_id}, already dropped");
                        let w = snapshots[(r + 1) % 2].load();
                        let w_id = w.id;
                        assert!(alive(w_id), "read value {w_id}, already dropped");
                        std::hint::spin_loop();
                        assert!(alive(w_id), "value {w_id} dropped while held");
                        drop(w);
                        assert!(alive(v_id), "value {v_id} dropped while held");
                        drop(v);
                    }
                })
            })
            .collect();
        start.wait();
        for id in 2..2 * (stores + 1) {
            drop(snapshots[id % 2].store(marked(id)));
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
        let current = [2 * stores, 2 * stores + 1];
        for (id, d) in dropped.iter().enumerate() {
            assert_eq!(
                d.load(Ordering::SeqCst),
                !current.contains(&id),
                "value {id}: every replaced value dropped, the current ones not"
            );
        }
        assert!(snapshots.iter().all(|s| s.retired.lock().is_empty()));
    }
}
