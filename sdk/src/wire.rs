//! The typed path's codec: postcard's bytes, written and read without serde's machinery.
//!
//! Every typed call encodes a request and decodes it, encodes a response and decodes it. Through
//! serde and postcard that was 390 of the 686 instructions of a call with two small structs
//! (callgrind, `dispatch/typed_small`): each integer went through a visitor, a 10-byte varint
//! buffer handed over as a slice, and a flavor. This module writes and reads the **same bytes**
//! directly: [`Wire`] is implemented for the integers, floats, `bool`, `String`, `Option`,
//! `Vec` and `()`, and `#[derive(Message)]` implements it for a struct by doing each field in
//! turn — postcard encodes a struct as its fields one after another, so a field whose type has
//! no `Wire` impl (a nested enum, a map, a type with its own serde attributes) is encoded by
//! postcard itself in the middle of the same buffer (`Probe` and `ViaSerde` below) and the bytes stay
//! identical. The wire format, and so every contract, is unchanged: plugins built with an older
//! SDK and hosts built with this one (or the reverse) understand each other, which the tests
//! check against postcard byte for byte and error for error.
//!
//! When the derive does not implement `Wire` (enums; a type or field carrying a `#[serde]`
//! attribute, which can change the encoding), the type goes through postcard as before.
//!
//! Not a public API: the derive and the host use it through `__private::wire`.

use std::marker::PhantomData;
use std::mem::MaybeUninit;

use serde::{Deserialize, Serialize};

pub use crate::abi::gather::{Gather, Input, Run};
use crate::error::PluginError;
use crate::Output;

/// Where encoded bytes go: the host's request `Vec`, or the plugin's [`Output`].
pub trait Sink {
    /// Appends one byte.
    fn put_byte(&mut self, byte: u8);
    /// Appends bytes.
    fn put_slice(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    #[inline]
    fn put_byte(&mut self, byte: u8) {
        self.push(byte);
    }

    #[inline]
    fn put_slice(&mut self, bytes: &[u8]) {
        crate::copy::extend_vec(self, bytes);
    }
}

impl Sink for Output<'_> {
    #[inline]
    fn put_byte(&mut self, byte: u8) {
        self.push(byte);
    }

    #[inline]
    fn put_slice(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// A [`Sink`] over a fixed window: bytes go in while they fit, and `len` counts every byte
/// offered, so `len > window.len()` after encoding says the value did not fit (and the
/// window's contents are then not the value's bytes). No write ever fails or goes past the
/// window, and the common case — everything fits — takes one bounds test per write.
#[derive(Debug)]
pub struct WindowSink<'w> {
    window: &'w mut [MaybeUninit<u8>],
    len: usize,
}

impl<'w> WindowSink<'w> {
    /// A sink writing from the start of `window`.
    #[inline]
    pub fn new(window: &'w mut [MaybeUninit<u8>]) -> Self {
        WindowSink { window, len: 0 }
    }

    /// How many bytes were offered: the encoded length, written in full when it is at most
    /// the window's length.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was offered.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The encoded bytes, when everything offered fitted; `None` when something did not (or
    /// [`refuse`](Self::refuse) was called).
    ///
    /// Sound whatever code drove the sink: bytes are only ever written at the count's
    /// position and the count only grows, so once a write does not fit the count stays past
    /// the window for good, and while it is within it every byte before it was written. No
    /// caller's word is taken for the length — which is why a host's request window needs no
    /// zeroing (a hand-written `Message` impl could return any count; it cannot make this
    /// one lie).
    #[inline]
    #[expect(
        unsafe_code,
        reason = "the written prefix of the window, read without initialising the rest"
    )]
    pub fn written(&self) -> Option<&[u8]> {
        let written = self.window.get(..self.len)?;
        // SAFETY: every byte of `window[..len]` was written (see above), and
        // `MaybeUninit<u8>` has the layout of `u8` (`assume_init_ref` once the MSRV is 1.93).
        Some(unsafe { &*(std::ptr::from_ref(written) as *const [u8]) })
    }

    /// Marks the value as one that cannot be encoded here: [`written`](Self::written) is
    /// `None` from now on.
    #[inline]
    pub fn refuse(&mut self) {
        self.len = usize::MAX;
    }
}

impl Sink for WindowSink<'_> {
    #[inline]
    fn put_byte(&mut self, byte: u8) {
        if let Some(slot) = self.window.get_mut(self.len) {
            slot.write(byte);
        }
        self.len = self.len.saturating_add(1);
    }

    #[inline]
    fn put_slice(&mut self, bytes: &[u8]) {
        if let Some(room) = self
            .len
            .checked_add(bytes.len())
            .and_then(|end| self.window.get_mut(self.len..end))
        {
            crate::copy::copy(room, bytes);
        }
        self.len = self.len.saturating_add(bytes.len());
    }
}

/// Why bytes did not decode; the same cases, in the same order, as postcard's errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The bytes ended inside a value.
    End,
    /// A varint longer than its type allows, or with bits past the type's width.
    Varint,
    /// A `bool` byte other than 0 or 1.
    Bool,
    /// An `Option` tag other than 0 or 1.
    Option,
    /// A string that is not UTF-8.
    Utf8,
    /// A length or value that does not fit the type it is read as (`usize`, `isize`).
    Range,
    /// A field decoded by postcard failed.
    Postcard(postcard::Error),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::End => f.write_str("the bytes end in the middle of a value"),
            WireError::Varint => f.write_str("a variable-length integer is malformed"),
            WireError::Bool => f.write_str("a boolean is neither 0 nor 1"),
            WireError::Option => f.write_str("an option tag is neither 0 nor 1"),
            WireError::Utf8 => f.write_str("a string is not valid UTF-8"),
            WireError::Range => f.write_str("a value does not fit its type"),
            WireError::Postcard(e) => write!(f, "{e}"),
        }
    }
}

