//! Criterion benches of Switchboard, run with `cargo bench -p switchboard-benches`.
//!
//! - `caps` — capability checks through a real host's grant table (`caps/check_cached`,
//!   `caps/check_denied`, `caps/check_path`), an audit append (`caps/audit_append`), and an
//!   audit query over 1,000,000 rows filtered by plugin and time range
//!   (`caps/audit_query_1m`).
