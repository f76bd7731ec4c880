//! The golden harness (SPEC S10.1, issue 22 item 5): every example plugin in [`SUBJECTS`] goes
//! through its whole life against a local signed registry — publish → install (disabled) →
//! enable → call → update → call → rollback → call → disable → enable → remove — with an
//! error injected at each install phase of the update in turn (the previous generation must
//! stay current, active and callable, with no partial state and a clean journal), and then
//! through the **compatibility matrix**: each release (the built version and the update) ×
//! host API versions × declared SDK ABIs, installed into a real host, each cell `passed`,
//! `failed` or `refused` with the code. The matrix is written to
//! `<target dir>/golden/compat-matrix.md` and `.json` before the expectations are asserted,
//! so a failing run still leaves the evidence.
//!
//! Adding a plugin is one line in [`SUBJECTS`]: with [`smoke`] as its check the harness makes
//! the `[[test.calls]]` of its `plugin.toml` at every step (they must be repeatable: state
//! carries over an update); a plugin with state gets a check of its own (see [`counter`]).
//!
//! Releases are the built libraries with their embedded manifest edited (the version; the
//! declared SDK ABI) and re-signed: nothing is rebuilt.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use switchboard_host::extend::{ExtensionPoint, PointKind};
use switchboard_host::install::failpoints::{self, fail};
use switchboard_host::install::{
    GenerationId, InstallOptions, InstallRequest, InstallState, Installer, OperationStatus,
    RemoveOptions,
};
use switchboard_host::package::build;
use switchboard_host::{current_target, Host, Manifest, Policy, State};
use switchboard_registry::publish::{init, publish, InitOptions, PublishOptions};
use switchboard_registry::registries::{self, AddOptions, Location, OpenOptions};
use switchboard_registry::{Registries, RegistrySource};
use switchboard_sdk::manifest::{Format, SmokeCall};
use switchboard_sdk::{decode, encode, Message, SDK_ABI_MAJOR, SDK_ABI_MINOR};
use switchboard_tests::packages::{keys, sign, workspace, write};
use switchboard_tests::releases::{self, install_lock};
use switchboard_tests::{canary_lock, library, manifest_section};

/// One example plugin in the harness: its package name, the check that proves it works, and
/// what a host must offer it before it is installed (extension points).
struct Subject {
    plugin: &'static str,
    check: Check,
    prepare: fn(&Host),
}

impl Subject {
    /// A plugin any host can run.
    const fn new(plugin: &'static str, check: Check) -> Subject {
        Subject {
            plugin,
            check,
            prepare: |_| {},
        }
    }

    /// A plugin whose host must be prepared first (e.g. declare the points it extends).
    const fn with_host(self, prepare: fn(&Host)) -> Subject {
        Subject { prepare, ..self }
    }
}

/// A check made at each step: it calls the plugin through `host` and returns what it saw
/// (for the report), or why the plugin did not do what it should.
type Check = fn(&Host, &str, Step) -> Result<String, String>;

/// The example plugins, one line each.
const SUBJECTS: &[Subject] = &[
    Subject::new("hello", hello),
    Subject::new("wordcount", wordcount),
    Subject::new("counter", counter),
    Subject::new("relay", relay),
    Subject::new("instrument", instrument),
    Subject::new("canary", canary),
    Subject::new("pipeline-lint", pipeline_lint).with_host(pipeline_host),
    Subject::new("pipeline-stamp", pipeline_stamp).with_host(pipeline_host),
    Subject::new("notes", smoke),
    Subject::new("notes-search", smoke),
    Subject::new("notes-export", notes_export).with_host(notes_host),
    Subject::new("notes-reminder", notes_reminder),
];

/// Where in its life a plugin is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Installed and enabled: the first call.
    Enabled,
    /// Updated to the second release.
    Updated,
    /// Rolled back to the first release (and its data as it was left).
    RolledBack,
    /// An update failed at a phase; the first release must run, its data untouched.
    Recovered,
    /// Enabled again after a disable (data kept).
    Reenabled,
    /// A matrix cell: a fresh install.
    Cell,
}

// ---------------------------------------------------------------------------------------
// The checks.

fn call<Req: Message, Resp: Message>(
    host: &Host,
    plugin: &str,
    command: &str,
    req: &Req,
) -> Result<Resp, String> {
    host.command::<Req, Resp>(plugin, command)
        .map_err(|e| format!("{command}: cannot bind: {e}"))?
        .call(req)
        .map_err(|e| format!("{command}: {e}"))
}

fn expect_eq<T: PartialEq + std::fmt::Debug>(
    what: &str,
    got: T,
    want: T,
) -> Result<String, String> {
    if got == want {
        Ok(format!("{what} = {got:?}"))
    } else {
        Err(format!("{what}: expected {want:?}, got {got:?}"))
    }
}

fn hello(host: &Host, _: &str, _: Step) -> Result<String, String> {
    let got: String = call(host, "hello", "greet", &"Ada".to_string())?;
    expect_eq("greet(\"Ada\")", got.as_str(), "Hello, Ada!")
}

fn wordcount(host: &Host, _: &str, _: Step) -> Result<String, String> {
    let got: String = call(
        host,
        "wordcount",
        "longest_word",
        &"a golden harness".to_string(),
    )?;
    expect_eq(
        "longest_word(\"a golden harness\")",
        got.as_str(),
        "harness",
    )
}

/// Counter keeps state in the host's KV store: an update carries it over, a rollback brings
/// back what it was when the first release was left, a failed update leaves it untouched.
fn counter(host: &Host, _: &str, step: Step) -> Result<String, String> {
    let key = "golden".to_string();
    let incr = || call::<String, u64>(host, "counter", "incr", &key);
    let value = || call::<String, u64>(host, "counter", "value", &key);
    match step {
        // The first call of a fresh install.
        Step::Enabled => expect_eq("incr(golden)", incr()?, 1),
        // A matrix cell: whatever an earlier cell left, incr adds one.
        Step::Cell => {
            let before = value()?;
            expect_eq("incr(golden) - value(golden)", incr()? - before, 1)
        }
        // The update kept the data: 1 → 2.
        Step::Updated => expect_eq("incr(golden) after the update", incr()?, 2),
        // The rollback restored the data as the first release left it (1): incr → 2 again.
        Step::RolledBack => {
            expect_eq("value(golden) after the rollback", value()?, 1)?;
            expect_eq("incr(golden) after the rollback", incr()?, 2)
        }
        Step::Recovered => expect_eq("value(golden) after the failed update", value()?, 1),
        Step::Reenabled => expect_eq("value(golden) after disable and enable", value()?, 2),
    }
}

