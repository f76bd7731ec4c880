//! `switchboard install`, `update`, `rollback`, `remove`, `enable`, `disable`, `list` and
//! `generations`: the operator's commands over a host's installed generations
//! (`switchboard_host::install`).
//!
//! Each command opens the data directory as a host would (an operation a crash interrupted
//! is rolled back then, and reported), turns its arguments into one installer call, and
//! prints what changed — for people, or as one JSON document with `--json`. `install` and
//! `update` plan first: the packages are downloaded and verified, and the plan — versions,
//! changelog, compatibility warnings, and the capabilities each plugin asks for, in words,
//! with what the policy says of each — is shown before anything changes. Capabilities the
//! policy leaves to a person are asked about (`[y/N]`), or approved by `--yes`; with neither
//! a terminal nor `--yes`, the plan is declined and the command refuses (`SB0019`).

pub mod args;
pub mod health;
pub mod progress;
mod render;
pub mod review;
pub mod scan;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;
use switchboard_host::caps::Capability;
use switchboard_host::install::{
    CapabilityApproval, FileSource, InstallError, InstallOptions, InstallRequest, Installer,
    OperationReport, Plan, Recovery, RemoveOptions,
};
use switchboard_host::{Host, Policy};

use crate::output::{self, codes, CliError, Coded as _};
use args::{
    Common, InstallArgs, ListArgs, NameArgs, RemoveArgs, RollbackArgs, Sources, UpdateArgs,
};
use progress::PhaseProgress;
use render::{plan_text, print_json, recovered_json, report_json, report_text, table};

/// The CLI's own codes for the install commands (its range is `SB0019`–`SB0039`).
pub mod install_codes {
    use switchboard_host::ErrorCode;

    /// The capability review was not approved: answered no, or no terminal to ask on and no
    /// `--yes`. The plan was declined; nothing changed.
    pub const NOT_APPROVED: ErrorCode = ErrorCode::from_number(19);
    /// The plan made again with the approval asks for other capabilities than the one
    /// reviewed (a source changed meanwhile); nothing changed.
    pub const PLAN_CHANGED: ErrorCode = ErrorCode::from_number(20);
    /// A file the data directory keeps (`switchboard.db`, `policy.toml`, `host-api`) is there
    /// but is no regular file (a directory, a FIFO, a dangling link); refused, not taken as
    /// absent.
    pub const NOT_A_FILE: ErrorCode = ErrorCode::from_number(30);
}

/// Whether the data directory holds `path`: `false` when nothing is there, `true` for a
/// regular file (or a link to one), and SB0030 for anything else, which must not be taken for
/// "absent" (a database read as empty, a policy ignored).
fn kept_file(path: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        _ => {}
    }
    if std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return Ok(true);
    }
    Err(CliError::raise(
        install_codes::NOT_A_FILE,
        format!("{} is there but is not a regular file", path.display()),
        "move it away (a damaged switchboard.db can be restored from a copy in the data \
         directory's backups/), then run the command again",
    ))
}

/// Where the CLI remembers the host API a data directory's plugins are installed for, so
/// later commands check compatibility against the same one without `--host-api`.
pub const HOST_API_FILE: &str = "host-api";

/// The policy file a data directory may hold, used when `--policy` is not given.
pub const POLICY_FILE: &str = "policy.toml";

/// The largest policy file read (a real one is a few KiB).
const MAX_POLICY_BYTES: u64 = 1 << 20;

/// An opened data directory: the host, its installer, the policy applied, and what was
/// recovered on opening it.
struct Opened {
    installer: Installer,
    policy: Policy,
    recovered: Vec<Recovery>,
}

