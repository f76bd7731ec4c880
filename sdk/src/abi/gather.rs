//! Gathered requests (SDK ABI 1.5): a request that reaches the plugin as several runs of bytes
//! instead of one buffer, so that a large byte field is read **where the caller keeps it**.
//!
//! A typed request is postcard bytes, and a `&[u8]` or `Vec<u8>` field (a `&str` or `String`
//! too) is its length followed by the bytes themselves. Encoding such a request into one buffer
//! copies the field; for a 4 KiB payload that copy was half of what a borrowed echo cost
//! (issue 17). So the host encodes with [`Gather`]: every field of at least [`GATHER_FROM`]
//! bytes is not copied but recorded as a [`Run`] pointing at the caller's bytes, between runs of
//! the encoded bytes around it. The plugin's decoder reads across the runs
//! ([`Reader`](crate::__private::wire::Reader) moves to the next run when one ends), and a
//! borrowed `&[u8]` field decodes to the caller's own slice. The bytes, joined, are exactly
//! the contiguous encoding — a plugin that cannot read runs (built before SDK ABI 1.5, or
//! isolated in a runner) is given them joined ([`Input::flat`]).
//!
//! On the ABI, a gathered request is command number `method | GATHERED`, with the request
//! pointer and length naming an array of [`Run`]s instead of bytes (see the small-call
//! entry's `WindowFn`). A host sets the bit only for a plugin whose SDK ABI minor is at least
//! 5.
//!
//! Not a public API: the derive, the generated dispatch and the host use it.

use std::fmt;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

use crate::__private::wire::Sink;

/// The shortest field gathered instead of copied: below it the copy costs less than a run.
pub const GATHER_FROM: usize = 1024;

/// At most this many fields of a request are gathered; the rest are copied.
const MAX_BORROWED: usize = 4;

/// The most runs a gathered request has: each borrowed field between two encoded runs.
pub const MAX_RUNS: usize = 2 * MAX_BORROWED + 1;

/// The bit of a small-call entry's command number saying the request is an array of runs.
/// (Bit 31 is taken: migrations are numbered from
/// [`MIGRATION_BASE`](crate::migration::MIGRATION_BASE).)
pub const GATHERED: u32 = 1 << 30;

/// One run of a gathered request: bytes, as the ABI passes them (`repr(C)`: address, length).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Run<'a> {
    ptr: *const u8,
    len: usize,
    life: PhantomData<&'a [u8]>,
}

// SAFETY: a `Run` is a `&'a [u8]` spelt as address and length (see `bytes`), which is `Send`.
#[expect(unsafe_code, reason = "a shared byte slice spelt as a raw pair")]
unsafe impl Send for Run<'_> {}
// SAFETY: as for `Send`.
#[expect(unsafe_code, reason = "a shared byte slice spelt as a raw pair")]
unsafe impl Sync for Run<'_> {}

impl<'a> Run<'a> {
    /// The run over `bytes`.
    #[inline]
    pub fn new(bytes: &'a [u8]) -> Self {
        Run {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
            life: PhantomData,
        }
    }

    /// The run's bytes.
    #[inline]
    #[expect(unsafe_code, reason = "the slice a run was made from, rebuilt")]
    pub fn bytes(self) -> &'a [u8] {
        // SAFETY: a `Run<'a>` is made only by `new` from a `&'a [u8]`, or read from the ABI
        // by a plugin, whose host promises the bytes are readable for the call (`WindowFn`'s
        // contract), which `'a` does not outlive.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The run's length.
    #[inline]
    pub fn len(self) -> usize {
        self.len
    }

    /// Whether the run is empty.
    #[inline]
    pub fn is_empty(self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for Run<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Run({} bytes)", self.len)
    }
}

/// A command's request as the plugin's dispatch reads it: one buffer, or runs.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    bytes: &'a [u8],
    runs: &'a [Run<'a>],
    /// The runs' total length when the host knew it; `usize::MAX` when not (a plugin, which
    /// never asks).
    total: usize,
}

impl<'a> Input<'a> {
    /// A request in one buffer.
    #[inline]
    pub const fn bytes(bytes: &'a [u8]) -> Self {
        Input {
            bytes,
            runs: &[],
            total: bytes.len(),
        }
    }

