//! Which plugins each thread is calling into right now: what a hot reload waits for before it
//! hands a plugin's state over, paid for by the reload rather than by every call.
//!
//! A call writes its instance's address into a small per-thread stack (plain stores to memory
//! only that thread writes) and pops it when it returns: no reference count, no locked
//! instruction. A reload moves the instance to `reloading`, then runs `membarrier(2)`
//! (`MEMBARRIER_CMD_PRIVATE_EXPEDITED`), which puts a full memory barrier on every thread of
//! the process, and then scans every thread's stack. That is the asymmetric form of Dekker's
//! handshake: a call stores its entry, then reads the state; the reload stores the state, then
//! (after the barrier) reads the entries — so either the call sees `reloading` and waits, or
//! the reload sees the call and waits for it to return. Where `membarrier` is missing (not
//! Linux, an old kernel, a seccomp filter), calls fence themselves instead (`SeqCst`), which is
//! correct and costs a locked instruction per call.
//!
//! Measured by issue 17's and 18's profiles: an `ArcSwap` guard on the call path cost about 55
//! instructions and a sequentially consistent store; this costs a thread-local lookup, three
//! plain stores and a load of the thread's own `fenced` flag (whether it must fence itself).

use std::cell::Cell;
use std::sync::atomic::{compiler_fence, fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Calls one thread can be inside at once (a plugin calling the host calling another plugin…)
/// and still be told apart; deeper nesting is counted and treated as holding every instance.
const DEPTH: usize = 8;

/// One thread's calls in progress.
struct Slots {
    /// How many calls deep the thread is.
    depth: AtomicUsize,
    /// The instances of the first `DEPTH` of them, outermost first.
    ids: [AtomicUsize; DEPTH],
    /// Whether this thread's calls fence themselves: `membarrier` is not registered (or was
    /// refused since). Each thread's own flag, next to `depth`, so a call tests a field it
    /// has in hand rather than a global; set and cleared for every thread's slots at once,
    /// under `THREADS`' lock, whenever `EXPEDITED` changes.
    fenced: AtomicBool,
}

impl Slots {
    /// Whether this thread is inside a call into `id`.
    fn holds(&self, id: usize) -> bool {
        let depth = self.depth.load(Ordering::Acquire);
        depth > DEPTH
            || self.ids[..depth]
                .iter()
                .any(|slot| slot.load(Ordering::Acquire) == id)
    }
}

/// Every thread's slots, ever: a thread that ends gives its slots back for the next thread to
/// use, so the list is as long as the most threads that ever made calls at once.
static THREADS: Mutex<Vec<&'static Slots>> = Mutex::new(Vec::new());

/// Slots given back by threads that ended.
static FREE: Mutex<Vec<&'static Slots>> = Mutex::new(Vec::new());

thread_local! {
    /// This thread's slots: a constant-initialised cell, so a call reads it with no
    /// lazy-initialisation check.
    static MINE: Cell<Option<&'static Slots>> = const { Cell::new(None) };
    /// Gives this thread's slots back when it ends.
    static GIVE_BACK: GiveBack = const { GiveBack };
}

struct GiveBack;

impl Drop for GiveBack {
    fn drop(&mut self) {
        if let Ok(Some(slots)) = MINE.try_with(|m| m.take()) {
            FREE.lock().push(slots);
        }
    }
}

/// This thread's slots, taken on its first call.
#[inline]
fn mine() -> &'static Slots {
    MINE.with(|m| m.get()).unwrap_or_else(take_slots)
}

#[cold]
#[inline(never)]
fn take_slots() -> &'static Slots {
    // Registering the give-back fails only while the thread is ending (another thread-local's
    // destructor making a call): such a thread gets slots of its own that are never reused.
    let reusable = GIVE_BACK.try_with(|_| ()).is_ok();
    let reused = if reusable { FREE.lock().pop() } else { None };
    let slots = reused.unwrap_or_else(|| {
        let slots: &'static Slots = Box::leak(Box::new(Slots {
            depth: AtomicUsize::new(0),
            ids: Default::default(),
            fenced: AtomicBool::new(true),
        }));
        // Read under the lock that `set_expedited` marks every thread's slots under: either
        // it sees these slots, or this reads what it stored.
        let mut threads = THREADS.lock();
        threads.push(slots);
        slots
            .fenced
            .store(!EXPEDITED.load(Ordering::SeqCst), Ordering::SeqCst);
        drop(threads);
        slots
    });
    if reusable {
        let _ = MINE.try_with(|m| m.set(Some(slots)));
    }
    slots
}

