//! The Rust code of `docs/guide.md`, compiled.
//!
//! Every Rust block of the guide is one region of this file, between a `// guide: NAME` line
//! and a `// guide: end` line, and `tests/all/guide.rs` checks that each block's text is
//! exactly one region's (indentation aside): a guide example that stops compiling fails the
//! build, and a guide edit that is not made here fails that test. Host code is in functions
//! here (the names they use — `dir`, `path`, `host` — are their parameters); plugin code is in
//! doctests (each is a crate of its own, as a plugin is), where lines starting `# ` set the
//! scene and are not part of the region.
//!
//! Nothing here is called: these functions exist to be compiled, as the guide shows them.

#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the guide's examples print what they show, as an application would"
)]

use std::error::Error;
use std::path::Path;
use std::time::{Duration, SystemTime};

use switchboard_host::bus::SubscribeOptions;
use switchboard_host::state::{DataMigration, MasterKey};
use switchboard_host::{Host, PluginHandle};

/// What a snippet returns: any error, as an application's `main` would.
pub type Outcome<T = ()> = Result<T, Box<dyn Error + Send + Sync>>;

/// "For host developers": build a host, load a library, bind a command.
pub fn host_developers(dir: &Path, path: &Path) -> Outcome {
    // guide: host-developers
    let mut builder = Host::builder();
    builder.data_dir(dir).host_api("my-app", "1.4.0").on_log(|r| eprintln!("[{}] {}", r.plugin, r.message));
    builder.dangerous().load_unsigned_libraries(); // development only
    let host = builder.build()?;
    let plugin = host.load_unsigned(path)?;     // checked from its bytes before any code runs
    plugin.start()?;
    let greet = plugin.command::<String, String>("greet")?; // bind once, call many times
    // guide: end
    drop(greet);
    Ok(())
}

/// "State, configuration and secrets": the host's side.
pub fn host_state(
    dir: &Path,
    key_from_my_vault: [u8; 32],
    migrations: Vec<DataMigration>,
) -> Outcome {
    // guide: host-state
    let mut builder = Host::builder();
    builder
        .data_dir(dir)
        .environment("production")                        // applies [profile.production]
        .config_vars(std::env::vars())                    // SWITCHBOARD_<PLUGIN>_<KEY> overrides
        .master_key(MasterKey::from_bytes(key_from_my_vault)); // or <data dir>/master.key
    let host = builder.build()?;
    host.kv("counter").put("c/visits", b"41")?;           // seed or repair a plugin's data
    println!("{:?}", host.config("counter")?.sources());  // where each value came from
    host.migrate_plugin_data("counter", "0.1.0", "0.2.0", &migrations)?; // backup, apply, restore on failure
    // guide: end
    Ok(())
}

/// "Hot reload".
pub fn hot_reload(host: &Host) -> Outcome {
    // guide: hot-reload
    let counter = host.plugin("counter")?;
    let incr = counter.command::<String, u64>("incr")?;      // keeps working across the reload
    // …rebuild target/debug/libcounter.so (or get counter-0.2.0.sbpkg)…
    let report = counter.reload("target/debug/libcounter.so")?; // or host.reload("counter", path)
    println!("{} → {}, calls paused {:?}", report.from, report.to, report.paused);
    println!("{:?}", counter.reloads());                     // done, library copies mapped, bound
    // guide: end
    drop(incr);
    Ok(())
}

/// "Plugin directories".
pub fn plugin_directories() -> Outcome {
    // guide: plugin-directories
    let mut builder = Host::builder();
    builder.data_dir("/var/lib/my-app").plugin_dir("/var/lib/my-app/plugins");
    let host = builder.build()?;
    let report = host.discover();            // loads and starts packages (and dev libraries)
    for d in &report.loaded {
        println!("loaded {} {} from {}", d.plugin, d.version, d.path.display());
    }
    for s in &report.skipped {               // each with a code: SB0380–SB0387
        eprintln!("[{}] {}: {}", s.code, s.path.display(), s.reason);
    }
    let _watcher = host.watch()?;            // keep it: new files load, changed ones hot-reload,
                                             // removed ones are removed; dropping it stops watching
    // guide: end
    Ok(())
}

