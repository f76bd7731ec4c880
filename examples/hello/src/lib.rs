//! `hello`, the example plugin: a string command, struct commands, raw-byte commands and a
//! command that panics on purpose, so hosts and tests can see each path work.
//!
//! The message types are public so hosts can share them: depend on this crate with
//! `default-features = false` to get the types without the plugin (the `plugin` feature).

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

/// Bytes for the payload command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Message)]
pub struct Payload {
    /// The bytes.
    #[serde(with = "serde_bytes_compat")]
    pub data: Vec<u8>,
}

/// Encodes `Vec<u8>` as one length-prefixed blob rather than a sequence of integers.
mod serde_bytes_compat {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let b: &[u8] = Deserialize::deserialize(d)?;
        Ok(b.to_vec())
    }
}

#[cfg(feature = "plugin")]
pub use self::plugin::Hello;

#[cfg(feature = "plugin")]
mod plugin {
    use std::sync::atomic::{AtomicU64, Ordering};

    use switchboard_sdk::prelude::*;

    use super::{AddRequest, AddResponse, Payload};

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

    #[plugin(capabilities = ["kv"])]
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
            ["greet", "add", "reverse", "checksum", "upper", "crash"]
        );
        assert_eq!(hello.manifest().capabilities, ["kv"]);
        assert!(hello.manifest().commands[1]
            .request
            .contains("hello::AddRequest@1#"));
    }
}
