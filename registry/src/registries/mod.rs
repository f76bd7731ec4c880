//! Several registries (SPEC S9.7): the ones a host's database lists, each with a priority, an
//! optional token, a certified-only filter and a channel; the policy's `allowed_registries`;
//! name lookups by priority that never mix registries silently.

mod error;
mod host_seen;
mod reference;
pub mod search;

pub use reference::{
    parse_channel, validate_registry_name, Location, PluginRef, MAX_REGISTRY_NAME,
};

pub use error::RegistriesError;
pub use host_seen::HostSeenStore;
