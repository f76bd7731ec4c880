//! The installed graph: which plugin depends on which, the order to load them in, who depends
//! on a plugin before it is removed, and the `switchboard tree` renderings.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use semver::Version;

use crate::error::ResolveError;

/// One plugin as the graph sees it: a name, a version, and the plugins it depends on.
///
/// # Example
///
/// ```
/// use switchboard_host::GraphNode;
///
/// let weather = GraphNode::new("weather", "2.1.0".parse().unwrap())
///     .with_dependency("geo")
///     .with_optional_dependency("maps");
/// assert_eq!(weather.dependencies, ["geo"]);
/// assert_eq!(weather.optional_dependencies, ["maps"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GraphNode {
    /// The plugin's name.
    pub name: String,
    /// Its version.
    pub version: Version,
    /// Plugins it needs.
    pub dependencies: Vec<String>,
    /// Plugins it uses when they are installed; they still load first.
    pub optional_dependencies: Vec<String>,
}

impl GraphNode {
    /// A plugin with no dependencies.
    pub fn new(name: impl Into<String>, version: Version) -> Self {
        GraphNode {
            name: name.into(),
            version,
            dependencies: Vec::new(),
            optional_dependencies: Vec::new(),
        }
    }

    /// Adds a required dependency.
    pub fn with_dependency(mut self, name: impl Into<String>) -> Self {
        self.dependencies.push(name.into());
        self
    }

    /// Adds an optional dependency that is installed.
    pub fn with_optional_dependency(mut self, name: impl Into<String>) -> Self {
        self.optional_dependencies.push(name.into());
        self
    }
}

/// An edge from a dependent to its dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Edge {
    optional: bool,
}

/// Installed plugins and their dependencies: an acyclic graph, checked when built.
///
/// # Example
///
/// ```
/// use switchboard_host::{GraphNode, InstalledGraph};
///
/// let v = |s: &str| s.parse().unwrap();
/// let graph = InstalledGraph::new([
///     GraphNode::new("weather", v("2.1.0")).with_dependency("geo"),
///     GraphNode::new("maps", v("1.4.0")).with_dependency("geo"),
///     GraphNode::new("geo", v("3.0.0")),
/// ])?;
/// assert_eq!(graph.load_order(), ["geo", "maps", "weather"]);
/// assert_eq!(graph.dependents("geo"), ["maps", "weather"]);
/// assert_eq!(graph.tree(), "\
/// maps 1.4.0
/// └── geo 3.0.0
/// weather 2.1.0
/// └── geo 3.0.0
/// ");
/// # Ok::<(), switchboard_host::ResolveError>(())
/// ```
#[derive(Debug, Clone)]
pub struct InstalledGraph {
    graph: DiGraph<GraphNode, Edge>,
    by_name: BTreeMap<String, NodeIndex>,
    load_order: Vec<NodeIndex>,
}

impl InstalledGraph {
    /// Builds the graph.
    ///
    /// # Errors
    ///
    /// [`ResolveError::DuplicatePlugin`] when a name appears twice,
    /// [`ResolveError::MissingDependency`] when a dependency is not among the nodes, and
    /// [`ResolveError::Cycle`] (with the whole path) when dependencies go round in a circle.
    pub fn new(nodes: impl IntoIterator<Item = GraphNode>) -> Result<Self, ResolveError> {
        let mut graph = DiGraph::new();
        let mut by_name = BTreeMap::new();
        for node in nodes {
            let name = node.name.clone();
            if by_name.contains_key(&name) {
                return Err(ResolveError::DuplicatePlugin { name });
            }
            by_name.insert(name, graph.add_node(node));
        }
        for (name, &from) in &by_name {
            // Required wins when a plugin is listed both ways.
            let mut edges: BTreeMap<&str, bool> = BTreeMap::new();
            for d in &graph[from].optional_dependencies {
                edges.insert(d, true);
            }
            for d in &graph[from].dependencies {
                edges.insert(d, false);
            }
            let mut resolved = Vec::new();
            for (dependency, optional) in edges {
                let Some(&to) = by_name.get(dependency) else {
                    return Err(ResolveError::MissingDependency {
                        plugin: name.clone(),
                        dependency: dependency.to_owned(),
                    });
                };
                resolved.push((to, optional));
            }
            for (to, optional) in resolved {
                graph.add_edge(from, to, Edge { optional });
            }
        }
        let mut this = InstalledGraph {
            graph,
            by_name,
            load_order: Vec::new(),
        };
        this.load_order = this.topological_order()?;
        Ok(this)
    }

