//! Refusals about the set of registries a host uses (SB1361–SB1374): configuring them, the
//! policy's list, and finding a plugin among them.

use switchboard_host::StoreError;
use switchboard_sdk::ErrorCode;

/// Configuring or choosing among several registries was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistriesError {
    /// No registry of that name is configured.
    #[error("no registry named `{name}` is configured{}", known_list(.known))]
    UnknownRegistry {
        /// The name asked for.
        name: String,
        /// The names that are configured.
        known: Vec<String>,
    },
    /// A registry of that name is already configured.
    #[error("a registry named `{name}` is already configured")]
    NameTaken {
        /// The name.
        name: String,
    },
    /// Another registry has that priority: priorities order registries strictly, so that
    /// which one a name comes from is never a tie.
    #[error("priority {priority} is already the priority of registry `{other}`")]
    PriorityTaken {
        /// The priority asked for.
        priority: i64,
        /// The registry that has it.
        other: String,
    },
    /// The policy's `allowed_registries` does not list the registry.
    #[error("the policy does not allow registry {location}{}", named(.name))]
    NotAllowed {
        /// The registry's name, if it has one yet.
        name: Option<String>,
        /// Its URL or directory.
        location: String,
        /// The registries the policy allows.
        allowed: Vec<String>,
    },
    /// A registry name that is not a short identifier.
    #[error("`{name}` is not a registry name")]
    BadName {
        /// The name as given.
        name: String,
    },
    /// A location that is neither an `http(s)://` URL nor an existing directory.
    #[error("`{location}` is neither an http(s):// URL nor a directory")]
    BadLocation {
        /// The location as given.
        location: String,
    },
    /// A channel other than `ga` or `beta` (drafts are never used by name).
    #[error("`{channel}` is not a channel a registry can be used on")]
    BadChannel {
        /// The channel as given.
        channel: String,
    },
    /// The registry needs a token and none was given.
    #[error("registry `{registry}` needs a token from ${var}, which is not set")]
    TokenMissing {
        /// The registry.
        registry: String,
        /// The environment variable named when it was added.
        var: String,
    },
    /// No configured registry has the plugin.
    #[error("no registry has a plugin named `{name}`{}", searched_list(.searched))]
    PluginNotFound {
        /// The name asked for.
        name: String,
        /// The registries asked.
        searched: Vec<String>,
    },
    /// A plugin or version is not visible with the registry's settings (certified only, the
    /// channel, drafts), though it exists.
    #[error("`{name}` has no release {what} in registry `{registry}`")]
    NothingVisible {
        /// The plugin.
        name: String,
        /// The registry.
        registry: String,
        /// What was asked for, in words (`matching 2.0.0`, `on the ga channel`).
        what: String,
        /// What hides it.
        hidden_by: String,
    },
    /// A plugin reference that does not parse: `[registry:]NAME[@VERSION]`.
    #[error("`{text}` is not a plugin reference: {reason}")]
    BadReference {
        /// The text as given.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// `--offline` and nothing verified is cached for the registry.
    #[error("registry `{registry}` has nothing cached to use offline")]
    NotCached {
        /// The registry.
        registry: String,
    },
    /// The root of trust given when adding a registry does not parse or does not sign itself.
    #[error("the root of trust for `{registry}` is unusable: {reason}")]
    BadRoot {
        /// The registry.
        registry: String,
        /// What is wrong.
        reason: String,
    },
    /// A token was given for a directory registry, which nothing would send it to.
    #[error("registry `{registry}` is a directory: a token (${var}) would never be used")]
    TokenForDirectory {
        /// The registry.
        registry: String,
        /// The variable named.
        var: String,
    },
    /// The host database failed (its own code is kept).
    #[error("{0}")]
    Store(#[source] StoreError),
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        " (none is)".to_owned()
    } else {
        format!(" (configured: {})", known.join(", "))
    }
}

fn named(name: &Option<String>) -> String {
    name.as_ref()
        .map(|n| format!(" (`{n}`)"))
        .unwrap_or_default()
}

fn searched_list(searched: &[String]) -> String {
    if searched.is_empty() {
        " (no registry is configured)".to_owned()
    } else {
        format!(" (searched: {})", searched.join(", "))
    }
}

impl RegistriesError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::from_number(match self {
            RegistriesError::UnknownRegistry { .. } => 1361,
            RegistriesError::NameTaken { .. } => 1362,
            RegistriesError::PriorityTaken { .. } => 1363,
            RegistriesError::NotAllowed { .. } => 1364,
            RegistriesError::BadName { .. } => 1365,
            RegistriesError::BadLocation { .. } => 1366,
            RegistriesError::BadChannel { .. } => 1367,
            RegistriesError::TokenMissing { .. } => 1368,
            RegistriesError::PluginNotFound { .. } => 1369,
            RegistriesError::NothingVisible { .. } => 1370,
            RegistriesError::BadReference { .. } => 1371,
            RegistriesError::NotCached { .. } => 1372,
            RegistriesError::BadRoot { .. } => 1373,
            RegistriesError::TokenForDirectory { .. } => 1374,
            RegistriesError::Store(e) => return e.code(),
        })
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            RegistriesError::UnknownRegistry { .. } => {
                "see `switchboard registry list`, or add it with `switchboard registry add`"
                    .to_owned()
            }
            RegistriesError::NameTaken { name } => {
                format!("pick another name, or `switchboard registry remove {name}` first")
            }
            RegistriesError::PriorityTaken { .. } => {
                "pick another --priority (higher is asked first); `switchboard registry list` \
                 shows the ones in use"
                    .to_owned()
            }
            RegistriesError::NotAllowed { allowed, .. } => format!(
                "use a registry the policy allows ({}), or add this one to the policy's \
                 `allowed_registries`",
                allowed.join(", ")
            ),
            RegistriesError::BadName { .. } => {
                "use lower-case letters, digits, `-` and `_`, starting with a letter, at most 64"
                    .to_owned()
            }
            RegistriesError::BadLocation { .. } => {
                "give `https://host/path`, or the path of an existing registry directory".to_owned()
            }
            RegistriesError::BadChannel { .. } => {
                "use `--channel ga` or `--channel beta`".to_owned()
            }
            RegistriesError::TokenMissing { var, .. } => {
                format!("set {var} to your token for this registry, then retry")
            }
            RegistriesError::PluginNotFound { .. } => {
                "check the spelling (`switchboard search`), or add the registry that publishes it"
                    .to_owned()
            }
            RegistriesError::NothingVisible { hidden_by, .. } => hidden_by.clone(),
            RegistriesError::BadReference { .. } => {
                "write NAME, NAME@VERSION or REGISTRY:NAME[@VERSION]".to_owned()
            }
            RegistriesError::NotCached { .. } => {
                "run the command once without --offline".to_owned()
            }
            RegistriesError::BadRoot { .. } => {
                "pass the registry's own `1.root.json` (from its operator) with --root FILE"
                    .to_owned()
            }
            RegistriesError::TokenForDirectory { .. } => {
                "drop --token-env: a directory is read with your own file permissions".to_owned()
            }
            RegistriesError::Store(e) => e.next_step(),
        }
    }
}

impl From<StoreError> for RegistriesError {
    fn from(e: StoreError) -> Self {
        RegistriesError::Store(e)
    }
}
