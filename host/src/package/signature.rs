//! Minisign signatures over a package's manifest, and the trusted comment that binds them to one
//! release (ARCHITECTURE D8). Verification uses `minisign-verify`; signing is the CLI's job.

use sha2::{Digest, Sha256};

use super::error::PackageError;

/// The prefix of a release signature's trusted comment.
pub const RELEASE_COMMENT: &str = "switchboard-release";
/// The prefix of a registry countersignature's trusted comment.
pub const CERTIFICATION_COMMENT: &str = "switchboard-certification";
/// What precedes the signer's public key in a signature's untrusted comment.
pub const PUBLIC_KEY_MARK: &str = "public-key=";

/// Lower-case hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The trusted comment a release signature carries: name, version and manifest hash, so a
/// signature cannot be moved onto another release.
///
/// ```
/// use switchboard_host::package::release_comment;
/// assert_eq!(
///     release_comment("hello", "1.0.0", b"name = \"hello\""),
///     format!("switchboard-release name=hello version=1.0.0 manifest-sha256={}",
///         switchboard_host::package::sha256_hex(b"name = \"hello\"")),
/// );
/// ```
pub fn release_comment(name: &str, version: &str, manifest: &[u8]) -> String {
    format!(
        "{RELEASE_COMMENT} name={name} version={version} manifest-sha256={}",
        sha256_hex(manifest)
    )
}

/// The trusted comment of a registry countersignature over a release signature file.
pub fn certification_comment(name: &str, version: &str, signature_file: &[u8]) -> String {
    format!(
        "{CERTIFICATION_COMMENT} name={name} version={version} signature-sha256={}",
        sha256_hex(signature_file)
    )
}

/// A minisign public key.
#[derive(Clone)]
pub(crate) struct PublicKey(minisign_verify::PublicKey);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublicKey")
    }
}

impl PublicKey {
    /// From the text of a `.pub` file, or just its base64 line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let line = key_line(text)?;
        minisign_verify::PublicKey::from_base64(line)
            .map(PublicKey)
            .map_err(|e| format!("not a minisign public key: {e}"))
    }
}

fn key_line(text: &str) -> Result<&str, String> {
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .ok_or_else(|| "empty key".to_owned())
}

fn decode_b64(line: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(line.trim())
        .map_err(|e| format!("bad base64: {e}"))
}

/// Key ids are shown as minisign shows them: the 8 id bytes as a little-endian number, in
/// upper-case hex.
fn format_key_id(bytes: &[u8]) -> String {
    let mut id = [0u8; 8];
    id.copy_from_slice(bytes);
    format!("{:016X}", u64::from_le_bytes(id))
}

/// The key id of a public key (text of a `.pub` file or its base64 line).
pub fn key_id_of_public_key(text: &str) -> Result<String, String> {
    let raw = decode_b64(key_line(text)?)?;
    if raw.len() != 42 {
        return Err(format!("a public key is 42 bytes, found {}", raw.len()));
    }
    Ok(format_key_id(&raw[2..10]))
}

/// The key id a signature claims to be made with.
fn key_id_of_signature(text: &str) -> Result<String, String> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .ok_or_else(|| "empty signature".to_owned())?;
    let raw = decode_b64(line)?;
    if raw.len() != 74 {
        return Err(format!("a signature line is 74 bytes, found {}", raw.len()));
    }
    Ok(format_key_id(&raw[2..10]))
}

/// Who signed, and whether the host trusts the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signer {
    pub key_id: String,
    pub trusted: bool,
}

/// A verified release signature: who signed, and the release its trusted comment binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignedRelease {
    pub signer: Signer,
    pub name: String,
    pub version: String,
}

/// Verifies a release signature over the manifest's bytes, then its trusted comment, which
/// must bind these bytes' hash; returns the name and version it binds. Needs nothing parsed
/// from the manifest, so the manifest is parsed only once the signature holds.
pub(crate) fn verify_release(
    signature_text: &str,
    manifest: &[u8],
    store: &super::TrustStore,
) -> Result<SignedRelease, PackageError> {
    let bad = |reason: String| PackageError::BadSignature { reason };
    let signature = minisign_verify::Signature::decode(signature_text)
        .map_err(|e| bad(format!("not a minisign signature: {e}")))?;
    let key_id = key_id_of_signature(signature_text).map_err(bad)?;
    let (key, trusted) = match store.author(&key_id) {
        Some(k) => (k.clone(), true),
        None => {
            // Self-signed: the signer's public key travels in the untrusted comment. It proves
            // only that the holder of that key signed, which is what self-signed means.
            let embedded = signature
                .untrusted_comment()
                .split_whitespace()
                .find_map(|w| w.strip_prefix(PUBLIC_KEY_MARK))
                .ok_or_else(|| PackageError::UntrustedSigner {
                    key_id: key_id.clone(),
                })?;
            if key_id_of_public_key(embedded).ok().as_deref() != Some(key_id.as_str()) {
                return Err(bad(
                    "the public key in the signature is not the signing key".into(),
                ));
            }
            (PublicKey::parse(embedded).map_err(bad)?, false)
        }
    };
    key.0
        .verify(manifest, &signature, false)
        .map_err(|e| bad(e.to_string()))?;
    let found = signature.trusted_comment();
    let words: Vec<&str> = found.split(' ').collect();
    let bound = match words.as_slice() {
        [RELEASE_COMMENT, name, version, _] => name
            .strip_prefix("name=")
            .zip(version.strip_prefix("version=")),
        _ => None,
    };
    let Some((name, version)) = bound else {
        return Err(PackageError::Replayed {
            reason: format!("the signature says `{found}`, which names no release"),
        });
    };
    let expected = release_comment(name, version, manifest);
    if found != expected {
        return Err(PackageError::Replayed {
            reason: format!("the signature says `{found}`; this package is `{expected}`"),
        });
    }
    Ok(SignedRelease {
        signer: Signer { key_id, trusted },
        name: name.to_owned(),
        version: version.to_owned(),
    })
}

/// Verifies a registry countersignature over the release signature file. Returns the registry
/// key id when one of the trusted registry keys made it.
pub(crate) fn verify_certification(
    countersignature: &str,
    signature_file: &[u8],
    name: &str,
    version: &str,
    store: &super::TrustStore,
) -> Result<String, PackageError> {
    let bad = |reason: String| PackageError::BadCountersignature { reason };
    let sig =
        minisign_verify::Signature::decode(countersignature).map_err(|e| bad(e.to_string()))?;
    let key_id = key_id_of_signature(countersignature).map_err(bad)?;
    let Some((id, key)) = store.registries().find(|(id, _)| **id == key_id) else {
        return Err(bad(format!(
            "made by key {key_id}, which is not a trusted registry key"
        )));
    };
    key.0
        .verify(signature_file, &sig, false)
        .map_err(|e| bad(e.to_string()))?;
    if sig.trusted_comment() != certification_comment(name, version, signature_file) {
        return Err(bad("it certifies another release".into()));
    }
    Ok(id.clone())
}
