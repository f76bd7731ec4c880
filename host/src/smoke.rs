//! Smoke calls: the `[[test.calls]]` a plugin declares in `plugin.toml`, made through a host
//! and compared with what they declare — shared by the authors' `switchboard test` (the plugin
//! loaded in-process) and the registry server's certification (the plugin loaded isolated, in a
//! sandboxed runner process).
//!
//! A call's `input` and `expect` are TOML values for the built-in message types (strings,
//! integers, floats, booleans; nothing for `()`; a string for raw bytes); a command whose
//! request is a `#[derive(Message)]` type takes `input_hex`, its encoded bytes, and its answer
//! is checked only for success (or for the code `expect_error` names).
//!
//! ```no_run
//! # fn demo(plugin: &switchboard_host::PluginHandle, package: &switchboard_host::Manifest) {
//! use switchboard_host::smoke;
//!
//! let embedded = plugin.manifest();
//! for call in package.test.iter().flat_map(|t| t.calls.iter()) {
//!     match smoke::call(plugin, &embedded.commands, call) {
//!         Ok(outcome) => println!("{} … {:?}", outcome.call, outcome.result),
//!         Err(mistake) => println!("[test] is wrong: {mistake}"),
//!     }
//! }
//! # }
//! ```

use serde::Serialize;
use switchboard_sdk::manifest::{Manifest, SmokeCall};
use switchboard_sdk::{decode, encode, CommandDecl, Message};

use crate::PluginHandle;

/// How one smoke call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SmokeResult {
    /// It answered what `[test]` says (or failed with the code `expect_error` names).
    Passed,
    /// It answered, but not what `[test]` says: the mismatch is in `failure`.
    Failed,
    /// It could not be made or did not answer: the runner crashed, the call was killed at its
    /// time limit, the protocol broke, or the plugin had already failed. Never a pass,
    /// whatever `expect_error` names.
    Error,
}

/// One smoke call's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct SmokeOutcome {
    /// How the call reads, e.g. `greet("Ada") = "Hello, Ada!"`.
    pub call: String,
    /// Whether it did what `[test]` says.
    pub passed: bool,
    /// Passed, failed or error.
    pub result: SmokeResult,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

impl SmokeOutcome {
    fn passed(call: &str) -> SmokeOutcome {
        SmokeOutcome {
            call: call.to_owned(),
            passed: true,
            result: SmokeResult::Passed,
            failure: None,
        }
    }

    fn not(call: &str, result: SmokeResult, why: String) -> SmokeOutcome {
        SmokeOutcome {
            call: call.to_owned(),
            passed: false,
            result,
            failure: Some(why),
        }
    }

    /// An outcome for a call that was not made (`Error`), e.g. past a run's time limit.
    pub fn not_made(call: &SmokeCall, why: impl Into<String>) -> SmokeOutcome {
        SmokeOutcome::not(&describe(call), SmokeResult::Error, why.into())
    }
}

/// A mistake in `[test]` itself (not in the plugin): an unknown command, an input that does
/// not fit the command's request type, `expect` on a type that cannot be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmokeSpecError {
    /// The call, as [`describe`] writes it.
    pub call: String,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for SmokeSpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[[test.calls]] {}: {}", self.call, self.reason)
    }
}

impl std::error::Error for SmokeSpecError {}

/// The host API a smoke host offers: the one `plugin.toml` requires, at the lowest version
/// its range names and accepts (a smoke test checks the plugin, not its host's version).
/// `None` when the plugin requires none, or a range names no version it accepts.
pub fn offered_host_api(manifest: &Manifest) -> Option<(String, String)> {
    let api = manifest.requires.host_api.as_ref()?;
    let range = semver::VersionReq::parse(&api.version).ok()?;
    range
        .comparators
        .iter()
        .map(|c| semver::Version::new(c.major, c.minor.unwrap_or(0), c.patch.unwrap_or(0)))
        .filter(|v| range.matches(v))
        .min()
        .map(|v| (api.name.clone(), v.to_string()))
}

/// The load error for a hook on a point the host did not declare (`SB1701`): a smoke host
/// declares no extension points, so such a plugin cannot be started in one.
pub const UNDECLARED_POINT: switchboard_sdk::ErrorCode =
    switchboard_sdk::ErrorCode::from_number(1701);

/// Whether a call's error code means the call did not get a real answer from the plugin's
/// code: the isolated runner died, timed out, broke the protocol or was unavailable
/// (`SB1500`–`SB1509`), or the plugin is not active (`SB0304`, failed after such an end).
fn unanswered(code: switchboard_sdk::ErrorCode) -> bool {
    (1500..=1509).contains(&code.number()) || code.number() == 304
}

