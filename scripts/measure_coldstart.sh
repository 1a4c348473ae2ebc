#!/usr/bin/env bash
# Measures the custom handler on the release build:
# - cold start: process spawn -> first 200 on GET / (the host's readiness poll), without and
#   with the governor configured (the governor's runtime is built lazily, after binding);
# - RSS after the first Tick: with no governor, and on a 1 000-instance fleet evaluated inline
#   against the ARM simulator with a SQLite store.
#   scripts/measure_coldstart.sh            # 20 / 10 runs
#   CURFEW_MEASURE_RUNS=50 scripts/measure_coldstart.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo test --release -p curfew --test functions_e2e -- --ignored --nocapture measure_cold_start_and_rss
cargo test --release -p curfew --test functions_governor_e2e -- --ignored --nocapture \
  measure_cold_start_and_rss_on_1000_instances
