//! Known-vulnerable dependencies: a package's `Cargo.lock` against a snapshot of the
//! [RustSec advisory database](https://github.com/rustsec/advisory-db) on disk
//! (`--advisory-db DIR`; never fetched over the network).
//!
//! The database's layout is RustSec's: `crates/NAME/RUSTSEC-YYYY-NNNN.md`, each starting with
//! a fenced ```` ```toml ```` block holding `[advisory]` (`id`, `package`, optionally
//! `withdrawn`) and `[versions]` (`patched`, `unaffected`: semver ranges). Plain `.toml`
//! advisories (the database's older layout) are read too. A locked crate (a `[[package]]` of
//! the lockfile with a `source`, so from a registry) is affected by an advisory of its name
//! that is not withdrawn when its version matches none of the patched and unaffected ranges.

use std::collections::BTreeMap;
use std::path::Path;

/// The largest advisory file read.
const MAX_ADVISORY_BYTES: u64 = 256 << 10;
/// The largest lockfile read.
pub const MAX_LOCKFILE_BYTES: usize = 4 << 20;
/// The most advisories read for one crate.
const MAX_PER_CRATE: usize = 1000;

/// One advisory that applies to a locked crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The advisory's id (`RUSTSEC-2021-0001`).
    pub id: String,
    /// The crate.
    pub package: String,
    /// The locked version.
    pub version: String,
    /// The patched ranges, as written.
    pub patched: Vec<String>,
}

/// What checking a lockfile found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Locked crates from a registry that were looked up.
    pub checked: usize,
    /// Advisories that apply.
    pub findings: Vec<Finding>,
}

/// Checks that `dir` looks like an advisory database: a directory holding `crates/`.
pub fn check_db(dir: &Path) -> Result<(), String> {
    if !dir.join("crates").is_dir() {
        return Err(format!(
            "{} has no `crates/` directory (RustSec's layout: crates/NAME/RUSTSEC-….md)",
            dir.display()
        ));
    }
    Ok(())
}

/// The crates a `Cargo.lock` locks from a registry: `(name, version)`.
pub fn locked_crates(lockfile: &[u8]) -> Result<Vec<(String, semver::Version)>, String> {
    if lockfile.len() > MAX_LOCKFILE_BYTES {
        return Err(format!(
            "the lockfile is larger than {MAX_LOCKFILE_BYTES} bytes"
        ));
    }
    let text = std::str::from_utf8(lockfile).map_err(|_| "the lockfile is not UTF-8".to_owned())?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("the lockfile is not TOML: {}", e.message()))?;
    let Some(packages) = table.get("package") else {
        return Ok(Vec::new());
    };
    let packages = packages
        .as_array()
        .ok_or("`package` in the lockfile is not an array of tables")?;
    let mut out = Vec::new();
    for p in packages {
        let (Some(name), Some(version)) = (
            p.get("name").and_then(|v| v.as_str()),
            p.get("version").and_then(|v| v.as_str()),
        ) else {
            return Err("a `[[package]]` of the lockfile has no name or version".into());
        };
        // Path and workspace members have no source: not from a registry, no advisories.
        if p.get("source").is_none() {
            continue;
        }
        let version = semver::Version::parse(version)
            .map_err(|e| format!("`{name}` is locked at `{version}`, not a version: {e}"))?;
        out.push((name.to_owned(), version));
    }
    Ok(out)
}

/// The advisories of `db` that apply to `crates`.
pub fn check(db: &Path, crates: &[(String, semver::Version)]) -> Result<Report, String> {
    check_db(db)?;
    let mut cache: BTreeMap<&str, Vec<Advisory>> = BTreeMap::new();
    let mut report = Report {
        checked: crates.len(),
        findings: Vec::new(),
    };
    for (name, version) in crates {
        if !valid_crate_name(name) {
            return Err(format!("`{name}` in the lockfile is not a crate name"));
        }
        if !cache.contains_key(name.as_str()) {
            cache.insert(name, advisories_of(db, name)?);
        }
        for a in cache.get(name.as_str()).into_iter().flatten() {
            if a.withdrawn || a.package != *name {
                continue;
            }
            let safe = a
                .patched
                .iter()
                .chain(&a.unaffected)
                .any(|r| r.matches(version));
            if !safe {
                report.findings.push(Finding {
                    id: a.id.clone(),
                    package: name.clone(),
                    version: version.to_string(),
                    patched: a.patched.iter().map(ToString::to_string).collect(),
                });
            }
        }
    }
    Ok(report)
}

fn valid_crate_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[derive(Debug)]
struct Advisory {
    id: String,
    package: String,
    withdrawn: bool,
    patched: Vec<semver::VersionReq>,
    unaffected: Vec<semver::VersionReq>,
}