/// A TOML value as a request of the built-in type `contract`, or why not.
pub fn encode_input(contract: &str, value: Option<&serde_json::Value>) -> Result<Vec<u8>, String> {
    use serde_json::Value as V;
    let want = |what: &str| format!("`{contract}` takes {what}");
    macro_rules! int {
        ($t:ty) => {{
            let v = value.ok_or_else(|| want("an integer `input`"))?;
            let n = v
                .as_i64()
                .map(i128::from)
                .or_else(|| v.as_u64().map(i128::from))
                .ok_or_else(|| want("an integer `input`"))?;
            let n = <$t>::try_from(n).map_err(|_| format!("{n} does not fit `{contract}`"))?;
            Ok(encode(&n))
        }};
    }
    match contract {
        c if c == <() as Message>::CONTRACT.id => match value {
            None => Ok(encode(&())),
            Some(_) => Err(want("no `input`")),
        },
        c if c == String::CONTRACT.id => match value {
            Some(V::String(s)) => Ok(encode(s)),
            _ => Err(want("a string `input`")),
        },
        c if c == bool::CONTRACT.id => match value {
            Some(V::Bool(b)) => Ok(encode(b)),
            _ => Err(want("a boolean `input`")),
        },
        c if c == f64::CONTRACT.id => match value.and_then(V::as_f64) {
            Some(f) => Ok(encode(&f)),
            None => Err(want("a number `input`")),
        },
        c if c == f32::CONTRACT.id => match value.and_then(V::as_f64) {
            #[expect(clippy::cast_possible_truncation, reason = "an f32 command takes an f32")]
            Some(f) => Ok(encode(&(f as f32))),
            None => Err(want("a number `input`")),
        },
        c if c == switchboard_sdk::RAW_BYTES_CONTRACT => match value {
            Some(V::String(s)) => Ok(s.as_bytes().to_vec()),
            None => Ok(Vec::new()),
            _ => Err(want("a string `input` (its UTF-8 bytes)")),
        },
        c if c == u8::CONTRACT.id => int!(u8),
        c if c == u16::CONTRACT.id => int!(u16),
        c if c == u32::CONTRACT.id => int!(u32),
        c if c == u64::CONTRACT.id => int!(u64),
        c if c == i8::CONTRACT.id => int!(i8),
        c if c == i16::CONTRACT.id => int!(i16),
        c if c == i32::CONTRACT.id => int!(i32),
        c if c == i64::CONTRACT.id => int!(i64),
        _ => Err(format!(
            "`{contract}` is not a built-in type: write the request as `input_hex`, its encoded bytes"
        )),
    }
}

/// A response of the built-in type `contract` as JSON, or `None` for other types.
pub fn decode_output(contract: &str, bytes: &[u8]) -> Option<Result<serde_json::Value, String>> {
    use serde_json::Value as V;
    fn d<T: Message + Into<V>>(bytes: &[u8]) -> Result<V, String> {
        decode::<T>(bytes)
            .map(Into::into)
            .map_err(|e| e.to_string())
    }
    Some(match contract {
        c if c == <() as Message>::CONTRACT.id => decode::<()>(bytes)
            .map(|()| V::Null)
            .map_err(|e| e.to_string()),
        c if c == String::CONTRACT.id => d::<String>(bytes),
        c if c == bool::CONTRACT.id => d::<bool>(bytes),
        c if c == f64::CONTRACT.id => d::<f64>(bytes),
        c if c == f32::CONTRACT.id => d::<f32>(bytes),
        c if c == u8::CONTRACT.id => d::<u8>(bytes),
        c if c == u16::CONTRACT.id => d::<u16>(bytes),
        c if c == u32::CONTRACT.id => d::<u32>(bytes),
        c if c == u64::CONTRACT.id => d::<u64>(bytes),
        c if c == i8::CONTRACT.id => d::<i8>(bytes),
        c if c == i16::CONTRACT.id => d::<i16>(bytes),
        c if c == i32::CONTRACT.id => d::<i32>(bytes),
        c if c == i64::CONTRACT.id => d::<i64>(bytes),
        c if c == switchboard_sdk::RAW_BYTES_CONTRACT => {
            Ok(V::String(String::from_utf8_lossy(bytes).into_owned()))
        }
        _ => return None,
    })
}

/// How a call reads: `greet("Ada") = "Hello, Ada!"`, `get("x") fails with SB0100`.
pub fn describe(call: &SmokeCall) -> String {
    let input = match (&call.input, &call.input_hex) {
        (Some(v), _) => v.to_string(),
        (None, Some(h)) => format!("0x{h}"),
        (None, None) => String::new(),
    };
    let mut text = format!("{}({input})", call.command);
    if let Some(code) = &call.expect_error {
        text.push_str(&format!(" fails with {code}"));
    } else if let Some(v) = &call.expect {
        text.push_str(&format!(" = {v}"));
    }
    text
}

/// Equality that lets an integer `expect` match a float answer of the same value.
pub fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

