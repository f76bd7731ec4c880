//! The buffer a command writes its response into.

use std::mem::MaybeUninit;

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
    Window(Window<'a>),
}

/// The host's response window of a small call (SDK ABI 1.4): bytes go into `window` while
/// they fit; the first write that does not moves what is there into `spill`, and everything
/// after goes there too.
#[derive(Debug)]
struct Window<'a> {
    window: &'a mut [MaybeUninit<u8>],
    /// Bytes written into `window`; unused once spilled.
    len: usize,
    spill: &'a mut RVec<u8>,
    spilled: bool,
}

impl Window<'_> {
    /// Moves the window's bytes into the spill buffer, which holds the response from now on.
    #[cold]
    #[inline(never)]
    fn spill(&mut self, additional: usize) {
        let written = self.window.get(..self.len).unwrap_or_default();
        // SAFETY: the first `len` bytes of the window were written by this output, and
        // `MaybeUninit<u8>` has the layout of `u8` (`assume_init_ref` once the MSRV is 1.93).
        let written = unsafe { &*(std::ptr::from_ref(written) as *const [u8]) };
        self.spill.clear();
        self.spill.reserve(written.len() + additional);
        crate::copy::extend_rvec(self.spill, written);
        self.spilled = true;
    }

    #[inline(always)]
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        if !self.spilled {
            if let Some(room) = self.window.get_mut(self.len..self.len + bytes.len()) {
                crate::copy::copy(room, bytes);
                self.len += bytes.len();
                return;
            }
            self.spill(bytes.len());
        }
        crate::copy::extend_rvec(self.spill, bytes);
    }
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

    /// An output writing into the host's response window, then into `spill` if the response
    /// outgrows it (SDK ABI 1.4's small calls).
    #[inline]
    pub(crate) fn from_window(window: &'a mut [MaybeUninit<u8>], spill: &'a mut RVec<u8>) -> Self {
        Output {
            inner: Inner::Window(Window {
                window,
                len: 0,
                spill,
                spilled: false,
            }),
        }
    }

    /// The unwritten rest of a response window, while the response still fits in it: where a
    /// message can be encoded in place before [`advance`](Self::advance) counts it.
    #[inline]
    pub(crate) fn window_room(&mut self) -> Option<&mut [MaybeUninit<u8>]> {
        match &mut self.inner {
            Inner::Window(w) if !w.spilled => w.window.get_mut(w.len..),
            _ => None,
        }
    }

    /// Counts `n` bytes written into [`window_room`](Self::window_room).
    #[inline]
    pub(crate) fn advance(&mut self, n: usize) {
        if let Inner::Window(w) = &mut self.inner {
            w.len = (w.len + n).min(w.window.len());
        }
    }

    /// The response's length, and whether it lies in the window (else in the spill buffer).
    #[inline]
    pub(crate) fn windowed_len(&self) -> (usize, bool) {
        match &self.inner {
            Inner::Window(w) if !w.spilled => (w.len, true),
            other => (Self::inner_len(other), false),
        }
    }

    #[inline]
    fn inner_len(inner: &Inner<'_>) -> usize {
        match inner {
            Inner::Abi(v) => v.len(),
            Inner::Std(v) => v.len(),
            Inner::Window(w) if w.spilled => w.spill.len(),
            Inner::Window(w) => w.len,
        }
    }

    /// Appends bytes.
    ///
    /// Always inlined, the window's case in line and the others out of it: where the output
    /// is known to be the host's window (a command inlined into its own entry, SDK ABI 1.6) a
    /// short write is a bounds check and a store.
    #[inline(always)]
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        match &mut self.inner {
            Inner::Window(w) => w.extend_from_slice(bytes),
            other => Self::extend_other(other, bytes),
        }
    }

    /// [`extend_from_slice`](Self::extend_from_slice) into a vector.
    #[inline(never)]
    fn extend_other(inner: &mut Inner<'_>, bytes: &[u8]) {
        match inner {
            Inner::Abi(v) => crate::copy::extend_rvec(v, bytes),
            Inner::Std(v) => crate::copy::extend_vec(v, bytes),
            Inner::Window(w) => w.extend_from_slice(bytes),
        }
    }

    /// Appends one byte.
    #[inline]
    pub fn push(&mut self, byte: u8) {
        match &mut self.inner {
            Inner::Window(w) => w.extend_from_slice(&[byte]),
            Inner::Abi(v) => v.push(byte),
            Inner::Std(v) => v.push(byte),
        }
    }

    /// Reserves room for at least `additional` more bytes.
    pub fn reserve(&mut self, additional: usize) {
        match &mut self.inner {
            Inner::Abi(v) => v.reserve(additional),
            Inner::Std(v) => v.reserve(additional),
            // Only once spilled: a window's bytes move to the spill buffer when a write does
            // not fit, never on a hint, so a spilled response is always longer than the window.
            Inner::Window(w) if w.spilled => w.spill.reserve(additional),
            Inner::Window(_) => {}
        }
    }

    /// The number of bytes written so far.
    pub fn len(&self) -> usize {
        Self::inner_len(&self.inner)
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
            Inner::Window(w) => {
                w.len = 0;
                w.spill.clear();
                w.spilled = false;
            }
        }
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
