//! `switchboard config PLUGIN`: a plugin's effective configuration in a host's data directory
//! and where each value came from (default, stored by a migration, file, profile, variable).
//!
//! The schema and defaults are those recorded when a host last loaded the plugin, or those of
//! the `plugin.toml` given with `--manifest`. Variables are the `SWITCHBOARD_<PLUGIN>_*` ones
//! the caller passes (the binary passes its own process environment).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde_json::json;
use switchboard_host::state::{resolve_config, ConfigInputs, EffectiveConfig};
use switchboard_host::{Error, StateError, Store};
use switchboard_sdk::manifest::{Format, Manifest};

use crate::output::{codes, CliError};

/// Resolves plugin `name`'s configuration in `data_dir`.
pub fn effective(
    data_dir: &Path,
    name: &str,
    manifest: Option<&Path>,
    environment: Option<&str>,
    vars: &BTreeMap<String, String>,
) -> anyhow::Result<EffectiveConfig> {
    let store = Store::open_existing(data_dir).map_err(Error::from)?;
    let spec = match manifest {
        Some(path) => {
            let invalid = |d: &[switchboard_host::Diagnostic]| {
                let first = d.first().map(|d| format!("{}: {}", d.field, d.message));
                CliError::raise(
                    codes::MANIFEST,
                    format!(
                        "{} is not a valid manifest: {}",
                        path.display(),
                        first.unwrap_or_default()
                    ),
                    "run `switchboard preflight` on it for every finding",
                )
            };
            let text = switchboard_sdk::manifest::read_file(path).map_err(|d| invalid(&[*d]))?;
            let m = Manifest::parse(&text, Format::for_path(path)).map_err(|d| invalid(&d))?;
            m.config.unwrap_or_default()
        }
        None => store
            .config_spec(name)
            .map_err(Error::from)?
            .ok_or_else(|| {
                Error::from(StateError::NoConfigSpec {
                    plugin: name.to_owned(),
                })
            })?,
    };
    let stored = store.stored_config(name).map_err(Error::from)?;
    let inputs = ConfigInputs {
        data_dir,
        environment,
        vars,
    };
    Ok(resolve_config(name, &spec, stored.as_ref(), &inputs).map_err(Error::from)?)
}

/// The JSON document `--json` prints.
pub fn to_json(name: &str, c: &EffectiveConfig) -> serde_json::Value {
    let sources: serde_json::Map<String, serde_json::Value> = c
        .sources()
        .iter()
        .map(|(k, s)| (k.clone(), json!(s.to_string())))
        .collect();
    json!({ "ok": true, "plugin": name, "config": c.value(), "sources": sources })
}

/// Writes one line per value: path, value, source.
pub fn write_text(name: &str, c: &EffectiveConfig, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "{name}")?;
    let entries = c.entries();
    if entries.is_empty() {
        writeln!(out, "  (no configuration)")?;
    }
    let width = entries.iter().map(|(p, _, _)| p.len()).max().unwrap_or(0);
    for (path, value, source) in entries {
        writeln!(out, "  {path:<width$}  {value}  ({source})")?;
    }
    Ok(())
}
