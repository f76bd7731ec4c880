//! The search page's parameters: parsed strictly (an unknown, repeated or out-of-range
//! parameter is a friendly 400, `SB1472`, never silently dropped), with empty values meaning
//! "not set" so the form's blank fields and "any" choices submit cleanly.

use switchboard_host::caps::{Capability, CapabilityKind};
use switchboard_host::{HostProfile, TrustLevel};

use super::error::{shorten, PageError};
use crate::registries::search::{Compat, SearchQuery, SortOrder};

/// Results per page.
pub const PER_PAGE: usize = 20;
/// The highest page number served: deep pages of a search are refused rather than scanned.
pub const MAX_PAGE: usize = 500;
/// The longest query text accepted (as the JSON API).
pub const MAX_QUERY_BYTES: usize = 256;
/// The longest value of any other parameter.
pub const MAX_VALUE_BYTES: usize = 128;

/// A search as the page's form submits it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageQuery {
    /// The words.
    pub q: String,
    /// A category (as listed, compared case-insensitively).
    pub category: String,
    /// A capability kind (`fs.read`) or a full request (`fs.read:/data/**`).
    pub capability: String,
    /// The least trust level shown.
    pub trust: Option<TrustLevel>,
    /// `ga` (default) or `beta` (betas too).
    pub channel: Channel,
    /// `NAME@VERSION` of a host API releases must be compatible with.
    pub host_api: String,
    /// Text a maintainer's name must contain (case-insensitive).
    pub maintainer: String,
    /// The order.
    pub sort: Sort,
    /// From 1 to [`MAX_PAGE`].
    pub page: usize,
}

/// Which releases are shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Channel {
    /// Generally available releases only.
    #[default]
    Ga,
    /// Betas too.
    Beta,
}

impl Channel {
    /// As written in the address.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Ga => "ga",
            Channel::Beta => "beta",
        }
    }
}

/// The search page's orders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// Best match first.
    #[default]
    Relevance,
    /// By name.
    Name,
    /// Most recently published first.
    Updated,
    /// Best rated first: the damped average of approved reviews, then more reviews, then
    /// name; plugins with no approved review last, by name (the API's `sort=rating`).
    Rating,
}

impl Sort {
    /// As written in the address.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Relevance => "relevance",
            Sort::Name => "name",
            Sort::Updated => "updated",
            Sort::Rating => "rating",
        }
    }
}

fn bad(parameter: &str, reason: impl Into<String>) -> PageError {
    PageError::BadParameter {
        parameter: shorten(parameter, 40),
        reason: reason.into(),
    }
}

