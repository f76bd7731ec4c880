//! Copies of payload bytes: every place a message's bytes move in bulk — into the buffer the
//! plugin reads, into the host's response buffer or window, into a decoded `Vec<u8>` — goes
//! through [`copy`], [`extend_vec`] or [`extend_rvec`] (issue 17).
//!
//! Why not `memcpy`: glibc's `memcpy` moves copies from 4 KiB (with AVX2; 2 KiB with SSE2)
//! up to about the L2 cache's size with `rep movsb` on CPUs that advertise fast string moves,
//! and on AMD EPYC (Zen) that instruction is many times slower when the destination starts a
//! few bytes after the source modulo 4 KiB — which is where a payload behind a one- or
//! two-byte length prefix lands, copied between two heap buffers. Measured on this project's
//! 2-core AMD EPYC machine, one 4 KiB copy: 52 ns with both ends 64-byte aligned, 186–305 ns
//! with the destination 1–18 bytes ahead, 1.5 µs between two heap buffers 16 bytes apart
//! modulo 4 KiB; the loop below, 50–83 ns in every one of those cases.
//! `dispatch/payload_4k_borrowed` went from 1.5 µs to about 170 ns with `rep movsb` turned off
//! through `GLIBC_TUNABLES` — a setting a library cannot make for its host.
//!
//! So copies in that size band use plain vector loads and stores (32 bytes with AVX2 when the
//! CPU has it, else 16), eight vectors a step, the stores aligned to the vector's size (the first
//! and last vectors unaligned, overlapping the aligned middle), which are fast whatever the
//! source's alignment; shorter and longer copies stay with `memcpy`, whose small-size paths
//! are fast and whose very large ones use non-temporal stores.

use std::mem::MaybeUninit;

use abi_stable::std_types::RVec;

/// The shortest copy the vector loop takes: below it glibc never uses `rep movsb`.
const LOOP_FROM: usize = 2048;
/// The longest copy the vector loop takes: past it glibc moves to non-temporal stores.
const LOOP_UNTIL: usize = 1 << 20;

/// Copies `src` into `dst`, which must be as long.
///
/// # Panics
///
/// If the lengths differ (a bug in the caller, as with `copy_from_slice`).
#[inline]
pub(crate) fn copy(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    assert_eq!(
        dst.len(),
        src.len(),
        "copy between slices of different lengths"
    );
    if (LOOP_FROM..=LOOP_UNTIL).contains(&src.len()) {
        copy_band(dst, src);
    } else {
        copy_plain(dst, src);
    }
}

/// `memcpy`: `write_copy_of_slice` once the MSRV reaches 1.93; LLVM makes this loop the call.
#[inline]
fn copy_plain(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    for (slot, &byte) in dst.iter_mut().zip(src) {
        slot.write(byte);
    }
}

/// Appends `src` to `vec`.
#[inline]
pub(crate) fn extend_vec(vec: &mut Vec<u8>, src: &[u8]) {
    if src.len() < LOOP_FROM {
        vec.extend_from_slice(src);
        return;
    }
    vec.reserve(src.len());
    let len = vec.len();
    match vec.spare_capacity_mut().get_mut(..src.len()) {
        Some(room) => {
            copy(room, src);
            set_len_vec(vec, len + src.len());
        }
        // Not after `reserve`; never a silent loss if it ever were.
        None => vec.extend_from_slice(src),
    }
}

/// Appends `src` to `vec` (the ABI's vector, whose memory is the host's).
#[inline]
pub(crate) fn extend_rvec(vec: &mut RVec<u8>, src: &[u8]) {
    if src.len() < LOOP_FROM {
        vec.extend_from_copy_slice(src);
        return;
    }
    vec.reserve(src.len());
    let len = vec.len();
    match rvec_spare(vec).get_mut(..src.len()) {
        Some(room) => {
            copy(room, src);
            set_len_rvec(vec, len + src.len());
        }
        // As in `extend_vec`.
        None => vec.extend_from_copy_slice(src),
    }
}

/// `src` in a new `Vec`.
#[inline]
pub(crate) fn to_vec(src: &[u8]) -> Vec<u8> {
    let mut vec = Vec::new();
    extend_vec(&mut vec, src);
    vec
}

#[expect(
    unsafe_code,
    reason = "the length of a Vec whose spare bytes `copy` just initialised"
)]
fn set_len_vec(vec: &mut Vec<u8>, len: usize) {
    debug_assert!(len <= vec.capacity());
    // SAFETY: the caller wrote every byte up to `len` (`copy` over the spare capacity from
    // the old length), and `len` is within the capacity it reserved.
    unsafe { vec.set_len(len) }
}

