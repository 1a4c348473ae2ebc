#!/usr/bin/env bash
# Measures the custom handler's cold start (process spawn -> first 200 on GET /, the host's
# readiness poll) and its RSS after the first Tick, on the release build.
#   scripts/measure_coldstart.sh            # 20 runs
#   CURFEW_MEASURE_RUNS=50 scripts/measure_coldstart.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo test --release -p curfew --test functions_e2e -- --ignored --nocapture measure_cold_start_and_rss
