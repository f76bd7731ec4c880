//! Signed releases of the example plugins, for the demo, the tests and the benches: an
//! example packed and signed as a given version, with a changelog, and optionally asking for
//! more capabilities than the code declares.
//!
//! A second release of `hello` needs a library whose embedded manifest says `0.2.0` (the host
//! compares the package manifest with the library's section and refuses a contradiction). A
//! plugin author bumps `Cargo.toml` and rebuilds; doing that here would compile a second copy
//! of the SDK from a crate outside this workspace (minutes, and it would fight the examples'
//! build over the same target directory). So [`rewrite_manifest`] instead rewrites the JSON
//! manifest in the built library's `switchboard_manifest` section, in place and at the same
//! length: the version, and any extra capability requests. The plugin's code reads its
//! manifest from that same section, so the library stays consistent, and the result is then
//! packed and signed as `switchboard pack` and `sign` do — with the library as given, so a
//! release built from the examples' own build keeps its debug information, as `pack
//! --keep-debuginfo` would. The code is hello 0.1.0's;
//! only what the release declares differs — which is all a capability review or an update
//! looks at.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use switchboard_host::{current_target, package, Manifest};
use switchboard_sdk::manifest::Format;

use crate::examples::{self, Profile};
use crate::output::{codes, CliError, Coded as _};

/// What release of an example to make.
#[derive(Debug, Clone)]
pub struct ReleaseSpec<'a> {
    /// The example plugin (`hello`, `counter`, …).
    pub name: &'a str,
    /// The version the release carries (the library's manifest is rewritten to say it).
    pub version: &'a str,
    /// Capability requests to add to what the code declares.
    pub extra_capabilities: &'a [&'a str],
    /// The package's `CHANGELOG.md`.
    pub changelog: &'a str,
    /// Other plugins it depends on, as (name, semver range), added to its manifest.
    pub dependencies: &'a [(&'a str, &'a str)],
    /// Pack this build of the example's library instead of the one [`examples::library`]
    /// builds (a stripped copy, say, for tests that install it many times).
    pub library: Option<&'a Path>,
}

/// Builds the example (once per process), writes `out/NAME-VERSION.sbpkg` for `spec`, signs
/// it with `secret_key` and returns the package's path.
pub fn example_release(
    profile: Profile,
    spec: &ReleaseSpec<'_>,
    out: &Path,
    secret_key: &Path,
) -> Result<PathBuf> {
    let library = match spec.library {
        Some(l) => l.to_path_buf(),
        None => examples::library(profile, spec.name)?,
    };
    let manifest_path = examples::workspace_root()
        .join("examples")
        .join(spec.name)
        .join(switchboard_sdk::manifest::MANIFEST_FILE);
    let text = std::fs::read_to_string(&manifest_path).coded(
        codes::EXAMPLES,
        format_args!("cannot read {}", manifest_path.display()),
        "run from a clone of the Switchboard repository",
    )?;
    let mut manifest = Manifest::parse(&text, Format::Toml).map_err(|d| {
        CliError::raise(
            codes::MANIFEST,
            format!(
                "{} is invalid: {}",
                manifest_path.display(),
                d.first().map(ToString::to_string).unwrap_or_default()
            ),
            "restore the example's plugin.toml from the repository",
        )
    })?;
    manifest.version = spec.version.to_owned();
    for (name, range) in spec.dependencies {
        manifest.requires.dependencies.insert(
            (*name).to_owned(),
            switchboard_sdk::manifest::Dependency::Range((*range).to_owned()),
        );
    }
    let bytes = std::fs::read(&library).coded(
        codes::EXAMPLES,
        format_args!("cannot read {}", library.display()),
        "build the examples again",
    )?;
    // The example's own version and requests need no rewrite: the library is packed as built.
    let bytes = if spec.extra_capabilities.is_empty()
        && switchboard_host::package_manifest(&manifest, &library).is_ok()
    {
        bytes
    } else {
        rewrite_manifest(&bytes, spec.name, spec.version, spec.extra_capabilities)?
    };
    // `package_manifest` reads the section from a file, as `pack` does.
    let staging = out.join(format!(".{}-{}", spec.name, spec.version));
    std::fs::create_dir_all(&staging).coded(
        codes::WRITE,
        format_args!("cannot create {}", staging.display()),
        "check the path and its permissions",
    )?;
    let file_name = examples::library_file_name(spec.name);
    let staged = staging.join(&file_name);
    std::fs::write(&staged, &bytes).coded(
        codes::WRITE,
        format_args!("cannot write {}", staged.display()),
        "check the path, its permissions and the free space",
    )?;
    let packed = switchboard_host::package_manifest(&manifest, &staged).map_err(|d| {
        CliError::raise(
            codes::MANIFEST,
            format!(
                "{} {} disagrees with its library: {}",
                spec.name,
                spec.version,
                d.first().map(ToString::to_string).unwrap_or_default()
            ),
            "restore the example's plugin.toml from the repository",
        )
    })?;
    let _ = std::fs::remove_dir_all(&staging);
    let mut files = BTreeMap::new();
    files.insert(format!("lib/{}/{file_name}", current_target()), bytes);
    files.insert(
        "README.md".to_owned(),
        format!("# {}\n\n{}\n", spec.name, packed.description).into_bytes(),
    );
    files.insert(
        "CHANGELOG.md".to_owned(),
        spec.changelog.as_bytes().to_vec(),
    );
    let built = package::build(&packed, &files)?;
    std::fs::create_dir_all(out).coded(
        codes::WRITE,
        format_args!("cannot create {}", out.display()),
        "check the path and its permissions",
    )?;
    let path = out.join(&built.file_name);
    std::fs::write(&path, &built.bytes).coded(
        codes::WRITE,
        format_args!("cannot write {}", path.display()),
        "check the path, its permissions and the free space",
    )?;
    crate::authoring::sign(&path, secret_key)?;
    Ok(path)
}

