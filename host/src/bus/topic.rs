//! Topics and subscription patterns.
//!
//! A topic is dot-separated segments of ASCII letters, digits, `-` and `_`:
//! `plugin.<name>.<event>` for plugins, `host.*` and `system.*` for the host. A pattern may use
//! `*` for exactly one segment and, as its last segment, `>` for one or more remaining segments
//! (`plugin.*.saved`, `host.>`). Patterns are compiled once, when subscribing.

use std::fmt;

use crate::bus::error::BusError;

/// The longest topic or pattern accepted, in bytes.
pub const MAX_TOPIC_LEN: usize = 256;

/// One segment of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Seg {
    Lit(Box<str>),
    One,
    Rest,
}

/// A compiled subscription pattern.
///
/// # Example
///
/// ```
/// use switchboard_host::bus::Pattern;
///
/// let p = Pattern::parse("plugin.*.saved").unwrap();
/// assert!(p.matches("plugin.notes.saved"));
/// assert!(!p.matches("plugin.notes.deleted"));
/// let rest = Pattern::parse("host.>").unwrap();
/// assert!(rest.matches("host.window.resized"));
/// assert!(!rest.matches("host"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    text: Box<str>,
    segs: Box<[Seg]>,
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks that `topic` is a concrete topic (no wildcards).
#[inline]
pub fn validate_topic(topic: &str) -> Result<(), BusError> {
    // One pass over the bytes for the common case (every publish runs this); a topic it
    // does not accept goes the long way, which says what is wrong.
    if well_formed(topic.as_bytes()) {
        return Ok(());
    }
    explain_topic(topic)
}

const OTHER: u8 = 0;
const SEGMENT: u8 = 1;
const DOT: u8 = 2;

/// What each byte is in a topic: a segment byte (ASCII letter, digit, `-`, `_`), a dot, or
/// anything else.
static CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' {
            t[b] = SEGMENT;
        }
        b += 1;
    }
    t[b'.' as usize] = DOT;
    t
};

/// Whether `topic` is well formed: 1 to [`MAX_TOPIC_LEN`] bytes, non-empty segments of
/// letters, digits, `-` and `_` between dots (so no wildcards either).
#[inline]
fn well_formed(topic: &[u8]) -> bool {
    if topic.is_empty() || topic.len() > MAX_TOPIC_LEN {
        return false;
    }
    // One table lookup per byte: a segment byte, a dot, or neither.
    let mut segment = 0usize;
    for &b in topic {
        match CLASS[b as usize] {
            SEGMENT => segment += 1,
            DOT if segment != 0 => segment = 0,
            _ => return false,
        }
    }
    segment != 0
}

/// Why [`well_formed`] refused `topic` (`Ok` if it did not).
#[cold]
fn explain_topic(topic: &str) -> Result<(), BusError> {
    let bad = |reason: &str| BusError::InvalidTopic {
        topic: topic.to_owned(),
        reason: reason.to_owned(),
    };
    if topic.is_empty() {
        return Err(bad("the topic is empty"));
    }
    if topic.len() > MAX_TOPIC_LEN {
        return Err(bad("the topic is longer than 256 bytes"));
    }
    for s in topic.split('.') {
        if s.is_empty() {
            return Err(bad("the topic has an empty segment"));
        }
        if s == "*" || s == ">" {
            return Err(bad("wildcards belong in subscription patterns, not topics"));
        }
        if !valid_segment(s) {
            return Err(bad("segments hold letters, digits, `-` and `_` only"));
        }
    }
    Ok(())
}

