//! Compatibility between a plugin and this host: the SDK ABI, the host API (semver), the target
//! platform, and agreement between a package's manifest and the library's embedded one.
//!
//! Version ranges follow the semver specification as the `semver` crate implements it: `^`, `~`,
//! `=`, `>`, `>=`, `<`, `<=`, comma-separated conjunctions, `*` and `x` wildcards; a prerelease
//! version matches only a range that names a prerelease of the same `major.minor.patch`; build
//! metadata is ignored.

use semver::{Comparator, Op, Version, VersionReq};
use switchboard_sdk::manifest::{codes, Diagnostic, Manifest};
use switchboard_sdk::{EmbeddedManifest, SDK_ABI_MAJOR, SDK_ABI_MINOR, SDK_ABI_VERSION};

use crate::error::LoadError;

/// The SDK ABI rule: same major; the plugin's minor at most the host's.
///
/// # Example
///
/// ```
/// assert!(switchboard_host::sdk_abi_compatible((1, 0)));
/// assert!(!switchboard_host::sdk_abi_compatible((2, 0)));
/// ```
pub fn sdk_abi_compatible(plugin: (u32, u32)) -> bool {
    // Compared as a range so the rule reads the same when the host's minor grows past 0.
    plugin.0 == SDK_ABI_MAJOR && (0..=SDK_ABI_MINOR).contains(&plugin.1)
}

pub(crate) fn check_sdk_abi(manifest: &EmbeddedManifest) -> Result<(), LoadError> {
    let found = manifest.sdk_abi.clone();
    let err_major = || LoadError::AbiMajor {
        plugin: manifest.name.clone(),
        found: found.clone(),
        supported: SDK_ABI_VERSION.into(),
    };
    let Some((major, minor)) = manifest.sdk_abi_version() else {
        return Err(err_major());
    };
    if major != SDK_ABI_MAJOR {
        return Err(err_major());
    }
    if !sdk_abi_compatible((major, minor)) {
        return Err(LoadError::AbiMinor {
            plugin: manifest.name.clone(),
            found,
            supported: SDK_ABI_VERSION.into(),
        });
    }
    Ok(())
}

/// Whether `version` satisfies `range`, by the semver rules above.
///
/// ```
/// use switchboard_host::version_matches;
/// assert_eq!(version_matches("^2.1", "2.9.0"), Ok(true));
/// assert_eq!(version_matches("^2.1", "3.0.0"), Ok(false));
/// assert_eq!(version_matches(">=1.0.0-beta.2, <2", "1.0.0-beta.3"), Ok(true));
/// assert_eq!(version_matches("^1", "1.1.0-rc.1"), Ok(false));
/// assert!(version_matches("^^1", "1.0.0").is_err());
/// ```
pub fn version_matches(range: &str, version: &str) -> Result<bool, String> {
    let req = VersionReq::parse(range).map_err(|e| format!("range `{range}`: {e}"))?;
    let v = Version::parse(version).map_err(|e| format!("version `{version}`: {e}"))?;
    Ok(req.matches(&v))
}

/// Describes the versions a range accepts, in words a person can act on, e.g.
/// `>=2.1.0, <3.0.0`.
///
/// ```
/// use switchboard_host::describe_range;
/// assert_eq!(describe_range("^2.1").unwrap(), ">=2.1.0, <3.0.0");
/// assert_eq!(describe_range("~1.4.2").unwrap(), ">=1.4.2, <1.5.0");
/// assert_eq!(describe_range("^0.3").unwrap(), ">=0.3.0, <0.4.0");
/// assert_eq!(describe_range("*").unwrap(), "any version");
/// ```
pub fn describe_range(range: &str) -> Result<String, String> {
    let req = VersionReq::parse(range).map_err(|e| format!("range `{range}`: {e}"))?;
    if req.comparators.is_empty() {
        return Ok("any version".into());
    }
    let parts: Vec<String> = req
        .comparators
        .iter()
        .flat_map(describe_comparator)
        .collect();
    Ok(if parts.is_empty() {
        "any version".into()
    } else {
        parts.join(", ")
    })
}

