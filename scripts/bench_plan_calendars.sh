#!/usr/bin/env bash
# `curfew plan` with calendars off and on, the same release binary, runs interleaved: the
# ratio within one run is the figure (docs/benchmarks.md "Calendars").
# usage: scripts/bench_plan_calendars.sh [N=100000] [RUNS=5]
#   BIN=/path/to/curfew       # a release binary already built (default: build this tree)
#   BASELINE=/path/to/curfew  # also time another binary without calendars (calendars off = free?)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
runs=${2:-5}
mkdir -p bench-data
inv="bench-data/fleet-$n.json"
[ -f "$inv" ] || python3 scripts/gen_inventory.py "$n" "$inv"
if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p curfew
  BIN="${CARGO_TARGET_DIR:-target}/release/curfew"
fi
cal=testdata/calendars/bench-holidays.json
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A cmd=(
  [off]="$BIN plan --inventory $inv --from 2026-03-08T00:00:00Z --to 2026-03-09T00:00:00Z --format json"
  [on]="$BIN plan --inventory $inv --from 2026-03-08T00:00:00Z --to 2026-03-09T00:00:00Z --format json --calendar $cal"
)
labels=(off on)
if [ -n "${BASELINE:-}" ]; then
  cmd[baseline]="$BASELINE plan --inventory $inv --from 2026-03-08T00:00:00Z --to 2026-03-09T00:00:00Z --format json"
  labels+=(baseline)
fi
echo "inventory: $inv, $n instances x 3 schedules, window 24 h, calendar $cal"
declare -A walls=() rss=()
for _ in $(seq "$runs"); do
  for l in "${labels[@]}"; do
    # shellcheck disable=SC2086
    out=$( { /usr/bin/time -f '%e %M' ${cmd[$l]} > "bench-data/plan-$l.out"; } 2>&1 | tail -1)
    read -r w m <<< "$out"
    walls[$l]+="$w "; rss[$l]+="$m "
  done
done
for l in "${labels[@]}"; do
  rows=$(grep -c '"instance"' "bench-data/plan-$l.out" || true)
  sup=$(grep -c '"suppressedBy"' "bench-data/plan-$l.out" || true)
  # shellcheck disable=SC2086
  echo "calendars $l: median wall $(median ${walls[$l]}) s, median peak RSS $(( $(median ${rss[$l]}) / 1024 )) MB over $runs runs ($rows rows, $sup suppressed; load average $(cut -d' ' -f1 /proc/loadavg))"
done
# shellcheck disable=SC2086
awk -v a="$(median ${walls[on]})" -v b="$(median ${walls[off]})" 'BEGIN{printf "ratio calendars on / off (median wall): %.2f\n", a/b}'
if [ -n "${BASELINE:-}" ]; then
  # shellcheck disable=SC2086
  awk -v a="$(median ${walls[off]})" -v b="$(median ${walls[baseline]})" 'BEGIN{printf "ratio calendars off / baseline (median wall): %.2f\n", a/b}'
fi
