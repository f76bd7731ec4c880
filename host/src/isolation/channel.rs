//! One framed, blocking channel over a unix stream socket: a little-endian `u32` length, then
//! that many bytes of postcard. Either side may attach descriptors to a frame (`SCM_RIGHTS`).
//!
//! Frames from the other side are untrusted input: a length past the channel's limit or bytes
//! that do not decode are errors, and nothing is allocated before the length is checked.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use serde::Serialize;

/// The largest frame a channel reads when no other limit is set (16 MiB plus headroom).
pub(crate) const DEFAULT_MAX_FRAME: usize = (16 << 20) + 4096;

/// A framed channel. Buffers are reused across frames.
#[derive(Debug)]
pub(crate) struct Channel {
    stream: UnixStream,
    tx: Vec<u8>,
    max_frame: usize,
    /// How long a read polls before it blocks (see [`Channel::set_spin`]).
    spin: Duration,
}

impl Channel {
    pub(crate) fn new(stream: UnixStream, max_frame: usize) -> Channel {
        Channel {
            stream,
            tx: Vec::with_capacity(256),
            max_frame,
            spin: Duration::ZERO,
        }
    }

    /// Makes each read poll the socket for up to `spin` before it sleeps in the kernel. An
    /// answer that comes within it costs no wake-up of this thread — the bulk of a round
    /// trip's latency on a virtual machine — at the price of that much CPU time per read.
    pub(crate) fn set_spin(&mut self, spin: Duration) {
        self.spin = spin;
    }

    /// A connected pair of channels.
    pub(crate) fn pair(max_frame: usize) -> io::Result<(Channel, Channel)> {
        let (a, b) = UnixStream::pair()?;
        Ok((Channel::new(a, max_frame), Channel::new(b, max_frame)))
    }

    /// The socket itself (to hand its descriptor to another process).
    pub(crate) fn into_fd(self) -> OwnedFd {
        OwnedFd::from(self.stream)
    }

