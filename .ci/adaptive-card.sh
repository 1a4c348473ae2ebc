#!/usr/bin/env bash
# The Teams Adaptive Card, parsed, validated and rendered by Microsoft's `adaptivecards` renderer
# (npm, pinned in .ci/adaptive-card/package-lock.json) in jsdom: the card is docs/notify.md's
# "Teams rendering of the pending sample", which `cargo test -p curfew-notify` keeps equal to
# what `teams_message` sends. Needs node and npm; installs into .ci/adaptive-card/node_modules.
set -euo pipefail
cd "$(dirname "$0")/adaptive-card"
timeout 300 npm ci --no-audit --no-fund --loglevel=error
timeout 60 node check.mjs ../../docs/notify.md
