//! Several registries (SPEC S9.7): the ones a host's database lists, each with a priority, an
//! optional token, a certified-only filter and a channel; the policy's `allowed_registries`;
//! name lookups by priority that never mix registries silently.
//!
//! **Which registry a plugin comes from.** Registries are asked from the highest priority
//! down, and the first one that *has* the name answers for it — even when none of its
//! releases is visible with its settings (certified only, the channel) or matches: a lower
//! registry is never asked for a name a higher one has. That is what defeats dependency
//! confusion: a public registry cannot slip a plugin in under the name of a team's private
//! one. To take a plugin from another registry, name it: `REGISTRY:NAME`.

mod error;
mod host_seen;
mod index;
mod listing;
mod reference;
pub mod search;
mod source;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use switchboard_host::{Policy, RegistryRecord, Store, TrustLevel};

pub use error::RegistriesError;
pub use host_seen::HostSeenStore;
pub use index::RegistryIndex;
pub use listing::{listed_plugin, visible};
pub use reference::{
    parse_channel, validate_registry_name, Location, PluginRef, MAX_REGISTRY_NAME,
};
pub use source::RegistrySource;

use self::search::{
    Compat, Compatibility, ListedPlugin, ListedRelease, Listing, SearchPage, SearchQuery,
};
use crate::client::{RefreshReport, RegistryClient};
use crate::format::IndexLine;
use crate::transport::{DirTransport, HttpTransport};
use crate::{MemorySeen, RegistryError, Seen, SeenStore, Transport};

/// The cache directory's name inside a data directory.
pub const CACHE_DIR: &str = "registry-cache";

/// How [`Registries::open`] reaches the registries.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct OpenOptions {
    /// Where verified files and search listings are cached (one directory per registry);
    /// default `<data dir>/registry-cache` is the caller's choice.
    pub cache_dir: PathBuf,
    /// Tokens by registry name, read by the caller from the variables the registries name
    /// (libraries never read the environment), or for a registry naming no variable, a
    /// token the caller keeps for it (the CLI's `switchboard login`).
    pub tokens: BTreeMap<String, String>,
}

impl OpenOptions {
    /// Options caching under `cache_dir`, no tokens.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        OpenOptions {
            cache_dir: cache_dir.into(),
            tokens: BTreeMap::new(),
        }
    }
}

/// One configured registry, opened.
struct Member {
    record: RegistryRecord,
    client: RegistryClient,
    cache_dir: PathBuf,
    listing: OnceLock<Arc<Listing>>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("name", &self.record.name)
            .field("location", &self.record.location)
            .field("priority", &self.record.priority)
            .finish_non_exhaustive()
    }
}

/// The registries of a host, highest priority first, each behind a verifying client.
///
/// Open them with [`Registries::open`], then [`refresh`](Registries::refresh) (or
/// [`use_cached`](Registries::use_cached) for `--offline`) before reading.
#[derive(Debug)]
pub struct Registries {
    members: Vec<Member>,
}

/// Where a name was found: the registry that answers for it and its visible releases.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Found {
    /// The registry's name.
    pub registry: String,
    /// The plugin, as listed (visible releases only, newest first).
    pub plugin: ListedPlugin,
    /// Lower-priority registries that also have the name (not used without `REGISTRY:NAME`).
    pub shadows: Vec<String>,
}

/// What `info` shows of a plugin.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PluginInfo {
    /// Where it was found.
    pub found: Found,
    /// The release asked for (`NAME@VERSION`), or the newest not yanked.
    pub selected: Option<ListedRelease>,
    /// Each visible release's compatibility with the host, in `found.plugin.releases` order.
    pub compatibility: Vec<Compatibility>,
}

/// A registry refreshed: its name and what the refresh found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Refreshed {
    /// The registry.
    pub registry: String,
    /// The versions verified.
    pub report: RefreshReport,
}

/// How a registry's root of trust was pinned when it was added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RootSource {
    /// From a file given by the user (`--root FILE`).
    File,
    /// Trust on first use: the registry's own `1.root.json`, as served when it was added.
    FirstUse,
}

