//! The `switchboard` command line, as a library so tests can drive it in-process.
//!
//! - [`authoring`] — `keygen`, `pack`, `sign`, `verify`, `trust`.
//! - [`examples`] — builds the workspace's example plugins (the demo and tests use them).
//! - [`demo`] — the guided tour behind `switchboard demo`.
//! - [`preflight`] — `switchboard preflight`.
//! - [`tree`] — `switchboard tree`: a lockfile's dependency graph as text, DOT or JSON.

pub mod authoring;
pub mod demo;
pub mod examples;
pub mod preflight;
pub mod tree;
