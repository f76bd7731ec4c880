//! The buffer a command writes its response into.

use abi_stable::std_types::RVec;

/// Where a command writes its response bytes.
///
/// The host lends the buffer and reuses it across calls, so writing a response allocates only
/// when the buffer must grow. Typed commands never see it (the macro encodes their return
/// value); raw commands may take `out: &mut Output` to write bytes without an intermediate
/// `Vec`.
///
/// # Example
///
/// ```
/// use switchboard_sdk::Output;
///
/// let mut buf = Vec::new();
/// let mut out = Output::from_vec(&mut buf);
/// out.extend_from_slice(b"hello");
/// out.push(b'!');
/// assert_eq!(out.len(), 6);
/// assert_eq!(buf, b"hello!");
/// ```
#[derive(Debug)]
pub struct Output<'a> {
    inner: Inner<'a>,
}

#[derive(Debug)]
enum Inner<'a> {
    Abi(&'a mut RVec<u8>),
    Std(&'a mut Vec<u8>),
}

impl<'a> Output<'a> {
    pub(crate) fn from_rvec(buf: &'a mut RVec<u8>) -> Self {
        Output {
            inner: Inner::Abi(buf),
        }
    }

    /// An output writing into a plain `Vec`, for tests and in-process adapters.
    pub fn from_vec(buf: &'a mut Vec<u8>) -> Self {
        Output {
            inner: Inner::Std(buf),
        }
    }

    /// Appends bytes.
    #[inline]
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        match &mut self.inner {
            Inner::Abi(v) => v.extend_from_copy_slice(bytes),
            Inner::Std(v) => v.extend_from_slice(bytes),
        }
    }

    /// Appends one byte.
    #[inline]
    pub fn push(&mut self, byte: u8) {
        match &mut self.inner {
            Inner::Abi(v) => v.push(byte),
            Inner::Std(v) => v.push(byte),
        }
    }

    /// Reserves room for at least `additional` more bytes.
    pub fn reserve(&mut self, additional: usize) {
        match &mut self.inner {
            Inner::Abi(v) => v.reserve(additional),
            Inner::Std(v) => v.reserve(additional),
        }
    }

    /// The number of bytes written so far.
    pub fn len(&self) -> usize {
        match &self.inner {
            Inner::Abi(v) => v.len(),
            Inner::Std(v) => v.len(),
        }
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Discards what was written so far (used when a command fails half-way).
    pub fn clear(&mut self) {
        match &mut self.inner {
            Inner::Abi(v) => v.clear(),
            Inner::Std(v) => v.clear(),
        }
    }
}

impl Output<'_> {
    /// The buffer's start, length and capacity.
    #[inline]
    fn raw_parts(&mut self) -> (*mut u8, usize, usize) {
        match &mut self.inner {
            Inner::Abi(v) => (v.as_mut_ptr(), v.len(), v.capacity()),
            Inner::Std(v) => (v.as_mut_ptr(), v.len(), v.capacity()),
        }
    }

    /// Sets the length.
    ///
    /// # Safety
    ///
    /// `len` is at most the capacity and the bytes up to it are initialised.
    #[inline]
    unsafe fn set_len(&mut self, len: usize) {
        // SAFETY: the caller's promise is the one both `set_len`s ask for.
        unsafe {
            match &mut self.inner {
                Inner::Abi(v) => v.set_len(len),
                Inner::Std(v) => v.set_len(len),
            }
        }
    }
}

/// Writes straight into an [`Output`]'s spare capacity: the typed path's encoder (`wire`)
/// writes a command's response with it. The buffer's pointer, length and capacity are kept in
/// the writer, so a byte costs one comparison and one store — no staging copy, no call into
/// `memcpy` for a few bytes, and no per-byte `RVec::push` (issue 17's fourth round). The
/// output's length is set by [`finish`](Self::finish), and when the buffer must grow; a writer
/// dropped without `finish` (a panic while encoding, which the host sees as the call's error
/// and so never reads the buffer) leaves out what it wrote since the last growth.
pub(crate) struct Direct<'o, 'b> {
    out: &'o mut Output<'b>,
    ptr: *mut u8,
    len: usize,
    cap: usize,
}

impl<'o, 'b> Direct<'o, 'b> {
    /// A writer appending to `out`.
    #[inline]
    pub(crate) fn new(out: &'o mut Output<'b>) -> Self {
        let (ptr, len, cap) = out.raw_parts();
        Direct { out, ptr, len, cap }
    }

