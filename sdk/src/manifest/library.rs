//! What `plugin.toml` and the built library must agree on, and what `switchboard pack` takes
//! from the library instead of asking authors to type it twice.
//!
//! `#[plugin]` embeds the commands (with their contract ids), the capabilities, the services,
//! the subscriptions, the migrations and the SDK ABI in the library's own section. A crate's
//! `plugin.toml` may leave the commands, the capabilities and `requires.sdk_abi` out:
//! [`Manifest::with_library`] fills them in from the section, and refuses (SB1026) a value
//! that is written and contradicts it — at pack time, not at load. Subscriptions and
//! migrations exist only in the library; `provides.services` may name only services the library
//! provides.

use super::diagnostic::{codes, Diagnostic};
use super::Manifest;
use crate::embedded::EmbeddedManifest;

impl Manifest {
    /// This manifest completed with what `library` embeds: `provides.commands`,
    /// `capabilities` and `requires.sdk_abi` when they are not written, every written value
    /// checked against the library. `Err` lists every contradiction (SB1026), each with its
    /// field path.
    ///
    /// ```
    /// use switchboard_sdk::manifest::{Format, Manifest};
    /// use switchboard_sdk::EmbeddedManifest;
    ///
    /// let library: EmbeddedManifest = serde_json::from_str(r#"{"format":1,"name":"hello",
    ///   "version":"0.1.0","description":"","sdk_abi":"1.1","capabilities":["kv"],
    ///   "commands":[{"name":"greet","request":"string@1","response":"string@1"}]}"#).unwrap();
    /// let written = Manifest::parse("name = \"hello\"\nversion = \"0.1.0\"\n", Format::Toml).unwrap();
    /// let packed = written.with_library(&library).unwrap();
    /// assert_eq!(packed.provides.commands[0].name, "greet");
    /// assert_eq!(packed.capabilities, ["kv"]);
    ///
    /// let wrong = Manifest::parse("name = \"hello\"\nversion = \"0.1.0\"\ncapabilities = [\"secrets\"]\n", Format::Toml).unwrap();
    /// let errors = wrong.with_library(&library).unwrap_err();
    /// assert_eq!((errors[0].code.as_str(), errors[0].field.as_str()), ("SB1026", "capabilities"));
    /// ```
    pub fn with_library(&self, library: &EmbeddedManifest) -> Result<Manifest, Vec<Diagnostic>> {
        let mut out = Vec::new();
        let mut contradiction = |field: &str, written: String, embedded: String| {
            out.push(Diagnostic::error(
                codes::CONTRADICTS_LIBRARY,
                field,
                format!("plugin.toml says {written}, the library says {embedded}"),
                format!(
                    "remove `{field}` from plugin.toml (pack takes it from the library), or make \
                     it match the code and rebuild"
                ),
            ));
        };
        let quote = |s: &str| format!("`{s}`");
        if self.name != library.name {
            contradiction("name", quote(&self.name), quote(&library.name));
        }
        if self.version != library.version {
            contradiction("version", quote(&self.version), quote(&library.version));
        }
        if let Some(abi) = &self.requires.sdk_abi {
            if abi != &library.sdk_abi {
                contradiction("requires.sdk_abi", quote(abi), quote(&library.sdk_abi));
            }
        }
        let commands = &self.provides.commands;
        if !commands.is_empty() && commands != &library.commands {
            let first = commands
                .iter()
                .zip(&library.commands)
                .position(|(w, e)| w != e)
                .unwrap_or_else(|| commands.len().min(library.commands.len()));
            let show = |list: &[crate::embedded::CommandDecl]| match list.get(first) {
                Some(c) => format!("`{}` ({} → {})", c.name, c.request, c.response),
                None => "nothing".to_owned(),
            };
            contradiction(
                &format!("provides.commands[{first}]"),
                show(commands),
                show(&library.commands),
            );
        }
        if !self.capabilities.is_empty() {
            let mut written = self.capabilities.clone();
            let mut embedded = library.capabilities.clone();
            written.sort();
            embedded.sort();
            if written != embedded {
                let list = |l: &[String]| format!("[{}]", l.join(", "));
                contradiction("capabilities", list(&written), list(&embedded));
            }
        }
        for (i, service) in self.provides.services.iter().enumerate() {
            if !library.services.contains(&service.name) {
                contradiction(
                    &format!("provides.services[{i}].name"),
                    format!("it provides service `{}`", service.name),
                    format!("[{}]", library.services.join(", ")),
                );
            }
        }
        if !out.is_empty() {
            return Err(out);
        }
        let mut packed = self.clone();
        if packed.requires.sdk_abi.is_none() {
            packed.requires.sdk_abi = Some(library.sdk_abi.clone());
        }
        if packed.provides.commands.is_empty() {
            packed.provides.commands = library.commands.clone();
        }
        if packed.capabilities.is_empty() {
            packed.capabilities = library.capabilities.clone();
        }
        Ok(packed)
    }
}
