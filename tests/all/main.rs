//! End-to-end tests, compiled as one binary: real cdylibs from `examples/`, a real host.

mod audit;
mod bus;
mod bus_boundaries;
mod bus_plugins;
mod calls;
mod caps;
mod demo;
mod dev_manifest;
mod discovery;
mod escape_suite;
mod extend;
mod files;
mod health;
mod identity;
mod install;
mod install_crash;
mod install_faults;
mod isolated;
mod isolated_fifty;
mod lifecycle;
mod load_guards;
mod loading;
mod metrics;
mod not_applied;
mod packages;
mod preflight;
mod registries;
mod registry_publish;
mod registry_server;
mod reload;
mod revocation;
#[cfg(target_os = "linux")]
mod sandbox;
mod slo;
mod state;
mod traces;
