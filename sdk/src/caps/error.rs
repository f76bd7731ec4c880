//! Why a capability or access did not parse.

use crate::error::{codes, ErrorCode, PluginError};

/// A capability that could not be parsed, with a stable code and a next step.
///
/// # Example
///
/// ```
/// use switchboard_sdk::caps::{Capability, CapabilityError};
///
/// let e = "fs.read:data/*.txt".parse::<Capability>().unwrap_err();
/// assert!(matches!(e, CapabilityError::BadPattern { .. }));
/// assert_eq!(e.code().to_string(), "SB0402");
/// assert!(e.next_step().contains("absolute"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CapabilityError {
    /// The name is not one of the capability names.
    #[error("unknown capability `{name}`{}", suggestion_text(.suggestion))]
    UnknownName {
        /// The name given.
        name: String,
        /// The closest known name, if one is close.
        suggestion: Option<&'static str>,
    },
    /// The pattern after `name:` is not valid for this capability.
    #[error("bad pattern `{pattern}` for `{capability}`: {reason}")]
    BadPattern {
        /// The capability name.
        capability: &'static str,
        /// The pattern given.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The capability takes no pattern, and one was given.
    #[error("`{capability}` takes no pattern, but `{capability}:{pattern}` was given")]
    UnexpectedScope {
        /// The capability name.
        capability: &'static str,
        /// The pattern given.
        pattern: String,
    },
}

fn suggestion_text(s: &Option<&'static str>) -> String {
    match s {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

impl CapabilityError {
    /// The stable code: `SB0401` unknown name, `SB0402` bad pattern, `SB0403` unexpected scope.
    pub fn code(&self) -> ErrorCode {
        match self {
            CapabilityError::UnknownName { .. } => codes::CAPABILITY_UNKNOWN,
            CapabilityError::BadPattern { .. } => codes::CAPABILITY_BAD_PATTERN,
            CapabilityError::UnexpectedScope { .. } => codes::CAPABILITY_UNEXPECTED_SCOPE,
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            CapabilityError::UnknownName {
                suggestion: Some(s),
                ..
            } => format!("write `{s}`"),
            CapabilityError::UnknownName { .. } => format!(
                "use one of: {}",
                super::CapabilityKind::ALL
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            CapabilityError::BadPattern { capability, .. } => match *capability {
                "fs.read" | "fs.write" => "write an absolute path; `*` stands for one whole \
                     segment and `**` for any number of them, e.g. `fs.read:/srv/data/**`"
                    .into(),
                "events.publish" | "events.subscribe" => "write dot-separated segments of \
                     letters, digits, `-` or `_`; `*` stands for one segment and `**` for any \
                     number, e.g. `events.publish:plugin.NAME.*`"
                    .into(),
                "net.connect" => "write `HOST`, `HOST:PORT` or `HOST:LOW-HIGH`, where HOST is a \
                     name, `*.domain`, `[ipv6]` or `*`, e.g. `net.connect:api.example.com:443`"
                    .into(),
                _ => "write a name of letters, digits, `.`, `-` or `_`, optionally ending in `*`, \
                      e.g. `env:APP_*`"
                    .into(),
            },
            CapabilityError::UnexpectedScope { capability, .. } => {
                format!("write `{capability}` alone")
            }
        }
    }
}

impl From<CapabilityError> for PluginError {
    fn from(e: CapabilityError) -> Self {
        let next = e.next_step();
        PluginError::with_code(e.code(), e.to_string()).next_step(next)
    }
}
