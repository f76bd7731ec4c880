//! The contract a plugin type fulfils.

use crate::context::Context;
use crate::error::PluginError;
use crate::Output;

/// A Switchboard plugin.
///
/// One method is required, [`create`](Plugin::create); every lifecycle hook has a default.
/// Commands are ordinary methods marked `#[command]` in an `impl` block marked `#[plugin]`.
///
/// # Lifecycle
///
/// The host drives each instance through these states, and calls the hooks on the way:
///
/// 1. **loaded** — the library was verified and mapped; [`create`](Plugin::create) built the
///    value.
/// 2. **starting** → [`start`](Plugin::start) runs; an error or panic leaves the instance
///    **failed**.
/// 3. **active** — commands and events are delivered, possibly from several threads at once.
/// 4. **stopping** → [`stop`](Plugin::stop) runs; new calls are refused while it does.
/// 5. **stopped** (or **failed** if `stop` errs or panics).
///
/// [`snapshot`](Plugin::snapshot) and [`restore`](Plugin::restore) hand state from an old version
/// to a new one during a hot reload; [`health`](Plugin::health) answers health checks.
///
/// Every method takes `&self`: the host never holds a lock around plugin code, so keep mutable
/// state in atomics or a `Mutex` (or the host's KV store).
///
/// # Example
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use switchboard_sdk::prelude::*;
///
/// #[derive(Default)]
/// pub struct Counter {
///     count: AtomicU64,
/// }
///
/// impl Plugin for Counter {
///     fn create(_ctx: &Context) -> Result<Self, PluginError> {
///         Ok(Counter::default())
///     }
///
///     fn start(&self, ctx: &Context) -> Result<(), PluginError> {
///         ctx.info("counter ready");
///         Ok(())
///     }
/// }
///
/// #[plugin]
/// impl Counter {
///     /// Adds `by` and returns the new total.
///     #[command]
///     fn add(&self, by: u64) -> u64 {
///         self.count.fetch_add(by, Ordering::Relaxed) + by
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `switchboard_sdk::Plugin`",
    label = "`#[plugin]` needs this type to implement `Plugin`",
    note = "add `impl Plugin for {Self} {{ fn create(ctx: &Context) -> Result<Self, PluginError> {{ … }} }}`"
)]
pub trait Plugin: Send + Sync + Sized + 'static {
    /// Builds the plugin. Runs once per instance, right after the library is loaded.
    fn create(ctx: &Context) -> Result<Self, PluginError>;

    /// Prepares the plugin to serve calls. Default: nothing.
    fn start(&self, ctx: &Context) -> Result<(), PluginError> {
        let _ = ctx;
        Ok(())
    }

    /// Releases what `start` acquired. Default: nothing.
    fn stop(&self, ctx: &Context) -> Result<(), PluginError> {
        let _ = ctx;
        Ok(())
    }

    /// Reports the plugin's health. Default: healthy.
    fn health(&self, ctx: &Context) -> Health {
        let _ = ctx;
        Health::Healthy
    }

    /// The state to hand to the next version during a hot reload. Default: none.
    fn snapshot(&self, ctx: &Context) -> Result<Vec<u8>, PluginError> {
        let _ = ctx;
        Ok(Vec::new())
    }

    /// Takes over the state a previous version's [`snapshot`](Plugin::snapshot) produced.
    /// Default: ignores it.
    fn restore(&self, ctx: &Context, state: &[u8]) -> Result<(), PluginError> {
        let _ = (ctx, state);
        Ok(())
    }
}

/// A plugin's own view of its health.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Health {
    /// Working normally.
    Healthy,
    /// Working, with a problem worth a look.
    Degraded(String),
    /// Not able to serve.
    Unhealthy(String),
}

/// What `#[plugin]` implements: the embedded manifest and the dispatch table.
#[doc(hidden)]
pub trait PluginEntry: Plugin {
    /// The manifest JSON, the same bytes as the library's manifest section.
    const MANIFEST: &'static [u8];

    /// One entry per command, in command order (SDK ABI 1.6): `#[plugin]` lists
    /// `CommandEntryOf::<Self>::typed::<i>()` (or `plain`) for each, so the host calls a
    /// command's own function. Default: none, and every call goes through the shared entry's
    /// `match`.
    const COMMAND_ENTRIES: &'static [crate::abi::CommandEntryOf<Self>] = &[];

    /// Runs command number `method`. The request is in one buffer, or gathered from runs of
    /// the host's bytes (SDK ABI 1.5, [`Input`](crate::abi::gather::Input)).
    fn dispatch(
        &self,
        ctx: &Context,
        method: u32,
        request: crate::abi::gather::Input<'_>,
        out: &mut Output<'_>,
    ) -> Result<(), PluginError>;

    /// Runs streaming command number `method`, its chunks to `sink`. Default: the plugin has
    /// no streaming command.
    fn dispatch_stream(
        &self,
        ctx: &Context,
        method: u32,
        request: &[u8],
        sink: &mut dyn crate::stream::RawSink,
        out: &mut Output<'_>,
    ) -> Result<(), PluginError> {
        let _ = (ctx, request, sink, out);
        Err(PluginError::with_code(
            crate::codes::CALL_STYLE_PLAIN,
            format!("command {method} does not stream"),
        )
        .next_step("call it as a plain command"))
    }

    /// Delivers an event. Default: the plugin subscribes to nothing.
    fn on_event(&self, ctx: &Context, topic: &str, envelope: &[u8]) -> Result<(), PluginError> {
        let _ = (ctx, envelope);
        Err(PluginError::with_code(
            crate::codes::UNKNOWN_TOPIC,
            format!("this plugin has no handler for topic `{topic}`"),
        ))
    }
}
