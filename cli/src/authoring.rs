//! Commands for plugin authors: `keygen`, `pack`, `sign`, `verify`, and the CLI's trust store.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Result;
use switchboard_host::package::{
    self, key_id_of_public_key, release_comment, TrustStore, UnpackLimits, PUBLIC_KEY_MARK,
};
use switchboard_host::{current_target, Diagnostic, ErrorCode, Manifest};
use switchboard_sdk::manifest::{Format, MANIFEST_FILE};

use crate::output::{codes, CliError, Coded as _, Progress};

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
        return Err(CliError::raise(
            codes::PASSWORD,
            "a password is needed and stdin is not a terminal",
            format!("set {PASSWORD_VAR}, or use an unencrypted key (`keygen --unencrypted`)"),
        ));
    }
    let next = "type the password again";
    let first = rpassword::prompt_password(prompt).coded(
        codes::PASSWORD,
        "cannot read the password",
        next,
    )?;
    if confirm
        && rpassword::prompt_password("Again: ").coded(
            codes::PASSWORD,
            "cannot read the password",
            next,
        )? != first
    {
        return Err(CliError::raise(
            codes::PASSWORD,
            "the passwords differ",
            next,
        ));
    }
    if first.is_empty() {
        return Err(CliError::raise(
            codes::PASSWORD,
            "an empty password",
            "type a password, or use `--unencrypted` for a key without one",
        ));
    }
    Ok(first)
}

/// `switchboard keygen --out DIR [--unencrypted]`: writes a minisign key pair. Returns the key id.
pub fn keygen(out: &Path, unencrypted: bool) -> Result<String> {
    let sk_path = out.join(SECRET_KEY_FILE);
    let pk_path = out.join(PUBLIC_KEY_FILE);
    for p in [&sk_path, &pk_path] {
        if p.exists() {
            return Err(CliError::raise(
                codes::KEY_EXISTS,
                format!("{} exists; refusing to overwrite a key", p.display()),
                "move the old key away first, or pass another --out DIR",
            ));
        }
    }
    std::fs::create_dir_all(out).coded(
        codes::WRITE,
        format_args!("cannot create {}", out.display()),
        "check the path and its permissions",
    )?;
    let keygen_failed = "report this with your platform's details";
    let (kp, label) = if unencrypted {
        (
            minisign::KeyPair::generate_unencrypted_keypair().coded(
                codes::BAD_KEY,
                "cannot generate a key",
                keygen_failed,
            )?,
            "unencrypted",
        )
    } else {
        let pw = password("Password for the new key: ", true)?;
        (
            minisign::KeyPair::generate_encrypted_keypair(Some(pw)).coded(
                codes::BAD_KEY,
                "cannot generate a key",
                keygen_failed,
            )?,
            "encrypted",
        )
    };
    let pk_text = kp
        .pk
        .to_box()
        .coded(codes::BAD_KEY, "cannot encode the key", keygen_failed)?
        .to_string();
    let sk_text = kp
        .sk
        .to_box(Some(&format!("switchboard secret key ({label})")))
        .coded(codes::BAD_KEY, "cannot encode the key", keygen_failed)?
        .to_string();
    write_new(&sk_path, sk_text.as_bytes(), 0o600)?;
    write_new(&pk_path, pk_text.as_bytes(), 0o644)?;
    key_id_of_public_key(&pk_text).coded(codes::BAD_KEY, "cannot read the new key", keygen_failed)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let what = format!("cannot write {}", path.display());
    let next = "check the path, its permissions and the free space";
    let mut f = options.open(path).coded(codes::WRITE, &what, next)?;
    f.write_all(bytes).coded(codes::WRITE, &what, next)
}

/// Writes a file, replacing it; errors are coded.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).coded(
        codes::WRITE,
        format_args!("cannot write {}", path.display()),
        "check the path, its permissions and the free space",
    )
}

/// The largest key file the CLI reads (a minisign key is a few hundred bytes).
const MAX_KEY_BYTES: u64 = 64 << 10;

/// Reads a key file (at most [`MAX_KEY_BYTES`]); errors are coded.
fn read_file(path: &Path, what: &str) -> Result<Vec<u8>> {
    read_input(path, what, MAX_KEY_BYTES)
}