/// What adding a registry needs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AddOptions {
    /// Its name.
    pub name: String,
    /// Where it is.
    pub location: Location,
    /// Higher is asked first.
    pub priority: i64,
    /// The root of trust to pin (`root.json` bytes); `None` trusts the registry's
    /// `1.root.json` on first use.
    pub root: Option<Vec<u8>>,
    /// The variable holding its token, stored; the token itself is `token`.
    pub token_env: Option<String>,
    /// The token, if it needs one.
    pub token: Option<String>,
    /// Only certified releases.
    pub certified_only: bool,
    /// `ga` or `beta`.
    pub channel: String,
}

impl AddOptions {
    /// A registry on the `ga` channel, root trusted on first use, no token.
    pub fn new(name: impl Into<String>, location: Location, priority: i64) -> Self {
        AddOptions {
            name: name.into(),
            location,
            priority,
            root: None,
            token_env: None,
            token: None,
            certified_only: false,
            channel: "ga".to_owned(),
        }
    }
}

/// What [`add`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Added {
    /// The record stored.
    pub record: RegistryRecord,
    /// Where the pinned root came from.
    pub root_source: RootSource,
    /// The pinned root's fingerprint (to compare with what the registry's operator publishes).
    pub fingerprint: String,
    /// The first refresh, which verified the registry before it was stored.
    pub refresh: RefreshReport,
    /// How many plugins it lists.
    pub plugins: usize,
}

/// Refuses `location` unless `policy`'s `allowed_registries` allows it (an empty list allows
/// any).
pub fn check_allowed(
    policy: &Policy,
    name: Option<&str>,
    location: &str,
) -> Result<(), RegistriesError> {
    if policy.registry_allowed(location) {
        return Ok(());
    }
    Err(RegistriesError::NotAllowed {
        name: name.map(str::to_owned),
        location: location.to_owned(),
        allowed: policy.allowed_registries().map(str::to_owned).collect(),
    })
}

fn transport(
    location: &Location,
    token: Option<&str>,
) -> Result<Box<dyn Transport>, RegistryError> {
    Ok(match location {
        Location::Url(url) => {
            let t = HttpTransport::new(url)?;
            Box::new(match token {
                Some(token) => t.with_token(token)?,
                None => t,
            })
        }
        Location::Dir(dir) => Box::new(DirTransport::new(dir)?),
    })
}

fn member_cache(cache_dir: &Path, name: &str) -> PathBuf {
    cache_dir.join(name)
}

/// Adds a registry to `store` after checking it: the name and priority are free, the policy
/// allows it, its root of trust parses and signs itself, and a first refresh verifies. Nothing
/// is stored unless all of that passes.
pub fn add(
    store: &Store,
    policy: &Policy,
    cache_dir: &Path,
    options: AddOptions,
) -> Result<Added, RegistryError> {
    validate_registry_name(&options.name)?;
    let channel = parse_channel(&options.channel)?;
    let location = options.location.as_string();
    check_allowed(policy, Some(&options.name), &location)?;
    let table = store.registries();
    let existing = table.list().map_err(RegistriesError::from)?;
    if existing.iter().any(|r| r.name == options.name) {
        return Err(RegistriesError::NameTaken { name: options.name }.into());
    }
    if let Some(other) = existing.iter().find(|r| r.priority == options.priority) {
        return Err(RegistriesError::PriorityTaken {
            priority: options.priority,
            other: other.name.clone(),
        }
        .into());
    }
    if let (Location::Dir(_), Some(var)) = (&options.location, &options.token_env) {
        return Err(RegistriesError::TokenForDirectory {
            registry: options.name.clone(),
            var: var.clone(),
        }
        .into());
    }
    if let (Some(var), None) = (&options.token_env, &options.token) {
        return Err(RegistriesError::TokenMissing {
            registry: options.name.clone(),
            var: var.clone(),
        }
        .into());
    }
    let cache = member_cache(cache_dir, &options.name);
    // A registry once added under this name left files that say nothing about this one.
    let _ = std::fs::remove_dir_all(&cache);
    // Verified in memory first: the database learns of it only once it checks out.
    let trial = Arc::new(MemorySeen::default());
    let client = RegistryClient::new(
        options.name.clone(),
        transport(&options.location, options.token.as_deref())?,
        Arc::clone(&trial) as Arc<dyn SeenStore>,
        cache.clone(),
    );
    let (root_bytes, root_source) = match options.root {
        Some(bytes) => (bytes, RootSource::File),
        None => (fetch_first_root(&client)?, RootSource::FirstUse),
    };
    let root = client
        .pin(&root_bytes)
        .map_err(|e| bad_root(&options.name, e))?;
    let refresh = client.refresh()?;
    let plugins = client.names()?.len();
    let mut record = RegistryRecord::new(&options.name, location, options.priority, root_bytes)
        .with_certified_only(options.certified_only)
        .with_channel(channel);
    if let Some(var) = options.token_env {
        record = record.with_token_env(var);
    }
    if !table.add(&record).map_err(RegistriesError::from)? {
        // Another process took the name or the priority meanwhile.
        return Err(RegistriesError::NameTaken { name: record.name }.into());
    }
    let seen = trial
        .load(&record.name)?
        .unwrap_or_else(|| Seen::pinned(record.root.clone()));
    HostSeenStore::new(store).store(&record.name, &seen)?;
    Ok(Added {
        record,
        root_source,
        fingerprint: root.fingerprint(),
        refresh,
        plugins,
    })
}

