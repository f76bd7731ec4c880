//! Commands for plugin authors: `keygen`, `pack`, `sign`, `verify`, and the CLI's trust store.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context as _, Result};
use switchboard_host::package::{
    self, key_id_of_public_key, release_comment, TrustStore, UnpackLimits, PUBLIC_KEY_MARK,
};
use switchboard_host::{current_target, Manifest};
use switchboard_sdk::manifest::{Format, MANIFEST_FILE};

/// The secret key file `keygen` writes.
pub const SECRET_KEY_FILE: &str = "switchboard.key";
/// The public key file `keygen` writes.
pub const PUBLIC_KEY_FILE: &str = "switchboard.pub";
/// Where the CLI keeps trusted public keys, under its data directory.
pub const TRUST_DIR: &str = "trusted-keys";
/// The variable the CLI reads a secret key's password from, for scripts.
pub const PASSWORD_VAR: &str = "SWITCHBOARD_KEY_PASSWORD";

fn password(prompt: &str, confirm: bool) -> Result<String> {
    if let Ok(p) = std::env::var(PASSWORD_VAR) {
        return Ok(p);
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        bail!("a password is needed and stdin is not a terminal; set {PASSWORD_VAR}, or use an unencrypted key (`keygen --unencrypted`)");
    }
    let first = rpassword::prompt_password(prompt)?;
    if confirm && rpassword::prompt_password("Again: ")? != first {
        bail!("the passwords differ");
    }
    if first.is_empty() {
        bail!("an empty password; use `--unencrypted` for a key without one");
    }
    Ok(first)
}

/// `switchboard keygen --out DIR [--unencrypted]`: writes a minisign key pair. Returns the key id.
pub fn keygen(out: &Path, unencrypted: bool) -> Result<String> {
    let sk_path = out.join(SECRET_KEY_FILE);
    let pk_path = out.join(PUBLIC_KEY_FILE);
    for p in [&sk_path, &pk_path] {
        if p.exists() {
            bail!(
                "{} exists; refusing to overwrite a key (move it away first)",
                p.display()
            );
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let (kp, label) = if unencrypted {
        (
            minisign::KeyPair::generate_unencrypted_keypair()?,
            "unencrypted",
        )
    } else {
        let pw = password("Password for the new key: ", true)?;
        (
            minisign::KeyPair::generate_encrypted_keypair(Some(pw))?,
            "encrypted",
        )
    };
    let pk_text = kp.pk.to_box()?.to_string();
    let sk_text = kp
        .sk
        .to_box(Some(&format!("switchboard secret key ({label})")))?
        .to_string();
    write_new(&sk_path, sk_text.as_bytes(), 0o600)?;
    write_new(&pk_path, pk_text.as_bytes(), 0o644)?;
    key_id_of_public_key(&pk_text).map_err(|e| anyhow!(e))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)?;
    Ok(())
}

/// Builds the crate's cdylib in release mode and returns its path.
fn build_library(crate_dir: &Path, name: &str, progress: &mut dyn Write) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    writeln!(progress, "building {name} (cargo build --release)…")?;
    let mut child = Command::new(cargo)
        .current_dir(crate_dir)
        .args([
            "build",
            "--release",
            "--lib",
            "--message-format=json-render-diagnostics",
        ])
        .arg("--manifest-path")
        .arg(crate_dir.join("Cargo.toml"))
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run cargo")?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no cargo output"))?;
    let suffix = std::env::consts::DLL_SUFFIX;
    let mut library = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line?;
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let is_cdylib = msg["target"]["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == "cdylib"));
        if !is_cdylib
            || msg["target"]["name"].as_str().map(|n| n.replace('-', "_"))
                != Some(name.replace('-', "_"))
        {
            continue;
        }
        if let Some(files) = msg["filenames"].as_array() {
            library = files
                .iter()
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(suffix))
                .map(PathBuf::from);
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    library.ok_or_else(|| {
        anyhow!(
            "the crate built no cdylib named `{name}`; set `crate-type = [\"cdylib\"]` in [lib]"
        )
    })
}