/// Reads an input file of at most `limit` bytes. Anything but a regular file (a FIFO would
/// block the open; a device never ends) and a larger file are refused unread (SB0060);
/// other failures are SB0005.
pub(crate) fn read_input(path: &Path, what: &str, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let unreadable = |e: std::io::Error| {
        CliError::raise(
            codes::READ,
            format!("cannot read {what} {}: {e}", path.display()),
            "check the path and its permissions",
        )
    };
    let refused = |why: String| {
        CliError::raise(
            codes::INPUT,
            format!("{what} {} {why}", path.display()),
            "pass the file the command expects (a regular file of the usual size)",
        )
    };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if meta.is_dir() {
        return Err(unreadable(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a directory",
        )));
    }
    if !meta.is_file() {
        return Err(refused(
            "is not a regular file (a FIFO, socket or device)".into(),
        ));
    }
    if meta.len() > limit {
        return Err(refused(format!("is larger than {limit} bytes")));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
        .map_err(unreadable)?;
    if bytes.len() as u64 > limit {
        return Err(refused(format!("is larger than {limit} bytes")));
    }
    Ok(bytes)
}

/// Whether `switchboard pack` ships the library's debug information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DebugInfo {
    /// Link the library without debug information (`-C strip=debuginfo`): a fraction of the
    /// size, so a host unpacks, hashes and maps less. The symbol table stays, so a crash
    /// report still names functions.
    #[default]
    Strip,
    /// Ship the library as the release profile builds it, debug information included (file
    /// and line numbers in crash reports, at several times the size).
    Keep,
}

/// How `switchboard pack` builds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackOptions {
    /// Whether the shipped library keeps its debug information.
    pub debuginfo: DebugInfo,
    /// cargo's target directory; `None` for cargo's own choice (`CARGO_TARGET_DIR`, the
    /// workspace's `target/`).
    pub target_dir: Option<PathBuf>,
}

/// Builds the crate's cdylib in release mode and returns its path. cargo is quiet unless a
/// spinner shows progress; its diagnostics reach stderr either way. With [`DebugInfo::Strip`]
/// the link leaves debug information out: `cargo rustc -- -C strip=debuginfo` applies to the
/// plugin crate's link alone, so its dependencies are not rebuilt.
fn build_library(
    crate_dir: &Path,
    name: &str,
    options: &PackOptions,
    progress: &Progress,
) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(crate_dir).args([
        "rustc",
        "--release",
        "--lib",
        "--quiet",
        "--message-format=json-render-diagnostics",
    ]);
    cmd.arg("--manifest-path").arg(crate_dir.join("Cargo.toml"));
    if let Some(dir) = &options.target_dir {
        cmd.arg("--target-dir").arg(dir);
    }
    match options.debuginfo {
        DebugInfo::Strip => {
            progress.step(format!(
                "building {name} (cargo rustc --release -- -C strip=debuginfo)"
            ));
            cmd.args(["--", "-C", "strip=debuginfo"]);
        }
        DebugInfo::Keep => progress.step(format!("building {name} (cargo rustc --release)")),
    }
    run_build(cmd, name, progress)
}

/// Builds the crate's cdylib with the dev profile (what `switchboard test` loads) and
/// returns its path.
pub(crate) fn build_dev_library(
    crate_dir: &Path,
    name: &str,
    target_dir: Option<&Path>,
) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(crate_dir).args([
        "build",
        "--lib",
        "--quiet",
        "--message-format=json-render-diagnostics",
    ]);
    cmd.arg("--manifest-path").arg(crate_dir.join("Cargo.toml"));
    if let Some(dir) = target_dir {
        cmd.arg("--target-dir").arg(dir);
    }
    run_build(cmd, name, &Progress::quiet())
}

