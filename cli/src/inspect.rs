//! `switchboard inspect PLUGIN`: what a host's database knows of a plugin — requested versus
//! granted capabilities with scopes and expiry, trust level, signer, state and history.

use std::io::Write;
use std::path::Path;

use serde_json::json;
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
    json!({ "ok": true, "plugin": i.record, "owner": i.owner, "history": i.history })
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
