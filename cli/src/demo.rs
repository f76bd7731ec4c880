//! `switchboard demo`: builds the example plugins, loads them into a host and shows, step by
//! step, what Switchboard does — capabilities granted and denied, a revocation, a plugin that
//! panics and is contained, events and shared services on the bus, plugin state, and the audit
//! log that recorded it all. With `--data-dir DIR` the
//! grants and the audit log stay in DIR (`switchboard audit verify --data-dir DIR`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use hello::{AddRequest, AddResponse, Payload};
use serde_json::json;
use switchboard_host::bus::{Mode, Outgoing, ServiceBuilder, SubscribeOptions};
use switchboard_host::caps::{
    Approval, ApprovalRequest, Capability, CapabilityKind, Policy, Scope,
};
use switchboard_host::package;
use switchboard_host::{current_target, Error, Host, Manifest, State};
use switchboard_sdk::manifest::Format;

use crate::examples::{self, Profile};

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct Options {
    /// Keep the host's state here instead of in a temporary directory.
    pub data_dir: Option<PathBuf>,
    /// Build the example plugins with this profile.
    pub profile: Profile,
}

/// One step of the demo, as reported.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    /// What the step did.
    pub title: String,
    /// Whether it went as the demo expects (expected refusals count as ok).
    pub ok: bool,
    /// What happened.
    pub detail: String,
}