/// Relay calls itself through the host's service registry (`relay.echo`).
fn relay(host: &Host, _: &str, _: Step) -> Result<String, String> {
    let echo: String = call(host, "relay", "echo", &"golden".to_string())?;
    expect_eq("echo(\"golden\")", echo.as_str(), "golden")?;
    expect_eq(
        "bounce(3)",
        call::<u32, u32>(host, "relay", "bounce", &3)?,
        3,
    )
}

fn instrument(host: &Host, _: &str, _: Step) -> Result<String, String> {
    let n: u64 = call(
        host,
        "instrument",
        "count_tokens",
        &"one two three".to_string(),
    )?;
    expect_eq("count_tokens(\"one two three\")", n, 3)
}

fn canary(host: &Host, _: &str, _: Step) -> Result<String, String> {
    let got: String = call(host, "canary", "sing", &())?;
    expect_eq("sing()", got.as_str(), "tweet")
}

/// `pipeline.build` (an operation on a job's name) and `pipeline.commands` (a registry).
type PipelinePoints = (ExtensionPoint<String, String>, ExtensionPoint<(), String>);

/// The points `host-pipeline` declares, as that host declares them.
fn pipeline_points(host: &Host) -> Result<PipelinePoints, String> {
    let build = host
        .extension_point::<String, String>("pipeline.build", PointKind::Operation)
        .map_err(|e| e.to_string())?;
    let commands = host
        .extension_point::<(), String>("pipeline.commands", PointKind::Registry)
        .map_err(|e| e.to_string())?;
    Ok((build, commands))
}

fn pipeline_host(host: &Host) {
    pipeline_points(host).expect("declare the pipeline's points");
}

/// The build through `pipeline.build` (the host's own step answers `built JOB`), and whether
/// `entry` is in `pipeline.commands`.
fn pipeline(host: &Host, job: &str, entry: &str) -> Result<(String, bool), String> {
    let (build, commands) = pipeline_points(host)?;
    let built = build
        .try_run(job.to_owned(), |j| Ok(format!("built {j}")))
        .map_err(|e| e.to_string())?;
    let listed = commands
        .collect(&())
        .map_err(|e| e.to_string())?
        .iter()
        .any(|c| &*c.name == entry);
    Ok((built, listed))
}

/// Lint's `before` hook trims the job; its `lint` entry is listed.
fn pipeline_lint(host: &Host, _: &str, _: Step) -> Result<String, String> {
    let (built, listed) = pipeline(host, "  app  ", "lint")?;
    expect_eq("pipeline.commands has lint", listed, true)?;
    expect_eq("pipeline.build(\"  app  \")", built.as_str(), "built app")
}

/// Stamp's `wrap` hook stamps the artefact; its `stamp` entry is listed.
fn pipeline_stamp(host: &Host, _: &str, _: Step) -> Result<String, String> {
    let (built, listed) = pipeline(host, "app", "stamp")?;
    expect_eq("pipeline.commands has stamp", listed, true)?;
    expect_eq(
        "pipeline.build(\"app\")",
        built.as_str(),
        "built app [stamped by pipeline-stamp]",
    )
}

/// The point `notes-export` contributes to, as a notes host declares it.
fn notes_render(host: &Host) -> Result<ExtensionPoint<String, String>, String> {
    host.extension_point::<String, String>("notes.render", PointKind::Filter)
        .map_err(|e| e.to_string())
}

fn notes_host(host: &Host) {
    notes_render(host).expect("declare notes.render");
}

/// notes-export renders a note as Markdown through the host's `notes.render` filter.
fn notes_export(host: &Host, _: &str, _: Step) -> Result<String, String> {
    let rendered = notes_render(host)?
        .filter("Groceries\nmilk, bread".to_owned())
        .map_err(|e| e.to_string())?;
    expect_eq(
        "notes.render(\"Groceries\\nmilk, bread\")",
        rendered.as_str(),
        "# Groceries\n\nmilk, bread\n",
    )
}

/// notes-reminder reminds about a note that `notes` (its dependency, installed with it)
/// holds; reminding again about the same note keeps one reminder.
fn notes_reminder(host: &Host, _: &str, _: Step) -> Result<String, String> {
    let title: String = call(host, "notes", "save", &"Groceries\nmilk, bread".to_string())?;
    let due: u64 = call(host, "notes-reminder", "remind", &title)?;
    if due == 0 {
        return Err("remind(\"Groceries\") = 0, not a time".into());
    }
    expect_eq(
        "pending()",
        call::<(), u64>(host, "notes-reminder", "pending", &())?,
        1,
    )
}

/// The `[[test.calls]]` of the plugin's `plugin.toml` (what `switchboard test` makes), for a
/// plugin whose calls are repeatable. Requests and answers of the built-in types (string,
/// integers, boolean, `()`), or `input_hex` with any answer.
fn smoke(host: &Host, plugin: &str, _: Step) -> Result<String, String> {
    let calls = manifest(plugin).test.map(|t| t.calls).unwrap_or_default();
    if calls.is_empty() {
        return Err(format!(
            "`{plugin}` has no [[test.calls]] in its plugin.toml: add some, or a check of its own"
        ));
    }
    let handle = host.plugin(plugin).map_err(|e| e.to_string())?;
    let commands = handle.manifest().commands.clone();
    let mut seen = Vec::new();
    for c in &calls {
        seen.push(smoke_call(&handle, &commands, c)?);
    }
    Ok(seen.join("; "))
}

