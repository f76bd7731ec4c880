//! `switchboard new NAME [--kind command|events|service|extension]`: a ready plugin crate.
//!
//! The templates are real files in the repository (`cli/templates/`), embedded in the binary
//! so an installed CLI needs no checkout. Each kind writes `Cargo.toml` (a `cdylib` in its own
//! workspace), `plugin.toml` (with smoke calls for `switchboard test`), `src/lib.rs` (the
//! plugin and unit tests against the SDK's mock host), a `README.md`, a `CHANGELOG.md` and a
//! `.gitignore`. The result builds, tests, packs and preflights with no edits.
//!
//! The SDK dependency is a path when the CLI runs from a source checkout (or `--sdk-path`
//! names one), with the checkout's `Cargo.lock` copied beside it so the same, already fetched
//! versions are used (an offline build works); otherwise it is this CLI's version from
//! crates.io.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use crate::output::{codes, CliError, Coded as _};

/// What a new plugin crate starts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateKind {
    /// A command the host calls, with typed configuration.
    Command,
    /// A `#[subscribe]` handler that keeps counts in the host's KV store and publishes.
    Events,
    /// A shared service other plugins call by name, and a call to one it does not provide.
    Service,
    /// Hooks into a host's extension points: a filter and a registration.
    Extension,
}

impl TemplateKind {
    /// The kind as the command line writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateKind::Command => "command",
            TemplateKind::Events => "events",
            TemplateKind::Service => "service",
            TemplateKind::Extension => "extension",
        }
    }

    /// Every kind, for listings and tests.
    pub const ALL: [TemplateKind; 4] = [
        TemplateKind::Command,
        TemplateKind::Events,
        TemplateKind::Service,
        TemplateKind::Extension,
    ];

    fn what(self) -> &'static str {
        match self {
            TemplateKind::Command => "a `greet` command configured by `[config]`",
            TemplateKind::Events => {
                "a `files.saved` handler counting saves in the host's KV store, and `count`"
            }
            TemplateKind::Service => {
                "the shared service `NAME.text` (`upper`, `words`) and a call to `text.case`"
            }
            TemplateKind::Extension => {
                "a `filter` hook on `app.title` and an entry in the `app.commands` registry"
            }
        }
    }

    fn files(self) -> (&'static str, &'static str) {
        match self {
            TemplateKind::Command => (
                include_str!("../templates/command/lib.rs.tmpl"),
                include_str!("../templates/command/plugin.toml.tmpl"),
            ),
            TemplateKind::Events => (
                include_str!("../templates/events/lib.rs.tmpl"),
                include_str!("../templates/events/plugin.toml.tmpl"),
            ),
            TemplateKind::Service => (
                include_str!("../templates/service/lib.rs.tmpl"),
                include_str!("../templates/service/plugin.toml.tmpl"),
            ),
            TemplateKind::Extension => (
                include_str!("../templates/extension/lib.rs.tmpl"),
                include_str!("../templates/extension/plugin.toml.tmpl"),
            ),
        }
    }
}

/// Where the new crate's `switchboard-sdk` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkSource {
    /// A directory holding the SDK crate (a source checkout's `sdk/`).
    Path(PathBuf),
    /// A version requirement on crates.io.
    Version(String),
}

impl SdkSource {
    /// The SDK beside this CLI's sources when it runs from a checkout, else this CLI's
    /// version from crates.io.
    pub fn detect() -> SdkSource {
        let sdk = crate::examples::workspace_root().join("sdk");
        if is_sdk_dir(&sdk) {
            SdkSource::Path(sdk)
        } else {
            SdkSource::Version(env!("CARGO_PKG_VERSION").to_owned())
        }
    }

    /// `--sdk-path DIR`, checked: the directory must hold the `switchboard-sdk` crate.
    pub fn path(dir: &Path) -> Result<SdkSource> {
        let dir = std::path::absolute(dir).coded(
            codes::SCAFFOLD,
            format_args!("cannot resolve {}", dir.display()),
            "give an existing directory",
        )?;
        if !is_sdk_dir(&dir) {
            return Err(CliError::raise(
                codes::SCAFFOLD,
                format!("{} does not hold the switchboard-sdk crate", dir.display()),
                "pass the `sdk` directory of a Switchboard checkout to --sdk-path",
            ));
        }
        Ok(SdkSource::Path(dir))
    }

