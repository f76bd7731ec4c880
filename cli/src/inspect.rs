//! `switchboard inspect PLUGIN`: what a host's database knows of a plugin — requested versus
//! granted capabilities with scopes and expiry, trust level, signer, state, where its last
//! load ran it (in-process or isolated, the profile, why, the sandbox layers in force and its
//! limits), its last recorded health change and history.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};
use switchboard_host::{AuditFilter, AuditRecord, Error, PluginRecord, Store};

/// A plugin's record and its audit history.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// What the database recorded.
    pub record: PluginRecord,
    /// Its audit rows, oldest first.
    pub history: Vec<AuditRecord>,
    /// The identity that owns its data (`key:…`, `library:…`, `package-dir:…`), if recorded.
    pub owner: Option<String>,
}

/// Reads plugin `name` from the database in `data_dir`.
pub fn inspect(data_dir: &Path, name: &str) -> Result<Inspection, Error> {
    let store = Store::open_existing(data_dir)?;
    let record = store.plugin(name)?;
    let history = store
        .audit()
        .query(&AuditFilter::new().plugin(record.name.clone()))?;
    let owner = store.plugin_identity(name)?.map(|o| o.to_string());
    Ok(Inspection {
        record,
        history,
        owner,
    })
}

/// The JSON document `--json` prints.
pub fn to_json(i: &Inspection) -> serde_json::Value {
    json!({
        "ok": true,
        "plugin": i.record,
        "owner": i.owner,
        "history": i.history,
        "reloads": reloads(&i.history),
        "health": health(&i.history),
        "machine_sandbox": switchboard_host::isolation::sandbox::probe(),
    })
}

/// Hot reloads since the plugin's last load, from its audit rows: how many succeeded, how
/// many were refused, the library copies they left mapped in that host process (bounded by
/// `HostBuilder::max_reloads`), and the last one.
fn reloads(history: &[AuditRecord]) -> Value {
    let detail = |r: &AuditRecord| serde_json::from_str::<Value>(&r.detail).unwrap_or(Value::Null);
    let since = history
        .iter()
        .rposition(|r| r.kind == "load" && detail(r)["outcome"] == "loaded")
        .map_or(0, |i| i + 1);
    let rows: Vec<(&AuditRecord, Value)> = history[since..]
        .iter()
        .filter(|r| r.kind == "reload")
        .map(|r| (r, detail(r)))
        .collect();
    let done: Vec<&(&AuditRecord, Value)> = rows
        .iter()
        .filter(|(_, d)| d["outcome"] == "reloaded")
        .collect();
    let last = done.last().map(|(r, d)| {
        json!({ "at": r.at.to_string(), "from": d["from"], "to": r.subject, "mapped": d["mapped"] })
    });
    json!({
        "since_load": done.len(),
        "refused": rows.len() - done.len(),
        "mapped": done.last().map_or(Value::from(0), |(_, d)| d["mapped"].clone()),
        "last": last,
    })
}

/// The last health change a host recorded for the plugin since its last load (audit kind
/// `health`: only changes are recorded, so none means healthy at every check, or never
/// checked): `{state, at, from, reasons}`, or `null`.
fn health(history: &[AuditRecord]) -> Value {
    let detail = |r: &AuditRecord| serde_json::from_str::<Value>(&r.detail).unwrap_or(Value::Null);
    let since = history
        .iter()
        .rposition(|r| r.kind == "load" && detail(r)["outcome"] == "loaded")
        .map_or(0, |i| i + 1);
    history[since..]
        .iter()
        .rfind(|r| r.kind == "health")
        .map_or(Value::Null, |r| {
            let d = detail(r);
            json!({ "state": r.subject, "at": r.at.to_string(), "from": d["from"], "reasons": d["reasons"] })
        })
}

fn health_lines(h: &Value) -> Vec<String> {
    let Some(last) = h.as_object() else {
        return vec![
            "  health:   no change recorded since its last load (healthy at every check, or \
             never checked)"
                .into(),
        ];
    };
    let mut lines = vec![format!(
        "  health:   {} since {} (the last change a running host recorded)",
        last["state"].as_str().unwrap_or("?"),
        last["at"].as_str().unwrap_or("?"),
    )];
    for r in last["reasons"].as_array().into_iter().flatten() {
        lines.push(format!(
            "    [{}] {}",
            r["code"].as_str().unwrap_or("?"),
            r["message"].as_str().unwrap_or("?")
        ));
    }
    lines
}

fn reloads_line(r: &Value) -> String {
    let mut line = format!(
        "  reloads:  {} since its last load, {} refused",
        r["since_load"], r["refused"]
    );
    if let Some(last) = r["last"].as_object() {
        line.push_str(&format!(
            "; last {} → {} at {} (library copies left mapped: {})",
            last["from"].as_str().unwrap_or("?"),
            last["to"].as_str().unwrap_or("?"),
            last["at"].as_str().unwrap_or("?"),
            last["mapped"]
        ));
    }
    line
}

