//! Persistent and time-limited grants, kept across loads.

use rusqlite::params;
use switchboard_sdk::caps::Capability;

use super::Store;
use crate::caps::{Grant, GrantSource, Scope};
use crate::error::StoreError;
use crate::timestamp::Timestamp;

impl Store {
    /// The stored grants of `plugin` (expired ones included).
    pub(crate) fn stored_grants(&self, plugin: &str) -> Result<Vec<Grant>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT capability, scope, expires_at_ms, granted_at_ms, source
                 FROM grants WHERE plugin = ?1 ORDER BY capability",
            )?;
            let rows = stmt.query_map([plugin], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (cap, scope, expires, at, source) = row?;
                let capability: Capability = cap.parse().map_err(|_| StoreError::Corrupt {
                    what: "capability",
                    value: cap.clone(),
                })?;
                let scope = Scope::from_stored(&scope, expires.map(Timestamp::from_millis)).ok_or(
                    StoreError::Corrupt {
                        what: "grant scope",
                        value: scope,
                    },
                )?;
                out.push(Grant::new(
                    capability,
                    scope,
                    Timestamp::from_millis(at),
                    GrantSource::from_str(&source),
                ));
            }
            Ok(out)
        })
    }

    /// Stores a persistent or time-limited grant (replacing one for the same capability).
    pub(crate) fn save_grant(&self, plugin: &str, grant: &Grant) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO grants
                     (plugin, capability, scope, expires_at_ms, granted_at_ms, source)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    plugin,
                    grant.capability().to_string(),
                    grant.scope().as_str(),
                    grant.scope().expires().map(Timestamp::as_millis),
                    grant.granted_at().as_millis(),
                    grant.source().as_str(),
                ],
            )?;
            Ok(())
        })
    }

    /// Deletes `plugin`'s stored grants that `covered_by` covers; returns how many.
    pub(crate) fn delete_grants(
        &self,
        plugin: &str,
        covered_by: &Capability,
    ) -> Result<usize, StoreError> {
        let doomed: Vec<String> = self
            .stored_grants(plugin)?
            .into_iter()
            .filter(|g| covered_by.covers(g.capability()))
            .map(|g| g.capability().to_string())
            .collect();
        self.with(|c| {
            let mut n = 0;
            for cap in &doomed {
                n += c.execute(
                    "DELETE FROM grants WHERE plugin = ?1 AND capability = ?2",
                    params![plugin, cap],
                )?;
            }
            Ok(n)
        })
    }
}