/// "Health": checks, rules and the topic.
pub fn health(
    mut builder: switchboard_host::HostBuilder,
    plugin: &PluginHandle,
    alert: impl Fn(&str) + Send + Sync + 'static,
) -> Outcome {
    // guide: health
    use switchboard_host::{HealthRules, HealthState, HEALTH_TOPIC};

    builder.health_interval(Duration::from_secs(10))   // None: only when you ask
           .health_rules(HealthRules { window: Duration::from_secs(600), ..HealthRules::default() });
    let host = builder.build()?;
    host.bus().subscribe(HEALTH_TOPIC, SubscribeOptions::new(), move |e| {
        // {"plugin":"hello","from":"healthy","to":"unhealthy","reasons":[{"code":"SB0396",…}],"since":…,"at":…}
        alert(std::str::from_utf8(e.payload()).unwrap_or_default());
        Ok(())
    })?;
    let report = host.check_health();                   // one round now (what tests use)
    if report.worst() == HealthState::Unhealthy { /* … */ }
    let status = plugin.health_status();                // the last check's state, reasons, since when
    // guide: end
    drop(status);
    Ok(())
}

/// "Typed calls": a borrowed response, on the host's side.
pub fn borrowed_call(plugin: &PluginHandle, bytes: Vec<u8>) -> Outcome<usize> {
    use hello::Chunk;
    // guide: borrowed-host
    let echo = plugin.command::<Chunk<'static>, Chunk<'static>>("echo")?;
    let len = echo.call_with(&Chunk { data: &bytes }, |reply| reply.data.len())?;
    // guide: end
    Ok(len)
}

/// "Metrics and traces".
pub fn metrics(host: &Host) -> Outcome {
    // guide: metrics
    let m = host.metrics();
    let greet = &m.plugins["hello"].commands["greet"];
    println!("{} calls, {} failed, p99 {:?}", greet.calls, greet.errors_total(), greet.latency.p99());
    let last_minute = host.metrics().since(&m);     // deltas between two snapshots
    std::fs::write("metrics.prom", m.to_prometheus())?; // the Prometheus text format
    // guide: end
    drop(last_minute);
    Ok(())
}

/// "Isolating plugins": an application that runs a plugin isolated (a whole program).
pub fn isolated_application() -> Outcome {
    // guide: isolated-main
    use switchboard_host::isolation::Mode;
    use switchboard_host::{Host, LoadOptions};

    fn main() -> Result<(), Box<dyn std::error::Error>> {
        switchboard_host::isolation::hook(); // first: the runner starts here and never returns

        let mut builder = Host::builder();
        builder.data_dir("/tmp/my-app").host_api("switchboard-demo", "0.1.0");
        builder.dangerous().load_unsigned_libraries(); // development only
        let host = builder.build()?;

        let mut options = LoadOptions::new();
        options.isolation(Mode::Isolated); // or let the policy decide
        let hello = host.load_unsigned_with("target/debug/libhello.so", &options)?;
        hello.start()?;
        let greet = hello.command::<String, String>("greet")?;
        assert_eq!(greet.call(&"Ada".to_string())?, "Hello, Ada!");
        for layer in hello.isolation().layers {
            println!("{:?}: {} — {}", layer.layer, layer.active, layer.detail);
        }
        Ok(())
    }
    // guide: end
    main().map_err(|e| e.to_string().into())
}

/// "Service levels": paging on an alert.
pub fn slo_alerts(host: &Host, notify: impl Fn(&switchboard_host::slo::SloAlert) + Send + Sync + 'static) -> Outcome {
    // guide: slo-alert
    host.bus().subscribe("system.slo.alert", SubscribeOptions::new(), move |e| {
        let Ok(alert) = serde_json::from_slice::<switchboard_host::slo::SloAlert>(e.payload()) else {
            return Ok(()); // not an alert this host version knows
        };
        notify(&alert); // your pager
        Ok(())
    })?;
    // guide: end
    Ok(())
}

