//! The small values several-registry commands parse: registry names, locations, channels and
//! plugin references (`[REGISTRY:]NAME[@VERSION]`).

use std::path::{Path, PathBuf};

use semver::Version;

use super::RegistriesError;

/// The longest registry name.
pub const MAX_REGISTRY_NAME: usize = 64;

/// Checks a registry name: lower-case ASCII letters, digits, `-`, `_`, starting with a letter.
pub fn validate_registry_name(name: &str) -> Result<(), RegistriesError> {
    let ok = name.len() <= MAX_REGISTRY_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(RegistriesError::BadName {
            name: name.to_owned(),
        })
    }
}

/// Where a registry is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// Served over `http(s)://` (no trailing `/`).
    Url(String),
    /// A directory on this machine (absolute, symbolic links resolved).
    Dir(PathBuf),
}

impl Location {
    /// Reads a location as a user gives it: an `http(s)://` URL, or an existing directory
    /// (made absolute).
    pub fn parse(text: &str) -> Result<Location, RegistriesError> {
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Ok(Location::Url(text.trim_end_matches('/').to_owned()));
        }
        if lower.contains("://") {
            return Err(RegistriesError::BadLocation {
                location: text.to_owned(),
            });
        }
        let bad = || RegistriesError::BadLocation {
            location: text.to_owned(),
        };
        let path = Path::new(text);
        let dir = std::fs::canonicalize(path).map_err(|_| bad())?;
        if !dir.is_dir() {
            return Err(bad());
        }
        Ok(Location::Dir(dir))
    }

    /// Reads a location as stored (never touching the file system).
    pub fn from_stored(text: &str) -> Location {
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            Location::Url(text.to_owned())
        } else {
            Location::Dir(PathBuf::from(text))
        }
    }

    /// As stored and as the policy's `allowed_registries` names it.
    pub fn as_string(&self) -> String {
        match self {
            Location::Url(u) => u.clone(),
            Location::Dir(d) => d.display().to_string(),
        }
    }
}

/// Which releases a registry shows: `ga` only, or `beta` too. Drafts never.
pub fn parse_channel(text: &str) -> Result<&'static str, RegistriesError> {
    match text {
        "ga" => Ok("ga"),
        "beta" => Ok("beta"),
        _ => Err(RegistriesError::BadChannel {
            channel: text.to_owned(),
        }),
    }
}

/// A plugin as a user names it: `NAME`, `NAME@VERSION`, `REGISTRY:NAME[@VERSION]`.
///
/// # Example
///
/// ```
/// use switchboard_registry::PluginRef;
///
/// let r: PluginRef = "team:hello@1.2.0".parse().unwrap();
/// assert_eq!(r.registry.as_deref(), Some("team"));
/// assert_eq!(r.name, "hello");
/// assert_eq!(r.version.unwrap().to_string(), "1.2.0");
/// assert_eq!("../x".parse::<PluginRef>().unwrap_err().code().to_string(), "SB1371");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginRef {
    /// The registry named, if any: then only it is asked.
    pub registry: Option<String>,
    /// The plugin's name.
    pub name: String,
    /// An exact version, if named.
    pub version: Option<Version>,
}

impl PluginRef {
    /// A reference to `name` in whichever registry ranks first.
    pub fn new(name: impl Into<String>) -> Self {
        PluginRef {
            registry: None,
            name: name.into(),
            version: None,
        }
    }

    /// Names the registry.
    pub fn in_registry(mut self, registry: impl Into<String>) -> Self {
        self.registry = Some(registry.into());
        self
    }
}

impl std::str::FromStr for PluginRef {
    type Err = RegistriesError;

    fn from_str(text: &str) -> Result<Self, RegistriesError> {
        let bad = |reason: &str| RegistriesError::BadReference {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let (registry, rest) = match text.split_once(':') {
            Some((r, rest)) => {
                validate_registry_name(r).map_err(|_| bad("the registry name is not valid"))?;
                (Some(r.to_owned()), rest)
            }
            None => (None, text),
        };
        let (name, version) = match rest.split_once('@') {
            Some((n, v)) => (
                n,
                Some(
                    v.parse::<Version>()
                        .map_err(|e| bad(&format!("version `{v}`: {e}")))?,
                ),
            ),
            None => (rest, None),
        };
        if !switchboard_sdk::manifest::valid_name(name) {
            return Err(bad("not a plugin name"));
        }
        Ok(PluginRef {
            registry,
            name: name.to_owned(),
            version,
        })
    }
}

impl std::fmt::Display for PluginRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(r) = &self.registry {
            write!(f, "{r}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(v) = &self.version {
            write!(f, "@{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_short_identifiers() {
        for ok in ["main", "team-2", "a_b"] {
            validate_registry_name(ok).unwrap();
        }
        for bad in ["", "Main", "2team", "a/b", "a:b", &"a".repeat(65)] {
            assert_eq!(
                validate_registry_name(bad).unwrap_err().code().to_string(),
                "SB1365"
            );
        }
    }

    #[test]
    fn locations_are_urls_or_existing_directories() {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::parse(dir.path().to_str().unwrap()).unwrap();
        assert!(matches!(&loc, Location::Dir(d) if d.is_absolute()));
        assert_eq!(
            Location::parse("https://x.example/reg/").unwrap(),
            Location::Url("https://x.example/reg".into())
        );
        for bad in ["ftp://x", "/no/such/dir/anywhere"] {
            assert_eq!(
                Location::parse(bad).unwrap_err().code().to_string(),
                "SB1366"
            );
        }
    }

    #[test]
    fn references_parse_and_print_back() {
        for text in [
            "hello",
            "hello@1.0.0",
            "team:hello",
            "team:hello@2.0.0-beta.1",
        ] {
            assert_eq!(text.parse::<PluginRef>().unwrap().to_string(), text);
        }
        for bad in [
            "",
            "Team:hello",
            "hello@",
            "hello@x",
            ":hello",
            "a:b:c",
            "../x",
        ] {
            assert_eq!(
                bad.parse::<PluginRef>().unwrap_err().code().to_string(),
                "SB1371",
                "{bad}"
            );
        }
        assert_eq!(
            parse_channel("draft").unwrap_err().code().to_string(),
            "SB1367"
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any text is a reference or a coded refusal, never a panic; what parses prints back
        /// to itself and names no path.
        #[test]
        fn any_text_parses_or_is_refused_with_a_code(text in ".{0,80}") {
            match text.parse::<PluginRef>() {
                Ok(r) => {
                    prop_assert_eq!(r.to_string().parse::<PluginRef>().unwrap(), r.clone());
                    prop_assert!(!r.name.contains('/') && !r.name.contains(".."));
                }
                Err(e) => prop_assert_eq!(e.code().to_string(), "SB1371"),
            }
        }

        #[test]
        fn reference_like_text_round_trips(
            registry in proptest::option::of("[a-z][a-z0-9_-]{0,10}"),
            name in "[a-zA-Z][a-zA-Z0-9_-]{0,20}",
            version in proptest::option::of((0u64..100, 0u64..100, 0u64..100)),
        ) {
            let mut text = String::new();
            if let Some(r) = &registry {
                text.push_str(&format!("{r}:"));
            }
            text.push_str(&name);
            if let Some((a, b, c)) = version {
                text.push_str(&format!("@{a}.{b}.{c}"));
            }
            let r: PluginRef = text.parse().unwrap();
            prop_assert_eq!(r.to_string(), text);
        }
    }
}
