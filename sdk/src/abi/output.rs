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

impl std::io::Write for Output<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