#[expect(
    unsafe_code,
    reason = "the spare capacity of an RVec, which has no spare_capacity_mut"
)]
fn rvec_spare(vec: &mut RVec<u8>) -> &mut [MaybeUninit<u8>] {
    let (len, capacity) = (vec.len(), vec.capacity());
    // SAFETY: an `RVec`'s buffer holds `capacity` bytes from `as_mut_ptr`, the first `len`
    // initialised; the rest is viewed as `MaybeUninit`, borrowed from `vec` for as long as
    // the slice lives.
    unsafe {
        std::slice::from_raw_parts_mut(
            vec.as_mut_ptr().add(len).cast::<MaybeUninit<u8>>(),
            capacity - len,
        )
    }
}

#[expect(
    unsafe_code,
    reason = "the length of an RVec whose spare bytes `copy` just initialised"
)]
fn set_len_rvec(vec: &mut RVec<u8>, len: usize) {
    debug_assert!(len <= vec.capacity());
    // SAFETY: as in `set_len_vec`.
    unsafe { vec.set_len(len) }
}

/// A copy in the band `rep movsb` would take.
#[cfg(target_arch = "x86_64")]
#[inline(never)]
#[expect(
    unsafe_code,
    reason = "vector loads and stores, after checking the CPU"
)]
fn copy_band(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above); the slices are as long (`copy`).
        unsafe { x86::copy_avx2(dst, src) }
    } else {
        x86::copy_sse2(dst, src)
    }
}

/// A copy in the band, on targets without glibc's `rep movsb` path: `memcpy`.
#[cfg(not(target_arch = "x86_64"))]
#[inline(never)]
fn copy_band(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    copy_plain(dst, src);
}

#[cfg(target_arch = "x86_64")]
#[expect(
    unsafe_code,
    reason = "unaligned vector loads and stores within two slices"
)]
mod x86 {
    use std::arch::x86_64::{
        __m128i, __m256i, _mm256_loadu_si256, _mm256_store_si256, _mm256_storeu_si256,
        _mm_loadu_si128, _mm_store_si128, _mm_storeu_si128,
    };
    use std::mem::MaybeUninit;

    /// Vectors one step of the main loop moves.
    const VECTORS: usize = 8;

    /// Walks a copy of `n` bytes (more than `VECTORS + 1` vectors) to `d` in vectors of `W`
    /// bytes: `edge` at offsets 0 and `n - W` (unaligned stores, overlapping what the middle
    /// writes), and between them `block` at offsets that are multiples of `W` **of the
    /// destination address**, `VECTORS` vectors each — a step at a time while one fits, then
    /// once more ending at the last aligned vector, overlapping the step before (rewriting
    /// bytes with the same bytes: the slices do not overlap). A store that crosses a cache
    /// line costs about two; with the destination a few bytes off alignment (a payload behind
    /// its length prefix) unaligned stores made a 4 KiB copy 130 ns instead of 47–63 on this
    /// project's AMD EPYC machine (a C loop, 2026-12-04). The last block is one more step,
    /// not a loop of single vectors: LLVM turned that loop into a call of `memcpy`.
    #[inline(always)]
    fn walk<const W: usize>(
        d: *mut u8,
        n: usize,
        mut edge: impl FnMut(usize),
        mut block: impl FnMut(usize),
    ) {
        let step = VECTORS * W;
        assert!(n > step + W, "a walk needs more than a step and a vector");
        edge(0);
        let mut at = (W - (d.addr() & (W - 1))) & (W - 1);
        while at + step <= n {
            block(at);
            at += step;
        }
        // At least one step ran (`n > step + W`), so the last block starts after the first.
        let end = at + (n - at) / W * W;
        if end > at {
            block(end - step);
        }
        edge(n - W);
    }

