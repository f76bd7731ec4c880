//! Plugin configuration: the manifest's defaults, overridden in order by configuration stored
//! by data migrations, the file `<data dir>/config/<plugin>.toml`, the profile section of
//! that file the host chose (`[profile.production]`), and variables
//! `SWITCHBOARD_<PLUGIN>_<KEY>` the host passes in — then validated against the manifest's
//! schema, every problem with its field path.
//!
//! Objects merge key by key; any other value replaces what was there. A variable's key uses
//! `__` between levels (`SWITCHBOARD_COUNTER_DB__PORT` sets `db.port`); its value is the text
//! itself for a string key (the schema allows a string, or, untyped, the value it replaces is
//! one), and JSON otherwise (text that is not JSON stays a string). The table
//! `profile` at the top of the file is reserved for profiles. The library reads no
//! environment: hosts hand variables to [`HostBuilder::config_vars`](crate::HostBuilder::config_vars).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use switchboard_sdk::manifest::{validate_config, ConfigSpec};

use crate::error::StateError;

/// The directory of configuration files inside the data directory.
pub const CONFIG_DIR: &str = "config";

/// Where an effective configuration value came from, lowest precedence first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigSource {
    /// The manifest's `[config] defaults`.
    Default,
    /// Written by a data migration.
    Stored,
    /// The configuration file.
    File,
    /// The file's profile section for this environment.
    Profile(String),
    /// A `SWITCHBOARD_<PLUGIN>_<KEY>` variable.
    Variable(String),
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::Default => f.write_str("default"),
            ConfigSource::Stored => f.write_str("stored"),
            ConfigSource::File => f.write_str("file"),
            ConfigSource::Profile(p) => write!(f, "profile {p}"),
            ConfigSource::Variable(v) => write!(f, "variable {v}"),
        }
    }
}

/// What the host passes in for resolving configuration.
#[derive(Debug, Clone, Copy)]
pub struct ConfigInputs<'a> {
    /// The data directory (`config/<plugin>.toml` is read from it).
    pub data_dir: &'a Path,
    /// The profile to apply, if any (`production` applies `[profile.production]`).
    pub environment: Option<&'a str>,
    /// Variables; only `SWITCHBOARD_<PLUGIN>_*` ones are read.
    pub vars: &'a BTreeMap<String, String>,
}

/// A plugin's effective configuration and where each value came from.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveConfig {
    value: Value,
    sources: BTreeMap<String, ConfigSource>,
}

impl EffectiveConfig {
    /// The merged, validated configuration (a JSON object).
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// Every leaf value's dotted path (`db.port`) and its source.
    pub fn sources(&self) -> &BTreeMap<String, ConfigSource> {
        &self.sources
    }

    /// Each leaf: path, value and source, in path order.
    pub fn entries(&self) -> Vec<(String, Value, ConfigSource)> {
        self.sources
            .iter()
            .map(|(path, source)| {
                let v = path
                    .split('.')
                    .try_fold(&self.value, |v, k| v.get(k))
                    .cloned()
                    .unwrap_or(Value::Null);
                (path.clone(), v, source.clone())
            })
            .collect()
    }
}

/// The configuration file of `plugin`. `plugin` must be a valid plugin name
/// ([`valid_name`](switchboard_sdk::manifest::valid_name)); [`resolve_config`] refuses others
/// before building this path.
pub fn config_file(data_dir: &Path, plugin: &str) -> PathBuf {
    data_dir.join(CONFIG_DIR).join(format!("{plugin}.toml"))
}