/// `switchboard pack [CRATE_DIR] --out DIR`: builds the crate, pins every file in the manifest
/// and writes `NAME-VERSION.sbpkg`. Returns the package path.
pub fn pack(crate_dir: &Path, out: &Path, progress: &mut dyn Write) -> Result<PathBuf> {
    let crate_dir = &crate_dir
        .canonicalize()
        .with_context(|| format!("cannot find the crate at {}", crate_dir.display()))?;
    let manifest_path = crate_dir.join(MANIFEST_FILE);
    let source = std::fs::read_to_string(&manifest_path).with_context(|| {
        format!(
            "cannot read {} (run `switchboard preflight` for details)",
            manifest_path.display()
        )
    })?;
    let manifest = Manifest::parse(&source, Format::Toml).map_err(|d| {
        anyhow!(
            "{} is invalid:\n{}",
            manifest_path.display(),
            d.iter()
                .map(|d| format!("  {d}\n    next: {}", d.next_step))
                .collect::<String>()
        )
    })?;
    let library = build_library(crate_dir, &manifest.name, progress)?;
    let mut files = BTreeMap::new();
    let file_name = library
        .file_name()
        .and_then(|f| f.to_str())
        .ok_or_else(|| anyhow!("odd library path {}", library.display()))?;
    files.insert(
        format!("lib/{}/{file_name}", current_target()),
        std::fs::read(&library).with_context(|| format!("cannot read {}", library.display()))?,
    );
    for doc in package::DOCUMENT_FILES {
        let p = crate_dir.join(doc);
        if p.is_file() {
            files.insert((*doc).to_owned(), std::fs::read(&p)?);
        } else {
            writeln!(
                progress,
                "note: no {doc} in {}; the package goes without it",
                crate_dir.display()
            )?;
        }
    }
    let built = package::build(&manifest, &files)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let path = out.join(&built.file_name);
    std::fs::write(&path, &built.bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Reads a package's manifest bytes (what a signature covers), and its name and version.
fn package_manifest(package_path: &Path) -> Result<(Vec<u8>, String, String)> {
    let bytes = std::fs::read(package_path)
        .with_context(|| format!("cannot read {}", package_path.display()))?;
    let (manifest_bytes, manifest) = package::read_manifest(&bytes, &UnpackLimits::default())?;
    Ok((manifest_bytes, manifest.name, manifest.version))
}

/// Whether a minisign secret key is password-protected (its KDF algorithm is not "none").
fn is_encrypted(secret_key_text: &str) -> Result<bool> {
    use base64::Engine as _;
    let line = secret_key_text
        .lines()
        .nth(1)
        .ok_or_else(|| anyhow!("not a minisign secret key"))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(line.trim())
        .map_err(|e| anyhow!("not a minisign secret key: {e}"))?;
    Ok(raw.get(2..4) != Some(&[0, 0][..]))
}

/// `switchboard sign PACKAGE --key FILE`: writes `PACKAGE.minisig`. Returns its path.
pub fn sign(package_path: &Path, key: &Path) -> Result<PathBuf> {
    let (manifest, name, version) = package_manifest(package_path)?;
    let sk_text = std::fs::read_to_string(key)
        .with_context(|| format!("cannot read key {}", key.display()))?;
    let sk_box = minisign::SecretKeyBox::from_string(&sk_text)?;
    let sk = if is_encrypted(&sk_text)? {
        sk_box.into_secret_key(Some(password("Password for the key: ", false)?))
    } else {
        sk_box.into_unencrypted_secret_key()
    }
    .map_err(|e| anyhow!("cannot open the secret key {}: {e}", key.display()))?;
    let pk = minisign::PublicKey::from_secret_key(&sk)?;
    let trusted = release_comment(&name, &version, &manifest);
    let untrusted = format!("switchboard signature {PUBLIC_KEY_MARK}{}", pk.to_base64());
    let sig = minisign::sign(
        Some(&pk),
        &sk,
        manifest.as_slice(),
        Some(&trusted),
        Some(&untrusted),
    )?;
    let mut out = package_path.as_os_str().to_owned();
    out.push(".minisig");
    let out = PathBuf::from(out);
    std::fs::write(&out, sig.to_string())
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(out)
}

/// The CLI's trust store: the keys under `DATA_DIR/trusted-keys/*.pub`, plus `extra` key files.
pub fn trust_store(
    data_dir: Option<&Path>,
    extra: &[PathBuf],
) -> Result<(TrustStore, Vec<String>)> {
    let mut texts = Vec::new();
    if let Some(dir) = data_dir.map(|d| d.join(TRUST_DIR)).filter(|d| d.is_dir()) {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "pub"))
        {
            texts.push(std::fs::read_to_string(&p)?);
        }
    }
    for p in extra {
        texts.push(
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
        );
    }
    let mut store = TrustStore::new();
    let mut ids = Vec::new();
    for t in texts {
        ids.push(store.add_author(&t)?);
    }
    Ok((store, ids))
}

