//! Typed messages: postcard on the wire, a contract id per type.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::abi::gather::{Gather, Input};
use crate::error::{codes, PluginError};
use crate::Output;

/// The identity of a message type, checked when a caller binds to a command or topic.
///
/// The id reads `path@version#schema`: the type's path, the version its author declared
/// (`#[message(version = N)]`, default 1) and a hash of its definition, so that a changed field
/// is noticed at bind time rather than as garbage at call time. Built-in types use
/// `name@1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Contract {
    /// The type's path, e.g. `weather::Forecast`.
    pub path: &'static str,
    /// The version the author declared.
    pub version: u32,
    /// A hash of the type's definition (field names, types and serde attributes).
    pub schema_hash: u64,
    /// The full id, `path@version#schema`.
    pub id: &'static str,
}

/// A type that can cross the plugin boundary as a request, a response or an event.
///
/// Derive it with `#[derive(Message)]` on a serde type; it is implemented for `String`, `bool`,
/// the integer and float types and `()`. To send a collection, wrap it in a struct.
///
/// # Example
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use switchboard_sdk::prelude::*;
///
/// #[derive(Debug, PartialEq, Serialize, Deserialize, Message)]
/// #[message(version = 2)]
/// pub struct Forecast {
///     pub city: String,
///     pub celsius: f32,
/// }
///
/// assert!(Forecast::CONTRACT.id.contains("::Forecast@2#"));
/// assert_eq!(Forecast::CONTRACT.version, 2);
/// let bytes = switchboard_sdk::encode(&Forecast { city: "Oslo".into(), celsius: 3.5 });
/// let back: Forecast = switchboard_sdk::decode(&bytes).unwrap();
/// assert_eq!(back.city, "Oslo");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Switchboard message",
    label = "commands take and return types that implement `Message`",
    note = "add `#[derive(serde::Serialize, serde::Deserialize, Message)]` to `{Self}`, or take raw bytes as `&[u8]`"
)]
pub trait Message: Serialize + DeserializeOwned + Send + 'static {
    /// This type's contract.
    const CONTRACT: Contract;

    /// Appends the message's postcard bytes to `buf`. The derive and the built-in types
    /// override it with the [`Wire`](crate::__private::wire::Wire) codec (the same bytes,
    /// without serde's machinery); other impls go through postcard.
    #[doc(hidden)]
    #[inline]
    fn __encode_into(&self, buf: &mut Vec<u8>) {
        encode_into(self, buf);
    }

    /// Writes the message's postcard bytes into a command's output.
    #[doc(hidden)]
    #[inline]
    fn __write(&self, out: &mut Output<'_>) -> Result<(), PluginError> {
        write_message(self, out)
    }

    /// Encodes the message's postcard bytes into `sink`, a window on the host's stack: its
    /// small typed calls encode their request here, and take it only if
    /// [`WindowSink::written`](crate::__private::wire::WindowSink::written) says it fitted.
    #[doc(hidden)]
    #[inline]
    fn __encode_window(&self, sink: &mut crate::__private::wire::WindowSink<'_>) {
        encode_window_postcard(self, sink);
    }

    /// Decodes a message from postcard bytes.
    #[doc(hidden)]
    #[inline]
    fn __decode(bytes: &[u8]) -> Result<Self, PluginError> {
        decode_as(bytes)
    }

    /// Encodes the message into a host's request sink, which may keep long byte and string
    /// fields as runs of the message's own bytes instead of copying them (SDK ABI 1.5). The
    /// derive and the built-in types override it; other impls copy everything.
    #[doc(hidden)]
    #[inline]
    fn __gather<'m>(&'m self, sink: &mut Gather<'_, 'm>) {
        self.__encode_into(sink.inline());
    }

    /// Decodes a message from a request, in one buffer or gathered.
    #[doc(hidden)]
    #[inline]
    fn __decode_input(input: Input<'_>) -> Result<Self, PluginError> {
        match input.contiguous() {
            Some(bytes) => Self::__decode(bytes),
            None => Self::__decode(&input.to_vec()),
        }
    }
}

