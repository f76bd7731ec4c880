//! `notes-reminder`, a community example plugin (a third party's, self-signed): reminders
//! about notes, due by the host's clock.
//!
//! - **A dependency**: `notes` (`[requires] dependencies` in `plugin.toml`); `remind` checks
//!   through the `notes` service that the note exists.
//! - **Time**: it reads the host's clock (`ctx.now()`), never the system's, so a unit test
//!   moves time with `MockHost::advance` instead of sleeping.
//! - **Events**: `due` announces each reminder that fell due on `plugin.notes-reminder.due`
//!   (its own namespace: no grant needed).
//! - **State and configuration**: reminders in its KV store (`r/TITLE` → the time it is due,
//!   in seconds since the Unix epoch); `delay_secs` in `[config]`, how long until a new
//!   reminder is due.

// Examples are what authors copy: input from callers and hosts becomes an error, never a
// panic (tests keep unwrap and expect, as assertions).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
use serde::Deserialize;
use switchboard_sdk::prelude::*;

/// The plugin's configuration (`[config]` in `plugin.toml`).
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Seconds from `remind` until the reminder is due.
    pub delay_secs: u64,
}

/// The plugin.
#[derive(Debug, Default)]
pub struct Reminder;

impl Plugin for Reminder {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Reminder)
    }
}

/// Seconds since the Unix epoch, by the host's clock.
fn now_secs(ctx: &Context) -> u64 {
    ctx.now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[plugin(capabilities = ["kv", "config.read", "service.call:notes"])]
impl Reminder {
    /// Reminds about the note `title` after the configured delay; returns when it is due
    /// (seconds since the Unix epoch). The note must exist (asked of the `notes` service).
    #[command]
    fn remind(&self, ctx: &Context, title: String) -> Result<u64, PluginError> {
        let settings: Settings = ctx.config()?;
        let _text: String = ctx.call_service("notes", "get", &title)?;
        let due = now_secs(ctx).saturating_add(settings.delay_secs);
        ctx.kv().put_as(&format!("r/{title}"), &due)?;
        ctx.info(&format!("reminder for `{title}` due at {due}"));
        Ok(due)
    }

    /// How many reminders are waiting.
    #[command]
    fn pending(&self, ctx: &Context) -> Result<u64, PluginError> {
        Ok(ctx.kv().list("r/")?.len() as u64)
    }

    /// Announces every reminder now due on `plugin.notes-reminder.due` (its title) and forgets
    /// it; returns how many.
    #[command]
    fn due(&self, ctx: &Context) -> Result<u64, PluginError> {
        let now = now_secs(ctx);
        let mut n = 0;
        for (k, v) in ctx.kv().list("r/")? {
            let at: u64 = String::from_utf8_lossy(&v)
                .trim()
                .parse()
                .map_err(|_| PluginError::new(format!("`{k}` does not hold a time")))?;
            if at <= now {
                let title = k["r/".len()..].to_owned();
                ctx.emit("due", &title)?;
                ctx.kv().delete(&k)?;
                n += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use switchboard_sdk::testing::{Activity, MockHost};

    fn host() -> MockHost {
        let host = MockHost::new("notes-reminder");
        host.grant("kv")
            .unwrap()
            .grant("config.read")
            .unwrap()
            .grant("service.call:notes")
            .unwrap();
        host.stub_service("notes", "get", |title: String| {
            if title == "Groceries" {
                Ok("Groceries\nmilk".to_string())
            } else {
                Err(PluginError::new(format!("no note `{title}`")))
            }
        });
        host.set_time(UNIX_EPOCH + Duration::from_secs(10_000));
        host
    }

    #[test]
    fn a_reminder_falls_due_when_the_fake_clock_passes_it() {
        let host = host();
        let reminder = host.instantiate::<Reminder>().unwrap();
        let due: u64 = reminder.call("remind", &"Groceries".to_string()).unwrap();
        assert_eq!(due, 10_000 + 3_600, "the plugin.toml default delay");
        assert_eq!(reminder.call::<(), u64>("due", &()).unwrap(), 0);
        host.advance(Duration::from_secs(3_599));
        assert_eq!(reminder.call::<(), u64>("due", &()).unwrap(), 0);
        assert!(host.published().is_empty());
        host.advance(Duration::from_secs(1));
        assert_eq!(reminder.call::<(), u64>("due", &()).unwrap(), 1);
        let published = host.published();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].0, "plugin.notes-reminder.due");
        assert_eq!(
            switchboard_sdk::decode::<String>(&published[0].1).unwrap(),
            "Groceries"
        );
        assert_eq!(reminder.call::<(), u64>("pending", &()).unwrap(), 0);
    }

    #[test]
    fn a_reminder_about_a_missing_note_is_refused_and_not_stored() {
        let host = host();
        host.set_config(serde_json::json!({ "delay_secs": 5 }));
        let reminder = host.instantiate::<Reminder>().unwrap();
        host.clear_activity();
        let e = reminder
            .call::<String, u64>("remind", &"Nothing".into())
            .unwrap_err();
        assert!(e.to_string().contains("Nothing"), "{e}");
        assert_eq!(
            host.activity(),
            [
                Activity::ConfigRead,
                Activity::ServiceCall("notes".into(), "get".into())
            ],
            "asked, and wrote nothing"
        );
        assert_eq!(host.kv_value("r/Nothing"), None);
        // The configured delay applies.
        let due: u64 = reminder.call("remind", &"Groceries".to_string()).unwrap();
        assert_eq!(due, 10_005);
        assert_eq!(host.kv_value("r/Groceries").unwrap(), b"10005");
        assert!(host
            .logs()
            .iter()
            .any(|(l, m)| *l == Level::Info && m.contains("10005")));
    }
}