impl Pattern {
    /// Compiles a pattern.
    pub fn parse(text: &str) -> Result<Pattern, BusError> {
        let bad = |reason: &str| BusError::InvalidPattern {
            pattern: text.to_owned(),
            reason: reason.to_owned(),
        };
        if text.is_empty() {
            return Err(bad("the pattern is empty"));
        }
        if text.len() > MAX_TOPIC_LEN {
            return Err(bad("the pattern is longer than 256 bytes"));
        }
        let parts: Vec<&str> = text.split('.').collect();
        let mut segs = Vec::with_capacity(parts.len());
        for (i, s) in parts.iter().enumerate() {
            segs.push(match *s {
                "" => return Err(bad("the pattern has an empty segment")),
                "*" => Seg::One,
                ">" if i + 1 == parts.len() => Seg::Rest,
                ">" => return Err(bad("`>` may only be the last segment")),
                s if valid_segment(s) => Seg::Lit(s.into()),
                s if s.contains('*') || s.contains('>') => {
                    return Err(bad("wildcards stand for whole segments only"))
                }
                _ => return Err(bad("segments hold letters, digits, `-` and `_` only")),
            });
        }
        Ok(Pattern {
            text: text.into(),
            segs: segs.into(),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern has no wildcard (it names exactly one topic).
    pub fn is_exact(&self) -> bool {
        self.segs.iter().all(|s| matches!(s, Seg::Lit(_)))
    }

    /// Whether the concrete topic `topic` matches. Allocation-free.
    #[inline]
    pub fn matches(&self, topic: &str) -> bool {
        let mut parts = topic.split('.');
        for seg in self.segs.iter() {
            match seg {
                Seg::Rest => return parts.next().is_some(),
                Seg::One => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                Seg::Lit(l) => {
                    if parts.next() != Some(l) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }

    /// The same set of topics in the capability syntax (`*` one segment, `**` any number), for
    /// checking an `events.subscribe` grant.
    pub fn to_capability_pattern(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 4);
        for (i, s) in self.segs.iter().enumerate() {
            if i > 0 {
                out.push('.');
            }
            match s {
                Seg::Lit(l) => out.push_str(l),
                Seg::One => out.push('*'),
                Seg::Rest => out.push_str("*.**"),
            }
        }
        out
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Pattern {
    type Err = BusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Pattern::parse(s)
    }
}

/// Which namespace a topic lies in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Namespace<'a> {
    /// `plugin.<name>.…`
    Plugin(&'a str),
    /// `host.…`
    Host,
    /// `system.…`
    System,
    /// Anything else.
    Other,
}

pub(crate) fn namespace(topic: &str) -> Namespace<'_> {
    let mut parts = topic.splitn(3, '.');
    match (parts.next(), parts.next()) {
        (Some("plugin"), Some(name)) => Namespace::Plugin(name),
        (Some("host"), _) => Namespace::Host,
        (Some("system"), _) => Namespace::System,
        _ => Namespace::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The oracle: a direct recursive reading of the rules on split strings.
    fn naive(pattern: &[&str], topic: &[&str]) -> bool {
        match (pattern.split_first(), topic.split_first()) {
            (None, None) => true,
            (Some((&">", rest)), Some(_)) => rest.is_empty(),
            (Some((&"*", p)), Some((_, t))) => naive(p, t),
            (Some((l, p)), Some((s, t))) => l == s && naive(p, t),
            _ => false,
        }
    }

    #[test]
    fn literal_star_and_rest() {
        let p = Pattern::parse("a.*.c").unwrap();
        assert!(p.matches("a.b.c"));
        assert!(!p.matches("a.b.c.d"));
        assert!(!p.matches("a.c"));
        let r = Pattern::parse("a.>").unwrap();
        assert!(r.matches("a.b"));
        assert!(r.matches("a.b.c.d"));
        assert!(!r.matches("a"));
        assert!(!r.matches("b.c"));
        assert!(Pattern::parse(">").unwrap().matches("x.y"));
        assert!(Pattern::parse("a.b").unwrap().is_exact());
    }

    #[test]
    fn malformed_patterns_and_topics_are_coded() {
        for bad in ["", "a..b", "a.>.c", "a.b*", "a.b c", ".a"] {
            let e = Pattern::parse(bad).unwrap_err();
            assert_eq!(e.code().to_string(), "SB0801", "{bad}");
        }
        for bad in ["", "a.*", "a.>", "a..b", "a.b!"] {
            let e = validate_topic(bad).unwrap_err();
            assert_eq!(e.code().to_string(), "SB0802", "{bad}");
        }
        assert!(validate_topic(&"a.".repeat(200)).is_err());
    }

    #[test]
    fn capability_form_covers_the_same_topics() {
        let p = Pattern::parse("plugin.*.>").unwrap();
        assert_eq!(p.to_capability_pattern(), "plugin.*.*.**");
        let cap = switchboard_sdk::caps::TopicPattern::parse(&p.to_capability_pattern()).unwrap();
        for t in ["plugin.a.b", "plugin.a.b.c", "plugin.a", "host.a.b"] {
            assert_eq!(cap.matches(t), p.matches(t), "{t}");
        }
    }

    #[test]
    fn namespaces() {
        assert_eq!(namespace("plugin.hello.x"), Namespace::Plugin("hello"));
        assert_eq!(namespace("host.ready"), Namespace::Host);
        assert_eq!(
            namespace("system.subscription.suspended"),
            Namespace::System
        );
        assert_eq!(namespace("weather"), Namespace::Other);
    }

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_owned()),
            Just("b".to_owned()),
            Just("c1".to_owned())
        ]
    }

    proptest! {
        #[test]
        fn matcher_agrees_with_the_oracle(
            pat in prop::collection::vec(prop_oneof![
                3 => segment(), 1 => Just("*".to_owned())], 1..5),
            rest in any::<bool>(),
            topic in prop::collection::vec(segment(), 1..7),
        ) {
            let mut pat = pat;
            if rest {
                pat.push(">".to_owned());
            }
            let text = pat.join(".");
            let compiled = Pattern::parse(&text).unwrap();
            let p: Vec<&str> = pat.iter().map(String::as_str).collect();
            let t: Vec<&str> = topic.iter().map(String::as_str).collect();
            prop_assert_eq!(compiled.matches(&topic.join(".")), naive(&p, &t));
        }

        /// The one-pass check every publish runs accepts exactly what the segment-by-segment
        /// explanation accepts.
        #[test]
        fn fast_topic_check_agrees_with_the_explanation(
            topic in "[a-c.*>_!-]{0,12}|[a-z]{250,260}",
        ) {
            prop_assert_eq!(well_formed(topic.as_bytes()), explain_topic(&topic).is_ok());
            prop_assert_eq!(validate_topic(&topic).is_ok(), explain_topic(&topic).is_ok());
        }
    }
}