    /// Appends a varint of `value` (postcard's: seven bits a byte, low first, the high bit
    /// set on every byte but the last). With 8 bytes of room and a value under 2^56 it is
    /// written with one 8-byte store, the bytes spread out of the value in three steps rather
    /// than a loop of a compare and a store each (a `u64` counter past 16,384 is 3 to 4 bytes).
    ///
    /// Short of 8 bytes of room it grows the buffer first: the host keeps its response buffer
    /// from call to call, so that happens once, not on every call with a small buffer.
    #[inline(always)]
    pub(crate) fn put_varint(&mut self, value: u64) {
        if value < 0x80 {
            self.put_byte(value as u8);
        } else if value < 1 << 56 {
            if self.cap - self.len < 8 {
                self.grow(8);
            }
            // Bytes in the varint, 2 to 8.
            let len = (64 - value.leading_zeros()).div_ceil(7) as usize;
            let x = (value & 0x0fff_ffff) | ((value & 0x00ff_ffff_f000_0000) << 4);
            let x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x0fff_c000_0fff_c000) << 2);
            let x = (x & 0x007f_007f_007f_007f) | ((x & 0x3f80_3f80_3f80_3f80) << 1);
            // The continuation bit on every byte but the last.
            let x = x | (0x8080_8080_8080_8080 & (u64::MAX >> (64 - 8 * (len - 1))));
            // SAFETY: `len + 8 <= cap` (checked, or `grow` made room), and `ptr` is valid for
            // `cap` bytes; the bytes past the varint's `len` are spare capacity, overwritten
            // later or never read.
            unsafe {
                self.ptr
                    .add(self.len)
                    .cast::<[u8; 8]>()
                    .write_unaligned(x.to_le_bytes());
            }
            self.len += len;
        } else {
            self.put_varint_long(value);
        }
    }

    /// A varint of 9 or 10 bytes, byte by byte.
    #[cold]
    #[inline(never)]
    fn put_varint_long(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.put_byte((value as u8) | 0x80);
            value >>= 7;
        }
        self.put_byte(value as u8);
    }

    /// Appends one byte.
    #[inline]
    pub(crate) fn put_byte(&mut self, byte: u8) {
        if self.len == self.cap {
            self.grow(1);
        }
        // SAFETY: `len < cap` (just checked, or `grow` made room), and `ptr` is the start of
        // the output's buffer, valid for `cap` bytes while `out` is borrowed here.
        unsafe { self.ptr.add(self.len).write(byte) };
        self.len += 1;
    }

    /// Appends bytes.
    #[inline]
    pub(crate) fn put_slice(&mut self, bytes: &[u8]) {
        if self.cap - self.len < bytes.len() {
            self.grow(bytes.len());
        }
        // SAFETY: `len + bytes.len() <= cap` (checked, or `grow` made room); `ptr` is valid
        // for `cap` bytes and the output's buffer cannot overlap the borrowed `bytes`.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(self.len), bytes.len());
        }
        self.len += bytes.len();
    }

    /// Makes room for `additional` more bytes: the ones written so far become the output's,
    /// its buffer grows (with the allocator of whoever lent it), and the writer goes on in it.
    #[inline]
    fn grow(&mut self, additional: usize) {
        (self.ptr, self.len, self.cap) = Self::grown(self.out, self.len, additional);
    }

    /// [`grow`](Self::grow)'s work, out of line and not handed the writer, so the writer's
    /// pointer, length and capacity can stay in registers on the path that does not grow.
    #[cold]
    #[inline(never)]
    fn grown(out: &mut Output<'_>, len: usize, additional: usize) -> (*mut u8, usize, usize) {
        // SAFETY: `len` is at most the capacity, and every byte up to it was written by the
        // writer or was the output's already.
        unsafe { out.set_len(len) };
        out.reserve(additional);
        out.raw_parts()
    }

    /// Ends the writing: what was written becomes part of the output.
    #[inline]
    pub(crate) fn finish(self) {
        // SAFETY: as in `grow`.
        unsafe { self.out.set_len(self.len) };
    }
}

impl std::io::Write for Output<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `bytes` through a `Direct` in pieces of every size, some bytes one by one.
    fn write_all(out: &mut Output<'_>, bytes: &[u8]) {
        let mut direct = Direct::new(out);
        let mut rest = bytes;
        let mut piece = 0;
        while !rest.is_empty() {
            let (head, tail) = rest.split_at(piece.min(rest.len()));
            if head.is_empty() {
                direct.put_byte(tail[0]);
                rest = &tail[1..];
            } else {
                direct.put_slice(head);
                rest = tail;
            }
            piece = (piece + 1) % 40;
        }
        direct.finish();
    }

    #[test]
    fn direct_writes_grow_either_buffer_and_keep_what_was_there() {
        let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut abi = RVec::from(vec![9u8, 8]);
        write_all(&mut Output::from_rvec(&mut abi), &bytes);
        assert_eq!(&abi[..2], &[9, 8]);
        assert_eq!(&abi[2..], &bytes[..]);

        let mut std = Vec::with_capacity(3);
        std.push(1u8);
        write_all(&mut Output::from_vec(&mut std), &bytes);
        assert_eq!(std[0], 1);
        assert_eq!(&std[1..], &bytes[..]);
    }

    #[test]
    fn direct_varints_are_postcards_whatever_the_room() {
        let mut values = vec![
            0u64,
            1,
            0x7f,
            0x80,
            0x3fff,
            0x4000,
            u64::MAX,
            (1 << 56) - 1,
            1 << 56,
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x >> (x % 64));
        }
        for value in values {
            let want = postcard::to_allocvec(&value).unwrap();
            // Room for the one-store path, and buffers too small for it.
            for capacity in [0, 1, 3, 9, 64] {
                let mut abi: RVec<u8> = RVec::with_capacity(capacity);
                abi.push(5);
                let mut out = Output::from_rvec(&mut abi);
                let mut direct = Direct::new(&mut out);
                direct.put_varint(value);
                direct.put_byte(6);
                direct.finish();
                assert_eq!(abi[0], 5);
                assert_eq!(
                    &abi[1..abi.len() - 1],
                    &want[..],
                    "{value:#x}, capacity {capacity}"
                );
                assert_eq!(abi[abi.len() - 1], 6);
            }
        }
    }

    #[test]
    fn a_direct_writer_dropped_unfinished_adds_nothing_since_its_last_growth() {
        let mut abi = RVec::with_capacity(64);
        abi.extend_from_copy_slice(&[1u8, 2, 3]);
        let mut out = Output::from_rvec(&mut abi);
        let mut direct = Direct::new(&mut out);
        direct.put_slice(&[7; 10]);
        direct.put_byte(4);
        drop(direct);
        assert_eq!(out.len(), 3);
        assert_eq!(abi.as_slice(), &[1, 2, 3]);
    }
}
