//! Package, signature and trust errors (`SB12xx`).

use switchboard_sdk::ErrorCode;

/// Why a package was refused. No plugin code has run when any of these is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    /// Reading or writing a file failed.
    #[error("{what}: {reason}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying failure.
        reason: String,
    },
    /// The bytes are not a zstd-compressed tar.
    #[error("not a Switchboard package: {reason}")]
    NotAPackage {
        /// What the decoder said.
        reason: String,
    },
    /// The signature does not verify over the manifest.
    #[error("the signature does not verify: {reason}")]
    BadSignature {
        /// What the verifier said.
        reason: String,
    },
    /// A file's sha256 is not the one the manifest pins.
    #[error("`{path}` does not match its pinned sha256 (expected {expected}, found {found})")]
    HashMismatch {
        /// The file.
        path: String,
        /// The pinned hash.
        expected: String,
        /// The file's hash.
        found: String,
    },
    /// The signature was made by a key the policy does not accept.
    #[error("signed by key {key_id}, which this host does not trust")]
    UntrustedSigner {
        /// The signer's key id.
        key_id: String,
    },
    /// The trusted comment does not bind this package's name, version and manifest.
    #[error("the signature belongs to another release: {reason}")]
    Replayed {
        /// What differs.
        reason: String,
    },
    /// There is no signature, and the policy requires one.
    #[error("the package is not signed")]
    Unsigned,
    /// The package holds a file the manifest does not pin.
    #[error("`{path}` is in the package but not pinned in the manifest")]
    Unpinned {
        /// The file.
        path: String,
    },
    /// An entry's path leaves the package (`..`, empty segments, backslashes).
    #[error("unsafe path `{path}` in the package")]
    UnsafePath {
        /// The path.
        path: String,
    },
    /// An entry's path is absolute.
    #[error("absolute path `{path}` in the package")]
    AbsolutePath {
        /// The path.
        path: String,
    },
    /// A symbolic or hard link.
    #[error("link entry `{path}` in the package")]
    LinkEntry {
        /// The path.
        path: String,
    },
    /// A device, FIFO, directory or other special entry.
    #[error("special entry `{path}` ({kind}) in the package")]
    SpecialEntry {
        /// The path.
        path: String,
        /// The tar entry type.
        kind: String,
    },
    /// The same path twice.
    #[error("`{path}` appears twice in the package")]
    DuplicateEntry {
        /// The path.
        path: String,
    },
    /// More entries than allowed.
    #[error("the package has more than {limit} entries")]
    TooManyEntries {
        /// The cap.
        limit: usize,
    },
    /// An entry, or all of them together, exceed the size cap (a decompression bomb).
    #[error("`{path}` takes the package past {limit} bytes unpacked")]
    TooLarge {
        /// The entry that crossed the cap.
        path: String,
        /// The cap.
        limit: u64,
    },
    /// A file a package may not contain.
    #[error("unexpected file `{path}` in the package")]
    UnexpectedFile {
        /// The path.
        path: String,
    },
    /// A pinned file is missing.
    #[error("`{path}` is pinned in the manifest but missing from the package")]
    MissingFile {
        /// The path.
        path: String,
    },
    /// No `plugin.toml`.
    #[error("the package has no plugin.toml")]
    NoManifest,
    /// The manifest does not validate.
    #[error("the package manifest is invalid: {summary}")]
    InvalidManifest {
        /// The first problems, joined.
        summary: String,
    },
    /// No library for this host's target.
    #[error("the package has no library for {target} (it has: {available})")]
    NoLibrary {
        /// The host's target.
        target: String,
        /// The targets it has.
        available: String,
    },
    /// A key or signature file could not be used.
    #[error("cannot use key {path}: {reason}")]
    Key {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Bytes follow the archive: more than tar's zero padding after the last entry, or
    /// anything after the compressed stream.
    #[error("the package has trailing data: {reason}")]
    TrailingData {
        /// Where.
        reason: String,
    },
    /// `plugin.toml` is larger than the cap; it was neither parsed nor checked.
    #[error("plugin.toml is {size} bytes; the cap is {limit}")]
    ManifestTooLarge {
        /// Its size (from the entry's header).
        size: u64,
        /// The cap ([`UnpackLimits::max_manifest_bytes`](super::UnpackLimits)).
        limit: u64,
    },
    /// A package file (or its signature beside it) is larger than the cap; refused from its
    /// size, before it was read.
    #[error("{path} is larger than {limit} bytes")]
    FileTooLarge {
        /// The file.
        path: String,
        /// The cap.
        limit: u64,
    },
    /// The registry countersignature does not verify.
    #[error("the certification countersignature does not verify: {reason}")]
    BadCountersignature {
        /// What failed.
        reason: String,
    },
}

impl PackageError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        use PackageError::*;
        ErrorCode::from_number(match self {
            Io { .. } => 1200,
            NotAPackage { .. } => 1201,
            BadSignature { .. } => 1202,
            HashMismatch { .. } => 1203,
            UntrustedSigner { .. } => 1204,
            Replayed { .. } => 1205,
            Unsigned => 1206,
            Unpinned { .. } => 1207,
            UnsafePath { .. } => 1208,
            AbsolutePath { .. } => 1209,
            LinkEntry { .. } => 1210,
            DuplicateEntry { .. } => 1211,
            TooManyEntries { .. } => 1212,
            TooLarge { .. } => 1213,
            UnexpectedFile { .. } => 1214,
            MissingFile { .. } => 1215,
            NoLibrary { .. } => 1216,
            SpecialEntry { .. } => 1217,
            NoManifest => 1218,
            Key { .. } => 1219,
            BadCountersignature { .. } => 1220,
            InvalidManifest { .. } => 1223,
            TrailingData { .. } => 1224,
            ManifestTooLarge { .. } => 1225,
            FileTooLarge { .. } => 1226,
        })
    }

    /// What to do next.
    pub fn next_step(&self) -> String {
        use PackageError::*;
        match self {
            Io { .. } => "check the path, permissions and free space".into(),
            NotAPackage { .. } | HashMismatch { .. } | BadSignature { .. } | Unpinned { .. }
            | MissingFile { .. } | UnsafePath { .. } | AbsolutePath { .. } | LinkEntry { .. }
            | SpecialEntry { .. } | DuplicateEntry { .. } | UnexpectedFile { .. }
            | TrailingData { .. } => {
                "the package was damaged or tampered with: download it again from its source, \
                 or rebuild it with `switchboard pack`"
                    .into()
            }
            TooManyEntries { .. } | TooLarge { .. } | ManifestTooLarge { .. } | FileTooLarge { .. } => {
                "refuse this package; a real plugin package is small and has a handful of files".into()
            }
            UntrustedSigner { key_id } => format!(
                "if you trust key {key_id}, add its public key with `HostBuilder::trust` \
                 (CLI: `switchboard verify --trust KEY.pub`)"
            ),
            Replayed { .. } => {
                "a signature from another release was attached; get the matching .minisig".into()
            }
            Unsigned => "sign it with `switchboard sign PACKAGE --key KEY`".into(),
            NoManifest | InvalidManifest { .. } => {
                "rebuild the package with `switchboard pack`; run `switchboard preflight` on the crate first".into()
            }
            NoLibrary { target, .. } => format!("build the plugin for {target} and pack again"),
            Key { .. } => "generate keys with `switchboard keygen --out DIR`".into(),
            BadCountersignature { .. } => {
                "get the countersignature from the registry again, or treat the package as verified only".into()
            }
        }
    }
}
