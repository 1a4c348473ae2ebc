#!/usr/bin/env bash
# curfew-activity-reporter.sh — tells Curfew what is open on this Azure ML compute instance.
#
# Runs on the instance (install it from a setup script, see docs/idle.md). Every
# CURFEW_INTERVAL seconds it counts Jupyter kernels, terminals and sessions, SSH sessions,
# VS Code connections, Azure ML runs and custom application containers, and POSTs one small
# JSON report (schema curfew.activity/v1, docs/idle.md, with a fresh random nonce) to
# CURFEW_ENDPOINT, signed with HMAC-SHA256:
#   X-Curfew-Timestamp: <unix seconds>
#   X-Curfew-Signature: sha256=<hex HMAC-SHA256(key, "<timestamp>.<body>")>
#
# Usage: curfew-activity-reporter.sh [--once] [--dry-run] [--help]
#   --once      send one report and exit (default: loop forever)
#   --dry-run   print the JSON report on stdout and the headers on stderr; send nothing
#
# Configuration (environment, or KEY=value lines in CURFEW_REPORTER_CONFIG,
# default /etc/curfew/reporter.env):
#   CURFEW_ENDPOINT      URL of Curfew's ActivityReport function (required unless --dry-run):
#                        https://<function app>.azurewebsites.net/api/ActivityReport
#   CURFEW_KEY_FILE      file holding this instance's key (preferred), or
#   CURFEW_KEY           the key itself (the instance key, docs/idle.md, never the master key)
#   CURFEW_INSTANCE      compute instance name (default: $CI_NAME, else the host name)
#   CURFEW_COMPUTE_ID    the compute's ARM id (required unless --dry-run: the key is bound to it)
#   CURFEW_INTERVAL      seconds between reports (default 300)
#   JUPYTER_URL          local Jupyter server (default http://127.0.0.1:8888)
#   JUPYTER_TOKEN        its token (default: from `jupyter server list --json`, else none)
#   CURFEW_SSH_PORTS     SSH ports to count connections on (default "22 50000")
#   CURFEW_RUN_PATTERN   process command lines that mean an Azure ML run
#                        (default '/mnt/azureml/cr/j/')
#   CURFEW_IGNORE_CONTAINERS  extended regex of container names that are not custom apps
#                        (default empty; containers whose name or image mentions azureml
#                        count as runs, never as custom apps)
set -euo pipefail

readonly REPORTER_VERSION="curfew-activity-reporter/1"

once=0
dry_run=0
for arg in "$@"; do
  case "$arg" in
    --once) once=1 ;;
    --dry-run) dry_run=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "curfew-activity-reporter: unknown argument '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done

config="${CURFEW_REPORTER_CONFIG:-/etc/curfew/reporter.env}"
if [[ -r "$config" ]]; then
  # shellcheck disable=SC1090
  source "$config"
fi

instance="${CURFEW_INSTANCE:-${CI_NAME:-$(hostname)}}"
interval="${CURFEW_INTERVAL:-300}"
jupyter_url="${JUPYTER_URL:-http://127.0.0.1:8888}"
ssh_ports="${CURFEW_SSH_PORTS:-22 50000}"
run_pattern="${CURFEW_RUN_PATTERN:-/mnt/azureml/cr/j/}"
ignore_containers="${CURFEW_IGNORE_CONTAINERS:-}"

log() { echo "curfew-activity-reporter: $*" >&2; }

have() { command -v "$1" >/dev/null 2>&1; }

# Number of elements of the JSON array on stdin (0 when it is not one).
json_len() {
  if have python3; then
    python3 -c 'import json,sys
try:
    v = json.load(sys.stdin)
    print(len(v) if isinstance(v, list) else 0)
except Exception:
    print(0)'
  elif have jq; then
    jq 'if type == "array" then length else 0 end' 2>/dev/null || echo 0
  else
    log "neither python3 nor jq: cannot count Jupyter objects"
    echo 0
  fi
}

jupyter_token() {
  if [[ -n "${JUPYTER_TOKEN:-}" ]]; then
    printf '%s' "$JUPYTER_TOKEN"
  elif have jupyter && have python3; then
    jupyter server list --json 2>/dev/null | head -n 1 |
      python3 -c 'import json,sys
try: print(json.loads(sys.stdin.read()).get("token", ""), end="")
except Exception: pass' || true
  fi
}

# GET a Jupyter API path and count the array it returns; 0 if Jupyter does not answer.
jupyter_count() {
  local path="$1" token body
  token="$(jupyter_token)"
  local auth=()
  if [[ -n "$token" ]]; then
    auth=(-H "Authorization: token $token")
  fi
  if body="$(curl -fsS --max-time 5 "${auth[@]}" "$jupyter_url$path" 2>/dev/null)"; then
    printf '%s' "$body" | json_len
  else
    echo 0
  fi
}

# SSH: the larger of logged-in terminal sessions (`who`) and established connections on the
# SSH ports (`ss`); both see the same people, neither sees everything.
ssh_count() {
  local logged=0 connected=0 port filter=""
  if have who; then
    logged="$(who | grep -c . || true)"
  fi
  if have ss; then
    for port in $ssh_ports; do
      filter="${filter:+$filter or }sport = :$port"
    done
    connected="$(ss -Htn state established "( $filter )" 2>/dev/null | grep -c . || true)"
  fi
  echo $((logged > connected ? logged : connected))
}