/// Runs the demo, writing readable steps to `out` as it goes (unless `quiet`), and returns them.
pub fn run(options: &Options, out: &mut dyn Write, quiet: bool) -> Result<Vec<Step>> {
    let mut r = Report {
        out,
        quiet,
        steps: Vec::new(),
    };
    if !quiet {
        writeln!(
            r.out,
            "Switchboard demo: building the example plugins (first run takes a minute)…"
        )?;
        r.out.flush()?;
    }
    let hello_lib = examples::library(options.profile, "hello")?;
    let wordcount_lib = examples::library(options.profile, "wordcount")?;
    r.say(
        "Built the example plugins",
        true,
        format!("{}\n{}", hello_lib.display(), wordcount_lib.display()),
    )?;

    let temp;
    let data_dir: &Path = match &options.data_dir {
        Some(d) => d,
        None => {
            temp = tempfile::tempdir().context("cannot create a temporary data directory")?;
            temp.path()
        }
    };
    let files = data_dir.join("demo-files");
    let shared = files.join("shared");
    let private = files.join("private");
    std::fs::create_dir_all(&shared).context("cannot create the demo's files")?;
    std::fs::create_dir_all(&private).context("cannot create the demo's files")?;
    std::fs::write(shared.join("welcome.txt"), "Welcome to Switchboard!")?;
    std::fs::write(private.join("secret.txt"), "the host's secret")?;
    // Package and sign hello, as its author would (`switchboard keygen`, `pack`, `sign`).
    let keys = data_dir.join("demo-keys");
    if !keys.join(crate::authoring::SECRET_KEY_FILE).exists() {
        crate::authoring::keygen(&keys, true)?;
    }
    let manifest_path = examples::workspace_root().join("examples/hello/plugin.toml");
    let manifest = Manifest::parse(&std::fs::read_to_string(&manifest_path)?, Format::Toml)
        .map_err(|d| anyhow::anyhow!("{} is invalid: {}", manifest_path.display(), d[0]))?;
    let mut files = BTreeMap::new();
    files.insert(
        format!(
            "lib/{}/{}",
            current_target(),
            examples::library_file_name("hello")
        ),
        std::fs::read(&hello_lib)?,
    );
    // What `switchboard pack` writes: plugin.toml completed with what the library embeds.
    let manifest = switchboard_host::package_manifest(&manifest, &hello_lib).map_err(|d| {
        anyhow::anyhow!(
            "{} disagrees with its library: {}",
            manifest_path.display(),
            d[0]
        )
    })?;
    let built = package::build(&manifest, &files)?;
    let packages = data_dir.join("packages");
    std::fs::create_dir_all(&packages)?;
    let hello_pkg = packages.join(&built.file_name);
    std::fs::write(&hello_pkg, &built.bytes)?;
    crate::authoring::sign(&hello_pkg, &keys.join(crate::authoring::SECRET_KEY_FILE))?;
    let public_key = std::fs::read_to_string(keys.join(crate::authoring::PUBLIC_KEY_FILE))?;
    r.say(
        "Packed and signed hello, as its author would",
        true,
        format!(
            "{} ({} bytes, every file's sha256 pinned in its manifest)
signed by key {}",
            hello_pkg.display(),
            built.bytes.len(),
            package::key_id_of_public_key(&public_key).unwrap_or_default()
        ),
    )?;

    let mut policy = Policy::new();
    policy.allow(format!("fs.read:{}/**", shared.display()).parse::<Capability>()?);
    policy.block("process.spawn".parse::<Capability>()?);
    // For relay (events and services) and counter (state), loaded later.
    for cap in [
        "events.subscribe:host.**",
        "service.call:text.*",
        "service.provide:relay.echo",
    ] {
        policy.allow(cap.parse::<Capability>()?);
    }
    let logs = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = logs.clone();
    let mut builder = Host::builder();
    builder
        .data_dir(data_dir)
        .host_api("switchboard-demo", env!("CARGO_PKG_VERSION"))
        .policy(policy)
        .trust(public_key.clone())
        // The demo's approver: KV for good (stored in the database), nothing else.
        .approver(|r: &ApprovalRequest<'_>| match r.capability.kind() {
            CapabilityKind::Kv => Approval::Allow(Scope::Persistent),
            _ => Approval::Deny,
        })
        .on_log(move |r| {
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(format!("[{}] {}: {}", r.plugin, r.level, r.message));
        });
    // wordcount is loaded straight from `target/`, unsigned: development mode, opted into here.
    builder.dangerous().load_unsigned_libraries();
    let host = builder.build()?;
    r.say(
        "Created a host",
        true,
        format!(
            "data dir {}\ntrusts the demo key; unsigned development libraries allowed (dangerous option, for wordcount)",
            data_dir.display()
        ),
    )?;

    // A tampered copy first: one flipped byte in the library.
    let tampered_dir = packages.join("tampered");
    std::fs::create_dir_all(&tampered_dir)?;
    let tampered = tampered_dir.join(&built.file_name);
    let mut unpacked = package::unpack(&built.bytes, &Default::default())?;
    if let Some(lib) = unpacked.values_mut().find(|b| b.len() > 4096) {
        lib[4096] ^= 1;
    }
    std::fs::write(&tampered, package::write_archive(&unpacked)?)?;
    std::fs::copy(
        format!("{}.minisig", hello_pkg.display()),
        format!("{}.minisig", tampered.display()),
    )?;
    let refused = host.load_package(&tampered);
    r.say(
        "Offered a copy of the package with one flipped byte: refused before any of its code ran",
        refused.is_err(),
        refused.err().map(|e| describe(&e)).unwrap_or_default(),
    )?;

    let hello = host.load_package(&hello_pkg)?;
    r.say(
        "Verified and loaded the signed package: signature, manifest, file hashes, policy, compatibility, then the verified bytes",
        hello.trust() == switchboard_host::TrustLevel::Verified,
        format!(
            "hello is {} (signer {})",
            hello.trust(),
            hello.signer().unwrap_or("none")
        ),
    )?;
    let wordcount = host.load_unsigned(&wordcount_lib)?;
    let m = hello.manifest();
    r.say(
        "Read each plugin's embedded manifest before running any of its code, then loaded the verified bytes",
        true,
        format!(
            "{} {} (SDK ABI {}): commands {}\n{} {}: commands {}",
            m.name,
            m.version,
            m.sdk_abi,
            m.commands.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
            wordcount.name(),
            wordcount.version(),
            wordcount.manifest().commands.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
        ),
    )?;

    hello.start()?;
    wordcount.start()?;
    r.say(
        "Started both plugins",
        true,
        format!("hello: {}, wordcount: {}", hello.state(), wordcount.state()),
    )?;

    let greet = hello.command::<String, String>("greet")?;
    let reply = greet.call(&"Ada".to_string())?;
    r.say("Called hello.greet(\"Ada\")", true, reply)?;

    let add = hello.command::<AddRequest, AddResponse>("add")?;
    let sum = add.call(&AddRequest { a: 40, b: 2 })?;
    r.say(
        "Called hello.add({ a: 40, b: 2 }) with typed messages",
        sum.sum == 42,
        format!(
            "sum = {}, call #{} (contract {})",
            sum.sum,
            sum.calls,
            <AddRequest as switchboard_sdk::Message>::CONTRACT.id
        ),
    )?;

    let reverse = hello.command::<Payload, Payload>("reverse")?;
    let data: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    let back = reverse.call(&Payload { data: data.clone() })?;
    let ok = back.data.iter().rev().eq(data.iter());
    r.say(
        "Sent a 4 KiB payload to hello.reverse",
        ok,
        format!("{} bytes came back reversed", back.data.len()),
    )?;

    let checksum = hello.raw_command("checksum")?;
    let raw = checksum.call(b"switchboard")?;
    let value = raw
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0);
    r.say(
        "Called hello.checksum with raw bytes",
        true,
        format!("checksum(\"switchboard\") = {value}"),
    )?;

    let who = wordcount.command::<(), String>("whoami")?.call(&())?;
    let longest = host
        .command::<String, String>("wordcount", "longest_word")?
        .call(&"plugins are wonderful".to_string())?;
    r.say(
        "Called the second plugin, loaded side by side",
        who == "wordcount",
        format!("whoami = {who}, longest_word = {longest}"),
    )?;

    let granted = hello
        .grants()
        .iter()
        .map(|g| {
            format!(
                "granted {} ({}, by {})",
                g.capability(),
                g.scope(),
                g.source()
            )
        })
        .chain(
            hello
                .denied()
                .iter()
                .map(|(c, why)| format!("denied  {c}: {why}")),
        )
        .collect::<Vec<_>>()
        .join("\n");
    r.say(
        "Decided hello's capability requests at load, before any of its code ran (policy, then the approver)",
        hello.grants().iter().any(|g| g.capability().kind() == CapabilityKind::FsRead),
        granted,
    )?;

    let read_file = hello.command::<String, String>("read_file")?;
    let welcome = read_file.call(&shared.join("welcome.txt").display().to_string());
    r.say(
        "hello read a file inside its fs.read grant",
        welcome.is_ok(),
        match welcome {
            Ok(text) => text,
            Err(e) => describe(&e.into()),
        },
    )?;

    let outside = read_file.call(&private.join("secret.txt").display().to_string());
    r.say(
        "hello tried to read a file outside its grant: denied, and audited",
        outside
            .as_ref()
            .is_err_and(|e| e.code().to_string() == "SB0412"),
        outside
            .err()
            .map(|e| describe(&e.into()))
            .unwrap_or_else(|| "it was allowed!".into()),
    )?;

    let climb = read_file.call(&format!("{}/../private/secret.txt", shared.display()));
    r.say(
        "hello tried `../` to climb out of its grant: denied",
        climb.is_err(),
        climb
            .err()
            .map(|e| describe(&e.into()))
            .unwrap_or_else(|| "it was allowed!".into()),
    )?;

    let revoked = host.revoke("hello", &"fs.read".parse::<Capability>()?)?;
    let after_revoke = read_file.call(&shared.join("welcome.txt").display().to_string());
    r.say(
        "Revoked fs.read while hello runs: its next read is denied",
        revoked > 0
            && after_revoke
                .as_ref()
                .is_err_and(|e| e.code().to_string() == "SB0414"),
        after_revoke
            .err()
            .map(|e| describe(&e.into()))
            .unwrap_or_else(|| "it was allowed!".into()),
    )?;

    let mismatch = hello.command::<String, AddResponse>("add");
    r.say(
        "Asked for hello.add with the wrong types: refused at bind time",
        mismatch.is_err(),
        mismatch
            .err()
            .map(|e| describe(&e.into()))
            .unwrap_or_default(),
    )?;

    let crash = hello.command::<(), ()>("crash")?;
    let crashed = crash.call(&());
    r.say(
        "Called hello.crash, which panics on purpose: the panic is contained",
        crashed.is_err() && hello.state() == State::Failed,
        format!(
            "{}\nhello is now {}",
            crashed
                .err()
                .map(|e| describe(&e.into()))
                .unwrap_or_default(),
            hello.state()
        ),
    )?;

    let after = greet.call(&"Grace".to_string());
    r.say(
        "Called the failed plugin again: refused with a coded error",
        after.is_err(),
        after.err().map(|e| describe(&e.into())).unwrap_or_default(),
    )?;

    let still = wordcount.command::<(), String>("whoami")?.call(&());
    r.say(
        "The host and the other plugin keep working",
        still.is_ok(),
        format!("wordcount is {}", wordcount.state()),
    )?;

    let not_a_lib = examples::workspace_root().join("README.md");
    let refused = host.load_unsigned(&not_a_lib);
    r.say(
        "Tried to load README.md as a plugin: refused before anything ran",
        refused.is_err(),
        refused.err().map(|e| describe(&e)).unwrap_or_default(),
    )?;

    let history = hello
        .history()
        .iter()
        .map(|t| t.to.as_str())
        .collect::<Vec<_>>()
        .join(" → ");
    r.say("hello's lifecycle history", true, history)?;

    let lines = logs
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .join("\n");
    r.say(
        "What the plugins logged (routed by the host; plugins never print)",
        true,
        lines,
    )?;

    bus_and_state_tour(&mut r, &host, options.profile)?;

    wordcount.stop()?;
    r.say(
        "Stopped wordcount",
        wordcount.state() == State::Stopped,
        format!("wordcount is {}", wordcount.state()),
    )?;

    let report = host.audit().verify()?;
    let denials = host
        .audit()
        .query(&switchboard_host::AuditFilter::new().kind(switchboard_host::AuditKind::Deny))?
        .len();
    r.say(
        "The audit log recorded every grant, denial, revocation, load and state change, hash-chained",
        report.is_intact(),
        format!(
            "{} rows ({denials} denials), chain intact, head {}\ncheck it any time: switchboard audit verify --data-dir {}",
            report.rows,
            report.head.as_deref().unwrap_or("-"),
            data_dir.display()
        ),
    )?;
    Ok(r.steps)
}