    /// Kahn's algorithm, taking the smallest name whenever several plugins are ready.
    fn topological_order(&self) -> Result<Vec<NodeIndex>, ResolveError> {
        let mut waiting: Vec<usize> = self
            .graph
            .node_indices()
            .map(|n| self.graph.edges(n).count())
            .collect();
        let mut ready: BTreeSet<(&str, NodeIndex)> = self
            .graph
            .node_indices()
            .filter(|n| waiting[n.index()] == 0)
            .map(|n| (self.graph[n].name.as_str(), n))
            .collect();
        let mut order = Vec::with_capacity(self.graph.node_count());
        while let Some((_, n)) = ready.pop_first() {
            order.push(n);
            for edge in self.graph.edges_directed(n, Direction::Incoming) {
                let dependent = edge.source();
                waiting[dependent.index()] -= 1;
                if waiting[dependent.index()] == 0 {
                    ready.insert((self.graph[dependent].name.as_str(), dependent));
                }
            }
        }
        if order.len() == self.graph.node_count() {
            return Ok(order);
        }
        let stuck: BTreeSet<NodeIndex> = self
            .graph
            .node_indices()
            .filter(|n| waiting[n.index()] > 0)
            .collect();
        Err(ResolveError::Cycle {
            path: self.cycle_among(&stuck),
        })
    }

    /// A cycle among plugins that never became ready, as names from the smallest one on a
    /// cycle back to itself, always taking the smallest next name that still closes it.
    fn cycle_among(&self, stuck: &BTreeSet<NodeIndex>) -> Vec<String> {
        // Every stuck plugin depends, directly or not, on a cycle; the cycles are the strongly
        // connected components that have an edge inside them.
        let on_cycle: BTreeSet<NodeIndex> = petgraph::algo::tarjan_scc(&self.graph)
            .into_iter()
            .filter(|scc| scc.len() > 1 || self.graph.contains_edge(scc[0], scc[0]))
            .flatten()
            .filter(|n| stuck.contains(n))
            .collect();
        let Some(&start) = on_cycle
            .iter()
            .min_by_key(|n| self.graph[**n].name.as_str())
        else {
            return Vec::new();
        };
        // Depth-first within the component until an edge leads back to `start`.
        let mut path = vec![start];
        let mut seen = BTreeSet::from([start]);
        let mut next_choice = vec![0usize];
        while let Some(&node) = path.last() {
            let choices = self.sorted_dependencies(node, &on_cycle);
            if choices.contains(&start) {
                path.push(start);
                break;
            }
            let depth = path.len() - 1;
            let chosen = choices[next_choice[depth]..]
                .iter()
                .position(|n| !seen.contains(n));
            match chosen {
                Some(offset) => {
                    let n = choices[next_choice[depth] + offset];
                    next_choice[depth] += offset + 1;
                    seen.insert(n);
                    path.push(n);
                    next_choice.push(0);
                }
                None => {
                    path.pop();
                    next_choice.pop();
                }
            }
        }
        path.into_iter()
            .map(|n| self.graph[n].name.clone())
            .collect()
    }

    fn sorted_dependencies(&self, node: NodeIndex, within: &BTreeSet<NodeIndex>) -> Vec<NodeIndex> {
        let mut out: Vec<NodeIndex> = self
            .graph
            .neighbors_directed(node, Direction::Outgoing)
            .filter(|n| within.contains(n))
            .collect();
        out.sort_by_key(|n| self.graph[*n].name.as_str());
        out.dedup();
        out
    }