/// Reads values off the front of a byte slice, or of a gathered request's runs (SDK ABI 1.5,
/// [`Input`]).
///
/// A gathered request is cut only between values (before and after a long byte or string
/// field), so every read is within one run: a read that finds its run ended moves on to the
/// next (out of line: the common case, one buffer, pays nothing for it), and a read that
/// would straddle two runs is refused as [`WireError::End`], never joined.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    /// The runs after `bytes`; empty for one buffer.
    more: &'a [Run<'a>],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    #[inline]
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, more: &[] }
    }

    /// A reader over a request, in one buffer or gathered.
    #[inline]
    pub fn from_input(input: Input<'a>) -> Self {
        let (bytes, more) = input.split();
        Reader { bytes, more }
    }

    /// Moves past ended runs to the next one with bytes; whether there is one.
    #[cold]
    #[inline(never)]
    fn refill(&mut self) -> bool {
        while self.bytes.is_empty() {
            let Some((next, more)) = self.more.split_first() else {
                return false;
            };
            self.bytes = next.bytes();
            self.more = more;
        }
        true
    }

    /// Takes one byte.
    #[inline]
    pub fn byte(&mut self) -> Result<u8, WireError> {
        let Some((&first, rest)) = self.bytes.split_first() else {
            return self.byte_next_run();
        };
        self.bytes = rest;
        Ok(first)
    }

    #[cold]
    #[inline(never)]
    fn byte_next_run(&mut self) -> Result<u8, WireError> {
        if self.refill() {
            self.byte()
        } else {
            Err(WireError::End)
        }
    }

    /// Takes `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.bytes.len() {
            return self.take_next_run(n);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    /// `take` when the current run has fewer than `n` bytes: the next run, when this one has
    /// ended and that one has them all.
    /// Not marked cold: a gathered request's long field is read here every time.
    #[inline(never)]
    fn take_next_run(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if !self.bytes.is_empty() {
            return Err(WireError::End);
        }
        while let Some((next, more)) = self.more.split_first() {
            self.more = more;
            let bytes = next.bytes();
            if !bytes.is_empty() {
                let Some((head, rest)) = bytes.split_at_checked(n) else {
                    return Err(WireError::End);
                };
                self.bytes = rest;
                return Ok(head);
            }
        }
        Err(WireError::End)
    }

    /// Takes `N` bytes as an array.
    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let Some((head, rest)) = self.bytes.split_first_chunk::<N>() else {
            return self
                .take_next_run(N)
                .and_then(|b| b.try_into().map_err(|_| WireError::End));
        };
        self.bytes = rest;
        Ok(*head)
    }

    /// Takes a varint of a type `BITS` wide, as postcard does: at most `ceil(BITS / 7)`
    /// bytes, and the last of that many may not carry bits past the width. One byte — the
    /// common case for lengths, counts and small numbers — is read inline.
    #[inline(always)]
    fn varint<const BITS: u32>(&mut self) -> Result<u64, WireError> {
        if let Some((&first, rest)) = self.bytes.split_first() {
            if first < 0x80 {
                self.bytes = rest;
                return Ok(u64::from(first));
            }
        }
        self.varint_long::<BITS>()
    }

    /// A varint whose first byte is not its last (or that is missing). Two to four bytes —
    /// counters, lengths up to 256 MiB — are read unrolled, with no loop counter and no width
    /// check (for a type wider than 28 bits, four bytes can never be too many); longer ones,
    /// and narrower types, take the loop.
    #[inline(never)]
    fn varint_long<const BITS: u32>(&mut self) -> Result<u64, WireError> {
        if BITS > 28 {
            if let [b0 @ 0x80..=0xff, b1, rest @ ..] = self.bytes {
                let mut out = u64::from(b0 & 0x7f) | u64::from(b1 & 0x7f) << 7;
                if *b1 < 0x80 {
                    self.bytes = rest;
                    return Ok(out);
                }
                if let [b2, rest @ ..] = rest {
                    out |= u64::from(b2 & 0x7f) << 14;
                    if *b2 < 0x80 {
                        self.bytes = rest;
                        return Ok(out);
                    }
                    if let [b3, rest @ ..] = rest {
                        out |= u64::from(b3 & 0x7f) << 21;
                        if *b3 < 0x80 {
                            self.bytes = rest;
                            return Ok(out);
                        }
                    }
                }
            }
        }
        self.varint_loop::<BITS>()
    }

    /// Any varint, byte by byte; the next run's when this one has ended (a check kept out of
    /// `varint_long`, where it cost a counter decode 10 instructions). Never inlined there:
    /// with the refill in it, it made `varint_long`'s own frame dearer.
    #[cold]
    #[inline(never)]
    fn varint_loop<const BITS: u32>(&mut self) -> Result<u64, WireError> {
        if self.bytes.is_empty() && self.refill() {
            return self.varint_long::<BITS>();
        }
        let max_bytes = BITS.div_ceil(7) as usize;
        let last_max = (1u8 << (BITS % 7)) - 1;
        let bytes = self.bytes;
        let mut out: u64 = 0;
        let mut shift = 0;
        let mut i = 0;
        loop {
            let Some(&byte) = bytes.get(i) else {
                return Err(WireError::End);
            };
            out |= u64::from(byte & 0x7f) << shift;
            i += 1;
            if byte < 0x80 {
                if i == max_bytes && byte > last_max {
                    return Err(WireError::Varint);
                }
                self.bytes = bytes.get(i..).unwrap_or_default();
                return Ok(out);
            }
            if i == max_bytes {
                return Err(WireError::Varint);
            }
            shift += 7;
        }
    }

    /// A `u128` varint (19 bytes at most).
    fn varint_u128(&mut self) -> Result<u128, WireError> {
        let mut out: u128 = 0;
        for i in 0..19u32 {
            let byte = self.byte()?;
            out |= u128::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                if i == 18 && byte > 0x03 {
                    return Err(WireError::Varint);
                }
                return Ok(out);
            }
        }
        Err(WireError::Varint)
    }

    /// A length: a `usize` varint. One and two bytes (up to 16 KiB: the lengths of most
    /// payloads) are read inline; a two-byte length out of line cost 34 instructions.
    #[inline]
    fn len(&mut self) -> Result<usize, WireError> {
        match *self.bytes {
            [b0, ref rest @ ..] if b0 < 0x80 => {
                self.bytes = rest;
                Ok(usize::from(b0))
            }
            [b0, b1, ref rest @ ..] if b1 < 0x80 => {
                self.bytes = rest;
                Ok(usize::from(b0 & 0x7f) | usize::from(b1) << 7)
            }
            _ => usize::try_from(self.varint_long::<{ usize::BITS }>()?)
                .map_err(|_| WireError::Range),
        }
    }

    /// What is left of the current run (of all the bytes, for one buffer).
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    /// How many bytes are left, in every run.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.bytes.len() + self.more.iter().map(|r| r.len()).sum::<usize>()
    }
}

