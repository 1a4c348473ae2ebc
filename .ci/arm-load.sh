#!/usr/bin/env bash
# ARM client load test against the local simulator (500 workspaces x 20 instances, 50 ms latency,
# 10 % 429s): lists the fleet, stops 1 000 instances, asserts nothing lost/duplicated and that
# every ARM call is a page, an action, a poll or a throttled retry. Loopback traffic only.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test -p curfew-arm --release --test load -- --ignored --nocapture --test-threads=1
