//! How long a grant lasts.

use std::fmt;

use crate::timestamp::Timestamp;

/// How long a grant lasts.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use switchboard_host::caps::Scope;
/// use switchboard_host::Timestamp;
///
/// let until = Scope::Until(Timestamp::from_millis(0).plus(Duration::from_secs(60)));
/// assert_eq!(until.to_string(), "until 1970-01-01T00:01:00.000Z");
/// assert_eq!(Scope::Session.as_str(), "session");
/// assert!(Scope::Persistent.is_stored());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scope {
    /// One use: the first check that the grant allows uses it up.
    Once,
    /// Until the plugin is removed or the host stops.
    Session,
    /// Stored in the host database; applies to later loads of the same plugin too.
    Persistent,
    /// Until this time, stored in the host database; the first check after it is denied.
    Until(Timestamp),
}

impl Scope {
    /// The scope's name: `once`, `session`, `persistent` or `until`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Once => "once",
            Scope::Session => "session",
            Scope::Persistent => "persistent",
            Scope::Until(_) => "until",
        }
    }

    /// When the grant expires, if it does.
    pub const fn expires(self) -> Option<Timestamp> {
        match self {
            Scope::Until(t) => Some(t),
            _ => None,
        }
    }

    /// Whether grants with this scope are kept in the host database across loads.
    pub const fn is_stored(self) -> bool {
        matches!(self, Scope::Persistent | Scope::Until(_))
    }

    /// The scope from its stored name and expiry.
    pub(crate) fn from_stored(name: &str, expires: Option<Timestamp>) -> Option<Scope> {
        match (name, expires) {
            ("once", _) => Some(Scope::Once),
            ("session", _) => Some(Scope::Session),
            ("persistent", _) => Some(Scope::Persistent),
            ("until", Some(t)) => Some(Scope::Until(t)),
            _ => None,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Until(t) => write!(f, "until {t}"),
            other => f.write_str(other.as_str()),
        }
    }
}
