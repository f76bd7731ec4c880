//! Index files: one JSON line per release of one plugin.

use serde::{Deserialize, Serialize};
use switchboard_host::TrustLevel;

use super::{json, validate_name, FormatError, FORMAT_VERSION};

/// The longest index line a client reads.
pub const MAX_LINE_BYTES: u64 = 64 << 10;
/// The largest index file a client reads (about 1,000 releases of generous lines).
pub const MAX_INDEX_FILE_BYTES: u64 = 8 << 20;
/// The most releases one index file may hold.
pub const MAX_RELEASES: usize = 10_000;

/// A release's channel: `draft` (never resolved), `beta` (when asked for), `ga`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Channel {
    /// Published for its author to check; never resolved or installed by name.
    Draft,
    /// Resolved only when the user asks for betas.
    Beta,
    /// Generally available: resolved by default.
    Ga,
}

impl Channel {
    /// Its name in the index.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Draft => "draft",
            Channel::Beta => "beta",
            Channel::Ga => "ga",
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "draft" => Ok(Channel::Draft),
            "beta" => Ok(Channel::Beta),
            "ga" => Ok(Channel::Ga),
            _ => Err(format!("`{s}` is not a channel: write draft, beta or ga")),
        }
    }
}

/// A dependency of a release on another plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LineDependency {
    /// The plugin depended on.
    pub name: String,
    /// A semver range.
    pub req: String,
    /// Whether the release works without it.
    #[serde(default)]
    pub optional: bool,
}

impl LineDependency {
    /// A dependency.
    pub fn new(name: impl Into<String>, req: impl Into<String>, optional: bool) -> Self {
        LineDependency {
            name: name.into(),
            req: req.into(),
            optional,
        }
    }
}

/// The host API a release needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LineHostApi {
    /// The host API's name.
    pub name: String,
    /// A semver range of its versions.
    pub req: String,
}

impl LineHostApi {
    /// A host API requirement.
    pub fn new(name: impl Into<String>, req: impl Into<String>) -> Self {
        LineHostApi {
            name: name.into(),
            req: req.into(),
        }
    }
}

/// Why a release was withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Yanked {
    /// The publisher's reason.
    pub reason: String,
}

/// A plugin its publisher no longer maintains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Deprecated {
    /// The plugin to use instead, if any.
    #[serde(default)]
    pub successor: Option<String>,
    /// The publisher's word to users (at most [`MAX_DEPRECATION_MESSAGE`] bytes); absent
    /// from the line when there is none, so lines without one read as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The longest certification (countersignature) a line carries.
pub const MAX_CERTIFICATION_BYTES: usize = 4096;

/// The longest deprecation message a line carries.
pub const MAX_DEPRECATION_MESSAGE: usize = 1024;

impl Deprecated {
    /// A deprecation naming `successor`, with `message`.
    pub fn new(successor: Option<String>, message: Option<String>) -> Self {
        Deprecated { successor, message }
    }
}

/// One release of one plugin: a line of its index file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IndexLine {
    /// The line's format version (1). Lines of a newer format are skipped by older clients.
    pub format: u64,
    /// The plugin's name (the index file's name).
    pub name: String,
    /// The release's version.
    pub version: semver::Version,
    /// Other plugins it needs.
    #[serde(default)]
    pub dependencies: Vec<LineDependency>,
    /// The host API it needs, if any.
    #[serde(default)]
    pub host_api: Option<LineHostApi>,
    /// The SDK ABI it was built against, `MAJOR.MINOR`.
    pub sdk_abi: String,
    /// The capabilities it requests.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// The package's sha256, lower-case hex.
    pub sha256: String,
    /// The package's size in bytes.
    pub size: u64,
    /// The key id of the package's signature.
    pub signer: String,
    /// The package's minisign signature (the text of its `.minisig`), so a client can verify
    /// the package as a host does.
    pub signature: String,
    /// The trust level the registry found: `self-signed`, or `verified` when the signer is
    /// one of the registry's known publishers (`certified` after review).
    pub trust: TrustLevel,
    /// The registry's countersignature over `signature` (the text of a `.cert` file, a
    /// minisign signature by the registry's certification key), set when the registry
    /// certified the release; a client writes it beside the package (`PKG.cert`) so a host
    /// trusting that key sees trust level `certified`. Absent from the line when there is
    /// none, so lines without one read as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certification: Option<String>,
    /// `draft`, `beta` or `ga`.
    pub channel: Channel,
    /// Set when the release is withdrawn.
    #[serde(default)]
    pub yanked: Option<Yanked>,
    /// Set when the plugin is deprecated.
    #[serde(default)]
    pub deprecated: Option<Deprecated>,
    /// When it was published, RFC 3339 UTC.
    pub published: String,
    /// One line saying what it does.
    #[serde(default)]
    pub description: String,
    /// Search keywords.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Marketplace categories.
    #[serde(default)]
    pub categories: Vec<String>,
    /// An SPDX license expression.
    #[serde(default)]
    pub license: Option<String>,
    /// Where its source lives.
    #[serde(default)]
    pub repository: Option<String>,
    /// Who maintains it (the manifest's authors).
    #[serde(default)]
    pub maintainers: Vec<String>,
}

