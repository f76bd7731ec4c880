//! The token an instance holds: an index and a generation into the grant table.

use std::fmt;

/// An instance's key into the host's [`GrantTable`](super::GrantTable): a slot index and the
/// slot's generation when the instance got it.
///
/// A token is not a secret in-process (the plugin never sees it; the host's services hold it
/// for the plugin). What makes it safe is the generation: when an instance is removed its slot's
/// generation moves on, so the old token — or any token made up from numbers — is denied.
///
/// # Example
///
/// ```
/// use switchboard_host::caps::Token;
///
/// let t = Token::from_raw(3, 7);
/// assert_eq!((t.index(), t.generation()), (3, 7));
/// assert_eq!(t.to_string(), "3:7");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl Token {
    /// A token from its parts — for tokens that crossed a process boundary, and for tests. A
    /// made-up token is simply denied.
    pub const fn from_raw(index: u32, generation: u32) -> Self {
        Token { index, generation }
    }

    /// The slot index.
    pub const fn index(self) -> u32 {
        self.index
    }

    /// The generation.
    pub const fn generation(self) -> u32 {
        self.generation
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.index, self.generation)
    }
}