/// Opens the data directory as a host, with the installer's sources and progress.
fn open(common: &Common, sources: Option<&Sources>, progress: &PhaseProgress) -> Result<Opened> {
    let dir = crate::data_dir::resolve(common.data_dir.clone())?;
    let api = host_api(&dir, common.host_api.as_deref())?;
    let policy = policy(&dir, common.policy.as_deref())?;
    let mut builder = Host::builder();
    builder.data_dir(&dir).policy(policy.clone());
    if let Some((name, version)) = api {
        builder.host_api(name, version);
    }
    for key in trusted_keys(&dir, &common.trust)? {
        builder.trust(key);
    }
    for key in crate::certify::trusted_registry_keys(&dir)? {
        builder.trust_registry(key);
    }
    let host = builder.build()?;
    let mut installer = Installer::new(&host);
    for from in sources.map(|s| s.from.as_slice()).unwrap_or_default() {
        // Absolute, so the source recorded for `list` means the same from any directory.
        let from = std::path::absolute(from).unwrap_or_else(|_| from.clone());
        let source = FileSource::open(&from).map_err(switchboard_host::Error::from)?;
        for (path, why) in source.skipped() {
            progress.note(&format!("note: skipped {}: {why}", path.display()));
        }
        installer.source(source);
    }
    // The configured registries come after the `--from` sources: a name is taken from them
    // only when no file or directory given on the command line offers it.
    if let Some(sources) = sources {
        let configured = host
            .store()
            .registries()
            .list()
            .map_err(switchboard_host::Error::from)?;
        if !configured.is_empty() {
            let access = crate::registries::Access {
                offline: sources.offline,
                policy: common.policy.clone(),
            };
            let regs = crate::registries::open(&dir, &access)?;
            installer.source(switchboard_registry::RegistrySource::new(
                regs,
                sources.beta,
            ));
        }
    }
    installer.on_progress(progress.handler());
    let recovered = installer.recover()?;
    Ok(Opened {
        installer,
        policy,
        recovered,
    })
}

/// The host API to check plugins against: `--host-api`, remembered in the data directory
/// for the next command; else the one remembered; else none (the library's default).
fn host_api(dir: &Path, given: Option<&str>) -> Result<Option<(String, String)>> {
    let file = dir.join(HOST_API_FILE);
    if let Some(spec) = given {
        let (name, version) = crate::preflight::parse_host_api(spec)?;
        std::fs::create_dir_all(dir).coded(
            codes::WRITE,
            format_args!("cannot create {}", dir.display()),
            "check the path and its permissions",
        )?;
        std::fs::write(&file, format!("{name}@{version}\n")).coded(
            codes::WRITE,
            format_args!("cannot write {}", file.display()),
            "check the path, its permissions and the free space",
        )?;
        return Ok(Some((name, version)));
    }
    if !kept_file(&file)? {
        return Ok(None);
    }
    let text = crate::authoring::read_input(&file, "the remembered host API", 4096)?;
    let text = String::from_utf8_lossy(&text);
    crate::preflight::parse_host_api(text.trim()).map(Some)
}

/// `--policy FILE`, else `<data dir>/policy.toml`, else no rules (deny by default; a person
/// approves at the review).
fn policy(dir: &Path, given: Option<&Path>) -> Result<Policy> {
    let default = dir.join(POLICY_FILE);
    let path = match given {
        Some(p) => p.to_path_buf(),
        None if kept_file(&default)? => default,
        None => return Ok(Policy::new()),
    };
    let bytes = crate::authoring::read_input(&path, "the policy", MAX_POLICY_BYTES)?;
    let text = String::from_utf8(bytes).coded(
        codes::POLICY,
        format_args!("cannot read the policy {}", path.display()),
        "a policy is UTF-8 TOML",
    )?;
    Policy::from_toml(&text).map_err(|e| {
        crate::output::policy_error(
            format!("the policy {} is invalid: {e}", path.display()),
            &e,
            "fix the policy file (its format is in docs/packages.md, \"Policy\")",
        )
    })
}