/// Runs a cargo build that prints JSON messages and returns the cdylib named `name`.
fn run_build(mut cmd: Command, name: &str, progress: &Progress) -> Result<PathBuf> {
    let mut child = cmd.stdout(Stdio::piped()).spawn().coded(
        codes::BUILD,
        "cannot run cargo",
        "install Rust with cargo (https://rustup.rs), or set CARGO to its path",
    )?;
    let stdout = child.stdout.take().ok_or_else(|| {
        CliError::raise(
            codes::BUILD,
            "cargo gave no output",
            "run `cargo build --release` in the crate to see why",
        )
    })?;
    let suffix = std::env::consts::DLL_SUFFIX;
    let mut library = None;
    let mut built = 0usize;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.coded(
            codes::BUILD,
            "cannot read cargo's output",
            "run `cargo build --release` in the crate",
        )?;
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        built += 1;
        progress.step(format!(
            "building {name}: {} ({built} crates)",
            msg["target"]["name"].as_str().unwrap_or("")
        ));
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
    let status = child.wait().coded(
        codes::BUILD,
        "cannot wait for cargo",
        "run `cargo build --release` in the crate",
    )?;
    if !status.success() {
        return Err(CliError::raise(
            codes::BUILD,
            format!("cargo build failed ({status})"),
            "fix the errors cargo printed above, then try again",
        ));
    }
    library.ok_or_else(|| {
        CliError::raise(
            codes::NO_CDYLIB,
            format!("the crate built no cdylib named `{name}`"),
            "set `crate-type = [\"cdylib\"]` in [lib], and name the package as plugin.toml does",
        )
    })
}

/// An error made of manifest findings: the first one's code and next step, every one's message.
fn findings_error(context: &str, findings: &[Diagnostic]) -> anyhow::Error {
    let code = findings
        .first()
        .and_then(|d| d.code.strip_prefix("SB")?.parse::<u16>().ok())
        .map_or(codes::MANIFEST, ErrorCode::from_number);
    let next = findings.first().map_or_else(
        || "run `switchboard preflight` on the crate".to_owned(),
        |d| d.next_step.clone(),
    );
    let listed: String = findings
        .iter()
        .map(|d| format!("\n  {d}\n    next: {}", d.next_step))
        .collect();
    CliError::raise(code, format!("{context}:{listed}"), next)
}

/// What `pack` did.
#[derive(Debug, serde::Serialize)]
pub struct PackReport {
    /// The package written.
    pub package: PathBuf,
    /// The plugin's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The library packed.
    pub library: PathBuf,
    /// What plugin.toml left out and the library supplied (`provides.commands`,
    /// `capabilities`, `requires.sdk_abi`).
    pub from_library: Vec<&'static str>,
}

/// `switchboard pack [CRATE_DIR] --out DIR [--keep-debuginfo]`: builds the crate (without
/// debug information unless `options` say [`DebugInfo::Keep`]), completes its manifest with
/// what the library embeds (refusing contradictions), pins every file — the library's hash is
/// that of the bytes shipped — and writes `NAME-VERSION.sbpkg`.
pub fn pack(
    crate_dir: &Path,
    out: &Path,
    options: &PackOptions,
    progress: &Progress,
) -> Result<PackReport> {
    let crate_dir = &crate_dir.canonicalize().coded(
        codes::READ,
        format_args!("cannot find the crate at {}", crate_dir.display()),
        "pass the directory holding the plugin's Cargo.toml and plugin.toml",
    )?;
    let manifest_path = crate_dir.join(MANIFEST_FILE);
    if !manifest_path.exists() {
        // The first-plugin mistake: say what to add, not that an absent file is unreadable.
        return Err(CliError::raise(
            codes::MANIFEST,
            format!("{} has no plugin.toml", crate_dir.display()),
            "add a plugin.toml beside Cargo.toml with the crate's `name` and `version` \
             (docs/manifest.md)",
        ));
    }
    let source = switchboard_sdk::manifest::read_file(&manifest_path)
        .map_err(|d| findings_error(&format!("cannot use {}", manifest_path.display()), &[*d]))?;
    let manifest = Manifest::parse(&source, Format::Toml)
        .map_err(|d| findings_error(&format!("{} is invalid", manifest_path.display()), &d))?;
    let library = build_library(crate_dir, &manifest.name, options, progress)?;
    progress.step(format!("reading {}'s manifest section", manifest.name));
    let packed = switchboard_host::package_manifest(&manifest, &library).map_err(|d| {
        findings_error(
            &format!(
                "{} and the library {} disagree",
                manifest_path.display(),
                library.display()
            ),
            &d,
        )
    })?;
    let mut from_library = Vec::new();
    if manifest.provides.commands.is_empty() && !packed.provides.commands.is_empty() {
        from_library.push("provides.commands");
    }
    if manifest.capabilities.is_empty() && !packed.capabilities.is_empty() {
        from_library.push("capabilities");
    }
    if manifest.requires.sdk_abi.is_none() {
        from_library.push("requires.sdk_abi");
    }
    let mut files = BTreeMap::new();
    let file_name = library
        .file_name()
        .and_then(|f| f.to_str())
        .ok_or_else(|| {
            CliError::raise(
                codes::NO_CDYLIB,
                format!(
                    "the library path {} has no usable file name",
                    library.display()
                ),
                "build into a directory with a UTF-8 path",
            )
        })?;
    files.insert(
        format!("lib/{}/{file_name}", current_target()),
        read_input(
            &library,
            "the library",
            UnpackLimits::default().max_package_bytes,
        )?,
    );
    for doc in package::DOCUMENT_FILES {
        let p = crate_dir.join(doc);
        if p.is_file() {
            files.insert(
                (*doc).to_owned(),
                read_input(&p, "", UnpackLimits::default().max_package_bytes)?,
            );
        } else if *doc != "Cargo.lock" {
            progress.note(format!(
                "note: no {doc} in {}; the package goes without it",
                crate_dir.display()
            ));
        }
    }
    progress.step("writing the package");
    let built = package::build(&packed, &files)?;
    std::fs::create_dir_all(out).coded(
        codes::WRITE,
        format_args!("cannot create {}", out.display()),
        "check the path and its permissions",
    )?;
    let path = out.join(&built.file_name);
    write_file(&path, &built.bytes)?;
    progress.finish();
    Ok(PackReport {
        package: path,
        name: packed.name,
        version: packed.version,
        library,
        from_library,
    })
}

