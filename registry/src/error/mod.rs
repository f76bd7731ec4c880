//! The registry's errors (ARCHITECTURE D12): one umbrella, [`RegistryError`], over one enum per
//! area, each with stable codes in SB1300–SB1399 and a next step.

use switchboard_sdk::ErrorCode;

pub use crate::client::ClientError;
pub use crate::format::FormatError;
pub use crate::metadata::TrustError;
pub use crate::publish::PublishError;
pub use crate::registries::RegistriesError;
pub use certify::CertifyError;
pub use server::ServerError;

mod certify;
mod server;

/// Any error from a registry: reading, verifying, publishing or configuring one.
///
/// Prints like the host's errors, with both `{}` and `{:?}`: `[SB13xx] message` and, on the next
/// line, what to do. `{:#?}` shows the structure.
#[non_exhaustive]
pub enum RegistryError {
    /// A registry file could not be fetched: missing, too large, unreachable.
    Fetch(FetchError),
    /// A registry file or name does not follow the format.
    Format(FormatError),
    /// Signed metadata, or a file it covers, failed a check (signatures, expiry, rollback,
    /// hashes).
    Trust(TrustError),
    /// The client cannot answer (no such release, a package not matching its index, the cache).
    Client(ClientError),
    /// Creating or changing a registry was refused.
    Publish(PublishError),
    /// Configuring or choosing among several registries was refused (names, priorities, the
    /// policy's list, tokens, which registry a plugin comes from).
    Registries(RegistriesError),
    /// The registry server could not start, or refused a request.
    Server(ServerError),
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
    /// The registry's host could not be reached: no such host, connection refused or reset.
    #[error("cannot reach {registry}: {reason}")]
    Unreachable {
        /// The registry (URL).
        registry: String,
        /// What the network said.
        reason: String,
    },
    /// The registry answered a file with an HTTP error status.
    #[error("{registry} answered {path} with HTTP status {status}")]
    Status {
        /// The registry (URL).
        registry: String,
        /// The file's path inside the registry.
        path: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The TLS connection to the registry failed (certificate, protocol).
    #[error("TLS with {registry} failed: {reason}")]
    Tls {
        /// The registry (URL).
        registry: String,
        /// What failed.
        reason: String,
    },
    /// The registry did not answer within the time allowed.
    #[error("{registry} did not answer {path} in time ({reason})")]
    Timeout {
        /// The registry (URL).
        registry: String,
        /// The file's path inside the registry.
        path: String,
        /// Which wait ran out.
        reason: String,
    },
    /// The registry has no such file (HTTP 404, or no file in the directory).
    #[error("{path} is not in {registry}")]
    NotFound {
        /// The registry (URL or directory).
        registry: String,
        /// The file's path inside the registry.
        path: String,
    },
    /// A path that is not a plain relative path inside the registry, or that leads out of it
    /// (through `..` or a symbolic link).
    #[error("{path} is not a path inside {registry}: {reason}")]
    OutsideRegistry {
        /// The registry.
        registry: String,
        /// The path asked for.
        path: String,
        /// Why.
        reason: String,
    },
    /// The path names a directory, a FIFO, a device — not a regular file.
    #[error("{path} in {registry} is not a regular file")]
    NotRegular {
        /// The registry.
        registry: String,
        /// The path.
        path: String,
    },
    /// Reading failed.
    #[error("reading {path} from {registry} failed: {reason}")]
    Io {
        /// The registry.
        registry: String,
        /// The path.
        path: String,
        /// The system's reason.
        reason: String,
    },
    /// A registry location that is not an `http://` or `https://` URL.
    #[error("`{url}` is not an http:// or https:// URL")]
    BadUrl {
        /// The location as given.
        url: String,
    },
    /// Writing a fetched file to its destination failed.
    #[error("writing {path} from {registry} failed: {reason}")]
    Write {
        /// The registry (URL or directory).
        registry: String,
        /// The file's path inside the registry.
        path: String,
        /// What failed.
        reason: String,
    },
    /// A token would be sent in clear text: plain `http://` to a host other than this machine.
    #[error("refused to send a token to {registry} over plain http://")]
    InsecureToken {
        /// The registry (URL).
        registry: String,
    },
    /// The registry server refused a paid plugin's package (HTTP 402): the account of the
    /// token sent (or no token) has no entitlement to it.
    #[error("{registry} refused {path}: {message}")]
    PaymentRequired {
        /// The registry (URL).
        registry: String,
        /// The file's path inside the registry.
        path: String,
        /// The server's message (which plugin, its price, which account).
        message: String,
        /// The server's next step (`switchboard buy NAME …`).
        next_step: String,
    },
}

impl FetchError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            FetchError::TooLarge { .. } => ErrorCode::from_number(1350),
            FetchError::NotFound { .. } => ErrorCode::from_number(1320),
            FetchError::OutsideRegistry { .. } => ErrorCode::from_number(1321),
            FetchError::NotRegular { .. } => ErrorCode::from_number(1322),
            FetchError::Io { .. } => ErrorCode::from_number(1323),
            FetchError::Unreachable { .. } => ErrorCode::from_number(1351),
            FetchError::Status { .. } => ErrorCode::from_number(1352),
            FetchError::Tls { .. } => ErrorCode::from_number(1353),
            FetchError::Timeout { .. } => ErrorCode::from_number(1354),
            FetchError::BadUrl { .. } => ErrorCode::from_number(1355),
            FetchError::Write { .. } => ErrorCode::from_number(1356),
            FetchError::InsecureToken { .. } => ErrorCode::from_number(1357),
            FetchError::PaymentRequired { .. } => ErrorCode::from_number(1480),
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            FetchError::TooLarge { registry, .. } => format!(
                "{registry} serves a file far larger than a registry file should be: \
                 check the registry's URL, and tell its operator"
            ),
            FetchError::NotFound { registry, .. } => format!(
                "check that {registry} is a Switchboard registry (it has `timestamp.json` at its \
                 root) and that the name is right"
            ),
            FetchError::OutsideRegistry { registry, .. }
            | FetchError::NotRegular { registry, .. } => format!(
                "{registry} holds a link or special file where a registry file should be: \
                 tell its operator (a registry directory holds regular files only)"
            ),
            FetchError::Io { .. } => {
                "check the registry's location, permissions and the network, then retry".into()
            }
            FetchError::Unreachable { .. } => {
                "check the URL and your network, then retry; with `--offline` commands use \
                 what is cached"
                    .to_owned()
            }
            FetchError::Status {
                status: 401 | 403, ..
            } => "the registry wants credentials: add it with `--token-env VAR` and set VAR to \
                 your token"
                .to_owned(),
            FetchError::Status { status, .. } if *status >= 500 => {
                "the registry failed on its side: retry later, or tell its operator".to_owned()
            }
            FetchError::Status { .. } => {
                "check the registry's URL (`switchboard registry list`)".to_owned()
            }
            FetchError::Tls { .. } => {
                "check the URL's host name and the server's certificate (it must chain to a \
                 trusted root and name the host)"
                    .to_owned()
            }
            FetchError::Timeout { .. } => {
                "retry; if it keeps happening the registry is overloaded or unreachable".to_owned()
            }
            FetchError::BadUrl { .. } => {
                "write the registry as `https://host/path` or give a directory".to_owned()
            }
            FetchError::Write { .. } => {
                "check the destination's free space and permissions".to_owned()
            }
            FetchError::InsecureToken { .. } => {
                "use the registry's https:// URL (plain http:// only to this machine)".to_owned()
            }
            FetchError::PaymentRequired { next_step, .. } => next_step.clone(),
        }
    }
}

