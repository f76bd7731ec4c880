//! The services the host offers each plugin through its `Context`. Logging now; KV, events,
//! services and configuration join with their issues, each behind a capability check.

use std::fmt;
use std::sync::Arc;

use switchboard_sdk::abi::HostServices;
use switchboard_sdk::Level;

/// A log line from a plugin.
#[derive(Debug, Clone, Copy)]
pub struct LogRecord<'a> {
    /// The plugin that sent it.
    pub plugin: &'a str,
    /// Its severity.
    pub level: Level,
    /// The text.
    pub message: &'a str,
}

/// Where plugin log lines go.
pub(crate) type LogSink = Arc<dyn Fn(&LogRecord<'_>) + Send + Sync>;

/// The default sink: the `log` facade, target `switchboard::plugin`. The host never prints.
pub(crate) fn log_facade() -> LogSink {
    Arc::new(|r: &LogRecord<'_>| {
        let level = match r.level {
            Level::Error => log::Level::Error,
            Level::Warn => log::Level::Warn,
            Level::Info => log::Level::Info,
            Level::Debug => log::Level::Debug,
            _ => log::Level::Trace,
        };
        log::log!(target: "switchboard::plugin", level, "[{}] {}", r.plugin, r.message);
    })
}

/// One plugin's view of the host.
pub(crate) struct PluginServices {
    pub name: String,
    pub log: LogSink,
}

impl fmt::Debug for PluginServices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginServices")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl HostServices for PluginServices {
    fn plugin_name(&self) -> String {
        self.name.clone()
    }

    fn log(&self, level: Level, message: &str) {
        (self.log)(&LogRecord {
            plugin: &self.name,
            level,
            message,
        });
    }
}
