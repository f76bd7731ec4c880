//! The package archive: a deterministic tar (sorted entries, fixed mtimes, modes and owners),
//! zstd-compressed (ARCHITECTURE D8), and a defensive reader.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use sha2::{Digest, Sha256};

use switchboard_sdk::manifest::{safe_relative_path, MANIFEST_FILE};

use super::error::PackageError;

/// The fixed modification time of every entry (1 Jan 2000), so equal inputs give equal bytes.
const MTIME: u64 = 946_684_800;
/// The zstd level packages are written with.
const LEVEL: i32 = 3;

/// Caps that keep a hostile archive from exhausting memory or disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackLimits {
    /// Most entries an archive may hold.
    pub max_entries: usize,
    /// Largest single entry, in bytes.
    pub max_entry_bytes: u64,
    /// Largest total of all entries, in bytes.
    pub max_total_bytes: u64,
    /// Largest package file (compressed), in bytes: a larger file is refused from its size,
    /// before it is read. Also the cap on a development library file.
    pub max_package_bytes: u64,
    /// Largest `plugin.toml`, in bytes: checked before it is parsed (and, in a signed
    /// package, before its signature is).
    pub max_manifest_bytes: u64,
}

/// The largest zero padding accepted after a package's last tar entry: tar ends with two
/// zero blocks and some writers pad to a 10 KiB record. Anything more is trailing data.
const MAX_TAR_PADDING: u64 = 20 << 10;

impl Default for UnpackLimits {
    fn default() -> Self {
        UnpackLimits {
            max_entries: 64,
            max_entry_bytes: 128 << 20,
            max_total_bytes: 256 << 20,
            max_package_bytes: 256 << 20,
            max_manifest_bytes: 1 << 20,
        }
    }
}

