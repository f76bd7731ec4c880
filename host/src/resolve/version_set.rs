//! The solver's version sets: sets of version *positions* (0 = not installed, 1… = a plugin's
//! usable releases in ascending order), stored as bits.
//!
//! Every version a set can name exists in the index, so a set is a finite list, not a range
//! over all conceivable versions. Semver's rules (prerelease gating, `^`, `~`, wildcards) are
//! applied once, when a requirement is turned into the positions it matches; after that the
//! solver only intersects and complements bit sets, which is exact and cheap. Complements of
//! finite sets are kept as "everything except these bits" so the solver's algebra stays closed.

use std::fmt;

/// A position in a plugin's version list; [`ABSENT`] is "not installed".
pub(crate) type Pos = u32;

/// The position that stands for "not installed" (the way optional dependencies stay out).
pub(crate) const ABSENT: Pos = 0;

/// A set of positions: `bits` when `negated` is false, everything but `bits` when true.
///
/// Canonical (trailing zero words trimmed from `hi`), so derived equality is set equality, as
/// pubgrub requires.
#[derive(Clone, Eq, Default)]
pub(crate) struct VersionBits {
    negated: bool,
    /// Positions 0–63.
    lo: u64,
    /// Positions 64 and up, 64 per word; no allocation for plugins with under 64 releases.
    hi: Vec<u64>,
}

impl VersionBits {
    /// The set of the given positions.
    pub(crate) fn from_positions(positions: impl IntoIterator<Item = Pos>) -> Self {
        let mut set = VersionBits::default();
        for p in positions {
            set.insert(p);
        }
        set
    }

    fn insert(&mut self, p: Pos) {
        if p < 64 {
            self.lo |= 1 << p;
        } else {
            let word = (p / 64 - 1) as usize;
            if self.hi.len() <= word {
                self.hi.resize(word + 1, 0);
            }
            self.hi[word] |= 1 << (p % 64);
        }
    }

    fn bit(&self, p: Pos) -> bool {
        if p < 64 {
            self.lo & (1 << p) != 0
        } else {
            let word = (p / 64 - 1) as usize;
            self.hi.get(word).is_some_and(|w| w & (1 << (p % 64)) != 0)
        }
    }

    /// The members among positions `0..=last`, ascending.
    pub(crate) fn members(&self, last: Pos) -> impl Iterator<Item = Pos> + '_ {
        (0..=last).filter(move |p| self.has(*p))
    }

    /// Whether `p` is in the set.
    pub(crate) fn has(&self, p: Pos) -> bool {
        self.bit(p) != self.negated
    }

    /// `op` applied word by word to the two bit arrays, trimmed.
    fn combine(&self, other: &Self, negated: bool, op: impl Fn(u64, u64) -> u64) -> Self {
        let len = self.hi.len().max(other.hi.len());
        let mut hi: Vec<u64> = (0..len)
            .map(|i| {
                op(
                    self.hi.get(i).copied().unwrap_or(0),
                    other.hi.get(i).copied().unwrap_or(0),
                )
            })
            .collect();
        while hi.last() == Some(&0) {
            hi.pop();
        }
        VersionBits {
            negated,
            lo: op(self.lo, other.lo),
            hi,
        }
    }
}

/// Field by field, skipping the slice comparison (a `memcmp` call) when both have no high
/// words: the solver compares sets constantly.
impl PartialEq for VersionBits {
    fn eq(&self, other: &Self) -> bool {
        self.negated == other.negated
            && self.lo == other.lo
            && (self.hi.is_empty() && other.hi.is_empty() || self.hi == other.hi)
    }
}

impl VersionBits {
    /// Whether `op` gives zero for every pair of words (missing words are zero).
    fn all_zero(&self, other: &Self, op: impl Fn(u64, u64) -> u64) -> bool {
        if op(self.lo, other.lo) != 0 {
            return false;
        }
        let len = self.hi.len().max(other.hi.len());
        (0..len).all(|i| {
            op(
                self.hi.get(i).copied().unwrap_or(0),
                other.hi.get(i).copied().unwrap_or(0),
            ) == 0
        })
    }
}

impl pubgrub::VersionSet for VersionBits {
    type V = Pos;

    fn empty() -> Self {
        VersionBits::default()
    }

    fn singleton(v: Pos) -> Self {
        VersionBits::from_positions([v])
    }

    fn complement(&self) -> Self {
        VersionBits {
            negated: !self.negated,
            ..self.clone()
        }
    }