/// The event bus, shared services and plugin state, with `relay` and `counter`.
fn bus_and_state_tour(r: &mut Report<'_>, host: &Host, profile: Profile) -> Result<()> {
    let relay = host.load_unsigned(examples::library(profile, "relay")?)?;
    let counter_toml = examples::workspace_root().join("examples/counter/plugin.toml");
    let counter_manifest = Manifest::parse(&std::fs::read_to_string(&counter_toml)?, Format::Toml)
        .map_err(|d| anyhow::anyhow!("{} is invalid: {}", counter_toml.display(), d[0]))?;
    let counter = host
        .load_unsigned_with_manifest(examples::library(profile, "counter")?, &counter_manifest)?;
    relay.start()?;
    counter.start()?;
    let bus = host.bus();
    r.say(
        "Loaded relay (events and services) and counter (state); relay's #[subscribe(\"host.>\")] joined the bus",
        true,
        bus.subscriptions()
            .iter()
            .map(|s| format!("subscription {} of {} on `{}`", s.id, s.owner, s.pattern))
            .collect::<Vec<_>>()
            .join("\n"),
    )?;

    bus.provide(
        ServiceBuilder::new("text.tools").method("upper", |s: String| Ok(s.to_uppercase())),
    )?;
    let shouted = relay
        .command::<String, String>("shout")?
        .call(&"hello, bus".to_string());
    r.say(
        "The host provided text.tools with a closure; relay called it (contracts checked at bind, service.call granted)",
        shouted.as_deref().ok() == Some("HELLO, BUS"),
        format!("{shouted:?}"),
    )?;

    let (tx, forwarded) = crossbeam_channel::unbounded();
    bus.subscribe(
        "plugin.relay.forwarded",
        SubscribeOptions::new().mode(Mode::Inline),
        move |e| {
            let _ = tx.send(e.clone());
            Ok(())
        },
    )?;
    bus.publish(Outgoing::new("host.file.saved", b"notes.md".to_vec()))?;
    let echo = forwarded.recv_timeout(Duration::from_secs(30));
    r.say(
        "Published host.file.saved; relay's handler republished it, in the same trace",
        echo.is_ok(),
        match &echo {
            Ok(e) => format!(
                "{} from {}: trace {}, caused by {}, {} hop",
                e.topic(),
                e.publisher(),
                e.trace_id(),
                e.causation_id().map(|c| c.to_string()).unwrap_or_default(),
                e.hops()
            ),
            Err(e) => e.to_string(),
        },
    )?;

    let n = 100_000u64;
    let started = Instant::now();
    bus.publish_batch("host.tick", (0..n).map(u64::to_le_bytes))?;
    let seen = relay.command::<(), u64>("seen")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.call(&()).unwrap_or(0) < n + 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    let elapsed = started.elapsed();
    let stats = bus
        .subscriptions()
        .into_iter()
        .find(|s| s.owner == "relay")
        .map(|s| s.stats);
    r.say(
        "Published 100,000 events in batches; relay's own worker handled them all (each republished too)",
        seen.call(&()).unwrap_or(0) == n + 1,
        format!(
            "{n} events through relay's handler in {elapsed:.0?}; its subscription: {}",
            stats
                .map(|s| format!(
                    "{} delivered, {} dropped, {} failed",
                    s.delivered,
                    s.dropped(),
                    s.failures
                ))
                .unwrap_or_default()
        ),
    )?;

    let incr = counter.command::<String, u64>("incr")?;
    let mut last = 0;
    for _ in 0..3 {
        last = incr.call(&"visits".to_string())?;
    }
    let stored = host.kv("counter").get("c/visits")?;
    r.say(
        "counter bumped a KV counter three times, each in a transaction, under its quota",
        last == 3 && stored.as_deref() == Some(&b"3"[..]),
        format!(
            "c/visits = {} in counter's namespace of the host database",
            stored
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_default()
        ),
    )?;

    let config = host.config("counter")?;
    r.say(
        "counter's effective configuration, and where each value came from",
        true,
        config
            .entries()
            .iter()
            .map(|(path, value, source)| format!("{path} = {value} ({source})"))
            .collect::<Vec<_>>()
            .join("\n"),
    )?;
    Ok(())
}

struct Report<'a> {
    out: &'a mut dyn Write,
    quiet: bool,
    steps: Vec<Step>,
}

impl Report<'_> {
    fn say(&mut self, title: &str, ok: bool, detail: String) -> Result<()> {
        if !self.quiet {
            writeln!(self.out, "{} {title}", if ok { "✓" } else { "✗" })?;
            for line in detail.lines() {
                writeln!(self.out, "    {line}")?;
            }
        }
        self.steps.push(Step {
            title: title.to_owned(),
            ok,
            detail,
        });
        Ok(())
    }
}

/// An error as the CLI shows it: code, message, next step.
pub fn describe(e: &Error) -> String {
    format!("{}: {}\nnext: {}", e.code(), e, e.next_step())
}

/// The steps as the JSON document `--json` prints.
pub fn to_json(steps: &[Step]) -> serde_json::Value {
    json!({
        "ok": steps.iter().all(|s| s.ok),
        "steps": steps,
    })
}