/// Reads a package's manifest bytes (what a signature covers), and its name and version.
fn package_manifest(package_path: &Path) -> Result<(Vec<u8>, String, String)> {
    let bytes = read_input(
        package_path,
        "the package",
        UnpackLimits::default().max_package_bytes,
    )?;
    let (manifest_bytes, manifest) = package::read_manifest(&bytes, &UnpackLimits::default())?;
    Ok((manifest_bytes, manifest.name, manifest.version))
}

fn not_a_key(path: &Path, e: impl std::fmt::Display) -> anyhow::Error {
    CliError::raise(
        codes::BAD_KEY,
        format!("{} is not a minisign key: {e}", path.display()),
        "pass the switchboard.key or switchboard.pub file `switchboard keygen` wrote",
    )
}

/// The length of a minisign secret key's decoded key line.
const SECRET_KEY_BYTES: usize = 158;

/// Whether a minisign secret key is password-protected (its KDF algorithm is not "none").
fn is_encrypted(key: &Path, secret_key_text: &str) -> Result<bool> {
    use base64::Engine as _;
    let line = secret_key_text
        .lines()
        .nth(1)
        .ok_or_else(|| not_a_key(key, "it has no key line"))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(line.trim())
        .map_err(|e| not_a_key(key, e))?;
    // A public key (42 bytes) passed as the secret key must not be taken for an encrypted
    // one and ask for a password.
    if raw.len() != SECRET_KEY_BYTES {
        return Err(not_a_key(
            key,
            format!(
                "a secret key is {SECRET_KEY_BYTES} bytes, found {} (pass switchboard.key, not \
                 the .pub)",
                raw.len()
            ),
        ));
    }
    Ok(raw.get(2..4) != Some(&[0, 0][..]))
}

/// `switchboard sign PACKAGE --key FILE`: writes `PACKAGE.minisig`. Returns its path.
pub fn sign(package_path: &Path, key: &Path) -> Result<PathBuf> {
    sign_with_key_id(package_path, key).map(|(path, _)| path)
}

