//! The `switchboard` command line, as a library so tests can drive it in-process.
//!
//! - [`examples`] — builds the workspace's example plugins (the demo and tests use them).
//! - [`demo`] — the guided tour behind `switchboard demo`.
//! - [`audit`] — `switchboard audit` and `switchboard audit verify`.
//! - [`inspect`] — `switchboard inspect PLUGIN`.
//! - [`data_dir`] — where the data directory is when `--data-dir` is not given.

pub mod audit;
pub mod data_dir;
pub mod demo;
pub mod examples;
pub mod inspect;