/// The sandbox layers this machine offers an isolated plugin (what a policy's `require` can
/// demand here), in one line: `landlock ✓  …  cgroup ✗ (why)`.
fn machine_line() -> String {
    let layers: Vec<String> = switchboard_host::isolation::sandbox::probe()
        .iter()
        .map(|l| {
            let name = l.layer.as_str();
            if l.active {
                format!("{name} ✓")
            } else {
                format!("{name} ✗ ({})", l.detail)
            }
        })
        .collect();
    format!("  sandbox on this machine: {}", layers.join("  "))
}

/// Writes the inspection for people.
pub fn write_text(i: &Inspection, out: &mut dyn Write) -> std::io::Result<()> {
    let r = &i.record;
    writeln!(out, "{} {}", r.name, r.version)?;
    writeln!(out, "  trust:    {}", r.trust)?;
    writeln!(out, "  signer:   {}", r.signer.as_deref().unwrap_or("none"))?;
    writeln!(out, "  state:    {} (as of {})", r.state, r.updated_at)?;
    writeln!(out, "  source:   {}", r.source)?;
    writeln!(
        out,
        "  data of:  {}",
        i.owner.as_deref().unwrap_or("(no owner recorded)")
    )?;
    if let Some(kind) = r
        .isolation
        .as_ref()
        .and_then(|d| d["kind"].as_str())
        .filter(|k| !k.is_empty())
    {
        let expects = switchboard_host::kinds::expectation(kind)
            .map(|e| format!(" — {e}"))
            .unwrap_or_default();
        writeln!(out, "  kind:     {kind}{expects}")?;
    }
    for line in isolation_lines(r.isolation.as_ref()) {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "{}", reloads_line(&reloads(&i.history)))?;
    for line in health_lines(&health(&i.history)) {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "{}", machine_line())?;
    writeln!(out, "  requested capabilities:")?;
    for c in &r.requested {
        writeln!(out, "    {c}")?;
    }
    writeln!(out, "  granted:")?;
    if r.granted.is_empty() {
        writeln!(out, "    (nothing)")?;
    }
    for g in &r.granted {
        let expiry = g
            .expires_at
            .map(|t| format!(" until {t}"))
            .unwrap_or_default();
        let used = if g.used { ", used" } else { "" };
        writeln!(
            out,
            "    {:<40} {}{expiry} (by {}{used})",
            g.capability, g.scope, g.source
        )?;
    }
    writeln!(out, "  denied:")?;
    if r.denied.is_empty() {
        writeln!(out, "    (nothing)")?;
    }
    for d in &r.denied {
        writeln!(out, "    {:<40} {}", d.capability, d.reason)?;
    }
    writeln!(out, "  history:")?;
    for h in &i.history {
        writeln!(
            out,
            "    {}  {:<6} {:<40} {}",
            h.at, h.kind, h.subject, h.detail
        )?;
    }
    Ok(())
}

