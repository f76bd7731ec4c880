//! `switchboard state show|transfer|wipe PLUGIN`: which identity owns a plugin's data (KV,
//! secrets, stored configuration, persistent grants), and the operator's two ways out of a
//! refused load (`SB0440`): hand the data to the new identity, or wipe it.

use std::path::Path;

use serde_json::{json, Value};
use switchboard_host::{Error, PluginIdentity, Store};

/// The owner of `plugin`'s data.
pub fn show(data_dir: &Path, plugin: &str) -> Result<Value, Error> {
    let store = Store::open_existing(data_dir)?;
    let owner = store.plugin_identity(plugin)?;
    Ok(json!({
        "ok": true,
        "plugin": plugin,
        "owner": owner.map(|o| o.to_string()),
    }))
}

/// Hands `plugin`'s data to the identity written `to`.
pub fn transfer(data_dir: &Path, plugin: &str, to: &str) -> Result<Value, Error> {
    let to: PluginIdentity = to.parse()?;
    let store = Store::open_existing(data_dir)?;
    let previous = store.transfer_state(plugin, &to)?;
    Ok(json!({
        "ok": true,
        "plugin": plugin,
        "from": previous.to_string(),
        "owner": to.to_string(),
    }))
}

/// Deletes `plugin`'s data and its recorded owner.
pub fn wipe(data_dir: &Path, plugin: &str) -> Result<Value, Error> {
    let store = Store::open_existing(data_dir)?;
    let report = store.wipe_state(plugin)?;
    Ok(json!({ "ok": true, "plugin": plugin, "wiped": report }))
}

/// The document as a line for people.
pub fn text(doc: &Value) -> String {
    let plugin = doc["plugin"].as_str().unwrap_or("");
    if let Some(w) = doc.get("wiped") {
        format!(
            "wiped `{plugin}`: {} KV entries, {} secrets, {} stored grants (owner was {})",
            w["kv_entries"],
            w["secrets"],
            w["grants"],
            w["owner"].as_str().unwrap_or("none")
        )
    } else if let Some(from) = doc.get("from") {
        format!(
            "`{plugin}`'s data now belongs to {} (was {})",
            doc["owner"].as_str().unwrap_or(""),
            from.as_str().unwrap_or("")
        )
    } else {
        match doc["owner"].as_str() {
            Some(o) => format!("`{plugin}`'s data belongs to {o}"),
            None => format!("no owner is recorded for `{plugin}`: its next load becomes the owner"),
        }
    }
}
