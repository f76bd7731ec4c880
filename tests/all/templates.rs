//! `switchboard new` and `switchboard test`: every template generated, its unit tests run,
//! its library built and loaded into a real host, its smoke calls made — as a plugin author
//! would on a fresh crate, with no edits. The generated crates share one target directory
//! (`target/templates`), so the SDK and its dependencies are built once.

use std::path::PathBuf;

use switchboard_cli::scaffold::{new_plugin, NewOptions, SdkSource, TemplateKind};
use switchboard_cli::smoke::{self, TestOptions};

fn target_dir() -> PathBuf {
    switchboard_cli::examples::workspace_root()
        .join("target")
        .join("templates")
}

fn generate(tmp: &std::path::Path, kind: TemplateKind) -> PathBuf {
    let name = format!("fresh-{}", kind.as_str());
    let report = new_plugin(&NewOptions {
        name: name.clone(),
        kind,
        dir: Some(tmp.join(&name)),
        description: None,
        sdk: SdkSource::detect(),
    })
    .unwrap();
    assert!(
        matches!(SdkSource::detect(), SdkSource::Path(_)),
        "tests run from a checkout, so the SDK is a path dependency"
    );
    report.dir
}

/// cargo's own lock serialises builds in the shared target directory; one test at a time
/// keeps their output apart.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn every_template_builds_tests_loads_and_passes_its_smoke_calls() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let tmp = tempfile::tempdir().unwrap();
    for kind in TemplateKind::ALL {
        let dir = generate(tmp.path(), kind);
        let mut out = Vec::new();
        let report = smoke::run(
            &TestOptions {
                crate_dir: dir.clone(),
                unit_tests: true,
                target_dir: Some(target_dir()),
            },
            &mut out,
        )
        .unwrap_or_else(|e| panic!("{kind:?}: {e:#}\n{}", String::from_utf8_lossy(&out)));
        let text = String::from_utf8_lossy(&out);
        assert!(report.unit_tests);
        assert!(report.library.is_file(), "{kind:?}: {text}");
        assert_eq!(report.failed(), 0, "{kind:?}: {text}");
        match kind {
            TemplateKind::Extension => {
                let why = report.not_started.as_deref().unwrap_or_default();
                assert!(why.contains("SB1701"), "{text}");
                assert!(report.calls.is_empty());
            }
            _ => {
                assert!(report.not_started.is_none(), "{kind:?}: {text}");
                assert!(!report.calls.is_empty(), "{kind:?} has smoke calls: {text}");
                assert!(text.contains("smoke result: ok."), "{text}");
            }
        }
    }
}

#[test]
fn failing_and_malformed_smoke_calls_are_reported_with_codes() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let tmp = tempfile::tempdir().unwrap();
    let dir = generate(tmp.path(), TemplateKind::Command);
    let manifest = dir.join("plugin.toml");
    let base = std::fs::read_to_string(&manifest).unwrap();
    let base = &base[..base.find("[[test.calls]]").unwrap()];
    let run = |calls: &str| {
        std::fs::write(&manifest, format!("{base}{calls}")).unwrap();
        let mut out = Vec::new();
        let r = smoke::run(
            &TestOptions {
                crate_dir: dir.clone(),
                unit_tests: false,
                target_dir: Some(target_dir()),
            },
            &mut out,
        );
        (r, String::from_utf8_lossy(&out).into_owned())
    };

    // A wrong answer and a wrong error code fail their calls; the others still run.
    let (report, text) = run(
        "[[test.calls]]\ncommand = \"greet\"\ninput = \"Ada\"\nexpect = \"Hi, Ada!\"\n\n\
         [[test.calls]]\ncommand = \"greet\"\ninput = \"\"\nexpect_error = \"SB0999\"\n\n\
         [[test.calls]]\ncommand = \"greet\"\ninput = \"Bo\"\n",
    );
    let report = report.unwrap();
    assert_eq!(report.failed(), 2, "{text}");
    assert!(report.calls[2].passed, "{text}");
    assert!(
        text.contains("expected \"Hi, Ada!\", got \"Hello, Ada!\""),
        "{text}"
    );
    assert!(
        text.contains("smoke result: FAILED. 1 passed; 2 failed"),
        "{text}"
    );

    // Mistakes in [test] itself are coded refusals that name the call.
    for (calls, needle) in [
        ("[[test.calls]]\ncommand = \"nope\"\n", "no command `nope`"),
        (
            "[[test.calls]]\ncommand = \"greet\"\ninput = 5\n",
            "takes a string",
        ),
        (
            "[[test.calls]]\ncommand = \"greet\"\ninput_hex = \"zz\"\n",
            "input_hex",
        ),
        (
            "[[test.calls]]\ncommand = \"greet\"\ninput = \"a\"\ninput_hex = \"00\"\n",
            "not both",
        ),
        ("[test]\ngrant = [\"fs.read:/**\"]\n", "cannot grant"),
        ("[test]\ngrant = [\"teleport\"]\n", "not a capability"),
    ] {
        let (r, text) = run(calls);
        let e = r
            .err()
            .unwrap_or_else(|| panic!("{calls}: accepted\n{text}"));
        let msg = format!("{e:#}");
        assert_eq!(
            switchboard_cli::output::code_of(&e).0,
            "SB0074",
            "{calls}: {msg}"
        );
        assert!(msg.contains(needle), "{calls}: {msg}");
    }

    // A manifest that does not parse is refused before anything is built.
    std::fs::write(&manifest, "name = \"x\"\n[test\n").unwrap();
    let (r, _) = run_raw(&dir);
    assert_eq!(
        switchboard_cli::output::code_of(&r.unwrap_err()).0,
        "SB0012"
    );
}

fn run_raw(dir: &std::path::Path) -> (anyhow::Result<smoke::TestReport>, String) {
    let mut out = Vec::new();
    let r = smoke::run(
        &TestOptions {
            crate_dir: dir.to_path_buf(),
            unit_tests: false,
            target_dir: Some(target_dir()),
        },
        &mut out,
    );
    (r, String::from_utf8_lossy(&out).into_owned())
}