    fn names(&self, nodes: impl Iterator<Item = NodeIndex>) -> Vec<&str> {
        let mut names: Vec<&str> = nodes.map(|n| self.graph[n].name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The number of plugins.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// Whether the graph has no plugins.
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// The plugin `name`.
    pub fn get(&self, name: &str) -> Option<&GraphNode> {
        self.by_name.get(name).map(|n| &self.graph[*n])
    }

    /// Every plugin, by name.
    pub fn nodes(&self) -> impl Iterator<Item = &GraphNode> {
        self.by_name.values().map(|n| &self.graph[*n])
    }

    /// The order to load plugins in: every plugin after all it depends on (optional
    /// dependencies included), ties broken by name. The same graph always gives the same order.
    pub fn load_order(&self) -> Vec<&str> {
        self.load_order
            .iter()
            .map(|n| self.graph[*n].name.as_str())
            .collect()
    }

    /// The plugins that depend on `name` directly, optional dependents included, sorted.
    pub fn dependents(&self, name: &str) -> Vec<&str> {
        match self.by_name.get(name) {
            Some(&n) => self.names(self.graph.neighbors_directed(n, Direction::Incoming)),
            None => Vec::new(),
        }
    }

    /// The plugins that would lose a required dependency, directly or through others, if
    /// `name` were removed — what to show before a removal. Sorted.
    pub fn removal_impact(&self, name: &str) -> Vec<&str> {
        let Some(&start) = self.by_name.get(name) else {
            return Vec::new();
        };
        let mut seen = BTreeSet::new();
        let mut todo = vec![start];
        while let Some(n) = todo.pop() {
            for edge in self.graph.edges_directed(n, Direction::Incoming) {
                if !edge.weight().optional && seen.insert(edge.source()) {
                    todo.push(edge.source());
                }
            }
        }
        seen.remove(&start);
        self.names(seen.into_iter())
    }

    /// The graph as text, one tree per plugin nothing depends on:
    ///
    /// ```text
    /// weather 2.1.0
    /// ├── geo 3.0.0
    /// │   └── base 1.0.0
    /// └── maps 1.4.0 (optional)
    ///     └── geo 3.0.0 (*)
    /// ```
    ///
    /// `(*)` marks a plugin whose dependencies were already shown above.
    pub fn tree(&self) -> String {
        let mut out = String::new();
        let mut shown = BTreeSet::new();
        let roots = self
            .by_name
            .values()
            .filter(|n| {
                self.graph
                    .neighbors_directed(**n, Direction::Incoming)
                    .next()
                    .is_none()
            })
            .copied();
        for root in roots {
            self.tree_node(root, None, "", "", &mut shown, &mut out);
        }
        out
    }

    fn tree_node(
        &self,
        node: NodeIndex,
        edge: Option<Edge>,
        first_prefix: &str,
        rest_prefix: &str,
        shown: &mut BTreeSet<NodeIndex>,
        out: &mut String,
    ) {
        let plugin = &self.graph[node];
        let mut children: Vec<(NodeIndex, Edge)> = self
            .graph
            .edges(node)
            .map(|e| (e.target(), *e.weight()))
            .collect();
        children.sort_by_key(|(n, _)| self.graph[*n].name.as_str());
        let repeated = !children.is_empty() && !shown.insert(node);
        let _ = write!(out, "{first_prefix}{} {}", plugin.name, plugin.version);
        if edge.is_some_and(|e| e.optional) {
            out.push_str(" (optional)");
        }
        if repeated {
            out.push_str(" (*)");
        }
        out.push('\n');
        if repeated {
            return;
        }
        let count = children.len();
        for (i, (child, edge)) in children.into_iter().enumerate() {
            let last = i + 1 == count;
            let first = format!("{rest_prefix}{}", if last { "└── " } else { "├── " });
            let rest = format!("{rest_prefix}{}", if last { "    " } else { "│   " });
            self.tree_node(child, Some(edge), &first, &rest, shown, out);
        }
    }

    /// The graph in Graphviz DOT, nodes and edges sorted; optional dependencies are dashed.
    ///
    /// # Example
    ///
    /// ```
    /// use switchboard_host::{GraphNode, InstalledGraph};
    ///
    /// let graph = InstalledGraph::new([
    ///     GraphNode::new("geo", "3.0.0".parse().unwrap()),
    ///     GraphNode::new("weather", "2.1.0".parse().unwrap()).with_dependency("geo"),
    /// ])?;
    /// assert_eq!(graph.to_dot(), r#"digraph plugins {
    ///     node [shape=box];
    ///     "geo" [label="geo 3.0.0"];
    ///     "weather" [label="weather 2.1.0"];
    ///     "weather" -> "geo";
    /// }
    /// "#);
    /// # Ok::<(), switchboard_host::ResolveError>(())
    /// ```
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph plugins {\n    node [shape=box];\n");
        for node in self.nodes() {
            let _ = writeln!(
                out,
                "    {} [label={}];",
                dot_quote(&node.name),
                dot_quote(&format!("{} {}", node.name, node.version))
            );
        }
        for &from in self.by_name.values() {
            let mut edges: Vec<(&str, Edge)> = self
                .graph
                .edges(from)
                .map(|e| (self.graph[e.target()].name.as_str(), *e.weight()))
                .collect();
            edges.sort_by_key(|(name, _)| *name);
            for (to, edge) in edges {
                let style = if edge.optional { " [style=dashed]" } else { "" };
                let _ = writeln!(
                    out,
                    "    {} -> {}{style};",
                    dot_quote(&self.graph[from].name),
                    dot_quote(to)
                );
            }
        }
        out.push_str("}\n");
        out
    }
}

fn dot_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn node(name: &str, deps: &[&str]) -> GraphNode {
        deps.iter().fold(GraphNode::new(name, v("1.0.0")), |n, d| {
            n.with_dependency(*d)
        })
    }

    fn cycle_of(result: Result<InstalledGraph, ResolveError>) -> String {
        match result {
            Err(e @ ResolveError::Cycle { .. }) => e.to_string(),
            other => panic!("expected a cycle, got {other:?}"),
        }
    }

    #[test]
    fn load_order_puts_dependencies_first_and_breaks_ties_by_name() {
        let graph = InstalledGraph::new([
            node("zeta", &[]),
            node("app", &["mid-b", "mid-a"]),
            node("mid-b", &["base"]),
            node("mid-a", &["base"]),
            node("base", &[]),
            node("alpha", &[]),
        ])
        .unwrap();
        assert_eq!(
            graph.load_order(),
            ["alpha", "base", "mid-a", "mid-b", "app", "zeta"]
        );
    }

    #[test]
    fn load_order_is_the_same_whatever_order_nodes_arrive_in() {
        let nodes = vec![
            node("c", &["a"]),
            node("b", &["a"]),
            node("a", &[]),
            node("d", &["c", "b"]),
        ];
        let forward = InstalledGraph::new(nodes.clone()).unwrap();
        let backward = InstalledGraph::new(nodes.into_iter().rev()).unwrap();
        assert_eq!(forward.load_order(), backward.load_order());
        assert_eq!(forward.load_order(), ["a", "b", "c", "d"]);
    }

    #[test]
    fn optional_dependencies_also_load_first() {
        let graph = InstalledGraph::new([
            GraphNode::new("a", v("1.0.0")).with_optional_dependency("b"),
            node("b", &[]),
        ])
        .unwrap();
        assert_eq!(graph.load_order(), ["b", "a"]);
    }

    #[test]
    fn cycle_is_reported_as_the_full_path() {
        let err = cycle_of(InstalledGraph::new([
            node("b", &["c"]),
            node("c", &["a"]),
            node("a", &["b"]),
            node("x", &["a"]),
        ]));
        assert_eq!(err, "dependency cycle: a → b → c → a");
    }

    #[test]
    fn self_dependency_is_a_cycle_of_one() {
        let err = cycle_of(InstalledGraph::new([node("a", &["a"])]));
        assert_eq!(err, "dependency cycle: a → a");
    }

    #[test]
    fn cycle_path_backtracks_out_of_dead_ends() {
        // From `a`, `b` comes first by name but leads nowhere back; the path must go via `c`.
        let err = cycle_of(InstalledGraph::new([
            node("a", &["b", "c"]),
            node("b", &["d"]),
            node("d", &["b"]),
            node("c", &["a"]),
        ]));
        assert_eq!(err, "dependency cycle: a → c → a");
    }

    #[test]
    fn missing_dependency_is_named() {
        let err = InstalledGraph::new([node("a", &["ghost"])]).unwrap_err();
        assert_eq!(err.code().to_string(), "SB0504");
        assert_eq!(
            err.to_string(),
            "`a` depends on `ghost`, which is not installed"
        );
    }

    #[test]
    fn duplicate_names_are_refused() {
        let err = InstalledGraph::new([node("a", &[]), node("a", &[])]).unwrap_err();
        assert_eq!(err.code().to_string(), "SB0505");
    }

    #[test]
    fn dependents_are_direct_and_include_optional_ones() {
        let graph = InstalledGraph::new([
            node("geo", &[]),
            node("maps", &["geo"]),
            GraphNode::new("atlas", v("1.0.0")).with_optional_dependency("geo"),
            node("weather", &["maps"]),
        ])
        .unwrap();
        assert_eq!(graph.dependents("geo"), ["atlas", "maps"]);
        assert!(graph.dependents("weather").is_empty());
        assert!(graph.dependents("unknown").is_empty());
    }

    #[test]
    fn removal_impact_follows_required_edges_transitively() {
        let graph = InstalledGraph::new([
            node("geo", &[]),
            node("maps", &["geo"]),
            node("weather", &["maps"]),
            GraphNode::new("atlas", v("1.0.0")).with_optional_dependency("geo"),
            node("news", &[]),
        ])
        .unwrap();
        assert_eq!(graph.removal_impact("geo"), ["maps", "weather"]);
        assert!(graph.removal_impact("news").is_empty());
    }

    #[test]
    fn tree_marks_optional_edges_and_repeated_subtrees() {
        let graph = InstalledGraph::new([
            GraphNode::new("weather", v("2.1.0"))
                .with_dependency("geo")
                .with_optional_dependency("maps"),
            GraphNode::new("maps", v("1.4.0")).with_dependency("geo"),
            GraphNode::new("geo", v("3.0.0")).with_dependency("base"),
            GraphNode::new("base", v("1.0.0")),
        ])
        .unwrap();
        assert_eq!(
            graph.tree(),
            "weather 2.1.0\n\
             ├── geo 3.0.0\n\
             │   └── base 1.0.0\n\
             └── maps 1.4.0 (optional)\n\
             \x20   └── geo 3.0.0 (*)\n"
        );
    }

    #[test]
    fn dot_lists_nodes_and_edges_sorted_with_optional_dashed() {
        let graph = InstalledGraph::new([
            GraphNode::new("weather", v("2.1.0"))
                .with_dependency("geo")
                .with_optional_dependency("maps"),
            GraphNode::new("maps", v("1.4.0")),
            GraphNode::new("geo", v("3.0.0")),
        ])
        .unwrap();
        let dot = graph.to_dot();
        let edges: Vec<&str> = dot.lines().filter(|l| l.contains("->")).collect();
        assert_eq!(
            edges,
            [
                r#"    "weather" -> "geo";"#,
                r#"    "weather" -> "maps" [style=dashed];"#
            ]
        );
        assert!(dot.contains(r#""maps" [label="maps 1.4.0"];"#));
    }

    #[test]
    fn dot_escapes_quotes() {
        assert_eq!(dot_quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
