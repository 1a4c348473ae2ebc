#!/usr/bin/env bash
# Fuzzes every parser Curfew reads untrusted input with (docs/fuzzing.md): installs cargo-fuzz
# (pinned) if missing, builds the targets once, seeds their corpora from testdata/, then runs
# each target for FUZZ_SECONDS (default 60), two at a time (the CI machine has 2 cores).
# Fails on any crash, timeout (a hang) or out-of-memory; the inputs land in fuzz/artifacts/.
#   bash .ci/fuzz.sh            FUZZ_SECONDS=10 bash .ci/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-2}
command -v cargo-fuzz >/dev/null || cargo install -q --locked cargo-fuzz --version 0.13.1
# libfuzzer-sys compiles libFuzzer's C++ sources.
if ! command -v c++ >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends g++ >/dev/null
fi
# `-s none`: no sanitizer, so the stable toolchain builds the targets (sanitizers need nightly
# `-Z` flags; Curfew forbids unsafe code, so AddressSanitizer would add little; docs/fuzzing.md).
cd fuzz
unset CARGO_TARGET_DIR
cargo fuzz build -s none --debug-assertions
bash seed.sh >/dev/null
mkdir -p artifacts logs
targets=$(cargo fuzz list)
run() {
  local t=$1
  mkdir -p "artifacts/$t"
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: memory is bounded.
  if cargo fuzz run -s none --debug-assertions "$t" "corpus/$t" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"logs/$t.log" 2>&1; then
    echo "$t: ok, $(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "logs/$t.log" | grep -Eo '[0-9]+$') executions, $(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "logs/$t.log" | tail -1)"
  else
    echo "$t: FAILED (fuzz/logs/$t.log, input in fuzz/artifacts/$t/)"
    tail -30 "logs/$t.log"
    return 1
  fi
}
export -f run
export seconds
printf '%s\n' $targets | xargs -P "$jobs" -I{} bash -c 'run {}'
