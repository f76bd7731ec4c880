//! What each page shows, built from the catalog (the signed index the server serves) and the
//! client's own search over it, as plain values the templates print. Everything here is
//! text: the templates escape it; only the README's HTML (from `markdown`) is placed as is.

use std::collections::BTreeMap;

use switchboard_host::{describe_range, TrustLevel};

use super::query::encode;
use crate::format::{Channel, IndexLine, RegistryConfig};
use crate::registries::search::{SearchHit, SearchPage};
use crate::server::catalog::newest_visible;

/// A trust level as a badge: its CSS class, its label and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Badge {
    /// `unsigned`, `self-signed`, `verified` or `certified` (also the CSS modifier).
    pub level: &'static str,
    /// The badge's text.
    pub label: &'static str,
    /// One sentence saying what the level means.
    pub meaning: &'static str,
}

impl Badge {
    /// The badge of `trust`.
    pub fn of(trust: TrustLevel) -> Badge {
        let (label, meaning) = match trust {
            TrustLevel::Unsigned => ("Unsigned", "Nobody signed this release."),
            TrustLevel::SelfSigned => (
                "Self-signed",
                "Signed by its author's key, which this registry does not know.",
            ),
            TrustLevel::Verified => (
                "Verified publisher",
                "Signed by a key this registry has bound to the publisher.",
            ),
            TrustLevel::Certified => ("Certified", "Reviewed and countersigned by this registry."),
            _ => ("Unknown trust", "A trust level this server does not know."),
        };
        Badge {
            level: trust.as_str(),
            label,
            meaning,
        }
    }
}

/// One plugin in a list of results.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Its name.
    pub name: String,
    /// `/plugins/NAME`.
    pub href: String,
    /// The release shown.
    pub version: String,
    /// `ga` or `beta`.
    pub channel: String,
    /// One line.
    pub description: String,
    /// The shown release's trust.
    pub badge: Badge,
    /// Its categories.
    pub categories: Vec<Link>,
    /// The day it was published (`YYYY-MM-DD`).
    pub published: String,
    /// Whether the plugin is deprecated.
    pub deprecated: bool,
    /// Its rating in words (`★ 3.33 (1 review)`: the damped average of approved reviews and
    /// their count), when it has an approved review.
    pub rating: Option<String>,
}

/// A link: its text and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The text.
    pub text: String,
    /// The address.
    pub href: String,
}

/// The address of a plugin's page.
pub fn plugin_href(name: &str) -> String {
    format!("/plugins/{}", encode(name))
}

/// The address of a category's page.
pub fn category_href(category: &str) -> String {
    format!("/categories/{}", encode(category))
}

fn day(published: &str) -> String {
    published.get(..10).unwrap_or(published).to_owned()
}

impl Hit {
    /// A search hit as the page shows it.
    pub fn of(h: &SearchHit) -> Hit {
        Hit {
            name: h.name.clone(),
            href: plugin_href(&h.name),
            version: h.version.to_string(),
            channel: h.channel.clone(),
            description: h.description.clone(),
            badge: Badge::of(h.trust),
            categories: h
                .categories
                .iter()
                .map(|c| Link {
                    text: c.clone(),
                    href: category_href(c),
                })
                .collect(),
            published: day(&h.published),
            deprecated: h.deprecated.is_some(),
            rating: None,
        }
    }

    /// Every hit of a page.
    pub fn all(page: &SearchPage) -> Vec<Hit> {
        page.hits.iter().map(Hit::of).collect()
    }
}

/// A category and how many plugins are in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryCount {
    /// As the plugins write it.
    pub name: String,
    /// `/categories/NAME`.
    pub href: String,
    /// Plugins with a visible release in it.
    pub count: usize,
}

