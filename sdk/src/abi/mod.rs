//! The stable ABI between hosts and plugins.
//!
//! This is the only module of the workspace that names `abi_stable` types (ARCHITECTURE D1).
//! Everything above it speaks plain Rust: [`Plugin`](crate::Plugin), [`Context`](crate::Context),
//! [`Output`], and on the host side [`LoadedModule`] and [`RawPlugin`]. Keeping the dependency
//! behind one module makes a later move (to `stabby` or a hand-written `repr(C)` table) a local
//! change.
//!
//! The protocol is the one of ARCHITECTURE D4: `start`, `stop`, `dispatch(method, request bytes)
//! -> response bytes`, `on_event(topic, envelope)`, `snapshot`/`restore` and `health`; SDK ABI
//! 1.3 adds `dispatch_stream` (chunks to a host-provided sink) and the host's `usage` service;
//! SDK ABI 1.4 adds `window_entry`, a plain function the host calls directly for small calls
//! (the response written into a window on the host's stack; [`RawPlugin::dispatch_window`]);
//! SDK ABI 1.5 lets that entry take a request gathered from runs of the caller's bytes
//! ([`gather`]), so long byte fields reach the plugin without a copy; SDK ABI 1.6 adds
//! `command_entries`, one such function per command, which the host calls without a command
//! number (no `match` in the plugin, and a frame sized for that command alone).
//!
//! Two halves live here:
//! - [`export`](crate::__export_plugin_root) — what a plugin library exports (the root module,
//!   built from a type implementing [`Plugin`](crate::Plugin) by the `#[plugin]` macro);
//! - [`import`](self::LoadedModule) — what a host uses to open a library and drive a plugin.

// abi_stable's derive macros expand to impls inside anonymous consts, and opening a
// library is unsafe by nature.
#![expect(
    non_local_definitions,
    reason = "abi_stable's derives define impls inside consts; confined to this module (D1)"
)]
#![expect(
    unsafe_code,
    reason = "abi_stable's derives emit unsafe impls, and opening a library is unsafe (D1, D2)"
)]

mod export;
#[doc(hidden)]
pub mod gather;
mod import;
mod output;
mod types;

/// A command's own entries (SDK ABI 1.6), which `#[plugin]` lists in
/// [`PluginEntry::COMMAND_ENTRIES`](crate::PluginEntry::COMMAND_ENTRIES).
#[doc(hidden)]
pub use self::export::CommandEntryOf;
pub use self::export::{instantiate, panic_message_hook_install, root_module};
pub use self::import::{
    AbiLoadError, ChunkReceiver, HostServices, LoadedModule, RawPlugin, ResponseBuffer, ServiceCall,
};
pub use self::output::Output;
#[doc(hidden)]
pub use self::types::CommandEntry;
/// The window a host's small typed call encodes its request into
/// (`Message::__encode_window`), on its stack.
#[doc(hidden)]
pub use crate::__private::wire::WindowSink;

#[doc(hidden)]
pub mod __private {
    //! Items used by the code that `#[plugin]` and `__export_plugin_root!` generate.
    pub use super::types::PluginModuleRef;
    pub use abi_stable::library::{
        __call_root_module_loader, CheckTypeLayout, LibHeader, RootModuleResult,
    };
}

/// The major version of the SDK ABI. Hosts refuse plugins built against another major.
pub const SDK_ABI_MAJOR: u32 = 1;
/// The minor version of the SDK ABI. A host supports plugins whose minor is at most its own.
pub const SDK_ABI_MINOR: u32 = 6;
/// The SDK ABI version as `major.minor`, as written in manifests.
pub const SDK_ABI_VERSION: &str = "1.6";

/// Exports the root module of a plugin library. Used by the code `#[plugin]` generates; plugin
/// authors never call it directly.
///
/// The symbol name is the one `abi_stable` looks up (checked by a unit test), written out here
/// so that plugin crates need no direct dependency on `abi_stable`.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_plugin_root {
    ($plugin:ty) => {
        #[no_mangle]
        #[expect(non_upper_case_globals, reason = "the symbol name is fixed by the ABI")]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::abi::__private::LibHeader = {
            extern "C" fn __switchboard_root() -> $crate::abi::__private::RootModuleResult {
                $crate::abi::__private::__call_root_module_loader(
                    $crate::abi::root_module::<$plugin>,
                )
            }
            // SAFETY: the constructor returns the prefix reference of a `PluginModule`, the
            // module type named here, as `from_constructor` requires.
            unsafe {
                $crate::abi::__private::LibHeader::from_constructor::<
                    $crate::abi::__private::PluginModuleRef,
                >(
                    __switchboard_root,
                    $crate::abi::__private::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn exported_symbol_name_matches_abi_stable() {
        assert_eq!(
            abi_stable::library::ROOT_MODULE_LOADER_NAME,
            "_1as_0lib_1header_0root_bmodule_bloader"
        );
    }
}
