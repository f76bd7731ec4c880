//! [`HttpTransport`]: a registry served over `http://` or `https://` by any static web host.
//!
//! Blocking (`ureq`, rustls), no async runtime. Every fetch is capped while it is read: a
//! `Content-Length` above the cap is refused before the body is read, and a body that runs past
//! the cap (no length, a lying length, an endless stream) is cut off one byte after it.

use std::io::{Read, Write};
use std::time::Duration;

use crate::error::FetchError;
use crate::transport::{CacheTag, Fetched, Transport};
use crate::RegistryError;

/// How long a whole request may take, by default (connect, headers and body).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long connecting may take, by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads a registry over HTTP(S).
///
/// The base URL is the registry's root: `https://plugins.example.com/registry` serves
/// `https://plugins.example.com/registry/timestamp.json`. With a token, every request carries
/// `Authorization: Bearer TOKEN` (never across a redirect to another host, and never over plain
/// `http://` to another machine).
///
/// # Example
///
/// ```
/// use switchboard_registry::transport::HttpTransport;
/// use switchboard_registry::Transport;
///
/// let t = HttpTransport::new("https://plugins.example.com/registry/").unwrap();
/// assert_eq!(t.location(), "https://plugins.example.com/registry");
/// // Not a web address: refused with a coded error.
/// assert_eq!(HttpTransport::new("ftp://x").unwrap_err().code().to_string(), "SB1355");
/// ```
pub struct HttpTransport {
    base: String,
    agent: ureq::Agent,
    token: Option<String>,
    timeout: Duration,
    connect_timeout: Duration,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token never appears in logs or error reports.
        f.debug_struct("HttpTransport")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// A transport for the registry at `url` (`http://` or `https://`), with the default
    /// timeouts and no token.
    pub fn new(url: &str) -> Result<HttpTransport, RegistryError> {
        let base = url.trim().trim_end_matches('/').to_owned();
        let lower = base.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"));
        if !rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/')) {
            return Err(FetchError::BadUrl {
                url: url.to_owned(),
            }
            .into());
        }
        Ok(HttpTransport {
            agent: agent(DEFAULT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT),
            base,
            token: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        })
    }

    /// Sends `token` as a bearer token with every request. Refused (`SB1357`) for a plain
    /// `http://` URL unless the host is this machine (`127.0.0.1`, `[::1]`, `localhost`).
    pub fn with_token(mut self, token: impl Into<String>) -> Result<HttpTransport, RegistryError> {
        if !self.is_https() && !self.is_loopback() {
            return Err(FetchError::InsecureToken {
                registry: self.base.clone(),
            }
            .into());
        }
        self.token = Some(token.into());
        Ok(self)
    }

    /// Sets how long one request may take in all, and how long connecting may take.
    pub fn with_timeouts(mut self, total: Duration, connect: Duration) -> HttpTransport {
        self.timeout = total;
        self.connect_timeout = connect;
        self.agent = agent(total, connect);
        self
    }

    fn is_https(&self) -> bool {
        self.base.to_ascii_lowercase().starts_with("https://")
    }

    fn is_loopback(&self) -> bool {
        is_loopback_url(&self.base)
    }

    fn url(&self, path: &str) -> Result<String, RegistryError> {
        check_path(&self.base, path)?;
        Ok(format!("{}/{path}", self.base))
    }

    /// Sends a GET and returns the response, or `None` for `304 Not Modified`.
    fn get(
        &self,
        path: &str,
        cached: Option<&CacheTag>,
    ) -> Result<Option<ureq::http::Response<ureq::Body>>, RegistryError> {
        let url = self.url(path)?;
        let mut req = self.agent.get(&url);
        if let Some(token) = &self.token {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(tag) = cached {
            req = req.header("If-None-Match", tag.0.as_str());
        }
        let response = req.call().map_err(|e| match e {
            // Before any answer, a connection an https server closes or fills with what is
            // not TLS is a failed handshake (a plain-HTTP port, a proxy, an interceptor).
            ureq::Error::Io(io)
                if self.is_https()
                    && matches!(
                        io.kind(),
                        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
                    ) =>
            {
                FetchError::Tls {
                    registry: self.base.clone(),
                    reason: format!("no TLS handshake: {io}"),
                }
                .into()
            }
            e => self.map_error(path, e),
        })?;
        let status = response.status().as_u16();
        match status {
            200 => Ok(Some(response)),
            402 => Err(self.payment_required(path, response)),
            304 if cached.is_some() => Ok(None),
            404 | 410 => Err(FetchError::NotFound {
                registry: self.base.clone(),
                path: path.to_owned(),
            }
            .into()),
            _ => Err(FetchError::Status {
                registry: self.base.clone(),
                path: path.to_owned(),
                status,
            }
            .into()),
        }
    }

    /// A 402 answer: the server's coded refusal of a paid plugin's package, with its message
    /// and next step when its body (at most 64 KiB) is the API's JSON.
    fn payment_required(
        &self,
        path: &str,
        mut response: ureq::http::Response<ureq::Body>,
    ) -> RegistryError {
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_vec()
            .unwrap_or_default();
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let text = |k: &str| {
            doc[k]
                .as_str()
                .map(|s| s.chars().take(400).collect::<String>())
        };
        FetchError::PaymentRequired {
            registry: self.base.clone(),
            path: path.to_owned(),
            message: text("message")
                .unwrap_or_else(|| "HTTP 402: payment required for this package".into()),
            next_step: text("next_step").unwrap_or_else(|| {
                "buy the plugin: `switchboard buy NAME --registry REGISTRY`, then install again"
                    .into()
            }),
        }
        .into()
    }

    /// Refuses a body whose announced length is over the cap, before reading it.
    fn check_length(
        &self,
        path: &str,
        response: &ureq::http::Response<ureq::Body>,
        max_len: u64,
    ) -> Result<Option<u64>, RegistryError> {
        let announced = response.body().content_length();
        if announced.is_some_and(|n| n > max_len) {
            return Err(self.too_large(path, max_len));
        }
        Ok(announced)
    }

    fn too_large(&self, path: &str, limit: u64) -> RegistryError {
        FetchError::TooLarge {
            registry: self.base.clone(),
            path: path.to_owned(),
            limit,
        }
        .into()
    }

    fn map_error(&self, path: &str, e: ureq::Error) -> RegistryError {
        let registry = self.base.clone();
        let path = path.to_owned();
        match e {
            ureq::Error::StatusCode(status) => FetchError::Status {
                registry,
                path,
                status,
            },
            ureq::Error::Timeout(t) => FetchError::Timeout {
                registry,
                path,
                reason: t.to_string(),
            },
            ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => FetchError::Unreachable {
                registry,
                reason: e.to_string(),
            },
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::TlsRequired => {
                FetchError::Tls {
                    registry,
                    reason: e.to_string(),
                }
            }
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => FetchError::BadUrl {
                url: format!("{registry}/{path}"),
            },
            ureq::Error::Io(io) => self.io_error(path, io),
            other => FetchError::Io {
                registry,
                path,
                reason: other.to_string(),
            },
        }
        .into()
    }

    fn io_error(&self, path: String, io: std::io::Error) -> FetchError {
        use std::io::ErrorKind as K;
        let registry = self.base.clone();
        // ureq wraps its own errors (TLS, timeouts) in io::Error while a body is read.
        if let Some(inner) = io.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
            if let ureq::Error::Timeout(t) = inner {
                return FetchError::Timeout {
                    registry,
                    path,
                    reason: t.to_string(),
                };
            }
            if matches!(inner, ureq::Error::Tls(_) | ureq::Error::Rustls(_)) {
                return FetchError::Tls {
                    registry,
                    reason: inner.to_string(),
                };
            }
        }
        match io.kind() {
            K::ConnectionRefused
            | K::NotFound
            | K::AddrNotAvailable
            | K::HostUnreachable
            | K::NetworkUnreachable => FetchError::Unreachable {
                registry,
                reason: io.to_string(),
            },
            K::TimedOut | K::WouldBlock => FetchError::Timeout {
                registry,
                path,
                reason: io.to_string(),
            },
            _ => FetchError::Io {
                registry,
                path,
                reason: io.to_string(),
            },
        }
    }

    /// Copies at most `max_len` bytes of the body to `dest`; one byte more is a refusal.
    fn copy_capped(
        &self,
        path: &str,
        response: ureq::http::Response<ureq::Body>,
        max_len: u64,
        total: Option<u64>,
        dest: &mut dyn Write,
        progress: &mut dyn FnMut(u64, Option<u64>),
    ) -> Result<u64, RegistryError> {
        let (_, body) = response.into_parts();
        // ureq's own limit is off: the cap is counted here, so that one byte past it stops
        // the read whatever the headers claimed.
        let mut reader = body.into_with_config().limit(u64::MAX).reader();
        let mut buf = vec![0u8; 64 * 1024];
        let mut done: u64 = 0;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(path.to_owned(), e).into()),
            };
            done += n as u64;
            if done > max_len {
                return Err(self.too_large(path, max_len));
            }
            dest.write_all(&buf[..n]).map_err(|e| FetchError::Write {
                registry: self.base.clone(),
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
            progress(done, total);
        }
        Ok(done)
    }
}

