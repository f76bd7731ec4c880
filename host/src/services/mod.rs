//! The services the host offers each plugin through its `Context`, every one behind a
//! capability check on the instance's token.
//!
//! [`PluginServices::authorize`] is the one gate: the file helpers and environment variables
//! here call it, and so must every service added later — the event bus before a publish
//! ([`Access::Publish`]) or a subscription ([`Access::Subscribe`]), shared services before a
//! call or a registration ([`Access::CallService`], [`Access::ProvideService`]), plugin state
//! before KV or secrets ([`Access::Kv`], [`Access::Secrets`]). A denial is audited and comes
//! back as a coded error naming the capability, the plugin and a next step.

mod bus;
mod fs;
mod state;

pub(crate) use self::fs::GrantDirs;
pub(crate) use self::state::PluginState;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde_json::json;
use switchboard_sdk::abi::HostServices;
use switchboard_sdk::caps::Access;
use switchboard_sdk::state::{
    CasOutcome, CasRequest, CommitBatch, CommitOutcome, KvEntry, KvPage, Secret,
};
use switchboard_sdk::{Level, PluginError};

use crate::audit::{AuditEvent, AuditKind, AuditLog};
use crate::caps::{GrantTable, Token};
use crate::error::CapsError;

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

/// The default sink: `tracing` events, target `switchboard::plugin`, with the plugin's name
/// as a field. Emitted on the thread the plugin called from, so they belong to whatever span
/// is current there — the host's `plugin_call` or `plugin_event` span, inside the
/// application's own. Without a subscriber (or, through `tracing`'s `log` feature, a `log`
/// logger) they go nowhere: the host never prints.
pub(crate) fn log_facade() -> LogSink {
    Arc::new(|r: &LogRecord<'_>| {
        macro_rules! emit {
            ($level:expr) => {
                tracing::event!(target: "switchboard::plugin", $level, plugin = r.plugin, "{}", r.message)
            };
        }
        match r.level {
            Level::Error => emit!(tracing::Level::ERROR),
            Level::Warn => emit!(tracing::Level::WARN),
            Level::Info => emit!(tracing::Level::INFO),
            Level::Debug => emit!(tracing::Level::DEBUG),
            _ => emit!(tracing::Level::TRACE),
        }
    })
}

/// An instance's capability context: its token, the table it indexes, and where denials are
/// recorded.
#[derive(Clone)]
pub(crate) struct Gate {
    pub plugin: String,
    pub table: Arc<GrantTable>,
    pub token: Token,
    pub audit: AuditLog,
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("plugin", &self.plugin)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl Gate {
    /// Checks `access` against the instance's grants: lock-free when allowed; audited and
    /// explained when denied.
    #[inline]
    pub fn authorize(&self, access: &Access<'_>) -> Result<(), CapsError> {
        if self.table.check(self.token, access) {
            Ok(())
        } else {
            Err(self.denied(access))
        }
    }

    /// Requires only that the instance is running (its token current and not suspended):
    /// for what needs no grant, such as publishing in its own namespace. Denied and audited
    /// like [`authorize`](Gate::authorize) otherwise.
    #[inline]
    pub fn require_live(&self, access: &Access<'_>) -> Result<(), CapsError> {
        if self.table.is_live(self.token) {
            Ok(())
        } else {
            Err(self.denied(access))
        }
    }

    /// [`authorize`](Gate::authorize) through a suspension: the host's own check of what a
    /// stopped instance declares, before it starts it again.
    pub(crate) fn authorize_declared(&self, access: &Access<'_>) -> Result<(), CapsError> {
        if self.table.check_declared(self.token, access) {
            Ok(())
        } else {
            Err(self.denied(access))
        }
    }

    #[cold]
    fn denied(&self, access: &Access<'_>) -> CapsError {
        self.refuse(access, self.table.explain(self.token, access))
    }

    /// Denies `access` for `reason`, audited like every denial: for refusals the grant table
    /// cannot see, such as a path the kernel found leading out of its granted directory.
    #[cold]
    pub(crate) fn refuse(&self, access: &Access<'_>, reason: crate::caps::DenyReason) -> CapsError {
        let event = AuditEvent::new(
            AuditKind::Deny,
            &self.plugin,
            access.to_string(),
            json!({
                "code": reason.code().to_string(),
                "reason": reason.to_string(),
                "at": "runtime",
            }),
        );
        if let Err(e) = self.audit.append(&event) {
            tracing::error!(target: "switchboard::audit", "cannot record a denial for `{}`: {e}", self.plugin);
        }
        CapsError::Denied {
            plugin: self.plugin.clone(),
            access: access.to_string(),
            reason,
        }
    }
}

/// One plugin's view of the host.
pub(crate) struct PluginServices {
    pub name: String,
    pub log: LogSink,
    pub gate: Gate,
    /// The environment variables the host passes on (never the process environment).
    pub env: Arc<BTreeMap<String, String>>,
    /// The bus its events and service calls go through.
    pub bus: crate::bus::Bus,
    /// Its name as a publisher.
    pub publisher: Arc<str>,
    /// Its KV store, secrets and configuration.
    pub state: Arc<PluginState>,
    /// The granted directories its file helpers open paths beneath, each opened once.
    pub dirs: fs::GrantDirs,
    /// Where usage it reports outside any command call is counted (`None`: no metrics).
    pub metrics: Option<Arc<crate::metrics::PluginRecorder>>,
    /// The usage units its name has reported, bounded (shared by its versions).
    pub usage_units: Arc<crate::instance::UnitLimit>,
}

impl fmt::Debug for PluginServices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginServices")
            .field("name", &self.name)
            .field("gate", &self.gate)
            .finish_non_exhaustive()
    }
}