/// The public keys the host trusts: the data directory's trust store (`switchboard trust
/// add`) and `--trust` files.
fn trusted_keys(dir: &Path, extra: &[PathBuf]) -> Result<Vec<String>> {
    let mut paths = Vec::new();
    let store = dir.join(crate::authoring::TRUST_DIR);
    if store.is_dir() {
        for entry in std::fs::read_dir(&store).coded(
            codes::DATA_DIR,
            format_args!("cannot read the trust store {}", store.display()),
            "check the directory's permissions",
        )? {
            let p = entry
                .coded(
                    codes::DATA_DIR,
                    format_args!("cannot read the trust store {}", store.display()),
                    "check the directory's permissions",
                )?
                .path();
            if p.extension().is_some_and(|e| e == "pub") {
                paths.push(p);
            }
        }
    }
    paths.sort();
    paths.extend(extra.iter().cloned());
    paths
        .iter()
        .map(|p| {
            let bytes = crate::authoring::read_input(p, "the public key", 64 << 10)?;
            String::from_utf8(bytes).coded(
                codes::BAD_KEY,
                format_args!("{} is not a minisign public key", p.display()),
                "pass the switchboard.pub file `switchboard keygen` wrote",
            )
        })
        .collect()
}

/// The answer to a question put on the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Yes,
    No,
    /// stdin is not a terminal: nobody to ask.
    NoTerminal,
}

fn ask(progress: &PhaseProgress, question: &str) -> Answer {
    if !std::io::stdin().is_terminal() {
        return Answer::NoTerminal;
    }
    progress.suspend(|| {
        output::eprint(question);
        let mut answer = String::new();
        if std::io::stdin().read_line(&mut answer).is_ok()
            && answer.trim().eq_ignore_ascii_case("y")
        {
            Answer::Yes
        } else {
            Answer::No
        }
    })
}

/// Whether the policy decides every capability the plan adds (so nobody needs asking).
fn policy_decides(policy: &Policy, plan: &Plan) -> bool {
    plan.changes.iter().all(|c| {
        c.new_capabilities.iter().all(|r| {
            r.parse::<Capability>()
                .is_ok_and(|cap| policy.verdict(&c.name, &cap).is_decided())
        })
    })
}

/// Notes on stderr for the operations rolled back when the data directory was opened.
fn note_recovered(recovered: &[Recovery], json: bool) {
    if json {
        return;
    }
    for r in recovered {
        output::eprint(&format!(
            "note: {} {} was interrupted in its {} phase and has been rolled back{}\n",
            r.kind,
            r.operation,
            r.phase,
            r.generation
                .map(|g| format!(": generation {g} is current"))
                .unwrap_or_default()
        ));
    }
}

/// What `install` and `update` share once the request is known: plan, review, apply.
fn plan_review_apply(
    opened: &Opened,
    common: &Common,
    sources: &Sources,
    progress: &PhaseProgress,
    plan_with: &dyn Fn(&Installer, &InstallOptions) -> Result<Plan, switchboard_host::Error>,
) -> Result<OperationReport> {
    let mut options = InstallOptions::new();
    options
        .locked(sources.locked)
        .allow_downgrade(sources.allow_downgrade);
    if common.yes {
        options.approval(CapabilityApproval::All);
    }
    let plan = plan_with(&opened.installer, &options)?;
    if !common.json {
        progress.suspend(|| {
            output::eprint(&format!(
                "{} {}:\n{}",
                plan.kind,
                plan.request,
                plan_text(&opened.policy, &plan)
            ))
        });
    }
    let plan = if plan.unchanged || common.yes || policy_decides(&opened.policy, &plan) {
        plan
    } else {
        let asked: Vec<String> = plan
            .new_capabilities()
            .into_iter()
            .map(|(p, c)| format!("{p}: {c}"))
            .collect();
        match ask(progress, "Grant these capabilities and go ahead? [y/N] ") {
            Answer::Yes => {
                // The approval is part of the plan: plan again with it. The packages are in
                // the store already, so nothing is downloaded twice.
                let reviewed = plan.new_capabilities();
                opened.installer.cancel(plan)?;
                options.approval(CapabilityApproval::All);
                let again = plan_with(&opened.installer, &options)?;
                if again.new_capabilities() != reviewed {
                    // A source changed while the question was open: what was approved is not
                    // what would be granted.
                    opened.installer.cancel(again)?;
                    return Err(CliError::raise(
                        install_codes::PLAN_CHANGED,
                        "the plan changed while the review was open; nothing changed",
                        "run the command again and review the new plan",
                    ));
                }
                again
            }
            answer => {
                opened.installer.cancel(plan)?;
                return Err(CliError::raise(
                    install_codes::NOT_APPROVED,
                    format!(
                        "not approved: {} ({}); nothing changed",
                        asked.join(", "),
                        if answer == Answer::NoTerminal {
                            "stdin is not a terminal to ask on"
                        } else {
                            "the answer was not `y`"
                        }
                    ),
                    "answer `y` on a terminal, pass --yes to approve what the review lists, or \
                     give a policy that decides these capabilities (--policy)",
                ));
            }
        }
    };
    Ok(opened.installer.apply(plan)?)
}