/// Whether `url` is plain `http://` to this machine: its host (after any `user@`, without
/// the port) is `localhost` or a loopback IP address — exactly, so `localhost.example.com` or
/// `127.0.0.1.nip.io` are not. Tokens go over https, or over http only to such a URL.
///
/// ```
/// use switchboard_registry::transport::is_loopback_url;
/// assert!(is_loopback_url("http://127.0.0.1:8080/index"));
/// assert!(is_loopback_url("http://[::1]:80"));
/// assert!(!is_loopback_url("http://localhost.evil.example/index"));
/// assert!(!is_loopback_url("http://127.0.0.1@evil.example/index"));
/// assert!(!is_loopback_url("https://127.0.0.1/index"));
/// ```
pub fn is_loopback_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.rsplit_once('@') {
        Some((_, h)) => h,
        None => authority,
    };
    let name = if host.starts_with('[') {
        host.split_once(']')
            .map_or(host, |(h, _)| h)
            .trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or(host)
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A blocking HTTP agent with the given timeouts that never forwards the token on a redirect.
pub(crate) fn agent(total: Duration, connect: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(total))
        .timeout_connect(Some(connect))
        .max_redirects(5)
        // The token is for the registry's host; a redirect elsewhere does not get it.
        .redirect_auth_headers(ureq::config::RedirectAuthHeaders::Never)
        .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

impl Transport for HttpTransport {
    fn location(&self) -> String {
        self.base.clone()
    }

    fn fetch(
        &self,
        path: &str,
        max_len: u64,
        cached: Option<&CacheTag>,
    ) -> Result<Fetched, RegistryError> {
        let Some(response) = self.get(path, cached)? else {
            return Ok(Fetched::NotModified);
        };
        let announced = self.check_length(path, &response, max_len)?;
        let tag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 256)
            .map(|v| CacheTag(v.to_owned()));
        let capacity = announced.unwrap_or(0).min(max_len).min(1 << 20);
        let mut bytes = Vec::with_capacity(capacity as usize);
        self.copy_capped(
            path,
            response,
            max_len,
            announced,
            &mut bytes,
            &mut |_, _| {},
        )?;
        Ok(Fetched::Body { bytes, tag })
    }

    fn fetch_to(
        &self,
        path: &str,
        max_len: u64,
        dest: &mut dyn Write,
        progress: &mut dyn FnMut(u64, Option<u64>),
    ) -> Result<u64, RegistryError> {
        let Some(response) = self.get(path, None)? else {
            // Unreachable: no tag was sent, and a 304 without one is an error status.
            return Err(FetchError::Status {
                registry: self.base.clone(),
                path: path.to_owned(),
                status: 304,
            }
            .into());
        };
        let announced = self.check_length(path, &response, max_len)?;
        progress(0, announced);
        self.copy_capped(path, response, max_len, announced, dest, progress)
    }
}

