//! End-to-end tests, compiled as one binary: real cdylibs from `examples/`, a real host.

mod calls;
mod lifecycle;
mod loading;
mod packages;
mod preflight;