/// Whether `membarrier` is registered for this process: what a reload's wait uses, and what a
/// thread's slots are made with (calls read their own slots' `fenced`).
static EXPEDITED: AtomicBool = AtomicBool::new(false);
static REGISTER: Once = Once::new();

/// Registers this process for expedited `membarrier`, once; until it has, and where it
/// cannot, calls fence themselves. Called when an instance is made.
pub(crate) fn init() {
    REGISTER.call_once(|| {
        if register_membarrier() {
            set_expedited(true);
        }
    });
}

/// Records whether `membarrier` is registered, and so whether calls fence themselves, in
/// `EXPEDITED` and in every thread's slots, all under `THREADS`' lock (which `take_slots`
/// reads `EXPEDITED` under). Refused, the threads fence before `EXPEDITED` says so: no moment
/// in which a wait relies on a barrier while calls skip their fence.
fn set_expedited(expedited: bool) {
    let threads = THREADS.lock();
    if expedited {
        EXPEDITED.store(true, Ordering::SeqCst);
    }
    for slots in threads.iter() {
        slots.fenced.store(!expedited, Ordering::SeqCst);
    }
    if !expedited {
        EXPEDITED.store(false, Ordering::SeqCst);
    }
}

/// A call into the instance at `id` in progress on this thread, until dropped.
pub(crate) struct Entered {
    /// The slots of the thread that entered (an `Entered` is not `Send`: `&Slots` would be,
    /// but it is only made and dropped inside one call on one thread).
    slots: &'static Slots,
}

/// Marks a call into the instance at `id` as running on this thread. The instance's state
/// must be read after this returns (and the call given up if it is not `active`).
#[inline]
pub(crate) fn enter(id: usize) -> Entered {
    let slots = mine();
    let depth = slots.depth.load(Ordering::Relaxed);
    if let Some(slot) = slots.ids.get(depth) {
        slot.store(id, Ordering::Relaxed);
    }
    slots.depth.store(depth + 1, Ordering::Release);
    if slots.fenced.load(Ordering::Relaxed) {
        fence(Ordering::SeqCst);
    } else {
        compiler_fence(Ordering::SeqCst);
    }
    Entered { slots }
}

/// How many command calls deep this thread is now (0: in none). Usage a plugin reports is
/// filed under the depth it was reported at (see `usage`).
pub(crate) fn depth() -> usize {
    MINE.try_with(Cell::get)
        .ok()
        .flatten()
        .map_or(0, |s| s.depth.load(Ordering::Relaxed))
}

impl Drop for Entered {
    #[inline]
    fn drop(&mut self) {
        // At least one: this `Entered` added it.
        let depth = self.slots.depth.load(Ordering::Relaxed);
        self.slots
            .depth
            .store(depth.wrapping_sub(1), Ordering::Release);
    }
}

/// Waits until no thread but this one is inside a call into the instance at `id`, at most
/// `deadline`; `false` if one still is. The instance must already refuse new calls (its state
/// stored before this is called).
pub(crate) fn wait_idle(id: usize, deadline: Duration) -> bool {
    if EXPEDITED.load(Ordering::SeqCst) {
        membarrier();
    } else {
        fence(Ordering::SeqCst);
    }
    let me = MINE.try_with(Cell::get).ok().flatten();
    let others: Vec<&'static Slots> = THREADS
        .lock()
        .iter()
        .copied()
        .filter(|t| !me.is_some_and(|m| std::ptr::eq(m, *t)))
        .collect();
    wait_until(deadline, || !others.iter().any(|t| t.holds(id)))
}

/// Polls `done` until it is true (`true`) or `deadline` has passed (`false`): a few hundred
/// yields first, since what is waited for is usually a call about to return, then 50 µs
/// sleeps.
pub(crate) fn wait_until(deadline: Duration, mut done: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + deadline;
    let mut spins = 0u32;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        if spins < 200 {
            std::thread::yield_now();
            spins += 1;
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}

#[cfg(target_os = "linux")]
#[expect(
    unsafe_code,
    reason = "membarrier(2) has no safe wrapper; a raw syscall with integer arguments"
)]
fn register_membarrier() -> bool {
    // SAFETY: membarrier takes two integers and a CPU id and touches no memory of ours.
    let query = unsafe { libc::syscall(libc::SYS_membarrier, libc::MEMBARRIER_CMD_QUERY, 0, 0) };
    if query < 0 || query & i64::from(libc::MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0 {
        return false;
    }
    // SAFETY: as above.
    let registered = unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            libc::MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
            0,
            0,
        )
    };
    registered == 0
}