/// Writes a varint.
#[inline]
fn put_varint<S: Sink + ?Sized>(sink: &mut S, mut value: u64) {
    while value >= 0x80 {
        sink.put_byte((value as u8) | 0x80);
        value >>= 7;
    }
    sink.put_byte(value as u8);
}

#[inline]
fn put_varint_u128<S: Sink + ?Sized>(sink: &mut S, mut value: u128) {
    while value >= 0x80 {
        sink.put_byte((value as u8) | 0x80);
        value >>= 7;
    }
    sink.put_byte(value as u8);
}

/// A type encoded without serde, to exactly the bytes postcard gives its `Serialize` impl.
/// `'de` is the lifetime of the bytes it is read from, which `&str` and `&[u8]` borrow.
pub trait Wire<'de>: Sized {
    /// Appends the encoding of `self`.
    fn put<S: Sink>(&self, sink: &mut S);
    /// Reads one value off the front of `reader`.
    fn take(reader: &mut Reader<'de>) -> Result<Self, WireError>;

    /// Appends the encoding of `self` to a host's request sink, which keeps a long byte or
    /// string field as a run of `self`'s own bytes instead of copying it (SDK ABI 1.5). The
    /// lifetime says it all: only bytes borrowed for `'m` — `self`'s, or what `self` borrows —
    /// can be kept, so no run outlives its bytes. Default: [`put`](Self::put), a copy.
    #[doc(hidden)]
    #[inline]
    fn gather<'m>(&'m self, sink: &mut Gather<'_, 'm>) {
        self.put(sink);
    }

    /// Appends the encodings of `items` back to back: a `Vec<Self>`'s elements. `u8` copies
    /// them in one go (postcard writes a `u8` as the byte itself).
    #[doc(hidden)]
    #[inline]
    fn __put_all<S: Sink>(items: &[Self], sink: &mut S) {
        for item in items {
            item.put(sink);
        }
    }

    /// [`gather`](Self::gather) for a `Vec<Self>`'s elements; `u8` keeps them as one run.
    #[doc(hidden)]
    #[inline]
    fn __gather_all<'m>(items: &'m [Self], sink: &mut Gather<'_, 'm>) {
        for item in items {
            item.gather(sink);
        }
    }

    /// Reads `len` values back to back: a `Vec<Self>`'s elements. `u8` copies them in one go.
    #[doc(hidden)]
    fn __take_all(reader: &mut Reader<'de>, len: usize) -> Result<Vec<Self>, WireError> {
        let mut items = Vec::with_capacity(len);
        for _ in 0..len {
            items.push(Self::take(reader)?);
        }
        Ok(items)
    }
}

impl<'de> Wire<'de> for () {
    #[inline]
    fn put<S: Sink>(&self, _sink: &mut S) {}

    #[inline]
    fn take(_reader: &mut Reader<'de>) -> Result<Self, WireError> {
        Ok(())
    }
}

impl<'de> Wire<'de> for bool {
    #[inline]
    fn put<S: Sink>(&self, sink: &mut S) {
        sink.put_byte(u8::from(*self));
    }

    #[inline]
    fn take(reader: &mut Reader<'de>) -> Result<Self, WireError> {
        match reader.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError::Bool),
        }
    }
}

impl<'de> Wire<'de> for u8 {
    #[inline]
    fn put<S: Sink>(&self, sink: &mut S) {
        sink.put_byte(*self);
    }

    #[inline]
    fn take(reader: &mut Reader<'de>) -> Result<Self, WireError> {
        reader.byte()
    }

    #[inline]
    fn __put_all<S: Sink>(items: &[u8], sink: &mut S) {
        sink.put_slice(items);
    }

    #[inline]
    fn __gather_all<'m>(items: &'m [u8], sink: &mut Gather<'_, 'm>) {
        sink.borrow(items);
    }

    #[inline]
    fn __take_all(reader: &mut Reader<'de>, len: usize) -> Result<Vec<u8>, WireError> {
        reader.take(len).map(crate::copy::to_vec)
    }
}

impl<'de> Wire<'de> for i8 {
    #[inline]
    fn put<S: Sink>(&self, sink: &mut S) {
        sink.put_byte(self.to_le_bytes()[0]);
    }

    #[inline]
    fn take(reader: &mut Reader<'de>) -> Result<Self, WireError> {
        Ok(i8::from_le_bytes([reader.byte()?]))
    }
}

