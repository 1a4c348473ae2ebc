#!/usr/bin/env bash
# Scans infra/ with checkov (Bicep framework) and fails unless
#   1. checkov parses every resource infra/ declares (it silently drops a file it cannot parse:
#      main.bicep with map() lambdas came out as one "parsing error" and zero of its resources), and
#   2. no check fails: each finding is fixed, or skipped inline next to the resource with
#      `// checkov:skip=CKV_AZURE_NN:reason` (the reason is required here).
# Needs checkov (pip install checkov==3.3.30); runs offline (--skip-download).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v checkov >/dev/null || { echo "checkov is not installed: pip install checkov==3.3.30" >&2; exit 1; }
checkov --version

report=$(mktemp)
trap 'rm -f "$report"' EXIT
# checkov exits 1 on failed checks; the verdict below reads the report instead.
checkov -d infra --framework bicep --skip-download --compact -o json >"$report" 2>/dev/null || true

python3 - "$report" <<'PY'
import glob, json, re, sys
from pathlib import Path
from checkov.bicep.parser import Parser

# The resource-count rule, exact per file:
#   declared = lines of the form `resource <name> '<type>@<version>'` (optionally indented) in
#              each .bicep file under infra/. `existing` references are counted too: checkov's
#              parser records them as resources (with existing=True), so both sides include them.
#              `module` declarations are not resources (the module's file is counted itself).
#   parsed   = the resources checkov's own Bicep parser (the one the scan uses) yields for that file.
# The report's summary.resource_count is not used: it only counts resources some check applies to.
decl = re.compile(r"^\s*resource\s+\w+\s+'[^'@]+@[^']+'", re.M)
files = sorted(Path(p) for p in glob.glob("infra/**/*.bicep", recursive=True))
definitions, _, errors = Parser().get_files_definitions(files)
parsed = {str(Path(k)): len(v.get("resources", {})) for k, v in definitions.items()}
bad = [f"checkov cannot parse {e}" for e in errors]
declared_total = parsed_total = 0
for f in files:
    d = len(decl.findall(f.read_text()))
    p = parsed.get(str(f), 0)
    declared_total += d
    parsed_total += p
    print(f"{f}: {d} declared, {p} parsed by checkov")
    if p != d:
        bad.append(f"{f}: checkov parses {p} of {d} declared resources")
print(f"resources: {declared_total} declared, {parsed_total} parsed")

data = json.load(open(sys.argv[1]))
reports = data if isinstance(data, list) else [data]
r = next((x for x in reports if x.get("check_type") == "bicep"), None)
if r is None:
    bad.append("checkov produced no bicep report")
else:
    s = r["summary"]
    print(f"checks: {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped (justified), {s['parsing_errors']} parsing errors")
    if s["parsing_errors"]:
        bad.append(f"checkov: {s['parsing_errors']} parsing errors: {r['results'].get('parsing_errors')}")
    for c in r["results"]["failed_checks"]:
        bad.append(f"{c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']}:{c['file_line_range']})")
    for c in r["results"]["skipped_checks"]:
        why = (c.get("check_result") or {}).get("suppress_comment", "")
        print(f"  skipped {c['check_id']} on {c['resource']}: {why}")
        if not why or why == "No comment provided":
            bad.append(f"{c['check_id']} on {c['resource']} is skipped without a reason")
if bad:
    print("infra check FAILED:", *bad, sep="\n  ", file=sys.stderr)
    sys.exit(1)
print("infra check passed")
PY