/// `switchboard trust add KEY.pub`: copies the key into the trust store. Returns its key id.
pub fn trust_add(data_dir: &Path, key: &Path) -> Result<String> {
    let text =
        std::fs::read_to_string(key).with_context(|| format!("cannot read {}", key.display()))?;
    let id = key_id_of_public_key(&text)
        .map_err(|e| anyhow!("{} is not a minisign public key: {e}", key.display()))?;
    let dir = data_dir.join(TRUST_DIR);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(format!("{id}.pub")), text)?;
    Ok(id)
}

/// The result of `switchboard verify`.
#[derive(Debug, serde::Serialize)]
pub struct VerifyReport {
    /// Whether every check a load makes before plugin code passed and the package is signed.
    pub ok: bool,
    /// The package.
    pub package: PathBuf,
    /// The plugin's name and version, once its manifest verified.
    pub plugin: Option<String>,
    /// The signer's key id.
    pub signer: Option<String>,
    /// The trust level earned.
    pub trust: Option<String>,
    /// Each file's check.
    pub files: Vec<package::FileCheck>,
    /// The host API the package was checked against (`NAME@VERSION`), or `None` when none
    /// was given: the host API check did not run.
    pub host_api: Option<String>,
    /// Why it failed, if it did: `{ code, message, next_step }`.
    pub error: Option<serde_json::Value>,
}

/// `switchboard verify PACKAGE [--trust KEY.pub]... [--host-api NAME@VERSION]`: every check a
/// host makes before plugin code runs — sizes, signature, manifest, file hashes, the library
/// for this platform, its embedded section (name, SDK ABI) against the manifest, and with
/// `host` the host API — through the same code a host runs
/// ([`switchboard_host::verify_package_file`]).
pub fn verify(
    package_path: &Path,
    store: &TrustStore,
    host: Option<&switchboard_host::HostProfile>,
) -> Result<VerifyReport> {
    let host_api = host.map(|h| format!("{}@{}", h.host_api, h.host_version));
    let result =
        switchboard_host::verify_package_file(package_path, store, &UnpackLimits::default(), host);
    Ok(match result {
        Ok(v) => {
            let p = v.package();
            let signed = p.signer.is_some();
            VerifyReport {
                ok: signed,
                package: package_path.to_owned(),
                plugin: Some(format!("{} {}", p.manifest.name, p.manifest.version)),
                signer: p.signer.clone(),
                trust: Some(p.trust.to_string()),
                files: p.files.clone(),
                host_api,
                error: (!signed).then(|| {
                    let e = package::PackageError::Unsigned;
                    serde_json::json!({ "code": e.code().to_string(), "message": e.to_string(), "next_step": e.next_step() })
                }),
            }
        }
        Err(e) => VerifyReport {
            ok: false,
            package: package_path.to_owned(),
            plugin: None,
            signer: None,
            trust: None,
            files: Vec::new(),
            host_api,
            error: Some(
                serde_json::json!({ "code": e.code().to_string(), "message": e.to_string(), "next_step": e.next_step() }),
            ),
        },
    })
}
