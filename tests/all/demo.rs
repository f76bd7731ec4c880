//! `switchboard demo` run from a test: every step behaves as expected. The test binary does
//! not call `switchboard_host::isolation::hook`, so the isolation tour is given the test
//! runner explicitly (the `switchboard` executable is its own runner).

use switchboard_cli::demo::{run, verdict, Options};
use switchboard_cli::examples::Profile;
use switchboard_host::isolation::RunnerCommand;

#[test]
fn every_step_of_the_demo_behaves_as_expected_with_an_explicit_runner() {
    // Installs: not while another test has an install failpoint armed (they are process-wide).
    let _g = switchboard_tests::releases::install_lock();
    let options = Options {
        data_dir: None,
        profile: Profile::Debug,
        runner: Some(RunnerCommand::binary(env!("CARGO_BIN_EXE_isolated_runner"))),
    };
    let steps = run(&options, &mut std::io::sink(), true).unwrap();
    let failed: Vec<String> = steps
        .iter()
        .filter(|s| !s.ok)
        .map(|s| format!("{}\n{}", s.title, s.detail))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
    verdict(&steps).unwrap();
    assert!(steps
        .iter()
        .any(|s| s.title.starts_with("hello segfaulted") && s.ok));
    assert!(steps
        .iter()
        .any(|s| s.title.starts_with("Hot-reloaded counter") && s.ok));
    assert!(steps
        .iter()
        .any(|s| s.title.starts_with("Extension points:") && s.ok));
    assert!(steps
        .iter()
        .any(|s| s.title.starts_with("Streaming:") && s.ok));
    for title in [
        "Metrics: every call",
        "SLO report: counter",
        "Submitted counter@0.1.0 for certification",
        "A host trusting the registry's certification key",
        "Marketplace: a paid plugin",
        "Bought it:",
        "Installed the bought plugin",
        "The publisher's payout report",
    ] {
        assert!(
            steps.iter().any(|s| s.title.starts_with(title) && s.ok),
            "{title}"
        );
    }
}