fn smoke_call(
    handle: &switchboard_host::PluginHandle,
    commands: &[switchboard_sdk::CommandDecl],
    call: &SmokeCall,
) -> Result<String, String> {
    use serde_json::Value as V;
    let decl = commands
        .iter()
        .find(|d| d.name == call.command)
        .ok_or_else(|| format!("no command `{}`", call.command))?;
    let is = |t: &str| t == decl.request;
    let request = match (&call.input_hex, &call.input) {
        (Some(h), _) => (0..h.trim().len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h.trim()[i..i + 2], 16).map_err(|e| e.to_string()))
            .collect::<Result<Vec<u8>, String>>()?,
        (None, None) if is(<() as Message>::CONTRACT.id) => encode(&()),
        (None, Some(V::String(s))) if is(String::CONTRACT.id) => encode(s),
        (None, Some(V::Bool(b))) if is(bool::CONTRACT.id) => encode(b),
        (None, Some(v)) if is(u64::CONTRACT.id) => encode(&v.as_u64().ok_or("not a u64")?),
        (None, Some(v)) if is(i64::CONTRACT.id) => encode(&v.as_i64().ok_or("not an i64")?),
        (None, Some(v)) if is(u32::CONTRACT.id) => {
            encode(&u32::try_from(v.as_u64().ok_or("not a u32")?).map_err(|e| e.to_string())?)
        }
        (None, Some(v)) if is(i32::CONTRACT.id) => {
            encode(&i32::try_from(v.as_i64().ok_or("not an i32")?).map_err(|e| e.to_string())?)
        }
        _ => {
            return Err(format!(
                "{}: an input the harness cannot encode",
                call.command
            ))
        }
    };
    let label = format!(
        "{}({})",
        call.command,
        call.input.clone().unwrap_or(V::Null)
    );
    let answer = handle
        .raw_command(&call.command)
        .map_err(|e| format!("{label}: {e}"))?
        .call(&request);
    match (answer, &call.expect_error, &call.expect) {
        (Err(e), Some(code), _) if e.code().to_string().eq_ignore_ascii_case(code.trim()) => {
            Ok(format!("{label} fails with {code}"))
        }
        (Err(e), _, _) => Err(format!("{label}: {e}")),
        (Ok(_), Some(code), _) => Err(format!("{label}: expected {code}, but it succeeded")),
        (Ok(_), None, None) => Ok(format!("{label} ok")),
        (Ok(bytes), None, Some(want)) => {
            let r = decl.response.as_str();
            let got: V = if r == String::CONTRACT.id {
                decode::<String>(&bytes).map(V::from)
            } else if r == u64::CONTRACT.id {
                decode::<u64>(&bytes).map(V::from)
            } else if r == i64::CONTRACT.id {
                decode::<i64>(&bytes).map(V::from)
            } else if r == u32::CONTRACT.id {
                decode::<u32>(&bytes).map(V::from)
            } else if r == i32::CONTRACT.id {
                decode::<i32>(&bytes).map(V::from)
            } else if r == bool::CONTRACT.id {
                decode::<bool>(&bytes).map(V::from)
            } else {
                return Err(format!(
                    "{label}: `expect` on `{r}`, which the harness cannot decode"
                ));
            }
            .map_err(|e| format!("{label}: {e}"))?;
            if &got == want {
                Ok(format!("{label} = {got}"))
            } else {
                Err(format!("{label}: expected {want}, got {got}"))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The harness.

/// The host APIs of the matrix: the one the examples are written for, a later minor within
/// their range, and the next major.
const HOST_APIS: &[(&str, &str)] = &[
    ("switchboard-demo", "0.1.0"),
    ("switchboard-demo", "0.9.0"),
    ("switchboard-demo", "1.0.0"),
];

/// The SDK ABIs a release declares in the matrix: every minor of this SDK's major up to one
/// past the current, and the next major.
fn abis() -> Vec<(u32, u32)> {
    (0..=SDK_ABI_MINOR + 1)
        .map(|m| (SDK_ABI_MAJOR, m))
        .chain([(SDK_ABI_MAJOR + 1, 0)])
        .collect()
}

/// The example's `plugin.toml` ([`plugin_toml_text`]).
fn manifest(plugin: &str) -> Manifest {
    let text = plugin_toml_text(plugin);
    Manifest::parse(&text, Format::Toml).expect("a valid plugin.toml")
}

/// The version after `v` of the same length (the library's embedded version is patched in
/// place): the next minor, else the next patch.
fn next_version(v: &str) -> String {
    let v: semver::Version = v.parse().expect("a semver version");
    let minor = format!("{}.{}.0", v.major, v.minor + 1);
    let patch = format!("{}.{}.{}", v.major, v.minor, v.patch + 1);
    [minor, patch]
        .into_iter()
        .find(|n| n.len() == v.to_string().len())
        .expect("a next version of the same length")
}

/// The outcome of one operation or cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "outcome")]
enum Outcome {
    Passed,
    Failed {
        code: Option<String>,
        detail: String,
    },
    Refused {
        code: String,
        detail: String,
    },
}

impl Outcome {
    fn short(&self) -> String {
        match self {
            Outcome::Passed => "passed".into(),
            Outcome::Failed { code: Some(c), .. } => format!("FAILED {c}"),
            Outcome::Failed { code: None, .. } => "FAILED".into(),
            Outcome::Refused { code, .. } => format!("refused {code}"),
        }
    }
}

/// Every `SBnnnn` in an error's text, the error's own code first.
fn codes_of(e: &switchboard_host::Error) -> Vec<String> {
    let mut codes = vec![e.code().to_string()];
    let text = format!("{e:#}");
    let b = text.as_bytes();
    for i in 0..b.len().saturating_sub(5) {
        if &b[i..i + 2] == b"SB" && b[i + 2..i + 6].iter().all(u8::is_ascii_digit) {
            let c = text[i..i + 6].to_owned();
            if !codes.contains(&c) {
                codes.push(c);
            }
        }
    }
    codes
}

/// A matrix cell.
#[derive(Debug, Clone, Serialize)]
struct Cell {
    plugin: String,
    version: String,
    host_api: String,
    sdk_abi: String,
    #[serde(flatten)]
    outcome: Outcome,
    /// Every code in the error, for a refusal.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    codes: Vec<String>,
    /// What `Host::load_package` of the same release answered, where the harness asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    loader: Option<String>,
    expected: String,
    #[serde(rename = "as_expected")]
    ok: bool,
}

/// One step of a plugin's life.
#[derive(Debug, Clone, Serialize)]
struct StepRecord {
    plugin: String,
    step: String,
    ok: bool,
    detail: String,
}

/// What the harness shares: the keys, the registry, the releases built.
struct Harness {
    root: tempfile::TempDir,
    keys: PathBuf,
    registry: PathBuf,
    registry_keys: PathBuf,
}

impl Harness {
    fn new() -> Harness {
        let root = tempfile::tempdir().expect("temp dir");
        let keys = keys(root.path());
        let registry = root.path().join("registry");
        let registry_keys = root.path().join("registry-keys");
        init(&registry, &registry_keys, &InitOptions::default()).expect("registry init");
        let registry = registry.canonicalize().expect("registry path");
        Harness {
            root,
            keys,
            registry,
            registry_keys,
        }
    }

    /// A signed release of `plugin` at `version` as built.
    fn release(&self, plugin: &str, version: &str) -> PathBuf {
        let dir = self.root.path().join("releases").join(plugin).join("built");
        let changelog = format!("## {version}\n\n- A release of the golden harness.\n");
        releases::release(
            &library(plugin),
            &self.plugin_toml(plugin),
            version,
            &dir,
            &self.keys,
            Some(&changelog),
            |_| {},
        )
    }

    /// A signed release of `plugin` at `version` whose library and package manifest declare
    /// SDK ABI `abi` instead of the one it was built with: the embedded manifest edited in
    /// place (the code still reports the ABI it was built with), the package manifest made
    /// from the library as built and then given the declared ABI — as a packer that does not
    /// check would make it (`switchboard pack` refuses an ABI newer than its own).
    fn abi_release(&self, plugin: &str, version: &str, abi: (u32, u32)) -> PathBuf {
        let built = library(plugin);
        let file = built.file_name().expect("file name").to_owned();
        let dir = self
            .root
            .path()
            .join("releases")
            .join(plugin)
            .join(format!("abi-{}.{}", abi.0, abi.1))
            .join(version);
        std::fs::create_dir_all(&dir).expect("release dir");
        let text = plugin_toml_text(plugin);
        let mut written = Manifest::parse(&text, Format::Toml).expect("valid plugin.toml");
        let from = format!("\"name\":\"{plugin}\",\"version\":\"{}\"", written.version);
        let to = format!("\"name\":\"{plugin}\",\"version\":\"{version}\"");
        let bytes = replace_all(&std::fs::read(&built).expect("library"), &from, &to);
        written.version = version.to_owned();
        let loose = dir.join(&file);
        std::fs::write(&loose, &bytes).expect("write library");
        let mut manifest =
            switchboard_host::package_manifest(&written, &loose).expect("manifest agrees");
        std::fs::remove_file(&loose).expect("remove the loose library");
        manifest.requires.sdk_abi = Some(format!("{}.{}", abi.0, abi.1));
        let bytes = replace_once(
            &bytes,
            &format!("\"sdk_abi\":\"{SDK_ABI_MAJOR}.{SDK_ABI_MINOR}\""),
            &format!("\"sdk_abi\":\"{}.{}\"", abi.0, abi.1),
        );
        let mut files = BTreeMap::new();
        files.insert(
            format!("lib/{}/{}", current_target(), file.to_string_lossy()),
            bytes,
        );
        files.insert("README.md".into(), format!("# {plugin}\n").into_bytes());
        let built = build(&manifest, &files).expect("build the package");
        let path = write(&dir, &built.file_name, &built.bytes);
        sign(&path, &self.keys);
        path
    }

    /// The path of [`plugin_toml_text`], written under the harness's root when the crate has
    /// no `plugin.toml`.
    fn plugin_toml(&self, plugin: &str) -> PathBuf {
        let real = workspace()
            .join("examples")
            .join(plugin)
            .join("plugin.toml");
        if real.is_file() {
            return real;
        }
        let dir = self.root.path().join("plugin-toml").join(plugin);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("plugin.toml");
        std::fs::write(&path, plugin_toml_text(plugin)).expect("write plugin.toml");
        path
    }

    fn publish(&self, package: &Path) -> Result<String, String> {
        publish(
            &self.registry,
            &self.registry_keys,
            package,
            &PublishOptions::default(),
        )
        .map(|r| format!("published {}", r.package_path))
        .map_err(|e| format!("[{}] {e}", e.code()))
    }

    /// A host on `dir` for host API `api`, trusting the publisher key, prepared for `s`, with
    /// the registry added.
    fn host(&self, dir: &Path, api: (&str, &str), s: &Subject) -> Host {
        let host = releases::host(dir, &self.keys, |b| {
            b.host_api(api.0, api.1).metrics(false);
        });
        (s.prepare)(&host);
        registries::add(
            host.store(),
            &Policy::new(),
            &cache(&host),
            AddOptions::new("golden", Location::Dir(self.registry.clone()), 1),
        )
        .expect("add the registry");
        host
    }
}

fn cache(host: &Host) -> PathBuf {
    host.data_dir().join(registries::CACHE_DIR)
}

/// The host's installer over the registry, refreshed.
fn installer(host: &Host) -> Installer {
    let regs = Registries::open(host.store(), &Policy::new(), &OpenOptions::new(cache(host)))
        .expect("open the registries");
    regs.refresh().expect("refresh the registry");
    let mut installer = host.installer();
    installer.shared_source(Arc::new(RegistrySource::new(regs, false)));
    installer
}

/// The example's `plugin.toml`; for a crate without one (the pipeline plugins), the least a
/// packer needs — its name and version, as its library embeds them.
fn plugin_toml_text(plugin: &str) -> String {
    let path = workspace()
        .join("examples")
        .join(plugin)
        .join("plugin.toml");
    if path.is_file() {
        return std::fs::read_to_string(&path).expect("plugin.toml");
    }
    let bytes = std::fs::read(library(plugin)).expect("library");
    let section = &bytes[manifest_section(&bytes)];
    let end = section.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    let embedded: serde_json::Value =
        serde_json::from_slice(&section[..end]).expect("the embedded manifest");
    let field = |k: &str| embedded[k].as_str().expect("a string").to_owned();
    format!(
        "# {plugin} has no plugin.toml: its name and version as its library embeds them.\n\
         name = \"{}\"\nversion = \"{}\"\n",
        field("name"),
        field("version")
    )
}

/// `bytes` with every `from` in the manifest section replaced by `to` (same length); at
/// least one must be there.
fn replace_all(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len(), "a patch keeps the length");
    let mut out = bytes.to_vec();
    let mut hits = 0;
    let section = manifest_section(bytes);
    let mut i = section.start;
    while i + from.len() <= section.end {
        if &out[i..i + from.len()] == from.as_bytes() {
            out[i..i + from.len()].copy_from_slice(to.as_bytes());
            hits += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    assert!(hits > 0, "{from} not found");
    out
}

fn replace_once(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len(), "a patch keeps the length");
    let section = manifest_section(bytes);
    let hits: Vec<usize> = bytes[section.clone()]
        .windows(from.len())
        .enumerate()
        .filter(|(_, w)| *w == from.as_bytes())
        .map(|(i, _)| section.start + i)
        .collect();
    assert_eq!(hits.len(), 1, "{from} must occur once");
    let mut out = bytes.to_vec();
    out[hits[0]..hits[0] + to.len()].copy_from_slice(to.as_bytes());
    out
}

/// The package store's files, sorted (signatures left out).
fn stored(host: &Host) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(host.data_dir().join("packages"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| !n.ends_with(".minisig"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn staging_is_empty(host: &Host) -> bool {
    std::fs::read_dir(host.data_dir().join("install-staging"))
        .map(|mut d| d.next().is_none())
        .unwrap_or(true)
}

/// The journal has no operation left running and nothing to recover.
fn journal_clean(installer: &Installer) -> Result<(), String> {
    let ops = installer.operations(1000).map_err(|e| e.to_string())?;
    if let Some(op) = ops.iter().find(|o| o.status == OperationStatus::Running) {
        return Err(format!("operation {} is still running", op.id));
    }
    let recovered = installer.recover().map_err(|e| e.to_string())?;
    if !recovered.is_empty() {
        return Err(format!("recovery found {recovered:?}"));
    }
    Ok(())
}

fn running_version(host: &Host, plugin: &str) -> Result<String, String> {
    let p = host
        .plugin(plugin)
        .map_err(|e| format!("not running: {e}"))?;
    if p.state() != State::Active {
        return Err(format!("{plugin} is {:?}, not active", p.state()));
    }
    Ok(p.version())
}

fn want_version(host: &Host, plugin: &str, want: &str) -> Result<(), String> {
    let got = running_version(host, plugin)?;
    if got != want {
        return Err(format!("{plugin} {got} runs, not {want}"));
    }
    Ok(())
}

fn state(installer: &Installer, plugin: &str) -> Option<InstallState> {
    installer.state(plugin).ok().flatten()
}

/// Runs `subject` through its life; every step is recorded, none is skipped after a failure
/// unless it cannot run.
fn lifecycle(
    h: &Harness,
    s: &Subject,
    published: Result<String, String>,
    v2: &Path,
    versions: (&str, &str),
) -> Vec<StepRecord> {
    let plugin = s.plugin;
    let (first, second) = versions;
    let mut log = Vec::new();
    let mut step = |name: &str, r: Result<String, String>| {
        let ok = r.is_ok();
        log.push(StepRecord {
            plugin: plugin.to_owned(),
            step: name.to_owned(),
            ok,
            detail: r.unwrap_or_else(|e| e),
        });
        ok
    };
    if !step("publish", published) {
        return log;
    }
    let dir = h.root.path().join("life").join(plugin);
    let host = h.host(&dir, HOST_APIS[0], s);
    let check = |step: Step| (s.check)(&host, plugin, step);

    // install (disabled): in the generation, not running.
    let r = installer(&host)
        .install(
            &[InstallRequest::name(plugin, semver::VersionReq::STAR)],
            InstallOptions::new().disabled(true),
        )
        .map_err(|e| e.to_string())
        .and_then(|report| {
            let i = installer(&host);
            let listed = i.list().map_err(|e| e.to_string())?;
            let me = listed
                .iter()
                .find(|p| p.name == plugin)
                .ok_or("not listed")?;
            if me.version.to_string() != first || me.source != "registry:golden" {
                return Err(format!("listed {} from {}", me.version, me.source));
            }
            if state(&i, plugin) != Some(InstallState::Disabled) || host.plugin(plugin).is_ok() {
                return Err("installed disabled, yet it runs".into());
            }
            Ok(format!(
                "generation {:?}: {plugin} {first} from the registry, disabled",
                report.generation
            ))
        });
    if !step("install", r) {
        return log;
    }
    let r = installer(&host)
        .enable(plugin)
        .map_err(|e| e.to_string())
        .and_then(|_| want_version(&host, plugin, first));
    if !step("enable", r.map(|()| format!("{plugin} {first} active"))) {
        return log;
    }
    step("call", check(Step::Enabled));

    // The update, failed at each phase in turn; then for real.
    if !step("publish update", h.publish(v2)) {
        return log;
    }
    for name in failpoints::NAMES {
        let r = fault(&host, plugin, name, first)
            .and_then(|d| check(Step::Recovered).map(|c| format!("{d}; {c}")));
        step(&format!("update failing at {name}"), r);
    }
    let r = installer(&host)
        .update(&[plugin.to_owned()], &InstallOptions::new())
        .map_err(|e| e.to_string())
        .and_then(|report| {
            want_version(&host, plugin, second)?;
            Ok(format!(
                "{plugin} {first} → {second}, generation {:?}",
                report.generation
            ))
        });
    if step("update", r) {
        step("call after update", check(Step::Updated));
    }
    let r = installer(&host)
        .rollback(None)
        .map_err(|e| e.to_string())
        .and_then(|report| {
            want_version(&host, plugin, first)?;
            Ok(format!(
                "{plugin} {first} again, generation {:?}",
                report.generation
            ))
        });
    if step("rollback", r) {
        step("call after rollback", check(Step::RolledBack));
    }
    let r = installer(&host)
        .disable(plugin)
        .map_err(|e| e.to_string())
        .and_then(|_| match check(Step::Reenabled) {
            Ok(seen) => Err(format!("disabled, yet the call answered: {seen}")),
            Err(_) if state(&installer(&host), plugin) == Some(InstallState::Disabled) => {
                Ok("disabled; calls refused".into())
            }
            Err(e) => Err(format!("not listed disabled ({e})")),
        });
    step("disable", r);
    let r = installer(&host)
        .enable(plugin)
        .map_err(|e| e.to_string())
        .and_then(|_| check(Step::Reenabled));
    step("enable again", r);
    let r = installer(&host)
        .remove(plugin, &RemoveOptions::new())
        .map_err(|e| e.to_string())
        .and_then(|_| {
            let i = installer(&host);
            if i.list()
                .map_err(|e| e.to_string())?
                .iter()
                .any(|p| p.name == plugin)
            {
                return Err("still listed".into());
            }
            if host.plugin(plugin).is_ok() {
                return Err("still running".into());
            }
            journal_clean(&i)?;
            if !staging_is_empty(&host) {
                return Err("staging is not empty".into());
            }
            Ok("removed; journal clean".into())
        });
    step("remove", r);
    log
}

/// An update of `plugin` with an error injected at failpoint `name`: it must fail, and leave
/// the generation, the running plugin, the package store and the journal as they were.
fn fault(host: &Host, plugin: &str, name: &str, running: &str) -> Result<String, String> {
    let i = installer(host);
    let before = i.current().map_err(|e| e.to_string())?.map(|g| g.id);
    let generations: Vec<GenerationId> = i
        .generations()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|g| g.id)
        .collect();
    let packages = stored(host);
    let listed = i.list().map_err(|e| e.to_string())?;
    let scenario = fail::FailScenario::setup();
    fail::cfg(name, "return").map_err(|e| e.to_string())?;
    let result = i.update(&[plugin.to_owned()], &InstallOptions::new());
    scenario.teardown();
    let e = match result {
        Ok(_) => return Err("the update went through despite the fault".into()),
        Err(e) => e,
    };
    let codes = codes_of(&e);
    if !codes.iter().any(|c| c == "SB1412") {
        return Err(format!("the failure is not the injected one: {e}"));
    }
    let after = i.current().map_err(|e| e.to_string())?.map(|g| g.id);
    if after != before {
        return Err(format!("generation {after:?} is current, not {before:?}"));
    }
    let now: Vec<GenerationId> = i
        .generations()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|g| g.id)
        .collect();
    if now != generations {
        return Err(format!("generations {now:?}, were {generations:?}"));
    }
    if stored(host) != packages {
        return Err("the package store changed".into());
    }
    if !staging_is_empty(host) {
        return Err("orphaned downloads in staging".into());
    }
    let relisted = i.list().map_err(|e| e.to_string())?;
    let key = |l: &[switchboard_host::install::InstalledPlugin]| -> Vec<(String, String, String)> {
        l.iter()
            .map(|p| (p.name.clone(), p.version.to_string(), p.sha256.clone()))
            .collect()
    };
    if key(&relisted) != key(&listed) {
        return Err("the installed list changed".into());
    }
    let op = &i.operations(1).map_err(|e| e.to_string())?[0];
    if !matches!(
        op.status,
        OperationStatus::Failed | OperationStatus::RolledBack
    ) {
        return Err(format!("the operation ended {:?}", op.status));
    }
    journal_clean(&i)?;
    want_version(host, plugin, running)?;
    Ok(format!(
        "{} ({}), {plugin} {running} runs",
        op.status.as_str(),
        codes.join(" ← ")
    ))
}

/// What a cell should be, by the rules the host documents. An install resolves first, and
/// the resolver takes out every release the host cannot run, saying why (`SB0501`): another
/// SDK ABI major or a newer minor ("built for SDK ABI …"), a host API outside the plugin's
/// range ("needs host API …"; named first when both are wrong). A release that passes resolution but whose declared ABI is
/// not the one its code was built with is refused by the loader (`SB0210`: an older minor
/// passes only when the code really is that old). Everything else installs and answers.
fn expected(m: &Manifest, api: (&str, &str), abi: (u32, u32)) -> Expected {
    if let Some(req) = &m.requires.host_api {
        let matches = switchboard_host::version_matches(&req.version, api.1).expect("a range");
        if req.name != api.0 || !matches {
            return Expected::Refused("SB0501", format!("needs host API {}", req.name));
        }
    }
    if abi.0 != SDK_ABI_MAJOR || abi.1 > SDK_ABI_MINOR {
        return Expected::Refused(
            "SB0501",
            format!("is built for SDK ABI {}.{}", abi.0, abi.1),
        );
    }
    if abi != (SDK_ABI_MAJOR, SDK_ABI_MINOR) {
        return Expected::Refused("SB0210", "sdk_abi".into());
    }
    Expected::Passed
}

/// What a cell should be: passed, or refused with a code and words of the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    Passed,
    Refused(&'static str, String),
}

impl Expected {
    fn text(&self) -> String {
        match self {
            Expected::Passed => "passed".into(),
            Expected::Refused(code, why) => format!("refused {code} ({why})"),
        }
    }

    fn met_by(&self, outcome: &Outcome, codes: &[String]) -> bool {
        match (self, outcome) {
            (Expected::Passed, Outcome::Passed) => true,
            (Expected::Refused(code, why), Outcome::Refused { detail, .. }) => {
                codes.iter().any(|c| c == code) && detail.contains(why.as_str())
            }
            _ => false,
        }
    }
}

/// The matrix cells of `subject`: one host per host API; in it each release installed from
/// its signed package, called, and removed.
fn matrix(
    h: &Harness,
    s: &Subject,
    packages: &BTreeMap<(String, (u32, u32)), PathBuf>,
) -> Vec<Cell> {
    let m = manifest(s.plugin);
    let mut cells = Vec::new();
    for (n, api) in HOST_APIS.iter().enumerate() {
        let dir = h
            .root
            .path()
            .join("matrix")
            .join(s.plugin)
            .join(n.to_string());
        let host = h.host(&dir, *api, s);
        let i = installer(&host);
        for ((version, abi), package) in packages {
            let mut codes = Vec::new();
            let outcome = match i.install(
                &[InstallRequest::File(package.clone())],
                &InstallOptions::new(),
            ) {
                Err(e) => {
                    codes = codes_of(&e);
                    // The specific cause: the last code named (the wrappers come first).
                    let code = codes.last().cloned().unwrap_or_default();
                    Outcome::Refused {
                        code,
                        detail: format!("{e}"),
                    }
                }
                Ok(_) => {
                    let called = want_version(&host, s.plugin, version)
                        .and_then(|()| (s.check)(&host, s.plugin, Step::Cell));
                    let removed = i
                        .remove(s.plugin, &RemoveOptions::new())
                        .map_err(|e| format!("remove: {e}"));
                    match (called, removed) {
                        (Ok(_), Ok(_)) => Outcome::Passed,
                        (Err(e), _) | (_, Err(e)) => Outcome::Failed {
                            code: None,
                            detail: e,
                        },
                    }
                }
            };
            let expected = expected(&m, *api, *abi);
            let mut ok = expected.met_by(&outcome, &codes);
            let mut expected = expected.text();
            // A release the resolver keeps out for its ABI is refused by the loader too, for
            // a host that loads the package directly (once per release, in the first host).
            let loader = if n == 0 && (abi.0 != SDK_ABI_MAJOR || abi.1 > SDK_ABI_MINOR) {
                let want = if abi.0 == SDK_ABI_MAJOR {
                    "SB0205"
                } else {
                    "SB0204"
                };
                let got = match host.load_package(package) {
                    Ok(_) => {
                        let _ = host.remove(s.plugin);
                        "loaded".to_owned()
                    }
                    Err(e) => e.code().to_string(),
                };
                ok &= got == want;
                expected.push_str(&format!("; load_package {want}"));
                Some(got)
            } else {
                None
            };
            cells.push(Cell {
                plugin: s.plugin.to_owned(),
                version: version.clone(),
                host_api: format!("{}@{}", api.0, api.1),
                sdk_abi: format!("{}.{}", abi.0, abi.1),
                outcome,
                codes,
                loader,
                expected,
                ok,
            });
        }
    }
    cells
}

/// The releases of one plugin the harness uses.
struct Releases {
    /// The version as built, and the next.
    first: String,
    second: String,
    /// Signed packages of the two, as built.
    v1: PathBuf,
    v2: PathBuf,
    /// Every release of the matrix by (version, declared SDK ABI).
    packages: BTreeMap<(String, (u32, u32)), PathBuf>,
}

fn releases_of(h: &Harness, s: &Subject) -> Releases {
    let first = manifest(s.plugin).version;
    let second = next_version(&first);
    let v1 = h.release(s.plugin, &first);
    let v2 = h.release(s.plugin, &second);
    let mut packages = BTreeMap::new();
    for (version, built) in [(&first, &v1), (&second, &v2)] {
        for abi in abis() {
            let p = if abi == (SDK_ABI_MAJOR, SDK_ABI_MINOR) {
                built.clone()
            } else {
                h.abi_release(s.plugin, version, abi)
            };
            packages.insert((version.clone(), abi), p);
        }
    }
    Releases {
        first,
        second,
        v1,
        v2,
        packages,
    }
}

/// Where the matrix goes: `$CARGO_TARGET_DIR/golden`, else the workspace's `target/golden`.
fn out_dir() -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) if Path::new(&t).is_absolute() => PathBuf::from(t),
        Some(t) => workspace().join(t),
        None => workspace().join("target"),
    };
    target.join("golden")
}

fn markdown(cells: &[Cell], life: &[StepRecord], seconds: f64) -> String {
    let mut md = String::from("# Compatibility matrix (golden harness)\n\n");
    md.push_str(&format!(
        "Written by `cargo test -p switchboard-tests --test all golden` (SPEC S10.1) in {seconds:.1} s. \
         Each cell is a real install of a signed release into a host with that host API, a call \
         checked against its expected answer, and a removal: `passed`, `refused CODE` (the most \
         specific code of the refusal) or `FAILED`. The host's SDK ABI is \
         {SDK_ABI_MAJOR}.{SDK_ABI_MINOR}; releases declaring other ABIs are the same build with \
         the declared ABI edited, so an older minor is refused as not what the code was built \
         with (SB0210). For a release the resolver keeps out for its ABI, `(load: CODE)` is what \
         `Host::load_package` of the same package answers (asked in the first host). A cell \
         marked `!` is not what the harness expects.\n\n"
    ));
    let abis: Vec<String> = abis().iter().map(|(a, b)| format!("{a}.{b}")).collect();
    let plugins: Vec<&str> = SUBJECTS.iter().map(|s| s.plugin).collect();
    for plugin in plugins {
        md.push_str(&format!("## {plugin}\n\n| version | host API |"));
        for a in &abis {
            md.push_str(&format!(" ABI {a} |"));
        }
        md.push_str("\n|---|---|");
        md.push_str(&"---|".repeat(abis.len()));
        md.push('\n');
        let mut rows: BTreeMap<(String, String), Vec<&Cell>> = BTreeMap::new();
        for c in cells.iter().filter(|c| c.plugin == plugin) {
            rows.entry((c.version.clone(), c.host_api.clone()))
                .or_default()
                .push(c);
        }
        for ((version, api), row) in rows {
            md.push_str(&format!("| {version} | {api} |"));
            for a in &abis {
                let text = row
                    .iter()
                    .find(|c| &c.sdk_abi == a)
                    .map(|c| {
                        format!(
                            "{}{}{}",
                            c.outcome.short(),
                            c.loader
                                .as_ref()
                                .map(|l| format!(" (load: {l})"))
                                .unwrap_or_default(),
                            if c.ok { "" } else { " !" }
                        )
                    })
                    .unwrap_or_else(|| "—".into());
                md.push_str(&format!(" {text} |"));
            }
            md.push('\n');
        }
        let steps: Vec<&StepRecord> = life.iter().filter(|r| r.plugin == plugin).collect();
        let faults = steps
            .iter()
            .filter(|r| r.step.starts_with("update failing"))
            .count();
        let failed: Vec<&&StepRecord> = steps.iter().filter(|r| !r.ok).collect();
        md.push_str(&format!(
            "\nLife: {} steps ({faults} injected faults), {}.\n",
            steps.len(),
            if failed.is_empty() {
                "all passed".to_owned()
            } else {
                format!(
                    "FAILED: {}",
                    failed
                        .iter()
                        .map(|r| format!("{} ({})", r.step, r.detail))
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            }
        ));
        md.push('\n');
    }
    md
}

#[test]
fn golden_every_example_lives_its_whole_life_and_the_compat_matrix_holds() {
    let _g = install_lock();
    // The canary's constructor writes a marker where another test may point it.
    let _c = canary_lock();
    let started = Instant::now();
    let h = Harness::new();
    let mut life = Vec::new();
    let mut cells = Vec::new();
    // The releases, one thread per plugin: each as built at its version and the next, and
    // each of those declaring every other SDK ABI.
    let built: Vec<Releases> = std::thread::scope(|scope| {
        let jobs: Vec<_> = SUBJECTS
            .iter()
            .map(|s| scope.spawn(|| releases_of(&h, s)))
            .collect();
        jobs.into_iter()
            .map(|j| j.join().expect("the releases are built"))
            .collect()
    });
    let releases_seconds = started.elapsed().as_secs_f64();
    // Every first release is published before any life begins, so a plugin finds the
    // plugins it depends on in the registry whatever the order of SUBJECTS.
    let published: Vec<Result<String, String>> = built.iter().map(|r| h.publish(&r.v1)).collect();
    // The lives, one after the other: the failpoints are process-wide.
    let mut lifecycle_seconds = BTreeMap::new();
    for ((s, r), published) in SUBJECTS.iter().zip(&built).zip(published) {
        let t = Instant::now();
        life.extend(lifecycle(&h, s, published, &r.v2, (&r.first, &r.second)));
        lifecycle_seconds.insert(s.plugin, t.elapsed().as_secs_f64());
    }
    // The matrix, one thread per plugin.
    let t = Instant::now();
    let matrices: Vec<Vec<Cell>> = std::thread::scope(|scope| {
        let jobs: Vec<_> = SUBJECTS
            .iter()
            .zip(&built)
            .map(|(s, r)| scope.spawn(|| matrix(&h, s, &r.packages)))
            .collect();
        jobs.into_iter()
            .map(|j| j.join().expect("the matrix is filled"))
            .collect()
    });
    cells.extend(matrices.into_iter().flatten());
    let timings = serde_json::json!({
        "releases_seconds": releases_seconds,
        "lifecycle_seconds": lifecycle_seconds,
        "matrix_seconds": t.elapsed().as_secs_f64(),
    });
    let seconds = started.elapsed().as_secs_f64();
    let out = out_dir();
    std::fs::create_dir_all(&out).expect("create the golden directory");
    let json = serde_json::json!({
        "sdk_abi": format!("{SDK_ABI_MAJOR}.{SDK_ABI_MINOR}"),
        "host_apis": HOST_APIS.iter().map(|(n, v)| format!("{n}@{v}")).collect::<Vec<_>>(),
        "sdk_abis": abis().iter().map(|(a, b)| format!("{a}.{b}")).collect::<Vec<_>>(),
        "seconds": seconds,
        "timings": timings,
        "cells": cells,
        "lifecycle": life,
    });
    std::fs::write(
        out.join("compat-matrix.json"),
        serde_json::to_string_pretty(&json).expect("json"),
    )
    .expect("write compat-matrix.json");
    std::fs::write(
        out.join("compat-matrix.md"),
        markdown(&cells, &life, seconds),
    )
    .expect("write compat-matrix.md");

    let bad_steps: Vec<String> = life
        .iter()
        .filter(|r| !r.ok)
        .map(|r| format!("{} {}: {}", r.plugin, r.step, r.detail))
        .collect();
    let bad_cells: Vec<String> = cells
        .iter()
        .filter(|c| !c.ok)
        .map(|c| {
            format!(
                "{} {} {} ABI {}: {} (expected {}) {:?}",
                c.plugin,
                c.version,
                c.host_api,
                c.sdk_abi,
                c.outcome.short(),
                c.expected,
                c.outcome
            )
        })
        .collect();
    assert!(
        bad_steps.is_empty() && bad_cells.is_empty(),
        "the golden harness failed (see {}):\n{}\n{}",
        out.display(),
        bad_steps.join("\n"),
        bad_cells.join("\n")
    );
    // Every plugin went through every step and every cell.
    let per_plugin = 12 + failpoints::NAMES.len();
    for s in SUBJECTS {
        assert_eq!(
            life.iter().filter(|r| r.plugin == s.plugin).count(),
            per_plugin,
            "{}",
            s.plugin
        );
        assert_eq!(
            cells.iter().filter(|c| c.plugin == s.plugin).count(),
            2 * HOST_APIS.len() * abis().len(),
            "{}",
            s.plugin
        );
    }
    // Each kind of outcome is met: the matrix can tell them apart.
    assert!(cells.iter().any(|c| c.outcome == Outcome::Passed));
    for code in ["SB0204", "SB0205"] {
        assert!(
            cells.iter().any(|c| c.loader.as_deref() == Some(code)),
            "{code}"
        );
    }
    for why in [
        "SB0501 (is built for SDK ABI",
        "SB0501 (needs host API",
        "SB0210",
    ] {
        assert!(
            cells
                .iter()
                .any(|c| c.expected.starts_with(&format!("refused {why}"))),
            "{why}"
        );
    }
}

/// The harness can fail: a check that expects another answer makes every cell that installs
/// `FAILED` and not as expected, and `smoke` on a plugin without `[[test.calls]]` fails.
#[test]
fn golden_a_wrong_answer_makes_a_failed_cell() {
    fn wrong(host: &Host, _: &str, _: Step) -> Result<String, String> {
        let got: String = call(host, "hello", "greet", &"Ada".to_string())?;
        expect_eq("greet(\"Ada\")", got.as_str(), "Goodbye, Ada!")
    }
    let _g = install_lock();
    for check in [wrong as Check, smoke] {
        let h = Harness::new();
        let version = manifest("hello").version;
        let mut packages = BTreeMap::new();
        packages.insert(
            (version.clone(), (SDK_ABI_MAJOR, SDK_ABI_MINOR)),
            h.release("hello", &version),
        );
        let cells = matrix(&h, &Subject::new("hello", check), &packages);
        assert_eq!(cells.len(), HOST_APIS.len());
        for c in &cells {
            let installs = c.expected == "passed";
            assert_eq!(
                matches!(c.outcome, Outcome::Failed { .. }),
                installs,
                "{c:?}"
            );
            assert_eq!(c.ok, !installs, "{c:?}");
        }
        assert!(cells.iter().any(|c| !c.ok));
    }
}

/// `smoke` compares each answer with `expect` and each error code with `expect_error`.
#[test]
fn golden_smoke_calls_compare_answers_and_codes() {
    let (host, _dir) = switchboard_tests::dev_host();
    let plugin = host.load_unsigned(library("hello")).unwrap();
    plugin.start().unwrap();
    let commands = plugin.manifest().commands.clone();
    let smoke = |call: serde_json::Value| {
        let call: SmokeCall = serde_json::from_value(call).unwrap();
        smoke_call(&plugin, &commands, &call)
    };
    let ok =
        smoke(serde_json::json!({"command": "greet", "input": "Ada", "expect": "Hello, Ada!"}));
    assert_eq!(ok.unwrap(), "greet(\"Ada\") = \"Hello, Ada!\"");
    let e = smoke(serde_json::json!({"command": "greet", "input": "Ada", "expect": "Hi"}));
    assert!(e.unwrap_err().contains("expected \"Hi\""));
    let e = smoke(serde_json::json!({"command": "greet", "input": " ", "expect_error": "SB9999"}));
    assert!(e.is_err());
    let e = smoke(serde_json::json!({"command": "nope"}));
    assert!(e.unwrap_err().contains("no command"));
}