    fn dependency(&self, testing: bool) -> String {
        let features = if testing {
            ", features = [\"testing\"]"
        } else {
            ""
        };
        match self {
            SdkSource::Path(dir) => format!(
                "{{ path = {}{features} }}",
                toml_string(&dir.to_string_lossy())
            ),
            SdkSource::Version(v) => format!("{{ version = {}{features} }}", toml_string(v)),
        }
    }
}

fn is_sdk_dir(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|t| t.contains("name = \"switchboard-sdk\""))
}

/// A TOML basic string, quotes included.
fn toml_string(s: &str) -> String {
    format!("\"{}\"", toml_escape(s))
}

/// The inside of a TOML basic string.
fn toml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// What `switchboard new` was asked for.
#[derive(Debug, Clone)]
pub struct NewOptions {
    /// The plugin's name (also the package's and the directory's).
    pub name: String,
    /// The template.
    pub kind: TemplateKind,
    /// The directory to create; default `./NAME`.
    pub dir: Option<PathBuf>,
    /// The one-line description; default from the kind.
    pub description: Option<String>,
    /// Where the SDK comes from.
    pub sdk: SdkSource,
}

/// What `switchboard new` made.
#[derive(Debug, Clone, Serialize)]
pub struct NewReport {
    /// The plugin's name.
    pub name: String,
    /// The template used.
    pub kind: TemplateKind,
    /// The crate's directory.
    pub dir: PathBuf,
    /// The files written, relative to `dir`.
    pub files: Vec<String>,
    /// The SDK dependency written into Cargo.toml.
    pub sdk: String,
}

/// Names cargo or rustc refuse for a package or a library, or that would clash with the
/// crates the template depends on.
const RESERVED: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "gen",
    "macro",
    "override",
    "priv",
    "try",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "std",
    "core",
    "alloc",
    "test",
    "proc_macro",
    "serde",
    "serde_json",
    "switchboard_sdk",
];

/// Items the SDK prelude brings into the template's scope: a plugin type may not take one of
/// these names.
const PRELUDE: &[&str] = &[
    "Access",
    "MigrationData",
    "Context",
    "Event",
    "Health",
    "Level",
    "Message",
    "Output",
    "Plugin",
    "PluginError",
];

/// Checks `name` as a new plugin's name.
pub fn check_name(name: &str) -> Result<()> {
    if !switchboard_sdk::manifest::valid_name(name) {
        return Err(CliError::raise(
            codes::SCAFFOLD,
            format!("`{name}` is not a plugin name"),
            "use ASCII letters, digits, `-` and `_`, starting with a letter, at most 64 characters",
        ));
    }
    let key = name.replace('-', "_").to_ascii_lowercase();
    if RESERVED.contains(&key.as_str()) {
        return Err(CliError::raise(
            codes::SCAFFOLD,
            format!("`{name}` is reserved by Rust or clashes with a crate the plugin uses"),
            format!("choose another name, e.g. `{name}-plugin`"),
        ));
    }
    Ok(())
}

