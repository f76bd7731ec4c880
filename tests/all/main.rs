//! End-to-end tests, compiled as one binary: real cdylibs from `examples/`, a real host.

mod audit;
mod bus;
mod bus_plugins;
mod calls;
mod caps;
mod lifecycle;
mod loading;
mod not_applied;
mod packages;
mod preflight;
mod state;
