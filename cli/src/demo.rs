//! `switchboard demo`: builds the example plugins, loads them into a host and shows, step by
//! step, what Switchboard does — capabilities granted and denied, a revocation, a plugin that
//! panics and is contained, events and shared services on the bus, plugin state, installing,
//! updating (a release that asks for one more capability), rolling back, disabling, enabling
//! and removing hello as generations, hello run isolated in a sandboxed runner process (a
//! file read the kernel refuses, a segfault contained), two plugins extending a host's build
//! phase and command list through extension points, and the audit log that recorded it
//! all. With `--data-dir DIR` the grants and the audit log stay in DIR (`switchboard audit
//! verify --data-dir DIR`).
//!
//! Every step checks its outcome against what the demo expects (a refusal the demo provokes
//! counts as expected only with the code it should carry); the steps run on after one fails,
//! and [`verdict`] turns any failure into [`DemoError::StepsFailed`] (`SB0090`), which makes
//! `switchboard demo` exit 1.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use hello::{AddRequest, AddResponse, Chunk, Payload};
use serde_json::json;
use switchboard_host::bus::{Mode, Outgoing, ServiceBuilder, SubscribeOptions};
use switchboard_host::caps::{
    Approval, ApprovalRequest, Capability, CapabilityKind, Policy, Scope,
};
use switchboard_host::package;
use switchboard_host::{current_target, Error, Host, Manifest, State, TrustLevel};
use switchboard_sdk::manifest::Format;
use switchboard_sdk::ErrorCode;

use crate::examples::{self, Profile};

