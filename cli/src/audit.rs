//! `switchboard audit` and `switchboard audit verify`: list, export and verify a host's audit
//! log.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;
use switchboard_host::{
    AuditAnchors, AuditFilter, AuditRecord, Checkpoint, Error, Store, StoreError, Timestamp,
    VerifyReport, AUDIT_PUBLIC_KEY_FILE, CHECKPOINT_FILE,
};

/// How `switchboard audit` prints rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// One JSON object per line (an export).
    Jsonl,
    /// CSV with a header line (an export).
    Csv,
}

/// Parses `--since`/`--until`: RFC 3339, a date, Unix seconds, or an age in `humantime`'s
/// form — `30m`, `12h`, `7d`, `1h 30m`, `2weeks` — meaning that long before now.
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    let t = text.trim();
    t.parse::<Timestamp>().or_else(|e| {
        humantime::parse_duration(t)
            .map(|age| Timestamp::now().minus(age))
            .map_err(|_| format!("{e}, or an age such as 30m, 12h, 7d, 1h 30m"))
    })
}

/// Writes the rows `filter` selects to `out` in `format`, or as one JSON document when
/// `json`. Returns how many rows.
pub fn list(
    data_dir: &Path,
    filter: &AuditFilter,
    format: Format,
    json: bool,
    out: &mut dyn Write,
) -> Result<usize, Error> {
    let log = Store::open_existing(data_dir)?.audit();
    if json {
        let rows = log.query(filter)?;
        let doc = json!({ "ok": true, "count": rows.len(), "rows": rows });
        let _ = writeln!(out, "{doc}");
        return Ok(rows.len());
    }
    Ok(match format {
        Format::Jsonl => log.export_jsonl(filter, out)?,
        Format::Csv => log.export_csv(filter, out)?,
        Format::Table => {
            let _ = writeln!(
                out,
                "{:>6}  {:<24}  {:<7}  {:<12}  {:<40}  DETAIL",
                "ID", "AT", "KIND", "PLUGIN", "SUBJECT"
            );
            log.for_each(filter, |r| {
                let _ = writeln!(out, "{}", table_row(&r));
                Ok(())
            })?
        }
    })
}

fn table_row(r: &AuditRecord) -> String {
    format!(
        "{:>6}  {:<24}  {:<7}  {:<12}  {:<40}  {}",
        r.id,
        r.at.to_string(),
        r.kind,
        r.plugin,
        r.subject,
        r.detail
    )
}

/// What `switchboard audit verify` checks the log against besides its hash chain.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// A checkpoint file (default: `<data dir>/audit.checkpoint` when there is one).
    pub checkpoint: Option<PathBuf>,
    /// The audit public key (default: `<data dir>/audit.pub`).
    pub key: Option<PathBuf>,
    /// A head hash some row must have.
    pub expect_head: Option<[u8; 32]>,
    /// Check the hash chain alone, ignoring the data directory's checkpoint.
    pub no_checkpoint: bool,
}

/// Parses `--expect-head`: 64 hex digits.
pub fn parse_head(text: &str) -> Result<[u8; 32], String> {
    let mut head = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut head).map_err(|_| {
        format!("`{text}` is not a head hash: write the 64 hex digits `audit verify` prints")
    })?;
    Ok(head)
}

/// The largest audit public key file read (a minisign public key is about 100 bytes).
const MAX_PUBLIC_KEY_BYTES: u64 = 64 << 10;

