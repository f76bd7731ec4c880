//! `#[derive(Message)]`'s own codec writes and reads exactly postcard's bytes, so plugins and
//! hosts built with SDKs before and after it understand each other.

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use switchboard_sdk::{decode, encode, Message};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Message)]
pub struct Small {
    pub a: i64,
    pub b: u64,
}

/// A field of every kind the codec handles itself, and two it hands to postcard (an enum and
/// a map), in the middle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Message)]
pub struct Everything {
    pub flag: bool,
    pub byte: u8,
    pub signed: i8,
    pub short: i16,
    pub word: u32,
    pub wide: i128,
    pub real: f64,
    pub name: String,
    pub maybe: Option<u16>,
    pub list: Vec<i32>,
    pub kind: Kind,
    pub map: std::collections::BTreeMap<String, u8>,
    pub nested: Small,
    pub letter: char,
    pub unit: (),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Kind {
    Plain,
    Tagged(u32),
    Named { x: i8 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Message)]
pub struct Pair(pub u16, pub String);

/// Bytes in a `Vec<u8>`, which the codec copies in one go (around the 2 KiB from which the
/// copy takes its own vector loop), between other fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Message)]
pub struct Blob {
    pub before: u16,
    pub data: Vec<u8>,
    pub after: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Message)]
pub struct Nothing;

/// A serde attribute changes the encoding: the type goes through postcard whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Message)]
pub struct Attributed {
    #[serde(skip)]
    pub skipped: u32,
    pub kept: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Message)]
pub enum Choice {
    One(u8),
    Two { a: String },
}

fn same_as_postcard<M: Message + PartialEq + std::fmt::Debug>(value: &M) {
    let ours = encode(value);
    let theirs = postcard::to_allocvec(value).expect("postcard encodes it");
    assert_eq!(ours, theirs, "bytes of {value:?}");
    assert_eq!(&decode::<M>(&ours).expect("decodes"), value);
}

fn same_decoding<M: Message + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    let ours = decode::<M>(bytes).ok();
    let theirs = postcard::from_bytes::<M>(bytes).ok();
    assert_eq!(ours, theirs, "decoding {bytes:?}");
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Plain),
        any::<u32>().prop_map(Kind::Tagged),
        any::<i8>().prop_map(|x| Kind::Named { x }),
    ]
}

prop_compose! {
    fn everything()(
        flag: bool, byte: u8, signed: i8, short: i16, word: u32, wide: i128,
        real in any::<f64>().prop_filter("NaN is not equal to itself", |r| !r.is_nan()),
        name in ".{0,12}", maybe: Option<u16>,
        list in proptest::collection::vec(any::<i32>(), 0..6),
        kind in kind(),
        map in proptest::collection::btree_map(".{0,4}", any::<u8>(), 0..3),
        a: i64, b: u64, letter: char,
    ) -> Everything {
        Everything {
            flag, byte, signed, short, word, wide, real, name, maybe, list, kind, map,
            nested: Small { a, b }, letter, unit: (),
        }
    }
}

proptest! {
    #[test]
    fn derived_structs_encode_as_postcard(value in everything(), s: u16, t in ".{0,8}") {
        same_as_postcard(&value);
        same_as_postcard(&value.nested);
        same_as_postcard(&Pair(s, t));
    }

    #[test]
    fn any_bytes_decode_as_postcard_decodes_them(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
        same_decoding::<Small>(&bytes);
        same_decoding::<Everything>(&bytes);
        same_decoding::<Pair>(&bytes);
        same_decoding::<Attributed>(&bytes);
        same_decoding::<Choice>(&bytes);
        same_decoding::<Blob>(&bytes);
    }

    #[test]
    fn byte_vectors_of_any_length_encode_as_postcard_and_cut_short_fail_as_it_does(
        before: u16,
        data in proptest::collection::vec(any::<u8>(), 0..5000),
        after in ".{0,4}",
        cut: prop::sample::Index,
    ) {
        let blob = Blob { before, data, after };
        same_as_postcard(&blob);
        let bytes = encode(&blob);
        same_decoding::<Blob>(&bytes[..cut.index(bytes.len())]);
    }

    #[test]
    fn an_encoding_cut_short_is_an_error_not_a_panic(value in everything(), cut: prop::sample::Index) {
        let bytes = encode(&value);
        let end = cut.index(bytes.len());
        same_decoding::<Everything>(&bytes[..end]);
    }
}

#[test]
fn unit_structs_types_with_serde_attributes_and_enums_round_trip() {
    same_as_postcard(&Nothing);
    same_as_postcard(&Attributed {
        skipped: 0,
        kept: 7,
    });
    same_as_postcard(&Choice::Two { a: "x".into() });
    same_as_postcard(&Choice::One(3));
}

#[test]
fn bad_bytes_are_a_coded_error() {
    let error = decode::<Small>(&[0x80]).expect_err("a varint cut short");
    assert_eq!(error.code(), switchboard_sdk::codes::BAD_REQUEST);
    assert!(error.message().contains("Small"), "{}", error.message());
}

/// A message that borrows: its fields point into the bytes it was read from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Message)]
pub struct Chunk<'a> {
    pub name: &'a str,
    pub data: &'a [u8],
    pub index: u32,
    pub kind: Kind,
}

proptest! {
    #[test]
    fn borrowing_messages_encode_as_postcard_and_read_without_a_copy(
        name in ".{0,12}",
        data in proptest::collection::vec(any::<u8>(), 0..64),
        index: u32,
        kind in kind(),
    ) {
        let chunk = Chunk { name: &name, data: &data, index, kind };
        let ours = switchboard_sdk::encode_ref(&chunk);
        prop_assert_eq!(&ours, &postcard::to_allocvec(&chunk).expect("postcard encodes it"));
        let back: Chunk<'_> = switchboard_sdk::decode_ref(&ours).expect("decodes");
        prop_assert_eq!(&back, &chunk);
        // Borrowed: the bytes of `back.data` are inside `ours`.
        let range = ours.as_ptr_range();
        prop_assert!(back.data.is_empty() || range.contains(&back.data.as_ptr()));
    }

    #[test]
    fn any_bytes_decode_as_a_borrowing_message_as_postcard_decodes_them(
        bytes in proptest::collection::vec(any::<u8>(), 0..48),
    ) {
        let ours = switchboard_sdk::decode_ref::<Chunk<'_>>(&bytes).ok();
        let theirs = postcard::from_bytes::<Chunk<'_>>(&bytes).ok();
        prop_assert_eq!(ours, theirs);
    }
}

#[test]
fn a_borrowing_message_has_a_contract_and_a_family() {
    use switchboard_sdk::{view_contract, MessageRef};
    let contract = <Chunk<'static> as MessageRef<'static>>::VIEW_CONTRACT;
    assert!(contract.id.contains("::Chunk@1#"), "{}", contract.id);
    assert_eq!(view_contract::<Chunk<'static>>(), contract);
    // An owned message is its own family, with its own contract.
    assert_eq!(view_contract::<Small>(), Small::CONTRACT);
}
