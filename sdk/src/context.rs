//! The plugin's handle on its host.

use std::fmt;
use std::sync::Arc;

/// The severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
#[repr(u8)]
pub enum Level {
    /// Something failed.
    Error = 1,
    /// Something looks wrong.
    Warn = 2,
    /// Normal operation.
    Info = 3,
    /// Detail for developers.
    Debug = 4,
    /// Very fine detail.
    Trace = 5,
}

impl Level {
    /// The level for its wire number, if valid.
    pub fn from_u8(n: u8) -> Option<Level> {
        Some(match n {
            1 => Level::Error,
            2 => Level::Warn,
            3 => Level::Info,
            4 => Level::Debug,
            5 => Level::Trace,
            _ => return None,
        })
    }

    /// The level's lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What stands behind a [`Context`]: the host across the ABI, or a mock in tests.
pub(crate) trait ContextBackend: Send + Sync {
    fn plugin_name(&self) -> String;
    fn log(&self, level: Level, message: &str);
}

/// The plugin's handle on its host: logging now, and the host services (KV, events, services,
/// configuration) as the host grants them.
///
/// A `Context` is cheap to clone and may be kept and used from any thread.
///
/// # Example
///
/// ```
/// use switchboard_sdk::prelude::*;
///
/// fn greet(ctx: &Context, name: &str) -> String {
///     ctx.info(&format!("greeting {name}"));
///     format!("Hello, {name}!")
/// }
/// # #[cfg(feature = "testing")]
/// # {
/// let host = switchboard_sdk::testing::MockHost::new("hello");
/// assert_eq!(greet(&host.context(), "Ada"), "Hello, Ada!");
/// assert_eq!(host.logs()[0].1, "greeting Ada");
/// # }
/// ```
#[derive(Clone)]
pub struct Context {
    backend: Arc<dyn ContextBackend>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("plugin", &self.plugin_name())
            .finish()
    }
}

impl Context {
    pub(crate) fn from_backend(backend: Arc<dyn ContextBackend>) -> Self {
        Context { backend }
    }

    /// The name this plugin was loaded under.
    pub fn plugin_name(&self) -> String {
        self.backend.plugin_name()
    }

    /// Sends a log line to the host, which routes it (plugins never print).
    pub fn log(&self, level: Level, message: &str) {
        self.backend.log(level, message);
    }

    /// Logs at [`Level::Error`].
    pub fn error(&self, message: &str) {
        self.log(Level::Error, message);
    }

    /// Logs at [`Level::Warn`].
    pub fn warn(&self, message: &str) {
        self.log(Level::Warn, message);
    }

    /// Logs at [`Level::Info`].
    pub fn info(&self, message: &str) {
        self.log(Level::Info, message);
    }

    /// Logs at [`Level::Debug`].
    pub fn debug(&self, message: &str) {
        self.log(Level::Debug, message);
    }
}