macro_rules! unsigned_varint {
    ($($t:ty),*) => {$(
        impl<'de> Wire<'de> for $t {
            #[inline]
            fn put<S: Sink>(&self, sink: &mut S) {
                put_varint(sink, *self as u64);
            }

            #[inline]
            fn take(reader: &mut Reader<'de>) -> Result<Self, WireError> {
                let v = reader.varint::<{ <$t>::BITS }>()?;
                <$t>::try_from(v).map_err(|_| WireError::Range)
            }
        }
    )*};
}

unsigned_varint!(u16, u32, u64, usize);

macro_rules! signed_varint {
    ($($t:ty => $u:ty),*) => {$(
        impl<'de> Wire<'de> for $t {
            #[inline]
            fn put<S: Sink>(&self, sink: &mut S) {
                // Zigzag: small magnitudes of either sign stay short.
                let zigzag = ((*self << 1) ^ (*self >> (<$t>::BITS - 1))) as $u;
                put_varint(sink, zigzag as u64);
            }

            #[inline]
            fn take(reader: &mut Reader<'de>) -> Result<Self, WireError> {
                let v = <$u>::try_from(reader.varint::<{ <$t>::BITS }>()?).map_err(|_| WireError::Range)?;
                Ok(((v >> 1) as $t) ^ (-((v & 1) as $t)))
            }
        }
    )*};
}

signed_varint!(i16 => u16, i32 => u32, i64 => u64, isize => usize);

impl<'de> Wire<'de> for u128 {
    #[inline]
    fn put<S: Sink>(&self, sink: &mut S) {
        put_varint_u128(sink, *self);
    }

    #[inline]
    fn take(reader: &mut Reader<'de>) -> Result<Self, WireError> {
        reader.varint_u128()
    }
}

impl<'de> Wire<'de> for i128 {
    #[inline]
    fn put<S: Sink>(&self, sink: &mut S) {
        put_varint_u128(sink, ((*self << 1) ^ (*self >> 127)) as u128);
    }

    #[inline]
    fn take(reader: &mut Reader<'de>) -> Result<Self, WireError> {
        let v = reader.varint_u128()?;
        Ok(((v >> 1) as i128) ^ (-((v & 1) as i128)))
    }
}

/// Floats: their bits, little-endian, as postcard writes them.
macro_rules! float {
    ($($t:ty => $bits:ty),*) => {$(
        impl<'de> Wire<'de> for $t {
            #[inline]
            fn put<S: Sink>(&self, sink: &mut S) {
                sink.put_slice(&self.to_bits().to_le_bytes());
            }

            #[inline]
            fn take(reader: &mut Reader<'de>) -> Result<Self, WireError> {
                Ok(<$t>::from_bits(<$bits>::from_le_bytes(reader.array()?)))
            }
        }
    )*};
}

float!(f32 => u32, f64 => u64);

impl<'de> Wire<'de> for String {
    #[inline]
    fn put<S: Sink>(&self, sink: &mut S) {
        put_varint(sink, self.len() as u64);
        sink.put_slice(self.as_bytes());
    }

    #[inline]
    fn gather<'m>(&'m self, sink: &mut Gather<'_, 'm>) {
        put_varint(sink, self.len() as u64);
        sink.borrow(self.as_bytes());
    }

    #[inline]
    fn take(reader: &mut Reader<'de>) -> Result<Self, WireError> {
        let len = reader.len()?;
        let bytes = reader.take(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| WireError::Utf8)
    }
}

impl<'de, T: Wire<'de>> Wire<'de> for Option<T> {
    #[inline]
    fn put<S: Sink>(&self, sink: &mut S) {
        match self {
            None => sink.put_byte(0),
            Some(v) => {
                sink.put_byte(1);
                v.put(sink);
            }
        }
    }

    #[inline]
    fn take(reader: &mut Reader<'de>) -> Result<Self, WireError> {
        match reader.byte()? {
            0 => Ok(None),
            1 => Ok(Some(T::take(reader)?)),
            _ => Err(WireError::Option),
        }
    }

    #[inline]
    fn gather<'m>(&'m self, sink: &mut Gather<'_, 'm>) {
        match self {
            None => sink.put_byte(0),
            Some(v) => {
                sink.put_byte(1);
                v.gather(sink);
            }
        }
    }
}

impl<'de, T: Wire<'de>> Wire<'de> for Vec<T> {
    #[inline]
    fn put<S: Sink>(&self, sink: &mut S) {
        put_varint(sink, self.len() as u64);
        T::__put_all(self, sink);
    }

    #[inline]
    fn gather<'m>(&'m self, sink: &mut Gather<'_, 'm>) {
        put_varint(sink, self.len() as u64);
        T::__gather_all(self, sink);
    }

    fn take(reader: &mut Reader<'de>) -> Result<Self, WireError> {
        let len = reader.len()?;
        // Every element takes at least one byte (a vector of `()` or of empty structs is the
        // one case postcard would accept and this refuses), so a hostile length is refused
        // here rather than allocated or looped over.
        if len > reader.remaining() {
            return Err(WireError::End);
        }
        T::__take_all(reader, len)
    }
}

impl<'de: 'a, 'a> Wire<'de> for &'a str {
    #[inline]
    fn put<S: Sink>(&self, sink: &mut S) {
        put_varint(sink, self.len() as u64);
        sink.put_slice(self.as_bytes());
    }

    #[inline]
    fn gather<'m>(&'m self, sink: &mut Gather<'_, 'm>) {
        put_varint(sink, self.len() as u64);
        sink.borrow(self.as_bytes());
    }

    #[inline]
    fn take(reader: &mut Reader<'de>) -> Result<Self, WireError> {
        let len = reader.len()?;
        std::str::from_utf8(reader.take(len)?).map_err(|_| WireError::Utf8)
    }
}

