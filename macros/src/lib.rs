//! Procedural macros for Switchboard plugins. Use them through `switchboard-sdk`, which
//! re-exports them: `#[plugin]`, `#[command]`, `#[hook]`, `#[subscribe]`, `#[migration]` and
//! `#[derive(Message)]`.
//!
//! Each macro parses, validates, then expands (STYLE 7): all problems are reported at once, on
//! the offending span, with what to write instead, and a best-effort expansion is still emitted
//! so one mistake gives one message.

#![forbid(unsafe_code)]
// Input from users, files and plugins becomes a typed error, never a panic: library code
// outside tests has no unwrap() or expect() (tests keep them, as assertions).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod capability;
mod errors;
mod message;
mod plugin;
mod suggest;

use proc_macro::TokenStream;

/// Turns an inherent `impl` block into a Switchboard plugin.
///
/// The type must also implement `switchboard_sdk::Plugin`. Methods marked `#[command]` become
/// the plugin's commands, in declaration order. Arguments:
///
/// - `capabilities = ["kv", "fs.read:/data/**"]` — what the plugin requests from its host.
/// - `services = ["text.tools"]` — shared services it provides; each offers the plugin's
///   commands as its methods (needs `service.provide:NAME`).
///
/// Methods marked `#[hook("point", kind)]` contribute to the host's extension points (each is
/// served as a command of its own); methods marked `#[subscribe("pattern")]` become event
/// handlers; methods marked `#[migration(from = "0.1", to = "0.2")]` become data migrations the
/// host runs on update.
///
/// The macro generates the exported root module, the dispatch table, and the manifest embedded
/// in the library's `switchboard_manifest` section.
#[proc_macro_attribute]
pub fn plugin(attr: TokenStream, item: TokenStream) -> TokenStream {
    plugin::expand(attr.into(), item.into()).into()
}

/// Marks a method of a `#[plugin]` impl block as a command. `#[command(name = "x")]` renames it.
///
/// A command whose last argument is `out: &mut Sink<'_, Chunk>` *streams*: it sends chunks with
/// `out.send(chunk)?` as it produces them, and its return value is the summary delivered after
/// the last one; the manifest records the chunk's contract, and hosts call it with
/// `stream_command` (SPEC S1.6).
///
/// Used anywhere else, it is an error that says where it belongs.
#[proc_macro_attribute]
pub fn command(_attr: TokenStream, item: TokenStream) -> TokenStream {
    let item: proc_macro2::TokenStream = item.into();
    let err = syn::Error::new(
        proc_macro2::Span::call_site(),
        "`#[command]` only works on methods inside an `impl` block marked `#[plugin]`; \
         add `#[plugin]` above that `impl` block",
    );
    let mut out = err.to_compile_error();
    out.extend(item);
    out.into()
}

/// Marks a method of a `#[plugin]` impl block as an event handler:
/// `#[subscribe("plugin.notes.*")] fn on_note(&self, ctx: &Context, event: &Event<'_>)`.
///
/// The pattern uses `*` for one segment and `>` (last) for the rest. The host subscribes the
/// plugin when it starts, if its grants cover the pattern (`events.subscribe:…`).
///
/// The handler's queue holds 1024 events and drops the oldest when full, so the plugin never
/// makes a publisher wait. Options after the pattern ask for other delivery, which the host
/// grants within its `[delivery]` policy (or refuses the start): `queue = N` (events),
/// `overflow = "drop_oldest" | "drop_newest" | "block"`, and with `block`, `block_ms = N` —
/// `#[subscribe("host.>", queue = 4096, overflow = "drop_newest")]`.
///
/// Decode with `event.decode::<M>()?`: its error (`codes::BAD_EVENT`) is counted against the
/// event's publisher, not against the handler's breaker.
///
/// Used anywhere else, it is an error that says where it belongs.
#[proc_macro_attribute]
pub fn subscribe(_attr: TokenStream, item: TokenStream) -> TokenStream {
    let item: proc_macro2::TokenStream = item.into();
    let err = syn::Error::new(
        proc_macro2::Span::call_site(),
        "`#[subscribe]` only works on methods inside an `impl` block marked `#[plugin]`; \
         add `#[plugin]` above that `impl` block",
    );
    let mut out = err.to_compile_error();
    out.extend(item);
    out.into()
}

/// Marks a method of a `#[plugin]` impl block as a contribution to one of the host's
/// extension points (SPEC S5.4):
/// `#[hook("workflow.phase.build", filter, priority = 10)] fn stamp(&self, doc: Doc) -> Doc`.
///
/// The first argument names the point, as the host declares it; the second is the kind of
/// contribution — `collect`, `first`, `filter`, `replace`, `before`, `after`, `register` or
/// `wrap` (the point's kind decides which it accepts). Options: `priority = N` (higher runs earlier;
/// ties go by plugin name), `before = ["plugin"]` and `after = ["plugin"]` (order against
/// other plugins' contributions), `name = "command"` (the command serving it; the method's
/// name by default).
///
/// The method has a command's signature and is served as a command of that name; a `wrap`
/// hook takes one more, last argument, `next: switchboard_sdk::extend::Next<In, Out>`, the
/// rest of the operation (`fn time(&self, job: String, next: Next<String, String>) ->
/// Result<String, PluginError>`). The macro
/// records the hook in the embedded manifest, so the host refuses a contribution to a point it
/// does not declare, of a kind the point does not take, with other contracts than the
/// point's, or without the `extend:POINT` capability — before any plugin code runs.
///
/// Used anywhere else, it is an error that says where it belongs.
#[proc_macro_attribute]
pub fn hook(_attr: TokenStream, item: TokenStream) -> TokenStream {
    let item: proc_macro2::TokenStream = item.into();
    let err = syn::Error::new(
        proc_macro2::Span::call_site(),
        "`#[hook]` only works on methods inside an `impl` block marked `#[plugin]`; \
         add `#[plugin]` above that `impl` block",
    );
    let mut out = err.to_compile_error();
    out.extend(item);
    out.into()
}

/// Marks a method of a `#[plugin]` impl block as a data migration the host runs when it
/// updates the plugin: `#[migration(from = "0.1", to = "0.2")] fn up(&self, data: &mut
/// MigrationData) -> Result<(), PluginError>`.
///
/// Used anywhere else, it is an error that says where it belongs.
#[proc_macro_attribute]
pub fn migration(_attr: TokenStream, item: TokenStream) -> TokenStream {
    let item: proc_macro2::TokenStream = item.into();
    let err = syn::Error::new(
        proc_macro2::Span::call_site(),
        "`#[migration]` only works on methods inside an `impl` block marked `#[plugin]`; \
         add `#[plugin]` above that `impl` block",
    );
    let mut out = err.to_compile_error();
    out.extend(item);
    out.into()
}

/// Derives `switchboard_sdk::Message` for a serde type, giving it a contract id.
///
/// `#[message(version = N)]` sets the contract version (default 1); bump it when the type
/// changes incompatibly.
#[proc_macro_derive(Message, attributes(message))]
pub fn derive_message(item: TokenStream) -> TokenStream {
    message::expand(item.into()).into()
}
