#!/usr/bin/env bash
# The whole test suite: format and lint checks, the binaries the end-to-end tests
# start, then every unit, property and end-to-end test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --bins
cargo test --workspace "$@"
