//! Refusals of the index format: a file, a line or a name that is not what `docs/registry.md`
//! specifies (SB1300–SB1309).

use switchboard_sdk::ErrorCode;

/// A registry file or name does not follow the format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// A line or a file is longer than the format allows.
    #[error("{what} is larger than {limit} bytes; refused unread")]
    TooLarge {
        /// What was read (`index line 3 of index/3/h/hello`, `snapshot.json`).
        what: String,
        /// The cap.
        limit: u64,
    },
    /// JSON nested deeper than the format ever needs.
    #[error("{what} nests JSON deeper than {limit} levels; refused unparsed")]
    TooDeep {
        /// What was read.
        what: String,
        /// The deepest nesting allowed.
        limit: usize,
    },
    /// Not JSON, a wrong type, a missing or unknown field, a value out of range.
    #[error("{what} is invalid: {reason}")]
    Invalid {
        /// What was read.
        what: String,
        /// What is wrong, from the parser or the check that failed.
        reason: String,
    },
    /// A plugin name a registry does not accept.
    #[error("`{name}` is not a registry plugin name: {reason}")]
    BadName {
        /// The name as given (truncated when long).
        name: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A name that differs from a registered one only by case or `-`/`_`.
    #[error("`{name}` is too close to `{existing}`, already in this registry")]
    Confusable {
        /// The name refused.
        name: String,
        /// The name registered first.
        existing: String,
    },
    /// A file written by a newer format than this client reads.
    #[error("{what} has format {found}; this client reads format {supported}")]
    NewerFormat {
        /// What was read.
        what: String,
        /// The file's format version.
        found: u64,
        /// The newest this client reads.
        supported: u64,
    },
    /// The lines of one index file contradict each other or the file's name.
    #[error("{what} is inconsistent: {reason}")]
    Inconsistent {
        /// The index file.
        what: String,
        /// What contradicts what.
        reason: String,
    },
}

impl FormatError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::from_number(match self {
            FormatError::TooLarge { .. } => 1300,
            FormatError::TooDeep { .. } => 1301,
            FormatError::Invalid { .. } => 1302,
            FormatError::BadName { .. } => 1303,
            FormatError::Confusable { .. } => 1304,
            FormatError::NewerFormat { .. } => 1305,
            FormatError::Inconsistent { .. } => 1306,
        })
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            FormatError::TooLarge { .. } | FormatError::TooDeep { .. } => {
                "the registry serves a file no honest registry writes: tell its operator, and do \
                 not use it until it is fixed"
                    .into()
            }
            FormatError::Invalid { .. } | FormatError::Inconsistent { .. } => {
                "the registry's files do not follow docs/registry.md: tell its operator (if you \
                 wrote it by hand, fix the field named)"
                    .into()
            }
            FormatError::BadName { .. } => {
                "registry names are 1–64 characters of a-z, 0-9, `-` and `_`, starting with a \
                 letter: rename the plugin in its plugin.toml"
                    .into()
            }
            FormatError::Confusable { existing, .. } => format!(
                "names equal up to case and `-`/`_` would let one plugin pass for another: \
                 choose a distinct name, or publish under `{existing}` if it is yours"
            ),
            FormatError::NewerFormat { .. } => {
                "update switchboard: the registry uses a newer format than this version reads"
                    .into()
            }
        }
    }
}