/// A message that may borrow from the bytes it is read from: a type with a lifetime whose
/// fields are `&str`, `&[u8]` (or other borrowing serde types), read without copying them.
///
/// Every [`Message`] is one too (it borrows nothing). Derive it with `#[derive(Message)]` on a
/// type with one lifetime parameter; its contract is built like a `Message`'s. Commands may
/// take and return such types, and hosts read responses of them without a copy through
/// `Command::call_with` (see the host's docs and the guide, "Borrowed payloads").
///
/// # Example
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use switchboard_sdk::{Message, MessageRef};
///
/// #[derive(Serialize, Deserialize, Message)]
/// pub struct Chunk<'a> {
///     pub name: &'a str,
///     pub data: &'a [u8],
/// }
///
/// let bytes = switchboard_sdk::encode_ref(&Chunk { name: "a", data: b"xyz" });
/// let chunk: Chunk<'_> = switchboard_sdk::decode_ref(&bytes).unwrap();
/// assert_eq!(chunk.data, b"xyz"); // borrowed from `bytes`, not copied
/// assert!(<Chunk<'static> as MessageRef<'static>>::VIEW_CONTRACT.id.contains("::Chunk@1#"));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Switchboard message",
    label = "commands take and return types that implement `Message`",
    note = "add `#[derive(serde::Serialize, serde::Deserialize, Message)]` to `{Self}`, or take raw bytes as `&[u8]`"
)]
pub trait MessageRef<'de>: Serialize + Deserialize<'de> + Sized {
    /// This type's contract (for a [`Message`], its [`Message::CONTRACT`]).
    const VIEW_CONTRACT: Contract;

    /// Appends the message's postcard bytes to `buf`.
    #[doc(hidden)]
    #[inline]
    fn __encode_ref(&self, buf: &mut Vec<u8>) {
        encode_into(self, buf);
    }

    /// Writes the message's postcard bytes into a command's output.
    #[doc(hidden)]
    #[inline]
    fn __write_ref(&self, out: &mut Output<'_>) -> Result<(), PluginError> {
        write_message(self, out)
    }

    /// Decodes a message borrowing from `bytes`.
    #[doc(hidden)]
    #[inline]
    fn __decode_ref(bytes: &'de [u8]) -> Result<Self, PluginError> {
        postcard::from_bytes(bytes).map_err(|e| undecodable::<Self>(&e))
    }

    /// [`Message::__gather`] for a message that may borrow.
    #[doc(hidden)]
    #[inline]
    fn __gather<'m>(&'m self, sink: &mut Gather<'_, 'm>) {
        self.__encode_ref(sink.inline());
    }

    /// Decodes a message borrowing from a request, in one buffer or gathered: `flat` holds
    /// the request joined when this type's decoder needs one buffer (postcard), and a
    /// `Wire`-encoded type borrows its fields from the runs themselves.
    #[doc(hidden)]
    #[inline]
    fn __decode_input(input: Input<'de>, flat: &'de mut Vec<u8>) -> Result<Self, PluginError> {
        Self::__decode_ref(input.flat(flat))
    }
}

impl<'de, M: Message> MessageRef<'de> for M {
    const VIEW_CONTRACT: Contract = M::CONTRACT;

    #[inline]
    fn __encode_ref(&self, buf: &mut Vec<u8>) {
        self.__encode_into(buf);
    }

    #[inline]
    fn __write_ref(&self, out: &mut Output<'_>) -> Result<(), PluginError> {
        self.__write(out)
    }

    #[inline]
    fn __decode_ref(bytes: &'de [u8]) -> Result<Self, PluginError> {
        M::__decode(bytes)
    }

    #[inline]
    fn __gather<'m>(&'m self, sink: &mut Gather<'_, 'm>) {
        Message::__gather(self, sink);
    }

    #[inline]
    fn __decode_input(input: Input<'de>, _flat: &'de mut Vec<u8>) -> Result<Self, PluginError> {
        M::__decode_input(input)
    }
}