/// The Rust type name for a plugin: `word-count` → `WordCount`, with `Plugin` appended when
/// that would shadow an item of the SDK prelude.
pub fn type_name(name: &str) -> String {
    let mut out: String = name
        .split(['-', '_'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    if PRELUDE.contains(&out.as_str()) {
        out.push_str("Plugin");
    }
    out
}

fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (key, value) in vars {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    out
}

/// Creates the crate. Nothing is left behind on failure: the files are written into a
/// temporary directory beside the target and renamed into place at the end; an existing
/// non-empty directory is refused, never overwritten.
pub fn new_plugin(options: &NewOptions) -> Result<NewReport> {
    check_name(&options.name)?;
    let dir = match &options.dir {
        Some(d) => d.clone(),
        None => PathBuf::from(&options.name),
    };
    let dir = std::path::absolute(&dir).coded(
        codes::SCAFFOLD,
        format_args!("cannot resolve {}", dir.display()),
        "give a directory path",
    )?;
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(CliError::raise(
            codes::SCAFFOLD_EXISTS,
            format!("{} exists and is not empty", dir.display()),
            "choose another name or directory (--dir); nothing was written",
        ));
    }
    let description = options.description.clone().unwrap_or_else(|| {
        format!(
            "A Switchboard {} plugin: {}.",
            options.kind.as_str(),
            options.kind.what().replace("NAME", &options.name)
        )
    });
    if description.contains(['\n', '\r']) {
        return Err(CliError::raise(
            codes::SCAFFOLD,
            "the description spans several lines",
            "give a one-line description",
        ));
    }
    let type_name = type_name(&options.name);
    let sdk = options.sdk.dependency(false);
    let sdk_testing = options.sdk.dependency(true);
    // The description goes into TOML strings and Rust doc comments: TOML-escape it for the
    // former (the templates quote it) and keep the raw text for the latter.
    let toml_description = toml_escape(&description);
    let toml_description = toml_description.as_str();
    let what = options.kind.what().replace("NAME", &options.name);
    let kind = options.kind.as_str();
    let toml_vars = [
        ("name", options.name.as_str()),
        ("description", toml_description),
        ("sdk", sdk.as_str()),
        ("sdk_testing", sdk_testing.as_str()),
        ("kind", kind),
    ];
    let text_vars = [
        ("name", options.name.as_str()),
        ("description", description.as_str()),
        ("type_name", type_name.as_str()),
        ("kind", kind),
        ("what", what.as_str()),
    ];
    let (lib, plugin_toml) = options.kind.files();
    let mut files: Vec<(&str, String)> = vec![
        (
            "Cargo.toml",
            render(
                include_str!("../templates/common/Cargo.toml.tmpl"),
                &toml_vars,
            ),
        ),
        ("plugin.toml", render(plugin_toml, &toml_vars)),
        ("src/lib.rs", render(lib, &text_vars)),
        (
            "README.md",
            render(
                include_str!("../templates/common/README.md.tmpl"),
                &text_vars,
            ),
        ),
        (
            "CHANGELOG.md",
            render(
                include_str!("../templates/common/CHANGELOG.md.tmpl"),
                &text_vars,
            ),
        ),
        (
            ".gitignore",
            include_str!("../templates/common/gitignore.tmpl").to_owned(),
        ),
    ];
    if let SdkSource::Path(sdk_dir) = &options.sdk {
        // The checkout's lock file pins the versions its build already fetched.
        if let Some(lock) = sdk_dir
            .parent()
            .and_then(|root| std::fs::read_to_string(root.join("Cargo.lock")).ok())
        {
            files.push(("Cargo.lock", lock));
        }
    }
    let parent = dir.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(parent).coded(
        codes::WRITE,
        format_args!("cannot create {}", parent.display()),
        "check the path and its permissions",
    )?;
    let staging = tempfile::Builder::new()
        .prefix(".switchboard-new-")
        .tempdir_in(parent)
        .coded(
            codes::WRITE,
            format_args!("cannot write in {}", parent.display()),
            "check the directory's permissions and free space",
        )?;
    for (rel, text) in &files {
        let path = staging.path().join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).coded(
                codes::WRITE,
                format_args!("cannot create {}", p.display()),
                "check the free space",
            )?;
        }
        std::fs::write(&path, text).coded(
            codes::WRITE,
            format_args!("cannot write {}", path.display()),
            "check the free space",
        )?;
    }
    if dir.exists() {
        // Empty (checked above): rename replaces an empty directory.
        std::fs::remove_dir(&dir).coded(
            codes::SCAFFOLD_EXISTS,
            format_args!("cannot replace the empty directory {}", dir.display()),
            "remove it, or choose another directory",
        )?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, &dir).map_err(|e| {
        let _ = std::fs::remove_dir_all(&staged);
        CliError::raise(
            codes::WRITE,
            format!("cannot move the new crate to {}: {e}", dir.display()),
            "check the directory's permissions",
        )
    })?;
    Ok(NewReport {
        name: options.name.clone(),
        kind: options.kind,
        dir,
        files: files.iter().map(|(rel, _)| (*rel).to_owned()).collect(),
        sdk,
    })
}

/// `switchboard new NAME [--kind KIND] [--dir DIR] [--description TEXT] [--sdk-path DIR]`.
#[derive(Debug, clap::Args)]
pub struct NewCli {
    /// The plugin's name: its package, library and directory name.
    pub name: String,
    /// What the plugin starts as.
    #[arg(long, value_enum, default_value = "command")]
    pub kind: TemplateKind,
    /// The directory to create (default: ./NAME); it must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The one-line description (default: one for the kind).
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// Depend on the SDK at this path (a Switchboard checkout's `sdk/`) rather than on
    /// crates.io; the default when this CLI runs from a checkout.
    #[arg(long, value_name = "DIR")]
    pub sdk_path: Option<PathBuf>,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
}