/// The `isolation:` lines of the text report, from the record's isolation decision:
///
/// ```text
///   isolation: isolated (profile agent) — trust `unsigned` is below `verified` (policy `isolation.isolate_below`)
///     layers:  landlock ✓  seccomp ✓  rlimits ✓  no_new_privs ✓  cgroup ✗ (no delegated cgroup v2)
///     limits:  memory 512 MiB, CPU unlimited, 30000 ms per call, 256 open files, files up to 64 MiB, 3 restarts (backoff 100 ms)
///     allows:  files yes, network yes, exec no; requires landlock
/// ```
///
/// An in-process plugin gets one line, `isolation: in-process — <why>`.
fn isolation_lines(isolation: Option<&Value>) -> Vec<String> {
    let Some(d) = isolation else {
        return vec!["  isolation: (not recorded: loaded by a host that did not record it)".into()];
    };
    let text = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    let reasons: Vec<String> = d["reasons"]
        .as_array()
        .map(|r| r.iter().map(text).collect())
        .unwrap_or_default();
    let why = if reasons.is_empty() {
        "no rule isolates it".to_owned()
    } else {
        reasons.join("; ")
    };
    let mode = d["mode"].as_str().unwrap_or("?");
    if mode != "isolated" {
        return vec![format!("  isolation: in-process — {why}")];
    }
    let strict = if d["strict"] == true { ", strict" } else { "" };
    let mut lines = vec![format!(
        "  isolation: isolated (profile {}{strict}) — {why}",
        d["profile"].as_str().unwrap_or("default")
    )];
    let layers: Vec<String> = d["layers"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .map(|l| {
                    let name = text(&l["layer"]);
                    if l["active"] == true {
                        format!("{name} ✓")
                    } else {
                        format!("{name} ✗ ({})", text(&l["detail"]))
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    lines.push(format!(
        "    layers:  {}",
        if layers.is_empty() {
            "(none recorded)".to_owned()
        } else {
            layers.join("  ")
        }
    ));
    let l = &d["limits"];
    let or = |v: &Value, unit: &str, none: &str| match v.as_u64() {
        Some(n) => format!("{n}{unit}"),
        None => none.to_owned(),
    };
    lines.push(format!(
        "    limits:  memory {}, CPU {}, {} per call, {} open files, files up to {}, {} restarts (backoff {})",
        or(&l["memory_mb"], " MiB", "unlimited"),
        or(&l["cpu_ms"], " ms", "unlimited"),
        or(&l["call_timeout_ms"], " ms", "no limit"),
        or(&l["open_files"], "", "unlimited"),
        or(&l["file_size_mb"], " MiB", "any size"),
        or(&l["max_restarts"], "", "?"),
        or(&l["restart_backoff_ms"], " ms", "?"),
    ));
    let yes = |v: &Value| if *v == true { "yes" } else { "no" };
    let required: Vec<String> = d["required_layers"]
        .as_array()
        .map(|r| r.iter().map(text).collect())
        .unwrap_or_default();
    lines.push(format!(
        "    allows:  files {}, network {}, exec {}{}",
        yes(&d["allow_files"]),
        yes(&d["allow_network"]),
        yes(&d["allow_exec"]),
        if required.is_empty() {
            String::new()
        } else {
            format!("; requires {}", required.join(", "))
        }
    ));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(isolation: Option<Value>) -> PluginRecord {
        serde_json::from_value(json!({
            "name": "scraper", "version": "1.0.0", "trust": "unsigned", "signer": null,
            "source": "/p/scraper.sbpkg", "state": "active", "requested": ["net.connect"],
            "granted": [], "denied": [], "updated_at": "2026-01-02T03:04:05Z",
            "isolation": isolation,
        }))
        .unwrap()
    }

    fn text(isolation: Option<Value>) -> String {
        let i = Inspection {
            record: record(isolation),
            history: Vec::new(),
            owner: None,
        };
        let mut out = Vec::new();
        write_text(&i, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn an_isolated_plugin_shows_its_profile_reasons_layers_and_limits() {
        let decision = json!({
            "mode": "isolated", "profile": "agent", "strict": false,
            "reasons": ["trust `unsigned` is below `verified` (policy `isolation.isolate_below`)"],
            "limits": { "memory_mb": 512, "cpu_ms": null, "call_timeout_ms": 30000,
                        "open_files": 256, "file_size_mb": 64, "max_restarts": 3,
                        "restart_backoff_ms": 100 },
            "allow_exec": false, "allow_network": true, "allow_files": true,
            "required_layers": ["landlock"],
            "layers": [
                { "layer": "landlock", "active": true, "detail": "ABI 7" },
                { "layer": "seccomp", "active": true, "detail": "filter" },
                { "layer": "cgroup", "active": false, "detail": "no delegated cgroup v2" },
            ],
        });
        let out = text(Some(decision.clone()));
        assert!(
            out.contains(
                "  isolation: isolated (profile agent) — trust `unsigned` is below `verified` \
                 (policy `isolation.isolate_below`)\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("    layers:  landlock ✓  seccomp ✓  cgroup ✗ (no delegated cgroup v2)\n"),
            "{out}"
        );
        assert!(
            out.contains("memory 512 MiB, CPU unlimited, 30000 ms per call, 256 open files"),
            "{out}"
        );
        assert!(
            out.contains("    allows:  files yes, network yes, exec no; requires landlock\n"),
            "{out}"
        );
        // --json carries the record's decision as stored.
        let i = Inspection {
            record: record(Some(decision.clone())),
            history: Vec::new(),
            owner: None,
        };
        assert_eq!(to_json(&i)["plugin"]["isolation"], decision);
    }

    #[test]
    fn an_in_process_plugin_shows_why_in_one_line() {
        let out = text(Some(
            json!({ "mode": "in_process", "reasons": ["no rule isolates it"] }),
        ));
        assert!(
            out.contains("  isolation: in-process — no rule isolates it\n"),
            "{out}"
        );
        assert!(!out.contains("layers:"), "{out}");
        let out = text(Some(json!({ "mode": "in_process", "reasons": [] })));
        assert!(
            out.contains("  isolation: in-process — no rule isolates it\n"),
            "{out}"
        );
        let out = text(None);
        assert!(out.contains("  isolation: (not recorded"), "{out}");
        let i = Inspection {
            record: record(None),
            history: Vec::new(),
            owner: None,
        };
        assert_eq!(to_json(&i)["plugin"]["isolation"], Value::Null);
    }
}