    /// The copy with 32-byte loads and stores.
    ///
    /// # Safety
    ///
    /// The CPU has AVX2. (`dst` and `src` are as long, and longer than nine vectors; checked.)
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn copy_avx2(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
        let n = src.len();
        assert!(dst.len() == n);
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr().cast::<u8>());
        walk::<32>(
            d,
            n,
            // SAFETY: `at + 32 <= n` (`walk`), so the load is within `src` and the store
            // within `dst` (both `n` long); unaligned forms, any address.
            |at| unsafe {
                let v = _mm256_loadu_si256(s.add(at).cast::<__m256i>());
                _mm256_storeu_si256(d.add(at).cast::<__m256i>(), v);
            },
            // SAFETY: `at + 32 * VECTORS <= n` (`walk`), so every load is within `src` and
            // every store within `dst`; `d + at` is 32-byte aligned (`walk`), so the aligned
            // stores are allowed. The slices do not overlap: one is shared, the other
            // exclusive.
            |at| unsafe {
                let (s, d) = (s.add(at).cast::<__m256i>(), d.add(at).cast::<__m256i>());
                let v: [__m256i; VECTORS] = std::array::from_fn(|i| _mm256_loadu_si256(s.add(i)));
                for (i, v) in v.into_iter().enumerate() {
                    _mm256_store_si256(d.add(i), v);
                }
            },
        );
    }

    /// The copy with 16-byte loads and stores (every x86_64 CPU has SSE2).
    pub(super) fn copy_sse2(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
        let n = src.len();
        assert!(dst.len() == n);
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr().cast::<u8>());
        walk::<16>(
            d,
            n,
            // SAFETY: as in `copy_avx2`, with 16-byte vectors.
            |at| unsafe {
                let v = _mm_loadu_si128(s.add(at).cast::<__m128i>());
                _mm_storeu_si128(d.add(at).cast::<__m128i>(), v);
            },
            // SAFETY: as in `copy_avx2`: within both slices, `d + at` 16-byte aligned.
            |at| unsafe {
                let (s, d) = (s.add(at).cast::<__m128i>(), d.add(at).cast::<__m128i>());
                let v: [__m128i; VECTORS] = std::array::from_fn(|i| _mm_loadu_si128(s.add(i)));
                for (i, v) in v.into_iter().enumerate() {
                    _mm_store_si128(d.add(i), v);
                }
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length around the band's edges and the step, at every offset of source and
    /// destination within a cache line: the bytes arrive, nothing past them is touched.
    #[test]
    fn copies_are_exact_at_every_length_and_alignment() {
        let src: Vec<u8> = (0..LOOP_FROM * 3).map(|i| (i * 7 + 3) as u8).collect();
        let lengths = [
            0,
            1,
            127,
            LOOP_FROM - 1,
            LOOP_FROM,
            LOOP_FROM + 1,
            LOOP_FROM + 31,
            LOOP_FROM + 32,
            LOOP_FROM + 33,
            LOOP_FROM + 127,
            LOOP_FROM + 128,
            LOOP_FROM + 129,
            LOOP_FROM + 255,
            LOOP_FROM + 256,
            LOOP_FROM + 257,
            4096,
            4098,
        ];
        for n in lengths {
            for so in [0, 1, 2, 17, 63] {
                for doff in [0, 1, 18, 32, 63] {
                    let mut out = vec![MaybeUninit::new(0xEEu8); n + doff + 8];
                    copy(&mut out[doff..doff + n], &src[so..so + n]);
                    let dst: Vec<u8> = out.iter().map(read).collect();
                    assert!(
                        dst[..doff].iter().all(|&b| b == 0xEE),
                        "n {n} so {so} do {doff}"
                    );
                    assert_eq!(
                        &dst[doff..doff + n],
                        &src[so..so + n],
                        "n {n} so {so} do {doff}"
                    );
                    assert!(
                        dst[doff + n..].iter().all(|&b| b == 0xEE),
                        "n {n} so {so} do {doff}"
                    );
                }
            }
        }
    }

    #[test]
    fn vectors_grow_by_exactly_the_bytes() {
        let src: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        for n in [0, 10, 2047, 2048, 4096, 5000] {
            let mut v = vec![9u8, 8, 7];
            extend_vec(&mut v, &src[..n]);
            assert_eq!(v.len(), 3 + n);
            assert_eq!(&v[..3], &[9, 8, 7]);
            assert_eq!(&v[3..], &src[..n]);

            let mut r = RVec::from(vec![9u8, 8, 7]);
            extend_rvec(&mut r, &src[..n]);
            assert_eq!(&r[..3], &[9, 8, 7]);
            assert_eq!(&r[3..], &src[..n]);

            assert_eq!(to_vec(&src[..n]), &src[..n]);
        }
    }

    /// Both loops, whatever this CPU has.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn both_vector_loops_copy_the_same() {
        let src: Vec<u8> = (0..4200u32).map(|i| (i * 13 % 256) as u8).collect();
        // From just past the AVX2 walk's least (a step of eight vectors and one more), at
        // every destination offset within a vector, with guard bytes on both sides.
        for n in [289, 290, 300, 511, 512, 513, 4096, 4099] {
            for doff in 0..32 {
                let guarded = |copy: &dyn Fn(&mut [MaybeUninit<u8>])| {
                    let mut out = vec![MaybeUninit::new(0xEEu8); n + doff + 8];
                    copy(&mut out[doff..doff + n]);
                    let got: Vec<u8> = out.iter().map(read).collect();
                    assert!(got[..doff].iter().all(|&b| b == 0xEE), "n {n} do {doff}");
                    assert_eq!(&got[doff..doff + n], &src[1..=n], "n {n} do {doff}");
                    assert!(
                        got[doff + n..].iter().all(|&b| b == 0xEE),
                        "n {n} do {doff}"
                    );
                };
                guarded(&|dst| x86::copy_sse2(dst, &src[1..=n]));
                if std::arch::is_x86_feature_detected!("avx2") {
                    #[expect(unsafe_code, reason = "AVX2 checked just above")]
                    // SAFETY: the CPU has AVX2.
                    guarded(&|dst| unsafe { x86::copy_avx2(dst, &src[1..=n]) });
                }
            }
        }
    }

    #[expect(unsafe_code, reason = "reading back initialised slots")]
    fn read(b: &MaybeUninit<u8>) -> u8 {
        // SAFETY: every slot read in these tests was initialised when it was made.
        unsafe { b.assume_init() }
    }
}