impl NewCli {
    /// Runs the command; the exit status.
    pub fn run(self) -> std::process::ExitCode {
        let json = self.json;
        match self.execute() {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => crate::output::report_error(&e, json),
        }
    }

    fn execute(self) -> Result<()> {
        let sdk = match &self.sdk_path {
            Some(dir) => SdkSource::path(dir)?,
            None => SdkSource::detect(),
        };
        let report = new_plugin(&NewOptions {
            name: self.name,
            kind: self.kind,
            dir: self.dir,
            description: self.description,
            sdk,
        })?;
        if self.json {
            let mut doc = serde_json::to_value(&report)?;
            doc["ok"] = true.into();
            crate::output::print(&format!("{doc}\n"));
        } else {
            let mut text = format!(
                "created {} plugin `{}` in {}\n",
                report.kind.as_str(),
                report.name,
                report.dir.display()
            );
            for f in &report.files {
                text.push_str(&format!("  {f}\n"));
            }
            text.push_str(&format!(
                "next:\n  cd {}\n  switchboard test\n",
                report.dir.display()
            ));
            crate::output::print(&text);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_type_names_without_shadowing_the_prelude() {
        assert_eq!(type_name("word-count"), "WordCount");
        assert_eq!(type_name("hello"), "Hello");
        assert_eq!(type_name("a__b"), "AB");
        assert_eq!(type_name("plugin"), "PluginPlugin");
        assert_eq!(type_name("context"), "ContextPlugin");
    }

    #[test]
    fn bad_and_reserved_names_are_refused_with_a_code() {
        for name in [
            "",
            "2x",
            "a b",
            "wéird",
            "fn",
            "self",
            "test",
            "std",
            "serde",
            "Switchboard_SDK",
        ] {
            let e = check_name(name).unwrap_err();
            assert_eq!(crate::output::code_of(&e).0, "SB0070", "{name}: {e:#}");
        }
        check_name("word-count").unwrap();
    }

    #[test]
    fn an_existing_directory_with_files_is_never_touched() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("taken");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("keep.txt"), "mine").unwrap();
        let e = new_plugin(&NewOptions {
            name: "taken".into(),
            kind: TemplateKind::Command,
            dir: Some(dir.clone()),
            description: None,
            sdk: SdkSource::Version("0.1.0".into()),
        })
        .unwrap_err();
        assert_eq!(crate::output::code_of(&e).0, "SB0071", "{e:#}");
        assert_eq!(
            std::fs::read_to_string(dir.join("keep.txt")).unwrap(),
            "mine"
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn every_kind_renders_every_placeholder_and_valid_toml() {
        let tmp = tempfile::tempdir().unwrap();
        for kind in TemplateKind::ALL {
            let name = format!("my-{}", kind.as_str());
            let report = new_plugin(&NewOptions {
                name: name.clone(),
                kind,
                dir: Some(tmp.path().join(&name)),
                description: Some("Quotes \"and\" back\\slashes".into()),
                sdk: SdkSource::Version("0.1.0".into()),
            })
            .unwrap();
            for rel in &report.files {
                let text = std::fs::read_to_string(report.dir.join(rel)).unwrap();
                assert!(
                    !text.contains("{{"),
                    "{rel} of {kind:?} keeps a placeholder"
                );
                if rel.ends_with(".toml") {
                    text.parse::<toml::Table>()
                        .unwrap_or_else(|e| panic!("{rel} of {kind:?}: {e}"));
                }
            }
            let manifest = std::fs::read_to_string(report.dir.join("plugin.toml")).unwrap();
            switchboard_sdk::manifest::Manifest::parse(
                &manifest,
                switchboard_sdk::manifest::Format::Toml,
            )
            .unwrap_or_else(|e| panic!("plugin.toml of {kind:?}: {e:?}"));
            // No staging directory is left behind.
            let leftovers = std::fs::read_dir(tmp.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with(".switchboard-new-")
                })
                .count();
            assert_eq!(leftovers, 0);
        }
    }
}