fn finish_operation(
    result: Result<OperationReport>,
    opened: &Opened,
    json: bool,
    progress: &PhaseProgress,
) -> Result<()> {
    progress.finish();
    let report = result?;
    if json {
        print_json(&report_json(&report, &opened.policy, &opened.recovered));
    } else {
        output::print(&report_text(&report));
    }
    Ok(())
}

/// `switchboard install NAME[@RANGE]|FILE.sbpkg …`.
pub fn install(args: &InstallArgs) -> Result<()> {
    let common = &args.common;
    let progress = PhaseProgress::new(common.json);
    let requests = args
        .requests
        .iter()
        .map(|r| match r.parse::<InstallRequest>()? {
            // Absolute, so the source recorded for `list` means the same from anywhere.
            InstallRequest::File(p) => {
                Ok(InstallRequest::File(std::path::absolute(&p).unwrap_or(p)))
            }
            other => Ok(other),
        })
        .collect::<Result<Vec<_>, InstallError>>()
        .map_err(switchboard_host::Error::from)?;
    let opened = open(common, Some(&args.sources), &progress)?;
    note_recovered(&opened.recovered, common.json);
    let result = plan_review_apply(&opened, common, &args.sources, &progress, &|i, o| {
        i.plan_install(&requests, o)
    });
    finish_operation(result, &opened, common.json, &progress)
}

/// `switchboard update [NAME|--all]`.
pub fn update(args: &UpdateArgs) -> Result<()> {
    let common = &args.common;
    let progress = PhaseProgress::new(common.json);
    let names: Vec<String> = if args.all {
        Vec::new()
    } else {
        args.name.iter().cloned().collect()
    };
    let opened = open(common, Some(&args.sources), &progress)?;
    note_recovered(&opened.recovered, common.json);
    let result = plan_review_apply(&opened, common, &args.sources, &progress, &|i, o| {
        i.plan_update(&names, o)
    });
    finish_operation(result, &opened, common.json, &progress)
}

/// `switchboard remove NAME [--with-dependents]`: plugins that depend on it are listed, and
/// removed too only with `--with-dependents`, `--yes` or a `y` on the terminal.
pub fn remove(args: &RemoveArgs) -> Result<()> {
    let common = &args.common;
    let progress = PhaseProgress::new(common.json);
    let opened = open(common, None, &progress)?;
    note_recovered(&opened.recovered, common.json);
    let mut options = RemoveOptions::new();
    options.with_dependents(args.with_dependents);
    let plan = match opened.installer.plan_remove(&args.name, &options) {
        Err(switchboard_host::Error::Install(InstallError::HasDependents { name, dependents })) => {
            let question = format!(
                "{} depend(s) on `{name}`: remove them too? [y/N] ",
                dependents.join(", ")
            );
            let yes = common.yes || ask(&progress, &question) == Answer::Yes;
            if !yes {
                return Err(switchboard_host::Error::from(InstallError::HasDependents {
                    name,
                    dependents,
                })
                .into());
            }
            options.with_dependents(true);
            opened.installer.plan_remove(&args.name, &options)?
        }
        other => other?,
    };
    if !common.json && !plan.dependents.is_empty() {
        progress.note(&format!(
            "removing with {}: {}",
            args.name,
            plan.dependents.join(", ")
        ));
    }
    let result = opened.installer.apply(plan).map_err(anyhow::Error::from);
    finish_operation(result, &opened, common.json, &progress)
}

