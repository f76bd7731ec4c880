//! Records the target triple, so the host can check plugins' platforms against its own.

fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=SWITCHBOARD_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