/// What parsing one line found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParsedLine {
    /// A release this client reads.
    Release(Box<IndexLine>),
    /// A line of a newer format, skipped.
    Newer(u64),
}

impl IndexLine {
    /// Parses and checks one line. `what` names it in errors.
    pub fn parse(bytes: &[u8], what: &dyn Fn() -> String) -> Result<ParsedLine, FormatError> {
        json::check_shape(bytes, MAX_LINE_BYTES, json::MAX_DEPTH, what)?;
        let line: IndexLine = match serde_json::from_slice(bytes) {
            Ok(line) => line,
            Err(e) => {
                // Only a newer format may carry fields this client does not know.
                #[derive(Deserialize)]
                struct Probe {
                    format: u64,
                }
                if let Ok(Probe { format }) = serde_json::from_slice::<Probe>(bytes) {
                    if format > FORMAT_VERSION {
                        return Ok(ParsedLine::Newer(format));
                    }
                }
                return Err(FormatError::Invalid {
                    what: what(),
                    reason: e.to_string(),
                });
            }
        };
        if line.format > FORMAT_VERSION {
            return Ok(ParsedLine::Newer(line.format));
        }
        line.check().map_err(|reason| match reason {
            Check::Name(e) => e,
            Check::Field(reason) => FormatError::Invalid {
                what: what(),
                reason,
            },
        })?;
        Ok(ParsedLine::Release(Box::new(line)))
    }