mod certify_tour;
mod extend_tour;
mod install_tour;
mod isolation_tour;
mod market_tour;
mod purchase_tour;
mod reload_tour;
mod reviews_tour;
mod server_tour;
mod stream_tour;

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct Options {
    /// Keep the host's state here instead of in a temporary directory.
    pub data_dir: Option<PathBuf>,
    /// Build the example plugins with this profile.
    pub profile: Profile,
    /// The runner for the isolation tour's isolated plugin and the certification tour's
    /// smoke calls; `None`: the one
    /// `RunnerCommand::locate` finds (the `switchboard` executable itself, whose `main` calls
    /// `switchboard_host::isolation::hook`). A test binary, which is not hooked, passes one.
    pub runner: Option<switchboard_host::isolation::RunnerCommand>,
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
    // Preflight reads a library's embedded manifest from its bytes, without loading it.
    let sections: Vec<_> = [&hello_lib, &wordcount_lib]
        .iter()
        .map(|lib| switchboard_host::preflight(lib, None))
        .collect();
    r.say(
        "Built the example plugins; each library carries its manifest in a section, read without loading it",
        sections.iter().all(|p| p.ok() && !p.diagnostics().iter().any(|d| d.is_error())),
        sections
            .iter()
            .map(|p| {
                let problems: Vec<String> = p.diagnostics().iter().map(|d| d.to_string()).collect();
                if problems.is_empty() {
                    format!("{}: section found and parsed", p.target.display())
                } else {
                    format!("{}: {}", p.target.display(), problems.join("; "))
                }
            })
            .collect::<Vec<_>>()
            .join("\n"),
    )?;

    let temp;
    let absolute;
    let data_dir: &Path = match &options.data_dir {
        // The demo's grants are absolute path patterns under the data directory.
        Some(d) => {
            absolute = std::path::absolute(d).map_err(|e| {
                crate::output::CliError::raise(
                    crate::output::codes::DATA_DIR,
                    format!("cannot use the data directory {}: {e}", d.display()),
                    "pass an absolute --data-dir",
                )
            })?;
            &absolute
        }
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
    let manifest = example_manifest(&manifest_path)?;
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
    let manifest = switchboard_host::package_manifest(&manifest, &hello_lib)
        .map_err(|d| manifest_refusal(&manifest_path, "disagrees with its library", &d))?;
    let built = package::build(&manifest, &files)?;
    let packages = data_dir.join("packages");
    std::fs::create_dir_all(&packages)?;
    let hello_pkg = packages.join(&built.file_name);
    std::fs::write(&hello_pkg, &built.bytes)?;
    crate::authoring::sign(&hello_pkg, &keys.join(crate::authoring::SECRET_KEY_FILE))?;
    let public_key_file = keys.join(crate::authoring::PUBLIC_KEY_FILE);
    let public_key = std::fs::read_to_string(&public_key_file)?;
    // What `switchboard verify --trust KEY.pub` reports for it.
    let (store, _) = crate::authoring::trust_store(None, std::slice::from_ref(&public_key_file))?;
    let profile = switchboard_host::HostProfile::new("switchboard-demo", env!("CARGO_PKG_VERSION"));
    let check = crate::authoring::verify(&hello_pkg, &store, Some(&profile))?;
    r.say(
        "Packed and signed hello, as its author would; `switchboard verify` with the author's key says verified",
        check.ok
            && check.trust.as_deref() == Some(TrustLevel::Verified.as_str())
            && !check.files.is_empty()
            && check.files.iter().all(|f| f.ok),
        format!(
            "{} ({} bytes, every file's sha256 pinned in its manifest)\nsigned by key {}, trust {}, {} file(s) match their pins",
            hello_pkg.display(),
            built.bytes.len(),
            check.signer.as_deref().unwrap_or("none"),
            check.trust.as_deref().unwrap_or("none"),
            check.files.iter().filter(|f| f.ok).count(),
        ),
    )?;

    registry_step(
        &mut r,
        data_dir,
        &hello_pkg,
        &public_key_file,
        &manifest.version.to_string(),
    )?;

    let mut policy = Policy::new();
    policy.allow(format!("fs.read:{}/**", shared.display()).parse::<Capability>()?);
    policy.block("process.spawn".parse::<Capability>()?);
    // For relay (events and services) and counter (state), loaded later.
    for cap in [
        "events.subscribe:host.**",
        "service.call:text.*",
        "service.provide:relay.echo",
        "config.read",
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
    // Health is checked at the step that shows it, not by the periodic thread meanwhile.
    builder.health_interval(None);
    let host = builder.build()?;
    let database = data_dir.join(switchboard_host::DATABASE_FILE);
    let audit_at_start = host.audit().verify()?;
    r.say(
        "Created a host: its database is open and its audit chain verifies",
        database.is_file() && audit_at_start.is_intact(),
        format!(
            "database {} ({} audit rows so far)\ntrusts the demo key; unsigned development libraries allowed (dangerous option, for wordcount)",
            database.display(),
            audit_at_start.rows,
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
        "Offered a copy of the package with one flipped byte: refused by its file hash (SB1203), nothing loaded",
        has_code(&refused, "SB1203") && host.plugin("hello").is_err(),
        outcome_or(refused.map(|_| ()), "it was loaded!"),
    )?;

    // Verification and loading as two calls, so what was verified can be shown before any
    // of the plugin's code runs.
    let verified = host.verify_package(&hello_pkg)?;
    let package_manifest = verified.package().manifest.clone();
    // hello's plugin.toml asks for memory and call-time limits, which this host cannot apply
    // in-process: verification says so rather than ignoring them.
    let limits = &package_manifest.limits;
    let inert_limits = [limits.memory_mb, limits.cpu_ms, limits.call_timeout_ms]
        .iter()
        .filter(|l| l.is_some())
        .count();
    let warned_limits = verified
        .warnings()
        .iter()
        .filter(|w| w.code == "SB1120")
        .count();
    r.say(
        "Verified hello's package without loading it: signature, file hashes, policy, compatibility, and plugin.toml against the library's embedded manifest",
        verified.package().trust == TrustLevel::Verified
            && host.plugin("hello").is_err()
            && warned_limits == inert_limits,
        format!(
            "{} {} (SDK ABI {}), {} (signer {}), not loaded yet\ncommands {}{}",
            package_manifest.name,
            package_manifest.version,
            package_manifest.requires.sdk_abi.as_deref().unwrap_or("?"),
            verified.package().trust,
            verified.package().signer.as_deref().unwrap_or("none"),
            package_manifest
                .provides
                .commands
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            verified
                .warnings()
                .iter()
                .map(|w| format!("\n{w}"))
                .collect::<String>(),
        ),
    )?;
    let hello = host.load_verified(verified)?;
    let m = hello.manifest();
    r.say(
        "Loaded the verified bytes: the loaded code's manifest is the one verified",
        hello.trust() == TrustLevel::Verified
            && m.version == package_manifest.version
            && same_commands(&m.commands, &package_manifest.provides.commands),
        format!(
            "hello {} is {}, {} commands with the contracts plugin.toml pins",
            m.version,
            hello.trust(),
            m.commands.len()
        ),
    )?;

    let wordcount = host.load_unsigned(&wordcount_lib)?;
    let wordcount_manifest = wordcount.manifest();
    let wordcount_commands: Vec<&str> = wordcount_manifest
        .commands
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    r.say(
        "Loaded wordcount straight from target/, unsigned (the development opt-in)",
        wordcount.trust() == TrustLevel::Unsigned
            && ["whoami", "longest_word"]
                .iter()
                .all(|c| wordcount_commands.contains(c)),
        format!(
            "{} {} is {}: commands {}",
            wordcount.name(),
            wordcount.version(),
            wordcount.trust(),
            wordcount_commands.join(", ")
        ),
    )?;

    hello.start()?;
    wordcount.start()?;
    r.say(
        "Started both plugins",
        hello.state() == State::Active && wordcount.state() == State::Active,
        format!("hello: {}, wordcount: {}", hello.state(), wordcount.state()),
    )?;

    let greet = hello.command::<String, String>("greet")?;
    let reply = greet.call(&"Ada".to_string())?;
    r.say(
        "Called hello.greet(\"Ada\")",
        greeting_ok("Ada", &reply),
        reply,
    )?;

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

    // The borrowed path: the request is read where `data` lies, the response where the plugin
    // wrote it in the host's buffer; the closure sees it without a copy into a new `Vec`.
    let echo = hello.command::<Chunk<'static>, Chunk<'static>>("echo")?;
    let (len, same) = echo.call_with(&Chunk { data: &data }, |reply| {
        (reply.data.len(), reply.data == data.as_slice())
    })?;
    r.say(
        "Echoed the 4 KiB through hello.echo, the response read in place (call_with)",
        same,
        format!("{len} bytes read where the plugin wrote them, equal to those sent"),
    )?;

    let checksum = hello.raw_command("checksum")?;
    let input = b"switchboard";
    let raw = checksum.call(input)?;
    let value = checksum_reply(&raw);
    let expected = byte_sum(input);
    r.say(
        "Called hello.checksum with raw bytes; the reply is the sum of the bytes sent",
        value == Some(expected),
        match value {
            Some(v) => format!("checksum(\"switchboard\") = {v} (expected {expected})"),
            None => format!(
                "the reply is {} bytes, not one little-endian u64",
                raw.len()
            ),
        },
    )?;

    let who = wordcount.command::<(), String>("whoami")?.call(&())?;
    let longest = host
        .command::<String, String>("wordcount", "longest_word")?
        .call(&"plugins are wonderful".to_string())?;
    r.say(
        "Called the second plugin, loaded side by side",
        who == "wordcount" && longest == "wonderful",
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
    // Policy narrows fs.read to the shared directory; the approver allows kv and nothing else.
    let kinds_granted: Vec<CapabilityKind> = hello
        .grants()
        .iter()
        .map(|g| g.capability().kind())
        .collect();
    r.say(
        "Decided hello's capability requests at load (policy, then the approver): fs.read and kv granted, fs.write denied",
        kinds_granted.contains(&CapabilityKind::FsRead)
            && kinds_granted.contains(&CapabilityKind::Kv)
            && !kinds_granted.contains(&CapabilityKind::FsWrite)
            && hello
                .denied()
                .iter()
                .any(|(c, _)| c.kind() == CapabilityKind::FsWrite),
        granted,
    )?;

    let read_file = hello.command::<String, String>("read_file")?;
    let welcome = read_file.call(&shared.join("welcome.txt").display().to_string());
    r.say(
        "hello read a file inside its fs.read grant",
        welcome.as_deref().ok() == Some("Welcome to Switchboard!"),
        match welcome {
            Ok(text) => text,
            Err(e) => describe(&e.into()),
        },
    )?;

    let hello_denials = switchboard_host::AuditFilter::new()
        .plugin("hello")
        .kind(switchboard_host::AuditKind::Deny);
    let denials_before = host.audit().query(&hello_denials)?.len();
    let outside = read_file.call(&private.join("secret.txt").display().to_string());
    let denials_after = host.audit().query(&hello_denials)?.len();
    r.say(
        "hello tried to read a file outside its grant: denied, and audited",
        outside
            .as_ref()
            .is_err_and(|e| e.code().to_string() == "SB0412")
            && denials_after > denials_before,
        outside
            .err()
            .map(|e| describe(&e.into()))
            .unwrap_or_else(|| "it was allowed!".into()),
    )?;

    let climb = read_file.call(&format!("{}/../private/secret.txt", shared.display()));
    r.say(
        "hello tried `../` to climb out of its grant: denied",
        climb
            .as_ref()
            .is_err_and(|e| e.code().to_string() == "SB0412"),
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
        mismatch
            .as_ref()
            .is_err_and(|e| e.code().to_string() == "SB0303"),
        mismatch
            .err()
            .map(|e| describe(&e.into()))
            .unwrap_or_default(),
    )?;

    let crash = hello.command::<(), ()>("crash")?;
    let crashed = crash.call(&());
    r.say(
        "Called hello.crash, which panics on purpose: the panic is contained",
        crashed
            .as_ref()
            .is_err_and(|e| e.code().to_string() == "SB0101")
            && hello.state() == State::Failed,
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
        after
            .as_ref()
            .is_err_and(|e| e.code().to_string() == "SB0304"),
        after.err().map(|e| describe(&e.into())).unwrap_or_default(),
    )?;

    let still = wordcount.command::<(), String>("whoami")?.call(&());
    r.say(
        "The host and the other plugin keep working",
        still.as_deref().ok() == Some("wordcount") && wordcount.state() == State::Active,
        format!("wordcount is {}", wordcount.state()),
    )?;

    health_step(&mut r, &host)?;

    let not_a_lib = examples::workspace_root().join("README.md");
    let refused = host.load_unsigned(&not_a_lib);
    r.say(
        "Tried to load README.md as a plugin: refused as not a dynamic library (SB0201)",
        has_code(&refused, "SB0201"),
        outcome_or(refused.map(|_| ()), "it was loaded!"),
    )?;

    let history: Vec<&str> = hello.history().iter().map(|t| t.to.as_str()).collect();
    r.say(
        "hello's lifecycle history: loaded, started, failed",
        history == ["loaded", "starting", "active", "failed"],
        history.join(" → "),
    )?;

    let lines = logs
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .join("\n");
    r.say(
        "What the plugins logged (routed by the host; plugins never print): hello's greeting is there",
        lines
            .lines()
            .any(|l| l.starts_with("[hello]") && l.contains("greeting Ada")),
        lines,
    )?;

    bus_and_state_tour(&mut r, &host, options.profile)?;
    // A tour that cannot get going (its server refuses the demo's key, say) is one failed
    // step; the demo goes on to the others and ends with SB0090.
    let installed = install_tour::run(
        &mut r,
        data_dir,
        options.profile,
        &keys.join(crate::authoring::SECRET_KEY_FILE),
        &public_key_file,
    );
    tour_outcome(&mut r, "Installs: the tour could not run", installed)?;

    let served = server_tour::run(
        &mut r,
        &data_dir.join("registry-server"),
        options.profile,
        &keys.join(crate::authoring::SECRET_KEY_FILE),
        &public_key_file,
    );
    tour_outcome(&mut r, "Registry server: the tour could not run", served)?;

    let certified = certify_tour::run(
        &mut r,
        &data_dir.join("certify"),
        options.profile,
        &keys.join(crate::authoring::SECRET_KEY_FILE),
        &public_key_file,
        options.runner.clone(),
    );
    tour_outcome(&mut r, "Certification: the tour could not run", certified)?;

    let outcome = reload_tour::run(&mut r, &data_dir.join("reload"), options.profile);
    tour_outcome(&mut r, "Hot reload: the tour could not run", outcome)?;

    let outcome = extend_tour::run(&mut r, &data_dir.join("extend"), options.profile);
    tour_outcome(&mut r, "Extension points: the tour could not run", outcome)?;

    let outcome = stream_tour::run(&mut r, &data_dir.join("stream"), options.profile);
    tour_outcome(
        &mut r,
        "Streaming and usage: the tour could not run",
        outcome,
    )?;

    let outcome = market_tour::run(&mut r);
    tour_outcome(
        &mut r,
        "Marketplace: the ledger tour could not run",
        outcome,
    )?;
    let bought = purchase_tour::run(
        &mut r,
        &data_dir.join("purchase"),
        options.profile,
        &keys.join(crate::authoring::SECRET_KEY_FILE),
        &public_key_file,
    );
    tour_outcome(
        &mut r,
        "Marketplace: the purchase tour could not run",
        bought,
    )?;

    let isolated = isolation_tour::run(
        &mut r,
        isolation_tour::Setup {
            data_dir: &data_dir.join("isolation"),
            hello: &hello_lib,
            wordcount: &wordcount_lib,
            shared: &shared,
            secret: &private.join("secret.txt"),
            runner: options.runner.clone(),
        },
    );
    tour_outcome(&mut r, "Isolated mode: the tour could not run", isolated)?;

    wordcount.stop()?;
    r.say(
        "Stopped wordcount",
        wordcount.state() == State::Stopped,
        format!("wordcount is {}", wordcount.state()),
    )?;

    let report = host.audit().verify()?;
    let count = |kind| -> Result<usize> {
        Ok(host
            .audit()
            .query(&switchboard_host::AuditFilter::new().kind(kind))?
            .len())
    };
    use switchboard_host::AuditKind;
    let denials = count(AuditKind::Deny)?;
    // Each kind the demo caused must be there: grants at load, denials, the fs.read
    // revocation, the loads, the lifecycle changes.
    let mut every_kind = true;
    for kind in [
        AuditKind::Grant,
        AuditKind::Deny,
        AuditKind::Revoke,
        AuditKind::Load,
        AuditKind::State,
    ] {
        every_kind &= count(kind)? > 0;
    }
    r.say(
        "The audit log recorded every grant, denial, revocation, load and state change, hash-chained",
        report.is_intact() && every_kind,
        format!(
            "{} rows ({denials} denials), chain {}, head {}\n{}",
            report.rows,
            if report.is_intact() { "intact" } else { "BROKEN" },
            report.head.as_deref().unwrap_or("-"),
            match &options.data_dir {
                Some(dir) => format!(
                    "check it any time: switchboard audit verify --data-dir {}",
                    dir.display()
                ),
                None => "this run's data directory is temporary: run the demo with --data-dir DIR \
                         to keep it, then `switchboard audit verify --data-dir DIR`"
                    .to_owned(),
            }
        ),
    )?;
    Ok(r.steps)
}

/// Publishes hello to a registry in the data directory, adds it, searches it and shows info
/// (`crate::discover::demo_tour`); each claim is checked.
/// One round of health checks after hello's panic: hello unhealthy with the reason,
/// wordcount healthy, and the change published on `system.plugin.health` once.
fn health_step(r: &mut Report<'_>, host: &Host) -> Result<()> {
    let (tx, published) = crossbeam_channel::unbounded();
    let id = host.bus().subscribe(
        switchboard_host::HEALTH_TOPIC,
        SubscribeOptions::new().mode(Mode::Inline),
        move |e| {
            let _ = tx.send(String::from_utf8_lossy(e.payload()).into_owned());
            Ok(())
        },
    )?;
    let report = host.check_health();
    host.bus().unsubscribe(id)?;
    let events: Vec<String> = published.try_iter().collect();
    let state = |name: &str| report.plugin(name).map(|p| p.status.state);
    let hello_failed = report
        .plugin("hello")
        .is_some_and(|p| p.status.has(switchboard_host::health_codes::FAILED));
    let mut detail = String::new();
    for p in &report.plugins {
        detail.push_str(&format!("{}: {}\n", p.plugin, p.status.state));
        for reason in &p.status.reasons {
            detail.push_str(&format!("  {reason}\n"));
        }
    }
    detail.push_str(&format!("published on {}:", switchboard_host::HEALTH_TOPIC));
    for e in &events {
        detail.push_str(&format!("\n  {e}"));
    }
    r.say(
        "Checked every plugin's health: hello is unhealthy (it panicked), wordcount healthy; the change was published once",
        state("hello") == Some(switchboard_host::HealthState::Unhealthy)
            && hello_failed
            && state("wordcount") == Some(switchboard_host::HealthState::Healthy)
            && events.len() == 1
            && events[0].contains("\"plugin\":\"hello\""),
        detail,
    )
}

fn registry_step(
    r: &mut Report<'_>,
    data_dir: &Path,
    package: &Path,
    publisher_key: &Path,
    version: &str,
) -> Result<()> {
    let host_api = format!("switchboard-demo@{}", env!("CARGO_PKG_VERSION"));
    let tour = crate::discover::demo_tour(data_dir, package, publisher_key, &host_api)?;
    r.say(
        "Published hello to a registry in the data directory (sparse index, signed snapshot and timestamp)",
        tour.publish_ok,
        format!("{}
in {}", tour.published, tour.registry.display()),
    )?;
    let hit = tour.page.hits.first();
    r.say(
        "Added the registry (root pinned from its 1.root.json) and searched it: `search hello --compatible --trust verified` finds hello",
        hit.is_some_and(|h| h.name == "hello" && h.registry == "demo" && h.version.to_string() == version),
        crate::discover::search_text(&tour.page),
    )?;
    let selected = tour.info.selected.as_ref();
    let compatible = tour
        .info
        .compatibility
        .first()
        .is_some_and(|c| c.is_compatible());
    r.say(
        "`switchboard info demo:hello`: its version, trust, signer, capabilities and compatibility with this host",
        selected.is_some_and(|s| {
            s.version.to_string() == version
                && s.trust == TrustLevel::Verified
                && !s.capabilities.is_empty()
        }) && compatible,
        crate::discover::info_text(&tour.info),
    )?;
    Ok(())
}

/// An example's `plugin.toml`; an invalid one is `SB0012` with its first finding.
fn example_manifest(path: &Path) -> Result<Manifest> {
    Manifest::parse(&std::fs::read_to_string(path)?, Format::Toml)
        .map_err(|d| manifest_refusal(path, "is invalid", &d))
}

/// `SB0012` naming `path` and the first of `findings` (there may be none to name).
fn manifest_refusal(
    path: &Path,
    what: &str,
    findings: &[switchboard_host::Diagnostic],
) -> anyhow::Error {
    let first = findings
        .first()
        .map(|d| format!(": {d}"))
        .unwrap_or_default();
    crate::output::CliError::raise(
        crate::output::codes::MANIFEST,
        format!("{} {what}{first}", path.display()),
        "fix the example's plugin.toml (`switchboard preflight` on its crate), or restore it \
         from the repository",
    )
}

/// The event bus, shared services and plugin state, with `relay` and `counter`.
fn bus_and_state_tour(r: &mut Report<'_>, host: &Host, profile: Profile) -> Result<()> {
    let relay = host.load_unsigned(examples::library(profile, "relay")?)?;
    let counter_toml = examples::workspace_root().join("examples/counter/plugin.toml");
    let counter_manifest = example_manifest(&counter_toml)?;
    let counter = host
        .load_unsigned_with_manifest(examples::library(profile, "counter")?, &counter_manifest)?;
    relay.start()?;
    counter.start()?;
    let bus = host.bus();
    let subscriptions = bus.subscriptions();
    r.say(
        "Loaded relay (events and services) and counter (state); relay's #[subscribe(\"host.>\")] joined the bus",
        relay.state() == State::Active
            && counter.state() == State::Active
            && subscribed(
                subscriptions
                    .iter()
                    .map(|s| (s.owner.as_str(), s.pattern.as_str())),
                "relay",
                "host.>",
            ),
        subscriptions
            .iter()
            .map(|s| {
                format!(
                    "subscription {} of {} on `{}`: a queue of {} (asked for by the plugin, within the host's [delivery] policy)",
                    s.id, s.owner, s.pattern, s.stats.capacity
                )
            })
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
    // The original too, to compare its ids with the republished event's.
    let (tx, original) = crossbeam_channel::unbounded();
    bus.subscribe(
        "host.file.saved",
        SubscribeOptions::new().mode(Mode::Inline),
        move |e| {
            let _ = tx.send((e.id(), e.trace_id()));
            Ok(())
        },
    )?;
    bus.publish(Outgoing::new("host.file.saved", b"notes.md".to_vec()))?;
    let original = original.recv_timeout(Duration::from_secs(30)).ok();
    let echo = forwarded.recv_timeout(Duration::from_secs(30));
    r.say(
        "Published host.file.saved; relay's handler republished it, in the same trace",
        echo.as_ref().is_ok_and(|e| {
            e.topic() == "plugin.relay.forwarded"
                && e.publisher() == "relay"
                && original.is_some_and(|(id, trace)| {
                    e.causation_id() == Some(id) && e.trace_id() == trace
                })
                && e.hops() == 1
        }),
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
    // A data dir kept from an earlier run already holds a count: the demo adds three to it.
    let before = counter
        .command::<String, u64>("value")?
        .call(&"visits".to_string())?;
    let mut last = 0;
    for _ in 0..3 {
        last = incr.call(&"visits".to_string())?;
    }
    let stored = host.kv("counter").get("c/visits")?;
    let expected = before + 3;
    r.say(
        "counter bumped a KV counter three times, each in a transaction, under its quota",
        last == expected && stored.as_deref() == Some(expected.to_string().as_bytes()),
        format!(
            "c/visits = {} in counter's namespace of the host database",
            stored
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_default()
        ),
    )?;

    let config = host.config("counter")?;
    let entries = config.entries();
    let defaults = counter_manifest
        .config
        .as_ref()
        .map(|c| c.defaults.clone())
        .unwrap_or_default();
    r.say(
        "counter's effective configuration, and where each value came from: its plugin.toml defaults",
        !defaults.is_empty()
            && defaults.iter().all(|(key, value)| {
                entries
                    .iter()
                    .any(|(path, v, _)| path == key && v == value)
            }),
        entries
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

/// A tour's own error as a failed step (its steps so far are recorded already); an error
/// writing the report still ends the demo.
fn tour_outcome(r: &mut Report<'_>, title: &str, outcome: Result<()>) -> Result<()> {
    match outcome {
        Ok(()) => Ok(()),
        Err(e) => r.say(title, false, format!("{e:#}")),
    }
}

/// An error as the CLI shows it: code, message, next step.
pub fn describe(e: &Error) -> String {
    format!("{}: {}\nnext: {}", e.code(), e.message(), e.next_step())
}

/// The detail of an outcome the demo expected to be refused: the error, or `unexpected`.
fn outcome_or(outcome: Result<(), Error>, unexpected: &str) -> String {
    match outcome {
        Ok(()) => unexpected.to_owned(),
        Err(e) => describe(&e),
    }
}

/// Whether an outcome is a refusal with this code.
fn has_code<T>(outcome: &Result<T, Error>, code: &str) -> bool {
    outcome
        .as_ref()
        .is_err_and(|e| e.code().to_string() == code)
}

/// What hello's `greet` must answer.
fn greeting_ok(name: &str, reply: &str) -> bool {
    reply == format!("Hello, {name}!")
}

/// The checksum the demo expects from hello's `checksum`: the sum of the bytes.
fn byte_sum(input: &[u8]) -> u64 {
    input.iter().map(|&b| u64::from(b)).sum()
}

/// `checksum`'s reply as a number: exactly one little-endian `u64`, or nothing.
fn checksum_reply(raw: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(raw).ok().map(u64::from_le_bytes)
}

/// Whether `owner` holds a subscription on exactly `pattern`, among `(owner, pattern)` pairs.
fn subscribed<'a>(
    subscriptions: impl IntoIterator<Item = (&'a str, &'a str)>,
    owner: &str,
    pattern: &str,
) -> bool {
    subscriptions
        .into_iter()
        .any(|(o, p)| o == owner && p == pattern)
}

/// Whether the loaded code's commands are the ones `plugin.toml` pins, contracts included.
fn same_commands(
    loaded: &[switchboard_sdk::CommandDecl],
    pinned: &[switchboard_sdk::CommandDecl],
) -> bool {
    loaded == pinned
}

/// Why the demo failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// Steps did not behave as the demo expects.
    #[error("{} of the demo's {total} steps did not behave as expected: {}", .failed.len(), .failed.join("; "))]
    StepsFailed {
        /// The titles of the steps that failed, in order.
        failed: Vec<String>,
        /// How many steps ran.
        total: usize,
    },
}

impl DemoError {
    /// The stable code: `SB0090`.
    pub fn code(&self) -> ErrorCode {
        match self {
            DemoError::StepsFailed { .. } => ErrorCode::from_number(90),
        }
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        match self {
            DemoError::StepsFailed { .. } => "read the details under each ✗ step (with `--json`, the steps whose `ok` is false): each shows what happened instead, with its code and next step".into(),
        }
    }
}

/// The demo's verdict on its steps: every one behaved as expected, or the error naming those
/// that did not.
pub fn verdict(steps: &[Step]) -> Result<(), DemoError> {
    let failed: Vec<String> = steps
        .iter()
        .filter(|s| !s.ok)
        .map(|s| s.title.clone())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(DemoError::StepsFailed {
            failed,
            total: steps.len(),
        })
    }
}

/// The steps as the JSON document `--json` prints: `{ "ok", "steps" }`, and `"error": { "code",
/// "message", "next_step" }` when a step failed.
pub fn to_json(steps: &[Step]) -> serde_json::Value {
    let mut doc = json!({
        "ok": steps.iter().all(|s| s.ok),
        "steps": steps,
    });
    if let Err(e) = verdict(steps) {
        doc["error"] = crate::output::error_json(e.code(), &e, e.next_step());
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_example_manifest_is_a_coded_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plugin.toml");
        std::fs::write(&path, "name = 3\n").unwrap();
        let e = example_manifest(&path).unwrap_err();
        let (code, _) = crate::output::code_of(&e);
        assert_eq!(code, "SB0012", "{e:#}");
        assert!(e.to_string().contains("plugin.toml"), "{e:#}");
    }

    fn step(title: &str, ok: bool) -> Step {
        Step {
            title: title.into(),
            ok,
            detail: String::new(),
        }
    }

    #[test]
    fn a_failing_step_fails_the_verdict_with_sb0090_naming_it() {
        let steps = [step("one", true), step("two", false), step("three", true)];
        let e = verdict(&steps).unwrap_err();
        assert_eq!(e.code().to_string(), "SB0090");
        assert_eq!(
            e.to_string(),
            "1 of the demo's 3 steps did not behave as expected: two"
        );
        let doc = to_json(&steps);
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["error"]["code"], "SB0090");
    }

    #[test]
    fn steps_that_all_pass_give_a_clean_verdict() {
        let steps = [step("one", true), step("two", true)];
        assert_eq!(verdict(&steps), Ok(()));
        let doc = to_json(&steps);
        assert_eq!(doc["ok"], true);
        assert!(doc.get("error").is_none());
    }

    #[test]
    fn a_wrong_greeting_is_caught() {
        assert!(greeting_ok("Ada", "Hello, Ada!"));
        assert!(!greeting_ok("Ada", "Hello, Grace!"));
        assert!(!greeting_ok("Ada", ""));
    }

    #[test]
    fn a_wrong_or_malformed_checksum_is_caught() {
        let input = b"switchboard";
        let expected = byte_sum(input);
        assert_eq!(expected, 1178);
        assert_eq!(checksum_reply(&expected.to_le_bytes()), Some(expected));
        assert_ne!(
            checksum_reply(&(expected + 1).to_le_bytes()),
            Some(expected)
        );
        // Short, long and empty replies are not read as a number.
        assert_eq!(checksum_reply(&expected.to_le_bytes()[..7]), None);
        assert_eq!(checksum_reply(&[0; 9]), None);
        assert_eq!(checksum_reply(&[]), None);
    }

    #[test]
    fn a_missing_subscription_is_caught() {
        let subs = [("host", "host.>"), ("relay", "host.*")];
        assert!(!subscribed(subs, "relay", "host.>"));
        assert!(subscribed(subs, "relay", "host.*"));
        assert!(!subscribed([], "relay", "host.>"));
    }
}
