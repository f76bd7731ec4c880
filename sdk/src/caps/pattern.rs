//! The patterns capabilities are scoped by: paths, topics, names, network endpoints.

use std::fmt;
use std::path::{Component, Path};

use super::error::CapabilityError;
use super::glob::{self, Seg};

/// The longest pattern accepted, in bytes.
const MAX_PATTERN: usize = 4096;

fn bad(capability: &'static str, pattern: &str, reason: impl Into<String>) -> CapabilityError {
    CapabilityError::BadPattern {
        capability,
        pattern: pattern.to_owned(),
        reason: reason.into(),
    }
}

/// An absolute path pattern, such as `/srv/data/**` or `/home/*/notes`, with wildcards
/// standing for whole segments: `*` is one segment, `**` any number of them (none included).
///
/// Symlinks and `..` cannot escape a pattern: the host matches the *canonical* path of the file
/// actually opened, and a path with `.` or `..` components never matches.
///
/// # Example
///
/// ```
/// use std::path::Path;
/// use switchboard_sdk::caps::PathPattern;
///
/// let p = PathPattern::parse("/srv/data/**").unwrap();
/// assert!(p.matches(Path::new("/srv/data/a/b.txt")));
/// assert!(!p.matches(Path::new("/srv/data/../secret")));
/// assert!(!p.matches(Path::new("/srv/other")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathPattern {
    segs: Vec<Seg>,
}

impl PathPattern {
    /// Every path: `/**`.
    pub fn any() -> Self {
        PathPattern {
            segs: vec![Seg::Any],
        }
    }

    /// Parses an absolute path pattern for `fs.read` (the capability named in errors).
    pub fn parse(text: &str) -> Result<Self, CapabilityError> {
        Self::parse_for("fs.read", text)
    }

    pub(crate) fn parse_for(cap: &'static str, text: &str) -> Result<Self, CapabilityError> {
        if text.len() > MAX_PATTERN {
            return Err(bad(cap, text, "the pattern is too long"));
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(bad(cap, text, "the path is not absolute"));
        };
        if text.contains('\0') {
            return Err(bad(cap, text, "the path contains a NUL byte"));
        }
        let mut segs = Vec::new();
        if !rest.is_empty() {
            for s in rest.split('/') {
                segs.push(match s {
                    "" => {
                        return Err(bad(
                            cap,
                            text,
                            "the path has an empty segment (`//` or a trailing `/`)",
                        ))
                    }
                    "." | ".." => {
                        return Err(bad(cap, text, "`.` and `..` are not allowed in a pattern"))
                    }
                    "*" => Seg::One,
                    "**" => Seg::Any,
                    s if s.contains('*') => {
                        return Err(bad(
                            cap,
                            text,
                            format!("`{s}`: wildcards stand for whole segments only"),
                        ))
                    }
                    s => Seg::Lit(s.to_owned()),
                });
            }
        }
        Ok(PathPattern {
            segs: glob::normalize(segs),
        })
    }

    /// Whether this is `/**`, every path.
    pub fn is_any(&self) -> bool {
        self.segs == [Seg::Any]
    }

    /// Whether `path` matches. The path must be absolute and free of `.` and `..` components
    /// (the host passes canonical paths); any other path does not match.
    pub fn matches(&self, path: &Path) -> bool {
        let mut parts: Vec<&str> = Vec::new();
        let mut comps = path.components();
        if comps.next() != Some(Component::RootDir) {
            return false;
        }
        for c in comps {
            match c {
                Component::Normal(s) => match s.to_str() {
                    Some(s) => parts.push(s),
                    None => return false,
                },
                _ => return false,
            }
        }
        glob::matches(&self.segs, &parts)
    }

    /// Whether every path `other` matches is matched by `self`.
    pub fn covers(&self, other: &PathPattern) -> bool {
        glob::covers(&self.segs, &other.segs)
    }

    /// Whether some path matches both.
    pub fn overlaps(&self, other: &PathPattern) -> bool {
        glob::overlaps(&self.segs, &other.segs)
    }

    /// The leading literal segments, as a path (`/srv/data` for `/srv/data/**`).
    pub fn literal_prefix(&self) -> std::path::PathBuf {
        let mut p = std::path::PathBuf::from("/");
        for s in &self.segs {
            match s {
                Seg::Lit(l) => p.push(l),
                _ => break,
            }
        }
        p
    }

