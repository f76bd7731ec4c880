//! Structured findings: what preflight, manifest validation and compatibility checks report.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    /// Refuses the plugin.
    Error,
    /// Worth fixing; does not refuse the plugin.
    Warning,
}

/// One finding, with where it is and what to do about it.
///
/// This is the shape `switchboard preflight --json` prints in its `diagnostics` array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// The stable code, `SB####`.
    pub code: String,
    /// `error` or `warning`.
    pub severity: Severity,
    /// The field path, e.g. `requires.dependencies.weather.version` (empty for the document).
    pub field: String,
    /// What is wrong, in one line.
    pub message: String,
    /// What to do about it.
    pub next_step: String,
    /// The 1-based line in the source, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub line: Option<usize>,
    /// The 1-based column in the source, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub column: Option<usize>,
}

impl Diagnostic {
    /// An error finding.
    pub fn error(
        code: ErrorCode,
        field: impl Into<String>,
        message: impl Into<String>,
        next_step: impl Into<String>,
    ) -> Self {
        Diagnostic {
            code: code.to_string(),
            severity: Severity::Error,
            field: field.into(),
            message: message.into(),
            next_step: next_step.into(),
            line: None,
            column: None,
        }
    }

    /// A warning finding.
    pub fn warning(
        code: ErrorCode,
        field: impl Into<String>,
        message: impl Into<String>,
        next_step: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Self::error(code, field, message, next_step)
        }
    }

    /// Sets the position.
    pub fn at(mut self, position: Option<(usize, usize)>) -> Self {
        if let Some((line, column)) = position {
            self.line = Some(line);
            self.column = Some(column);
        }
        self
    }

    /// Whether this finding refuses the plugin.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The first three of `findings` on one line, `; `-separated: what an error that refuses
    /// a manifest says about why (the full list is preflight's to show).
    ///
    /// ```
    /// use switchboard_sdk::manifest::{Diagnostic, Format, Manifest};
    ///
    /// let errors = Manifest::parse("name = 1", Format::Toml).unwrap_err();
    /// assert!(Diagnostic::summary(&errors).contains("name"));
    /// ```
    pub fn summary(findings: &[Diagnostic]) -> String {
        findings
            .iter()
            .take(3)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{sev}[{}]", self.code)?;
        if !self.field.is_empty() {
            write!(f, " {}", self.field)?;
        }
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, " (line {l}, column {c})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The codes manifest validation and compatibility checks use (`SB10xx`, `SB11xx`).
pub mod codes {
    use crate::error::ErrorCode;

    /// The document is not valid TOML or JSON.
    pub const SYNTAX: ErrorCode = ErrorCode::from_number(1001);
    /// A field the manifest format does not have.
    pub const UNKNOWN_FIELD: ErrorCode = ErrorCode::from_number(1002);
    /// A field holds the wrong kind of value.
    pub const WRONG_TYPE: ErrorCode = ErrorCode::from_number(1003);
    /// A required field is missing.
    pub const MISSING_FIELD: ErrorCode = ErrorCode::from_number(1004);
    /// A plugin or dependency name breaks the naming rules.
    pub const INVALID_NAME: ErrorCode = ErrorCode::from_number(1005);
    /// A version is not semver.
    pub const INVALID_VERSION: ErrorCode = ErrorCode::from_number(1006);
    /// A version range does not parse.
    pub const INVALID_RANGE: ErrorCode = ErrorCode::from_number(1007);
    /// Two commands share a name.
    pub const DUPLICATE_COMMAND: ErrorCode = ErrorCode::from_number(1008);
    /// Two topics or services share a name.
    pub const DUPLICATE_PROVIDED: ErrorCode = ErrorCode::from_number(1009);
    /// A configuration default does not satisfy the schema.
    pub const CONFIG_DEFAULT: ErrorCode = ErrorCode::from_number(1010);
    /// A capability request does not parse.
    pub const INVALID_CAPABILITY: ErrorCode = ErrorCode::from_number(1011);
    /// The configuration schema is not a usable JSON Schema.
    pub const INVALID_SCHEMA: ErrorCode = ErrorCode::from_number(1012);
    /// The SDK ABI is not `MAJOR.MINOR`.
    pub const INVALID_SDK_ABI: ErrorCode = ErrorCode::from_number(1013);
    /// A platform is not a target triple.
    pub const INVALID_PLATFORM: ErrorCode = ErrorCode::from_number(1014);
    /// A limit is zero or out of range.
    pub const INVALID_LIMIT: ErrorCode = ErrorCode::from_number(1015);
    /// A plugin depends on itself, or twice on one name.
    pub const INVALID_DEPENDENCY: ErrorCode = ErrorCode::from_number(1016);
    /// A contract id is malformed.
    pub const INVALID_CONTRACT: ErrorCode = ErrorCode::from_number(1017);
    /// A URL is malformed.
    pub const INVALID_URL: ErrorCode = ErrorCode::from_number(1018);
    /// The sandbox profile is unknown.
    pub const INVALID_SANDBOX: ErrorCode = ErrorCode::from_number(1019);
    /// The kind is not a valid kind name.
    pub const INVALID_KIND: ErrorCode = ErrorCode::from_number(1020);
    /// A provided topic is outside the plugin's namespace.
    pub const TOPIC_NAMESPACE: ErrorCode = ErrorCode::from_number(1021);
    /// A pinned file path or hash is malformed.
    pub const INVALID_FILE_PATH: ErrorCode = ErrorCode::from_number(1023);
    /// A schema keyword this validator does not check (a warning).
    pub const UNCHECKED_KEYWORD: ErrorCode = ErrorCode::from_number(1022);
    /// The manifest is larger than [`MAX_MANIFEST_BYTES`](super::super::MAX_MANIFEST_BYTES).
    pub const TOO_LARGE: ErrorCode = ErrorCode::from_number(1024);
    /// More findings than [`MAX_DIAGNOSTICS`](super::super::MAX_DIAGNOSTICS); the rest are
    /// counted, not listed.
    pub const MORE_FINDINGS: ErrorCode = ErrorCode::from_number(1025);
    /// `plugin.toml` contradicts what the built library embeds (commands, contracts,
    /// capabilities, services, name, version, SDK ABI).
    pub const CONTRADICTS_LIBRARY: ErrorCode = ErrorCode::from_number(1026);
    /// The library has no Switchboard manifest section (not built with `#[plugin]`, or
    /// overwritten by a build without the plugin feature).
    pub const LIBRARY_WITHOUT_SECTION: ErrorCode = ErrorCode::from_number(1027);

    /// The plugin was written for another host API.
    pub const HOST_API_NAME: ErrorCode = ErrorCode::from_number(1101);
    /// The host's API version is outside the plugin's range.
    pub const HOST_API_VERSION: ErrorCode = ErrorCode::from_number(1102);
    /// The plugin does not list this platform.
    pub const PLATFORM: ErrorCode = ErrorCode::from_number(1103);
    /// The package manifest and the library's embedded manifest differ.
    pub const EMBEDDED_MISMATCH: ErrorCode = ErrorCode::from_number(1104);
    /// No built library was found, so the library checks could not run (an error for a crate).
    pub const NO_LIBRARY: ErrorCode = ErrorCode::from_number(1105);
    /// (A warning.) A `[limits]` memory, CPU or call-time limit an in-process load does not
    /// enforce (only isolated mode does).
    pub const LIMIT_NOT_APPLIED: ErrorCode = ErrorCode::from_number(1120);
    /// (A warning.) `sandbox = "strict"` on a plugin loaded in-process (policy routing runs
    /// strict plugins isolated, so hosts do not report it from their own loads).
    pub const SANDBOX_NOT_APPLIED: ErrorCode = ErrorCode::from_number(1121);
    /// (A warning, retired.) A plugin kind was not applied; since policies isolate and
    /// profile plugins by kind (`[isolation]`), nothing reports this code.
    pub const KIND_NOT_APPLIED: ErrorCode = ErrorCode::from_number(1122);
    /// (A warning, retired.) A policy's allowed registries were not applied; since the
    /// registry client enforces them (`SB1364`), nothing reports this code.
    pub const REGISTRIES_NOT_APPLIED: ErrorCode = ErrorCode::from_number(1123);
    /// The SDK ABI major differs from the host's.
    pub const SDK_ABI_MAJOR: ErrorCode = ErrorCode::from_number(204);
    /// The SDK ABI minor is newer than the host's.
    pub const SDK_ABI_MINOR: ErrorCode = ErrorCode::from_number(205);
}