/// Reads an audit public key file: a regular file (a FIFO would block), of at most
/// [`MAX_PUBLIC_KEY_BYTES`].
fn read_public_key(path: &Path) -> Result<String, StoreError> {
    use std::io::Read as _;
    let bad = |reason: String| StoreError::AuditKey {
        path: path.to_owned(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if !meta.is_file() {
        return Err(bad("not a regular file".into()));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PUBLIC_KEY_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| bad(e.to_string()))?;
    if text.len() as u64 > MAX_PUBLIC_KEY_BYTES {
        return Err(bad(format!("larger than {MAX_PUBLIC_KEY_BYTES} bytes")));
    }
    Ok(text)
}

/// Verifies the hash chain, then the log against the checkpoint (the data directory's by
/// default) and an expected head. The report says where it breaks, if it does; a checkpoint
/// that is not genuine is `SB0621`, and one that should be there but is not `SB0624`.
pub fn verify(data_dir: &Path, options: &VerifyOptions) -> Result<VerifyReport, Error> {
    let log = Store::open_existing(data_dir)?.audit();
    let mut anchors = AuditAnchors::new();
    if !options.no_checkpoint {
        let beside = data_dir.join(CHECKPOINT_FILE);
        let path = options
            .checkpoint
            .clone()
            .or_else(|| beside.exists().then(|| beside.clone()));
        let key_path = options
            .key
            .clone()
            .unwrap_or_else(|| data_dir.join(AUDIT_PUBLIC_KEY_FILE));
        match path {
            Some(path) => {
                let key = read_public_key(&key_path)?;
                let checkpoint = Checkpoint::read(&path)?
                    .verify_at(&key, &path)
                    .map_err(|e| match e {
                        // The parser knows no path: name the key file given.
                        StoreError::AuditKey { path, reason } if path.as_os_str().is_empty() => {
                            StoreError::AuditKey {
                                path: key_path.clone(),
                                reason,
                            }
                        }
                        e => e,
                    })?;
                anchors = anchors.checkpoint(checkpoint);
            }
            // Hosts write the public key with their first checkpoint.
            None if data_dir.join(AUDIT_PUBLIC_KEY_FILE).exists() => {
                return Err(StoreError::CheckpointMissing { path: beside }.into());
            }
            None => {}
        }
    }
    if let Some(head) = options.expect_head {
        anchors = anchors.expect_head(head);
    }
    Ok(log.verify_anchored(&anchors)?)
}

/// One line on what anchored the verification, for people.
pub fn anchor_summary(report: &VerifyReport) -> String {
    let mut parts = Vec::new();
    if let Some(cp) = &report.checkpoint {
        parts.push(format!(
            "matches the checkpoint of {} ({} rows, key {})",
            cp.at, cp.rows, cp.key_id
        ));
    }
    if let Some(head) = &report.expected_head {
        parts.push(format!("contains the expected head {head}"));
    }
    if parts.is_empty() {
        "no checkpoint: the end of the log is not anchored".to_owned()
    } else {
        parts.join("; ")
    }
}

/// The verify report as the JSON document `--json` prints.
pub fn verify_json(report: &VerifyReport) -> serde_json::Value {
    let mut doc = json!({
        "ok": report.is_intact(),
        "rows": report.rows,
        "head": report.head,
        "broken": report.broken,
        "checkpoint": report.checkpoint,
        "expected_head": report.expected_head,
    });
    if let Err(e) = report.clone().into_result() {
        doc["error"] = crate::output::error_json(e.code(), &e, e.next_step());
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_absolute_and_relative() {
        assert_eq!(
            parse_time("2025-06-01").unwrap(),
            "2025-06-01T00:00:00Z".parse::<Timestamp>().unwrap()
        );
        let an_hour_ago = parse_time("1h").unwrap();
        let now = Timestamp::now();
        let d = now.as_millis() - an_hour_ago.as_millis();
        assert!((3_599_000..=3_601_000).contains(&d), "{d}");
        let ninety_minutes_ago = parse_time("1h 30m").unwrap();
        let d = Timestamp::now().as_millis() - ninety_minutes_ago.as_millis();
        assert!((5_399_000..=5_401_000).contains(&d), "{d}");
        let two_weeks_ago = parse_time("2weeks").unwrap();
        let d = Timestamp::now().as_millis() - two_weeks_ago.as_millis();
        assert!((1_209_599_000..=1_209_601_000).contains(&d), "{d}");
        assert!(parse_time("2025-02-31").is_err());
        assert!(parse_time("soon").is_err());
        assert!(parse_time("xh").is_err());
    }
}