/// `library` with the manifest in its section rewritten to say `version` and to request
/// `extra` capabilities as well, at the same length (padded with spaces, which JSON allows; the
/// embedded `plugin.toml` copy loses its comments to make room). Refused when the manifest of
/// `name` is not found exactly once, or the result would not fit.
pub fn rewrite_manifest(
    library: &[u8],
    name: &str,
    version: &str,
    extra: &[&str],
) -> Result<Vec<u8>> {
    let start_mark = format!("{{\"format\":1,\"name\":\"{name}\",");
    let starts: Vec<usize> = library
        .windows(start_mark.len())
        .enumerate()
        .filter(|(_, w)| *w == start_mark.as_bytes())
        .map(|(i, _)| i)
        .collect();
    let refused = |why: String| {
        CliError::raise(
            codes::EXAMPLES,
            format!("cannot make a {name} {version} release: {why}"),
            "build the examples again (`cargo build -p hello`)",
        )
    };
    let [start] = starts[..] else {
        return Err(refused(format!(
            "its embedded manifest appears {} times in the library, not once",
            starts.len()
        )));
    };
    let mut stream =
        serde_json::Deserializer::from_slice(&library[start..]).into_iter::<serde_json::Value>();
    let mut value = match stream.next() {
        Some(Ok(v)) => v,
        _ => return Err(refused("its embedded manifest does not parse".into())),
    };
    let end = start + stream.byte_offset();
    let old_version = value["version"].as_str().unwrap_or_default().to_owned();
    value["version"] = version.into();
    if let Some(caps) = value["capabilities"].as_array_mut() {
        caps.extend(extra.iter().map(|c| serde_json::Value::from(*c)));
    }
    if let Some(toml) = value["plugin_toml"].as_str() {
        let toml: String = toml
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                if l.starts_with("version") {
                    format!("version = \"{version}\"\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        value["plugin_toml"] = toml.into();
    }
    let mut json = serde_json::to_vec(&value)
        .map_err(|e| refused(format!("cannot encode the manifest: {e}")))?;
    let room = end - start;
    if json.len() > room {
        return Err(refused(format!(
            "the rewritten manifest ({} bytes) does not fit the section ({room} bytes) of {old_version}",
            json.len()
        )));
    }
    json.resize(room, b' ');
    let mut out = library.to_vec();
    out[start..end].copy_from_slice(&json);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewritten_release_verifies_and_loads_as_its_new_version_with_the_extra_capability() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        crate::authoring::keygen(&keys, true).unwrap();
        let spec = ReleaseSpec {
            name: "hello",
            version: "0.2.0",
            extra_capabilities: &["net.connect:api.example.com:443"],
            changelog: "# 0.2.0\n- talks to api.example.com\n",
            dependencies: &[],
            library: None,
        };
        let pkg = example_release(
            Profile::Debug,
            &spec,
            &dir.path().join("out"),
            &keys.join(crate::authoring::SECRET_KEY_FILE),
        )
        .unwrap();
        assert!(pkg.ends_with("hello-0.2.0.sbpkg"), "{}", pkg.display());
        let mut b = switchboard_host::Host::builder();
        b.data_dir(dir.path().join("data"))
            .host_api("switchboard-demo", "0.1.0")
            .trust(std::fs::read_to_string(keys.join(crate::authoring::PUBLIC_KEY_FILE)).unwrap());
        let host = b.build().unwrap();
        let hello = host.load_package(&pkg).unwrap();
        assert_eq!(hello.version(), "0.2.0");
        assert!(hello
            .manifest()
            .capabilities
            .iter()
            .any(|c| c == "net.connect:api.example.com:443"));
        hello.start().unwrap();
        let greet = hello.command::<String, String>("greet").unwrap();
        assert_eq!(greet.call(&"Ada".to_string()).unwrap(), "Hello, Ada!");
    }

    #[test]
    fn a_manifest_that_is_not_found_once_is_refused() {
        let e = rewrite_manifest(b"no manifest here", "hello", "0.2.0", &[]).unwrap_err();
        assert_eq!(crate::output::code_of(&e).0, "SB0017", "{e:#}");
    }
}
