//! `switchboard search` and `switchboard info`: finding plugins in the configured registries
//! (SPEC S9.2), after a refresh (or `--offline`).

use std::path::Path;

use serde_json::json;
use switchboard_host::{HostProfile, TrustLevel};
use switchboard_registry::registries::search::{Compat, ListedRelease};
use switchboard_registry::{PluginInfo, PluginRef, SearchPage, SearchQuery, SortOrder};

use crate::registries::{open, Access};

/// What `search` is given.
#[derive(Debug, Clone)]
pub struct SearchArgs {
    /// The words.
    pub query: String,
    /// `--category`.
    pub category: Option<String>,
    /// `--capability`.
    pub capability: Option<String>,
    /// `--compatible`.
    pub compatible: bool,
    /// `--host-api NAME@VERSION`, for compatibility.
    pub host_api: Option<String>,
    /// `--trust LEVEL`: at least this trusted.
    pub trust: Option<TrustLevel>,
    /// `--maintainer`.
    pub maintainer: Option<String>,
    /// `--sort`.
    pub sort: SortOrder,
    /// `--page`, from 1.
    pub page: usize,
    /// `--per-page`.
    pub per_page: usize,
}

fn compat(host_api: Option<&str>) -> anyhow::Result<Compat> {
    Ok(Compat::new(match host_api {
        Some(spec) => {
            let (name, version) = crate::preflight::parse_host_api(spec)?;
            Some(HostProfile::new(name, version))
        }
        None => None,
    }))
}

/// `switchboard search`.
pub fn search(data_dir: &Path, access: &Access, args: &SearchArgs) -> anyhow::Result<SearchPage> {
    let regs = open(data_dir, access)?;
    let mut q = SearchQuery::new(args.query.clone());
    q.category = args.category.clone();
    q.capability = args.capability.clone();
    q.compatible = args
        .compatible
        .then(|| compat(args.host_api.as_deref()))
        .transpose()?;
    q.min_trust = args.trust;
    q.maintainer = args.maintainer.clone();
    q.sort = args.sort;
    q.page = args.page;
    q.per_page = args.per_page;
    Ok(regs.search(&q)?)
}

/// The JSON `search --json` prints.
pub fn search_json(page: &SearchPage) -> serde_json::Value {
    let hits: Vec<_> = page
        .hits
        .iter()
        .map(|h| {
            json!({
                "registry": h.registry,
                "name": h.name,
                "version": h.version.to_string(),
                "description": h.description,
                "trust": h.trust.to_string(),
                "channel": h.channel,
                "categories": h.categories,
                "capabilities": h.capabilities,
                "published": h.published,
                "deprecated": h.deprecated.is_some(),
                "successor": h.deprecated.clone().flatten(),
                "shadowed_by": h.shadowed_by,
                "reference": match &h.shadowed_by {
                    Some(_) => format!("{}:{}", h.registry, h.name),
                    None => h.name.clone(),
                },
            })
        })
        .collect();
    json!({ "ok": true, "total": page.total, "page": page.page, "pages": page.pages, "hits": hits })
}

/// What `search` prints for people.
pub fn search_text(page: &SearchPage) -> String {
    if page.total == 0 {
        return "no plugin matches\n".to_owned();
    }
    let mut s = String::new();
    for h in &page.hits {
        let badge = match h.trust {
            TrustLevel::Certified => "[certified]",
            TrustLevel::Verified => "[verified]",
            _ => "[self-signed]",
        };
        let reference = match &h.shadowed_by {
            Some(_) => format!("{}:{}", h.registry, h.name),
            None => h.name.clone(),
        };
        s.push_str(&format!(
            "{reference} {} {badge} — {}\n",
            h.version, h.description
        ));
        let mut notes = vec![format!("registry {}", h.registry)];
        if h.channel != "ga" {
            notes.push(h.channel.clone());
        }
        if let Some(successor) = &h.deprecated {
            notes.push(match successor {
                Some(s) => format!("deprecated: use {s}"),
                None => "deprecated".to_owned(),
            });
        }
        if let Some(other) = &h.shadowed_by {
            notes.push(format!("`{}` alone means the one in {other}", h.name));
        }
        s.push_str(&format!("    {}\n", notes.join("; ")));
    }
    s.push_str(&format!(
        "page {} of {} ({} plugin{})\n",
        page.page,
        page.pages,
        page.total,
        if page.total == 1 { "" } else { "s" }
    ));
    s
}

