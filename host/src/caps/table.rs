//! The grant table: one slot per instance, checked with lock-free reads.
//!
//! Each slot holds a *word* — the slot's generation in the high 32 bits, and two bit sets in
//! the low ones: kinds granted unconditionally at their widest (a check needs nothing else),
//! and kinds with any grant at all (a check for a kind outside it is denied at once) — plus
//! the slot's immutable [`GrantSet`] behind an `ArcSwap`. A check is one atomic load of the
//! word in the common cases, and a lock-free load of the set otherwise. Writers (grant, revoke,
//! release; rare) serialise on a mutex, publish the new set first and the word second, so a
//! check that starts after a change returns sees it.
//!
//! A *suspended* slot (its instance stopped or failed) keeps its set but publishes a word with
//! no kind bits and the `SUSPENDED` flag: every check is denied by the same one load, at no
//! cost to the allowed path, until the instance starts again and the bits come back.

use parking_lot::{Mutex, MutexGuard};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwapOption;
use switchboard_sdk::caps::{Access, Capability, CapabilityKind};

use super::grant::{DenyReason, Grant, GrantSet};
use super::token::Token;

const CHUNK_BITS: u32 = 8;
const CHUNK: usize = 1 << CHUNK_BITS;
const CHUNKS: usize = 1024;
/// The most instances one table holds at once.
pub const MAX_INSTANCES: usize = CHUNK * CHUNKS;

const ANY_GRANT_SHIFT: u32 = 16;
/// Set in a suspended slot's word, whose kind bits are all clear.
const SUSPENDED: u64 = 1 << 31;

struct Slot {
    word: AtomicU64,
    set: ArcSwapOption<GrantSet>,
}

impl Slot {
    fn new() -> Self {
        Slot {
            word: AtomicU64::new(0),
            set: ArcSwapOption::const_empty(),
        }
    }
}

#[derive(Default)]
struct Alloc {
    next: u32,
    free: Vec<u32>,
}

/// The host's grant table: which capabilities each instance holds.
///
/// Checks ([`check`](GrantTable::check)) take no lock and allocate nothing. Forged or stale
/// tokens are denied; revocation and expiry take effect on the next check.
///
/// # Example
///
/// ```
/// use switchboard_host::caps::Token;
/// use switchboard_sdk::caps::Access;
///
/// # fn demo(host: &switchboard_host::Host, hello: &switchboard_host::PluginHandle) {
/// let table = host.grant_table();
/// let ok = table.check(hello.token(), &Access::Kv);
/// assert!(!table.check(Token::from_raw(hello.token().index(), 0), &Access::Kv));
/// # let _ = ok; }
/// ```
pub struct GrantTable {
    chunks: Box<[OnceLock<Box<[Slot]>>]>,
    alloc: Mutex<Alloc>,
}

impl fmt::Debug for GrantTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantTable")
            .field("slots", &self.lock().next)
            .finish_non_exhaustive()
    }
}

impl Default for GrantTable {
    fn default() -> Self {
        Self::new()
    }
}

fn fast_bits(set: &GrantSet) -> u64 {
    let mut bits = 0u64;
    for g in &set.grants {
        let k = u32::from(g.capability().kind().number());
        bits |= 1 << (k + ANY_GRANT_SHIFT);
        if g.is_unconditional() && g.capability().is_widest() {
            bits |= 1 << k;
        }
    }
    bits
}