/// What a build step of the guide's host takes (the host's own type: any `Message`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, switchboard_sdk::Message)]
pub struct BuildInput {
    /// The target to build.
    pub target: String,
}

/// What a build step of the guide's host makes.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, switchboard_sdk::Message)]
pub struct Artefact {
    /// Where it was written.
    pub path: String,
}

/// An item of the guide's command list.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, switchboard_sdk::Message)]
pub struct CommandInfo {
    /// What the command shows as.
    pub title: String,
}

/// "Extension points", for host developers.
pub fn extension_points(
    host: &Host,
    path: &Path,
    input: BuildInput,
    default_build: impl Fn(BuildInput) -> Artefact,
    try_build: impl Fn(BuildInput) -> Result<Artefact, switchboard_sdk::PluginError>,
) -> Outcome {
    // guide: extension-points-host
    use switchboard_host::extend::{ErrorPolicy, PointKind, PointOptions};

    // A host operation plugins may extend: before hooks, wrappers, one replacement, after hooks.
    let build = host.extension_point::<BuildInput, Artefact>("workflow.phase.build", PointKind::Operation)?;
    // A value threaded through every contribution; failures are skipped and recorded.
    let mut options = PointOptions::new();
    options.policy(ErrorPolicy::Skip);
    let title = host.extension_point_with::<String, String>("doc.title", PointKind::Filter, &options)?;
    // A list plugins add named items to.
    let commands = host.extension_point::<(), CommandInfo>("app.commands", PointKind::Registry)?;

    let plugin = host.load_unsigned(path)?;   // its hooks are checked here
    plugin.start()?;                          // and join their points here

    let built = build.run(input.clone(), default_build)?;
    // Or with an operation that may fail: wrappers see its error through `next`.
    let artefact = build.try_run(input, try_build)?;
    let shown = title.filter("Notes".to_owned())?;
    for item in commands.collect(&())? {
        println!("{} offers {}: {:?}", item.plugin, item.name, item.value);
    }
    // guide: end
    drop((built, artefact, shown));
    Ok(())
}

/// "Streaming commands and usage", for host developers.
pub fn streaming(host: &Host, prompt: String) -> Outcome {
    // guide: streaming-host
    use std::ops::ControlFlow;

    let instrument = host.plugin("instrument")?;
    let generate = instrument.stream_command::<String, String, u64>("generate")?;

    // 1. As an iterator: the plugin runs on a thread of its own, at most 16 chunks ahead.
    let mut stream = generate.start(&"tell me a story".to_string())?;
    for token in &mut stream {
        print!("{}", token?);
    }
    let done = stream.finish()?;            // summary, chunks, cancelled, usage
    println!("{:?} tokens", done.usage.get("tokens"));

    // 2. Stop early: the plugin's next send is refused and it ends.
    let mut stream = generate.start_with_capacity(&prompt, 4)?;
    let first = stream.next();
    stream.cancel();                        // or just drop the stream
    assert!(stream.finish()?.cancelled);

    // 3. On this thread, no buffer: the closure runs inside the plugin's send.
    let done = generate.call_streaming(&prompt, |token| {
        print!("{token}");
        ControlFlow::Continue(())           // Break(()) stops the stream
    })?;

    // Usage of a plain command comes back with its response.
    let count = instrument.command::<String, u64>("count_tokens")?;
    let outcome = count.call_metered(&prompt)?;
    println!("{} tokens ({:?} metered)", outcome.response, outcome.usage.get("tokens"));
    // guide: end
    drop((first, done));
    Ok(())
}