    /// Bounds every following read: past `deadline` it fails with `TimedOut`.
    pub(crate) fn set_deadline(&self, deadline: Option<Instant>) -> io::Result<()> {
        let timeout = match deadline {
            None => None,
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
                }
                Some(left.max(Duration::from_micros(1)))
            }
        };
        self.stream.set_read_timeout(timeout)
    }

    /// Encodes and sends one frame.
    pub(crate) fn send<T: Serialize + ?Sized>(&mut self, message: &T) -> io::Result<()> {
        self.encode(message)?;
        (&self.stream).write_all(&self.tx)
    }

    /// Encodes and sends one frame with descriptors attached.
    #[cfg(target_os = "linux")]
    pub(crate) fn send_with_fds<T: Serialize + ?Sized>(
        &mut self,
        message: &T,
        fds: &[std::os::fd::BorrowedFd<'_>],
    ) -> io::Result<()> {
        use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
        use std::mem::MaybeUninit;

        self.encode(message)?;
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !control.push(SendAncillaryMessage::ScmRights(fds)) {
            return Err(io::Error::other("too many descriptors for one frame"));
        }
        // The descriptors travel with the first byte; the rest follows as plain writes.
        let sent = sendmsg(
            &self.stream,
            &[io::IoSlice::new(&self.tx)],
            &mut control,
            SendFlags::NOSIGNAL,
        )?;
        (&self.stream).write_all(self.tx.get(sent..).unwrap_or_default())
    }

    fn encode<T: Serialize + ?Sized>(&mut self, message: &T) -> io::Result<()> {
        self.tx.clear();
        self.tx.extend_from_slice(&[0; 4]);
        let mut tx = std::mem::take(&mut self.tx);
        tx = postcard::to_extend(message, tx).map_err(io::Error::other)?;
        let len = tx.len() - 4;
        if len > self.max_frame {
            self.tx = tx;
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a frame of {len} bytes is over the channel's limit of {}",
                    self.max_frame
                ),
            ));
        }
        let header = u32::try_from(len).map_err(io::Error::other)?.to_le_bytes();
        tx[..4].copy_from_slice(&header);
        self.tx = tx;
        Ok(())
    }

    /// Receives one frame into `buf` (cleared first), returning it as a slice.
    pub(crate) fn recv<'b>(&mut self, buf: &'b mut Vec<u8>) -> io::Result<&'b [u8]> {
        let mut header = [0u8; 4];
        let polled = self.poll_header(&mut header)?;
        (&self.stream).read_exact(&mut header[polled..])?;
        self.recv_body(header, buf)
    }

    /// Polls for the start of a frame for up to the spin time; returns how many header bytes
    /// arrived (0 if none did: the caller blocks for them).
    #[cfg(target_os = "linux")]
    fn poll_header(&self, header: &mut [u8; 4]) -> io::Result<usize> {
        use rustix::net::{recv, RecvFlags};
        if self.spin.is_zero() {
            return Ok(0);
        }
        let until = Instant::now() + self.spin;
        loop {
            match recv(&self.stream, &mut header[..], RecvFlags::DONTWAIT) {
                Ok((0, _)) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok((n, _)) => return Ok(n),
                Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            if Instant::now() >= until {
                return Ok(0);
            }
            std::thread::yield_now();
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn poll_header(&self, _header: &mut [u8; 4]) -> io::Result<usize> {
        Ok(0)
    }

    /// Receives one frame and the descriptors attached to it.
    #[cfg(target_os = "linux")]
    pub(crate) fn recv_with_fds<'b>(
        &mut self,
        buf: &'b mut Vec<u8>,
    ) -> io::Result<(&'b [u8], Vec<OwnedFd>)> {
        use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
        use std::mem::MaybeUninit;

        let mut header = [0u8; 4];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = recvmsg(
            &self.stream,
            &mut [io::IoSliceMut::new(&mut header)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )?;
        let mut fds = Vec::new();
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(received) = message {
                fds.extend(received);
            }
        }
        if got.bytes == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if got.bytes < 4 {
            (&self.stream).read_exact(&mut header[got.bytes..])?;
        }
        let body = self.recv_body(header, buf)?;
        Ok((body, fds))
    }

    fn recv_body<'b>(&mut self, header: [u8; 4], buf: &'b mut Vec<u8>) -> io::Result<&'b [u8]> {
        let len = u32::from_le_bytes(header) as usize;
        if len > self.max_frame {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the peer sent a frame of {len} bytes, over the limit of {}",
                    self.max_frame
                ),
            ));
        }
        buf.clear();
        buf.resize(len, 0);
        (&self.stream).read_exact(buf)?;
        Ok(buf.as_slice())
    }

    /// Shuts both directions down: a peer blocked reading gets end-of-file.
    pub(crate) fn shutdown(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_oversized_frames_are_refused() {
        let (mut a, mut b) = Channel::pair(64).unwrap();
        a.send(&("hello", 7u32)).unwrap();
        let mut buf = Vec::new();
        let got: (&str, u32) = postcard::from_bytes(b.recv(&mut buf).unwrap()).unwrap();
        assert_eq!(got, ("hello", 7));
        assert!(a.send(&vec![0u8; 100]).is_err());
        // A peer announcing a frame past the limit is refused before anything is allocated.
        (&a.stream).write_all(&1000u32.to_le_bytes()).unwrap();
        let e = b.recv(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn descriptors_travel_with_their_frame() {
        let (mut a, mut b) = Channel::pair(1024).unwrap();
        let (keep, give) = UnixStream::pair().unwrap();
        a.send_with_fds(&"fd", &[give.as_fd()]).unwrap();
        let mut buf = Vec::new();
        let (bytes, fds) = b.recv_with_fds(&mut buf).unwrap();
        assert_eq!(postcard::from_bytes::<&str>(bytes).unwrap(), "fd");
        assert_eq!(fds.len(), 1);
        let mut received = UnixStream::from(fds.into_iter().next().unwrap());
        received.write_all(b"x").unwrap();
        let mut one = [0u8; 1];
        (&keep).read_exact(&mut one).unwrap();
        assert_eq!(&one, b"x");
    }

    #[test]
    fn end_of_file_is_an_error_not_a_frame() {
        let (a, mut b) = Channel::pair(64).unwrap();
        drop(a);
        let mut buf = Vec::new();
        assert_eq!(
            b.recv(&mut buf).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }
}
