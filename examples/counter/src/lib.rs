//! `counter`, an example plugin with state: named counters kept in the host's KV store and
//! bumped in transactions, a secret, and typed configuration.

// Examples are what authors copy: input from callers and hosts becomes an error, never a
// panic (tests keep unwrap and expect, as assertions).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
use serde::{Deserialize, Serialize};
use switchboard_sdk::prelude::*;

/// The plugin's configuration (`[config]` in `plugin.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// How much `incr` adds.
    pub step: u64,
    /// The prefix of every counter key.
    pub prefix: String,
}

/// A key and a text value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Message)]
pub struct Pair {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// The plugin.
#[derive(Debug)]
pub struct Counter {
    /// When this instance was created, by the host's clock.
    created: std::time::SystemTime,
}

impl Plugin for Counter {
    fn create(ctx: &Context) -> Result<Self, PluginError> {
        Ok(Counter { created: ctx.now() })
    }
}

#[plugin(capabilities = ["kv", "secrets", "config.read"])]
impl Counter {
    /// Adds the configured step to counter `name` in one transaction; returns the new value.
    #[command]
    fn incr(&self, ctx: &Context, name: String) -> Result<u64, PluginError> {
        let settings: Settings = ctx.config()?;
        let key = format!("{}{name}", settings.prefix);
        ctx.kv().transaction(|tx| {
            let n = tx.get_as::<u64>(&key)?.unwrap_or(0) + settings.step;
            tx.put_as(&key, &n)?;
            Ok(n)
        })
    }

    /// Whole seconds since this instance was created, by the host's clock (`Context::now`,
    /// which a unit test moves with `MockHost::advance`).
    #[command]
    fn uptime(&self, ctx: &Context) -> u64 {
        ctx.now()
            .duration_since(self.created)
            .map_or(0, |d| d.as_secs())
    }

    /// The value of counter `name` (0 if never bumped).
    #[command]
    fn value(&self, ctx: &Context, name: String) -> Result<u64, PluginError> {
        let settings: Settings = ctx.config()?;
        Ok(ctx
            .kv()
            .get_as::<u64>(&format!("{}{name}", settings.prefix))?
            .unwrap_or(0))
    }

    /// Stores a text value under a raw key.
    #[command]
    fn put(&self, ctx: &Context, pair: Pair) -> Result<(), PluginError> {
        ctx.kv().put(&pair.key, pair.value.as_bytes()).map(|_| ())
    }

    /// The text under a raw key, or an empty string.
    #[command]
    fn read(&self, ctx: &Context, key: String) -> Result<String, PluginError> {
        Ok(ctx
            .kv()
            .get(&key)?
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default())
    }

    /// Stores the secret `token`.
    #[command]
    fn set_token(&self, ctx: &Context, token: String) -> Result<(), PluginError> {
        ctx.secrets().put("token", token.as_bytes())
    }

    /// Whether the secret `token` equals `guess` (the secret itself never leaves).
    #[command]
    fn check_token(&self, ctx: &Context, guess: String) -> Result<bool, PluginError> {
        Ok(ctx
            .secrets()
            .get("token")?
            .is_some_and(|s| s.expose() == guess.as_bytes()))
    }

    /// The effective configuration as JSON text.
    #[command]
    fn settings(&self, ctx: &Context) -> Result<String, PluginError> {
        Ok(ctx.config_value()?.to_string())
    }