/// Counts categories over `categories` (one list per plugin), case-insensitively, by name.
pub fn count_categories<'a>(categories: impl Iterator<Item = &'a [String]>) -> Vec<CategoryCount> {
    let mut counts: BTreeMap<String, CategoryCount> = BTreeMap::new();
    for list in categories {
        let mut seen = Vec::new();
        for c in list {
            let key = c.to_lowercase();
            if seen.contains(&key) {
                continue;
            }
            seen.push(key.clone());
            counts
                .entry(key)
                .or_insert_with(|| CategoryCount {
                    name: c.clone(),
                    href: category_href(c),
                    count: 0,
                })
                .count += 1;
        }
    }
    counts.into_values().collect()
}

/// A capability request and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapabilityView {
    /// As the manifest writes it (`fs.read:/data/**`).
    pub request: String,
    /// In words (`read files matching /data/**`).
    pub words: String,
}

/// A dependency of the shown release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyView {
    /// The plugin depended on.
    pub name: String,
    /// Its page, when it is published here.
    pub href: Option<String>,
    /// The range as written.
    pub req: String,
    /// The range in words.
    pub words: String,
    /// Whether the release works without it.
    pub optional: bool,
}

/// The host API the shown release needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostApiView {
    /// The API's name.
    pub name: String,
    /// The range as written.
    pub req: String,
    /// The range in words.
    pub words: String,
}

/// One release in the versions table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionView {
    /// The version.
    pub version: String,
    /// `draft`, `beta` or `ga`.
    pub channel: &'static str,
    /// The day it was published.
    pub published: String,
    /// Its trust.
    pub badge: Badge,
    /// The yank reason, when withdrawn.
    pub yanked: Option<String>,
    /// The package's size, for people (`12.3 KiB`).
    pub size: String,
    /// The package's download address (`/index/…`), if the registry's template gives one.
    pub download: Option<String>,
    /// The package's sha256.
    pub sha256: String,
}

/// The result of one check the shown release went through before listing, as the server
/// recorded it when the release was uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckView {
    /// The check (`package`, `signed`, `signer`, …).
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// `Passed`, `Failed` or `Errored`.
    pub outcome: &'static str,
    /// The refusal's code when it did not pass.
    pub code: Option<String>,
    /// What it found.
    pub detail: String,
}

impl CheckView {
    /// A recorded check as the page shows it.
    pub fn of(c: &crate::server::uploads::CheckResult) -> CheckView {
        use crate::server::uploads::Outcome;
        let (passed, outcome) = match c.outcome {
            Outcome::Passed => (true, "Passed"),
            Outcome::Failed => (false, "Failed"),
            _ => (false, "Errored"),
        };
        CheckView {
            name: c.name.clone(),
            passed,
            outcome,
            code: c.code.clone(),
            detail: c.message.clone(),
        }
    }
}

/// A deprecation: what to use instead and the publisher's word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeprecationView {
    /// The successor, if named, linked when it is published here (`href` empty otherwise).
    pub successor: Option<Link>,
    /// The publisher's message, if any.
    pub message: Option<String>,
}

/// Everything the plugin page shows.
#[derive(Debug, Clone)]
pub struct PluginView {
    /// The name.
    pub name: String,
    /// From the newest visible release (else the newest).
    pub description: String,
    /// The version a user gets by default, if any.
    pub latest: Option<String>,
    /// The release the details are about (the default one, else the newest).
    pub shown: String,
    /// Set when deprecated: the successor and the publisher's message.
    pub deprecated: Option<DeprecationView>,
    /// The shown release's trust.
    pub badge: Badge,
    /// The key id that signed the shown release.
    pub signer: String,
    /// SPDX license.
    pub license: Option<String>,
    /// Where its source lives, only when it is an `http(s)` address.
    pub repository: Option<String>,
    /// Who maintains it.
    pub maintainers: Vec<String>,
    /// The accounts that own the name on this server, first owner first.
    pub owners: Vec<String>,
    /// Its categories.
    pub categories: Vec<Link>,
    /// Its keywords.
    pub keywords: Vec<String>,
    /// The capabilities the shown release requests.
    pub capabilities: Vec<CapabilityView>,
    /// Its dependencies.
    pub dependencies: Vec<DependencyView>,
    /// The host API it needs.
    pub host_api: Option<HostApiView>,
    /// The SDK ABI it was built against.
    pub sdk_abi: String,
    /// The newest release of each channel (not yanked).
    pub channels: Vec<(&'static str, String)>,
    /// Every release, newest first.
    pub versions: Vec<VersionView>,
    /// The checks of the shown release as recorded when it was uploaded (`None`: no
    /// record, e.g. a release written into the registry directory by hand).
    pub checks: Option<Vec<CheckView>>,
}

fn size(bytes: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "a size shown to one decimal")]
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    }
}