/// "Streaming commands and usage": usage for billing.
pub fn usage_for_billing(host: &Host) -> Outcome {
    // guide: usage
    let now = SystemTime::now();
    let month = host.usage(now - Duration::from_secs(30 * 86_400), now)?;
    for row in &month.rows {
        println!("{} {} {} {}", row.plugin, row.command, row.unit, row.amount);
    }
    // guide: end
    Ok(())
}

/// The guide's plugin code: each doctest below is a plugin crate of its own.
///
/// "Typed calls": a message that borrows, and a command that reads and answers in place.
///
/// ```
/// # use switchboard_sdk::prelude::*;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Debug)]
/// # pub struct Echo;
/// # impl Plugin for Echo {
/// #     fn create(_ctx: &Context) -> Result<Self, PluginError> { Ok(Echo) }
/// # }
/// // guide: borrowed-plugin
/// #[derive(Serialize, Deserialize, Message)]
/// pub struct Chunk<'a> {
///     pub data: &'a [u8],
/// }
///
/// // In the plugin: the request is read where the host wrote it; the response is written once.
/// # #[plugin]
/// # impl Echo {
/// #[command]
/// fn echo<'a>(&self, chunk: Chunk<'a>) -> Chunk<'a> {
///     chunk
/// }
/// # }
/// // guide: end
/// # fn main() {}
/// ```
///
/// "Extension points", for plugin authors: a filter and a before hook.
///
/// ```
/// # use switchboard_sdk::prelude::*;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Debug, Clone, Serialize, Deserialize, Message)]
/// # pub struct BuildInput { pub target: String }
/// # #[derive(Debug)]
/// # pub struct Stamp;
/// # impl Plugin for Stamp {
/// #     fn create(_ctx: &Context) -> Result<Self, PluginError> { Ok(Stamp) }
/// # }
/// // guide: hooks
/// #[plugin(capabilities = ["extend:doc.title", "extend:workflow.phase.build"])]
/// impl Stamp {
///     /// Appends the plugin's mark to every title.
///     #[hook("doc.title", filter, priority = 10)]
///     fn stamp(&self, title: String) -> String {
///         format!("{title} ✓")
///     }
///
///     /// Runs before the host's build, after the `lint` plugin's hook.
///     #[hook("workflow.phase.build", before, after = ["lint"])]
///     fn prepare(&self, ctx: &Context, input: BuildInput) -> Result<BuildInput, PluginError> {
///         ctx.log(Level::Info, "preparing the build");
///         Ok(input)
///     }
/// }
/// // guide: end
/// # fn main() {}
/// ```
///
/// "Extension points": a wrapper that may skip the rest of the chain.
///
/// ```
/// # use std::collections::HashMap;
/// # use std::sync::Mutex;
/// # use switchboard_sdk::prelude::*;
/// # #[derive(Debug, Default)]
/// # pub struct Cache { seen: Mutex<HashMap<String, String>> }
/// # impl Plugin for Cache {
/// #     fn create(_ctx: &Context) -> Result<Self, PluginError> { Ok(Cache::default()) }
/// # }
/// # impl Cache {
/// #     fn lookup(&self, job: &str) -> Option<String> {
/// #         self.seen.lock().ok()?.get(job).cloned()
/// #     }
/// #     fn store(&self, job: String, artefact: String) -> String {
/// #         if let Ok(mut seen) = self.seen.lock() { seen.insert(job, artefact.clone()); }
/// #         artefact
/// #     }
/// # }
/// // guide: wrap
/// use switchboard_sdk::extend::Next;
///
/// #[plugin(capabilities = ["extend:workflow.phase.build"])]
/// impl Cache {
///     #[hook("workflow.phase.build", wrap, priority = 10)]
///     fn cached(&self, ctx: &Context, job: String, next: Next<String, String>) -> Result<String, PluginError> {
///         if let Some(hit) = self.lookup(&job) {
///             return Ok(hit);                        // skip next: nothing inside runs
///         }
///         match next.call(job.clone()) {             // re-enters the host
///             Ok(artefact) => Ok(self.store(job, artefact)),   // change the result
///             Err(e) => Err(PluginError::with_code(e.code(), format!("{job}: {}", e.message()))),
///         }
///     }
/// }
/// // guide: end
/// # fn main() {}
/// ```
///
/// "Streaming commands and usage", for plugin authors.
///
/// ```
/// # #[derive(Debug)]
/// # pub struct Instrument;
/// # impl switchboard_sdk::Plugin for Instrument {
/// #     fn create(_ctx: &switchboard_sdk::Context) -> Result<Self, switchboard_sdk::PluginError> { Ok(Instrument) }
/// # }
/// // guide: streaming-plugin
/// use switchboard_sdk::prelude::*;
///
/// #[plugin]
/// impl Instrument {
///     #[command]
///     fn generate(&self, ctx: &Context, prompt: String, out: &mut Sink<'_, String>) -> Result<u64, PluginError> {
///         let mut sent = 0;
///         for word in prompt.split_whitespace() {
///             out.send(format!("{word} "))?; // waits while the host's consumer is behind
///             sent += 1;
///         }
///         ctx.usage("tokens", sent)?;
///         Ok(sent)
///     }
/// }
/// // guide: end
/// # fn main() {}
/// ```
///
/// "For plugin authors", step 5: a unit test with the mock host.
///
/// ```
/// # use serde::{Deserialize, Serialize};
/// # use switchboard_sdk::prelude::*;
/// # #[derive(Debug, Clone, Serialize, Deserialize, Message)]
/// # pub struct Greeting { pub name: String, pub excited: bool }
/// # #[derive(Debug)]
/// # pub struct Greeter;
/// # impl Plugin for Greeter {
/// #     fn create(_ctx: &Context) -> Result<Self, PluginError> { Ok(Greeter) }
/// # }
/// # #[plugin(capabilities = ["kv"])]
/// # impl Greeter {
/// #     #[command]
/// #     fn greet(&self, g: Greeting) -> String {
/// #         format!("Hello, {}{}", g.name, if g.excited { "!" } else { "." })
/// #     }
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // guide: mock-host
/// let host = switchboard_sdk::testing::MockHost::new("greeter");
/// host.grant("kv")?;                    // grant what the plugin uses: the mock denies the rest
/// let plugin = host.instantiate::<Greeter>()?;
/// let reply: String = plugin.call("greet", &Greeting { name: "Ada".into(), excited: true })?;
/// // guide: end
/// # assert_eq!(reply, "Hello, Ada!");
/// # Ok(()) }
/// ```
///
/// "For plugin authors", step 7: an event handler that publishes.
///
/// ```
/// # use switchboard_sdk::prelude::*;
/// # #[derive(Debug)]
/// # pub struct Relay;
/// # impl Plugin for Relay {
/// #     fn create(_ctx: &Context) -> Result<Self, PluginError> { Ok(Relay) }
/// # }
/// // guide: subscribe
/// #[plugin(capabilities = ["events.subscribe:host.**", "service.call:*"])]
/// impl Relay {
///     #[subscribe("host.>")]
///     fn on_host(&self, ctx: &Context, event: &Event<'_>) -> Result<(), PluginError> {
///         ctx.emit("forwarded", &event.topic().to_owned())?; // same trace as `event`
///         Ok(())
///     }
/// }
/// // guide: end
/// # fn main() {}
/// ```
///
/// "For plugin authors", step 7: many events in one crossing.
///
/// ```
/// # use std::collections::BTreeMap;
/// # use switchboard_sdk::prelude::*;
/// # fn announce(ctx: &Context, counts: BTreeMap<String, usize>) -> Result<(), PluginError> {
/// // guide: batch
/// let mut batch = ctx.batch();
/// for (path, words) in &counts {
///     batch.publish("plugin.notes.counted", &(*words as u64));
///     batch.publish("plugin.notes.indexed", path);
/// }
/// batch.send()?; // returns how many deliveries were queued; the batch is empty again
/// // guide: end
/// # Ok(()) }
/// # fn main() {}
/// ```
///
/// "For plugin authors", step 8: configuration and a KV transaction.
///
/// ```
/// # use switchboard_sdk::prelude::*;
/// # #[derive(Debug)]
/// # pub struct Counter;
/// # impl Plugin for Counter {
/// #     fn create(_ctx: &Context) -> Result<Self, PluginError> { Ok(Counter) }
/// # }
/// // guide: state
/// #[derive(serde::Deserialize)]
/// struct Settings { step: u64, prefix: String }
///
/// # #[plugin(capabilities = ["kv", "config.read"])]
/// # impl Counter {
/// #[command]
/// fn incr(&self, ctx: &Context, name: String) -> Result<u64, PluginError> {
///     let s: Settings = ctx.config()?;               // defaults < file < profile < variables
///     let key = format!("{}{name}", s.prefix);
///     ctx.kv().transaction(|tx| {                   // reruns on a concurrent write
///         let n = tx.get_as::<u64>(&key)?.unwrap_or(0) + s.step;
///         tx.put_as(&key, &n)?;
///         Ok(n)
///     })
/// }
/// # }
/// // guide: end
/// # fn main() {}
/// ```
///
/// "For plugin authors", step 8: a data migration.
///
/// ```
/// # use switchboard_sdk::prelude::*;
/// # #[derive(Debug)]
/// # pub struct Counter;
/// # impl Plugin for Counter {
/// #     fn create(_ctx: &Context) -> Result<Self, PluginError> { Ok(Counter) }
/// # }
/// # #[plugin(capabilities = ["kv"])]
/// # impl Counter {
/// // guide: migration
/// #[migration(from = "0.0", to = "0.1")]
/// fn counters_to_json(&self, data: &mut MigrationData) -> Result<(), PluginError> {
///     for key in data.keys().filter(|k| k.starts_with("v0/")).collect::<Vec<_>>() {
///         let n: u64 = String::from_utf8_lossy(data.get(&key).unwrap_or_default()).parse()
///             .map_err(|_| PluginError::new(format!("`{key}` is not a number")))?;
///         data.put_as(&format!("c/{}", &key[3..]), &n)?;
///         data.delete(&key);
///     }
///     Ok(())
/// }
/// // guide: end
/// # #[command]
/// # fn noop(&self) -> u64 { 0 }
/// # }
/// # fn main() {}
/// ```
///
/// "For plugin authors", step 8: in-memory state across a hot reload.
///
/// ```
/// # use std::sync::atomic::{AtomicU64, Ordering};
/// # use switchboard_sdk::prelude::*;
/// # use switchboard_sdk::Handover;
/// # #[derive(Debug)]
/// # pub struct Counter { count: AtomicU64 }
/// # impl Plugin for Counter {
/// #     fn create(_ctx: &Context) -> Result<Self, PluginError> { Ok(Counter { count: AtomicU64::new(0) }) }
/// // guide: handover
/// fn snapshot(&self, _ctx: &Context) -> Result<Vec<u8>, PluginError> {
///     Ok(Handover::new(env!("CARGO_PKG_VERSION"), &self.count.load(Ordering::SeqCst))?.encode())
/// }
///
/// fn restore(&self, _ctx: &Context, state: &[u8]) -> Result<(), PluginError> {
///     let h = Handover::decode(state)?;
///     let count: u64 = match h.version() {
///         v if v.starts_with("0.") => h.state()?,       // what 0.x wrote
///         other => return Err(PluginError::new(format!("cannot take over state from {other}"))),
///     };
///     self.count.store(count, Ordering::SeqCst);
///     Ok(())
/// }
/// // guide: end
/// # }
/// # #[plugin]
/// # impl Counter {
/// #     #[command]
/// #     fn get(&self) -> u64 { self.count.load(Ordering::SeqCst) }
/// # }
/// # fn main() {}
/// ```
#[derive(Debug)]
pub struct PluginCode;