/// The registry's first root (`1.root.json`), for trust on first use.
fn fetch_first_root(client: &RegistryClient) -> Result<Vec<u8>, RegistryError> {
    match client
        .transport()
        .fetch("1.root.json", crate::metadata::MAX_ROOT_BYTES, None)?
    {
        crate::Fetched::Body { bytes, .. } => Ok(bytes),
        _ => Err(RegistriesError::BadRoot {
            registry: client.name().to_owned(),
            reason: "the registry did not send 1.root.json".into(),
        }
        .into()),
    }
}

fn bad_root(registry: &str, e: RegistryError) -> RegistryError {
    RegistriesError::BadRoot {
        registry: registry.to_owned(),
        reason: e.message(),
    }
    .into()
}

/// Removes the registry `name` from `store`, with what was seen of it and its cache.
pub fn remove(
    store: &Store,
    cache_dir: &Path,
    name: &str,
) -> Result<RegistryRecord, RegistryError> {
    let table = store.registries();
    let Some(record) = table.get(name).map_err(RegistriesError::from)? else {
        return Err(unknown(store, name));
    };
    table.remove(name).map_err(RegistriesError::from)?;
    let _ = std::fs::remove_dir_all(member_cache(cache_dir, name));
    Ok(record)
}

fn unknown(store: &Store, name: &str) -> RegistryError {
    let known = store
        .registries()
        .list()
        .map(|l| l.into_iter().map(|r| r.name).collect())
        .unwrap_or_default();
    RegistriesError::UnknownRegistry {
        name: name.to_owned(),
        known,
    }
    .into()
}

impl Registries {
    /// Opens every registry `store` lists, highest priority first. Refused when the policy does
    /// not allow one (`SB1364`: a registry added before the policy changed is not used
    /// quietly) or a token it needs is not in `options.tokens` (`SB1368`). Fetches nothing.
    pub fn open(
        store: &Store,
        policy: &Policy,
        options: &OpenOptions,
    ) -> Result<Registries, RegistryError> {
        let records = store.registries().list().map_err(RegistriesError::from)?;
        let seen: Arc<dyn SeenStore> = Arc::new(HostSeenStore::new(store));
        let mut members = Vec::with_capacity(records.len());
        for record in records {
            check_allowed(policy, Some(&record.name), &record.location)?;
            let token = match &record.token_env {
                Some(var) => Some(options.tokens.get(&record.name).ok_or_else(|| {
                    RegistriesError::TokenMissing {
                        registry: record.name.clone(),
                        var: var.clone(),
                    }
                })?),
                // A token given without a variable (the CLI's `switchboard login`): used as is.
                None => options.tokens.get(&record.name),
            };
            let location = Location::from_stored(&record.location);
            let cache_dir = member_cache(&options.cache_dir, &record.name);
            let client = RegistryClient::new(
                record.name.clone(),
                transport(&location, token.map(String::as_str))?,
                Arc::clone(&seen),
                cache_dir.clone(),
            );
            members.push(Member {
                record,
                client,
                cache_dir,
                listing: OnceLock::new(),
            });
        }
        Ok(Registries { members })
    }