/// Writes `files` (path → bytes) as a deterministic, zstd-compressed tar.
pub(crate) fn write(files: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, PackageError> {
    let io = |e: std::io::Error| PackageError::Io {
        what: "writing the package".into(),
        reason: e.to_string(),
    };
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    for (path, bytes) in files {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(MTIME);
        header.set_username("").map_err(io)?;
        header.set_groupname("").map_err(io)?;
        tar.append_data(&mut header, path, bytes.as_slice())
            .map_err(io)?;
    }
    let tar_bytes = tar.into_inner().map_err(io)?;
    let mut encoder = zstd::stream::Encoder::new(Vec::new(), LEVEL).map_err(io)?;
    encoder.include_checksum(true).map_err(io)?;
    encoder.write_all(&tar_bytes).map_err(io)?;
    encoder.finish().map_err(io)
}

/// One unpacked file: its bytes and their sha256, computed as they were decompressed.
#[derive(Debug)]
pub(crate) struct Unpacked {
    pub bytes: Vec<u8>,
    pub sha256: [u8; 32],
}

/// Reads a package archive into memory, refusing anything but plain files at safe, unique
/// paths, within `limits`.
pub(crate) fn read(
    compressed: &[u8],
    limits: &UnpackLimits,
) -> Result<BTreeMap<String, Vec<u8>>, PackageError> {
    Ok(read_hashed(compressed, limits)?
        .into_iter()
        .map(|(path, file)| (path, file.bytes))
        .collect())
}

/// [`read`], hashing each file while it is decompressed: one pass over the bytes, each chunk
/// hashed while it is still in cache, instead of a second pass over the whole library later.
pub(crate) fn read_hashed(
    compressed: &[u8],
    limits: &UnpackLimits,
) -> Result<BTreeMap<String, Unpacked>, PackageError> {
    // The input is already in memory: the decoder reads it in place, without a buffer copy.
    let decoder =
        zstd::stream::Decoder::with_buffer(compressed).map_err(|e| PackageError::NotAPackage {
            reason: format!("not zstd-compressed: {e}"),
        })?;
    // Never decompress more than the total cap (plus tar framing), whatever the headers say.
    let bounded = decoder.take(limits.max_total_bytes + (limits.max_entries as u64 + 2) * 1024);
    let mut archive = tar::Archive::new(bounded);
    let files = read_entries(&mut archive, limits)?;
    // What follows the last entry may only be tar's zero padding, and the zstd stream must
    // end there: bytes appended to a signed package are refused, not ignored.
    let mut rest = archive.into_inner().into_inner();
    let mut tail = Vec::new();
    (&mut rest)
        .take(MAX_TAR_PADDING + 1)
        .read_to_end(&mut tail)
        .map_err(|e| PackageError::TrailingData {
            reason: format!("after the archive: {e}"),
        })?;
    if tail.len() as u64 > MAX_TAR_PADDING || tail.iter().any(|&b| b != 0) {
        return Err(PackageError::TrailingData {
            reason: "data follows the archive's last entry".into(),
        });
    }
    let unread = rest.finish();
    if !unread.is_empty() {
        return Err(PackageError::TrailingData {
            reason: "bytes follow the compressed stream".into(),
        });
    }
    Ok(files)
}

fn read_entries<R: Read>(
    archive: &mut tar::Archive<R>,
    limits: &UnpackLimits,
) -> Result<BTreeMap<String, Unpacked>, PackageError> {
    let entries = archive.entries().map_err(|e| PackageError::NotAPackage {
        reason: e.to_string(),
    })?;
    let mut files = BTreeMap::new();
    let mut total: u64 = 0;
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt(&e))?;
        if files.len() >= limits.max_entries {
            return Err(PackageError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        let raw_path = entry.path_bytes().into_owned();
        let path = String::from_utf8(raw_path).map_err(|_| PackageError::UnsafePath {
            path: "(not UTF-8)".into(),
        })?;
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            tar::EntryType::Symlink | tar::EntryType::Link => {
                return Err(PackageError::LinkEntry { path });
            }
            other => {
                return Err(PackageError::SpecialEntry {
                    path,
                    kind: format!("{other:?}"),
                });
            }
        }
        if path.starts_with('/') {
            return Err(PackageError::AbsolutePath { path });
        }
        if !safe_relative_path(&path) {
            return Err(PackageError::UnsafePath { path });
        }
        let size = entry.header().size().map_err(|e| corrupt(&e))?;
        if path == MANIFEST_FILE && size > limits.max_manifest_bytes {
            return Err(PackageError::ManifestTooLarge {
                size,
                limit: limits.max_manifest_bytes,
            });
        }
        if size > limits.max_entry_bytes {
            return Err(PackageError::TooLarge {
                path,
                limit: limits.max_entry_bytes,
            });
        }
        total = total.saturating_add(size);
        if total > limits.max_total_bytes {
            return Err(PackageError::TooLarge {
                path,
                limit: limits.max_total_bytes,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        let mut hashing = Hashing {
            inner: (&mut entry).take(size),
            hasher: Sha256::new(),
        };
        hashing.read_to_end(&mut bytes).map_err(|e| corrupt(&e))?;
        let sha256 = hashing.hasher.finalize().into();
        if bytes.len() as u64 != size {
            return Err(PackageError::NotAPackage {
                reason: format!("`{path}` is truncated"),
            });
        }
        if files
            .insert(path.clone(), Unpacked { bytes, sha256 })
            .is_some()
        {
            return Err(PackageError::DuplicateEntry { path });
        }
    }
    Ok(files)
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

fn corrupt(e: &std::io::Error) -> PackageError {
    PackageError::NotAPackage {
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_files_are_hashed_as_they_are_unpacked() {
        let mut files = BTreeMap::new();
        files.insert("plugin.toml".to_owned(), b"name = \"x\"".to_vec());
        // Larger than any one read of the decoder, so the hash spans many reads.
        let library: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        files.insert("lib/t/libx.so".to_owned(), library);
        files.insert("README.md".to_owned(), Vec::new());
        let packed = write(&files).unwrap();
        let read = read_hashed(&packed, &UnpackLimits::default()).unwrap();
        assert_eq!(read.len(), files.len());
        for (path, bytes) in &files {
            let file = &read[path];
            assert_eq!(&file.bytes, bytes, "{path}");
            assert_eq!(
                hex::encode(file.sha256),
                super::super::sha256_hex(bytes),
                "{path}"
            );
        }
    }

    #[test]
    fn bytes_after_the_compressed_stream_are_refused() {
        let mut files = BTreeMap::new();
        files.insert("plugin.toml".to_owned(), b"name = \"x\"".to_vec());
        let mut packed = write(&files).unwrap();
        assert!(read_hashed(&packed, &UnpackLimits::default()).is_ok());
        packed.push(0);
        assert!(matches!(
            read_hashed(&packed, &UnpackLimits::default()),
            Err(PackageError::TrailingData { .. })
        ));
    }
}
