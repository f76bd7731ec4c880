//! The route table's snapshot: read on every publish without a reference count, replaced whole
//! on every subscription change.
//!
//! A reader announces the table it is about to use in a *hazard slot* of its own thread (one
//! per nesting level: an inline handler may publish while its publisher still holds the
//! table), then checks that the table is still current; a writer that replaces the table
//! frees the old one only once no slot names it. Whoever finds an old table still named
//! leaves it in the retired list, and the reader that stops naming it — the one that sees,
//! after clearing its slot, that the table is no longer current — frees it (or anything else
//! retired that no slot names). So a table, and the subscriptions and handlers only it still
//! holds, is dropped as soon as its last reader is done, on that reader's thread, with no
//! lock held: exactly when an `Arc` held by the reader would have been.
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

/// One thread's hazard slots: null when free. Only the owning thread writes them; readers
/// take the first free one, so guards may be dropped in any order.
#[repr(align(128))]
struct Hazards {
    slots: [AtomicPtr<()>; DEPTH],
}

/// Every thread's slots, ever: a thread that ends gives its slots back for the next thread,
/// so the list is as long as the most threads that ever read at once.
static THREADS: Mutex<Vec<&'static Hazards>> = Mutex::new(Vec::new());

/// Slots given back by threads that ended (all of them null: reads are scoped).
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
    // Registering the give-back fails only while the thread is ending (another thread-local's
    // destructor publishing): such a thread gets slots of its own that are never reused.
    let reusable = GIVE_BACK.try_with(|_| ()).is_ok();
    let reused = if reusable { FREE.lock().pop() } else { None };
    let h = reused.unwrap_or_else(|| {
        let h: &'static Hazards = Box::leak(Box::new(Hazards {
            slots: Default::default(),
        }));
        THREADS.lock().push(h);
        h
    });
    if reusable {
        let _ = MINE.try_with(|m| m.set(Some(h)));
    }
    h
}

/// Whether any thread's slot names `p`.
fn named(threads: &[&'static Hazards], p: *const ()) -> bool {
    threads.iter().any(|h| {
        h.slots
            .iter()
            .any(|s| s.load(Ordering::SeqCst).cast_const() == p)
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

impl<T> Snapshot<T> {
    pub(crate) fn new(value: Arc<T>) -> Snapshot<T> {
        Snapshot {
            ptr: AtomicPtr::new(Arc::as_ptr(&value).cast_mut()),
            current: Mutex::new(value),
            retired: Mutex::new(Vec::new()),
        }
    }

    /// The current value, held until the guard is dropped (on this thread: a guard is not
    /// `Send`). Holding it holds no lock.
    #[inline(always)]
    pub(crate) fn load(&self) -> Held<'_, T> {
        let h = mine();
        let Some(index) = h
            .slots
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
        let slot = &h.slots[index];
        let mut p = self.ptr.load(Ordering::Acquire);
        let mut retried = false;
        loop {
            slot.store(p.cast(), Ordering::SeqCst);
            let now = self.ptr.load(Ordering::SeqCst);
            if now == p {
                break;
            }
            p = now;
            retried = true;
        }
        if retried {
            // A writer may have seen the slot name the table it replaced and left that
            // table for us to free.
            self.reclaim();
        }
        Held {
            snapshot: self,
            value: p,
            how: How::Slot(h, index),
            _not_send: PhantomData,
        }
    }

    /// Replaces the value. The old one is dropped now if no reader holds it, otherwise by
    /// its last reader when it is done.
    pub(crate) fn store(&self, value: Arc<T>) {
        let old = {
            let mut current = self.current.lock();
            self.ptr
                .store(Arc::as_ptr(&value).cast_mut(), Ordering::SeqCst);
            std::mem::replace(&mut *current, value)
        };
        self.retired.lock().push(old);
        self.reclaim();
    }

    /// Drops every retired value no slot names (outside the locks: a value's `Drop` may use
    /// the bus).
    #[cold]
    #[inline(never)]
    fn reclaim(&self) {
        let free: Vec<Arc<T>> = {
            let mut retired = self.retired.lock();
            if retired.is_empty() {
                return;
            }
            let threads = THREADS.lock();
            let (free, kept) = std::mem::take(&mut *retired)
                .into_iter()
                .partition(|v| !named(&threads, Arc::as_ptr(v).cast()));
            *retired = kept;
            free
        };
        drop(free);
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
        // `Arc` the snapshot held when the slot named it and still held after (the check in
        // `load`); a replaced value is dropped only once no slot names it, and this slot
        // names it until `drop`.
        unsafe { &*self.value }
    }
}

impl<T> Drop for Held<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        if let How::Slot(h, index) = self.how {
            if let Some(slot) = h.slots.get(index) {
                slot.store(ptr::null_mut(), Ordering::SeqCst);
            }
            // Replaced while held: a writer may have left it for the last reader to free.
            if self.snapshot.ptr.load(Ordering::SeqCst).cast_const() != self.value {
                self.snapshot.reclaim();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    /// Counts its drops.
    struct Counted(Arc<AtomicU64>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_replaced_value_nobody_holds_is_dropped_at_once() {
        let drops = Arc::new(AtomicU64::new(0));
        let s = Snapshot::new(Arc::new(Counted(drops.clone())));
        drop(s.load());
        s.store(Arc::new(Counted(drops.clone())));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        drop(s);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_held_value_is_dropped_by_its_last_reader() {
        let drops = Arc::new(AtomicU64::new(0));
        let s = Snapshot::new(Arc::new(Counted(drops.clone())));
        let outer = s.load();
        let inner = s.load();
        s.store(Arc::new(Counted(drops.clone())));
        assert_eq!(drops.load(Ordering::SeqCst), 0, "still held");
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
        let s = Snapshot::new(Arc::new(Counted(drops.clone())));
        let mut held: Vec<_> = (0..DEPTH + 3).map(|_| s.load()).collect();
        // Dropped out of order, a slot is taken again by the next read.
        let third = held.remove(2);
        drop(third);
        let again = s.load();
        assert!(matches!(again.how, How::Slot(_, 2)));
        held.push(again);
        s.store(Arc::new(Counted(drops.clone())));
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(held);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        let again = s.load();
        assert!(matches!(again.how, How::Slot(_, 0)), "slots free again");
    }

    #[test]
    fn a_value_held_on_another_thread_outlives_the_store() {
        let drops = Arc::new(AtomicU64::new(0));
        let s = Arc::new(Snapshot::new(Arc::new(Counted(drops.clone()))));
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
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
        s.store(Arc::new(Counted(drops.clone())));
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        go_tx.send(()).unwrap();
        reader.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1, "freed by the reader");
    }

    #[test]
    fn readers_and_writers_race_without_losing_a_value() {
        let drops = Arc::new(AtomicU64::new(0));
        let s = Arc::new(Snapshot::new(Arc::new((
            AtomicU64::new(0),
            Counted(drops.clone()),
        ))));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (s, stop) = (s.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let v = s.load();
                        v.0.fetch_add(1, Ordering::Relaxed);
                        let w = s.load();
                        w.0.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        let stores = 2000;
        for _ in 0..stores {
            s.store(Arc::new((AtomicU64::new(0), Counted(drops.clone()))));
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(
            drops.load(Ordering::SeqCst),
            stores,
            "every replaced value dropped"
        );
        assert!(s.retired.lock().is_empty());
    }
}