    fn intersection(&self, other: &Self) -> Self {
        match (self.negated, other.negated) {
            (false, false) => self.combine(other, false, |a, b| a & b),
            (false, true) => self.combine(other, false, |a, b| a & !b),
            (true, false) => self.combine(other, false, |a, b| !a & b),
            (true, true) => self.combine(other, true, |a, b| a | b),
        }
    }

    fn contains(&self, v: &Pos) -> bool {
        self.has(*v)
    }

    fn is_disjoint(&self, other: &Self) -> bool {
        match (self.negated, other.negated) {
            (false, false) => self.all_zero(other, |a, b| a & b),
            (false, true) => self.all_zero(other, |a, b| a & !b),
            (true, false) => self.all_zero(other, |a, b| !a & b),
            // Two co-finite sets always meet.
            (true, true) => false,
        }
    }

    fn subset_of(&self, other: &Self) -> bool {
        match (self.negated, other.negated) {
            (false, false) => self.all_zero(other, |a, b| a & !b),
            (false, true) => self.all_zero(other, |a, b| a & b),
            // A co-finite set is never inside a finite one.
            (true, false) => false,
            (true, true) => self.all_zero(other, |a, b| b & !a),
        }
    }

    fn union(&self, other: &Self) -> Self {
        match (self.negated, other.negated) {
            (false, false) => self.combine(other, false, |a, b| a | b),
            (false, true) => self.combine(other, true, |a, b| !a & b),
            (true, false) => self.combine(other, true, |a, b| a & !b),
            (true, true) => self.combine(other, true, |a, b| a & b),
        }
    }
}

impl fmt::Debug for VersionBits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Positions as `{0, 2}` or `not {1}`; people see version numbers instead (the report module).
impl fmt::Display for VersionBits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negated {
            f.write_str("not ")?;
        }
        let last = 64 * (self.hi.len() as u32 + 1) - 1;
        let bits: Vec<String> = (0..=last)
            .filter(|p| self.bit(*p))
            .map(|p| p.to_string())
            .collect();
        write!(f, "{{{}}}", bits.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;
    use pubgrub::VersionSet;

    use super::*;

    /// A set over the universe `0..UNIVERSE`, both as bits and as the oracle's plain set.
    const UNIVERSE: Pos = 140;

    fn oracle(set: &VersionBits) -> BTreeSet<Pos> {
        (0..UNIVERSE).filter(|p| set.contains(p)).collect()
    }

    fn arb_set() -> impl Strategy<Value = VersionBits> {
        (proptest::collection::vec(0..UNIVERSE, 0..8), any::<bool>()).prop_map(
            |(positions, negate)| {
                let set = VersionBits::from_positions(positions);
                if negate {
                    set.complement()
                } else {
                    set
                }
            },
        )
    }

    #[test]
    fn positions_past_the_first_word_are_members() {
        let set = VersionBits::from_positions([3, 64, 200]);
        assert!(set.contains(&3) && set.contains(&64) && set.contains(&200));
        assert!(!set.contains(&65) && !set.contains(&199));
        assert_eq!(set.to_string().matches(',').count(), 2);
    }

    #[test]
    fn empty_and_full_are_complements() {
        assert_eq!(VersionBits::empty().complement(), VersionBits::full());
        assert!(!VersionBits::empty().contains(&0));
        assert!(VersionBits::full().contains(&1000));
    }

    proptest! {
        #[test]
        fn set_algebra_matches_plain_sets(a in arb_set(), b in arb_set()) {
            let (oa, ob) = (oracle(&a), oracle(&b));
            prop_assert_eq!(oracle(&a.intersection(&b)), &oa & &ob);
            prop_assert_eq!(oracle(&a.union(&b)), &oa | &ob);
            let all: BTreeSet<Pos> = (0..UNIVERSE).collect();
            prop_assert_eq!(oracle(&a.complement()), &all - &oa);
            prop_assert_eq!(a.is_disjoint(&b), (&oa & &ob).is_empty());
            prop_assert_eq!(a.subset_of(&b), oa.is_subset(&ob));
        }

        #[test]
        fn equal_sets_compare_equal(a in arb_set(), b in arb_set()) {
            // Two routes to the same set must give the same value: pubgrub relies on `Eq`.
            let left = a.intersection(&b).complement();
            let right = a.complement().union(&b.complement());
            prop_assert_eq!(left, right);
        }
    }
}