fn http_url(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    ((lower.starts_with("https://") || lower.starts_with("http://"))
        && !url.chars().any(|c| c.is_control() || c.is_whitespace()))
    .then(|| url.to_owned())
}

/// The plugin page of `name` from its `releases`; `published` says whether a name is
/// published here (for links to dependencies and successors).
pub fn plugin_view(
    name: &str,
    releases: &[IndexLine],
    config: Option<&RegistryConfig>,
    published: &dyn Fn(&str) -> bool,
) -> Option<PluginView> {
    let mut sorted: Vec<&IndexLine> = releases.iter().collect();
    sorted.sort_by(|a, b| b.version.cmp(&a.version));
    let shown = newest_visible(releases).or(sorted.first().copied())?;
    let link_to = |n: &str| published(n).then(|| plugin_href(n));
    let mut channels: Vec<(&'static str, String)> = Vec::new();
    for channel in [Channel::Ga, Channel::Beta, Channel::Draft] {
        if let Some(l) = sorted
            .iter()
            .find(|l| l.channel == channel && !l.is_yanked())
        {
            channels.push((channel.as_str(), l.version.to_string()));
        }
    }
    Some(PluginView {
        name: name.to_owned(),
        description: shown.description.clone(),
        latest: newest_visible(releases).map(|l| l.version.to_string()),
        shown: shown.version.to_string(),
        deprecated: sorted
            .first()
            .and_then(|l| l.deprecated.as_ref())
            .map(|d| DeprecationView {
                successor: d.successor.as_ref().map(|s| Link {
                    text: s.clone(),
                    href: link_to(s).unwrap_or_default(),
                }),
                message: d.message.clone().filter(|m| !m.trim().is_empty()),
            }),
        badge: Badge::of(shown.trust),
        signer: shown.signer.clone(),
        license: shown.license.clone(),
        repository: shown.repository.as_deref().and_then(http_url),
        maintainers: shown.maintainers.clone(),
        owners: Vec::new(),
        categories: shown
            .categories
            .iter()
            .map(|c| Link {
                text: c.clone(),
                href: category_href(c),
            })
            .collect(),
        keywords: shown.keywords.clone(),
        capabilities: shown
            .capabilities
            .iter()
            .map(|c| CapabilityView {
                request: c.clone(),
                words: switchboard_host::caps::in_words(name, c),
            })
            .collect(),
        dependencies: shown
            .dependencies
            .iter()
            .map(|d| DependencyView {
                name: d.name.clone(),
                href: link_to(&d.name),
                req: d.req.clone(),
                words: describe_range(&d.req).unwrap_or_else(|e| e),
                optional: d.optional,
            })
            .collect(),
        host_api: shown.host_api.as_ref().map(|h| HostApiView {
            name: h.name.clone(),
            req: h.req.clone(),
            words: describe_range(&h.req).unwrap_or_else(|e| e),
        }),
        sdk_abi: shown.sdk_abi.clone(),
        channels,
        versions: sorted
            .iter()
            .map(|l| VersionView {
                version: l.version.to_string(),
                channel: l.channel.as_str(),
                published: day(&l.published),
                badge: Badge::of(l.trust),
                yanked: l.yanked.as_ref().map(|y| y.reason.clone()),
                size: size(l.size),
                download: config
                    .and_then(|c| c.download_path(l).ok())
                    .map(|p| format!("/index/{p}")),
                sha256: l.sha256.clone(),
            })
            .collect(),
        checks: None,
    })
}