/// `switchboard rollback [--to GENERATION]`: asks first (the plugins that change get back
/// their code and the data they had then), unless `--yes`.
pub fn rollback(args: &RollbackArgs) -> Result<()> {
    let common = &args.common;
    let progress = PhaseProgress::new(common.json);
    let opened = open(common, None, &progress)?;
    note_recovered(&opened.recovered, common.json);
    let generations = opened.installer.generations()?;
    let current = generations.iter().find(|g| g.current);
    let target = match args.to {
        Some(id) => generations.iter().find(|g| g.id.0 == id),
        None => generations
            .iter()
            .rev()
            .find(|g| current.is_none_or(|c| g.id < c.id)),
    };
    if let (Some(target), false) = (target, common.yes) {
        let question = format!(
            "make generation {} current again ({}), with the data its changed plugins had \
             then? [y/N] ",
            target.id,
            if target.plugins.is_empty() {
                "no plugins".to_owned()
            } else {
                target.plugins.join(", ")
            }
        );
        match ask(&progress, &question) {
            Answer::Yes => {}
            answer => {
                return Err(CliError::raise(
                    codes::NOT_CONFIRMED,
                    format!(
                        "not confirmed: generation {} was not made current ({})",
                        target.id,
                        if answer == Answer::NoTerminal {
                            "stdin is not a terminal to ask on"
                        } else {
                            "the answer was not `y`"
                        }
                    ),
                    "answer `y` on a terminal, or pass --yes to roll back without asking",
                ))
            }
        }
    }
    let to = args.to.map(switchboard_host::install::GenerationId);
    let result = opened.installer.rollback(to).map_err(anyhow::Error::from);
    finish_operation(result, &opened, common.json, &progress)
}

/// `switchboard enable NAME`.
pub fn enable(args: &NameArgs) -> Result<()> {
    let common = &args.common;
    let progress = PhaseProgress::new(common.json);
    let opened = open(common, None, &progress)?;
    note_recovered(&opened.recovered, common.json);
    let result = opened
        .installer
        .enable(&args.name)
        .map_err(anyhow::Error::from);
    finish_operation(result, &opened, common.json, &progress)
}

/// `switchboard disable NAME`: asks first when enabled plugins depend on it (they stop with
/// it), unless `--yes`.
pub fn disable(args: &NameArgs) -> Result<()> {
    let common = &args.common;
    let progress = PhaseProgress::new(common.json);
    let opened = open(common, None, &progress)?;
    note_recovered(&opened.recovered, common.json);
    if let Some(g) = opened.installer.current()? {
        let dependents: Vec<String> = g
            .graph()?
            .removal_impact(&args.name)
            .into_iter()
            .filter(|d| g.plugin(d).is_some_and(|p| p.enabled))
            .map(str::to_owned)
            .collect();
        if !dependents.is_empty() && !common.yes {
            let question = format!(
                "{} need(s) `{}` and will not run while it is disabled: disable it? [y/N] ",
                dependents.join(", "),
                args.name
            );
            if ask(&progress, &question) != Answer::Yes {
                return Err(CliError::raise(
                    codes::NOT_CONFIRMED,
                    format!(
                        "not confirmed: `{}` stays enabled ({} need it)",
                        args.name,
                        dependents.join(", ")
                    ),
                    "answer `y` on a terminal, or pass --yes to disable it without asking",
                ));
            }
        }
    }
    let result = opened
        .installer
        .disable(&args.name)
        .map_err(anyhow::Error::from);
    finish_operation(result, &opened, common.json, &progress)
}