fn record_leaves(
    v: &Value,
    path: &str,
    source: &ConfigSource,
    out: &mut BTreeMap<String, ConfigSource>,
) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                record_leaves(v, &join(path, k), source, out);
            }
        }
        _ => {
            out.insert(path.to_owned(), source.clone());
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn forget_below(path: &str, out: &mut BTreeMap<String, ConfigSource>) {
    let prefix = format!("{path}.");
    out.retain(|k, _| k != path && !k.starts_with(&prefix));
}

fn merge(
    target: &mut Map<String, Value>,
    layer: &Map<String, Value>,
    path: &str,
    source: &ConfigSource,
    sources: &mut BTreeMap<String, ConfigSource>,
) {
    for (k, v) in layer {
        let here = join(path, k);
        match (target.get_mut(k), v) {
            (Some(Value::Object(t)), Value::Object(l)) => merge(t, l, &here, source, sources),
            _ => {
                forget_below(&here, sources);
                record_leaves(v, &here, source, sources);
                target.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The largest configuration file read (a real one is a few KiB).
const MAX_CONFIG_FILE_BYTES: u64 = 1 << 20;

fn toml_to_json(path: &Path, text: &str) -> Result<Map<String, Value>, StateError> {
    let fail = |reason: String| StateError::ConfigFile {
        path: path.to_owned(),
        reason,
    };
    let table: toml::Table =
        toml::from_str(text).map_err(|e| fail(e.message().trim().to_owned()))?;
    match serde_json::to_value(table).map_err(|e| fail(e.to_string()))? {
        Value::Object(m) => Ok(m),
        _ => Err(fail("the file is not a table".into())),
    }
}

/// The plugin's part of a variable name: upper case, `-` as `_`.
fn var_prefix(plugin: &str) -> String {
    format!("SWITCHBOARD_{}_", normalize(plugin))
}

fn normalize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

/// The schema of the property `key` of an object schema.
fn property<'a>(schema: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    schema?.get("properties")?.get(key)
}

/// Whether a variable's text is the value itself rather than JSON: the key's schema allows a
/// string (`type` is `string`, or every `enum`/`const` value is one), or, with no type in the
/// schema, the value it replaces is a string. `SWITCHBOARD_APP_VERSION=1.2` then stays `"1.2"`,
/// not the number. When `type` lists `string` beside other types (`["integer", "string"]`),
/// text that parses as JSON of one of the other types is that value (`42`, `null`), and any
/// other text is the string.
fn wants_string(schema: Option<&Value>, current: Option<&Value>, raw: &str) -> bool {
    let schema = schema.and_then(Value::as_object);
    let by_type = schema.and_then(|s| s.get("type")).map(|t| match t {
        Value::String(t) => t == "string",
        Value::Array(ts) if ts.iter().any(|t| t == "string") => {
            match serde_json::from_str::<Value>(raw) {
                Ok(v) => !ts
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|t| t != "string" && json_type_is(&v, t)),
                Err(_) => true,
            }
        }
        _ => false,
    });
    let by_values = schema.and_then(|s| match (s.get("enum"), s.get("const")) {
        (Some(Value::Array(vs)), _) => Some(!vs.is_empty() && vs.iter().all(Value::is_string)),
        (_, Some(c)) => Some(c.is_string()),
        _ => None,
    });
    by_type
        .or(by_values)
        .unwrap_or_else(|| current.is_some_and(Value::is_string))
}

/// Whether `v` is of the JSON Schema type `t`.
fn json_type_is(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        _ => false,
    }
}

/// Applies one variable: finds the key at each level (matching known keys without regard to
/// case and `-`/`_`), then sets the value.
fn apply_var(
    root: &mut Map<String, Value>,
    schema: Option<&Value>,
    (name, raw): (&str, &str),
    rest: &str,
    sources: &mut BTreeMap<String, ConfigSource>,
) -> Result<(), StateError> {
    let segments: Vec<&str> = rest.split("__").collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(StateError::ConfigVariable {
            name: name.to_owned(),
            reason: "the key has an empty part".into(),
        });
    }
    let mut target = root;
    let mut schema = schema;
    let mut path = String::new();
    let last = segments.len() - 1;
    for (i, seg) in segments.iter().enumerate() {
        let from_schema = schema
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
            .and_then(|p| p.keys().find(|k| normalize(k) == *seg).cloned());
        let key = target
            .keys()
            .find(|k| normalize(k) == *seg)
            .cloned()
            .or(from_schema)
            .unwrap_or_else(|| seg.to_ascii_lowercase());
        schema = property(schema, &key);
        path = join(&path, &key);
        if i == last {
            let value = if wants_string(schema, target.get(&key), raw) {
                Value::String(raw.to_owned())
            } else {
                serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
            };
            forget_below(&path, sources);
            record_leaves(
                &value,
                &path,
                &ConfigSource::Variable(name.to_owned()),
                sources,
            );
            target.insert(key, value);
            return Ok(());
        }
        let slot = target
            .entry(key)
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
            forget_below(&path, sources);
        }
        match slot {
            Value::Object(next) => target = next,
            _ => return Ok(()),
        }
    }
    Ok(())
}

