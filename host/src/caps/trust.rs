//! How far the host trusts a plugin's origin (ARCHITECTURE D8).

use std::fmt;
use std::str::FromStr;

/// How far a plugin's origin is trusted, from least to most. Ordered: a policy's minimum trust
/// admits that level and every higher one.
///
/// Development loads ([`Host::load_unsigned`](crate::Host::load_unsigned)) are `Unsigned`;
/// the other levels come with signed packages.
///
/// # Example
///
/// ```
/// use switchboard_host::caps::TrustLevel;
///
/// assert!(TrustLevel::Unsigned < TrustLevel::Verified);
/// assert_eq!("self-signed".parse::<TrustLevel>().unwrap(), TrustLevel::SelfSigned);
/// assert_eq!(TrustLevel::Certified.to_string(), "certified");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[non_exhaustive]
pub enum TrustLevel {
    /// No signature: a development library.
    #[default]
    Unsigned,
    /// A valid signature by a key the host does not know.
    SelfSigned,
    /// Signed by a key the host trusts, or one the registry binds to the publisher.
    Verified,
    /// Verified, and countersigned by a registry after review.
    Certified,
}

impl TrustLevel {
    /// Every level, lowest first.
    pub const ALL: [TrustLevel; 4] = [
        TrustLevel::Unsigned,
        TrustLevel::SelfSigned,
        TrustLevel::Verified,
        TrustLevel::Certified,
    ];

    /// The level's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            TrustLevel::Unsigned => "unsigned",
            TrustLevel::SelfSigned => "self-signed",
            TrustLevel::Verified => "verified",
            TrustLevel::Certified => "certified",
        }
    }
}

impl fmt::Display for TrustLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not a trust level's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a trust level: write unsigned, self-signed, verified or certified")]
pub struct TrustLevelError(String);

impl FromStr for TrustLevel {
    type Err = TrustLevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TrustLevel::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| TrustLevelError(s.to_owned()))
    }
}