/// Refuses a registry path that is not plain: empty, absolute, with `.` or `..` segments, a
/// backslash, or characters outside `[A-Za-z0-9._-]` and `/`.
pub(crate) fn check_path(registry: &str, path: &str) -> Result<(), RegistryError> {
    let plain = !path.is_empty()
        && path.len() <= 1024
        && path.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        });
    if plain {
        Ok(())
    } else {
        Err(FetchError::OutsideRegistry {
            registry: registry.to_owned(),
            path: path.to_owned(),
            reason: "not a plain relative path".to_owned(),
        }
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Mode, TestServer};

    fn served(files: &[(&str, &[u8])]) -> (TestServer, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        for (path, bytes) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
        (TestServer::serve(dir.path()).unwrap(), dir)
    }

    fn code(e: &RegistryError) -> String {
        e.code().to_string()
    }

    #[test]
    fn a_file_is_fetched_and_revalidated_with_its_etag() {
        let (server, dir) = served(&[("index/he/hello", b"line 1\n")]);
        let t = HttpTransport::new(&server.url()).unwrap();
        let Fetched::Body { bytes, tag } = t.fetch("index/he/hello", 1024, None).unwrap() else {
            panic!("expected a body")
        };
        assert_eq!(bytes, b"line 1\n");
        let tag = tag.expect("the server sends an ETag");
        assert_eq!(
            t.fetch("index/he/hello", 1024, Some(&tag)).unwrap(),
            Fetched::NotModified
        );
        let asked = server.requests();
        assert_eq!(asked[1].if_none_match.as_deref(), Some(tag.0.as_str()));
        assert_eq!(asked[1].status, 304);
        // Changed on the server: the stale tag gets the new bytes.
        std::fs::write(dir.path().join("index/he/hello"), b"line 1\nline 2\n").unwrap();
        let Fetched::Body { bytes, tag: new } =
            t.fetch("index/he/hello", 1024, Some(&tag)).unwrap()
        else {
            panic!("expected a body")
        };
        assert_eq!(bytes, b"line 1\nline 2\n");
        assert_ne!(new, Some(tag));
    }

    #[test]
    fn a_missing_file_is_sb1320() {
        let (server, _dir) = served(&[]);
        let t = HttpTransport::new(&server.url()).unwrap();
        let e = t.fetch("config.json", 1024, None).unwrap_err();
        assert_eq!(code(&e), "SB1320", "{e}");
    }

    #[test]
    fn an_announced_length_over_the_cap_is_refused_before_the_body() {
        let (server, _dir) = served(&[("big", &[7u8; 4096])]);
        let t = HttpTransport::new(&server.url()).unwrap();
        let e = t.fetch("big", 4095, None).unwrap_err();
        assert_eq!(code(&e), "SB1350", "{e}");
        // Exactly the cap is fine.
        assert!(
            matches!(t.fetch("big", 4096, None).unwrap(), Fetched::Body { bytes, .. } if bytes.len() == 4096)
        );
        server.set_mode(Mode::HugeLength);
        let e = t.fetch("big", 1 << 20, None).unwrap_err();
        assert_eq!(code(&e), "SB1350", "{e}");
    }

    #[test]
    fn an_endless_body_is_cut_off_one_byte_past_the_cap() {
        let (server, _dir) = served(&[("timestamp.json", b"{}")]);
        server.set_mode(Mode::Endless);
        let t = HttpTransport::new(&server.url()).unwrap();
        let e = t.fetch("timestamp.json", 64 * 1024, None).unwrap_err();
        assert_eq!(code(&e), "SB1350", "{e}");
        let mut sink = Vec::new();
        let e = t
            .fetch_to("timestamp.json", 200_000, &mut sink, &mut |_, _| {})
            .unwrap_err();
        assert_eq!(code(&e), "SB1350", "{e}");
        assert!(sink.len() <= 200_000, "never more than the cap is written");
    }

    #[test]
    fn a_lying_length_reads_no_more_than_it_announced() {
        let (server, _dir) = served(&[("timestamp.json", b"{\"signed\":1}")]);
        server.set_mode(Mode::LyingLength);
        let t = HttpTransport::new(&server.url()).unwrap();
        // The client believes the length for framing (the hashes catch the wrong bytes) and
        // does not read on into the endless rest.
        match t.fetch("timestamp.json", 1024, None) {
            Ok(Fetched::Body { bytes, .. }) => assert_eq!(bytes.len(), 1),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => assert!(["SB1350", "SB1323"].contains(&code(&e).as_str()), "{e}"),
        }
    }

    #[test]
    fn a_silent_server_times_out() {
        let (server, _dir) = served(&[("timestamp.json", b"{}")]);
        server.set_mode(Mode::Silent);
        let t = HttpTransport::new(&server.url())
            .unwrap()
            .with_timeouts(Duration::from_millis(300), Duration::from_millis(300));
        let e = t.fetch("timestamp.json", 1024, None).unwrap_err();
        assert_eq!(code(&e), "SB1354", "{e}");
    }

    #[test]
    fn a_closed_port_is_unreachable() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let t = HttpTransport::new(&format!("http://127.0.0.1:{port}")).unwrap();
        let e = t.fetch("timestamp.json", 1024, None).unwrap_err();
        assert_eq!(code(&e), "SB1351", "{e}");
        assert!(e.next_step().contains("--offline"));
    }

    #[test]
    fn tls_to_a_server_that_does_not_speak_it_is_sb1353() {
        let (server, _dir) = served(&[("timestamp.json", b"{}")]);
        let url = server.url().replace("http://", "https://");
        let t = HttpTransport::new(&url)
            .unwrap()
            .with_timeouts(Duration::from_secs(10), Duration::from_secs(10));
        let e = t.fetch("timestamp.json", 1024, None).unwrap_err();
        assert_eq!(code(&e), "SB1353", "{e}");
    }

    #[test]
    fn the_token_is_sent_as_a_bearer_header_and_a_missing_one_is_sb1352() {
        let (server, _dir) = served(&[("config.json", b"{}")]);
        server.require_token(Some("s3cret"));
        let anonymous = HttpTransport::new(&server.url()).unwrap();
        let e = anonymous.fetch("config.json", 1024, None).unwrap_err();
        assert_eq!(code(&e), "SB1352", "{e}");
        assert!(e.next_step().contains("--token-env"), "{e}");
        let t = HttpTransport::new(&server.url())
            .unwrap()
            .with_token("s3cret")
            .unwrap();
        assert!(matches!(
            t.fetch("config.json", 1024, None).unwrap(),
            Fetched::Body { .. }
        ));
        assert_eq!(
            server.requests().last().unwrap().authorization.as_deref(),
            Some("Bearer s3cret")
        );
        assert!(
            !format!("{t:?}").contains("s3cret"),
            "Debug hides the token"
        );
    }

    #[test]
    fn a_redirect_is_followed_without_the_token() {
        let (target, _dir) = served(&[("config.json", b"{}")]);
        let (front, _front_dir) = served(&[]);
        front.redirect_to(Some(&target.url()));
        let t = HttpTransport::new(&front.url())
            .unwrap()
            .with_token("s3cret")
            .unwrap();
        let Fetched::Body { bytes, .. } = t.fetch("config.json", 1024, None).unwrap() else {
            panic!("expected a body")
        };
        assert_eq!(bytes, b"{}");
        assert_eq!(
            front.requests()[0].authorization.as_deref(),
            Some("Bearer s3cret")
        );
        let at_target = target.requests();
        assert_eq!(at_target.len(), 1);
        assert_eq!(
            at_target[0].authorization, None,
            "the token stays with the registry's host"
        );
    }

    #[test]
    fn a_token_is_never_sent_in_clear_text_to_another_machine() {
        let e = HttpTransport::new("http://plugins.example.com")
            .unwrap()
            .with_token("t")
            .unwrap_err();
        assert_eq!(code(&e), "SB1357");
        for ok in [
            "https://plugins.example.com",
            "http://localhost:8080/r",
            "http://[::1]:9/",
            "http://127.0.0.1:1",
        ] {
            assert!(
                HttpTransport::new(ok).unwrap().with_token("t").is_ok(),
                "{ok}"
            );
        }
    }

    #[test]
    fn paths_outside_the_registry_are_refused_unasked() {
        let (server, _dir) = served(&[]);
        let t = HttpTransport::new(&server.url()).unwrap();
        for bad in [
            "../etc/passwd",
            "/abs",
            "a//b",
            "a/./b",
            "a\\b",
            "",
            "a?b=1",
            "%2e%2e/x",
        ] {
            let e = t.fetch(bad, 1024, None).unwrap_err();
            assert_eq!(code(&e), "SB1321", "{bad}: {e}");
        }
        assert!(server.requests().is_empty());
    }

    #[test]
    fn fetch_to_streams_and_reports_progress() {
        let data = vec![3u8; 300_000];
        let (server, _dir) = served(&[("packages/ab.sbpkg", &data)]);
        let t = HttpTransport::new(&server.url()).unwrap();
        let mut out = Vec::new();
        let mut last = (0, None);
        let n = t
            .fetch_to("packages/ab.sbpkg", 1 << 20, &mut out, &mut |d, total| {
                last = (d, total)
            })
            .unwrap();
        assert_eq!(n, 300_000);
        assert_eq!(out, data);
        assert_eq!(last, (300_000, Some(300_000)));
    }

    #[test]
    fn urls_that_are_not_http_are_refused() {
        for bad in [
            "ftp://x",
            "file:///tmp",
            "/srv/registry",
            "https://",
            "http:///x",
        ] {
            assert_eq!(
                code(&HttpTransport::new(bad).unwrap_err()),
                "SB1355",
                "{bad}"
            );
        }
    }
}

#[cfg(test)]
mod proptests {
    use super::check_path;
    use proptest::prelude::*;

    proptest! {
        /// A path that passes is plain: relative, no `.` or `..` segment, no character a URL
        /// would need to escape; anything else is refused with a code, never a panic.
        #[test]
        fn only_plain_paths_pass(path in ".{0,64}") {
            match check_path("r", &path) {
                Ok(()) => {
                    prop_assert!(!path.starts_with('/'));
                    prop_assert!(path.split('/').all(|s| !s.is_empty() && s != "." && s != ".."));
                    prop_assert!(path.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b)));
                }
                Err(e) => prop_assert_eq!(e.code().to_string(), "SB1321"),
            }
        }
    }
}