/// [`sign`], also returning the signing key's id (for `sign --json`).
pub fn sign_with_key_id(package_path: &Path, key: &Path) -> Result<(PathBuf, String)> {
    let (manifest, name, version) = package_manifest(package_path)?;
    let sk_text = String::from_utf8(read_file(key, "the key")?).map_err(|e| not_a_key(key, e))?;
    let sk_box = minisign::SecretKeyBox::from_string(&sk_text).map_err(|e| not_a_key(key, e))?;
    let sk = if is_encrypted(key, &sk_text)? {
        sk_box.into_secret_key(Some(password("Password for the key: ", false)?))
    } else {
        sk_box.into_unencrypted_secret_key()
    }
    .map_err(|e| {
        CliError::raise(
            codes::BAD_KEY,
            format!("cannot open the secret key {}: {e}", key.display()),
            "check the password (SWITCHBOARD_KEY_PASSWORD) and that the file is a secret key",
        )
    })?;
    let pk = minisign::PublicKey::from_secret_key(&sk).map_err(|e| not_a_key(key, e))?;
    let trusted = release_comment(&name, &version, &manifest);
    let untrusted = format!("switchboard signature {PUBLIC_KEY_MARK}{}", pk.to_base64());
    let sig = minisign::sign(
        Some(&pk),
        &sk,
        manifest.as_slice(),
        Some(&trusted),
        Some(&untrusted),
    )
    .coded(
        codes::SIGN,
        "cannot sign",
        "check the key file; generate a new one with `switchboard keygen` if it is damaged",
    )?;
    let pk_text = pk.to_box().map_err(|e| not_a_key(key, e))?.to_string();
    let key_id = key_id_of_public_key(&pk_text).map_err(|e| not_a_key(key, e))?;
    let mut out = package_path.as_os_str().to_owned();
    out.push(".minisig");
    let out = PathBuf::from(out);
    write_file(&out, sig.to_string().as_bytes())?;
    Ok((out, key_id))
}

/// The CLI's trust store: the keys under `DATA_DIR/trusted-keys/*.pub`, plus `extra` key files.
/// A data directory that does not exist yet holds no keys; one that is a file, or cannot be
/// read, is refused.
pub fn trust_store(
    data_dir: Option<&Path>,
    extra: &[PathBuf],
) -> Result<(TrustStore, Vec<String>)> {
    let mut texts = Vec::new();
    if let Some(data_dir) = data_dir {
        crate::data_dir::check(data_dir)?;
        let dir = data_dir.join(TRUST_DIR);
        if dir.exists() {
            crate::data_dir::check(&dir)?;
            let unreadable = |e: std::io::Error| {
                CliError::raise(
                    codes::DATA_DIR,
                    format!("cannot read the trust store {}: {e}", dir.display()),
                    "check the directory's permissions",
                )
            };
            let mut entries = Vec::new();
            for entry in std::fs::read_dir(&dir).map_err(unreadable)? {
                entries.push(entry.map_err(unreadable)?.path());
            }
            entries.sort();
            for p in entries
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "pub"))
            {
                texts.push((
                    String::from_utf8(read_file(&p, "trusted key")?)
                        .map_err(|e| not_a_key(&p, e))?,
                    p,
                ));
            }
        }
    }
    for p in extra {
        texts.push((
            String::from_utf8(read_file(p, "the key")?).map_err(|e| not_a_key(p, e))?,
            p.clone(),
        ));
    }
    let mut store = TrustStore::new();
    let mut ids = Vec::new();
    for (t, p) in texts {
        ids.push(store.add_author(&t).map_err(|e| not_a_key(&p, e))?);
    }
    Ok((store, ids))
}

/// `switchboard trust add KEY.pub`: copies the key into the trust store. Returns its key id.
pub fn trust_add(data_dir: &Path, key: &Path) -> Result<String> {
    let text = String::from_utf8(read_file(key, "the key")?).map_err(|e| not_a_key(key, e))?;
    let id = key_id_of_public_key(&text).map_err(|e| not_a_key(key, e))?;
    crate::data_dir::check(data_dir)?;
    let dir = data_dir.join(TRUST_DIR);
    std::fs::create_dir_all(&dir).coded(
        codes::WRITE,
        format_args!("cannot create {}", dir.display()),
        "check the data directory's permissions",
    )?;
    write_file(&dir.join(format!("{id}.pub")), text.as_bytes())?;
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
    /// Every finding of the checks after the signature (file name, compatibility of the
    /// library, embedded manifest).
    pub diagnostics: Vec<Diagnostic>,
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
            let error = (!signed).then(|| {
                let e = package::PackageError::Unsigned;
                crate::output::error_json(e.code(), &e, e.next_step())
            });
            VerifyReport {
                ok: error.is_none(),
                package: package_path.to_owned(),
                plugin: Some(format!("{} {}", p.manifest.name, p.manifest.version)),
                signer: p.signer.clone(),
                trust: Some(p.trust.to_string()),
                files: p.files.clone(),
                host_api,
                error,
                diagnostics: v.warnings().to_vec(),
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
            error: Some(crate::output::error_json(
                e.code(),
                e.message(),
                e.next_step(),
            )),
            diagnostics: Vec::new(),
        },
    })
}