/// A message type as a family over the lifetime of the bytes it borrows: what a host names to
/// read borrowed responses (`Command<Req, Chunk<'static>>`), with [`View::Of`] the type for
/// one lifetime. Every [`Message`] is its own family; `#[derive(Message)]` on a type with a
/// lifetime implements it for the `'static` instance.
pub trait View: 'static {
    /// The type borrowing for `'a`.
    type Of<'a>: MessageRef<'a>;
}

impl<M: Message> View for M {
    type Of<'a> = M;
}

/// The contract of a [`View`] family.
pub const fn view_contract<V: View>() -> Contract {
    <V::Of<'static> as MessageRef<'static>>::VIEW_CONTRACT
}

/// Encodes a [`MessageRef`] (borrowed or owned) with postcard.
pub fn encode_ref<'de, M: MessageRef<'de>>(message: &M) -> Vec<u8> {
    let mut buf = Vec::new();
    message.__encode_ref(&mut buf);
    buf
}

/// Decodes a [`MessageRef`], borrowing from `bytes`, with a coded error on bad input.
pub fn decode_ref<'de, M: MessageRef<'de>>(bytes: &'de [u8]) -> Result<M, PluginError> {
    M::__decode_ref(bytes)
}

/// Encodes a message with postcard.
pub fn encode<M: Message>(message: &M) -> Vec<u8> {
    let mut buf = Vec::new();
    message.__encode_into(&mut buf);
    buf
}

/// Encodes any serde type with postcard, appending to `buf`. (A [`Message`] encodes faster
/// through [`encode`], which uses its own codec; the bytes are the same.)
///
/// ```
/// let mut buf = vec![0xAA];
/// switchboard_sdk::encode_into(&300u32, &mut buf);
/// assert_eq!(buf, [0xAA, 0xAC, 0x02]);
/// ```
pub fn encode_into<M: Serialize + ?Sized>(message: &M, buf: &mut Vec<u8>) {
    // Serializing into a growable buffer fails only for types serde cannot express in postcard
    // (maps with unknown length are fine); report rather than panic. Straight into the `Vec`,
    // not through `Output`: the host's typed calls encode every request here.
    let _ = postcard::serialize_with_flavor(message, VecFlavor(buf));
}

/// [`Message::__encode_window`] through postcard, for messages without the `Wire` codec. A
/// type postcard cannot encode is refused by the sink, so its caller takes the general lane
/// (which encodes it into a buffer as before: such a type is one postcard has no form for,
/// and what the plugin then gets fails to decode there).
fn encode_window_postcard<M: Serialize + ?Sized>(
    message: &M,
    sink: &mut crate::__private::wire::WindowSink<'_>,
) {
    if crate::__private::wire::serialize_into(message, sink).is_err() {
        sink.refuse();
    }
}

/// Decodes a message encoded with [`encode`], with a coded error on bad input.
#[inline]
pub fn decode<M: Message>(bytes: &[u8]) -> Result<M, PluginError> {
    M::__decode(bytes)
}

/// Decodes any serde type from postcard bytes.
#[doc(hidden)]
pub fn decode_as<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PluginError> {
    postcard::from_bytes(bytes).map_err(|e| undecodable::<T>(&e))
}

/// The error for bytes that do not decode as `T` (postcard's or the `Wire` codec's reason).
#[cold]
pub(crate) fn undecodable<T>(error: &dyn std::fmt::Display) -> PluginError {
    PluginError::with_code(
        codes::BAD_REQUEST,
        format!(
            "the bytes do not decode as `{}`: {error}",
            std::any::type_name::<T>()
        ),
    )
    .next_step("check that caller and plugin agree on the message contract")
}

/// Encodes `message` into the command output.
#[doc(hidden)]
pub fn write_message<T: Serialize + ?Sized>(
    message: &T,
    out: &mut Output<'_>,
) -> Result<(), PluginError> {
    postcard::serialize_with_flavor(message, OutputFlavor(out)).map_err(|e| {
        PluginError::with_code(
            codes::ENCODE_FAILED,
            format!("could not encode `{}`: {e}", std::any::type_name::<T>()),
        )
    })
}