/// Makes one smoke call through `plugin` (in-process or isolated alike) whose commands are
/// `commands` (its embedded manifest's); `Err` is a mistake in `[test]` itself, `Ok` the
/// outcome. A call the plugin did not answer — its runner crashed or was killed at its time
/// limit, the protocol broke — is [`SmokeResult::Error`], even when `expect_error` names that
/// very code: a smoke call passes only on an answer of the plugin's own.
pub fn call(
    plugin: &PluginHandle,
    commands: &[CommandDecl],
    call: &SmokeCall,
) -> Result<SmokeOutcome, SmokeSpecError> {
    let label = describe(call);
    let spec_error = |reason: String| SmokeSpecError {
        call: label.clone(),
        reason,
    };
    let Some(decl) = commands.iter().find(|c| c.name == call.command) else {
        let names: Vec<&str> = commands.iter().map(|c| c.name.as_str()).collect();
        return Err(spec_error(format!(
            "the plugin has no command `{}` (it has: {})",
            call.command,
            names.join(", ")
        )));
    };
    let request = match (&call.input, &call.input_hex) {
        (Some(_), Some(_)) => {
            return Err(spec_error("give `input` or `input_hex`, not both".into()))
        }
        (_, Some(h)) => {
            hex::decode(h.trim()).map_err(|e| spec_error(format!("`input_hex`: {e}")))?
        }
        (v, None) => encode_input(&decl.request, v.as_ref()).map_err(spec_error)?,
    };
    if call.expect.is_some() && call.expect_error.is_some() {
        return Err(spec_error(
            "give `expect` or `expect_error`, not both".into(),
        ));
    }
    if decl.stream.is_some() {
        return Err(spec_error(format!(
            "`{}` is a streaming command; smoke calls make plain calls only (test it with the mock host's `MockPlugin::stream`)",
            call.command
        )));
    }
    let command = plugin
        .raw_command(&call.command)
        .map_err(|e| spec_error(format!("cannot bind it: {e}")))?;
    let fail = |why: String| SmokeOutcome::not(&label, SmokeResult::Failed, why);
    let outcome = match command.call(&request) {
        Err(e) if unanswered(e.code()) => SmokeOutcome::not(
            &label,
            SmokeResult::Error,
            format!("no answer from the plugin: [{}] {e}", e.code()),
        ),
        Err(e) => match &call.expect_error {
            Some(code) if e.code().to_string().eq_ignore_ascii_case(code.trim()) => {
                SmokeOutcome::passed(&label)
            }
            Some(code) => fail(format!("expected {code}, got {}: {e}", e.code())),
            None => fail(format!("failed: {e}")),
        },
        Ok(bytes) => match (&call.expect_error, &call.expect) {
            (Some(code), _) => fail(format!("expected {code}, but the call succeeded")),
            (None, None) => SmokeOutcome::passed(&label),
            (None, Some(expected)) => match decode_output(&decl.response, &bytes) {
                None => {
                    return Err(spec_error(format!(
                        "`{}` is not a built-in type, so `expect` cannot compare it; leave `expect` out to check only that the call succeeds",
                        decl.response
                    )))
                }
                Some(Err(e)) => fail(format!("the answer does not decode: {e}")),
                Some(Ok(got)) if json_eq(&got, expected) => SmokeOutcome::passed(&label),
                Some(Ok(got)) => fail(format!("expected {expected}, got {got}")),
            },
        },
    };
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inputs_encode_by_the_commands_request_type() {
        assert_eq!(
            encode_input("string@1", Some(&json!("hi"))).unwrap(),
            encode(&"hi".to_string())
        );
        assert_eq!(encode_input("u8@1", Some(&json!(7))).unwrap(), encode(&7u8));
        assert_eq!(
            encode_input("i64@1", Some(&json!(-3))).unwrap(),
            encode(&-3i64)
        );
        assert_eq!(encode_input("unit@1", None).unwrap(), encode(&()));
        assert_eq!(encode_input("bytes", Some(&json!("ab"))).unwrap(), b"ab");
        assert!(encode_input("u8@1", Some(&json!(300)))
            .unwrap_err()
            .contains("does not fit"));
        assert!(encode_input("string@1", Some(&json!(1)))
            .unwrap_err()
            .contains("a string"));
        assert!(encode_input("unit@1", Some(&json!(1)))
            .unwrap_err()
            .contains("no `input`"));
        assert!(encode_input("my::Req@1#00", Some(&json!({})))
            .unwrap_err()
            .contains("input_hex"));
    }

    #[test]
    fn outputs_decode_for_built_in_types_only() {
        let got = decode_output("u64@1", &encode(&42u64)).unwrap().unwrap();
        assert_eq!(got, json!(42));
        assert!(json_eq(&json!(2.0), &json!(2)));
        assert!(decode_output("my::Resp@1#00", b"").is_none());
        assert!(decode_output("u64@1", b"").unwrap().is_err());
    }

    #[test]
    fn a_runner_that_did_not_answer_is_never_an_expected_error() {
        for n in [1500, 1501, 1502, 1505, 304] {
            assert!(
                unanswered(switchboard_sdk::ErrorCode::from_number(n)),
                "{n}"
            );
        }
        assert!(!unanswered(switchboard_sdk::ErrorCode::from_number(100)));
    }
}