    /// A request in runs, read in order. One run (or none) is a request in one buffer.
    #[inline]
    pub fn runs(runs: &'a [Run<'a>]) -> Self {
        match runs {
            [] => Input::bytes(&[]),
            [one] => Input::bytes(one.bytes()),
            _ => Input {
                bytes: &[],
                runs,
                total: usize::MAX,
            },
        }
    }

    /// The request's bytes when they are in one buffer.
    #[inline]
    pub fn contiguous(self) -> Option<&'a [u8]> {
        self.runs.is_empty().then_some(self.bytes)
    }

    /// The runs of a gathered request; empty for a request in one buffer.
    #[inline]
    pub fn gathered(self) -> &'a [Run<'a>] {
        self.runs
    }

    /// The first run's bytes and the runs after it.
    #[inline]
    pub(crate) fn split(self) -> (&'a [u8], &'a [Run<'a>]) {
        match self.runs.split_first() {
            None => (self.bytes, &[]),
            Some((first, rest)) => (first.bytes(), rest),
        }
    }

    /// The request's length in bytes.
    #[inline]
    pub fn len(self) -> usize {
        if self.total != usize::MAX {
            self.total
        } else {
            self.runs.iter().map(|r| r.len()).sum()
        }
    }

    /// Whether the request is empty.
    #[inline]
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The request in one buffer: its own, or the runs joined into `scratch`.
    #[inline]
    pub fn flat(self, scratch: &'a mut Vec<u8>) -> &'a [u8] {
        if self.runs.is_empty() {
            return self.bytes;
        }
        self.join_into(scratch);
        scratch
    }

    /// The request's bytes, joined, in a new vector.
    pub fn to_vec(self) -> Vec<u8> {
        let mut out = Vec::new();
        self.join_into(&mut out);
        out
    }

    #[cold]
    fn join_into(self, out: &mut Vec<u8>) {
        out.clear();
        if self.runs.is_empty() {
            crate::copy::extend_vec(out, self.bytes);
            return;
        }
        out.reserve(self.len());
        for run in self.runs {
            crate::copy::extend_vec(out, run.bytes());
        }
    }
}

/// The host's sink for a request: encoded bytes into its reused buffer, large fields recorded
/// as runs of the message's own bytes. `'m` is how long the message being encoded is borrowed:
/// only bytes borrowed that long can become runs ([`borrow`](Self::borrow), which the `Wire`
/// codec's `gather` calls with `self`'s bytes), so no run outlives what it points to.
pub struct Gather<'v, 'm> {
    inline: &'v mut Vec<u8>,
    /// Each borrowed field: where in `inline` it goes, and its bytes; the first `borrowed`
    /// are set (not initialised before: that was 12 stores a call).
    cuts: [MaybeUninit<(usize, Run<'m>)>; MAX_BORROWED],
    borrowed: usize,
}

/// Where [`Gather::input`] builds a gathered request's runs: on the caller's stack, not
/// initialised before.
pub type RunStore<'r> = [MaybeUninit<Run<'r>>; MAX_RUNS];

/// An empty [`RunStore`].
#[inline]
pub fn run_store<'r>() -> RunStore<'r> {
    [MaybeUninit::uninit(); MAX_RUNS]
}

impl fmt::Debug for Gather<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gather")
            .field("inline", &self.inline.len())
            .field("borrowed", &self.borrowed)
            .finish()
    }
}

impl<'v, 'm> Gather<'v, 'm> {
    /// A sink writing into `inline`, which it empties first.
    #[inline]
    pub fn new(inline: &'v mut Vec<u8>) -> Self {
        inline.clear();
        Gather {
            inline,
            cuts: [MaybeUninit::uninit(); MAX_BORROWED],
            borrowed: 0,
        }
    }

    /// The encoded bytes' buffer, for an encoder that writes into a `Vec` (postcard).
    #[inline]
    pub fn inline(&mut self) -> &mut Vec<u8> {
        self.inline
    }

