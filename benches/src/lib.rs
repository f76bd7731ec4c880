//! Benchmarks for Switchboard; the library itself is empty.
//!
//! `cargo bench -p switchboard-benches --bench dispatch` measures what one command call costs:
//! the `checksum`, `add` and `reverse` commands of the example `hello` plugin, called through
//! `switchboard-host` (raw bytes, a small typed message, a 4 KiB payload), against the same
//! checksum as a direct Rust call, a `dyn Fn` call and a plain `extern "C"` function looked up
//! in the same `libhello.so`. After criterion's report it prints each Switchboard path's median
//! as a multiple of the `extern "C"` baseline.
