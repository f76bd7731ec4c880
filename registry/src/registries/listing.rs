//! Building a registry's search [`Listing`] from its verified index, and keeping it in the
//! cache directory so the next command does not rebuild it.
//!
//! The cached listing names the snapshot it was built from (the sha256 of `snapshot.json`)
//! and, per plugin, the sha256 of the index file it came from. When the snapshot is the same,
//! the listing is used as it is; when it changed, only plugins whose index file changed are
//! read again. The cache is a convenience: it is rebuilt from verified files whenever it is
//! missing, unreadable or stale. It is as trustworthy as the data directory it lives in (like
//! the host database); search reads it, while `info`, resolution and downloads read the
//! verified index itself.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use switchboard_host::{RegistryRecord, TrustLevel};

use super::search::{ListedPlugin, ListedRelease, Listing};
use crate::client::RegistryClient;
use crate::format::{index_path, Channel, IndexLine};
use crate::RegistryError;

/// The listing cache's file name inside a registry's cache directory.
const LISTING_FILE: &str = "search-listing.json";

/// The largest cached listing read back (bigger is rebuilt from the index).
const MAX_LISTING_BYTES: u64 = 256 << 20;

/// The listing format; another one is rebuilt.
const LISTING_FORMAT: u32 = 1;

/// Whether a release is visible under a registry's settings: drafts never; betas only on the
/// `beta` channel; with `certified_only`, certified releases only.
pub fn visible(line: &IndexLine, record: &RegistryRecord) -> bool {
    let channel_ok = match line.channel {
        Channel::Ga => true,
        Channel::Beta => record.channel == "beta",
        _ => false,
    };
    channel_ok && (!record.certified_only || line.trust >= TrustLevel::Certified)
}

fn listed_release(line: &IndexLine) -> ListedRelease {
    ListedRelease {
        version: line.version.clone(),
        channel: line.channel.as_str().to_owned(),
        trust: line.trust,
        signer: line.signer.clone(),
        yanked: line.yanked.as_ref().map(|y| y.reason.clone()),
        host_api: line
            .host_api
            .as_ref()
            .map(|h| (h.name.clone(), h.req.clone())),
        sdk_abi: line.sdk_abi(),
        capabilities: line.capabilities.clone(),
        dependencies: line
            .dependencies
            .iter()
            .map(|d| (d.name.clone(), d.req.clone(), d.optional))
            .collect(),
        published: line.published.clone(),
        sha256: line.sha256.clone(),
        size: line.size,
    }
}

/// The plugin `name` as search and `info` show it: its visible releases, newest first, and
/// the listing fields of the newest of them.
pub fn listed_plugin(name: &str, lines: &[IndexLine], record: &RegistryRecord) -> ListedPlugin {
    let mut shown: Vec<&IndexLine> = lines.iter().filter(|l| visible(l, record)).collect();
    shown.sort_by(|a, b| b.version.cmp(&a.version));
    // Deprecation is the newest word on the plugin, whatever its channel.
    let deprecated = lines
        .iter()
        .max_by(|a, b| a.version.cmp(&b.version))
        .and_then(|l| l.deprecated.as_ref())
        .map(|d| d.successor.clone());
    let head = shown.first().copied();
    ListedPlugin {
        name: name.to_owned(),
        description: head.map(|l| l.description.clone()).unwrap_or_default(),
        keywords: head.map(|l| l.keywords.clone()).unwrap_or_default(),
        categories: head.map(|l| l.categories.clone()).unwrap_or_default(),
        maintainers: head.map(|l| l.maintainers.clone()).unwrap_or_default(),
        license: head.and_then(|l| l.license.clone()),
        repository: head.and_then(|l| l.repository.clone()),
        deprecated,
        releases: shown.into_iter().map(listed_release).collect(),
    }
}

#[derive(Serialize, Deserialize)]
struct CachedListing {
    format: u32,
    /// sha256 of the `snapshot.json` it was built from.
    snapshot: String,
    channel: String,
    certified_only: bool,
    plugins: Vec<CachedPlugin>,
}

#[derive(Serialize, Deserialize)]
struct CachedPlugin {
    /// sha256 of the index file it was built from.
    index: String,
    plugin: ListedPlugin,
}

fn read_cached(path: &Path) -> Option<CachedListing> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_LISTING_BYTES {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice::<CachedListing>(&bytes)
        .ok()
        .filter(|c| c.format == LISTING_FORMAT)
}

/// The listing of `client`'s registry: the cached one when built from this snapshot with these
/// settings, else rebuilt (reusing unchanged plugins) and cached.
pub(crate) fn load_or_build(
    client: &RegistryClient,
    record: &RegistryRecord,
    cache_dir: &Path,
) -> Result<Listing, RegistryError> {
    let snapshot_hash = client.timestamp()?.snapshot.sha256;
    let path = cache_dir.join(LISTING_FILE);
    let cached = read_cached(&path)
        .filter(|c| c.channel == record.channel && c.certified_only == record.certified_only);
    if let Some(c) = cached.as_ref().filter(|c| c.snapshot == snapshot_hash) {
        return Ok(Listing::new(
            record.name.clone(),
            c.plugins.iter().map(|p| p.plugin.clone()).collect(),
        ));
    }
    let mut reusable: BTreeMap<String, CachedPlugin> = cached
        .map(|c| {
            c.plugins
                .into_iter()
                .map(|p| (p.plugin.name.clone(), p))
                .collect()
        })
        .unwrap_or_default();
    let snapshot = client.snapshot()?;
    let mut plugins = Vec::new();
    for name in client.names()? {
        let Some(meta) = snapshot.meta.get(&index_path(&name)?) else {
            continue;
        };
        if let Some(p) = reusable.remove(&name).filter(|p| p.index == meta.sha256) {
            plugins.push(p);
            continue;
        }
        let Some(file) = client.releases(&name)? else {
            continue;
        };
        plugins.push(CachedPlugin {
            index: meta.sha256.clone(),
            plugin: listed_plugin(&name, &file.releases, record),
        });
    }
    let listing = Listing::new(
        record.name.clone(),
        plugins.iter().map(|p| p.plugin.clone()).collect(),
    );
    let cached = CachedListing {
        format: LISTING_FORMAT,
        snapshot: snapshot_hash,
        channel: record.channel.clone(),
        certified_only: record.certified_only,
        plugins,
    };
    // A cache that cannot be written only costs the next command a rebuild; nor is it
    // synced: a copy a crash damaged does not parse or names another snapshot, and is rebuilt.
    if let Ok(bytes) = serde_json::to_vec(&cached) {
        let _ = std::fs::create_dir_all(cache_dir);
        let _ = crate::client::write_cached(&path, &bytes);
    }
    Ok(listing)
}