/// `switchboard info`.
pub fn info(
    data_dir: &Path,
    access: &Access,
    reference: &str,
    host_api: Option<&str>,
) -> anyhow::Result<PluginInfo> {
    let reference: PluginRef = reference
        .parse()
        .map_err(switchboard_registry::RegistryError::from)?;
    let compat = compat(host_api)?;
    let regs = open(data_dir, access)?;
    Ok(regs.info(&reference, &compat)?)
}

fn release_json(
    r: &ListedRelease,
    compat: &switchboard_registry::registries::search::Compatibility,
) -> serde_json::Value {
    json!({
        "version": r.version.to_string(),
        "channel": r.channel,
        "trust": r.trust.to_string(),
        "signer": r.signer,
        "yanked": r.yanked.is_some(),
        "yank_reason": r.yanked,
        "host_api": r.host_api.as_ref().map(|(n, req)| json!({ "name": n, "req": req })),
        "sdk_abi": r.sdk_abi.map(|(a, b)| format!("{a}.{b}")),
        "capabilities": r.capabilities,
        "dependencies": r.dependencies.iter().map(|(n, req, optional)| json!({ "name": n, "req": req, "optional": optional })).collect::<Vec<_>>(),
        "published": r.published,
        "sha256": r.sha256,
        "size": r.size,
        "compatibility": compat.as_str(),
        "compatibility_reason": compat.reason(),
    })
}

/// The JSON `info --json` prints.
pub fn info_json(i: &PluginInfo) -> serde_json::Value {
    let p = &i.found.plugin;
    json!({
        "ok": true,
        "registry": i.found.registry,
        "also_in": i.found.shadows,
        "name": p.name,
        "description": p.description,
        "keywords": p.keywords,
        "categories": p.categories,
        "maintainers": p.maintainers,
        "license": p.license,
        "repository": p.repository,
        "deprecated": p.deprecated.is_some(),
        "successor": p.deprecated.clone().flatten(),
        "selected": i.selected.as_ref().map(|r| r.version.to_string()),
        "releases": p.releases.iter().zip(&i.compatibility).map(|(r, c)| release_json(r, c)).collect::<Vec<_>>(),
    })
}

