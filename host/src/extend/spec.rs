//! Extension points written down instead of declared in code: what `switchboard preflight
//! --points FILE` checks a plugin's hooks against, without the host's message types.
//!
//! ```toml
//! [[point]]
//! name = "pipeline.build"
//! kind = "operation"
//! input = "string@1"
//! output = "string@1"
//! ```
//!
//! `input` and `output` are contract ids, as the host's `In::CONTRACT.id` writes them:
//! `string@1`, `unit@1`, `u64@1` for built-in types, `PATH@VERSION#HASH` for a
//! `#[derive(Message)]` type (a plugin's embedded manifest lists its commands' contracts).

use std::collections::BTreeSet;

use parking_lot::Mutex;
use serde::Deserialize;

use super::kind::{PointKind, PointOptions};
use super::registry::Points;
use super::ExtendError;

/// An extension point as a points file names it: its name, kind and contracts.
///
/// ```
/// use switchboard_host::extend::{PointKind, PointSpec};
///
/// let text = r#"
/// [[point]]
/// name = "doc.title"
/// kind = "filter"
/// input = "string@1"
/// output = "string@1"
/// "#;
/// let points = PointSpec::parse_list(text)?;
/// assert_eq!(points[0].kind, PointKind::Filter);
/// # Ok::<(), switchboard_host::extend::ExtendError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PointSpec {
    /// The point's name.
    pub name: String,
    /// Its kind.
    pub kind: PointKind,
    /// The contract id of its input.
    pub input: String,
    /// The contract id of its output.
    pub output: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    point: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    kind: String,
    input: String,
    output: String,
}

impl PointSpec {
    /// A point named `name` of `kind`, taking the contract `input` and returning `output`.
    pub fn new(
        name: impl Into<String>,
        kind: PointKind,
        input: impl Into<String>,
        output: impl Into<String>,
    ) -> PointSpec {
        PointSpec {
            name: name.into(),
            kind,
            input: input.into(),
            output: output.into(),
        }
    }

    /// Reads a points file: `[[point]]` tables with `name`, `kind`, `input` and `output`.
    /// Refused: text that is not such TOML (`SB1725`), an unknown kind (`SB1726`), a point
    /// named twice (`SB1727`), a declaration the host would refuse (`SB1710`).
    pub fn parse_list(text: &str) -> Result<Vec<PointSpec>, ExtendError> {
        let file: File = toml::from_str(text).map_err(|e| ExtendError::BadPointsFile {
            reason: e.message().to_owned(),
        })?;
        let mut seen = BTreeSet::new();
        let mut specs = Vec::with_capacity(file.point.len());
        for entry in file.point {
            let kind = entry
                .kind
                .parse()
                .map_err(|()| ExtendError::UnknownPointKind {
                    point: entry.name.clone(),
                    kind: entry.kind.clone(),
                })?;
            if !seen.insert(entry.name.clone()) {
                return Err(ExtendError::PointListedTwice { point: entry.name });
            }
            specs.push(PointSpec::new(entry.name, kind, entry.input, entry.output));
        }
        // Declared once here, so a file the host would refuse is refused on reading.
        declare_all(&specs)?;
        Ok(specs)
    }
}

/// `specs` declared in a set of points of their own.
pub(crate) fn declare_all(specs: &[PointSpec]) -> Result<Points, ExtendError> {
    let points = Points::default();
    for s in specs {
        points.declare(
            &s.name,
            s.kind,
            intern(&s.input)?,
            intern(&s.output)?,
            &PointOptions::new(),
        )?;
    }
    Ok(points)
}

/// The longest contract id a points file may give.
const MAX_CONTRACT_ID: usize = 256;

/// The most distinct contract ids points files may name in one process.
const MAX_KEPT_IDS: usize = 4096;

/// A contract id as the points' `&'static str`: contract ids are the types' own constants
/// in a host; the ones read from points files are kept for the process's life, one copy per
/// distinct id — at most [`MAX_KEPT_IDS`] of at most [`MAX_CONTRACT_ID`] bytes (1 MiB in
/// all), so a long-lived process checking many files cannot be made to grow without bound;
/// past that, a file naming a new id is refused (`SB1725`).
fn intern(id: &str) -> Result<&'static str, ExtendError> {
    static KEPT: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    if id.len() > MAX_CONTRACT_ID {
        return Err(ExtendError::BadPointsFile {
            reason: format!(
                "a contract id of {} bytes is longer than the {MAX_CONTRACT_ID} allowed",
                id.len()
            ),
        });
    }
    let mut kept = KEPT.lock();
    if let Some(found) = kept.get(id) {
        return Ok(found);
    }
    if kept.len() >= MAX_KEPT_IDS {
        return Err(ExtendError::BadPointsFile {
            reason: format!(
                "this process has already read {MAX_KEPT_IDS} distinct contract ids from points \
                 files, the most it keeps; `{id}` is one more"
            ),
        });
    }
    let leaked: &'static str = Box::leak(id.to_owned().into_boxed_str());
    kept.insert(leaked);
    Ok(leaked)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRING: &str = "string@1";

    fn file(kind: &str, name: &str) -> String {
        format!(
            "[[point]]\nname = \"{name}\"\nkind = \"{kind}\"\ninput = \"{STRING}\"\noutput = \"{STRING}\"\n"
        )
    }

    #[test]
    fn a_points_file_is_read_and_each_mistake_has_its_code() {
        let specs = PointSpec::parse_list(&file("operation", "pipeline.build")).unwrap();
        assert_eq!(
            specs,
            [PointSpec::new(
                "pipeline.build",
                PointKind::Operation,
                STRING,
                STRING
            )]
        );
        let code = |text: &str| PointSpec::parse_list(text).unwrap_err().code().to_string();
        assert_eq!(code("[[point]]\nname = 3"), "SB1725");
        assert_eq!(
            code(&format!("{}colour = \"red\"\n", file("filter", "a"))),
            "SB1725"
        );
        assert_eq!(code(&file("fitler", "a")), "SB1726");
        let long = "x".repeat(MAX_CONTRACT_ID + 1);
        let too_long = format!(
            "[[point]]\nname = \"a\"\nkind = \"filter\"\ninput = \"{long}\"\noutput = \"{STRING}\"\n"
        );
        assert_eq!(code(&too_long), "SB1725");
        let twice = format!("{}{}", file("filter", "a"), file("collect", "a"));
        assert_eq!(code(&twice), "SB1727");
        assert_eq!(code(&file("filter", "not a name")), "SB1710");
        assert!(PointSpec::parse_list("").unwrap().is_empty());
    }
}
