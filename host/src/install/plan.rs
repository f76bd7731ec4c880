//! What an operation will do, shown before it is applied: per plugin the versions, the
//! changelog between them, compatibility warnings and the capability diff.

use semver::Version;
use serde::{Deserialize, Serialize};

use super::generation::GenerationId;
use super::journal::{OperationId, OperationKind};

/// An operation prepared but not applied: what [`Installer::plan_install`],
/// [`plan_update`](super::Installer::plan_update) and
/// [`plan_remove`](super::Installer::plan_remove) return, for a person (or `--yes`) to
/// accept with [`Installer::apply`](super::Installer::apply) or decline with
/// [`Installer::cancel`](super::Installer::cancel).
///
/// Its packages are downloaded and verified already (phases 1–2 of its journal entry); none
/// of their code has run.
///
/// [`Installer::plan_install`]: super::Installer::plan_install
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Plan {
    /// The operation's correlation id (its journal entry is open).
    pub operation: OperationId,
    /// What it does.
    pub kind: OperationKind,
    /// What was asked, in words.
    pub request: String,
    /// The generation current when it was planned.
    pub from_generation: Option<GenerationId>,
    /// Each plugin that changes, by name.
    pub changes: Vec<PlannedChange>,
    /// Plugins that depend on a plugin being removed, and go with it.
    pub dependents: Vec<String>,
    /// Whether applying changes nothing (the plugins are already as asked).
    pub unchanged: bool,
    #[serde(skip)]
    pub(crate) detail: super::operation::PlanDetail,
}

impl Plan {
    /// The capabilities needing approval: those the new versions request that the installed
    /// ones did not (all of a new plugin's).
    pub fn new_capabilities(&self) -> Vec<(String, String)> {
        self.changes
            .iter()
            .flat_map(|c| {
                c.new_capabilities
                    .iter()
                    .map(move |cap| (c.name.clone(), cap.clone()))
            })
            .collect()
    }
}

/// What happens to one plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlannedChange {
    /// The plugin.
    pub name: String,
    /// The version installed now, if any.
    pub from: Option<Version>,
    /// The version after the operation; `None` when it is removed.
    pub to: Option<Version>,
    /// Where the new version comes from.
    pub source: String,
    /// Asked for by the operator (not only a dependency).
    pub requested: bool,
    /// Every capability the new version requests.
    pub capabilities: Vec<String>,
    /// The capability diff: requested by the new version, not by the installed one. These
    /// are decided again by policy and the approver (or approved with the plan).
    pub new_capabilities: Vec<String>,
    /// Requested by the installed version, no longer by the new one.
    pub dropped_capabilities: Vec<String>,
    /// The new version's `CHANGELOG.md` entries after the installed version, up to the new
    /// one (the whole file for a new plugin, `None` without a changelog).
    pub changelog: Option<String>,
    /// Compatibility warnings: a new major version, a downgrade, settings this host does
    /// not apply.
    pub warnings: Vec<String>,
}

/// The part of a `CHANGELOG.md` that lies after `from` and up to `to`: the sections whose
/// heading names a version in `(from, to]`. Headings are Markdown headings holding a semver
/// version (`## 1.2.0`, `## [1.2.0] - 2026-01-01`, `### v1.2.0`). Without `from`, every
/// section up to `to`. `None` when no section matches.
pub fn changelog_between(text: &str, from: Option<&Version>, to: &Version) -> Option<String> {
    let mut out = String::new();
    let mut keep = false;
    for line in text.lines() {
        if line.trim_start().starts_with('#') {
            if let Some(v) = heading_version(line) {
                keep = v <= *to && from.is_none_or(|f| v > *f);
            }
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    let out = out.trim_end().to_owned();
    (!out.is_empty()).then_some(out)
}

fn heading_version(line: &str) -> Option<Version> {
    line.trim_start_matches('#')
        .split(|c: char| c.is_whitespace() || c == '[' || c == ']' || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .find_map(|w| Version::parse(w.trim_start_matches('v')).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str =
        "# Changelog\n\n## [0.3.0] - 2026-03-01\n- three\n\n## 0.2.0\n- two\n\n### v0.1.0\n- one\n";

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn the_changelog_between_two_versions_holds_only_the_newer_sections() {
        let part = changelog_between(LOG, Some(&v("0.1.0")), &v("0.2.0")).unwrap();
        assert!(
            part.contains("- two") && !part.contains("- one") && !part.contains("- three"),
            "{part}"
        );
        let all = changelog_between(LOG, None, &v("0.3.0")).unwrap();
        assert!(all.contains("- one") && all.contains("- three"));
        assert_eq!(changelog_between(LOG, Some(&v("0.3.0")), &v("0.3.0")), None);
        assert_eq!(changelog_between("no headings", None, &v("1.0.0")), None);
    }
}