    /// The same pattern with its literal prefix replaced by `prefix` (an absolute path, such as
    /// the prefix with symlinks resolved). `None` if `prefix` is not a valid pattern prefix.
    pub fn with_prefix(&self, prefix: &Path) -> Option<PathPattern> {
        let n = self
            .segs
            .iter()
            .take_while(|s| matches!(s, Seg::Lit(_)))
            .count();
        let text = prefix.to_str()?;
        let mut head = PathPattern::parse(text).ok()?;
        if head.segs.iter().any(|s| !matches!(s, Seg::Lit(_))) {
            return None;
        }
        head.segs.extend(self.segs[n..].iter().cloned());
        Some(PathPattern {
            segs: glob::normalize(head.segs),
        })
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segs.is_empty() {
            return f.write_str("/");
        }
        for s in &self.segs {
            write!(f, "/{}", s.as_str())?;
        }
        Ok(())
    }
}

/// A topic pattern, such as `plugin.hello.*` or `host.**`: dot-separated segments of letters,
/// digits, `-` and `_`, where `*` is one segment and `**` any number of them.
///
/// # Example
///
/// ```
/// use switchboard_sdk::caps::TopicPattern;
///
/// let p = TopicPattern::parse("plugin.hello.*").unwrap();
/// assert!(p.matches("plugin.hello.greeted"));
/// assert!(!p.matches("plugin.wordcount.greeted"));
/// assert!(!p.covers(&TopicPattern::parse("plugin.hello.**").unwrap()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicPattern {
    segs: Vec<Seg>,
}

impl TopicPattern {
    /// Every topic: `**`.
    pub fn any() -> Self {
        TopicPattern {
            segs: vec![Seg::Any],
        }
    }

    /// Parses a topic pattern.
    pub fn parse(text: &str) -> Result<Self, CapabilityError> {
        Self::parse_for("events.publish", text)
    }

    pub(crate) fn parse_for(cap: &'static str, text: &str) -> Result<Self, CapabilityError> {
        if text.len() > MAX_PATTERN {
            return Err(bad(cap, text, "the pattern is too long"));
        }
        if text.is_empty() {
            return Err(bad(cap, text, "the topic is empty"));
        }
        let mut segs = Vec::new();
        for s in text.split('.') {
            segs.push(match s {
                "" => return Err(bad(cap, text, "the topic has an empty segment")),
                "*" => Seg::One,
                "**" => Seg::Any,
                s if s
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
                {
                    Seg::Lit(s.to_owned())
                }
                s if s.contains('*') => {
                    return Err(bad(
                        cap,
                        text,
                        format!("`{s}`: wildcards stand for whole segments only"),
                    ))
                }
                s => {
                    return Err(bad(
                        cap,
                        text,
                        format!("`{s}`: segments hold letters, digits, `-` and `_` only"),
                    ))
                }
            });
        }
        Ok(TopicPattern {
            segs: glob::normalize(segs),
        })
    }

    /// Whether this is `**`, every topic.
    pub fn is_any(&self) -> bool {
        self.segs == [Seg::Any]
    }

    /// Whether the concrete topic `topic` matches.
    pub fn matches(&self, topic: &str) -> bool {
        let parts: Vec<&str> = topic.split('.').collect();
        if parts.iter().any(|p| p.is_empty() || p.contains('*')) {
            return false;
        }
        glob::matches(&self.segs, &parts)
    }

    /// Whether every topic `other` matches is matched by `self`.
    pub fn covers(&self, other: &TopicPattern) -> bool {
        glob::covers(&self.segs, &other.segs)
    }

    /// Whether some topic matches both.
    pub fn overlaps(&self, other: &TopicPattern) -> bool {
        glob::overlaps(&self.segs, &other.segs)
    }
}

impl fmt::Display for TopicPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.segs.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(s.as_str())?;
        }
        Ok(())
    }
}

/// A name pattern for services and environment variables: a name, a prefix ending in `*`
/// (`APP_*`), or `*` alone.
///
/// # Example
///
/// ```
/// use switchboard_sdk::caps::NamePattern;
///
/// let p = NamePattern::parse("APP_*").unwrap();
/// assert!(p.matches("APP_MODE"));
/// assert!(!p.matches("HOME"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NamePattern {
    text: String,
    prefix: bool,
}

