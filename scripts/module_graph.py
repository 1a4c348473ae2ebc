#!/usr/bin/env python3
"""The module graph, drawn from the code's own imports (docs/architecture.md).

Crates and their arrows come from each member's Cargo.toml (path dependencies, not dev ones);
modules and theirs from `crate::x` and top-level `super::x` references in each crate's src/.
Prints a Mermaid graph; `--check` also fails (exit 1) on a circle between crates, an arrow that
runs up the layers, or a circle between top-level modules of the application crates.

    python3 scripts/module_graph.py [--repo DIR] [--check]
"""

import argparse
import pathlib
import re
import sys
import tomllib

# Lower layers never import higher ones. armsim is a test/demo peer, beside the adapters.
LAYERS = {
    "curfew-engine": 0,
    "curfew-plumbing": 0,
    "curfew-arm": 1,
    "curfew-store": 1,
    "curfew-notify": 1,
    "armsim": 1,
    "curfew-governor": 2,
    "curfew-report": 2,
    "curfew-handler": 3,
    "curfew": 4,
}
# Crates whose top-level modules must not import each other in a circle.
APPLICATION = {"curfew-governor", "curfew-handler", "curfew"}

REF = re.compile(r"\b(?:crate|super)::([a-z_][a-z0-9_]*)")
MOD = re.compile(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;", re.M)


def crates(repo):
    root = tomllib.loads((repo / "Cargo.toml").read_text())
    out = {}
    for member in root["workspace"]["members"]:
        manifest = tomllib.loads((repo / member / "Cargo.toml").read_text())
        name = manifest["package"]["name"]
        deps = set()
        for dep, spec in manifest.get("dependencies", {}).items():
            if isinstance(spec, dict) and "path" in spec:
                deps.add(dep)
        out[name] = (repo / member, sorted(deps))
    return out


def modules(crate_dir):
    """Top-level module -> the top-level modules it references."""
    src = crate_dir / "src"
    roots = [p for p in (src / "lib.rs", src / "main.rs") if p.exists()]
    tops = set()
    for r in roots:
        tops.update(MOD.findall(r.read_text()))
    edges = {m: set() for m in tops}
    for path in src.rglob("*.rs"):
        rel = path.relative_to(src)
        if rel.name in ("lib.rs", "main.rs") and len(rel.parts) == 1:
            continue
        top = rel.parts[0].removesuffix(".rs")
        if top not in edges:
            continue
        text = path.read_text()
        text = text.split("#[cfg(test)]")[0]  # unit tests may reach anywhere
        refs = set()
        for m in REF.finditer(text):
            word = m.group(1)
            # `super::x` from a nested file names a sibling inside the same top module.
            if m.group(0).startswith("super::") and len(rel.parts) > 1 and rel.name != "mod.rs":
                continue
            refs.add(word)
        edges[top].update(r for r in refs if r in edges and r != top)
    return edges


def cycles(edges):
    """Every strongly connected component with more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", default=pathlib.Path(__file__).resolve().parent.parent)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--all", action="store_true", help="modules of every crate, not only the application's")
    args = ap.parse_args()
    repo = pathlib.Path(args.repo)
    cs = crates(repo)
    problems = []
    print("```mermaid")
    print("flowchart TD")
    ident = lambda s: s.replace("-", "_")
    for name, (d, deps) in sorted(cs.items(), key=lambda kv: -LAYERS.get(kv[0], 9)):
        mods = modules(d)
        if not args.all and name not in APPLICATION:
            print(f"  {ident(name)}[\"{name} ({d.name}/)\"]")
            continue
        print(f"  subgraph {ident(name)}[\"{name} ({d.name}/)\"]")
        for m in sorted(mods):
            print(f"    {ident(name)}__{m}[{m}]")
        print("  end")
        for m, refs in sorted(mods.items()):
            for r in sorted(refs):
                print(f"  {ident(name)}__{m} --> {ident(name)}__{r}")
        if name in APPLICATION:
            for c in cycles(mods):
                problems.append(f"{name}: modules in a circle: {' <-> '.join(c)}")
    for name, (_, deps) in sorted(cs.items()):
        for dep in deps:
            print(f"  {ident(name)} ==> {ident(dep)}")
            lo, hi = LAYERS.get(dep), LAYERS.get(name)
            if lo is None or hi is None:
                problems.append(f"{name} -> {dep}: a crate without a layer in scripts/module_graph.py")
            elif lo >= hi:
                problems.append(f"{name} -> {dep}: runs up or across the layers ({hi} -> {lo})")
    print("```")
    crate_edges = {n: set(d) for n, (_, d) in cs.items()}
    for c in cycles(crate_edges):
        problems.append(f"crates in a circle: {' <-> '.join(c)}")
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    if args.check and problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