fn lower(c: &Comparator) -> Version {
    let mut v = Version::new(c.major, c.minor.unwrap_or(0), c.patch.unwrap_or(0));
    v.pre = c.pre.clone();
    v
}

/// The exclusive upper bound of a partial or caret/tilde comparator.
fn bump(c: &Comparator, op: Op) -> Option<Version> {
    let (major, minor, patch) = (c.major, c.minor, c.patch);
    Some(match op {
        Op::Caret => match (major, minor, patch) {
            (0, Some(0), Some(p)) => Version::new(0, 0, p + 1),
            (0, Some(m), _) => Version::new(0, m + 1, 0),
            (0, None, _) => Version::new(1, 0, 0),
            (maj, _, _) => Version::new(maj + 1, 0, 0),
        },
        Op::Tilde => match minor {
            Some(m) => Version::new(major, m + 1, 0),
            None => Version::new(major + 1, 0, 0),
        },
        Op::Exact | Op::Wildcard => match (minor, patch) {
            (None, _) => Version::new(major + 1, 0, 0),
            (Some(m), None) => Version::new(major, m + 1, 0),
            (Some(_), Some(_)) => return None,
        },
        _ => return None,
    })
}

fn describe_comparator(c: &Comparator) -> Vec<String> {
    let low = lower(c);
    match c.op {
        Op::Greater => vec![format!(">{}", partial(c))],
        Op::GreaterEq => vec![format!(">={low}")],
        Op::Less => vec![format!("<{low}")],
        Op::LessEq => vec![format!("<={}", partial(c))],
        Op::Exact | Op::Wildcard if c.minor.is_some() && c.patch.is_some() => {
            vec![format!("={low}")]
        }
        op => match bump(c, op) {
            Some(high) => vec![format!(">={low}"), format!("<{high}")],
            None => vec![format!(">={low}")],
        },
    }
}

fn partial(c: &Comparator) -> String {
    match (c.minor, c.patch) {
        (None, _) => format!("{}.*", c.major),
        (Some(m), None) => format!("{}.{m}.*", c.major),
        (Some(_), Some(_)) => lower(c).to_string(),
    }
}

/// The host's side of a compatibility check.
#[derive(Debug, Clone)]
pub struct HostProfile {
    /// The host API name.
    pub host_api: String,
    /// The host API version.
    pub host_version: String,
    /// The target triple plugins must be built for.
    pub target: String,
}

impl HostProfile {
    /// The profile of a host with this API, on the platform this code was built for.
    pub fn new(host_api: impl Into<String>, host_version: impl Into<String>) -> Self {
        HostProfile {
            host_api: host_api.into(),
            host_version: host_version.into(),
            target: current_target().to_owned(),
        }
    }
}

/// The target triple this crate was built for.
pub fn current_target() -> &'static str {
    env!("SWITCHBOARD_TARGET")
}