impl RegistryError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            RegistryError::Fetch(e) => e.code(),
            RegistryError::Format(e) => e.code(),
            RegistryError::Publish(e) => e.code(),
            RegistryError::Client(e) => e.code(),
            RegistryError::Trust(e) => e.code(),
            RegistryError::Registries(e) => e.code(),
            RegistryError::Server(e) => e.code(),
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            RegistryError::Fetch(e) => e.next_step(),
            RegistryError::Format(e) => e.next_step(),
            RegistryError::Publish(e) => e.next_step(),
            RegistryError::Client(e) => e.next_step(),
            RegistryError::Trust(e) => e.next_step(),
            RegistryError::Registries(e) => e.next_step(),
            RegistryError::Server(e) => e.next_step(),
        }
    }

    /// The message alone, without the code and the next step.
    pub fn message(&self) -> String {
        match self {
            RegistryError::Fetch(e) => e.to_string(),
            RegistryError::Format(e) => e.to_string(),
            RegistryError::Publish(e) => e.to_string(),
            RegistryError::Client(e) => e.to_string(),
            RegistryError::Trust(e) => e.to_string(),
            RegistryError::Registries(e) => e.to_string(),
            RegistryError::Server(e) => e.to_string(),
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
            RegistryError::Format(e) => e.source(),
            RegistryError::Publish(e) => e.source(),
            RegistryError::Client(e) => e.source(),
            RegistryError::Trust(e) => e.source(),
            RegistryError::Registries(e) => e.source(),
            RegistryError::Server(e) => e.source(),
        }
    }
}

impl std::fmt::Debug for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if f.alternate() {
            match self {
                RegistryError::Fetch(e) => f.debug_tuple("Fetch").field(e).finish(),
                RegistryError::Format(e) => f.debug_tuple("Format").field(e).finish(),
                RegistryError::Publish(e) => f.debug_tuple("Publish").field(e).finish(),
                RegistryError::Client(e) => f.debug_tuple("Client").field(e).finish(),
                RegistryError::Trust(e) => f.debug_tuple("Trust").field(e).finish(),
                RegistryError::Registries(e) => f.debug_tuple("Registries").field(e).finish(),
                RegistryError::Server(e) => f.debug_tuple("Server").field(e).finish(),
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

impl From<FormatError> for RegistryError {
    fn from(e: FormatError) -> Self {
        RegistryError::Format(e)
    }
}

impl From<TrustError> for RegistryError {
    fn from(e: TrustError) -> Self {
        RegistryError::Trust(e)
    }
}

impl From<ClientError> for RegistryError {
    fn from(e: ClientError) -> Self {
        RegistryError::Client(e)
    }
}

impl From<PublishError> for RegistryError {
    fn from(e: PublishError) -> Self {
        RegistryError::Publish(e)
    }
}

impl From<RegistriesError> for RegistryError {
    fn from(e: RegistriesError) -> Self {
        RegistryError::Registries(e)
    }
}

impl From<ServerError> for RegistryError {
    fn from(e: ServerError) -> Self {
        RegistryError::Server(e)
    }
}
