#!/usr/bin/env bash
# The deployable zip runs on the host and carries no simulator: builds it with
# scripts/package.sh, checks the binary needs at most glibc 2.28 (its symbol versions), and that
# the packaged binary holds none of armsim's code (its source paths, which every compiled
# function's panic locations carry) and has no `demo` command, while the default build (the
# CLI people install) does hold them: the check can fail.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

cargo build --release -q -p curfew
cli="$target_dir/release/curfew"
if ! grep -qa 'armsim/src/' "$cli"; then
  echo "package-check: the default build should link armsim (for curfew demo); the check is blind" >&2
  exit 1
fi

bash scripts/package.sh
bin=dist/app/curfew
if grep -qa 'armsim/src/' "$bin"; then
  echo "package-check: FAIL: the packaged binary contains armsim code:" >&2
  grep -ao 'armsim/src/[a-z_/]*\.rs' "$bin" | sort -u | head >&2
  exit 1
fi
# OTLP export is built into the deployable binary (docs/operations.md, Telemetry).
if ! grep -qa 'opentelemetry-otlp-' "$bin"; then
  echo "package-check: FAIL: the packaged binary has no OTLP exporter (the otel feature)" >&2
  exit 1
fi
if "$bin" demo --days 1 >/dev/null 2>&1; then
  echo "package-check: FAIL: the packaged binary still has 'curfew demo'" >&2
  exit 1
fi
# The Functions host images include Debian 11 (glibc 2.31): the binary may need at most 2.28.
command -v objdump >/dev/null || { echo "package-check: objdump (binutils) is missing" >&2; exit 1; }
glibc="$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)"
if [ -z "$glibc" ] || [ "$(printf '%s\n2.28\n' "$glibc" | sort -V | tail -1)" != "2.28" ]; then
  echo "package-check: FAIL: dist/app/curfew needs glibc ${glibc:-?}; at most 2.28 is allowed" >&2
  exit 1
fi
native="$(objdump -T "$cli" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)"
echo "package-check: packaged binary needs glibc $glibc (the native build needs $native)"
"$bin" --version
echo "package-check: ok (no armsim code, no demo command in dist/app/curfew; $(stat -c %s "$bin") bytes)"
