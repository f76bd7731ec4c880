//! State handed from one version of a plugin to the next during a hot reload, tagged with
//! the version that wrote it — the `OldVsn` of Erlang's `code_change`.
//!
//! The host hands the bytes a plugin's [`snapshot`](crate::Plugin::snapshot) returns to the
//! next version's [`restore`](crate::Plugin::restore) untouched (no ABI change: any SDK's
//! plugins interoperate). A plugin that wraps its state in a [`Handover`] lets the next
//! version see which version it comes from, and convert what that version kept.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{codes, PluginError};

/// A plugin's state with the version that wrote it.
///
/// # Example
///
/// ```
/// use switchboard_sdk::Handover;
///
/// // The old version's `snapshot`:
/// let bytes = Handover::new("0.1.0", &41u64).unwrap().encode();
/// // The new version's `restore`:
/// let handover = Handover::decode(&bytes).unwrap();
/// let count: u64 = match handover.version() {
///     "0.1.0" => handover.state::<u64>().unwrap(),
///     other => panic!("cannot take over state from {other}"),
/// };
/// assert_eq!(count, 41);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handover {
    magic: [u8; 4],
    version: String,
    state: Vec<u8>,
}

const MAGIC: [u8; 4] = *b"SBho";

impl Handover {
    /// `state` (postcard-encoded) from `version` (write `env!("CARGO_PKG_VERSION")`).
    pub fn new<T: Serialize>(version: &str, state: &T) -> Result<Handover, PluginError> {
        let state = postcard::to_allocvec(state).map_err(|e| {
            PluginError::with_code(codes::BAD_REQUEST, format!("cannot encode the state: {e}"))
        })?;
        Ok(Handover {
            magic: MAGIC,
            version: version.to_owned(),
            state,
        })
    }

    /// The bytes to return from `snapshot`.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Reads what a previous version's `snapshot` returned. An error if it is not a
    /// `Handover` (a version that did not use one: read the bytes as that version wrote them).
    pub fn decode(bytes: &[u8]) -> Result<Handover, PluginError> {
        match postcard::from_bytes::<Handover>(bytes) {
            Ok(h) if h.magic == MAGIC => Ok(h),
            _ => Err(PluginError::with_code(
                codes::BAD_REQUEST,
                "the state handed over is not a `Handover`",
            )
            .next_step("read it as the previous version wrote it")),
        }
    }

    /// The version that wrote the state.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The state, decoded as `T`.
    pub fn state<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        postcard::from_bytes(&self.state).map_err(|e| {
            PluginError::with_code(
                codes::BAD_REQUEST,
                format!(
                    "the state from version {} does not decode: {e}",
                    self.version
                ),
            )
        })
    }
}
