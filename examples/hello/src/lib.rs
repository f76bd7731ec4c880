//! `hello`, the example plugin: a string command, struct commands, raw-byte commands, a
//! command that panics on purpose, and commands that use host services under capabilities
//! (files, environment variables, a generic check), so hosts and tests can see each path work.
//!
//! The message types are public so hosts can share them: depend on this crate with
//! `default-features = false` to get the types without the plugin (the `plugin` feature).

// Examples are what authors copy: input from callers and hosts becomes an error, never a
// panic (tests keep unwrap and expect, as assertions).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
use serde::{Deserialize, Serialize};
use switchboard_sdk::Message;

/// Two numbers to add.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Message)]
pub struct AddRequest {
    /// The first addend.
    pub a: i64,
    /// The second addend.
    pub b: i64,
}

/// The sum, and how many additions this instance has done.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Message)]
pub struct AddResponse {
    /// `a + b`, saturating.
    pub sum: i64,
    /// Additions served by this instance so far, this one included.
    pub calls: u64,
}

/// Bytes for the payload command. A `Vec<u8>` field needs no `serde_bytes`: the message codec
/// writes it as its length and then the bytes, copied in one go both ways (the bytes postcard
/// gives `serialize_bytes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Message)]
pub struct Payload {
    /// The bytes.
    pub data: Vec<u8>,
}

/// Bytes that stay where they arrived: a message that borrows. The plugin reads a request of
/// it in the host's buffer, and a host reads a response of it in its response buffer (with
/// `Command::call_with`), neither copying the bytes into a new `Vec`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Message)]
pub struct Chunk<'a> {
    /// The bytes.
    pub data: &'a [u8],
}

/// A file to write through the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Message)]
pub struct WriteFile {
    /// The absolute path.
    pub path: String,
    /// The text to write.
    pub text: String,
}

#[cfg(feature = "plugin")]
pub use self::plugin::Hello;

#[cfg(feature = "plugin")]
mod plugin {
    use std::sync::atomic::{AtomicU64, Ordering};

    use switchboard_sdk::prelude::*;

    use switchboard_sdk::caps::Access;

    use super::{AddRequest, AddResponse, Chunk, Payload, WriteFile};

    /// The plugin.
    #[derive(Debug, Default)]
    pub struct Hello {
        additions: AtomicU64,
    }

    impl Plugin for Hello {
        fn create(_ctx: &Context) -> Result<Self, PluginError> {
            Ok(Hello::default())
        }

        fn start(&self, ctx: &Context) -> Result<(), PluginError> {
            ctx.info("hello is ready");
            Ok(())
        }
    }