/// The longest slice [`VecFlavor`] writes byte by byte: postcard hands every integer over as a
/// varint of at most 10 (`u64`) or 19 (`u128`) bytes, and a call into `memcpy` for each cost
/// more than the bytes (callgrind, `dispatch/typed_small`: the host's encoding of two `i64`
/// went from 103 to 87 instructions with this flavor).
const SHORT_WRITE: usize = 16;

struct OutputFlavor<'a, 'b>(&'a mut Output<'b>);

impl postcard::ser_flavors::Flavor for OutputFlavor<'_, '_> {
    type Output = ();

    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// [`OutputFlavor`] for a plain `Vec`, without `Output`'s two-way match on every byte.
struct VecFlavor<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for VecFlavor<'_> {
    type Output = ();

    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        if data.len() <= SHORT_WRITE {
            for &byte in data {
                self.0.push(byte);
            }
        } else {
            crate::copy::extend_vec(self.0, data);
        }
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// FNV-1a, 64 bits: the schema hash of built-in types, usable in constants.
pub const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

macro_rules! builtin_message {
    ($($t:ty => $name:literal),* $(,)?) => {$(
        impl Message for $t {
            const CONTRACT: Contract = Contract {
                path: $name,
                version: 1,
                schema_hash: fnv1a64($name.as_bytes()),
                id: concat!($name, "@1"),
            };
        }
    )*};
}

/// Built-in types the [`Wire`](crate::__private::wire::Wire) codec encodes.
macro_rules! builtin_wire_message {
    ($($t:ty => $name:literal),* $(,)?) => {$(
        impl Message for $t {
            const CONTRACT: Contract = Contract {
                path: $name,
                version: 1,
                schema_hash: fnv1a64($name.as_bytes()),
                id: concat!($name, "@1"),
            };

            #[inline]
            fn __encode_into(&self, buf: &mut Vec<u8>) {
                crate::__private::wire::encode_into(self, buf);
            }

            #[inline]
            fn __write(&self, out: &mut Output<'_>) -> Result<(), PluginError> {
                crate::__private::wire::write(self, out)
            }

            #[inline]
            fn __encode_window(&self, sink: &mut crate::__private::wire::WindowSink<'_>) {
                crate::__private::wire::encode_to_window(self, sink);
            }

            #[inline]
            fn __decode(bytes: &[u8]) -> Result<Self, PluginError> {
                crate::__private::wire::decode(bytes)
            }

            #[inline]
            fn __gather<'m>(&'m self, sink: &mut Gather<'_, 'm>) {
                crate::__private::wire::gather(self, sink);
            }

            #[inline]
            fn __decode_input(input: Input<'_>) -> Result<Self, PluginError> {
                crate::__private::wire::decode_input(input)
            }
        }
    )*};
}

builtin_wire_message! {
    () => "unit",
    bool => "bool",
    u8 => "u8", u16 => "u16", u32 => "u32", u64 => "u64", u128 => "u128",
    i8 => "i8", i16 => "i16", i32 => "i32", i64 => "i64", i128 => "i128",
    f32 => "f32", f64 => "f64",
    String => "string",
}

// A `char` travels as a one-character string; postcard's own rules for it apply.
builtin_message! {
    char => "char",
}

/// The contract id commands that take or return raw bytes declare.
pub const RAW_BYTES_CONTRACT: &str = "bytes";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_round_trip() {
        let s = String::from("héllo");
        assert_eq!(decode::<String>(&encode(&s)).unwrap(), s);
        assert_eq!(decode::<u64>(&encode(&42u64)).unwrap(), 42);
        assert_eq!(String::CONTRACT.id, "string@1");
    }

    #[test]
    fn bad_bytes_are_a_coded_error() {
        let e = decode::<String>(&[0xff, 0xff, 0xff]).unwrap_err();
        assert_eq!(e.code(), codes::BAD_REQUEST);
    }

    #[test]
    fn fnv_matches_reference_vector() {
        // Published FNV-1a 64 test vector for "a".
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