/// Borrowed bytes: serde writes a `&[u8]` as a sequence of `u8`, which postcard encodes as
/// its length and the bytes themselves — so the same bytes as `serialize_bytes`, here written
/// in one copy and read without one.
impl<'de: 'a, 'a> Wire<'de> for &'a [u8] {
    #[inline]
    fn put<S: Sink>(&self, sink: &mut S) {
        put_varint(sink, self.len() as u64);
        sink.put_slice(self);
    }

    #[inline]
    fn gather<'m>(&'m self, sink: &mut Gather<'_, 'm>) {
        put_varint(sink, self.len() as u64);
        sink.borrow(self);
    }

    #[inline]
    fn take(reader: &mut Reader<'de>) -> Result<Self, WireError> {
        let len = reader.len()?;
        reader.take(len)
    }
}

/// Picks, for a struct field of type `T` read from bytes of lifetime `'de`, [`Wire`] when `T`
/// has it and postcard otherwise.
///
/// The derive calls `Probe::<T>::new().put(…)` and `.take(…)`. `Probe`'s own `put`/`take` exist
/// only where `T: Wire<'de>`; where it is not, method lookup goes on through `Deref` to
/// [`ViaSerde`]'s, which encode the field with postcard. Both are inherent methods, so the
/// generated code needs no trait in scope. This works because message types are concrete (the
/// derive refuses type parameters).
pub struct Probe<'de, T>(ViaSerde<'de, T>);

/// The postcard fallback [`Probe`] dereferences to.
pub struct ViaSerde<'de, T>(PhantomData<fn(&'de ()) -> T>);

impl<T> std::fmt::Debug for Probe<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Probe")
    }
}

impl<T> std::fmt::Debug for ViaSerde<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ViaSerde")
    }
}

impl<T> Probe<'_, T> {
    /// The probe.
    #[inline]
    pub const fn new() -> Self {
        Probe(ViaSerde(PhantomData))
    }
}

impl<T> Default for Probe<'_, T> {
    fn default() -> Self {
        Probe::new()
    }
}

impl<'de, T> std::ops::Deref for Probe<'de, T> {
    type Target = ViaSerde<'de, T>;

    #[inline]
    fn deref(&self) -> &ViaSerde<'de, T> {
        &self.0
    }
}

impl<'de, T: Wire<'de>> Probe<'de, T> {
    /// Appends `value` with its [`Wire`] codec.
    #[inline]
    pub fn put<S: Sink>(&self, value: &T, sink: &mut S) {
        value.put(sink);
    }

    /// Reads a value with its [`Wire`] codec.
    #[inline]
    pub fn take(&self, reader: &mut Reader<'de>) -> Result<T, WireError> {
        T::take(reader)
    }

    /// Appends `value` to a host's request sink with its [`Wire`] codec.
    #[inline]
    pub fn gather<'m>(&self, value: &'m T, sink: &mut Gather<'_, 'm>) {
        value.gather(sink);
    }
}

impl<'de, T: Serialize + Deserialize<'de>> ViaSerde<'de, T> {
    /// Appends `value` to a host's request sink with postcard (copied: nothing is kept).
    pub fn gather(&self, value: &T, sink: &mut Gather<'_, '_>) {
        self.put(value, sink);
    }

    /// Appends `value` with postcard.
    pub fn put<S: Sink>(&self, value: &T, sink: &mut S) {
        // Into a growable sink postcard fails only for what it cannot express (a map or
        // sequence of unknown length it still handles); the decoder on the other side reports it.
        let _ = postcard::serialize_with_flavor(value, SinkFlavor(sink));
    }

    /// Reads a value with postcard, from the middle of the same bytes (the current run: a
    /// value postcard encodes is never cut, see [`Reader`]).
    pub fn take(&self, reader: &mut Reader<'de>) -> Result<T, WireError> {
        if reader.bytes.is_empty() {
            reader.refill();
        }
        let (value, rest) =
            postcard::take_from_bytes(reader.rest()).map_err(WireError::Postcard)?;
        reader.bytes = rest;
        Ok(value)
    }
}

/// Encodes `value` with postcard into `sink`.
pub fn serialize_into<T: Serialize + ?Sized, S: Sink + ?Sized>(
    value: &T,
    sink: &mut S,
) -> postcard::Result<()> {
    postcard::serialize_with_flavor(value, SinkFlavor(sink))
}

struct SinkFlavor<'a, S: ?Sized>(&'a mut S);