    #[plugin(capabilities = [
        "kv",
        "fs.read",
        "fs.write",
        "env:HELLO_*",
        "events.publish",
        "events.subscribe:plugin.**",
        "service.call:greetings.*"
    ])]
    impl Hello {
        /// Greets someone by name.
        #[command]
        fn greet(&self, ctx: &Context, name: String) -> Result<String, PluginError> {
            if name.trim().is_empty() {
                return Err(PluginError::new("no name given").next_step("pass a non-empty name"));
            }
            ctx.debug(&format!("greeting {name}"));
            Ok(format!("Hello, {name}!"))
        }

        /// Adds two numbers.
        #[command]
        fn add(&self, req: AddRequest) -> AddResponse {
            let calls = self.additions.fetch_add(1, Ordering::Relaxed) + 1;
            AddResponse {
                sum: req.a.saturating_add(req.b),
                calls,
            }
        }

        /// Returns the payload reversed.
        #[command]
        fn reverse(&self, mut payload: Payload) -> Payload {
            payload.data.reverse();
            payload
        }

        /// Returns the chunk it is given. Both sides borrow: the request is read where the host
        /// wrote it, and the response is written once, straight into the host's buffer.
        #[command]
        fn echo<'a>(&self, chunk: Chunk<'a>) -> Chunk<'a> {
            chunk
        }

        /// Raw bytes in, raw bytes out: the 8-byte little-endian sum of the input bytes, written
        /// straight into the host's buffer.
        #[command]
        fn checksum(&self, input: &[u8], out: &mut Output<'_>) {
            let sum: u64 = input.iter().map(|&b| u64::from(b)).sum();
            out.extend_from_slice(&sum.to_le_bytes());
        }

        /// Raw bytes in, raw bytes out, through a `Vec`.
        #[command]
        fn upper(&self, input: &[u8]) -> Vec<u8> {
            input.to_ascii_uppercase()
        }

        /// Panics on purpose, so hosts can see a failing plugin contained.
        #[command]
        fn crash(&self) {
            panic!("hello crashed on purpose");
        }

        /// Reads a text file through the host (needs `fs.read` covering it).
        #[command]
        fn read_file(&self, ctx: &Context, path: String) -> Result<String, PluginError> {
            ctx.fs().read_to_string(&path)
        }

        /// Writes a text file through the host (needs `fs.write` covering it).
        #[command]
        fn write_file(&self, ctx: &Context, req: WriteFile) -> Result<(), PluginError> {
            ctx.fs().write(&req.path, req.text.as_bytes())
        }

        /// An environment variable the host passes on (needs `env:NAME`).
        #[command]
        fn env(&self, ctx: &Context, name: String) -> Result<String, PluginError> {
            ctx.env(&name)?.ok_or_else(|| {
                PluginError::new(format!("`{name}` is not set"))
                    .next_step("have the host pass it with `HostBuilder::plugin_env`")
            })
        }

        /// Asks the host whether an access would be allowed: `kind` or `kind:target`, e.g.
        /// `events.publish:plugin.hello.greeted`.
        #[command]
        fn check(&self, ctx: &Context, access: String) -> Result<(), PluginError> {
            let (kind, target) = access.split_once(':').unwrap_or((access.as_str(), ""));
            ctx.check(&Access::from_parts(kind, target)?)
        }

        /// Reads a text file with the standard library — *not* through the host, so no
        /// capability check sees it. It shows what capabilities cannot do: in-process,
        /// native code reads whatever the host process may read. Run isolated, the runner's
        /// sandbox (Landlock) lets it read only beneath the plugin's `fs.read` grants, and the
        /// kernel refuses the rest ("Permission denied").
        #[command]
        fn read_file_direct(&self, path: String) -> Result<String, PluginError> {
            std::fs::read_to_string(&path).map_err(|e| {
                PluginError::new(format!("cannot read {path}: {e}"))
                    .next_step("read files through `ctx.fs()`, under an `fs.read` grant")
            })
        }

        /// Crashes the process with a segmentation fault, on purpose: run isolated, only its
        /// runner process dies (the caller gets `SB1501`, the runner restarts). Never call it
        /// in-process: it takes the host's process down with it — which is why untrusted
        /// plugins run isolated.
        #[command]
        fn segfault(&self) {
            // SAFETY: not safe, deliberately: a volatile write through a null pointer raises
            // SIGSEGV (a volatile write is never optimised away).
            unsafe {
                std::ptr::null_mut::<u8>().write_volatile(1);
            }
        }
    }

    /// A plain `extern "C"` function, the baseline the dispatch bench compares commands against:
    /// the same work as `checksum`, without Switchboard in between.
    ///
    /// # Safety
    ///
    /// `ptr` must point to `len` readable bytes.
    #[no_mangle]
    pub unsafe extern "C" fn hello_checksum_baseline(ptr: *const u8, len: usize) -> u64 {
        // SAFETY: the caller guarantees `ptr` points to `len` readable bytes.
        let input = unsafe { std::slice::from_raw_parts(ptr, len) };
        input.iter().map(|&b| u64::from(b)).sum()
    }
}

#[cfg(all(test, feature = "plugin"))]
mod tests {
    use super::*;
    use switchboard_sdk::testing::MockHost;
    use switchboard_sdk::Level;