# VS Code: established TCP connections held by VS Code server processes (~/.vscode-server,
# vscode-server, code-server); the count of such processes if `ss` cannot show owners.
vscode_count() {
  local pids n=0 pid
  have pgrep || {
    echo 0
    return
  }
  pids="$(pgrep -f '\.vscode-server|vscode-server|code-server' || true)"
  [[ -z "$pids" ]] && {
    echo 0
    return
  }
  if have ss; then
    local conns
    conns="$(ss -Htnp state established 2>/dev/null || true)"
    for pid in $pids; do
      if grep -q "pid=$pid," <<<"$conns"; then
        n=$((n + 1))
      fi
    done
    echo "$n"
  else
    grep -c . <<<"$pids"
  fi
}

# Running containers as "name<TAB>image" lines.
containers() {
  if have docker; then
    docker ps --format '{{.Names}}\t{{.Image}}' 2>/dev/null || true
  fi
}

# Azure ML runs: processes whose command line matches CURFEW_RUN_PATTERN, plus containers
# whose name or image mentions azureml.
run_count() {
  local procs=0 boxes=0
  if have pgrep; then
    procs="$(pgrep -fc -- "$run_pattern" || true)"
  fi
  boxes="$(containers | grep -ci 'azureml' || true)"
  echo $((${procs:-0} + ${boxes:-0}))
}

# Custom applications: every other running container, as a JSON array of names.
custom_apps_json() {
  local first=1 name image out="["
  while IFS=$'\t' read -r name image; do
    [[ -z "$name" ]] && continue
    if grep -qi 'azureml' <<<"$name $image"; then
      continue
    fi
    if [[ -n "$ignore_containers" ]] && grep -Eq -- "$ignore_containers" <<<"$name"; then
      continue
    fi
    name="${name//\\/\\\\}"
    name="${name//\"/\\\"}"
    if ((first)); then first=0; else out+=","; fi
    out+="\"$name\""
  done < <(containers)
  printf '%s]' "$out"
}

json_string() {
  local s="${1//\\/\\\\}"
  s="${s//\"/\\\"}"
  printf '"%s"' "$s"
}

# 32 random hex digits, fresh for every report: Curfew takes each nonce once (replays).
nonce() {
  openssl rand -hex 16
}

build_report() {
  local at compute_id=""
  at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  if [[ -n "${CURFEW_COMPUTE_ID:-}" ]]; then
    compute_id=",\"computeId\":$(json_string "$CURFEW_COMPUTE_ID")"
  fi
  printf '{"schema":"curfew.activity/v1","instance":%s%s,"at":"%s","nonce":"%s","kernels":%d,"terminals":%d,"sessions":%d,"ssh":%d,"vscode":%d,"azuremlRuns":%d,"customApps":%s,"reporter":"%s"}' \
    "$(json_string "$instance")" "$compute_id" "$at" "$(nonce)" \
    "$(jupyter_count /api/kernels)" "$(jupyter_count /api/terminals)" \
    "$(jupyter_count /api/sessions)" "$(ssh_count)" "$(vscode_count)" "$(run_count)" \
    "$(custom_apps_json)" "$REPORTER_VERSION"
}

signing_key() {
  if [[ -n "${CURFEW_KEY_FILE:-}" ]]; then
    tr -d '\r\n' <"$CURFEW_KEY_FILE"
  else
    printf '%s' "${CURFEW_KEY:-}"
  fi
}

# hex HMAC-SHA256 of stdin with key $1.
hmac_hex() {
  openssl dgst -sha256 -hmac "$1" | sed 's/^.*= *//'
}

report_once() {
  local body ts key sig
  body="$(build_report)"
  ts="$(date -u +%s)"
  key="$(signing_key)"
  if [[ -z "$key" ]]; then
    if ((dry_run)); then
      sig="unsigned"
    else
      log "no key: set CURFEW_KEY_FILE or CURFEW_KEY"
      return 1
    fi
  else
    sig="sha256=$(printf '%s.%s' "$ts" "$body" | hmac_hex "$key")"
  fi
  if ((dry_run)); then
    printf '%s\n' "$body"
    printf 'X-Curfew-Timestamp: %s\nX-Curfew-Signature: %s\n' "$ts" "$sig" >&2
    return 0
  fi
  if [[ -z "${CURFEW_ENDPOINT:-}" ]]; then
    log "CURFEW_ENDPOINT is not set"
    return 1
  fi
  if [[ -z "${CURFEW_COMPUTE_ID:-}" ]]; then
    log "CURFEW_COMPUTE_ID is not set (the key is bound to the compute's ARM id)"
    return 1
  fi
  curl -fsS --max-time 20 --retry 2 -X POST \
    -H 'Content-Type: application/json' \
    -H "X-Curfew-Timestamp: $ts" \
    -H "X-Curfew-Signature: $sig" \
    --data-binary "$body" "$CURFEW_ENDPOINT" >/dev/null
}

if ((once)); then
  report_once
  exit $?
fi
while true; do
  report_once || log "report failed; retrying in ${interval}s"
  sleep "$interval"
done