fn advisories_of(db: &Path, name: &str) -> Result<Vec<Advisory>, String> {
    let dir = db.join("crates").join(name);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "md" && ext != "toml" {
            continue;
        }
        if out.len() >= MAX_PER_CRATE {
            return Err(format!("{} holds too many advisories", dir.display()));
        }
        let bytes = crate::server::catalog::read_capped(&path, MAX_ADVISORY_BYTES)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let text =
            String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8", path.display()))?;
        let front = if ext == "md" {
            front_matter(&text)
                .ok_or_else(|| format!("{} does not start with a ```toml block", path.display()))?
        } else {
            text.as_str()
        };
        out.push(parse_advisory(front).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    Ok(out)
}

/// The TOML between a leading ```` ```toml ```` line and the next ```` ``` ```` line.
fn front_matter(text: &str) -> Option<&str> {
    let rest = text.trim_start().strip_prefix("```toml")?;
    let rest = rest
        .strip_prefix('\n')
        .or_else(|| rest.strip_prefix("\r\n"))?;
    let end = rest.find("\n```")?;
    rest.get(..end)
}

fn parse_advisory(text: &str) -> Result<Advisory, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("not TOML: {}", e.message()))?;
    let advisory = table
        .get("advisory")
        .and_then(|a| a.as_table())
        .ok_or("no [advisory] table")?;
    let field = |k: &str| {
        advisory
            .get(k)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or(format!("[advisory] has no `{k}`"))
    };
    let ranges = |k: &str| -> Result<Vec<semver::VersionReq>, String> {
        let Some(v) = table
            .get("versions")
            .and_then(|v| v.as_table())
            .and_then(|t| t.get(k))
        else {
            return Ok(Vec::new());
        };
        v.as_array()
            .ok_or(format!("[versions] `{k}` is not an array"))?
            .iter()
            .map(|r| {
                let r = r
                    .as_str()
                    .ok_or(format!("[versions] `{k}` holds a non-string"))?;
                semver::VersionReq::parse(r).map_err(|e| format!("`{r}` is not a range: {e}"))
            })
            .collect()
    };
    Ok(Advisory {
        id: field("id")?,
        package: field("package")?,
        withdrawn: advisory.get("withdrawn").is_some(),
        patched: ranges("patched")?,
        unaffected: ranges("unaffected")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/advisories")
    }

    #[test]
    fn a_locked_vulnerable_version_is_found_and_a_patched_one_is_not() {
        let lock = b"version = 4\n\n[[package]]\nname = \"smallvec\"\nversion = \"1.6.0\"\n\
                     source = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n\
                     [[package]]\nname = \"time\"\nversion = \"0.3.36\"\n\
                     source = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n\
                     [[package]]\nname = \"mine\"\nversion = \"0.1.0\"\n";
        let crates = locked_crates(lock).unwrap();
        assert_eq!(crates.len(), 2, "the path crate has no source");
        let report = check(&testdata(), &crates).unwrap();
        assert_eq!(report.checked, 2);
        let ids: Vec<&str> = report.findings.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["RUSTSEC-2021-0003"], "{report:?}");
        let fixed = check(
            &testdata(),
            &[("smallvec".into(), semver::Version::new(1, 6, 1))],
        )
        .unwrap();
        assert!(fixed.findings.is_empty());
        // The 0.6 line was patched in 0.6.14.
        let old = check(
            &testdata(),
            &[("smallvec".into(), semver::Version::new(0, 6, 14))],
        )
        .unwrap();
        assert!(old.findings.is_empty(), "{old:?}");
    }

    #[test]
    fn bad_lockfiles_and_databases_are_errors_not_passes() {
        assert!(locked_crates(b"[[package]]\nname = 1\n").is_err());
        assert!(locked_crates(b"not toml [").is_err());
        assert!(locked_crates(&vec![b' '; MAX_LOCKFILE_BYTES + 1]).is_err());
        let tmp = tempfile::tempdir().unwrap();
        assert!(check(tmp.path(), &[]).is_err(), "no crates/ directory");
        let crates = tmp.path().join("crates/foo");
        std::fs::create_dir_all(&crates).unwrap();
        std::fs::write(crates.join("RUSTSEC-2000-0001.md"), "# no front matter\n").unwrap();
        assert!(check(tmp.path(), &[("foo".into(), semver::Version::new(1, 0, 0))]).is_err());
        assert!(check(
            tmp.path(),
            &[("../x".into(), semver::Version::new(1, 0, 0))]
        )
        .is_err());
    }
}
