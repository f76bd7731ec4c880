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
