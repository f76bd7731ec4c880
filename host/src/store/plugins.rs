//! What the host last knew of each plugin: the record behind `switchboard inspect`.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::Store;
use crate::caps::{Grant, TrustLevel};
use crate::error::StoreError;
use crate::timestamp::Timestamp;

/// What the host last recorded about a plugin: identity, trust, state, and its capabilities
/// requested, granted and denied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PluginRecord {
    /// The plugin's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// How far its origin is trusted.
    pub trust: String,
    /// Who signed it, if anyone.
    pub signer: Option<String>,
    /// The file it was loaded from.
    pub source: String,
    /// Its lifecycle state when last recorded.
    pub state: String,
    /// The capabilities its manifest requests.
    pub requested: Vec<String>,
    /// The grants it holds.
    pub granted: Vec<GrantRecord>,
    /// The requests that were refused, with the reason.
    pub denied: Vec<DeniedRecord>,
    /// When this record last changed.
    pub updated_at: Timestamp,
    /// Where its last load ran it and why — policy routing's decision and, when isolated, the
    /// sandbox layers in force ([`IsolationDecision::record`](crate::isolation::IsolationDecision::record)):
    /// `{ "mode", "profile", "strict", "reasons", "limits", "allow_exec", "allow_network",
    /// "allow_files", "required_layers", "layers" }`. `None` for a record from a host that
    /// did not record it.
    #[serde(default)]
    pub isolation: Option<serde_json::Value>,
}

/// One grant in a [`PluginRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GrantRecord {
    /// The capability.
    pub capability: String,
    /// `once`, `session`, `persistent` or `until`.
    pub scope: String,
    /// When a time-limited grant expires.
    pub expires_at: Option<Timestamp>,
    /// When it was granted.
    pub granted_at: Timestamp,
    /// Who granted it: `policy`, `approver`, `stored` or `operator`.
    pub source: String,
    /// Whether a `once` grant has been used.
    pub used: bool,
}

impl From<&Grant> for GrantRecord {
    fn from(g: &Grant) -> Self {
        GrantRecord {
            capability: g.capability().to_string(),
            scope: g.scope().as_str().to_owned(),
            expires_at: g.scope().expires(),
            granted_at: g.granted_at(),
            source: g.source().as_str().to_owned(),
            used: g.is_used(),
        }
    }
}

/// A refused request in a [`PluginRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeniedRecord {
    /// The capability requested.
    pub capability: String,
    /// Why it was refused.
    pub reason: String,
}

impl DeniedRecord {
    pub(crate) fn new(capability: String, reason: String) -> Self {
        DeniedRecord { capability, reason }
    }
}

