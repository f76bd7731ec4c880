//! Compile-fail UI tests for `#[plugin]`, `#[command]` and `#[derive(Message)]`: each file in
//! `tests/ui/` makes one mistake and its `.stderr` holds the one message it must produce; the
//! files in `tests/ui-pass/` must compile and run.
//!
//! After changing a message on purpose, regenerate with
//! `TRYBUILD=overwrite cargo test -p switchboard-macros --test ui` and read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui-pass/*.rs");
}
