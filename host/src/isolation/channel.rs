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
    /// Bytes read ahead of the frame being returned: one `recv` takes the header and (for a
    /// small frame) the body at once. `rx[rx_start..rx_end]` is unread.
    rx: Vec<u8>,
    rx_start: usize,
    rx_end: usize,
    max_frame: usize,
    /// How long a read polls before it blocks (see [`Channel::set_spin`]).
    spin: Duration,
    /// When reads give up (see [`Channel::set_deadline`]).
    deadline: Option<Instant>,
    /// Whether the socket's receive timeout is set (it is set only before a blocking read).
    timeout_armed: bool,
}

/// How many bytes a channel reads ahead: small frames arrive whole in one system call.
const READ_AHEAD: usize = 16 << 10;

impl Channel {
    pub(crate) fn new(stream: UnixStream, max_frame: usize) -> Channel {
        Channel {
            stream,
            tx: Vec::with_capacity(256),
            rx: Vec::new(),
            rx_start: 0,
            rx_end: 0,
            max_frame,
            spin: Duration::ZERO,
            deadline: None,
            timeout_armed: false,
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

    /// Bounds every following read: past `deadline` it fails with `TimedOut`. Costs nothing
    /// until a read has to block (the socket's timeout is set only then).
    pub(crate) fn set_deadline(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        if let Some(at) = deadline {
            if at <= Instant::now() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
            }
        }
        self.deadline = deadline;
        Ok(())
    }

    /// Arms the socket's receive timeout for the deadline, before a blocking read.
    fn arm_timeout(&mut self) -> io::Result<()> {
        match self.deadline {
            None if !self.timeout_armed => Ok(()),
            None => {
                self.timeout_armed = false;
                self.stream.set_read_timeout(None)
            }
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
                }
                self.timeout_armed = true;
                self.stream
                    .set_read_timeout(Some(left.max(Duration::from_micros(1))))
            }
        }
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
        while self.buffered() < 4 {
            self.read_more()?;
        }
        let start = self.rx_start;
        let mut header = [0u8; 4];
        header.copy_from_slice(&self.rx[start..start + 4]);
        let len = self.frame_len(header)?;
        self.rx_start += 4;
        buf.clear();
        if len <= READ_AHEAD {
            while self.buffered() < len {
                self.read_more()?;
            }
            buf.extend_from_slice(&self.rx[self.rx_start..self.rx_start + len]);
            self.rx_start += len;
        } else {
            // A large frame: what is read ahead, then the rest straight into `buf`.
            let have = self.buffered().min(len);
            buf.extend_from_slice(&self.rx[self.rx_start..self.rx_start + have]);
            self.rx_start += have;
            buf.resize(len, 0);
            self.arm_timeout()?;
            (&self.stream).read_exact(&mut buf[have..])?;
        }
        if self.rx_start == self.rx_end {
            self.rx_start = 0;
            self.rx_end = 0;
        }
        Ok(buf.as_slice())
    }

    fn buffered(&self) -> usize {
        self.rx_end - self.rx_start
    }

    /// Reads what the socket has into the read-ahead buffer: polls for up to the spin time,
    /// then blocks until the deadline. End of file is an error.
    fn read_more(&mut self) -> io::Result<()> {
        if self.rx.len() < READ_AHEAD {
            self.rx.resize(READ_AHEAD, 0);
        }
        if self.rx_start > 0 && self.rx_end == self.rx.len() {
            self.rx.copy_within(self.rx_start..self.rx_end, 0);
            self.rx_end -= self.rx_start;
            self.rx_start = 0;
        }
        let got = match self.poll_read()? {
            Some(n) => n,
            None => {
                self.arm_timeout()?;
                let end = self.rx_end;
                (&self.stream).read(&mut self.rx[end..])?
            }
        };
        if got == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.rx_end += got;
        Ok(())
    }

    /// Polls for bytes for up to the spin time; `None` if none came (the caller blocks).
    #[cfg(target_os = "linux")]
    fn poll_read(&mut self) -> io::Result<Option<usize>> {
        use rustix::net::{recv, RecvFlags};
        if self.spin.is_zero() {
            return Ok(None);
        }
        let until = Instant::now() + self.spin;
        loop {
            let end = self.rx_end;
            match recv(&self.stream, &mut self.rx[end..], RecvFlags::DONTWAIT) {
                Ok((n, _)) => return Ok(Some(n)),
                Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            if Instant::now() >= until {
                return Ok(None);
            }
            std::thread::yield_now();
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn poll_read(&mut self) -> io::Result<Option<usize>> {
        Ok(None)
    }

    fn frame_len(&self, header: [u8; 4]) -> io::Result<usize> {
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
        Ok(len)
    }

    /// Receives one frame and the descriptors attached to it. A channel read this way is read
    /// only this way (the control channel): it reads no further than the frame.
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
        let len = self.frame_len(header)?;
        buf.clear();
        buf.resize(len, 0);
        (&self.stream).read_exact(buf)?;
        Ok((buf.as_slice(), fds))
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
    fn frames_sent_back_to_back_arrive_one_by_one_small_and_large() {
        let (mut a, mut b) = Channel::pair(1 << 20).unwrap();
        b.set_spin(Duration::from_micros(10));
        let large: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        a.send(&1u32).unwrap();
        a.send(&"two").unwrap();
        a.send(&large).unwrap();
        a.send(&4u8).unwrap();
        let mut buf = Vec::new();
        assert_eq!(
            postcard::from_bytes::<u32>(b.recv(&mut buf).unwrap()).unwrap(),
            1
        );
        assert_eq!(
            postcard::from_bytes::<&str>(b.recv(&mut buf).unwrap()).unwrap(),
            "two"
        );
        let got: Vec<u8> = postcard::from_bytes(b.recv(&mut buf).unwrap()).unwrap();
        assert_eq!(got, large);
        assert_eq!(
            postcard::from_bytes::<u8>(b.recv(&mut buf).unwrap()).unwrap(),
            4
        );
    }

    #[test]
    fn a_read_past_its_deadline_fails_as_timed_out() {
        let (_a, mut b) = Channel::pair(64).unwrap();
        b.set_deadline(Some(Instant::now() + Duration::from_millis(20)))
            .unwrap();
        let mut buf = Vec::new();
        let e = b.recv(&mut buf).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{e:?}"
        );
        let passed = Instant::now() - Duration::from_secs(1);
        assert_eq!(
            b.set_deadline(Some(passed)).unwrap_err().kind(),
            io::ErrorKind::TimedOut
        );
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