/// Resolves the effective configuration of `plugin`: defaults < `stored` < file < profile <
/// variables, then validation against the schema (`SB0722` lists every problem with its path).
///
/// # Example
///
/// ```
/// use std::collections::BTreeMap;
/// use serde_json::json;
/// use switchboard_host::state::{resolve_config, ConfigInputs, ConfigSource};
/// use switchboard_host::state::ConfigSpec;
///
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::create_dir(dir.path().join("config")).unwrap();
/// std::fs::write(
///     dir.path().join("config/weather.toml"),
///     "units = \"imperial\"\n[profile.production]\nretries = 5\n",
/// ).unwrap();
/// let spec = ConfigSpec {
///     schema: Some(json!({ "type": "object", "properties": { "retries": { "type": "integer" } } })),
///     defaults: json!({ "units": "metric", "retries": 1, "debug": false })
///         .as_object().unwrap().clone(),
/// };
/// let vars = BTreeMap::from([("SWITCHBOARD_WEATHER_DEBUG".to_string(), "true".to_string())]);
/// let inputs = ConfigInputs { data_dir: dir.path(), environment: Some("production"), vars: &vars };
/// let c = resolve_config("weather", &spec, None, &inputs).unwrap();
/// assert_eq!(c.value(), &json!({ "units": "imperial", "retries": 5, "debug": true }));
/// assert_eq!(c.sources()["units"], ConfigSource::File);
/// assert_eq!(c.sources()["retries"].to_string(), "profile production");
/// ```
pub fn resolve_config(
    plugin: &str,
    spec: &ConfigSpec,
    stored: Option<&Value>,
    inputs: &ConfigInputs<'_>,
) -> Result<EffectiveConfig, StateError> {
    let mut value = Map::new();
    let mut sources = BTreeMap::new();
    merge(
        &mut value,
        &spec.defaults,
        "",
        &ConfigSource::Default,
        &mut sources,
    );
    if let Some(Value::Object(stored)) = stored {
        merge(&mut value, stored, "", &ConfigSource::Stored, &mut sources);
    }
    // The name becomes part of a path: a name outside the manifest's rules (`../x`) never
    // reaches the file system.
    if !switchboard_sdk::manifest::valid_name(plugin) {
        return Err(StateError::ConfigFile {
            path: inputs.data_dir.join(CONFIG_DIR),
            reason: format!(
                "{:?} is not a valid plugin name, so no configuration file is read for it",
                plugin.chars().take(80).collect::<String>()
            ),
        });
    }
    let path = config_file(inputs.data_dir, plugin);
    // Bounded, regular files only: a huge file is not read into memory, a FIFO not waited on.
    let read = crate::loader::read_bounded(&path, MAX_CONFIG_FILE_BYTES).and_then(|bytes| {
        let bytes = bytes.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("it is larger than {MAX_CONFIG_FILE_BYTES} bytes"),
            )
        })?;
        String::from_utf8(bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    });
    match read {
        Ok(text) => {
            let mut file = toml_to_json(&path, &text)?;
            let profiles = file.remove("profile");
            merge(&mut value, &file, "", &ConfigSource::File, &mut sources);
            if let Some(env) = inputs.environment {
                if let Some(Value::Object(p)) = profiles.as_ref().and_then(|p| p.get(env)) {
                    let source = ConfigSource::Profile(env.to_owned());
                    merge(&mut value, p, "", &source, &mut sources);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(StateError::ConfigFile {
                path,
                reason: e.to_string(),
            })
        }
    }
    let prefix = var_prefix(plugin);
    for (name, raw) in inputs.vars {
        if let Some(rest) = name.strip_prefix(&prefix) {
            apply_var(
                &mut value,
                spec.schema.as_ref(),
                (name, raw),
                rest,
                &mut sources,
            )?;
        }
    }
    let value = Value::Object(value);
    if let Some(schema) = &spec.schema {
        let problems = validate_config(&value, schema, "config");
        if !problems.is_empty() {
            return Err(StateError::ConfigInvalid {
                plugin: plugin.to_owned(),
                problems,
            });
        }
    }
    Ok(EffectiveConfig { value, sources })
}

impl crate::store::Store {
    /// Records the configuration schema and defaults `plugin` declared (done by the host when
    /// it loads a plugin whose manifest it has), for `switchboard config` and
    /// [`Host::config`](crate::Host::config).
    pub fn record_config_spec(
        &self,
        plugin: &str,
        version: &str,
        spec: &ConfigSpec,
    ) -> Result<(), StateError> {
        let text = serde_json::to_string(spec).map_err(|e| StateError::Sqlite {
            reason: e.to_string(),
        })?;
        self.lock().execute(
            "INSERT INTO config_specs (plugin, version, spec) VALUES (?1, ?2, ?3)
             ON CONFLICT (plugin) DO UPDATE SET version = ?2, spec = ?3",
            rusqlite::params![switchboard_sdk::manifest::name_key(plugin), version, text],
        )?;
        Ok(())
    }

    /// The configuration schema and defaults last recorded for `plugin`.
    pub fn config_spec(&self, plugin: &str) -> Result<Option<ConfigSpec>, StateError> {
        use rusqlite::OptionalExtension;
        let text: Option<String> = self
            .lock()
            .query_row(
                "SELECT spec FROM config_specs WHERE plugin = ?1",
                [switchboard_sdk::manifest::name_key(plugin)],
                |r| r.get(0),
            )
            .optional()?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|_| StateError::Corrupt {
                plugin: plugin.to_owned(),
                what: "configuration schema",
                key: "config_specs".into(),
                backup: super::kv::newest_backup(self),
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn resolve(spec: &ConfigSpec, vars: &[(&str, &str)]) -> Result<Value, StateError> {
        let dir = tempfile::tempdir().unwrap();
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let inputs = ConfigInputs {
            data_dir: dir.path(),
            environment: None,
            vars: &vars,
        };
        resolve_config("weather", spec, None, &inputs).map(|c| c.value().clone())
    }

    fn spec(schema: Option<Value>, defaults: Value) -> ConfigSpec {
        ConfigSpec {
            schema,
            defaults: defaults.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn a_plain_string_for_a_string_key_stays_text_even_when_it_looks_like_json() {
        let spec = spec(
            Some(json!({ "type": "object", "properties": {
                "label": { "type": ["string", "null"] },
                "limit": { "type": ["integer", "string"] },
                "tag": { "type": ["integer", "string"] },
                "mode": { "enum": ["1", "2"] },
                "units": { "type": "string" },
                "retries": { "type": "integer" },
            }})),
            json!({ "units": "metric", "name": "station", "retries": 1 }),
        );
        let got = resolve(
            &spec,
            &[
                ("SWITCHBOARD_WEATHER_UNITS", "42"),
                ("SWITCHBOARD_WEATHER_LABEL", "true"),
                // Beside other types, JSON of one of them is that value; other text a string.
                ("SWITCHBOARD_WEATHER_LIMIT", "42"),
                ("SWITCHBOARD_WEATHER_TAG", "4.5"),
                ("SWITCHBOARD_WEATHER_MODE", "2"),
                // No schema for `name`, but its default is a string.
                ("SWITCHBOARD_WEATHER_NAME", "null"),
                ("SWITCHBOARD_WEATHER_RETRIES", "3"),
                // Nothing known about `note`: JSON if it parses, else text.
                ("SWITCHBOARD_WEATHER_NOTE", "hello world"),
            ],
        )
        .unwrap();
        assert_eq!(
            got,
            json!({
                "units": "42", "label": "true", "mode": "2", "name": "null",
                "retries": 3, "note": "hello world", "limit": 42, "tag": "4.5",
            })
        );
    }

    #[test]
    fn json_values_set_other_keys() {
        let spec = spec(None, json!({ "db": { "port": 1 }, "debug": false }));
        let got = resolve(
            &spec,
            &[
                ("SWITCHBOARD_WEATHER_DB__PORT", "5432"),
                ("SWITCHBOARD_WEATHER_DEBUG", "true"),
                ("SWITCHBOARD_WEATHER_TAGS", "[\"a\",\"b\"]"),
            ],
        )
        .unwrap();
        assert_eq!(
            got,
            json!({ "db": { "port": 5432 }, "debug": true, "tags": ["a", "b"] })
        );
    }
}
