//! The guide's code blocks are real (issue 22, item 6): each Rust block is a region of
//! `tests/src/guide.rs`, which the build compiles (host code) and doctests (plugin code);
//! each TOML block parses with the parser that reads such a file (a plugin's `[test]`
//! section, a host's policy); each `cargo` line names a package, bench or test target that
//! exists; each `benches/peers/run.sh` option is one the script reads. The `switchboard` lines
//! of the shell blocks are parsed by the CLI's own definition, in the `switchboard` binary's
//! unit tests (`cli/src/main.rs`). `text` blocks are output, shown as an example, and are not
//! checked.

use std::collections::BTreeMap;

use switchboard_cli::examples::workspace_root;

/// A fenced block of a Markdown file: its info string, first line number and text.
struct Block {
    info: String,
    line: usize,
    text: String,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        // Fences may be indented (a block inside a list item).
        match (&mut open, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    info: info.trim().to_owned(),
                    line: i + 1,
                    text: String::new(),
                })
            }
            (Some(_), Some("")) => out.extend(open.take()),
            (Some(b), _) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unclosed code block");
    out
}

fn guide() -> String {
    std::fs::read_to_string(workspace_root().join("docs/guide.md")).unwrap()
}

/// Removes the indentation every non-blank line shares.
fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|l| l.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        .trim_matches('\n')
        .to_owned()
}

