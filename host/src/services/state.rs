//! Plugin state as a host service: each entry point passes the instance's gate first
//! (`kv`, `secrets` or `config.read`), then forwards to [`crate::state`] with the instance's own namespace —
//! the plugin never names it.

use std::fmt;

use switchboard_sdk::caps::Access;
use switchboard_sdk::state::{
    CasOutcome, CasRequest, CommitBatch, CommitOutcome, KvEntry, KvPage, Secret,
};
use switchboard_sdk::PluginError;

use super::PluginServices;
use crate::error::StateError;
use crate::state::{Kv, Secrets};

/// One instance's state: its KV store (with its quota), its secrets and its effective
/// configuration, resolved when it loaded.
pub(crate) struct PluginState {
    pub kv: Kv,
    pub secrets: Secrets,
    /// The effective configuration as JSON text; replaced if a data migration changes it.
    pub config_json: parking_lot::RwLock<String>,
}

impl fmt::Debug for PluginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginState")
            .field("kv", &self.kv)
            .finish_non_exhaustive()
    }
}

fn plugin_err(e: StateError) -> PluginError {
    e.to_plugin_error()
}

impl PluginServices {
    fn kv(&self) -> Result<&Kv, PluginError> {
        self.authorize(&Access::Kv)?;
        Ok(&self.state.kv)
    }

    fn secret_store(&self) -> Result<&Secrets, PluginError> {
        self.authorize(&Access::Secrets)?;
        Ok(&self.state.secrets)
    }

    pub(super) fn state_kv_get(&self, key: &str) -> Result<Option<KvEntry>, PluginError> {
        self.kv()?.entry(key).map_err(plugin_err)
    }

    pub(super) fn state_kv_put(&self, key: &str, value: &[u8]) -> Result<u64, PluginError> {
        self.kv()?.put(key, value).map_err(plugin_err)
    }

    pub(super) fn state_kv_delete(&self, key: &str) -> Result<bool, PluginError> {
        self.kv()?.delete(key).map_err(plugin_err)
    }

    pub(super) fn state_kv_list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<KvPage, PluginError> {
        self.kv()?
            .list_page(prefix, after, limit)
            .map_err(plugin_err)
    }

    pub(super) fn state_kv_cas(&self, r: &CasRequest) -> Result<CasOutcome, PluginError> {
        self.kv()?
            .cas(&r.key, &r.expected, r.new.as_deref())
            .map_err(plugin_err)
    }

    pub(super) fn state_kv_commit(&self, b: &CommitBatch) -> Result<CommitOutcome, PluginError> {
        self.kv()?.commit(b).map_err(plugin_err)
    }

    pub(super) fn state_secret_get(&self, name: &str) -> Result<Option<Secret>, PluginError> {
        self.secret_store()?.get(name).map_err(plugin_err)
    }

    pub(super) fn state_secret_put(&self, name: &str, value: &[u8]) -> Result<(), PluginError> {
        self.secret_store()?.put(name, value).map_err(plugin_err)
    }

    pub(super) fn state_secret_delete(&self, name: &str) -> Result<bool, PluginError> {
        self.secret_store()?.delete(name).map_err(plugin_err)
    }

    pub(super) fn state_config_json(&self) -> Result<String, PluginError> {
        self.authorize(&Access::ReadConfig)?;
        Ok(self.state.config_json.read().clone())
    }
}
