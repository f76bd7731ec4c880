//! `lingerer`, a hostile plugin for the end-to-end tests (never an example, never shipped).
//!
//! It does what a well-behaved plugin must not: `linger` keeps a clone of its `Context` on a
//! thread of its own that outlives `stop` and `remove`, waits for a file the test creates, then
//! tries every host service and writes what each answered; `hang_on_stop` makes its `stop`
//! hook never return. The tests use it to prove the host revokes a stopped or removed
//! instance's access and never waits forever on a hook.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use switchboard_sdk::prelude::*;

/// The plugin.
#[derive(Debug, Default)]
pub struct Lingerer {
    hang_on_stop: AtomicBool,
}

impl Plugin for Lingerer {
    fn create(_ctx: &Context) -> Result<Self, PluginError> {
        Ok(Lingerer::default())
    }

    fn stop(&self, _ctx: &Context) -> Result<(), PluginError> {
        if self.hang_on_stop.load(Ordering::Acquire) {
            // A hook that never returns: the host must give up on it, not wait forever.
            loop {
                std::thread::park();
            }
        }
        Ok(())
    }
}

/// Every host service, tried once with `ctx`; one `name=ok` or `name=SB####` line each.
fn probe(ctx: &Context, dir: &Path) -> String {
    fn line<T>(name: &str, r: Result<T, PluginError>) -> String {
        match r {
            Ok(_) => format!("{name}=ok\n"),
            Err(e) => format!("{name}={}\n", e.code()),
        }
    }
    let mut out = String::new();
    out += &line("kv", ctx.kv().put("left", b"behind"));
    out += &line("secrets", ctx.secrets().put("left", b"behind"));
    out += &line("config", ctx.config_value());
    out += &line("env", ctx.env("LINGER_MODE"));
    out += &line("check", ctx.check(&Access::Kv));
    out += &line("fs", ctx.fs().read(dir.join("readable.txt")));
    out += &line(
        "publish_own",
        ctx.publish_raw("plugin.lingerer.still_here", &[], b"hi"),
    );
    out += &line("publish", ctx.publish_raw("shared.still_here", &[], b"hi"));
    out += &line(
        "service",
        ctx.call_service::<String, String>("alpha.echo", "echo", &"hi".to_owned()),
    );
    out
}

#[plugin(capabilities = [
    "kv",
    "secrets",
    "config.read",
    "env:LINGER_*",
    "fs.read",
    "events.publish",
    "events.publish:shared.**",
    "events.subscribe:host.**",
    "service.call:alpha.*",
    "service.call:beta.*"
])]
impl Lingerer {
    /// Starts a thread that keeps `ctx`, waits for `DIR/go`, then tries every host service
    /// and writes the answers to `DIR/report` (through a rename, so it appears whole).
    #[command]
    fn linger(&self, ctx: &Context, dir: String) {
        let ctx = ctx.clone();
        std::thread::spawn(move || {
            let dir = PathBuf::from(dir);
            while !dir.join("go").exists() {
                std::thread::sleep(Duration::from_millis(5));
            }
            let report = probe(&ctx, &dir);
            let tmp = dir.join("report.tmp");
            if std::fs::write(&tmp, report).is_ok() {
                let _ = std::fs::rename(&tmp, dir.join("report"));
            }
        });
    }

    /// The same probes, now, on the calling thread.
    #[command]
    fn probe_now(&self, ctx: &Context, dir: String) -> String {
        probe(ctx, Path::new(&dir))
    }

    /// Makes the `stop` hook never return.
    #[command]
    fn hang_on_stop(&self) {
        self.hang_on_stop.store(true, Ordering::Release);
    }

    /// Calls `SERVICE.echo` with `hi`.
    #[command]
    fn call(&self, ctx: &Context, service: String) -> Result<String, PluginError> {
        ctx.call_service::<String, String>(&service, "echo", &"hi".to_owned())
    }

    #[subscribe("host.>")]
    fn on_host(&self, _ctx: &Context, _event: &Event<'_>) -> Result<(), PluginError> {
        Ok(())
    }
}