    #[test]
    fn commands_work_under_the_mock_host() {
        let host = MockHost::new("hello");
        let hello = host.instantiate::<Hello>().unwrap();
        let s: String = hello.call("greet", &"Ada".to_string()).unwrap();
        assert_eq!(s, "Hello, Ada!");
        let r: AddResponse = hello.call("add", &AddRequest { a: 2, b: 3 }).unwrap();
        assert_eq!(r, AddResponse { sum: 5, calls: 1 });
        assert_eq!(
            hello.call_raw("checksum", &[1, 2, 3]).unwrap(),
            6u64.to_le_bytes()
        );
        assert_eq!(hello.call_raw("upper", b"abc").unwrap(), b"ABC");
        // `echo` borrows: encode and decode its messages with the `_ref` functions.
        let request = switchboard_sdk::encode_ref(&Chunk { data: b"bytes" });
        let reply = hello.call_raw("echo", &request).unwrap();
        let chunk: Chunk<'_> = switchboard_sdk::decode_ref(&reply).unwrap();
        assert_eq!(chunk.data, b"bytes");
        assert_eq!(host.logs()[0], (Level::Info, "hello is ready".to_string()));
    }

    #[test]
    fn empty_name_is_a_plugin_error() {
        let host = MockHost::new("hello");
        let hello = host.instantiate::<Hello>().unwrap();
        let e = hello
            .call::<String, String>("greet", &" ".to_string())
            .unwrap_err();
        assert_eq!(e.code(), switchboard_sdk::codes::PLUGIN_ERROR);
        assert_eq!(e.next_step_hint(), Some("pass a non-empty name"));
    }

    #[test]
    fn services_follow_the_mock_grants() {
        let host = MockHost::new("hello");
        host.add_file("/notes/a.txt", "remember")
            .set_env("HELLO_MODE", "loud");
        let hello = host.instantiate::<Hello>().unwrap();
        let denied = hello
            .call::<String, String>("read_file", &"/notes/a.txt".to_string())
            .unwrap_err();
        assert_eq!(
            denied.code(),
            switchboard_sdk::codes::CAPABILITY_NOT_DECLARED
        );
        host.grant("fs.read:/notes/**").unwrap();
        let text: String = hello
            .call("read_file", &"/notes/a.txt".to_string())
            .unwrap();
        assert_eq!(text, "remember");
        let escape = hello
            .call::<String, String>("read_file", &"/notes/../etc/passwd".to_string())
            .unwrap_err();
        assert_eq!(
            escape.code(),
            switchboard_sdk::codes::CAPABILITY_OUT_OF_SCOPE
        );
        host.grant("env:HELLO_*").unwrap();
        let mode: String = hello.call("env", &"HELLO_MODE".to_string()).unwrap();
        assert_eq!(mode, "loud");
        host.grant("fs.write:/notes/**").unwrap();
        hello
            .call::<WriteFile, ()>(
                "write_file",
                &WriteFile {
                    path: "/notes/b.txt".into(),
                    text: "new".into(),
                },
            )
            .unwrap();
        assert_eq!(host.file("/notes/b.txt").as_deref(), Some(&b"new"[..]));
        host.revoke("fs.read").unwrap();
        assert!(hello
            .call::<String, String>("read_file", &"/notes/a.txt".to_string())
            .is_err());
        assert!(hello
            .call::<String, ()>("check", &"kv".to_string())
            .is_err());
    }

    #[test]
    fn manifest_lists_commands_in_order() {
        let host = MockHost::new("hello");
        let hello = host.instantiate::<Hello>().unwrap();
        let names: Vec<_> = hello
            .manifest()
            .commands
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "greet",
                "add",
                "reverse",
                "echo",
                "checksum",
                "upper",
                "crash",
                "read_file",
                "write_file",
                "env",
                "check",
                "read_file_direct",
                "segfault"
            ]
        );
        assert_eq!(hello.manifest().capabilities[..2], ["kv", "fs.read"]);
        assert!(hello.manifest().commands[1]
            .request
            .contains("hello::AddRequest@1#"));
    }
}
