//! `switchboard tree`: the plugins a lockfile records, as a dependency tree, Graphviz DOT or
//! one JSON document.

use std::path::Path;

use serde_json::json;
use switchboard_host::{Error, InstalledGraph, Lockfile};

/// How to print the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An indented tree, one root per plugin nothing depends on.
    Text,
    /// Graphviz DOT.
    Dot,
    /// One JSON document: every plugin with its dependencies and dependents, and the load order.
    Json,
}

/// Reads the lockfile at `path` and renders its graph.
///
/// # Example
///
/// ```
/// use switchboard_cli::tree::{render, Format};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("switchboard.lock");
/// std::fs::write(&path, "version = 1\n").unwrap();
/// let text = render(&path, Format::Text).unwrap();
/// assert!(text.ends_with("locks no plugins.\n"));
/// assert_eq!(render(&path, Format::Dot).unwrap(), "digraph plugins {\n    node [shape=box];\n}\n");
/// ```
///
/// # Errors
///
/// The lockfile cannot be read or parsed (`SB0507`–`SB0509`), or its plugins do not form a
/// graph: a dependency that is not locked (`SB0504`) or a cycle (`SB0503`).
pub fn render(path: &Path, format: Format) -> Result<String, Error> {
    let lockfile = Lockfile::read(path)?;
    let graph = lockfile.graph()?;
    Ok(match format {
        Format::Text if graph.is_empty() => format!("{} locks no plugins.\n", path.display()),
        Format::Text => graph.tree(),
        Format::Dot => graph.to_dot(),
        Format::Json => format!("{}\n", to_json(path, &lockfile, &graph)),
    })
}

fn to_json(path: &Path, lockfile: &Lockfile, graph: &InstalledGraph) -> serde_json::Value {
    let plugins: Vec<serde_json::Value> = lockfile
        .plugins()
        .map(|p| {
            json!({
                "name": p.name,
                "version": p.version.to_string(),
                "source": p.source,
                "checksum": p.checksum,
                "signer": p.signer,
                "trust": p.trust.to_string(),
                "dependencies": p.dependencies,
                "optional_dependencies": p.optional_dependencies,
                "dependents": graph.dependents(&p.name),
            })
        })
        .collect();
    json!({
        "ok": true,
        "lockfile": path.display().to_string(),
        "plugins": plugins,
        "load_order": graph.load_order(),
    })
}