    /// The request: the encoded bytes alone when nothing was gathered, else the runs, built
    /// in `store`.
    #[inline]
    pub fn input<'r>(&'r self, store: &'r mut RunStore<'r>) -> Input<'r> {
        if self.borrowed == 0 {
            return Input::bytes(self.inline);
        }
        self.runs_into(store)
    }

    #[inline]
    #[expect(
        unsafe_code,
        reason = "the set prefixes of two arrays not initialised before"
    )]
    fn runs_into<'r>(&'r self, store: &'r mut RunStore<'r>) -> Input<'r> {
        let inline: &'r [u8] = self.inline;
        let mut n = 0;
        let mut from = 0;
        // The length of the runs themselves: what the plugin reads, whatever an encoder did
        // to the inline buffer (`inline()` lends it) after a cut.
        let mut total = 0;
        for cut in self.cuts.iter().take(self.borrowed) {
            // SAFETY: the first `borrowed` cuts were set by `borrow`.
            let (at, run) = unsafe { cut.assume_init() };
            // A cut's place is where the inline bytes ended when it was made; a place past
            // them now (the buffer shrank) or before the last one gives an empty run.
            let before = inline.get(from..at).unwrap_or_default();
            if !before.is_empty() {
                store[n].write(Run::new(before));
                n += 1;
                total += before.len();
            }
            store[n].write(run);
            n += 1;
            total += run.len();
            from = from.max(at);
        }
        let after = inline.get(from..).unwrap_or_default();
        if !after.is_empty() {
            store[n].write(Run::new(after));
            n += 1;
            total += after.len();
        }
        // SAFETY: `store[..n]` were all written just above; `MaybeUninit<Run>` has the layout
        // of `Run`.
        let runs = unsafe { &*(std::ptr::from_ref(&store[..n]) as *const [Run<'r>]) };
        Input {
            bytes: &[],
            runs,
            total,
        }
    }
}

impl<'m> Gather<'_, 'm> {
    /// Appends bytes borrowed for `'m` (a field's contents): kept as a run when they are at
    /// least [`GATHER_FROM`] long and fewer than the most fields were kept, copied otherwise.
    #[inline]
    pub fn borrow(&mut self, bytes: &'m [u8]) {
        if bytes.len() < GATHER_FROM {
            self.put_slice(bytes);
            return;
        }
        match self.cuts.get_mut(self.borrowed) {
            Some(cut) => {
                cut.write((self.inline.len(), Run::new(bytes)));
                self.borrowed += 1;
            }
            None => self.put_slice(bytes),
        }
    }
}

impl Sink for Gather<'_, '_> {
    #[inline]
    fn put_byte(&mut self, byte: u8) {
        self.inline.push(byte);
    }

    #[inline]
    fn put_slice(&mut self, bytes: &[u8]) {
        crate::copy::extend_vec(self.inline, bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_join_to_the_bytes() {
        let a = [1u8, 2, 3];
        let b = [4u8; 5];
        let runs = [Run::new(&a), Run::new(&[]), Run::new(&b)];
        let input = Input::runs(&runs);
        assert!(input.contiguous().is_none());
        assert_eq!(input.len(), 8);
        let mut scratch = Vec::new();
        assert_eq!(input.flat(&mut scratch), &[1, 2, 3, 4, 4, 4, 4, 4]);
        assert_eq!(input.to_vec(), [1, 2, 3, 4, 4, 4, 4, 4]);
        // One run is one buffer.
        let one = [Run::new(&a)];
        assert_eq!(Input::runs(&one).contiguous(), Some(&a[..]));
        assert_eq!(Input::runs(&[]).contiguous(), Some(&[][..]));
    }

    #[test]
    fn short_fields_are_copied_and_long_ones_borrowed() {
        let long = vec![9u8; GATHER_FROM];
        let short = vec![8u8; GATHER_FROM - 1];
        let mut buf = vec![0xAA; 3];
        let mut sink = Gather::new(&mut buf);
        sink.put_byte(1);
        sink.borrow(&short);
        sink.borrow(&long);
        sink.put_byte(2);
        let mut store = run_store();
        let input = sink.input(&mut store);
        let runs = input.gathered();
        assert_eq!(runs.len(), 3);
        assert_eq!(
            runs[1].bytes().as_ptr(),
            long.as_ptr(),
            "borrowed, not copied"
        );
        let mut expected = vec![1];
        expected.extend_from_slice(&short);
        expected.extend_from_slice(&long);
        expected.push(2);
        assert_eq!(input.to_vec(), expected);
    }

    #[test]
    fn past_the_most_borrowed_fields_the_rest_are_copied() {
        let long = vec![5u8; GATHER_FROM];
        let mut buf = Vec::new();
        let mut sink = Gather::new(&mut buf);
        for _ in 0..MAX_BORROWED + 2 {
            sink.borrow(&long);
        }
        let mut store = run_store();
        let input = sink.input(&mut store);
        assert_eq!(input.gathered().len(), MAX_BORROWED + 1);
        assert_eq!(input.len(), GATHER_FROM * (MAX_BORROWED + 2));
        assert!(input.to_vec().iter().all(|&b| b == 5));
    }
}
