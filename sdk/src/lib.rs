//! # switchboard-sdk
//!
//! Write plugins for hosts built with Switchboard. A plugin is an ordinary Rust type: implement
//! [`Plugin`] (one required method), mark an `impl` block with [`#[plugin]`](plugin) and its
//! commands with `#[command]`, and build the crate as a `cdylib`. The macro generates the
//! exported entry point, the dispatch table, panic guards and a manifest embedded in the
//! library, which hosts read before running any of its code.
//!
//! # Example
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use switchboard_sdk::prelude::*;
//!
//! #[derive(Serialize, Deserialize, Message)]
//! pub struct Sum {
//!     pub a: i64,
//!     pub b: i64,
//! }
//!
//! pub struct Calculator;
//!
//! impl Plugin for Calculator {
//!     fn create(_ctx: &Context) -> Result<Self, PluginError> {
//!         Ok(Calculator)
//!     }
//! }
//!
//! #[plugin(capabilities = ["kv"])]
//! impl Calculator {
//!     /// Adds two numbers.
//!     #[command]
//!     fn add(&self, req: Sum) -> i64 {
//!         req.a + req.b
//!     }
//!
//!     /// Divides, refusing zero with an error the host sees.
//!     #[command]
//!     fn div(&self, req: Sum) -> Result<i64, PluginError> {
//!         req.a.checked_div(req.b).ok_or_else(|| PluginError::new("division by zero"))
//!     }
//! }
//! ```
//!
//! In `Cargo.toml`, build a `cdylib`:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib", "rlib"]
//! ```
//!
//! # Modules
//!
//! - [`Plugin`], [`Health`]: the contract and lifecycle.
//! - [`Context`]: the plugin's handle on the host, and its services ([`Fs`], environment,
//!   events with [`Context::publish`], shared services with [`Context::call_service`]).
//! - [`Event`]: what a `#[subscribe("pattern")]` handler receives.
//! - [`stream`](mod@stream): streaming commands ([`Sink`]) and usage reports
//!   ([`Context::usage`]).
//! - [`migration`](mod@migration): [`MigrationData`](migration::MigrationData), what a
//!   `#[migration(from, to)]` method changes when the host updates the plugin.
//! - [`state`]: plugin state through the host — [`Kv`](state::Kv) with transactions and
//!   compare-and-swap, [`Secrets`](state::Secrets), typed configuration.
//! - [`caps`]: the capability vocabulary — [`Capability`](caps::Capability), patterns,
//!   [`Access`](caps::Access).
//! - [`Message`], [`Contract`], [`encode`], [`decode`]: typed messages.
//! - [`PluginError`], [`ErrorCode`], [`codes`]: errors with stable codes.
//! - [`EmbeddedManifest`]: what the library says about itself.
//! - `manifest` (feature `manifest`): `plugin.toml` types, parser and validator.
//! - [`abi`]: the stable ABI (the only place `abi_stable` appears), used by hosts.
//! - `testing` (feature `testing`): a mock host for unit tests.

#![deny(missing_docs)]
#![deny(unsafe_code)]
// Input from users, files and plugins becomes a typed error, never a panic: library code
// outside tests has no unwrap() or expect() (tests keep them, as assertions).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod abi;
pub mod batch;
pub mod caps;
mod context;
mod copy;
mod embedded;
mod error;
mod event;
pub mod extend;
mod handover;
#[cfg(feature = "manifest")]
pub mod manifest;
mod message;
pub mod migration;
mod plugin;
pub mod state;
pub mod stream;
#[doc(hidden)]
pub mod suggest;
#[cfg(feature = "testing")]
pub mod testing;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use abi::{Output, SDK_ABI_MAJOR, SDK_ABI_MINOR, SDK_ABI_VERSION};
pub use batch::PublishBatch;
pub use context::{Context, Fs, Level};
pub use embedded::{
    CommandDecl, DeliveryRequest, EmbeddedManifest, HookDecl, MigrationDecl, EMBEDDED_FORMAT,
    SECTION_ELF, SECTION_MACHO, SECTION_PE,
};
pub use error::{codes, ErrorCode, PluginError};
pub use event::Event;
#[doc(hidden)]
pub use event::{Frame, HandlerResult};
pub use handover::Handover;
pub use message::{
    decode, decode_ref, encode, encode_into, encode_ref, fnv1a64, view_contract, Contract, Message,
    MessageRef, View, RAW_BYTES_CONTRACT,
};
pub use plugin::{Health, Plugin, PluginEntry};
pub use stream::Sink;
pub use switchboard_macros::{command, hook, migration, plugin, subscribe, Message};

/// What a plugin author needs in scope: `use switchboard_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::caps::Access;
    pub use crate::migration::MigrationData;
    pub use crate::{
        plugin, Context, Event, Health, Level, Message, Output, Plugin, PluginError, Sink,
    };
}
