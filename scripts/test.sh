#!/usr/bin/env bash
# The project's test command (README "Run the tests"; CI runs it through .ci/run):
# format check, clippy with warnings as errors, then every test of every crate.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
python3 scripts/module_graph.py --check >/dev/null
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
