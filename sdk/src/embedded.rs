//! The manifest a plugin library carries in its own link section.
//!
//! `#[plugin]` writes it at compile time; the host reads it from the file with an object-file
//! parser before the library is opened, so no plugin code runs to learn what a plugin is
//! (ARCHITECTURE D3).

use serde::{Deserialize, Serialize};

/// The name of the manifest section in ELF libraries.
pub const SECTION_ELF: &str = "switchboard_manifest";
/// The name of the manifest section in Mach-O libraries (segment `__DATA`).
pub const SECTION_MACHO: &str = "__sbmanifest";
/// The name of the manifest section in PE libraries (at most 8 bytes).
pub const SECTION_PE: &str = ".sbmanif";

/// The version of the embedded manifest format this SDK writes.
pub const EMBEDDED_FORMAT: u32 = 1;

/// The manifest embedded in a plugin library.
///
/// # Example
///
/// ```
/// use switchboard_sdk::EmbeddedManifest;
///
/// let json = br#"{"format":1,"name":"hello","version":"0.1.0","description":"",
///   "sdk_abi":"1.0","commands":[{"name":"greet","request":"string@1","response":"string@1"}],
///   "capabilities":[]}"#;
/// let m: EmbeddedManifest = serde_json::from_slice(json).unwrap();
/// assert_eq!(m.commands[0].name, "greet");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedManifest {
    /// The format version of this document.
    pub format: u32,
    /// The plugin's name (its crate name).
    pub name: String,
    /// The plugin's version (its crate version).
    pub version: String,
    /// A one-line description (its crate description).
    pub description: String,
    /// The SDK ABI it was built against, `major.minor`.
    pub sdk_abi: String,
    /// The commands, in dispatch-table order: a command's index is its position.
    pub commands: Vec<CommandDecl>,
    /// The capabilities it requests, as written in `#[plugin(capabilities = [...])]`.
    pub capabilities: Vec<String>,
    /// Its `#[subscribe]` patterns, in handler order (SDK ABI 1.1; empty before).
    #[serde(default)]
    pub subscriptions: Vec<String>,
    /// The shared services it provides, from `#[plugin(services = [...])]` (SDK ABI 1.1).
    #[serde(default)]
    pub services: Vec<String>,
    /// Its `#[migration]` methods, in declaration order (SDK ABI 1.1).
    #[serde(default)]
    pub migrations: Vec<MigrationDecl>,
    /// The text of the crate's `plugin.toml` when the library was built, if the crate has
    /// one: what a development load takes configuration, limits and requirements from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_toml: Option<String>,
    /// Delivery options its `#[subscribe]` handlers ask for (SDK ABI 1.1); handlers not
    /// listed take the host's defaults for plugins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delivery: Vec<DeliveryRequest>,
    /// Its `#[hook]` contributions to the host's extension points (SDK ABI 1.2; none
    /// before). Each names the command that serves it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<HookDecl>,
}

/// One `#[hook("point", kind, …)]` contribution: which extension point it extends, how, in
/// what order, and the command (in [`EmbeddedManifest::commands`]) the host calls for it.
/// The host checks it against the point it declared before any plugin code runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookDecl {
    /// The extension point's name, e.g. `workflow.phase.build`.
    pub point: String,
    /// How it contributes: `collect`, `first`, `filter`, `replace`, `before`, `after` or
    /// `register` (see `switchboard_sdk::extend::HookKind`).
    pub kind: String,
    /// The command that serves it: its request and response contracts are the
    /// contribution's.
    pub command: String,
    /// Higher runs earlier; ties go by plugin name, then command name.
    #[serde(default)]
    pub priority: i32,
    /// Plugins whose contributions to the same point this one runs before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<String>,
    /// Plugins whose contributions to the same point this one runs after.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
}

/// The delivery options one `#[subscribe("…", queue = …, overflow = "…", block_ms = …)]`
/// handler asks for. The host grants them within its delivery policy or refuses the start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryRequest {
    /// The handler: its index in `subscriptions`.
    pub handler: u32,
    /// The queue's capacity, in envelopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<u64>,
    /// What happens when the queue is full: `drop_oldest` (the host's default for plugins),
    /// `drop_newest`, or `block` (the publisher waits up to `block_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow: Option<String>,
    /// With `block`: the longest a publisher waits for room, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_ms: Option<u64>,
}

/// One data migration a plugin declares: the versions it leads from and to (`"0.1"` covers
/// every `0.1.x`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationDecl {
    /// The version it migrates from.
    pub from: String,
    /// The version it migrates to.
    pub to: String,
}

/// One command of a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandDecl {
    /// The command's name.
    pub name: String,
    /// The contract id of its request, or `bytes`.
    pub request: String,
    /// The contract id of its response, or `bytes`. For a streaming command, its summary
    /// (what it returns after the last chunk).
    pub response: String,
    /// For a streaming command (`out: &mut Sink<'_, Chunk>`, SDK ABI 1.3): the contract id
    /// of its chunks. `None` for a command that returns one response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
}

impl EmbeddedManifest {
    /// The SDK ABI as `(major, minor)`, if well formed.
    pub fn sdk_abi_version(&self) -> Option<(u32, u32)> {
        let (major, minor) = self.sdk_abi.split_once('.')?;
        Some((major.parse().ok()?, minor.parse().ok()?))
    }

    /// The index of the command named `name`.
    pub fn command_index(&self, name: &str) -> Option<u32> {
        self.commands
            .iter()
            .position(|c| c.name == name)
            .and_then(|i| u32::try_from(i).ok())
    }
}