impl PluginServices {
    /// The gate every service passes through, as a plugin-facing error.
    pub(crate) fn authorize(&self, access: &Access<'_>) -> Result<(), PluginError> {
        self.gate.authorize(access).map_err(|e| e.to_plugin_error())
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

    fn check(&self, access: &Access<'_>) -> Result<(), PluginError> {
        self.authorize(access)
    }

    fn read_file(&self, path: &str) -> Result<Vec<u8>, PluginError> {
        fs::read(self, path)
    }

    fn write_file(&self, path: &str, data: &[u8]) -> Result<(), PluginError> {
        fs::write(self, path, data)
    }

    fn env_var(&self, name: &str) -> Result<Option<String>, PluginError> {
        self.authorize(&Access::Env(name))?;
        Ok(self.env.get(name).cloned())
    }

    fn publish(
        &self,
        topic: &str,
        headers: &[(&str, &str)],
        payload: &[u8],
    ) -> Result<u32, PluginError> {
        bus::publish(self, topic, headers, payload)
    }

    fn publish_batch(
        &self,
        batch: &switchboard_sdk::batch::EventBatch<'_>,
    ) -> Result<u32, PluginError> {
        bus::publish_batch(self, batch)
    }

    fn call_service(
        &self,
        call: &switchboard_sdk::abi::ServiceCall<'_>,
    ) -> Result<Vec<u8>, PluginError> {
        // A wrapper's `next` (issue 19) travels as a service call; the host answers it.
        if call.service == switchboard_sdk::extend::NEXT_SERVICE {
            return crate::extend::serve_next(&self.name, call);
        }
        bus::call_service(self, call)
    }

    // plugin state (issue 6)
    fn kv_get(&self, key: &str) -> Result<Option<KvEntry>, PluginError> {
        self.state_kv_get(key)
    }

    fn kv_put(&self, key: &str, value: &[u8]) -> Result<u64, PluginError> {
        self.state_kv_put(key, value)
    }

    fn kv_delete(&self, key: &str) -> Result<bool, PluginError> {
        self.state_kv_delete(key)
    }

    fn kv_list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<KvPage, PluginError> {
        self.state_kv_list(prefix, after, limit)
    }

    fn kv_cas(&self, request: &CasRequest) -> Result<CasOutcome, PluginError> {
        self.state_kv_cas(request)
    }

    fn kv_commit(&self, batch: &CommitBatch) -> Result<CommitOutcome, PluginError> {
        self.state_kv_commit(batch)
    }

    fn secret_get(&self, name: &str) -> Result<Option<Secret>, PluginError> {
        self.state_secret_get(name)
    }

    fn secret_put(&self, name: &str, value: &[u8]) -> Result<(), PluginError> {
        self.state_secret_put(name, value)
    }

    fn secret_delete(&self, name: &str) -> Result<bool, PluginError> {
        self.state_secret_delete(name)
    }

    fn config_json(&self) -> Result<String, PluginError> {
        self.state_config_json()
    }

    fn usage(&self, unit: &str, amount: u64) -> Result<(), PluginError> {
        self.usage_units.admit(&self.name, unit)?;
        crate::instance::report_usage(&self.publisher, unit, amount, self.metrics.as_ref());
        Ok(())
    }
}
