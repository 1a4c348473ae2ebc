#!/usr/bin/env bash
# Builds the deployable Azure Functions app: a release `curfew` for Linux x86-64, host.json and
# one folder per function, as dist/app/ and dist/curfew-app.zip; prints the sizes. The binary
# is built without the `demo` feature: the deployed app carries no ARM simulator, fault
# injector or fake token endpoint (.ci/package-check.sh proves it), and with the `otel` feature:
# OTLP traces and metrics, off until OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/operations.md).
#   scripts/package.sh            # x86_64 Linux, linked against glibc 2.28 (Debian 10 and later:
#                                 # the Functions host images run Debian 11, glibc 2.31) with
#                                 # cargo-zigbuild and the `ziglang` PyPI package (.ci/run installs both)
#   CURFEW_TARGET=x86_64-unknown-linux-gnu scripts/package.sh     # native build, this host's glibc
#   CURFEW_TARGET=x86_64-unknown-linux-musl scripts/package.sh   # if that target is installed
#   CURFEW_FEATURES= scripts/package.sh                           # without OTLP export (default: otel)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

target="${CURFEW_TARGET:-x86_64-unknown-linux-gnu.2.28}"
host="$(rustc -vV | sed -n 's/^host: //p')"
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

features=(--no-default-features)
# Unset: the deployable default (OTLP export built in); set, even empty: exactly these features.
if [[ -n "${CURFEW_FEATURES-otel}" ]]; then
  features+=(--features "${CURFEW_FEATURES-otel}")
fi
if [[ "$target" == *-gnu.2.* ]]; then
  # A glibc version suffix: zig links against that glibc's symbol versions.
  command -v cargo-zigbuild >/dev/null || { echo "package.sh: cargo-zigbuild is missing (cargo install --locked cargo-zigbuild; pip install ziglang)" >&2; exit 1; }
  cargo zigbuild --release -p curfew --target "$target" "${features[@]}"
  bin="$target_dir/${target%.2.*}/release/curfew"
elif [[ "$host" == "$target" ]]; then
  cargo build --release -p curfew "${features[@]}"
  bin="$target_dir/release/curfew"
else
  cargo build --release -p curfew --target "$target" "${features[@]}"
  bin="$target_dir/$target/release/curfew"
fi

dist="$root/dist"
app="$dist/app"
rm -rf "$app" "$dist/curfew-app.zip"
mkdir -p "$app"
cp host.json "$app/"
cp "$bin" "$app/curfew"
strip "$app/curfew" 2>/dev/null || true
chmod 755 "$app/curfew"
for dir in functions/*/; do
  name="$(basename "$dir")"
  [[ -f "$dir/function.json" ]] || continue
  mkdir -p "$app/$name"
  cp "$dir/function.json" "$app/$name/"
done

# The host expects host.json at the zip's root; keep the binary's executable bit.
if command -v zip >/dev/null; then
  (cd "$app" && zip -qr -X "$dist/curfew-app.zip" .)
else
  (cd "$app" && python3 -m zipfile -c "$dist/curfew-app.zip" ./*)
fi

size() { stat -c %s "$1"; }
glibc="$(objdump -T "$app/curfew" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1 || true)"
echo "target:            $target ${glibc:+(needs $glibc or newer)}"
echo "functions:         $(cd "$app" && ls -d */ | tr -d / | tr '\n' ' ')"
echo "binary (stripped): $(size "$app/curfew") bytes"
echo "dist/app:          $(du -sb "$app" | cut -f1) bytes"
echo "curfew-app.zip:    $(size "$dist/curfew-app.zip") bytes"
