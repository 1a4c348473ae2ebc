#!/usr/bin/env bash
# Wall time and peak RSS of `curfew plan` over N instances x 3 schedules for a 24-hour window.
# usage: scripts/bench_plan.sh [N=100000] [RUNS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
runs=${2:-5}
mkdir -p bench-data
inv="bench-data/fleet-$n.json"
[ -f "$inv" ] || python3 scripts/gen_inventory.py "$n" "$inv"
cargo build --release -q -p curfew
bin="${CARGO_TARGET_DIR:-target}/release/curfew"
echo "inventory: $inv ($(du -h "$inv" | cut -f1)), $n instances x 3 schedules, window 24 h"
for fmt in json text; do
  walls=(); rss=(); cpus=()
  for _ in $(seq "$runs"); do
    out=$( { /usr/bin/time -f '%e %M %U %S' "$bin" plan --inventory "$inv" --from 2026-03-08T00:00:00Z --to 2026-03-09T00:00:00Z --format "$fmt" > bench-data/plan.out; } 2>&1 | tail -1)
    read -r w m u s <<< "$out"
    walls+=("$w"); rss+=("$m"); cpus+=("$(awk -v a="$u" -v b="$s" 'BEGIN{print a+b}')")
  done
  lines=$(wc -l < bench-data/plan.out)
  median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  echo "plan --format $fmt: median wall $(median "${walls[@]}") s, median CPU (user+sys) $(median "${cpus[@]}") s, median peak RSS $(( $(median "${rss[@]}") / 1024 )) MB over $runs runs ($lines output lines; load average $(cut -d' ' -f1 /proc/loadavg))"
done
