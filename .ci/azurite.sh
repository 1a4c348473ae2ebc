#!/usr/bin/env bash
# Starts Azurite's table service (the real storage emulator) on 127.0.0.1 for the
# curfew-store conformance suite, installing azurite@3.35.0 from npm on first use.
#
#   .ci/azurite.sh                           # start, print the endpoint, run until Ctrl-C
#   .ci/azurite.sh cargo test -p curfew-store  # start, run the command with
#                                            # CURFEW_AZURITE_TABLE_ENDPOINT set, stop
#
# Environment: CURFEW_AZURITE_PORT (default: a free port), CURFEW_AZURITE_HOME (install
# folder, default: target/azurite). Data lives in memory; the work folder is a temp dir.
# 3.35.0 is the newest Azurite that runs on Node 20 (later releases want Node 22).
set -euo pipefail

AZURITE_VERSION=3.35.0
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home="${CURFEW_AZURITE_HOME:-$root/target/azurite}"
bin="$home/node_modules/.bin/azurite-table"

installed_version() {
  node -e 'try{console.log(require(process.argv[1]).version)}catch(e){}' \
    "$home/node_modules/azurite/package.json" 2>/dev/null || true
}

# Whether the installed modules load (an npm cache left half-written by a killed install has
# been seen to yield packages without their main file).
modules_load() {
  (cd "$home" && node -e 'require("tslib"); require("azurite/package.json")') >/dev/null 2>&1
}

if [[ ! -x "$bin" || "$(installed_version)" != "$AZURITE_VERSION" ]] || ! modules_load; then
  echo "azurite.sh: installing azurite@$AZURITE_VERSION into $home" >&2
  mkdir -p "$home"
  npm install --prefix "$home" --no-audit --no-fund --loglevel=error \
    "azurite@$AZURITE_VERSION" >&2
  if ! modules_load; then
    echo "azurite.sh: the install does not load; verifying npm's cache and installing again" >&2
    rm -rf "$home"
    mkdir -p "$home"
    npm cache verify >&2
    npm install --prefix "$home" --no-audit --no-fund --loglevel=error --prefer-online \
      "azurite@$AZURITE_VERSION" >&2
  fi
fi

port="${CURFEW_AZURITE_PORT:-}"
if [[ -z "$port" ]]; then
  port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/curfew-azurite.XXXXXX")"
(cd "$work" && exec "$bin" --tableHost 127.0.0.1 --tablePort "$port" --inMemoryPersistence \
  --disableTelemetry --silent --skipApiVersionCheck \
  --disableProductStyleUrl) >"$work/azurite.log" 2>&1 &
pid=$!

stop() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT
trap 'exit 130' INT TERM

# Ready when the port accepts connections (bounded: 60 s).
for _ in $(seq 1 600); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    ready=1
    break
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "azurite.sh: azurite exited early:" >&2
    cat "$work/azurite.log" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ -z "${ready:-}" ]]; then
  echo "azurite.sh: azurite did not listen on 127.0.0.1:$port within 60 s" >&2
  cat "$work/azurite.log" >&2
  exit 1
fi

export CURFEW_AZURITE_TABLE_ENDPOINT="http://127.0.0.1:$port/devstoreaccount1"
echo "azurite.sh: azurite $AZURITE_VERSION table service ready (pid $pid)" >&2
echo "export CURFEW_AZURITE_TABLE_ENDPOINT=$CURFEW_AZURITE_TABLE_ENDPOINT"

if [[ $# -gt 0 ]]; then
  set +e
  "$@"
  status=$?
  set -e
  exit "$status"
fi
echo "azurite.sh: running until interrupted (Ctrl-C)" >&2
wait "$pid"