impl PageQuery {
    /// Parses the decoded `key=value` pairs of the address.
    pub fn parse(pairs: &[(String, String)]) -> Result<PageQuery, PageError> {
        let mut q = PageQuery {
            page: 1,
            ..PageQuery::default()
        };
        let mut seen: Vec<&str> = Vec::new();
        for (key, value) in pairs {
            if seen.contains(&key.as_str()) {
                return Err(bad(key, "it is given more than once"));
            }
            seen.push(key);
            let limit = if key == "q" {
                MAX_QUERY_BYTES
            } else {
                MAX_VALUE_BYTES
            };
            if value.len() > limit {
                return Err(bad(key, format!("it is longer than {limit} bytes")));
            }
            let value = value.trim();
            match key.as_str() {
                "q" => value.clone_into(&mut q.q),
                "category" => value.clone_into(&mut q.category),
                "maintainer" => value.clone_into(&mut q.maintainer),
                "capability" => {
                    if !value.is_empty()
                        && value.parse::<CapabilityKind>().is_err()
                        && value.parse::<Capability>().is_err()
                    {
                        return Err(bad(
                            key,
                            format!(
                                "`{}` is not a capability (e.g. fs.read, net.connect, kv)",
                                shorten(value, 40)
                            ),
                        ));
                    }
                    value.clone_into(&mut q.capability);
                }
                "trust" if value.is_empty() => {}
                "trust" => {
                    q.trust = Some(value.parse().map_err(
                        |e: switchboard_host::caps::TrustLevelError| bad(key, e.to_string()),
                    )?);
                }
                "channel" => {
                    q.channel = match value {
                        "" | "ga" => Channel::Ga,
                        "beta" => Channel::Beta,
                        _ => return Err(bad(key, "write ga or beta")),
                    }
                }
                "host_api" => {
                    if !value.is_empty() {
                        let ok = value.split_once('@').is_some_and(|(name, version)| {
                            !name.is_empty() && semver::Version::parse(version).is_ok()
                        });
                        if !ok {
                            return Err(bad(
                                key,
                                "write the host API as NAME@VERSION, e.g. switchboard-demo@0.1.0",
                            ));
                        }
                    }
                    value.clone_into(&mut q.host_api);
                }
                "sort" => {
                    q.sort = match value {
                        "" | "relevance" => Sort::Relevance,
                        "name" => Sort::Name,
                        "updated" => Sort::Updated,
                        "rating" => Sort::Rating,
                        _ => return Err(bad(key, "write relevance, name, updated or rating")),
                    }
                }
                "page" => {
                    q.page = match value.parse::<usize>() {
                        Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
                        _ => {
                            return Err(bad(
                                key,
                                format!("pages are numbered from 1 to {MAX_PAGE}"),
                            ))
                        }
                    }
                }
                _ => return Err(bad(key, "it is not a search parameter")),
            }
        }
        Ok(q)
    }

    /// Whether anything but the words is chosen.
    pub fn is_filtered(&self) -> bool {
        !self.category.is_empty()
            || !self.capability.is_empty()
            || self.trust.is_some()
            || self.channel != Channel::Ga
            || !self.host_api.is_empty()
            || !self.maintainer.is_empty()
            || self.sort != Sort::Relevance
    }

    /// The registry search this asks for.
    pub fn to_search(&self) -> SearchQuery {
        let mut s = SearchQuery::new(self.q.clone());
        s.category = (!self.category.is_empty()).then(|| self.category.clone());
        s.capability = (!self.capability.is_empty()).then(|| self.capability.clone());
        s.min_trust = self.trust;
        s.maintainer = (!self.maintainer.is_empty()).then(|| self.maintainer.clone());
        s.compatible = self
            .host_api
            .split_once('@')
            .map(|(name, version)| Compat::new(Some(HostProfile::new(name, version))));
        s.sort = match self.sort {
            Sort::Relevance => SortOrder::Relevance,
            Sort::Name => SortOrder::Name,
            Sort::Updated => SortOrder::Updated,
            // Ratings live on the server, not in the index: the page orders the hits
            // itself (`page::by_rating`), from every match in name order.
            Sort::Rating => SortOrder::Name,
        };
        s.page = self.page;
        s.per_page = PER_PAGE;
        s
    }

    /// The address of this search at another page (every set parameter, percent-encoded).
    pub fn href(&self, page: usize) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut add = |k: &str, v: &str| {
            if !v.is_empty() {
                parts.push(format!("{k}={}", encode(v)));
            }
        };
        add("q", &self.q);
        add("category", &self.category);
        add("capability", &self.capability);
        add("trust", self.trust.map(|t| t.as_str()).unwrap_or(""));
        if self.channel != Channel::Ga {
            add("channel", self.channel.as_str());
        }
        add("host_api", &self.host_api);
        add("maintainer", &self.maintainer);
        if self.sort != Sort::Relevance {
            add("sort", self.sort.as_str());
        }
        if page > 1 {
            add("page", &page.to_string());
        }
        if parts.is_empty() {
            "/search".into()
        } else {
            format!("/search?{}", parts.join("&"))
        }
    }
}

/// Percent-encodes `text` for a query value or a path segment (everything but unreserved
/// characters).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