impl PluginRecord {
    #[expect(clippy::too_many_arguments, reason = "one field each; crate-internal")]
    pub(crate) fn new(
        name: String,
        version: String,
        trust: TrustLevel,
        signer: Option<String>,
        source: String,
        state: String,
        requested: Vec<String>,
        granted: Vec<GrantRecord>,
        denied: Vec<DeniedRecord>,
    ) -> Self {
        PluginRecord {
            name,
            version,
            trust: trust.as_str().to_owned(),
            signer,
            source,
            state,
            requested,
            granted,
            denied,
            updated_at: Timestamp::now(),
            isolation: None,
        }
    }
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn parse<T: for<'de> Deserialize<'de>>(what: &'static str, text: String) -> Result<T, StoreError> {
    serde_json::from_str(&text).map_err(|_| StoreError::Corrupt { what, value: text })
}

impl Store {
    /// Records a plugin (replacing what was recorded under its name).
    pub(crate) fn put_plugin(&self, r: &PluginRecord) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO plugins
                     (name, version, trust, signer, source, state, requested, granted, denied,
                      updated_at_ms, isolation)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    r.name,
                    r.version,
                    r.trust,
                    r.signer,
                    r.source,
                    r.state,
                    json(&r.requested),
                    json(&r.granted),
                    json(&r.denied),
                    r.updated_at.as_millis(),
                    r.isolation.as_ref().map(json),
                ],
            )?;
            Ok(())
        })
    }

    /// Records where plugin `name`'s load runs it and why: `decision.record(&layers)`
    /// ([`IsolationDecision::record`](crate::isolation::IsolationDecision::record)), shown by
    /// `switchboard inspect`. Call it after the load recorded the plugin; a later load
    /// replaces it. An unknown name changes nothing.
    pub fn set_plugin_isolation(
        &self,
        name: &str,
        isolation: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE plugins SET isolation = ?2, updated_at_ms = ?3 WHERE name = ?1",
                params![name, json(isolation), Timestamp::now().as_millis()],
            )?;
            Ok(())
        })
    }

    /// Updates a recorded plugin's state.
    pub(crate) fn set_plugin_state(&self, name: &str, state: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE plugins SET state = ?2, updated_at_ms = ?3 WHERE name = ?1",
                params![name, state, Timestamp::now().as_millis()],
            )?;
            Ok(())
        })
    }

    /// Updates a recorded plugin's grants.
    pub(crate) fn set_plugin_grants(
        &self,
        name: &str,
        granted: &[GrantRecord],
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE plugins SET granted = ?2, updated_at_ms = ?3 WHERE name = ?1",
                params![name, json(&granted), Timestamp::now().as_millis()],
            )?;
            Ok(())
        })
    }

    /// What was last recorded about plugin `name`.
    pub fn plugin(&self, name: &str) -> Result<PluginRecord, StoreError> {
        let row = self.with(|c| {
            Ok(c.query_row(
                "SELECT name, version, trust, signer, source, state, requested, granted, denied,
                        updated_at_ms, isolation
                 FROM plugins WHERE name = ?1",
                [name],
                |r| {
                    Ok((
                        (
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, Option<String>>(3)?,
                            r.get::<_, String>(4)?,
                        ),
                        (
                            r.get::<_, String>(5)?,
                            r.get::<_, String>(6)?,
                            r.get::<_, String>(7)?,
                            r.get::<_, String>(8)?,
                            r.get::<_, i64>(9)?,
                        ),
                        r.get::<_, Option<String>>(10)?,
                    ))
                },
            )
            .optional()?)
        })?;
        let Some((
            (name, version, trust, signer, source),
            (state, req, granted, denied, at),
            isolation,
        )) = row
        else {
            return Err(StoreError::UnknownPlugin {
                plugin: name.to_owned(),
            });
        };
        Ok(PluginRecord {
            name,
            version,
            trust,
            signer,
            source,
            state,
            requested: parse("requested capability list", req)?,
            granted: parse("grant list", granted)?,
            denied: parse("denial list", denied)?,
            updated_at: Timestamp::from_millis(at),
            isolation: isolation
                .map(|text| parse("isolation record", text))
                .transpose()?,
        })
    }

    /// The names of every plugin recorded, sorted.
    pub fn plugin_names(&self) -> Result<Vec<String>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT name FROM plugins ORDER BY name")?;
            let names = stmt
                .query_map([], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(names)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_isolation_decision_is_recorded_read_back_and_kept_by_later_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let record = PluginRecord::new(
            "hello".into(),
            "0.1.0".into(),
            TrustLevel::Unsigned,
            None,
            "/x/libhello.so".into(),
            "loaded".into(),
            vec!["kv".into()],
            Vec::new(),
            Vec::new(),
        );
        store.put_plugin(&record).unwrap();
        assert_eq!(store.plugin("hello").unwrap().isolation, None);
        let decision = serde_json::json!({
            "mode": "isolated",
            "profile": "agent",
            "reasons": ["trust `unsigned` is below `verified` (policy `isolation.isolate_below`)"],
            "layers": [{ "layer": "landlock", "active": true, "detail": "ABI 7" }],
        });
        store.set_plugin_isolation("hello", &decision).unwrap();
        let read = store.plugin("hello").unwrap();
        assert_eq!(read.isolation.as_ref(), Some(&decision));
        // A state change or a record written back (a rollback's version fix) keeps it.
        store.set_plugin_state("hello", "active").unwrap();
        store.put_plugin(&store.plugin("hello").unwrap()).unwrap();
        assert_eq!(store.plugin("hello").unwrap().isolation, Some(decision));
        // The JSON form `inspect --json` prints carries it.
        let doc = serde_json::to_value(store.plugin("hello").unwrap()).unwrap();
        assert_eq!(doc["isolation"]["profile"], "agent");
        // Unknown names change nothing.
        store
            .set_plugin_isolation("nobody", &serde_json::json!({}))
            .unwrap();
        assert!(store.plugin("nobody").is_err());
    }
}
