//! The comparison suite's native peers, built as one cdylib that the suite opens at run time:
//!
//! - plain `extern "C"` functions (`peers_noop`, `peers_add`, `peers_reverse`), the floor of a
//!   call into a plugin library for the struct and 4 KiB workloads, looked up with `libloading`;
//! - an `abi_stable` root module (`PeersModRef`) with the same three functions behind
//!   `abi_stable` types, loaded with `RootModule::load_from_file`, which checks the layout of
//!   every type in the module against the caller's before handing it out.
//!
//! The crate is also an rlib so the suite shares the interface types with the library it loads.

use std::sync::atomic::{AtomicU64, Ordering};

use abi_stable::library::RootModule;
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RSlice, RVec};
use abi_stable::{export_root_module, package_version_strings, sabi_extern_fn, StableAbi};

/// The struct workload's request: two numbers to add (hello's `AddRequest`, as a C struct).
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddIn {
    /// The first addend.
    pub a: i64,
    /// The second addend.
    pub b: i64,
}

/// The struct workload's response: the sum and how many additions were done (hello's
/// `AddResponse`, as a C struct).
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddOut {
    /// `a + b`, saturating.
    pub sum: i64,
    /// Additions done so far by this library, this one included.
    pub calls: u64,
}

/// Additions done so far, as hello's `add` counts them.
static ADDITIONS: AtomicU64 = AtomicU64::new(0);

fn add_impl(req: AddIn) -> AddOut {
    AddOut {
        sum: req.a.saturating_add(req.b),
        calls: ADDITIONS.fetch_add(1, Ordering::Relaxed) + 1,
    }
}

/// The signature of [`peers_noop`].
pub type NoopFn = extern "C" fn() -> u64;
/// The signature of [`peers_add`].
pub type AddFn = extern "C" fn(AddIn) -> AddOut;
/// The signature of [`peers_reverse`].
pub type ReverseFn = unsafe extern "C" fn(*const u8, usize, *mut u8);

/// Does nothing and returns 0.
#[no_mangle]
pub extern "C" fn peers_noop() -> u64 {
    0
}

/// Adds two numbers, the struct passed and returned by value.
#[no_mangle]
pub extern "C" fn peers_add(req: AddIn) -> AddOut {
    add_impl(req)
}

/// Writes the `len` bytes at `input` to `out`, reversed.
///
/// # Safety
///
/// `input` must point to `len` readable bytes and `out` to `len` writable bytes that do not
/// overlap them.
#[no_mangle]
pub unsafe extern "C" fn peers_reverse(input: *const u8, len: usize, out: *mut u8) {
    // SAFETY: the caller guarantees `input` points to `len` readable bytes.
    let input = unsafe { std::slice::from_raw_parts(input, len) };
    // SAFETY: the caller guarantees `out` points to `len` writable bytes, apart from `input`.
    let out = unsafe { std::slice::from_raw_parts_mut(out, len) };
    for (o, i) in out.iter_mut().zip(input.iter().rev()) {
        *o = *i;
    }
}

/// The root module: the three workloads behind `abi_stable` types.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PeersModRef)))]
#[sabi(missing_field(panic))]
pub struct PeersMod {
    /// Does nothing and returns 0.
    pub noop: extern "C" fn() -> u64,
    /// Adds two numbers.
    pub add: extern "C" fn(AddIn) -> AddOut,
    /// The bytes reversed, in a new `RVec` (abi_stable's FFI-safe `Vec`).
    #[sabi(last_prefix_field)]
    pub reverse: extern "C" fn(RSlice<'_, u8>) -> RVec<u8>,
}

impl RootModule for PeersModRef {
    abi_stable::declare_root_module_statics! {PeersModRef}
    const BASE_NAME: &'static str = "peers_abi_plugin";
    const NAME: &'static str = "peers_abi_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

#[sabi_extern_fn]
fn abi_noop() -> u64 {
    0
}

#[sabi_extern_fn]
fn abi_add(req: AddIn) -> AddOut {
    add_impl(req)
}

#[sabi_extern_fn]
fn abi_reverse(input: RSlice<'_, u8>) -> RVec<u8> {
    input.iter().rev().copied().collect()
}

/// The root module this library exports.
#[export_root_module]
pub fn peers_root_module() -> PeersModRef {
    PeersMod {
        noop: abi_noop,
        add: abi_add,
        reverse: abi_reverse,
    }
    .leak_into_prefix()
}
