//! Support for the code the macros generate. Not a public API.

pub use crate::abi::gather::Input;
pub use crate::abi::CommandEntryOf;
pub use crate::abi::Output;
pub use crate::message::{decode_as, write_message};
#[path = "wire.rs"]
pub mod wire;

/// One piece of the manifest JSON: raw JSON text, or a string to escape and quote.
#[derive(Debug, Clone, Copy)]
pub enum Part<'a> {
    /// JSON text copied as is.
    Raw(&'a str),
    /// A string value, written quoted and escaped.
    Str(&'a str),
}

const fn escaped_len(s: &[u8]) -> usize {
    let mut n = 2;
    let mut i = 0;
    while i < s.len() {
        n += match s[i] {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' => 2,
            c if c < 0x20 => 6,
            _ => 1,
        };
        i += 1;
    }
    n
}

/// The length of the JSON text the parts make.
pub const fn json_len(parts: &[Part<'_>]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < parts.len() {
        n += match parts[i] {
            Part::Raw(s) => s.len(),
            Part::Str(s) => escaped_len(s.as_bytes()),
        };
        i += 1;
    }
    n
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes the JSON text the parts make into an array of exactly [`json_len`] bytes.
pub const fn json_build<const N: usize>(parts: &[Part<'_>]) -> [u8; N] {
    let mut out = [0u8; N];
    let mut o = 0;
    let mut i = 0;
    while i < parts.len() {
        match parts[i] {
            Part::Raw(s) => {
                let b = s.as_bytes();
                let mut j = 0;
                while j < b.len() {
                    out[o] = b[j];
                    o += 1;
                    j += 1;
                }
            }
            Part::Str(s) => {
                let b = s.as_bytes();
                out[o] = b'"';
                o += 1;
                let mut j = 0;
                while j < b.len() {
                    let c = b[j];
                    let esc = match c {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'\n' => b'n',
                        b'\r' => b'r',
                        b'\t' => b't',
                        _ => 0,
                    };
                    if esc != 0 {
                        out[o] = b'\\';
                        out[o + 1] = esc;
                        o += 2;
                    } else if c < 0x20 {
                        out[o] = b'\\';
                        out[o + 1] = b'u';
                        out[o + 2] = b'0';
                        out[o + 3] = b'0';
                        out[o + 4] = HEX[(c >> 4) as usize];
                        out[o + 5] = HEX[(c & 0xf) as usize];
                        o += 6;
                    } else {
                        out[o] = c;
                        o += 1;
                    }
                    j += 1;
                }
                out[o] = b'"';
                o += 1;
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_valid_escaped_json() {
        const PARTS: &[Part<'static>] = &[
            Part::Raw("{\"a\":"),
            Part::Str("say \"hi\"\n\\ \u{1}"),
            Part::Raw("}"),
        ];
        const N: usize = json_len(PARTS);
        const OUT: [u8; N] = json_build::<N>(PARTS);
        let v: serde_json::Value = serde_json::from_slice(&OUT).unwrap();
        assert_eq!(v["a"], "say \"hi\"\n\\ \u{1}");
    }
}
