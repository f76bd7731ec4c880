//! The web page's refusals (SB1470–SB1479): shown as an HTML page with the code, the message
//! and the next step, never as a bare status.

use switchboard_sdk::ErrorCode;

/// Why the web page could not show what was asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PageError {
    /// No page at this path (HTTP 404).
    #[error("there is no page at {path}")]
    NotFound {
        /// The path asked for.
        path: String,
    },
    /// No plugin of that name is published here (HTTP 404).
    #[error("no plugin named `{name}` is published here")]
    UnknownPlugin {
        /// The name asked for.
        name: String,
    },
    /// A search parameter is unknown, repeated, too long or out of range (HTTP 400).
    #[error("the search cannot use `{parameter}`: {reason}")]
    BadParameter {
        /// The parameter (its name as given, shortened).
        parameter: String,
        /// Why.
        reason: String,
    },
    /// A plugin or category name in the path is not one a registry can hold (HTTP 400).
    #[error("`{name}` is not a valid {what} name: {reason}")]
    BadName {
        /// `plugin` or `category`.
        what: &'static str,
        /// The name as given (shortened).
        name: String,
        /// Why.
        reason: String,
    },
    /// The server could not read its own registry to build the page (HTTP 500). The reason
    /// (which names server paths) is kept for the operator, not shown on the page.
    #[error("the server could not read its registry to build this page")]
    Internal {
        /// What failed.
        reason: String,
    },
}

impl PageError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::from_number(match self {
            PageError::NotFound { .. } => 1470,
            PageError::UnknownPlugin { .. } => 1471,
            PageError::BadParameter { .. } => 1472,
            PageError::BadName { .. } => 1473,
            PageError::Internal { .. } => 1474,
        })
    }

    /// The HTTP status the page is answered with.
    pub fn status(&self) -> u16 {
        match self {
            PageError::NotFound { .. } | PageError::UnknownPlugin { .. } => 404,
            PageError::BadParameter { .. } | PageError::BadName { .. } => 400,
            PageError::Internal { .. } => 500,
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            PageError::NotFound { .. } => {
                "start from the home page, or search for the plugin by name".into()
            }
            PageError::UnknownPlugin { .. } => "check the spelling, or search for it: it may \
                have another name, or not be published to this registry"
                .into(),
            PageError::BadParameter { .. } => "change the search with the form on the search \
                page rather than editing the address by hand"
                .into(),
            PageError::BadName { .. } => "names are lower-case letters, digits, `-` and `_`; \
                search for the plugin instead"
                .into(),
            PageError::Internal { .. } => {
                "retry in a moment; if it persists, tell the registry's operator".into()
            }
        }
    }
}

/// At most `max` characters of `text`, for echoing input back in a message.
pub(super) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(max).collect();
        s.push('…');
        s
    }
}
