#!/usr/bin/env python3
"""Print the median (ns) of each criterion benchmark under target/criterion, optionally filtered."""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"
prefix = sys.argv[1] if len(sys.argv) > 1 else ""
for est in sorted(root.glob("*/new/estimates.json")) + sorted(root.glob("*/*/new/estimates.json")):
    bench = json.loads((est.parent / "benchmark.json").read_text())
    name = bench.get("full_id") or bench.get("title")
    if not name.startswith(prefix):
        continue
    med = json.loads(est.read_text())["median"]
    print(f"{name}: median {med['point_estimate']:.1f} ns "
          f"(95% CI {med['confidence_interval']['lower_bound']:.1f}-{med['confidence_interval']['upper_bound']:.1f})")
