//! A latency histogram threads record into at once without a lock: log-linear buckets of
//! atomic counters, read into an [`hdrhistogram::Histogram`] for percentiles.

use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;

/// Sub-buckets per power of two: each bucket is at most 1/32 (about 3%) of its values wide.
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Values are nanoseconds, clamped to 2^40 ns (about 18 minutes).
const MAX_EXP: u32 = 40;
/// Buckets 0..32 hold 0..32 exactly; above, 32 per power of two up to 2^MAX_EXP.
const BUCKETS: usize = (MAX_EXP - SUB_BITS + 1) as usize * SUB as usize;
/// The largest value recorded as itself.
pub(crate) const MAX_VALUE: u64 = (1 << MAX_EXP) - 1;

/// Log-linear buckets of atomic counters: recording is one relaxed `fetch_add`.
pub(crate) struct AtomicHistogram {
    buckets: Box<[AtomicU64]>,
}

impl std::fmt::Debug for AtomicHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtomicHistogram").finish_non_exhaustive()
    }
}

impl Default for AtomicHistogram {
    fn default() -> Self {
        AtomicHistogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// The bucket `value` falls in.
#[inline]
fn index(value: u64) -> usize {
    let value = value.min(MAX_VALUE);
    if value < SUB {
        return value as usize;
    }
    let exp = 63 - value.leading_zeros(); // >= SUB_BITS
    let top = value >> (exp - SUB_BITS); // in SUB..2*SUB
    ((exp - SUB_BITS + 1) as usize) * SUB as usize + (top - SUB) as usize
}

/// The lowest value and the width of bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < SUB {
        return (i, 1);
    }
    let exp = (i / SUB) as u32 + SUB_BITS - 1;
    let top = i % SUB + SUB;
    let shift = exp - SUB_BITS;
    (top << shift, 1 << shift)
}

impl AtomicHistogram {
    /// Counts `weight` values of `nanos`.
    #[inline]
    pub(crate) fn record(&self, nanos: u64, weight: u64) {
        if let Some(b) = self.buckets.get(index(nanos)) {
            b.fetch_add(weight, Ordering::Relaxed);
        }
    }

    /// What has been recorded so far, each bucket's count at its middle value, in an HDR
    /// histogram (three significant digits: finer than the buckets, so they lose nothing).
    pub(crate) fn read(&self) -> Histogram<u64> {
        let mut h = empty();
        for (i, b) in self.buckets.iter().enumerate() {
            let n = b.load(Ordering::Relaxed);
            if n > 0 {
                let (low, width) = bounds(i);
                h.saturating_record_n(low + width / 2, n);
            }
        }
        h
    }
}

/// An empty histogram of nanoseconds with the range and precision every snapshot uses.
#[expect(
    clippy::expect_used,
    reason = "constant bounds the crate documents as valid (low >= 1, high >= 2 * low, 3 digits)"
)]
pub(crate) fn empty() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_VALUE, 3).expect("valid histogram bounds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_narrow() {
        let mut next = 0;
        for i in 0..BUCKETS {
            let (low, width) = bounds(i);
            assert_eq!(low, next, "bucket {i}");
            assert_eq!(index(low), i);
            assert_eq!(index(low + width - 1), i);
            assert!(
                low < SUB || width * SUB <= low,
                "bucket {i} wider than 1/32"
            );
            next = low + width;
        }
        assert_eq!(next, MAX_VALUE + 1);
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_are_within_the_bucket_width() {
        let h = AtomicHistogram::default();
        for v in 1..=10_000u64 {
            h.record(v * 100, 1);
        }
        let read = h.read();
        assert_eq!(read.len(), 10_000);
        for (q, want) in [(0.5, 500_000.0), (0.95, 950_000.0), (0.99, 990_000.0)] {
            let got = read.value_at_quantile(q) as f64;
            assert!((got - want).abs() / want < 0.04, "q{q}: {got} vs {want}");
        }
    }

    #[test]
    fn weights_count_as_that_many_values() {
        let h = AtomicHistogram::default();
        h.record(1_000, 16);
        h.record(u64::MAX, 1);
        let read = h.read();
        assert_eq!(read.len(), 17);
        assert!(read.max() >= MAX_VALUE / 2);
    }
}