    /// The registries, highest priority first.
    pub fn records(&self) -> impl Iterator<Item = &RegistryRecord> {
        self.members.iter().map(|m| &m.record)
    }

    /// Whether none is configured.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Refreshes every registry (the TUF workflow: the timestamp, and the snapshot only when
    /// it changed), refusing rolled-back, frozen or tampered metadata.
    pub fn refresh(&self) -> Result<Vec<Refreshed>, RegistryError> {
        let mut out = Vec::with_capacity(self.members.len());
        for m in &self.members {
            let report = m.client.refresh()?;
            out.push(Refreshed {
                registry: m.record.name.clone(),
                report,
            });
        }
        Ok(out)
    }

    /// Uses what the last refresh cached, asking no registry (`--offline`). Refused for a
    /// registry with nothing cached (`SB1372`).
    pub fn use_cached(&self) -> Result<(), RegistryError> {
        for m in &self.members {
            m.client.open_offline().map_err(|e| match e {
                RegistryError::Client(crate::client::ClientError::NotRefreshed { .. }) => {
                    RegistriesError::NotCached {
                        registry: m.record.name.clone(),
                    }
                    .into()
                }
                e => e,
            })?;
        }
        Ok(())
    }

    fn member(&self, name: &str) -> Result<&Member, RegistryError> {
        self.members
            .iter()
            .find(|m| m.record.name == name)
            .ok_or_else(|| {
                RegistriesError::UnknownRegistry {
                    name: name.to_owned(),
                    known: self.members.iter().map(|m| m.record.name.clone()).collect(),
                }
                .into()
            })
    }

    /// The client of the registry `name`.
    pub fn client(&self, name: &str) -> Result<&RegistryClient, RegistryError> {
        Ok(&self.member(name)?.client)
    }

    /// The registry's prepared listing: from memory, else from the cache when it was built
    /// from the same snapshot, else built from the verified index (and cached).
    pub fn listing(&self, registry: &str) -> Result<Arc<Listing>, RegistryError> {
        self.member(registry)?.listing()
    }

    /// Searches every registry (highest priority first).
    pub fn search(&self, query: &SearchQuery) -> Result<SearchPage, RegistryError> {
        let listings = self
            .members
            .iter()
            .map(Member::listing)
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&Listing> = listings.iter().map(Arc::as_ref).collect();
        Ok(search::search(&refs, query))
    }

    /// The registry that answers for `reference` and the plugin as it lists it: the named
    /// registry, else the highest-priority one that has the name (see the module docs).
    pub fn find(&self, reference: &PluginRef) -> Result<Found, RegistryError> {
        let (member, rest): (&Member, Vec<&Member>) = match &reference.registry {
            Some(r) => (self.member(r)?, Vec::new()),
            None => {
                let mut having = Vec::new();
                for m in &self.members {
                    if m.client.releases(&reference.name)?.is_some() {
                        having.push(m);
                    }
                }
                let mut having = having.into_iter();
                let Some(first) = having.next() else {
                    return Err(RegistriesError::PluginNotFound {
                        name: reference.name.clone(),
                        searched: self.members.iter().map(|m| m.record.name.clone()).collect(),
                    }
                    .into());
                };
                (first, having.collect())
            }
        };
        let Some(file) = member.client.releases(&reference.name)? else {
            return Err(RegistriesError::PluginNotFound {
                name: reference.name.clone(),
                searched: vec![member.record.name.clone()],
            }
            .into());
        };
        let plugin = listed_plugin(&reference.name, &file.releases, &member.record);
        if plugin.releases.is_empty() {
            return Err(RegistriesError::NothingVisible {
                name: reference.name.clone(),
                registry: member.record.name.clone(),
                what: "visible".into(),
                hidden_by: hidden_by(&member.record, &file.releases),
            }
            .into());
        }
        Ok(Found {
            registry: member.record.name.clone(),
            plugin,
            shadows: rest.iter().map(|m| m.record.name.clone()).collect(),
        })
    }

