#!/usr/bin/env python3
"""The BENCHMARKS.md table from a `cargo bench --bench engine` log: median
times per case and size, and the growth ratio between two sizes.

python3 bench/criterion-table.py LOG [SMALL LARGE]   (default 500 5000, else 100 1000)
"""
import re
import sys

txt = open(sys.argv[1]).read()
unit = {"ns": 1e-9, "µs": 1e-6, "ms": 1e-3, "s": 1.0}
res = {}
for m in re.finditer(r"^(\S+)/(\d+)\s*\n?\s*time:\s+\[\S+ \S+ (\S+) (\S+)", txt, re.M):
    res.setdefault(m.group(1), {})[int(m.group(2))] = float(m.group(3)) * unit[m.group(4)]
sizes = sorted({n for v in res.values() for n in v})
pairs = [(a, b) for a, b in [(100, 1000), (500, 5000), (1000, 5000), (1000, 10000), (5000, 10000)] if a in sizes and b in sizes]


def fmt(t):
    return f"{t * 1e3:.3f} ms" if t < 1 else f"{t:.3f} s"


print("| case | " + " | ".join(f"{n} nodes" for n in sizes) + " | " + " | ".join(f"x{b // a} pods: time ratio" for a, b in pairs) + " |")
print("|---|" + "---|" * (len(sizes) + len(pairs)))
for case, v in res.items():
    cells = [fmt(v[n]) if n in v else "" for n in sizes]
    ratios = [f"{v[b] / v[a]:.1f}" if a in v and b in v else "" for a, b in pairs]
    print(f"| {case} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
