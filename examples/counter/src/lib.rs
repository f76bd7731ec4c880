//! `counter`, an example plugin with state: named counters kept in the host's KV store and
//! bumped in transactions, a secret, and typed configuration.

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
pub struct Counter;

impl Plugin for Counter {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Counter)
    }
}

#[plugin(capabilities = ["kv", "secrets"])]
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::testing::MockHost;

    fn host() -> MockHost {
        let host = MockHost::new("counter");
        host.grant("kv").unwrap().grant("secrets").unwrap();
        host.set_config(serde_json::json!({ "step": 2, "prefix": "c/" }));
        host
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
    fn without_the_kv_grant_calls_are_denied() {
        let host = MockHost::new("counter");
        host.set_config(serde_json::json!({ "step": 1, "prefix": "" }));
        let p = host.instantiate::<Counter>().unwrap();
        let e = p.call::<String, u64>("incr", &"a".into()).unwrap_err();
        assert_eq!(e.code().to_string(), "SB0410");
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
