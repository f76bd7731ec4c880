#!/usr/bin/env bash
# The comparison suite in one command: builds hello (the example plugin) and this suite in
# release, runs every case in one process, prints the Markdown table and writes it to
# benches/peers/results.md. Extra arguments go to the suite (--rounds N, --sample-ms N).
# Safe to run again: cargo rebuilds only what changed and the table is overwritten.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

# hello into the same target directory the workspace's benches and the CLI build it into.
(cd "$root" && cargo build --quiet --release -p hello --target-dir "$root/target/examples")
hello="$root/target/examples/release/libhello.so"

# The suite and its abi_stable plugin (a cdylib beside the `peers` binary).
(cd "$here" && cargo build --quiet --release --workspace)
for built in "$here/target/release/peers" "$here/target/release/libpeers_abi_plugin.so"; do
    [[ -f "$built" ]] || { echo "run.sh: expected $built after the build" >&2; exit 1; }
done

version() { # the locked version of a package of the suite
    awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/"/, "", $3); print $3; exit }' \
        "$here/Cargo.lock"
}

export PEERS_RUSTC="$(rustc --version)"
export PEERS_DATE="$(date -u '+%Y-%m-%d %H:%M UTC')"
export PEERS_VERSIONS="Wasmtime $(version wasmtime), Extism $(version extism), abi_stable $(version abi_stable)"
exec "$here/target/release/peers" --hello "$hello" --out "$here/results.md" "$@"
