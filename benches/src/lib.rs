//! Criterion benchmarks for Switchboard; the library itself is empty. Each bench measures
//! Switchboard beside its baselines in the same run. Run one with
//! `cargo bench -p switchboard-benches --bench NAME`:
//!
//! - `dispatch` — one command call (raw bytes, a small typed message, a 4 KiB payload) against
//!   a direct Rust call, a `dyn Fn` call and a plain `extern "C"` function in the same
//!   `libhello.so`; prints each path's median as a multiple of the `extern "C"` baseline.
//! - `resolve` — version solving over a synthetic 1,000 × 10 index, and an unsatisfiable
//!   report, beside a plain scan of the index.
//! - `package` — verifying, and verifying and loading, a signed package of the `hello` plugin.
//! - `caps` — a cached capability check and a denied one (against a plain atomic load), an audit
//!   append, and an audit query over 1,000,000 rows.
//! - `install` — installing one signed package into a new generation and activating it,
//!   rolling back between two generations, and opening a host whose current generation holds
//!   every example plugin and starting them all.
//! - `isolation` — a no-op and a 4 KiB raw-bytes call to hello running isolated (in a
//!   sandboxed runner process), loading, starting and removing it, beside a bare unix-socket
//!   round trip with a child process (blocking, and polling as the call path does) and the
//!   same call in-process; prints each median as a multiple of the unix-socket baseline.
//! - `extend` — an extension point with no contribution (`extend/empty_point`, target ≤ 5 ns),
//!   with one, and with four in-process contributions threading a value (`extend/filter_4`,
//!   target ≤ 4 × `dispatch/typed_small`, measured in the same run); prints each median as a
//!   multiple of `dispatch/typed_small`.
//! - `lifecycle` — a hot reload of `hello` in-process (`lifecycle/reload`, target ≤ 100 ms),
//!   beside loading and starting it in a fresh host (`lifecycle/load`); prints the memory each
//!   reload leaves mapped.