#[cfg(not(target_os = "linux"))]
fn register_membarrier() -> bool {
    false
}

#[cfg(target_os = "linux")]
#[expect(
    unsafe_code,
    reason = "membarrier(2) has no safe wrapper; a raw syscall with integer arguments"
)]
fn membarrier() {
    // SAFETY: membarrier takes two integers and a CPU id and touches no memory of ours.
    let done = unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            libc::MEMBARRIER_CMD_PRIVATE_EXPEDITED,
            0,
            0,
        )
    };
    if done != 0 {
        // Registered but refused now: every later call fences itself, and this wait fences.
        set_expedited(false);
        fence(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(not(target_os = "linux"))]
fn membarrier() {
    fence(Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn a_wait_sees_a_call_on_another_thread_until_it_returns() {
        init();
        let id = 0xdead_0001;
        let (entered_tx, entered_rx) = mpsc::channel();
        let (leave_tx, leave_rx) = mpsc::channel::<()>();
        let caller = std::thread::spawn(move || {
            let guard = enter(id);
            entered_tx.send(()).unwrap();
            leave_rx.recv().unwrap();
            drop(guard);
        });
        entered_rx.recv().unwrap();
        assert!(!wait_idle(id, Duration::ZERO), "the call is still running");
        assert!(
            wait_idle(0xdead_0002, Duration::ZERO),
            "another instance is idle"
        );
        leave_tx.send(()).unwrap();
        caller.join().unwrap();
        assert!(wait_idle(id, Duration::from_secs(30)));
    }

    #[test]
    fn nested_calls_are_told_apart_and_deep_ones_counted() {
        init();
        let (entered_tx, entered_rx) = mpsc::channel();
        let (leave_tx, leave_rx) = mpsc::channel::<()>();
        let caller = std::thread::spawn(move || {
            let outer = enter(0xbeef_0001);
            let inner = enter(0xbeef_0002);
            entered_tx.send(()).unwrap();
            leave_rx.recv().unwrap();
            drop(inner);
            entered_tx.send(()).unwrap();
            leave_rx.recv().unwrap();
            drop(outer);
            let deep: Vec<Entered> = (0..DEPTH + 2).map(|i| enter(0xbeef_1000 + i)).collect();
            entered_tx.send(()).unwrap();
            leave_rx.recv().unwrap();
            drop(deep);
        });
        entered_rx.recv().unwrap();
        assert!(!wait_idle(0xbeef_0001, Duration::ZERO));
        assert!(!wait_idle(0xbeef_0002, Duration::ZERO));
        leave_tx.send(()).unwrap();
        entered_rx.recv().unwrap();
        assert!(!wait_idle(0xbeef_0001, Duration::ZERO));
        assert!(wait_idle(0xbeef_0002, Duration::ZERO));
        leave_tx.send(()).unwrap();
        entered_rx.recv().unwrap();
        // Past the stack's depth every instance counts as held.
        assert!(!wait_idle(0xbeef_7777, Duration::ZERO));
        leave_tx.send(()).unwrap();
        caller.join().unwrap();
        assert!(wait_idle(0xbeef_7777, Duration::from_secs(30)));
    }

    #[test]
    fn every_threads_slots_follow_whether_membarrier_is_registered() {
        init();
        let before = EXPEDITED.load(Ordering::SeqCst);
        let slots = mine();
        assert_eq!(slots.fenced.load(Ordering::SeqCst), !before);
        // Refused (as after a seccomp filter): this thread's calls and a new thread's fence.
        set_expedited(false);
        assert!(slots.fenced.load(Ordering::SeqCst));
        std::thread::spawn(|| assert!(mine().fenced.load(Ordering::SeqCst)))
            .join()
            .unwrap();
        // Back as it was (never claimed registered where it is not).
        set_expedited(before);
        assert_eq!(slots.fenced.load(Ordering::SeqCst), !before);
    }

    #[test]
    fn a_thread_does_not_wait_for_its_own_calls() {
        init();
        let _guard = enter(0xcafe_0001);
        assert!(wait_idle(0xcafe_0001, Duration::ZERO));
    }
}