#[cfg(test)]
thread_local! {
    /// Checks on this thread that read the grant set (the slow path): lets the tests see
    /// which path a check took, not only its answer. Per thread, so parallel tests do not mix.
    static SLOW_PATH_CHECKS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl GrantTable {
    /// An empty table.
    pub fn new() -> Self {
        GrantTable {
            chunks: (0..CHUNKS).map(|_| OnceLock::new()).collect(),
            alloc: Mutex::new(Alloc::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Alloc> {
        self.alloc.lock()
    }

    #[inline]
    fn slot(&self, index: u32) -> Option<&Slot> {
        let chunk = self.chunks.get((index >> CHUNK_BITS) as usize)?.get()?;
        chunk.get(index as usize & (CHUNK - 1))
    }

    /// Whether the instance holding `token` may perform `access` now. Lock-free; a `once`
    /// grant is used up by the check it allows.
    #[inline]
    pub fn check(&self, token: Token, access: &Access<'_>) -> bool {
        let Some(slot) = self.slot(token.index) else {
            return false;
        };
        let word = slot.word.load(Ordering::Acquire);
        if (word >> 32) as u32 != token.generation {
            return false;
        }
        let k = u32::from(access.kind().number());
        if word & (1 << k) != 0 {
            return true;
        }
        if word & (1 << (k + ANY_GRANT_SHIFT)) == 0 {
            return false;
        }
        Self::check_set(slot, token, access)
    }

    #[inline(never)]
    fn check_set(slot: &Slot, token: Token, access: &Access<'_>) -> bool {
        #[cfg(test)]
        SLOW_PATH_CHECKS.with(|n| n.set(n.get() + 1));
        let guard = slot.set.load();
        let Some(set) = guard.as_deref() else {
            return false;
        };
        if set.generation != token.generation {
            return false;
        }
        // Unconditional grants first, so a `once` grant is used only when nothing else allows
        // the access.
        if set
            .grants
            .iter()
            .any(|g| g.is_unconditional() && g.capability().allows(access))
        {
            return true;
        }
        let mut now = None;
        set.grants
            .iter()
            .any(|g| !g.is_unconditional() && g.admit(access, &mut now))
    }

    /// Why `access` is denied for `token` (or would be). Slow; for error messages.
    pub fn explain(&self, token: Token, access: &Access<'_>) -> DenyReason {
        match self.set(token) {
            Some(_) if self.is_suspended(token) => DenyReason::Suspended,
            Some(set) => set.explain(access),
            None => DenyReason::InvalidToken,
        }
    }

    /// Like [`check`](GrantTable::check), but through a suspension: for the host's own checks
    /// of a stopped instance's declarations before it starts it again.
    pub(crate) fn check_declared(&self, token: Token, access: &Access<'_>) -> bool {
        let Some(slot) = self.slot(token.index) else {
            return false;
        };
        let word = slot.word.load(Ordering::Acquire);
        (word >> 32) as u32 == token.generation && Self::check_set(slot, token, access)
    }

    fn is_suspended(&self, token: Token) -> bool {
        self.slot(token.index).is_some_and(|slot| {
            let word = slot.word.load(Ordering::Acquire);
            (word >> 32) as u32 == token.generation && word & SUSPENDED != 0
        })
    }

    /// Whether `token` is current and not suspended: what a host service that needs no
    /// grant (publishing in the plugin's own namespace) still requires.
    #[inline]
    pub fn is_live(&self, token: Token) -> bool {
        self.slot(token.index).is_some_and(|slot| {
            let word = slot.word.load(Ordering::Acquire);
            (word >> 32) as u32 == token.generation && word & SUSPENDED == 0
        })
    }

    /// Suspends `token`: every check is denied ([`DenyReason::Suspended`]) until
    /// [`resume`](GrantTable::resume); the grants are kept. For instances that stop or fail.
    pub(crate) fn suspend(&self, token: Token) {
        let _alloc = self.lock();
        if let Some(slot) = self.slot(token.index) {
            let word = slot.word.load(Ordering::Acquire);
            if (word >> 32) as u32 == token.generation {
                slot.word.store(
                    (u64::from(token.generation) << 32) | SUSPENDED,
                    Ordering::Release,
                );
            }
        }
    }

    /// Lifts a suspension: the grants apply again. For instances that start.
    pub(crate) fn resume(&self, token: Token) {
        let _alloc = self.lock();
        let Some(slot) = self.slot(token.index) else {
            return;
        };
        let word = slot.word.load(Ordering::Acquire);
        if (word >> 32) as u32 != token.generation {
            return;
        }
        if let Some(set) = slot.set.load_full() {
            slot.word.store(
                (u64::from(token.generation) << 32) | fast_bits(&set),
                Ordering::Release,
            );
        }
    }

    /// The set published for `token`, if the token is current.
    pub(crate) fn set(&self, token: Token) -> Option<Arc<GrantSet>> {
        let slot = self.slot(token.index)?;
        let word = slot.word.load(Ordering::Acquire);
        if (word >> 32) as u32 != token.generation {
            return None;
        }
        slot.set
            .load_full()
            .filter(|s| s.generation == token.generation)
    }

    /// The grants `token` holds now (expired and used ones included; see [`Grant`]).
    pub fn grants(&self, token: Token) -> Vec<Grant> {
        self.set(token)
            .map(|s| s.grants.clone())
            .unwrap_or_default()
    }

    /// Whether `token` is current.
    pub fn is_valid(&self, token: Token) -> bool {
        self.set(token).is_some()
    }

    /// Publishes a new instance's set and returns its token. `None` when the table is full.
    pub(crate) fn insert(&self, mut set: GrantSet) -> Option<Token> {
        let mut alloc = self.lock();
        let index = match alloc.free.pop() {
            Some(i) => i,
            None => {
                let i = alloc.next;
                if i as usize >= MAX_INSTANCES {
                    return None;
                }
                alloc.next += 1;
                i
            }
        };
        let chunk = self.chunks[(index >> CHUNK_BITS) as usize]
            .get_or_init(|| (0..CHUNK).map(|_| Slot::new()).collect());
        let slot = &chunk[index as usize & (CHUNK - 1)];
        let old_gen = (slot.word.load(Ordering::Acquire) >> 32) as u32;
        // Live generations are odd, free ones even: a freed slot's word never matches a token.
        let generation = old_gen.wrapping_add(1) | 1;
        set.generation = generation;
        let bits = fast_bits(&set);
        slot.set.store(Some(Arc::new(set)));
        slot.word
            .store((u64::from(generation) << 32) | bits, Ordering::Release);
        Some(Token { index, generation })
    }

    /// Replaces `token`'s set with `f(old)`. Returns what `f` returned, or `None` for a stale
    /// token.
    pub(crate) fn update<R>(&self, token: Token, f: impl FnOnce(&mut GrantSet) -> R) -> Option<R> {
        let _alloc = self.lock();
        let slot = self.slot(token.index)?;
        let current = slot.set.load_full()?;
        if current.generation != token.generation {
            return None;
        }
        let mut next = GrantSet::clone(&current);
        let r = f(&mut next);
        next.generation = token.generation;
        // A change of grants while suspended stays suspended.
        let bits = if slot.word.load(Ordering::Acquire) & SUSPENDED != 0 {
            SUSPENDED
        } else {
            fast_bits(&next)
        };
        slot.set.store(Some(Arc::new(next)));
        slot.word.store(
            (u64::from(token.generation) << 32) | bits,
            Ordering::Release,
        );
        Some(r)
    }

    /// Adds a grant (replacing a revocation of the same capability).
    pub(crate) fn add_grant(&self, token: Token, grant: Grant) -> bool {
        self.update(token, |set| {
            set.revoked.retain(|c| !grant.capability().covers(c));
            set.denied.retain(|(c, _)| !grant.capability().covers(c));
            set.grants.push(grant);
        })
        .is_some()
    }

    /// Removes every grant `capability` covers; returns the removed grants.
    pub(crate) fn revoke(&self, token: Token, capability: &Capability) -> Vec<Grant> {
        self.update(token, |set| {
            let (gone, kept): (Vec<Grant>, Vec<Grant>) = std::mem::take(&mut set.grants)
                .into_iter()
                .partition(|g| capability.covers(g.capability()));
            set.grants = kept;
            set.revoked
                .extend(gone.iter().map(|g| g.capability().clone()));
            gone
        })
        .unwrap_or_default()
    }

    /// Frees `token`'s slot; the token and every copy of it are denied from now on.
    pub(crate) fn release(&self, token: Token) {
        let mut alloc = self.lock();
        let Some(slot) = self.slot(token.index) else {
            return;
        };
        let word = slot.word.load(Ordering::Acquire);
        if (word >> 32) as u32 != token.generation {
            return;
        }
        slot.word.store(
            u64::from(token.generation.wrapping_add(1) & !1) << 32,
            Ordering::Release,
        );
        slot.set.store(None);
        alloc.free.push(token.index);
    }

    /// The kinds of capability `token` holds at least one grant of.
    pub fn kinds(&self, token: Token) -> Vec<CapabilityKind> {
        let Some(set) = self.set(token) else {
            return Vec::new();
        };
        let mut kinds: Vec<CapabilityKind> =
            set.grants.iter().map(|g| g.capability().kind()).collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }
}

#[cfg(test)]
mod tests;
