//! How the install commands show things: the plan (versions, changelog, warnings, and each
//! capability in words with the policy's verdict), the report of an applied operation, and
//! `list`'s and `generations`' tables — as text for people or as JSON.

use serde_json::{json, Value};
use switchboard_host::caps::{Capability, PolicyVerdict};
use switchboard_host::install::{OperationReport, Plan, PlannedChange, Recovery};
use switchboard_host::Policy;

use super::review;

/// One capability of a plan, with its words and the policy's verdict.
pub(super) fn capability_json(policy: &Policy, plugin: &str, request: &str) -> Value {
    json!({
        "capability": request,
        "words": review::in_words(plugin, request),
        "policy": verdict_label(policy, plugin, request),
    })
}

/// What the policy says about one request, in a few words.
pub(super) fn verdict_label(policy: &Policy, plugin: &str, request: &str) -> String {
    match request.parse::<Capability>() {
        Ok(cap) => match policy.verdict(plugin, &cap) {
            PolicyVerdict::Allowed { granted, narrowed } => {
                if narrowed {
                    let granted: Vec<String> = granted.iter().map(ToString::to_string).collect();
                    format!("allowed by policy, narrowed to {}", granted.join(", "))
                } else {
                    "allowed by policy".to_owned()
                }
            }
            PolicyVerdict::Blocked { rule } => format!("blocked by the policy rule `{rule}`"),
            PolicyVerdict::NeedsApproval => "needs approval (the policy asks)".to_owned(),
            _ => "needs approval".to_owned(),
        },
        Err(_) => "not a capability".to_owned(),
    }
}

pub(super) fn change_json(policy: &Policy, c: &PlannedChange) -> Value {
    json!({
        "name": c.name,
        "from": c.from.as_ref().map(ToString::to_string),
        "to": c.to.as_ref().map(ToString::to_string),
        "source": c.source,
        "requested": c.requested,
        "capabilities": c.capabilities.iter().map(|r| {
            let mut doc = capability_json(policy, &c.name, r);
            if !c.new_capabilities.contains(r) {
                // Decided when an earlier version was installed: not asked about again.
                doc["policy"] = "decided before".into();
            }
            doc
        }).collect::<Vec<_>>(),
        "new_capabilities": c.new_capabilities,
        "dropped_capabilities": c.dropped_capabilities,
        "changelog": c.changelog,
        "warnings": c.warnings,
    })
}

pub(super) fn recovered_json(recovered: &[Recovery]) -> Value {
    serde_json::to_value(recovered).unwrap_or(Value::Null)
}

/// The plan in words: per plugin the versions, changelog, warnings and capabilities.
pub(super) fn plan_text(policy: &Policy, plan: &Plan) -> String {
    let mut out = String::new();
    for c in &plan.changes {
        let versions = match (&c.from, &c.to) {
            (None, Some(to)) => format!("{} {to} (new)", c.name),
            (Some(from), Some(to)) if from == to => format!("{} {to}", c.name),
            (Some(from), Some(to)) => format!("{} {from} → {to}", c.name),
            (Some(from), None) => format!("{} {from} (removed)", c.name),
            (None, None) => c.name.clone(),
        };
        out.push_str(&format!("  {versions}   from {}\n", c.source));
        if let Some(log) = &c.changelog {
            out.push_str("    changelog:\n");
            for line in log.lines() {
                out.push_str(&format!("      {line}\n"));
            }
        }
        for w in &c.warnings {
            // Some warnings arrive formatted as `warning[CODE] …` already.
            if w.starts_with("warning") {
                out.push_str(&format!("    {w}\n"));
            } else {
                out.push_str(&format!("    warning: {w}\n"));
            }
        }
        if c.to.is_none() {
            continue;
        }
        let (title, list) = if c.from.is_none() {
            ("asks for", &c.capabilities)
        } else {
            ("asks for, new in this version", &c.new_capabilities)
        };
        if list.is_empty() {
            if c.from.is_none() {
                out.push_str("    asks for no capabilities\n");
            } else if !c.capabilities.is_empty() {
                out.push_str("    asks for no capability the installed version did not\n");
            }
        } else {
            out.push_str(&format!("    {title}:\n"));
            for r in list {
                out.push_str(&format!(
                    "      - {} ({r}): {}\n",
                    review::in_words(&c.name, r),
                    verdict_label(policy, &c.name, r)
                ));
            }
        }
        if !c.dropped_capabilities.is_empty() {
            out.push_str(&format!(
                "    no longer asks for: {}\n",
                c.dropped_capabilities.join(", ")
            ));
        }
    }
    out
}

/// The report of an applied operation, in words.
pub(super) fn report_text(report: &OperationReport) -> String {
    let mut out = String::new();
    let changed: Vec<String> = report
        .changes
        .iter()
        .map(|c| match (&c.from, &c.to) {
            (None, Some(to)) => format!("installed {} {to}", c.name),
            (Some(from), Some(to)) if from == to => format!("{} {to}", c.name),
            (Some(from), Some(to)) => format!("{} {from} → {to}", c.name),
            (Some(from), None) => format!("removed {} {from}", c.name),
            (None, None) => c.name.clone(),
        })
        .collect();
    match (report.from_generation, report.generation) {
        (from, Some(to)) if from != Some(to) => out.push_str(&format!(
            "{}: generation {to} is current{} ({})\n",
            report.kind,
            from.map(|f| format!(" (was {f})")).unwrap_or_default(),
            report.operation
        )),
        _ => out.push_str(&format!("{}: nothing to change\n", report.kind)),
    }
    for c in changed {
        out.push_str(&format!("  {c}\n"));
    }
    for w in &report.warnings {
        out.push_str(&format!("  warning: {w}\n"));
    }
    if !report.collected.is_empty() {
        out.push_str(&format!(
            "  {} package(s) no kept generation uses were removed\n",
            report.collected.len()
        ));
    }
    out
}

pub(super) fn report_json(
    report: &OperationReport,
    policy: &Policy,
    recovered: &[Recovery],
) -> Value {
    json!({
        "ok": true,
        "operation": report.operation.to_string(),
        "kind": report.kind.as_str(),
        "from_generation": report.from_generation,
        "generation": report.generation,
        "changes": report.changes.iter().map(|c| change_json(policy, c)).collect::<Vec<_>>(),
        "collected": report.collected,
        "warnings": report.warnings,
        "recovered": recovered_json(recovered),
    })
}

pub(super) fn print_json(doc: &Value) {
    crate::output::print(&format!("{doc}\n"));
}

/// Columns padded to their widest cell.
pub(super) fn table<const N: usize>(head: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = head.map(|h| h.chars().count());
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                l.push_str(cell);
            } else {
                l.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(head.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_pads_every_column_but_the_last() {
        let t = table(
            ["NAME", "VERSION"],
            &[["hello".into(), "0.2.0".into()], ["x".into(), "1".into()]],
        );
        assert_eq!(t, "NAME   VERSION\nhello  0.2.0\nx      1\n");
    }

    #[test]
    fn policy_verdicts_read_as_words() {
        let mut policy = Policy::new();
        policy.allow("kv".parse().unwrap());
        policy.block("process.spawn".parse().unwrap());
        assert_eq!(verdict_label(&policy, "hello", "kv"), "allowed by policy");
        assert_eq!(
            verdict_label(&policy, "hello", "process.spawn"),
            "blocked by the policy rule `process.spawn`"
        );
        assert_eq!(verdict_label(&policy, "hello", "secrets"), "needs approval");
    }
}
