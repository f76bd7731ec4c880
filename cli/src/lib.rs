//! The `switchboard` command line, as a library so tests can drive it in-process.
//!
//! - [`examples`] — builds the workspace's example plugins (the demo and tests use them).
//! - [`demo`] — the guided tour behind `switchboard demo`.
//! - [`tree`] — `switchboard tree`: a lockfile's dependency graph as text, DOT or JSON.

pub mod demo;
pub mod examples;
pub mod tree;