/// The regions of `tests/src/guide.rs`: `// guide: NAME` … `// guide: end`, in code or in a
/// doc comment (whose `# ` lines, a doctest's hidden set-up, are not part of the region).
fn regions(source: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut open: Option<(String, String)> = None;
    for raw in source.lines() {
        let trimmed = raw.trim_start();
        let (line, in_doc) = match trimmed.strip_prefix("///") {
            Some(rest) => (rest.strip_prefix(' ').unwrap_or(rest), true),
            None => (raw, false),
        };
        let marker = line.trim().strip_prefix("// guide: ");
        match (&mut open, marker) {
            (None, Some(name)) => open = Some((name.to_owned(), String::new())),
            (Some(_), Some("end")) => {
                let (name, text) = open.take().unwrap();
                assert!(
                    out.insert(name.clone(), dedent(&text)).is_none(),
                    "region {name} twice"
                );
            }
            (Some((name, _)), Some(other)) => panic!("region {other} opens inside {name}"),
            (Some((_, text)), None) => {
                let hidden = in_doc && (line == "#" || line.starts_with("# "));
                if !hidden {
                    text.push_str(line);
                    text.push('\n');
                }
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unclosed region");
    out
}

#[test]
fn every_rust_block_of_the_guide_is_compiled_code() {
    let source = std::fs::read_to_string(workspace_root().join("tests/src/guide.rs")).unwrap();
    let regions = regions(&source);
    assert!(regions.len() >= 21, "{:?}", regions.keys());
    let mut used = BTreeMap::new();
    for b in blocks(&guide())
        .iter()
        .filter(|b| b.info.starts_with("rust"))
    {
        // Compiled here, so the guide needs no `ignore` (which would also hide it from
        // rustdoc's own checks if the guide were ever included as docs).
        assert!(
            b.info == "rust" || b.info == "rust,no_run",
            "docs/guide.md:{}: ```{} — write it as ```rust and compile it in tests/src/guide.rs",
            b.line,
            b.info
        );
        let text = dedent(&b.text);
        let found = regions.iter().find(|(_, r)| **r == text);
        let Some((name, _)) = found else {
            panic!(
                "docs/guide.md:{}: this block is not a region of tests/src/guide.rs \
                 (change both together):\n{text}",
                b.line
            );
        };
        assert!(
            used.insert(name.clone(), b.line).is_none(),
            "region {name} shown twice"
        );
    }
    let unused: Vec<_> = regions.keys().filter(|n| !used.contains_key(*n)).collect();
    assert!(unused.is_empty(), "regions no block shows: {unused:?}");
}

#[test]
fn every_toml_block_of_the_guide_parses_as_the_file_it_belongs_in() {
    let hello =
        std::fs::read_to_string(workspace_root().join("examples/hello/plugin.toml")).unwrap();
    // hello's manifest without its own smoke calls, for a `[test]` section to join.
    let head: String = hello
        .split("\n[test]")
        .next()
        .unwrap()
        .split("\n[[test.calls]]")
        .next()
        .unwrap()
        .to_owned();
    let mut checked = 0;
    for b in blocks(&guide()).iter().filter(|b| b.info == "toml") {
        let text = dedent(&b.text);
        let first = text.lines().find(|l| l.starts_with('[')).unwrap_or("");
        if first.starts_with("[lib]") {
            // A plugin crate's Cargo.toml: a cdylib depending on the SDK.
            let cargo: toml::Value =
                toml::from_str(&b.text).unwrap_or_else(|e| panic!("docs/guide.md:{}: {e}", b.line));
            let types = cargo["lib"]["crate-type"].as_array().unwrap();
            assert!(
                types.iter().any(|t| t.as_str() == Some("cdylib")),
                "docs/guide.md:{}",
                b.line
            );
            assert!(cargo["dependencies"].get("switchboard-sdk").is_some());
        } else if first.starts_with("[test]") {
            let manifest = format!("{head}\n{text}");
            let parsed = switchboard_sdk::manifest::Manifest::parse(
                &manifest,
                switchboard_sdk::manifest::Format::Toml,
            );
            let m = parsed.unwrap_or_else(|d| panic!("docs/guide.md:{}: {d:?}", b.line));
            let test = m.test.expect("the [test] section");
            assert_eq!(test.calls.len(), 2, "docs/guide.md:{}", b.line);
        } else if first.starts_with("[[point]]") {
            // A points file (`switchboard preflight --points`).
            let points = switchboard_host::extend::PointSpec::parse_list(&text)
                .unwrap_or_else(|e| panic!("docs/guide.md:{}: {e}", b.line));
            assert!(!points.is_empty(), "docs/guide.md:{}", b.line);
        } else {
            // `policy.toml`: [services], [delivery], [isolation] and [slo] sections.
            switchboard_host::Policy::from_toml(&text)
                .unwrap_or_else(|e| panic!("docs/guide.md:{}: {e}", b.line));
        }
        checked += 1;
    }
    assert!(checked >= 5, "{checked} TOML blocks");
}

#[test]
fn every_cargo_and_script_line_of_the_guide_names_what_exists() {
    let root = workspace_root();
    let metadata = std::process::Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()))
        .current_dir(&root)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .output()
        .unwrap();
    assert!(metadata.status.success());
    let metadata: serde_json::Value = serde_json::from_slice(&metadata.stdout).unwrap();
    let target = |package: &str, kind: &str, name: &str| {
        metadata["packages"].as_array().unwrap().iter().any(|p| {
            p["name"] == package
                && p["targets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t["name"] == name && t["kind"][0] == kind)
        })
    };
    // run.sh hands its options to the suite's `main`.
    let suite = std::fs::read_to_string(root.join("benches/peers/src/main.rs")).unwrap();
    let mut checked = 0;
    for b in blocks(&guide())
        .iter()
        .filter(|b| matches!(b.info.as_str(), "sh" | "bash" | "text"))
    {
        for line in b.text.lines() {
            let words: Vec<&str> = line.split('#').next().unwrap().split_whitespace().collect();
            match words.as_slice() {
                ["cargo", "bench", "-p", package, "--bench", bench, ..] => {
                    assert!(
                        target(package, "bench", bench),
                        "docs/guide.md:{}: {line}",
                        b.line
                    );
                }
                ["cargo", "test", "-p", package, "--test", test, ..] => {
                    assert!(
                        target(package, "test", test),
                        "docs/guide.md:{}: {line}",
                        b.line
                    );
                }
                ["benches/peers/run.sh", options @ ..] => {
                    assert!(root.join("benches/peers/run.sh").is_file());
                    for o in options.iter().filter(|o| o.starts_with("--")) {
                        assert!(
                            suite.contains(&format!("\"{o}\"")),
                            "the suite reads no {o}"
                        );
                    }
                }
                ["cargo", ..] => panic!("docs/guide.md:{}: unchecked: {line}", b.line),
                _ => continue,
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked} lines");
}