/// What `info` prints for people.
pub fn info_text(i: &PluginInfo) -> String {
    let p = &i.found.plugin;
    let mut s = format!("{} — {}\n", p.name, p.description);
    s.push_str(&format!("  registry:     {}\n", i.found.registry));
    if !i.found.shadows.is_empty() {
        s.push_str(&format!(
            "  also in:      {} (lower priority; name it as REGISTRY:{} to use it)\n",
            i.found.shadows.join(", "),
            p.name
        ));
    }
    if let Some(successor) = &p.deprecated {
        s.push_str(&format!(
            "  deprecated:   {}\n",
            successor
                .as_ref()
                .map_or("yes".to_owned(), |s| format!("use {s} instead"))
        ));
    }
    if let Some(l) = &p.license {
        s.push_str(&format!("  license:      {l}\n"));
    }
    if !p.maintainers.is_empty() {
        s.push_str(&format!("  maintainers:  {}\n", p.maintainers.join(", ")));
    }
    if !p.categories.is_empty() {
        s.push_str(&format!("  categories:   {}\n", p.categories.join(", ")));
    }
    if let Some(r) = &i.selected {
        let c = p
            .releases
            .iter()
            .position(|x| x.version == r.version)
            .and_then(|n| i.compatibility.get(n));
        s.push_str(&format!("  release {}:\n", r.version));
        s.push_str(&format!(
            "    trust:        {} (signer {})\n",
            r.trust, r.signer
        ));
        s.push_str(&format!("    channel:      {}\n", r.channel));
        if let Some(reason) = &r.yanked {
            s.push_str(&format!("    yanked:       {reason}\n"));
        }
        s.push_str(&format!(
            "    capabilities: {}\n",
            if r.capabilities.is_empty() {
                "none".to_owned()
            } else {
                r.capabilities.join(", ")
            }
        ));
        s.push_str(&format!(
            "    dependencies: {}\n",
            if r.dependencies.is_empty() {
                "none".to_owned()
            } else {
                r.dependencies
                    .iter()
                    .map(|(n, req, o)| format!("{n} {req}{}", if *o { " (optional)" } else { "" }))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
        if let Some((n, req)) = &r.host_api {
            s.push_str(&format!("    host API:     {n} {req}\n"));
        }
        if let Some(c) = c {
            s.push_str(&format!(
                "    this host:    {}{}\n",
                c.as_str(),
                c.reason().map(|r| format!(" — {r}")).unwrap_or_default()
            ));
        }
        s.push_str(&format!(
            "    package:      sha256 {} ({} bytes)\n",
            r.sha256, r.size
        ));
    }
    s.push_str("  versions:\n");
    for (r, c) in p.releases.iter().zip(&i.compatibility) {
        let mut notes = vec![
            r.channel.clone(),
            r.trust.to_string(),
            c.as_str().to_owned(),
        ];
        if r.yanked.is_some() {
            notes.push("yanked".into());
        }
        s.push_str(&format!("    {} ({})\n", r.version, notes.join(", ")));
    }
    s
}

/// The options every command that reads registries takes.
#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    /// The data directory (default: SWITCHBOARD_HOME, then the platform's).
    #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
    data_dir: Option<std::path::PathBuf>,
    /// Use what the last refresh verified; ask no registry.
    #[arg(long)]
    offline: bool,
    /// The host policy (default: `DATA_DIR/policy.toml` if present).
    #[arg(long, value_name = "FILE")]
    policy: Option<std::path::PathBuf>,
    /// Check compatibility with this host API, as NAME@VERSION (the SDK ABI is always
    /// checked).
    #[arg(long, value_name = "NAME@VERSION")]
    host_api: Option<String>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

/// How `search` orders hits.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SortArg {
    Relevance,
    Name,
    Updated,
}

/// `switchboard search` (the clap table).
#[derive(Debug, clap::Args)]
pub struct SearchCli {
    /// Words to look for in names, keywords, categories and descriptions (all must match;
    /// none lists everything).
    #[arg(default_value = "")]
    query: String,
    /// Only plugins in this category.
    #[arg(long)]
    category: Option<String>,
    /// Only plugins requesting this capability (e.g. `fs.read`).
    #[arg(long, value_name = "CAP")]
    capability: Option<String>,
    /// Only plugins with a release compatible with this host (SDK ABI; host API with
    /// --host-api).
    #[arg(long)]
    compatible: bool,
    /// Only plugins at least this trusted: self-signed, verified, certified.
    #[arg(long, value_name = "LEVEL", value_parser = parse_trust)]
    trust: Option<TrustLevel>,
    /// Only plugins with a maintainer containing this text.
    #[arg(long, value_name = "M")]
    maintainer: Option<String>,
    /// The order.
    #[arg(long, value_enum, default_value_t = SortArg::Relevance)]
    sort: SortArg,
    /// The page to show, from 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    page: u64,
    /// Hits per page.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000))]
    per_page: u64,
    #[command(flatten)]
    read: ReadArgs,
}

fn parse_trust(s: &str) -> Result<TrustLevel, String> {
    s.parse::<TrustLevel>().map_err(|e| e.to_string())
}

fn access(read: &ReadArgs) -> Access {
    Access {
        offline: read.offline,
        policy: read.policy.clone(),
    }
}

fn finish(result: anyhow::Result<String>, json: bool) -> std::process::ExitCode {
    match result {
        Ok(text) => {
            crate::output::print(&text);
            std::process::ExitCode::SUCCESS
        }
        Err(e) => crate::output::report_error(&e, json),
    }
}

impl SearchCli {
    /// Runs `search`; prints; returns the exit status.
    pub fn run(self) -> std::process::ExitCode {
        let json = self.read.json;
        let result = (|| -> anyhow::Result<String> {
            let dir = crate::data_dir::resolve(self.read.data_dir.clone())?;
            let args = SearchArgs {
                query: self.query,
                category: self.category,
                capability: self.capability,
                compatible: self.compatible,
                host_api: self.read.host_api.clone(),
                trust: self.trust,
                maintainer: self.maintainer,
                sort: match self.sort {
                    SortArg::Relevance => SortOrder::Relevance,
                    SortArg::Name => SortOrder::Name,
                    SortArg::Updated => SortOrder::Updated,
                },
                page: usize::try_from(self.page).unwrap_or(usize::MAX),
                per_page: usize::try_from(self.per_page).unwrap_or(20),
            };
            let page = search(&dir, &access(&self.read), &args)?;
            Ok(if json {
                format!("{}\n", search_json(&page))
            } else {
                search_text(&page)
            })
        })();
        finish(result, json)
    }
}

/// `switchboard info` (the clap table).
#[derive(Debug, clap::Args)]
pub struct InfoCli {
    /// NAME, NAME@VERSION, or REGISTRY:NAME[@VERSION] to take it from that registry.
    plugin: String,
    #[command(flatten)]
    read: ReadArgs,
}

impl InfoCli {
    /// Runs `info`; prints; returns the exit status.
    pub fn run(self) -> std::process::ExitCode {
        let json = self.read.json;
        let result = (|| -> anyhow::Result<String> {
            let dir = crate::data_dir::resolve(self.read.data_dir.clone())?;
            let i = info(
                &dir,
                &access(&self.read),
                &self.plugin,
                self.read.host_api.as_deref(),
            )?;
            Ok(if json {
                format!("{}\n", info_json(&i))
            } else {
                info_text(&i)
            })
        })();
        finish(result, json)
    }
}

/// What the demo's registry step found, each part checked by the demo.
#[derive(Debug, Clone)]
pub struct DemoTour {
    /// The line `publish` wrote.
    pub published: String,
    /// Whether `publish` added it (or found the same bytes there).
    pub publish_ok: bool,
    /// The search page for `hello`.
    pub page: SearchPage,
    /// `info hello`.
    pub info: PluginInfo,
    /// The registry directory.
    pub registry: std::path::PathBuf,
}

/// The demo's registry tour: publishes the signed `package` (by the key `publisher_key`) to a
/// fresh registry in `data_dir/demo-registry`, adds it to `data_dir` as `demo` (its root pinned
/// from the file `registry init` wrote), searches it for `hello` and shows `info hello` — what
/// a user does with `registry init`, `publish`, `registry add`, `search` and `info`.
pub fn demo_tour(
    data_dir: &Path,
    package: &Path,
    publisher_key: &Path,
    host_api: &str,
) -> anyhow::Result<DemoTour> {
    use switchboard_registry::publish::{init, publish, InitOptions, PublishOptions};
    let registry = data_dir.join("demo-registry");
    let keys = data_dir.join("demo-registry-keys");
    // A kept data directory runs the tour again from scratch.
    let _ = crate::registries::remove(data_dir, "demo");
    for d in [&registry, &keys] {
        if d.exists() {
            std::fs::remove_dir_all(d)?;
        }
    }
    let mut options = InitOptions::default();
    options.publisher_keys = vec![publisher_key.to_owned()];
    init(&registry, &keys, &options)?;
    let report = publish(&registry, &keys, package, &PublishOptions::default())?;
    let mut add = crate::registries::AddArgs {
        name: "demo".into(),
        location: registry.display().to_string(),
        priority: 0,
        root: Some(registry.join("1.root.json")),
        token_env: None,
        certified_only: false,
        channel: "ga".into(),
        policy: None,
    };
    // Another registry the user added to a kept data directory may hold priority 0.
    let taken: Vec<i64> = crate::registries::list(data_dir)?
        .iter()
        .map(|r| r.priority)
        .collect();
    while taken.contains(&add.priority) {
        add.priority -= 1;
    }
    crate::registries::add(data_dir, add)?;
    let access = Access::default();
    let mut query = SearchArgs {
        query: "hello".into(),
        category: None,
        capability: None,
        compatible: true,
        host_api: Some(host_api.to_owned()),
        trust: None,
        maintainer: None,
        sort: SortOrder::Relevance,
        page: 1,
        per_page: 20,
    };
    query.trust = Some(TrustLevel::Verified);
    let page = search(data_dir, &access, &query)?;
    let info = info(data_dir, &access, "demo:hello", Some(host_api))?;
    Ok(DemoTour {
        published: format!(
            "{}@{} ({}, {}, signer {}) as {}",
            report.line.name,
            report.line.version,
            report.line.channel,
            report.line.trust,
            report.line.signer,
            report.package_path
        ),
        publish_ok: report.added,
        page,
        info,
        registry,
    })
}

/// `switchboard tree --resolve PLUGIN…`: resolve against the configured registries instead of
/// reading a lockfile.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TreeFromRegistries {
    /// Resolve this plugin (`NAME`, `NAME@RANGE`, `REGISTRY:NAME[@RANGE]`; repeatable) against the
    /// configured registries and show the result, instead of reading a lockfile.
    #[arg(long = "resolve", value_name = "PLUGIN")]
    pub resolve: Vec<String>,
    /// Let betas be chosen (drafts never are).
    #[arg(long, requires = "resolve")]
    pub betas: bool,
    /// Use what the last refresh verified; ask no registry.
    #[arg(long, requires = "resolve")]
    pub offline: bool,
    /// The host API to resolve for, as NAME@VERSION.
    #[arg(long, value_name = "NAME@VERSION", requires = "resolve")]
    pub host_api: Option<String>,
    /// The data directory (default: SWITCHBOARD_HOME, then the platform's).
    #[arg(long, value_name = "DIR", env = "SWITCHBOARD_HOME")]
    pub data_dir: Option<std::path::PathBuf>,
}

/// One `--resolve` request: `[REGISTRY:]NAME[@RANGE]`.
fn parse_request(text: &str) -> anyhow::Result<(Option<String>, String, semver::VersionReq)> {
    let bad = |reason: String| -> anyhow::Error {
        switchboard_registry::RegistryError::from(
            switchboard_registry::RegistriesError::BadReference {
                text: text.to_owned(),
                reason,
            },
        )
        .into()
    };
    let (registry, rest) = match text.split_once(':') {
        Some((r, rest)) => (Some(r.to_owned()), rest),
        None => (None, text),
    };
    let (name, req) = match rest.split_once('@') {
        Some((n, r)) => (n, r.parse().map_err(|e| bad(format!("range `{r}`: {e}")))?),
        None => (rest, semver::VersionReq::STAR),
    };
    // The name (and registry) rules are PluginRef's.
    let check = match &registry {
        Some(r) => format!("{r}:{name}"),
        None => name.to_owned(),
    };
    check
        .parse::<PluginRef>()
        .map_err(switchboard_registry::RegistryError::from)?;
    Ok((registry, name.to_owned(), req))
}

/// Resolves `args.resolve` against the registries; renders like `tree` does, each plugin with
/// the registry it comes from.
pub fn tree_from_registries(
    args: &TreeFromRegistries,
    format: crate::tree::Format,
) -> anyhow::Result<String> {
    use switchboard_host::{Dependency, Resolver};
    let dir = crate::data_dir::resolve(args.data_dir.clone())?;
    let requests = args
        .resolve
        .iter()
        .map(|r| parse_request(r))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let regs = open(
        &dir,
        &Access {
            offline: args.offline,
            policy: None,
        },
    )?;
    let mut index = regs.index(args.betas);
    for (registry, name, _) in &requests {
        if let Some(r) = registry {
            index.pin(name.clone(), r.clone());
        }
    }
    let mut resolver = Resolver::new(&index);
    if let Some(spec) = &args.host_api {
        let (name, version) = crate::preflight::parse_host_api(spec)?;
        let version = version.parse().map_err(|e| {
            crate::output::CliError::raise(
                crate::output::codes::HOST_API,
                format!("`{spec}`: {e}"),
                "write --host-api NAME@MAJOR.MINOR.PATCH",
            )
        })?;
        resolver.host_api(name, version);
    }
    if args.betas {
        resolver.allow_all_prereleases();
    }
    let wanted: Vec<Dependency> = requests
        .iter()
        .map(|(_, name, req)| Dependency::new(name.clone(), req.clone()))
        .collect();
    let resolution = resolver.resolve(&wanted)?;
    let graph = resolution.graph();
    let mut from = std::collections::BTreeMap::new();
    for p in resolution.plugins() {
        from.insert(
            p.name.clone(),
            index.source_of(&p.name)?.unwrap_or_default(),
        );
    }
    Ok(match format {
        crate::tree::Format::Dot => graph.to_dot(),
        crate::tree::Format::Json => {
            let plugins: Vec<_> = resolution
                .plugins()
                .map(|p| {
                    json!({
                        "name": p.name,
                        "version": p.version().to_string(),
                        "registry": from.get(&p.name),
                        "checksum": p.release.checksum,
                        "yanked": p.release.yanked,
                        "dependencies": p.dependencies,
                        "optional_dependencies": p.optional_dependencies,
                        "dependents": graph.dependents(&p.name),
                    })
                })
                .collect();
            format!(
                "{}\n",
                json!({ "ok": true, "plugins": plugins, "load_order": graph.load_order() })
            )
        }
        _ => {
            let mut s = graph.tree();
            s.push_str("from:\n");
            for p in resolution.plugins() {
                s.push_str(&format!(
                    "  {} {} — registry {}\n",
                    p.name,
                    p.version(),
                    from.get(&p.name).map_or("?", String::as_str)
                ));
            }
            s
        }
    })
}
