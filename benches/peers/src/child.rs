//! The child-process peer: this same executable started with [`ARG`], answering requests on a
//! unix socket (its standard input) until the socket closes — the classic way to put a plugin in
//! another process, with nothing else in between.
//!
//! A request is one byte of operation, a little-endian `u32` length and the payload; a response
//! is a little-endian `u32` length and the payload. Both sides block in `read`.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};

/// The argument that makes this executable the child.
pub const ARG: &str = "--echo-child";

/// Nothing to do, an empty response.
pub const NOOP: u8 = 0;
/// 16 bytes `{a, b}` (little-endian `i64`s) in, 16 bytes `{a + b, calls}` out.
pub const ADD: u8 = 1;
/// The payload reversed.
pub const REVERSE: u8 = 2;

/// Serves requests on standard input until it closes, then exits.
pub fn serve() -> ! {
    let code = match serve_stdin() {
        Ok(()) => 0,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
        Err(_) => 1,
    };
    std::process::exit(code)
}

fn serve_stdin() -> io::Result<()> {
    let socket = UnixStream::from(io::stdin().as_fd().try_clone_to_owned()?);
    let mut calls: u64 = 0;
    let mut request = Vec::new();
    let mut response = Vec::new();
    loop {
        let mut header = [0u8; 5];
        (&socket).read_exact(&mut header)?;
        let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
        request.resize(len, 0);
        (&socket).read_exact(&mut request)?;
        response.clear();
        response.extend_from_slice(&[0; 4]);
        match header[0] {
            ADD if len == 16 => {
                calls += 1;
                let (a, b) = decode_pair(&request);
                response.extend_from_slice(&a.saturating_add(b).to_le_bytes());
                response.extend_from_slice(&calls.to_le_bytes());
            }
            REVERSE => response.extend(request.iter().rev()),
            _ => {}
        }
        let body = (response.len() - 4) as u32;
        response[..4].copy_from_slice(&body.to_le_bytes());
        (&socket).write_all(&response)?;
    }
}

/// Two little-endian `i64`s from the first 16 bytes.
pub fn decode_pair(bytes: &[u8]) -> (i64, i64) {
    let word = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        i64::from_le_bytes(b)
    };
    (word(0), word(8))
}

/// A running child and the socket to it; the child exits when this is dropped.
pub struct Peer {
    socket: UnixStream,
    child: Child,
}

impl Peer {
    /// Starts this executable as the child.
    pub fn spawn() -> io::Result<Peer> {
        let (ours, theirs) = UnixStream::pair()?;
        let child = Command::new(std::env::current_exe()?)
            .arg(ARG)
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .spawn()?;
        Ok(Peer {
            socket: ours,
            child,
        })
    }

    /// One request and its response, which is left in `response`. `scratch` is reused for the
    /// request, so a call allocates nothing once the buffers have grown.
    pub fn call(
        &self,
        op: u8,
        payload: &[u8],
        scratch: &mut Vec<u8>,
        response: &mut Vec<u8>,
    ) -> io::Result<()> {
        scratch.clear();
        scratch.push(op);
        scratch.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        scratch.extend_from_slice(payload);
        (&self.socket).write_all(scratch)?;
        let mut len = [0u8; 4];
        (&self.socket).read_exact(&mut len)?;
        response.resize(u32::from_le_bytes(len) as usize, 0);
        (&self.socket).read_exact(response)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // Closing our end ends the child's loop; wait for it so no zombie is left.
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
        let _ = self.child.wait();
    }
}