impl<S: Sink + ?Sized> postcard::ser_flavors::Flavor for SinkFlavor<'_, S> {
    type Output = ();

    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.put_byte(data);
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.put_slice(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Encodes `value` onto the end of `buf`.
#[inline]
pub fn encode_into<'de, T: Wire<'de>>(value: &T, buf: &mut Vec<u8>) {
    value.put(buf);
}

/// Encodes `value` into `window`; returns its encoded length, which is over `window.len()`
/// when it did not fit (the window then holds no value).
#[inline]
pub fn encode_window<'de, T: Wire<'de>>(value: &T, window: &mut [MaybeUninit<u8>]) -> usize {
    let mut sink = WindowSink::new(window);
    value.put(&mut sink);
    sink.len()
}

/// Encodes `value` into `sink` (a host's small-call request); [`WindowSink::written`] then
/// says whether it fitted.
#[inline]
pub fn encode_to_window<'de, T: Wire<'de>>(value: &T, sink: &mut WindowSink<'_>) {
    value.put(sink);
}

/// Encodes `value` into a command's output.
///
/// Into the host's response window of a small call (SDK ABI 1.4), the bytes are written in
/// place when they fit. Otherwise they are gathered on the stack and handed to the output in
/// one copy: the output is then the host's `RVec`, whose `push` is a call into `abi_stable`'s
/// code per byte.
#[inline(always)]
pub fn write<'de, T: Wire<'de>>(value: &T, out: &mut Output<'_>) -> Result<(), PluginError> {
    if let Some(room) = out.window_room() {
        let n = encode_window(value, room);
        if n <= room.len() {
            out.advance(n);
            return Ok(());
        }
        // Too long for the window: encoded again below, into the spill buffer (the command
        // itself is not run again).
    }
    let mut staged = Staged {
        buf: [0; STAGE],
        len: 0,
        out,
    };
    value.put(&mut staged);
    staged.flush();
    Ok(())
}

/// The bytes [`write`] gathers before copying them to the output.
const STAGE: usize = 64;

/// A [`Sink`] that stages bytes on the stack in front of an [`Output`].
struct Staged<'o, 'b> {
    buf: [u8; STAGE],
    len: usize,
    out: &'o mut Output<'b>,
}

impl Staged<'_, '_> {
    #[inline]
    fn flush(&mut self) {
        if self.len > 0 {
            self.out.extend_from_slice(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl Sink for Staged<'_, '_> {
    #[inline]
    fn put_byte(&mut self, byte: u8) {
        if self.len == STAGE {
            self.flush();
        }
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    #[inline]
    fn put_slice(&mut self, bytes: &[u8]) {
        match self.buf.get_mut(self.len..self.len + bytes.len()) {
            Some(room) => {
                room.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            None => {
                self.flush();
                self.out.extend_from_slice(bytes);
            }
        }
    }
}

/// Encodes `value` into a host's request sink: long fields become runs of `value`'s own bytes
/// (SDK ABI 1.5).
#[inline]
pub fn gather<'m, 'de, T: Wire<'de>>(value: &'m T, sink: &mut Gather<'_, 'm>) {
    value.gather(sink);
}

/// Decodes a `T` from the front of a request, in one buffer or gathered (trailing bytes are
/// ignored, as postcard does). A borrowed field of a gathered request is the caller's bytes.
#[inline]
pub fn decode_input<'de, T: Wire<'de>>(input: Input<'de>) -> Result<T, PluginError> {
    T::take(&mut Reader::from_input(input)).map_err(|e| crate::message::undecodable::<T>(&e))
}

/// Decodes a `T` from the front of `bytes` (trailing bytes are ignored, as postcard does).
#[inline]
pub fn decode<'de, T: Wire<'de>>(bytes: &'de [u8]) -> Result<T, PluginError> {
    T::take(&mut Reader::new(bytes)).map_err(|e| crate::message::undecodable::<T>(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::de::DeserializeOwned;

    /// The same bytes as postcard for `value`, and the same value back.
    fn same_as_postcard<T>(value: &T)
    where
        T: for<'de> Wire<'de> + Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let ours = {
            let mut buf = Vec::new();
            value.put(&mut buf);
            buf
        };
        let theirs = postcard::to_allocvec(value).unwrap();
        assert_eq!(ours, theirs, "encoding of {value:?}");
        assert_eq!(&decode::<T>(&ours).unwrap(), value);
    }

    /// For any bytes, we decode exactly when postcard does, to the same value and the same rest.
    fn same_decoding<T>(bytes: &[u8])
    where
        T: for<'de> Wire<'de> + DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let mut reader = Reader::new(bytes);
        let ours = T::take(&mut reader).map(|v| (v, reader.rest().len()));
        let theirs = postcard::take_from_bytes::<T>(bytes).map(|(v, rest)| (v, rest.len()));
        match (ours, theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "decoding {bytes:?}"),
            (Err(_), Err(_)) => {}
            (a, b) => panic!("decoding {bytes:?}: ours {a:?}, postcard {b:?}"),
        }
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Shape {
        Dot,
        Line(u32),
    }

    /// A struct as the derive writes it: each field by `Wire` or by postcard.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Mixed {
        id: u64,
        shape: Shape,
        name: String,
        tags: Vec<Option<i16>>,
    }

    impl<'de> Wire<'de> for Mixed {
        fn put<S: Sink>(&self, sink: &mut S) {
            Probe::<u64>::new().put(&self.id, sink);
            Probe::<Shape>::new().put(&self.shape, sink);
            Probe::<String>::new().put(&self.name, sink);
            Probe::<Vec<Option<i16>>>::new().put(&self.tags, sink);
        }

        fn take(reader: &mut Reader<'de>) -> Result<Self, WireError> {
            Ok(Mixed {
                id: Probe::<u64>::new().take(reader)?,
                shape: Probe::<Shape>::new().take(reader)?,
                name: Probe::<String>::new().take(reader)?,
                tags: Probe::<Vec<Option<i16>>>::new().take(reader)?,
            })
        }
    }

    #[test]
    fn a_struct_mixing_wire_and_postcard_fields_is_postcards_bytes() {
        same_as_postcard(&Mixed {
            id: 300,
            shape: Shape::Line(7),
            name: "héllo".into(),
            tags: vec![None, Some(-1), Some(i16::MIN)],
        });
        same_as_postcard(&Mixed {
            id: 0,
            shape: Shape::Dot,
            name: String::new(),
            tags: vec![],
        });
    }

    /// A value with a field of every kind the window tests need.
    fn sample_mixed() -> Mixed {
        Mixed {
            id: 300,
            shape: Shape::Line(7),
            name: "héllo".into(),
            tags: vec![None, Some(-1), Some(i16::MIN)],
        }
    }

    /// Into a window of every size around its length, a value is written whole (postcard's
    /// bytes) when it fits, and its full length is reported either way.
    #[test]
    #[expect(
        unsafe_code,
        reason = "reading back a window the test initialised in full"
    )]
    fn a_window_takes_a_value_that_fits_and_reports_the_length_of_one_that_does_not() {
        let value = sample_mixed();
        let bytes = postcard::to_allocvec(&value).unwrap();
        for cap in 0..=bytes.len() + 2 {
            let mut window = vec![MaybeUninit::<u8>::new(0xEE); cap];
            assert_eq!(
                encode_window(&value, &mut window),
                bytes.len(),
                "window of {cap}"
            );
            // SAFETY: every byte was initialised (to 0xEE) before the encoder wrote any.
            let written: Vec<u8> = window.iter().map(|b| unsafe { b.assume_init() }).collect();
            if cap >= bytes.len() {
                assert_eq!(&written[..bytes.len()], &bytes[..], "window of {cap}");
                assert!(written[bytes.len()..].iter().all(|&b| b == 0xEE));
            }
        }
    }

    /// A sink's `written` is the value's bytes exactly when they fitted — the window left
    /// uninitialised, as the host's request window is — and `None` once anything did not fit,
    /// whatever is written after, or once refused.
    #[test]
    fn a_sink_hands_out_its_bytes_only_when_everything_fitted() {
        let value = sample_mixed();
        let bytes = postcard::to_allocvec(&value).unwrap();
        for cap in 0..=bytes.len() + 2 {
            let mut window = vec![MaybeUninit::<u8>::uninit(); cap];
            let mut sink = WindowSink::new(&mut window);
            encode_to_window(&value, &mut sink);
            if cap >= bytes.len() {
                assert_eq!(sink.written(), Some(&bytes[..]), "window of {cap}");
            } else {
                assert_eq!(sink.written(), None, "window of {cap}");
                // Short writes after a long one do not bring the sink back within its window.
                sink.put_byte(1);
                sink.put_slice(&[]);
                assert_eq!(sink.written(), None, "window of {cap}");
            }
        }
        let mut window = [MaybeUninit::<u8>::uninit(); 8];
        let mut sink = WindowSink::new(&mut window);
        sink.put_byte(7);
        assert_eq!(sink.written(), Some(&[7u8][..]));
        sink.refuse();
        sink.put_byte(8);
        assert_eq!(sink.written(), None);
    }

    #[test]
    fn edges_of_every_width() {
        for v in [0u16, 1, 127, 128, u16::MAX] {
            same_as_postcard(&v);
        }
        for v in [0u32, 127, 128, 16_383, 16_384, u32::MAX] {
            same_as_postcard(&v);
        }
        for v in [0u64, u64::MAX, 1 << 63] {
            same_as_postcard(&v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            same_as_postcard(&v);
        }
        for v in [0u128, u128::MAX, 1 << 127] {
            same_as_postcard(&v);
        }
        for v in [0i128, -1, i128::MIN, i128::MAX] {
            same_as_postcard(&v);
        }
        same_as_postcard(&(i8::MIN));
        same_as_postcard(&u8::MAX);
        same_as_postcard(&f32::NEG_INFINITY);
        same_as_postcard(&f64::MIN_POSITIVE);
        same_as_postcard(&true);
        same_as_postcard(&usize::MAX);
        same_as_postcard(&isize::MIN);
        same_as_postcard(&());
    }

    #[test]
    fn bad_bytes_are_a_coded_error_not_a_panic() {
        // u16: a third byte over 3, a continuation past three bytes, the end mid-varint.
        assert!(decode::<u16>(&[0xff, 0xff, 0x04]).is_err());
        assert!(decode::<u16>(&[0xff, 0xff, 0x83]).is_err());
        assert!(decode::<u64>(&[0x80]).is_err());
        assert!(decode::<bool>(&[2]).is_err());
        assert!(decode::<Option<u8>>(&[2, 0]).is_err());
        let e = decode::<String>(&[2, 0xff, 0xfe]).unwrap_err();
        assert_eq!(e.code(), crate::codes::BAD_REQUEST);
        assert!(e.message().contains("UTF-8"), "{}", e.message());
        // A length far past the bytes that follow: an error, and no huge allocation.
        assert!(decode::<Vec<u8>>(&[0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
        assert!(decode::<String>(&[0xff, 0xff, 0xff, 0xff, 0x0f, b'a']).is_err());
    }

    /// A request with long fields of every gathered kind, between short ones and a field
    /// postcard encodes.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Parcel<'a> {
        id: u32,
        data: &'a [u8],
        note: &'a str,
        shape: Shape,
        owned: Vec<u8>,
        name: String,
        tail: Option<u16>,
    }

    impl<'de: 'a, 'a> Wire<'de> for Parcel<'a> {
        fn put<S: Sink>(&self, sink: &mut S) {
            Probe::<u32>::new().put(&self.id, sink);
            Probe::<&[u8]>::new().put(&self.data, sink);
            Probe::<&str>::new().put(&self.note, sink);
            Probe::<Shape>::new().put(&self.shape, sink);
            Probe::<Vec<u8>>::new().put(&self.owned, sink);
            Probe::<String>::new().put(&self.name, sink);
            Probe::<Option<u16>>::new().put(&self.tail, sink);
        }

        fn gather<'m>(&'m self, sink: &mut Gather<'_, 'm>) {
            Probe::<u32>::new().gather(&self.id, sink);
            Probe::<&[u8]>::new().gather(&self.data, sink);
            Probe::<&str>::new().gather(&self.note, sink);
            Probe::<Shape>::new().gather(&self.shape, sink);
            Probe::<Vec<u8>>::new().gather(&self.owned, sink);
            Probe::<String>::new().gather(&self.name, sink);
            Probe::<Option<u16>>::new().gather(&self.tail, sink);
        }

        fn take(reader: &mut Reader<'de>) -> Result<Self, WireError> {
            Ok(Parcel {
                id: Probe::<u32>::new().take(reader)?,
                data: Probe::<&[u8]>::new().take(reader)?,
                note: Probe::<&str>::new().take(reader)?,
                shape: Probe::<Shape>::new().take(reader)?,
                owned: Probe::<Vec<u8>>::new().take(reader)?,
                name: Probe::<String>::new().take(reader)?,
                tail: Probe::<Option<u16>>::new().take(reader)?,
            })
        }
    }

    /// Gathers `value`; checks the runs join to postcard's bytes and decode to `value`, and
    /// returns how many runs there were and whether the decoded `data` is the caller's slice.
    fn gathered_round_trip(value: &Parcel<'_>) -> (usize, bool) {
        let mut inline = Vec::new();
        let mut sink = Gather::new(&mut inline);
        gather(value, &mut sink);
        let mut store = crate::abi::gather::run_store();
        let input = sink.input(&mut store);
        assert_eq!(input.to_vec(), postcard::to_allocvec(value).unwrap());
        assert_eq!(input.len(), input.to_vec().len());
        let back: Parcel<'_> = decode_input(input).unwrap();
        assert_eq!(&back, value);
        (
            input.gathered().len(),
            std::ptr::eq(back.data.as_ptr(), value.data.as_ptr()),
        )
    }

    #[test]
    fn a_gathered_request_decodes_to_the_same_value_reading_long_fields_in_place() {
        use crate::abi::gather::GATHER_FROM;
        let long = vec![7u8; GATHER_FROM];
        let text = "é".repeat(GATHER_FROM);
        let value = Parcel {
            id: 300,
            data: &long,
            note: &text,
            shape: Shape::Line(9),
            owned: vec![3; 5000],
            name: "x".repeat(GATHER_FROM + 1),
            tail: Some(65535),
        };
        let (runs, in_place) = gathered_round_trip(&value);
        assert!(
            in_place,
            "a long borrowed field is read where the caller keeps it"
        );
        // Four long fields, each between two runs of encoded bytes.
        assert_eq!(runs, 9);
        // Short fields are copied: one buffer, nothing gathered.
        let short = Parcel {
            id: 1,
            data: &long[..GATHER_FROM - 1],
            note: "n",
            shape: Shape::Dot,
            owned: vec![],
            name: String::new(),
            tail: None,
        };
        assert_eq!(gathered_round_trip(&short), (0, false));
        // A long field last: nothing after it.
        let last = Parcel {
            owned: vec![1; 2],
            tail: None,
            ..short
        };
        assert_eq!(gathered_round_trip(&last).0, 0);
    }

    /// Runs cut anywhere but between values (what a host never sends) are refused with a
    /// coded error, never joined and never a panic.
    #[test]
    fn runs_cut_inside_a_value_are_an_error_not_a_panic() {
        let data = vec![5u8; 40];
        let value = Parcel {
            id: 70_000,
            data: &data,
            note: "note",
            shape: Shape::Line(1),
            owned: vec![1, 2, 3],
            name: "name".into(),
            tail: Some(1),
        };
        let bytes = postcard::to_allocvec(&value).unwrap();
        for cut in 0..=bytes.len() {
            let (a, b) = bytes.split_at(cut);
            let runs = [Run::new(a), Run::new(b)];
            match decode_input::<Parcel<'_>>(Input::runs(&runs)) {
                Ok(back) => assert_eq!(back, value, "cut at {cut}"),
                Err(e) => assert_eq!(e.code(), crate::codes::BAD_REQUEST, "cut at {cut}"),
            }
        }
        // Empty runs anywhere are skipped.
        let runs = [Run::new(&[]), Run::new(&bytes), Run::new(&[])];
        assert_eq!(
            decode_input::<Parcel<'_>>(Input::runs(&runs)).unwrap(),
            value
        );
    }

    proptest! {
        #[test]
        fn integers_encode_like_postcard(a: i64, b: u64, c: i32, d: u32, e: i16, f: u16, g: i128, h: u128) {
            same_as_postcard(&a);
            same_as_postcard(&b);
            same_as_postcard(&c);
            same_as_postcard(&d);
            same_as_postcard(&e);
            same_as_postcard(&f);
            same_as_postcard(&g);
            same_as_postcard(&h);
        }

        #[test]
        fn strings_options_and_vectors_encode_like_postcard(
            s in ".{0,40}",
            o: Option<u32>,
            v in proptest::collection::vec(any::<i64>(), 0..20),
            x: f64,
        ) {
            same_as_postcard(&s);
            same_as_postcard(&o);
            same_as_postcard(&v);
            if !x.is_nan() {
                same_as_postcard(&x);
            }
        }

        /// Varints of every length followed by more bytes: each one decodes as postcard
        /// decodes it, whatever follows (a decoder that reads ahead must stop at the varint's
        /// end).
        #[test]
        fn varints_with_bytes_after_them_decode_as_postcard_decodes_them(
            shift in 0u32..64,
            value: u64,
            tail in proptest::collection::vec(any::<u8>(), 0..12),
        ) {
            let value = value >> shift;
            let mut bytes = postcard::to_allocvec(&value).unwrap();
            bytes.extend_from_slice(&tail);
            same_decoding::<u64>(&bytes);
            same_decoding::<u32>(&bytes);
            same_decoding::<u16>(&bytes);
            same_decoding::<i64>(&bytes);
            same_decoding::<i32>(&bytes);
            same_decoding::<usize>(&bytes);
            same_decoding::<Mixed>(&bytes);
        }

        #[test]
        fn any_bytes_decode_as_postcard_decodes_them(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
            same_decoding::<u16>(&bytes);
            same_decoding::<u32>(&bytes);
            same_decoding::<u64>(&bytes);
            same_decoding::<i16>(&bytes);
            same_decoding::<i32>(&bytes);
            same_decoding::<i64>(&bytes);
            same_decoding::<u128>(&bytes);
            same_decoding::<i128>(&bytes);
            same_decoding::<usize>(&bytes);
            same_decoding::<bool>(&bytes);
            same_decoding::<Option<u16>>(&bytes);
            same_decoding::<String>(&bytes);
            same_decoding::<Vec<u8>>(&bytes);
            same_decoding::<Vec<Option<bool>>>(&bytes);
            same_decoding::<Mixed>(&bytes);
        }
    }
}