/// Checks a manifest against a host: host API name and range, SDK ABI, platform.
pub fn check_manifest(manifest: &Manifest, host: &HostProfile) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if let Some(api) = &manifest.requires.host_api {
        if api.name != host.host_api {
            out.push(Diagnostic::error(
                codes::HOST_API_NAME,
                "requires.host_api.name",
                format!(
                    "`{}` is written for host API `{}`; this host offers `{}`",
                    manifest.name, api.name, host.host_api
                ),
                format!("use a build of `{}` for `{}`, or change `requires.host_api.name` if it was a typo", manifest.name, host.host_api),
            ));
        } else {
            match version_matches(&api.version, &host.host_version) {
                Ok(true) => {}
                Ok(false) => {
                    let accepted =
                        describe_range(&api.version).unwrap_or_else(|_| api.version.clone());
                    out.push(Diagnostic::error(
                        codes::HOST_API_VERSION,
                        "requires.host_api.version",
                        format!(
                            "`{}` accepts {} versions {accepted}; this host is {}",
                            manifest.name, api.name, host.host_version
                        ),
                        format!(
                            "install a release of `{}` whose range includes {} {}, or run a host within {accepted}",
                            manifest.name, api.name, host.host_version
                        ),
                    ));
                }
                // The manifest check reports malformed ranges; nothing more to say here.
                Err(_) => {}
            }
        }
    }
    if let Some(abi) = &manifest.requires.sdk_abi {
        if let Some((major, minor)) = abi
            .split_once('.')
            .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
        {
            if major != SDK_ABI_MAJOR {
                out.push(Diagnostic::error(
                    codes::SDK_ABI_MAJOR,
                    "requires.sdk_abi",
                    format!("SDK ABI {abi} is not this host's major version ({SDK_ABI_VERSION})"),
                    "rebuild the plugin against the switchboard-sdk this host uses",
                ));
            } else if !sdk_abi_compatible((major, minor)) {
                out.push(Diagnostic::error(
                    codes::SDK_ABI_MINOR,
                    "requires.sdk_abi",
                    format!("SDK ABI {abi} is newer than this host's ({SDK_ABI_VERSION})"),
                    "upgrade the host, or rebuild the plugin against an older switchboard-sdk",
                ));
            }
        }
    }
    if !manifest.platforms.is_empty() && !manifest.platforms.iter().any(|p| p == &host.target) {
        out.push(Diagnostic::error(
            codes::PLATFORM,
            "platforms",
            format!(
                "`{}` is built for {}; this host runs on {}",
                manifest.name,
                manifest.platforms.join(", "),
                host.target
            ),
            format!(
                "build the plugin for `{}` and add it to `platforms`",
                host.target
            ),
        ));
    }
    out
}

/// Compares a package manifest with the manifest embedded in its library; the first field that
/// differs is named. Runs before the library is opened.
pub fn check_embedded(manifest: &Manifest, embedded: &EmbeddedManifest) -> Vec<Diagnostic> {
    let mismatch = |field: &str, package: &str, library: &str| {
        Diagnostic::error(
            codes::EMBEDDED_MISMATCH,
            field,
            format!("plugin.toml says `{package}`, the library says `{library}`"),
            "pack the crate again with `switchboard pack`, which takes the commands, contracts and capabilities from the library it packs",
        )
    };
    if manifest.name != embedded.name {
        return vec![mismatch("name", &manifest.name, &embedded.name)];
    }
    if manifest.version != embedded.version {
        return vec![mismatch("version", &manifest.version, &embedded.version)];
    }
    if let Some(abi) = &manifest.requires.sdk_abi {
        if abi != &embedded.sdk_abi {
            return vec![mismatch("requires.sdk_abi", abi, &embedded.sdk_abi)];
        }
    }
    let pkg: Vec<&str> = manifest
        .provides
        .commands
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let lib: Vec<&str> = embedded.commands.iter().map(|c| c.name.as_str()).collect();
    if pkg != lib {
        return vec![mismatch(
            "provides.commands",
            &pkg.join(", "),
            &lib.join(", "),
        )];
    }
    for (i, (p, l)) in manifest
        .provides
        .commands
        .iter()
        .zip(&embedded.commands)
        .enumerate()
    {
        if p.request != l.request {
            return vec![mismatch(
                &format!("provides.commands[{i}].request"),
                &p.request,
                &l.request,
            )];
        }
        if p.response != l.response {
            return vec![mismatch(
                &format!("provides.commands[{i}].response"),
                &p.response,
                &l.response,
            )];
        }
    }
    let mut pc = manifest.capabilities.clone();
    let mut lc = embedded.capabilities.clone();
    pc.sort();
    lc.sort();
    if pc != lc {
        return vec![mismatch("capabilities", &pc.join(", "), &lc.join(", "))];
    }
    Vec::new()
}

#[cfg(test)]
mod tests;
