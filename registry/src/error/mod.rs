//! The registry's errors (ARCHITECTURE D12): one umbrella, [`RegistryError`], over one enum per
//! area, each with stable codes in SB1300–SB1399 and a next step.

use switchboard_sdk::ErrorCode;

/// Any error from a registry: reading, verifying, publishing or configuring one.
///
/// Prints like the host's errors, with both `{}` and `{:?}`: `[SB13xx] message` and, on the next
/// line, what to do. `{:#?}` shows the structure.
#[non_exhaustive]
pub enum RegistryError {
    /// A registry file could not be fetched: missing, too large, unreachable.
    Fetch(FetchError),
}

/// A registry file could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The file is larger than the client accepts for its kind.
    #[error("{path} from {registry} is larger than {limit} bytes; refused")]
    TooLarge {
        /// The registry (URL or directory).
        registry: String,
        /// The file's path inside the registry.
        path: String,
        /// The cap for this kind of file.
        limit: u64,
    },
}

impl FetchError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            FetchError::TooLarge { .. } => ErrorCode::from_number(1350),
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            FetchError::TooLarge { registry, .. } => format!(
                "{registry} serves a file far larger than a registry file should be: \
                 check the registry's URL, and tell its operator"
            ),
        }
    }
}

impl RegistryError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            RegistryError::Fetch(e) => e.code(),
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            RegistryError::Fetch(e) => e.next_step(),
        }
    }

    /// The message alone, without the code and the next step.
    pub fn message(&self) -> String {
        match self {
            RegistryError::Fetch(e) => e.to_string(),
        }
    }
}

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}] {}\n  next: {}",
            self.code(),
            self.message(),
            self.next_step()
        )
    }
}

impl std::error::Error for RegistryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RegistryError::Fetch(e) => e.source(),
        }
    }
}

impl std::fmt::Debug for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if f.alternate() {
            match self {
                RegistryError::Fetch(e) => f.debug_tuple("Fetch").field(e).finish(),
            }
        } else {
            std::fmt::Display::fmt(self, f)
        }
    }
}

impl From<FetchError> for RegistryError {
    fn from(e: FetchError) -> Self {
        RegistryError::Fetch(e)
    }
}