    /// From 0.0 (counters as decimal text under `v0/NAME`) to 0.1 (JSON numbers under the
    /// default prefix `c/`). Refuses data it cannot read, which aborts the update and leaves
    /// the old data as it was.
    #[migration(from = "0.0", to = "0.1")]
    fn counters_to_json(&self, data: &mut MigrationData) -> Result<(), PluginError> {
        let old: Vec<String> = data.keys().filter(|k| k.starts_with("v0/")).collect();
        for key in old {
            let text = String::from_utf8_lossy(data.get(&key).unwrap_or_default()).into_owned();
            let n: u64 = text
                .trim()
                .parse()
                .map_err(|_| PluginError::new(format!("`{key}` holds `{text}`, not a number")))?;
            data.put_as(&format!("c/{}", &key["v0/".len()..]), &n)?;
            data.delete(&key);
        }
        let mut config = data.config().clone();
        if let Some(map) = config.as_object_mut() {
            map.insert("migrated_from".into(), data.from_version().into());
        }
        data.set_config(config);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::testing::MockHost;

    fn host() -> MockHost {
        let host = MockHost::new("counter");
        host.grant("kv")
            .unwrap()
            .grant("secrets")
            .unwrap()
            .grant("config.read")
            .unwrap();
        host.set_config(serde_json::json!({ "step": 2, "prefix": "c/" }));
        host
    }

    fn counter_value() -> Counter {
        Counter {
            created: std::time::SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn uptime_follows_the_hosts_clock() {
        let host = host();
        let counter = host.instantiate::<Counter>().unwrap();
        assert_eq!(counter.call::<(), u64>("uptime", &()).unwrap(), 0);
        host.advance(std::time::Duration::from_secs(90));
        assert_eq!(counter.call::<(), u64>("uptime", &()).unwrap(), 90);
    }

    #[test]
    fn a_transaction_reads_then_writes_and_the_activity_shows_it() {
        use switchboard_sdk::testing::Activity;
        let host = host();
        let counter = host.instantiate::<Counter>().unwrap();
        host.clear_activity();
        counter.call::<String, u64>("incr", &"a".into()).unwrap();
        assert_eq!(
            host.activity(),
            [
                Activity::ConfigRead,
                Activity::KvRead("c/a".into()),
                Activity::KvWrite("c/a".into()),
            ]
        );
    }

    #[test]
    fn incr_adds_the_configured_step() {
        let host = host();
        let p = host.instantiate::<Counter>().unwrap();
        assert_eq!(p.call::<String, u64>("incr", &"a".into()).unwrap(), 2);
        assert_eq!(p.call::<String, u64>("incr", &"a".into()).unwrap(), 4);
        assert_eq!(p.call::<String, u64>("value", &"a".into()).unwrap(), 4);
        assert_eq!(host.kv_value("c/a").unwrap(), b"4");
    }

    #[test]
    fn without_set_config_the_plugin_toml_defaults_apply() {
        let host = MockHost::new("counter");
        host.grant("kv").unwrap().grant("config.read").unwrap();
        let p = host.instantiate::<Counter>().unwrap();
        assert_eq!(p.call::<String, u64>("incr", &"a".into()).unwrap(), 1);
        assert_eq!(host.kv_value("c/a").unwrap(), b"1");
    }

    #[test]
    fn without_the_config_grant_the_configuration_is_denied() {
        let host = MockHost::new("counter");
        host.grant("kv").unwrap();
        host.set_config(serde_json::json!({ "step": 1, "prefix": "" }));
        let p = host.instantiate::<Counter>().unwrap();
        let e = p.call::<(), String>("settings", &()).unwrap_err();
        assert_eq!(e.code().to_string(), "SB0410");
        assert!(e.to_string().contains("config.read"), "{e}");
        let e = p.call::<String, u64>("incr", &"a".into()).unwrap_err();
        assert_eq!(e.code().to_string(), "SB0410");
    }

    #[test]
    fn without_the_kv_grant_calls_are_denied() {
        let host = MockHost::new("counter");
        host.grant("config.read").unwrap();
        host.set_config(serde_json::json!({ "step": 1, "prefix": "" }));
        let p = host.instantiate::<Counter>().unwrap();
        let e = p.call::<String, u64>("incr", &"a".into()).unwrap_err();
        assert_eq!(e.code().to_string(), "SB0410");
    }

    #[test]
    fn the_migration_moves_v0_counters_and_refuses_garbage() {
        let mut data = MigrationData::new(
            serde_json::json!({}),
            [
                ("v0/a".to_string(), b"41".to_vec()),
                ("keep".to_string(), b"x".to_vec()),
            ],
        );
        counter_value().counters_to_json(&mut data).unwrap();
        assert_eq!(data.get("c/a"), Some(&b"41"[..]));
        assert_eq!(data.get("v0/a"), None);
        assert_eq!(data.get("keep"), Some(&b"x"[..]));
        let mut bad = MigrationData::new(
            serde_json::json!({}),
            [("v0/b".to_string(), b"many".to_vec())],
        );
        assert!(counter_value().counters_to_json(&mut bad).is_err());
    }

    #[test]
    fn the_secret_is_checked_without_leaving() {
        let host = host();
        let p = host.instantiate::<Counter>().unwrap();
        p.call::<String, ()>("set_token", &"s3cret".into()).unwrap();
        assert!(p
            .call::<String, bool>("check_token", &"s3cret".into())
            .unwrap());
        assert!(!p
            .call::<String, bool>("check_token", &"nope".into())
            .unwrap());
    }
}