    /// What `switchboard info` shows: the plugin from the registry that answers for it, each
    /// visible release with its compatibility with `compat`, and the release asked for.
    pub fn info(
        &self,
        reference: &PluginRef,
        compat: &Compat,
    ) -> Result<PluginInfo, RegistryError> {
        let found = self.find(reference)?;
        let selected = match &reference.version {
            Some(v) => Some(
                found
                    .plugin
                    .releases
                    .iter()
                    .find(|r| &r.version == v)
                    .cloned()
                    .ok_or_else(|| -> RegistryError {
                        let member = self.member(&found.registry);
                        RegistriesError::NothingVisible {
                            name: reference.name.clone(),
                            registry: found.registry.clone(),
                            what: format!("{v}"),
                            hidden_by: match member {
                                Ok(m) => format!(
                                    "see the versions there are with `switchboard info {}` ({})",
                                    reference.name,
                                    settings(&m.record)
                                ),
                                Err(_) => String::new(),
                            },
                        }
                        .into()
                    })?,
            ),
            None => found.plugin.newest(None).cloned(),
        };
        let compatibility = found
            .plugin
            .releases
            .iter()
            .map(|r| compat.check(r))
            .collect();
        Ok(PluginInfo {
            found,
            selected,
            compatibility,
        })
    }

    /// The resolver's view of these registries (`switchboard-host`'s [`Index`](switchboard_host::Index)).
    /// Betas are included only for registries on the `beta` channel or when `betas` is set.
    pub fn index(&self, betas: bool) -> RegistryIndex<'_> {
        RegistryIndex::new(self, betas)
    }

    /// The registry that answers for `name` — `pinned`, else the highest priority having it —
    /// and its index file; `None` when none has it.
    pub(crate) fn members_for(
        &self,
        name: &str,
        pinned: Option<&str>,
    ) -> Result<Option<(&RegistryRecord, Arc<crate::format::IndexFile>)>, RegistryError> {
        if let Some(r) = pinned {
            let m = self.member(r)?;
            return Ok(m.client.releases(name)?.map(|f| (&m.record, f)));
        }
        for m in &self.members {
            if let Some(f) = m.client.releases(name)? {
                return Ok(Some((&m.record, f)));
            }
        }
        Ok(None)
    }
}

/// The registry's settings, in words.
fn settings(record: &RegistryRecord) -> String {
    let mut s = format!(
        "registry `{}` shows the {} channel",
        record.name, record.channel
    );
    if record.certified_only {
        s.push_str(", certified releases only");
    }
    s
}

/// Why every release of a plugin is hidden, and what to do.
fn hidden_by(record: &RegistryRecord, lines: &[IndexLine]) -> String {
    let any_beta = lines
        .iter()
        .any(|l| l.channel == crate::format::Channel::Beta);
    let any_uncertified = lines.iter().any(|l| l.trust < TrustLevel::Certified);
    let mut steps = Vec::new();
    if record.channel == "ga" && any_beta {
        steps.push(
            "its releases are betas: re-add the registry with `--channel beta`, or ask for betas"
                .to_owned(),
        );
    }
    if record.certified_only && any_uncertified {
        steps.push(
            "its releases are not certified and the registry is `--certified-only`".to_owned(),
        );
    }
    if steps.is_empty() {
        steps.push(
            "it has only drafts, which are never installed: wait for its publisher to promote one"
                .to_owned(),
        );
    }
    format!(
        "{}; to take it from another registry anyway, name it: `REGISTRY:{}`",
        steps.join("; "),
        lines.first().map_or("NAME", |l| l.name.as_str())
    )
}

impl Member {
    fn listing(&self) -> Result<Arc<Listing>, RegistryError> {
        if let Some(l) = self.listing.get() {
            return Ok(Arc::clone(l));
        }
        let l = Arc::new(listing::load_or_build(
            &self.client,
            &self.record,
            &self.cache_dir,
        )?);
        Ok(Arc::clone(self.listing.get_or_init(|| l)))
    }
}