impl NamePattern {
    /// Every name: `*`.
    pub fn any() -> Self {
        NamePattern {
            text: String::new(),
            prefix: true,
        }
    }

    /// Parses a name pattern.
    pub fn parse(text: &str) -> Result<Self, CapabilityError> {
        Self::parse_for("env", text)
    }

    pub(crate) fn parse_for(cap: &'static str, text: &str) -> Result<Self, CapabilityError> {
        if text.len() > MAX_PATTERN {
            return Err(bad(cap, text, "the pattern is too long"));
        }
        let (body, prefix) = match text.strip_suffix('*') {
            Some(b) => (b, true),
            None => (text, false),
        };
        if body.is_empty() && !prefix {
            return Err(bad(cap, text, "the name is empty"));
        }
        if let Some(c) = body
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        {
            return Err(bad(
                cap,
                text,
                if c == '*' {
                    "`*` may only end a name pattern".to_owned()
                } else {
                    format!("`{c}` is not allowed in a name")
                },
            ));
        }
        Ok(NamePattern {
            text: body.to_owned(),
            prefix,
        })
    }

    /// Whether this is `*`, every name.
    pub fn is_any(&self) -> bool {
        self.prefix && self.text.is_empty()
    }

    /// Whether the concrete name `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        if self.prefix {
            name.starts_with(&self.text) && !name.contains('*')
        } else {
            name == self.text
        }
    }

    /// Whether every name `other` matches is matched by `self`.
    pub fn covers(&self, other: &NamePattern) -> bool {
        if self.prefix {
            other.text.starts_with(&self.text)
        } else {
            !other.prefix && other.text == self.text
        }
    }

    /// Whether some name matches both.
    pub fn overlaps(&self, other: &NamePattern) -> bool {
        match (self.prefix, other.prefix) {
            (true, true) => {
                self.text.starts_with(&other.text) || other.text.starts_with(&self.text)
            }
            (true, false) => other.text.starts_with(&self.text),
            (false, true) => self.text.starts_with(&other.text),
            (false, false) => self.text == other.text,
        }
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        if self.prefix {
            f.write_str("*")?;
        }
        Ok(())
    }
}

/// Which hosts a `net.connect` capability reaches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HostPattern {
    /// Any host: `*`.
    Any,
    /// Exactly this host name or address (lower case; IPv6 without brackets).
    Exact(String),
    /// Any subdomain of this domain, at any depth: `*.example.com` (not `example.com` itself).
    Subdomain(String),
}

impl HostPattern {
    fn parse(text: &str, whole: &str) -> Result<Self, CapabilityError> {
        let cap = "net.connect";
        if text == "*" {
            return Ok(HostPattern::Any);
        }
        if let Some(v6) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            return v6
                .parse::<std::net::Ipv6Addr>()
                .map(|a| HostPattern::Exact(a.to_string()))
                .map_err(|_| bad(cap, whole, format!("`{text}` is not an IPv6 address")));
        }
        let (domain, sub) = match text.strip_prefix("*.") {
            Some(d) => (d, true),
            None => (text, false),
        };
        let valid_label =
            |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if domain.is_empty() || !domain.split('.').all(valid_label) {
            return Err(bad(
                cap,
                whole,
                format!("`{text}` is not a host name, `*.domain`, `[ipv6]` or `*`"),
            ));
        }
        let domain = domain.to_ascii_lowercase();
        Ok(if sub {
            HostPattern::Subdomain(domain)
        } else {
            HostPattern::Exact(domain)
        })
    }

    fn matches(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match self {
            HostPattern::Any => true,
            HostPattern::Exact(h) => h.eq_ignore_ascii_case(host),
            HostPattern::Subdomain(d) => {
                host.len() > d.len() + 1
                    && host[host.len() - d.len()..].eq_ignore_ascii_case(d)
                    && host.as_bytes()[host.len() - d.len() - 1] == b'.'
            }
        }
    }

    fn covers(&self, other: &HostPattern) -> bool {
        match (self, other) {
            (HostPattern::Any, _) => true,
            (_, HostPattern::Any) => false,
            (HostPattern::Exact(a), HostPattern::Exact(b)) => a == b,
            (HostPattern::Exact(_), HostPattern::Subdomain(_)) => false,
            (HostPattern::Subdomain(_), HostPattern::Exact(b)) => self.matches(b),
            (HostPattern::Subdomain(a), HostPattern::Subdomain(b)) => {
                a == b || HostPattern::Subdomain(a.clone()).matches(b)
            }
        }
    }

    fn overlaps(&self, other: &HostPattern) -> bool {
        match (self, other) {
            (HostPattern::Any, _) | (_, HostPattern::Any) => true,
            (HostPattern::Exact(a), HostPattern::Exact(b)) => a == b,
            (HostPattern::Subdomain(_), HostPattern::Exact(b)) => self.matches(b),
            (HostPattern::Exact(a), HostPattern::Subdomain(_)) => other.matches(a),
            (HostPattern::Subdomain(_), HostPattern::Subdomain(_)) => {
                self.covers(other) || other.covers(self)
            }
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Any => f.write_str("*"),
            HostPattern::Exact(h) if h.contains(':') => write!(f, "[{h}]"),
            HostPattern::Exact(h) => f.write_str(h),
            HostPattern::Subdomain(d) => write!(f, "*.{d}"),
        }
    }
}

