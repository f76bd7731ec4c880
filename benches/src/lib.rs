//! Criterion benchmarks for Switchboard; the benches live in `benches/`, each beside its
//! baselines. Run one with `cargo bench -p switchboard-benches --bench NAME`.