/// Opens a data directory for reading: `None` when it holds no database yet (nothing is
/// installed, and nothing is created).
fn open_existing(data_dir: Option<PathBuf>, json: bool) -> Result<Option<Opened>> {
    let dir = crate::data_dir::resolve(data_dir.clone())?;
    if !kept_file(&dir.join(switchboard_host::DATABASE_FILE))? {
        return Ok(None);
    }
    let common = Common {
        data_dir: Some(dir),
        json,
        yes: false,
        policy: None,
        trust: Vec::new(),
        host_api: None,
    };
    let opened = open(&common, None, &PhaseProgress::new(true))?;
    note_recovered(&opened.recovered, json);
    Ok(Some(opened))
}

/// `switchboard list`: the current generation's plugins — name, version, state, trust,
/// source, generation.
pub fn list(args: &ListArgs) -> Result<()> {
    let Some(opened) = open_existing(args.data_dir.clone(), args.json)? else {
        if args.json {
            print_json(&json!({ "ok": true, "generation": null, "plugins": [] }));
        } else {
            output::print("nothing installed\n");
        }
        return Ok(());
    };
    let plugins = opened.installer.list()?;
    let generation = opened.installer.current()?.map(|g| g.id);
    if args.json {
        print_json(&json!({
            "ok": true,
            "generation": generation,
            "plugins": plugins,
            "recovered": recovered_json(&opened.recovered),
        }));
        return Ok(());
    }
    if plugins.is_empty() {
        output::print("nothing installed\n");
        return Ok(());
    }
    let rows: Vec<[String; 6]> = plugins
        .iter()
        .map(|p| {
            [
                p.name.clone(),
                p.version.to_string(),
                p.state.to_string(),
                p.trust.to_string(),
                p.source.clone(),
                p.generation.to_string(),
            ]
        })
        .collect();
    output::print(&table(
        ["NAME", "VERSION", "STATE", "TRUST", "SOURCE", "GENERATION"],
        &rows,
    ));
    Ok(())
}

/// `switchboard generations`: the kept generations, oldest first, the current one marked.
pub fn generations(args: &ListArgs) -> Result<()> {
    let Some(opened) = open_existing(args.data_dir.clone(), args.json)? else {
        if args.json {
            print_json(&json!({ "ok": true, "generations": [] }));
        } else {
            output::print("no generations yet\n");
        }
        return Ok(());
    };
    let generations = opened.installer.generations()?;
    if args.json {
        print_json(&json!({
            "ok": true,
            "generations": generations,
            "recovered": recovered_json(&opened.recovered),
        }));
        return Ok(());
    }
    if generations.is_empty() {
        output::print("no generations yet\n");
        return Ok(());
    }
    let rows: Vec<[String; 5]> = generations
        .iter()
        .map(|g| {
            [
                format!("{}{}", g.id, if g.current { " *" } else { "" }),
                g.created_at.to_string(),
                g.summary.clone(),
                if g.plugins.is_empty() {
                    "-".to_owned()
                } else {
                    g.plugins.join(", ")
                },
                g.operation.to_string(),
            ]
        })
        .collect();
    output::print(&table(
        ["GENERATION", "CREATED", "SUMMARY", "PLUGINS", "OPERATION"],
        &rows,
    ));
    Ok(())
}

/// Writes the error the way every command does; kept here so `main` stays a table.
pub fn exit_code(result: Result<()>, json: bool) -> std::process::ExitCode {
    match result {
        Ok(()) => {
            let _ = std::io::stdout().flush();
            std::process::ExitCode::SUCCESS
        }
        Err(e) => output::report_error(&e, json),
    }
}
