//! `config.json`: how to download a registry's packages and whether it needs credentials.

use serde::{Deserialize, Serialize};

use super::{json, FormatError, IndexLine, FORMAT_VERSION};

/// The largest `config.json` a client reads.
pub const MAX_CONFIG_BYTES: u64 = 16 << 10;

/// The default download template: packages content-addressed beside the index.
pub const DEFAULT_DOWNLOAD: &str = "packages/{sha256}.sbpkg";

/// A registry's `config.json`.
///
/// ```
/// use switchboard_registry::format::RegistryConfig;
/// let c = RegistryConfig::parse(br#"{"format":1,"download":"packages/{sha256}.sbpkg","api":null,"auth_required":false}"#).unwrap();
/// assert_eq!(c, RegistryConfig::default());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RegistryConfig {
    /// The format version (1).
    pub format: u64,
    /// Where a release's package is, relative to the registry root: `{sha256}`, `{name}` and
    /// `{version}` are replaced by the release's.
    pub download: String,
    /// The registry's HTTP API, if it has one (none for a static registry).
    #[serde(default)]
    pub api: Option<String>,
    /// Whether reading the registry needs credentials.
    #[serde(default)]
    pub auth_required: bool,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            format: FORMAT_VERSION,
            download: DEFAULT_DOWNLOAD.to_owned(),
            api: None,
            auth_required: false,
        }
    }
}

impl RegistryConfig {
    /// Parses and checks `config.json`.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let what = || "config.json".to_owned();
        let config: RegistryConfig = json::parse_bounded(bytes, MAX_CONFIG_BYTES, &what)?;
        if config.format > FORMAT_VERSION {
            return Err(FormatError::NewerFormat {
                what: what(),
                found: config.format,
                supported: FORMAT_VERSION,
            });
        }
        check_template(&config.download)?;
        Ok(config)
    }

    /// The JSON text a registry writes (pretty, with a final newline).
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// The path of `line`'s package inside the registry.
    pub fn download_path(&self, line: &IndexLine) -> Result<String, FormatError> {
        let path = self
            .download
            .replace("{sha256}", &line.sha256)
            .replace("{name}", &line.name)
            .replace("{version}", &line.version.to_string());
        check_relative(&path).map_err(|reason| FormatError::Invalid {
            what: "config.json's download template".into(),
            reason,
        })?;
        Ok(path)
    }
}

/// The template must name a relative path in the registry that identifies the release.
fn check_template(template: &str) -> Result<(), FormatError> {
    let invalid = |reason: &str| FormatError::Invalid {
        what: "config.json's `download`".into(),
        reason: reason.to_owned(),
    };
    if !template.contains("{sha256}") && !template.contains("{version}") {
        return Err(invalid(
            "it names neither {sha256} nor {version}, so every release would be one file",
        ));
    }
    check_relative(template).map_err(|r| invalid(&r))
}

/// Checks a path inside the registry: relative, `/`-separated, no empty, `.` or `..`
/// component, no backslash or NUL, no scheme, at most 1024 bytes. Transports check every path
/// they are given with it (string checks first; a directory transport then resolves links).
///
/// ```
/// use switchboard_registry::format::check_relative;
/// assert!(check_relative("index/he/ll/hello").is_ok());
/// assert!(check_relative("index/../../etc/passwd").is_err());
/// ```
pub fn check_relative(path: &str) -> Result<(), String> {
    if path.is_empty() || path.len() > 1024 {
        return Err("the path is empty or longer than 1024 bytes".into());
    }
    if path.contains("://") {
        return Err(
            "absolute URLs are not supported; write a path relative to the registry".into(),
        );
    }
    if path.starts_with('/') || path.contains('\\') || path.contains('\0') {
        return Err(format!("`{path}` is not a relative `/`-separated path"));
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!("`{path}` has an empty, `.` or `..` component"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_configs_are_refused() {
        for text in [
            r#"{"format":1,"download":"../{sha256}"}"#,
            r#"{"format":1,"download":"/etc/{sha256}"}"#,
            r#"{"format":1,"download":"https://evil/{sha256}"}"#,
            r#"{"format":1,"download":"packages/fixed.sbpkg"}"#,
            r#"{"format":1,"download":"p/{sha256}","extra":1}"#,
            r#"{"format":"1","download":"p/{sha256}"}"#,
            r#"{"download":"p/{sha256}"}"#,
        ] {
            assert!(RegistryConfig::parse(text.as_bytes()).is_err(), "{text}");
        }
        let newer = RegistryConfig::parse(br#"{"format":2,"download":"p/{sha256}"}"#);
        assert!(matches!(
            newer,
            Err(FormatError::NewerFormat { found: 2, .. })
        ));
    }

    #[test]
    fn the_default_round_trips() {
        let c = RegistryConfig::default();
        assert_eq!(RegistryConfig::parse(&c.to_json()).unwrap(), c);
    }
}
