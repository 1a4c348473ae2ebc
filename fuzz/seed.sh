#!/usr/bin/env bash
# Builds the seed corpora of every fuzz target from testdata/ (and the handler's payloads):
# fuzz/corpus/<target>/. Nothing here is committed; run again whenever testdata changes.
#   bash fuzz/seed.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -rf corpus
python3 - <<'PY'
import base64, glob, hashlib, hmac, json, os

root = ".."
def put(target, data, name=None):
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    name = name or hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def load(path):
    with open(path, "rb") as f:
        return f.read()

def walk(v):
    yield v
    if isinstance(v, dict):
        for x in v.values():
            yield from walk(x)
    elif isinstance(v, list):
        for x in v:
            yield from walk(x)

computes = sorted(glob.glob(f"{root}/testdata/arm/*.json") + glob.glob(f"{root}/testdata/sdk/*.json")
                  + [f"{root}/examples/fleet.json"])
for path in computes:
    raw = load(path)
    doc = json.loads(raw)
    # inventory: the files themselves, and the ARM fixtures' response bodies.
    put("inventory", raw)
    for v in walk(doc):
        if isinstance(v, dict) and "body" in v and isinstance(v["body"], (dict, list)):
            put("inventory", json.dumps(v["body"]))
        # recurrence / cron: every computeStartStop entry and its expression.
        if isinstance(v, dict) and ("triggerType" in v or "trigger" in v) and "action" in v:
            put("recurrence", json.dumps(v))
        if isinstance(v, dict) and isinstance(v.get("expression"), str):
            put("cron", v["expression"])
for expr in ["0 18 * * 1-5", "*/15 9-17 * * MON-FRI", "0 0 1 JAN,Jul *", "30 2 * * Sun",
             "0 22 * * Thurs", "0 0 L * *", "5-1 * * * *", "*/0 * * * *", "0 0 12 * * *"]:
    put("cron", expr)

for path in sorted(glob.glob(f"{root}/testdata/sdk/*.yml") + glob.glob(f"{root}/testdata/sdk/*.yaml")):
    put("cli_yaml", load(path))
put("cli_yaml", "name: ci-1\ntype: computeinstance\nschedules:\n  compute_start_stop:\n"
    "    - action: stop\n      trigger: {type: cron, expression: \"0 18 * * *\", time_zone: UTC}\n")

for path in sorted(glob.glob(f"{root}/testdata/policies/*.json")):
    put("policy", load(path))

# envelope: first byte picks the route (Tick, Evaluate, Dismissals, Activity, Dismiss, Status,
# ActivityReport), the rest is the body.
routes = {"timer": [0], "servicebus-evaluate": [1], "servicebus-dismissal": [2],
          "servicebus-activity": [3], "http-dismiss": [4], "http-status": [5],
          "servicebus-trigger": [1, 2, 3]}
for path in sorted(glob.glob(f"{root}/testdata/functions/*.json")
                   + glob.glob(f"{root}/handler/tests/data/functions/*.json")):
    name = os.path.basename(path)
    if "headers" in name:
        continue
    raw = load(path)
    picks = next((r for k, r in routes.items() if name.startswith(k)), list(range(7)))
    for r in picks:
        put("envelope", bytes([r]) + raw)
    if name.startswith("servicebus-activity"):
        put("envelope", bytes([6]) + raw)
        # the message body itself seeds the activity reports
        msg = json.loads(raw)["Data"]["message"]
        body = msg if isinstance(msg, str) else json.dumps(msg)
        put("activity_report", b"1772323200\nsha256=" + b"0" * 64 + b"\n" + body.encode())

# activity_report: "timestamp\nsignature\nbody", one correctly signed for ci-1's derived key is
# not needed (the target checks the shapes); plus a bare report.
put("activity_report", '1772323200\nsha256=00\n{"instance":"ci-1","at":"2026-03-01T00:00:00Z","kernels":0}')
# a crash the fuzzer found (i64::MIN timestamp overflowed the skew check), kept as a regression seed
put("activity_report", "-009223372036854775808\n\n:{z")

# dismissal_token: tokens signed with the target's key, as the governor signs them.
secret = b"curfew-fuzz-link-key-0123456789abcdef"
def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
for occ, choice, exp in [("occ-7f3a9c", "skip", 1772409600), ("occ-1", "snooze:60", 1772330000),
                         ("o", "snooze:1", 1)]:
    payload = b64(json.dumps({"v": 1, "k": "k1", "o": occ, "c": choice, "e": exp},
                             separators=(",", ":")).encode())
    tag = b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())
    put("dismissal_token", f"{payload}.{tag}")
for t in ["q1w2e3", "a.b", "..", "eyJ2IjoxfQ.c2ln"]:
    put("dismissal_token", t)

for t in sorted(os.listdir("corpus")):
    print(f"{t}: {len(os.listdir(os.path.join('corpus', t)))} seeds")
PY
