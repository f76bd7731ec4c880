//! Per-row checksums: every stored value carries sha256 over its owner, its key and its bytes,
//! checked on every read, so a value damaged on disk or edited behind the host's back — or a
//! row moved to another plugin or key — is reported instead of returned.

use sha2::{Digest, Sha256};

/// The checksum of `value` stored by plugin namespace `ns` under `key`.
pub(crate) fn of(ns: &str, key: &str, value: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((ns.len() as u64).to_le_bytes());
    h.update(ns.as_bytes());
    h.update((key.len() as u64).to_le_bytes());
    h.update(key.as_bytes());
    h.update(value);
    h.finalize().into()
}

/// Whether `stored` is the checksum of this row.
pub(crate) fn matches(ns: &str, key: &str, value: &[u8], stored: &[u8]) -> bool {
    of(ns, key, value).as_slice() == stored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_binds_owner_key_and_value() {
        let c = of("a", "k", b"v");
        assert!(matches("a", "k", b"v", &c));
        assert!(!matches("b", "k", b"v", &c));
        assert!(!matches("a", "j", b"v", &c));
        assert!(!matches("a", "k", b"w", &c));
        // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        assert_ne!(of("ab", "c", b""), of("a", "bc", b""));
    }
}
