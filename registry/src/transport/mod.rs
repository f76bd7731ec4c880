//! Fetching a registry's files. A [`Transport`] knows one registry's location — a directory
//! or an `http(s)://` URL — and nothing of what the files mean: every byte it returns is
//! checked by the client (signatures, hashes, versions, expiry) before it is believed.
//!
//! Every fetch carries a size cap, so a hostile or broken registry cannot make the client read
//! without end (the "endless data" attack).

use std::io::Write;

mod dir;

pub use dir::DirTransport;

use crate::RegistryError;

mod http;

pub use http::{is_loopback_url, HttpTransport, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};

/// An HTTP entity tag (or, for a directory, an equivalent fingerprint), kept with a cached copy
/// so the next fetch can ask "only if changed" (`If-None-Match`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheTag(pub String);

/// What a fetch returned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fetched {
    /// The file's bytes, with a tag to revalidate a cached copy next time if the source gave one.
    Body {
        /// The bytes, at most the cap asked for.
        bytes: Vec<u8>,
        /// The tag for revalidation, if any.
        tag: Option<CacheTag>,
    },
    /// The cached copy whose tag was given is still current.
    NotModified,
}

/// Reads one registry's files by their path inside the registry (`timestamp.json`,
/// `index/3/h/hello`, `packages/<sha256>.sbpkg`).
///
/// Paths are always relative, `/`-separated, and checked by the caller (no `..`, no absolute
/// paths); implementations refuse anything else too.
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// The registry's location, for messages: a directory path or a URL.
    fn location(&self) -> String;

    /// Fetches a small file (metadata, an index file) whole, reading at most `max_len` bytes:
    /// a longer file is refused with [`FetchError::TooLarge`](crate::error::FetchError) before
    /// more is read. With `cached`, may answer [`Fetched::NotModified`]. A file the registry
    /// does not have must be [`FetchError::NotFound`](crate::error::FetchError) (HTTP 404):
    /// the client ends the root chain (`N.root.json`) on it and on nothing else.
    fn fetch(
        &self,
        path: &str,
        max_len: u64,
        cached: Option<&CacheTag>,
    ) -> Result<Fetched, RegistryError>;

    /// Streams a large file (a package) into `dest`, at most `max_len` bytes, reporting
    /// `(bytes so far, total if known)`. Returns the number of bytes written.
    fn fetch_to(
        &self,
        path: &str,
        max_len: u64,
        dest: &mut dyn Write,
        progress: &mut dyn FnMut(u64, Option<u64>),
    ) -> Result<u64, RegistryError>;
}