/// The endpoints a `net.connect` capability reaches: a host pattern and a port range.
///
/// # Example
///
/// ```
/// use switchboard_sdk::caps::NetPattern;
///
/// let p = NetPattern::parse("*.example.com:8000-8100").unwrap();
/// assert!(p.matches("api.example.com", 8080));
/// assert!(!p.matches("api.example.com", 443));
/// assert!(!p.matches("example.org", 8080));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetPattern {
    /// Which hosts.
    pub host: HostPattern,
    /// The lowest port, inclusive.
    pub port_low: u16,
    /// The highest port, inclusive.
    pub port_high: u16,
}

impl NetPattern {
    /// Every host and port: `*:*`.
    pub fn any() -> Self {
        NetPattern {
            host: HostPattern::Any,
            port_low: 0,
            port_high: u16::MAX,
        }
    }

    /// Parses `HOST`, `HOST:PORT`, `HOST:LOW-HIGH` or `HOST:*`.
    pub fn parse(text: &str) -> Result<Self, CapabilityError> {
        let cap = "net.connect";
        let (host, port) = if text.starts_with('[') {
            match text.find(']') {
                Some(i) => {
                    let (h, rest) = text.split_at(i + 1);
                    match rest.strip_prefix(':') {
                        Some(p) => (h, Some(p)),
                        None if rest.is_empty() => (h, None),
                        None => return Err(bad(cap, text, "unexpected text after `]`")),
                    }
                }
                None => return Err(bad(cap, text, "`[` without `]`")),
            }
        } else {
            match text.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (text, None),
            }
        };
        let host = HostPattern::parse(host, text)?;
        let port_num = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| bad(cap, text, format!("`{p}` is not a port number (0-65535)")))
        };
        let (port_low, port_high) = match port {
            None | Some("*") => (0, u16::MAX),
            Some(p) => match p.split_once('-') {
                Some((lo, hi)) => {
                    let (lo, hi) = (port_num(lo)?, port_num(hi)?);
                    if lo > hi {
                        return Err(bad(cap, text, "the port range is empty (low > high)"));
                    }
                    (lo, hi)
                }
                None => {
                    let n = port_num(p)?;
                    (n, n)
                }
            },
        };
        Ok(NetPattern {
            host,
            port_low,
            port_high,
        })
    }

    /// Whether this is `*:*`.
    pub fn is_any(&self) -> bool {
        *self == NetPattern::any()
    }

    /// Whether connecting to `host:port` matches.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        (self.port_low..=self.port_high).contains(&port) && self.host.matches(host)
    }

    /// Whether every endpoint `other` matches is matched by `self`.
    pub fn covers(&self, other: &NetPattern) -> bool {
        self.port_low <= other.port_low
            && other.port_high <= self.port_high
            && self.host.covers(&other.host)
    }

    /// Whether some endpoint matches both.
    pub fn overlaps(&self, other: &NetPattern) -> bool {
        self.port_low <= other.port_high
            && other.port_low <= self.port_high
            && self.host.overlaps(&other.host)
    }
}

impl fmt::Display for NetPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.host)?;
        if (self.port_low, self.port_high) == (0, u16::MAX) {
            f.write_str("*")
        } else if self.port_low == self.port_high {
            write!(f, "{}", self.port_low)
        } else {
            write!(f, "{}-{}", self.port_low, self.port_high)
        }
    }
}
