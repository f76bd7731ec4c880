//! The index format (ARCHITECTURE D9): `config.json`, one index file per plugin with one JSON
//! line per release, cargo's index paths, the name rules, bounded JSON parsing and the
//! canonical JSON that signatures cover. `docs/registry.md` is the specification.

mod config;
mod error;
mod json;
mod line;
mod name;

pub use config::{check_relative, RegistryConfig, DEFAULT_DOWNLOAD, MAX_CONFIG_BYTES};
pub use error::FormatError;
pub use json::{canonical_json, check_shape, parse_bounded, MAX_DEPTH};
pub use line::{
    Channel, Deprecated, IndexFile, IndexLine, LineDependency, LineHostApi, ParsedLine, Yanked,
    MAX_CERTIFICATION_BYTES, MAX_DEPRECATION_MESSAGE, MAX_INDEX_FILE_BYTES, MAX_LINE_BYTES,
    MAX_RELEASES,
};
pub use name::{canonical_name, index_path, name_of_index_path, validate_name, MAX_NAME_LEN};

/// The format version this crate reads and writes, in `config.json`, every index line and
/// every metadata file.
pub const FORMAT_VERSION: u64 = 1;

#[cfg(test)]
mod tests;
