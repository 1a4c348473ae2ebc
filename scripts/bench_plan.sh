#!/usr/bin/env bash
# Wall time and peak RSS of `curfew plan` over N instances x 3 schedules for a 24-hour window.
# usage: scripts/bench_plan.sh [N=100000] [RUNS=5]
#   BASELINE=/path/to/other/curfew scripts/bench_plan.sh ...   # also time that binary, runs
#   interleaved with this build's, and print the ratio: on a shared, noisy machine the ratio
#   within one run is the figure to trust, not a wall time from another day.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
runs=${2:-5}
mkdir -p bench-data
inv="bench-data/fleet-$n.json"
[ -f "$inv" ] || python3 scripts/gen_inventory.py "$n" "$inv"
cargo build --release -q -p curfew
bin="${CARGO_TARGET_DIR:-target}/release/curfew"
bins=("$bin")
[ -n "${BASELINE:-}" ] && bins+=("$BASELINE")
echo "inventory: $inv ($(du -h "$inv" | cut -f1)), $n instances x 3 schedules, window 24 h"
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for fmt in json text; do
  declare -A walls=() rss=() cpus=()
  for _ in $(seq "$runs"); do
    for b in "${bins[@]}"; do
      out=$( { /usr/bin/time -f '%e %M %U %S' "$b" plan --inventory "$inv" --from 2026-03-08T00:00:00Z --to 2026-03-09T00:00:00Z --format "$fmt" > bench-data/plan.out; } 2>&1 | tail -1)
      read -r w m u s <<< "$out"
      walls[$b]+="$w "; rss[$b]+="$m "; cpus[$b]+="$(awk -v a="$u" -v b="$s" 'BEGIN{print a+b}') "
    done
  done
  lines=$(wc -l < bench-data/plan.out)
  for b in "${bins[@]}"; do
    # shellcheck disable=SC2086
    label=$([ "$b" = "$bin" ] && echo "plan" || echo "baseline")
    # shellcheck disable=SC2086
    echo "$label --format $fmt: median wall $(median ${walls[$b]}) s, median CPU (user+sys) $(median ${cpus[$b]}) s, median peak RSS $(( $(median ${rss[$b]}) / 1024 )) MB over $runs runs ($lines output lines; load average $(cut -d' ' -f1 /proc/loadavg))"
  done
  if [ -n "${BASELINE:-}" ]; then
    # shellcheck disable=SC2086
    awk -v a="$(median ${walls[$bin]})" -v b="$(median ${walls[$BASELINE]})" 'BEGIN{printf "ratio this build / baseline (median wall): %.2f\n", a/b}'
  fi
  unset walls rss cpus
done