    /// The line as the index writes it: compact JSON, no newline.
    pub fn to_json_line(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Whether the release is withdrawn.
    pub fn is_yanked(&self) -> bool {
        self.yanked.is_some()
    }

    /// The release as the resolver sees it (`switchboard_host::Release`): version,
    /// dependencies, host API, SDK ABI, yanked, and the checksum as `sha256:<hex>`. Channels
    /// are the caller's to filter (drafts never, betas when asked).
    pub fn to_release(&self) -> Result<switchboard_host::Release, FormatError> {
        let invalid = |reason: String| FormatError::Invalid {
            what: format!("the index line of {}@{}", self.name, self.version),
            reason,
        };
        let req =
            |r: &str| semver::VersionReq::parse(r).map_err(|e| invalid(format!("`{r}`: {e}")));
        let (major, minor) = self
            .sdk_abi()
            .ok_or_else(|| invalid("`sdk_abi` is not MAJOR.MINOR".into()))?;
        let mut release =
            switchboard_host::Release::new(self.version.clone(), format!("sha256:{}", self.sha256))
                .with_sdk_abi(major, minor);
        for d in &self.dependencies {
            release = release.with_dependency(if d.optional {
                switchboard_host::Dependency::optional(&d.name, req(&d.req)?)
            } else {
                switchboard_host::Dependency::new(&d.name, req(&d.req)?)
            });
        }
        if let Some(h) = &self.host_api {
            release = release.with_host_api(&h.name, req(&h.req)?);
        }
        if self.is_yanked() {
            release = release.yanked();
        }
        Ok(release)
    }

    /// The SDK ABI as `(major, minor)`.
    pub fn sdk_abi(&self) -> Option<(u32, u32)> {
        let (a, b) = self.sdk_abi.split_once('.')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    }

    fn check(&self) -> Result<(), Check> {
        validate_name(&self.name).map_err(Check::Name)?;
        let field = |cond: bool, msg: &str| {
            if cond {
                Ok(())
            } else {
                Err(Check::Field(msg.to_owned()))
            }
        };
        field(
            self.sha256.len() == 64
                && self
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "`sha256` is not 64 lower-case hex digits",
        )?;
        field(self.sdk_abi().is_some(), "`sdk_abi` is not MAJOR.MINOR")?;
        field(
            self.published.parse::<jiff::Timestamp>().is_ok(),
            "`published` is not an RFC 3339 time",
        )?;
        field(
            !self.signer.is_empty() && self.signer.len() <= 64,
            "`signer` is empty or too long",
        )?;
        field(
            self.trust != TrustLevel::Unsigned,
            "`trust` is unsigned; a registry lists signed packages only",
        )?;
        for d in &self.dependencies {
            validate_name(&d.name).map_err(Check::Name)?;
            field(
                semver::VersionReq::parse(&d.req).is_ok(),
                &format!("dependency `{}` has an invalid range `{}`", d.name, d.req),
            )?;
        }
        if let Some(h) = &self.host_api {
            field(
                !h.name.is_empty() && semver::VersionReq::parse(&h.req).is_ok(),
                "`host_api` has an empty name or an invalid range",
            )?;
        }
        if let Some(c) = &self.certification {
            field(
                !c.is_empty() && c.len() <= MAX_CERTIFICATION_BYTES,
                "`certification` is empty or longer than 4096 bytes",
            )?;
            field(
                self.trust == TrustLevel::Certified,
                "`certification` is set but `trust` is not certified",
            )?;
        }
        if let Some(d) = &self.deprecated {
            if let Some(s) = &d.successor {
                validate_name(s).map_err(Check::Name)?;
            }
            field(
                d.message
                    .as_ref()
                    .is_none_or(|m| m.len() <= MAX_DEPRECATION_MESSAGE),
                "the deprecation message is longer than 1024 bytes",
            )?;
        }
        Ok(())
    }
}

enum Check {
    Name(FormatError),
    Field(String),
}

/// A parsed index file: every release of one plugin this client reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct IndexFile {
    /// The releases, in file order (publishing order).
    pub releases: Vec<IndexLine>,
    /// How many lines of a newer format were skipped.
    pub skipped_newer: usize,
}

impl IndexFile {
    /// Parses the index file of `name`: size cap, each line checked, every line naming
    /// `name`, no version twice.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<IndexFile, FormatError> {
        validate_name(name)?;
        let file = || format!("the index file of `{name}`");
        if bytes.len() as u64 > MAX_INDEX_FILE_BYTES {
            return Err(FormatError::TooLarge {
                what: file(),
                limit: MAX_INDEX_FILE_BYTES,
            });
        }
        let mut out = IndexFile::default();
        let mut versions = std::collections::BTreeSet::new();
        for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
            if raw.is_empty() {
                continue;
            }
            let what = || format!("line {} of the index file of `{name}`", i + 1);
            match IndexLine::parse(raw, &what)? {
                ParsedLine::Newer(_) => out.skipped_newer += 1,
                ParsedLine::Release(line) => {
                    if line.name != name {
                        return Err(FormatError::Inconsistent {
                            what: file(),
                            reason: format!("line {} is a release of `{}`", i + 1, line.name),
                        });
                    }
                    if !versions.insert(line.version.clone()) {
                        return Err(FormatError::Inconsistent {
                            what: file(),
                            reason: format!("version {} is listed twice", line.version),
                        });
                    }
                    if out.releases.len() >= MAX_RELEASES {
                        return Err(FormatError::TooLarge {
                            what: file(),
                            limit: MAX_RELEASES as u64,
                        });
                    }
                    out.releases.push(*line);
                }
            }
        }
        Ok(out)
    }

    /// The file's bytes: one compact JSON line per release, each ending in a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for line in &self.releases {
            out.extend_from_slice(&line.to_json_line());
            out.push(b'\n');
        }
        out
    }
}
