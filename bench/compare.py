#!/usr/bin/env python3
"""Tables for bench/vs-upstream.sh: python3 bench/compare.py OUT_DIR LOAD_SECONDS.

Reads what vs-upstream.sh left in OUT_DIR and prints Markdown: the
measurements side by side, then the two plans compared per strategy, then
the pods only one side would evict (plan-diff.tsv holds every one of them).
"""
import datetime as dt
import json
import re
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

out = Path(sys.argv[1])
load_s = float(sys.argv[2]) if len(sys.argv) > 2 else float("nan")


def read(name):
    return (out / name).read_text()


def iso(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


# --- ours, once per --initial-list mode: "2026-11-23T15:26:53.526789Z  INFO ...: run starting|completed ..."
modes = read("ours-modes.txt").split() if (out / "ours-modes.txt").exists() else [""]


def ours_files(mode, what):
    return f"ours-{mode}-{what}" if mode else f"ours-{what}"


def ours_run(mode):
    start = float(read(ours_files(mode, "start.txt")))
    starts, ends = [], []
    log = read(f"ours-{mode}.log" if mode else "ours.log")
    for line in log.splitlines():
        if "run starting" in line or "run completed" in line:
            (starts if "run starting" in line else ends).append(iso(line.split()[0]))
    startup_rss = out / ours_files(mode, "startup-rss-kb.txt")
    return {
        "start": start,
        "ends": ends,
        "first": ends[0] - start,
        "durations": [e - s for s, e in zip(starts, ends)],
        "rss": int(read(ours_files(mode, "rss-kb.txt"))),
        "startup_rss": int(startup_rss.read_text()) if startup_rss.exists() else None,
    }


runs = {m: ours_run(m) for m in modes}


# --- upstream: klog lines "I1123 13:20:01.123456 pid file:line] msg ..." ---------
up_start = float(read("upstream-start.txt"))
year = dt.datetime.fromtimestamp(up_start, dt.timezone.utc).year
klog = re.compile(r"^[IWEF](\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d+)")


def ktime(line):
    m = klog.match(line)
    if not m:
        return None
    mo, d, h, mi, s, frac = m.groups()
    t = dt.datetime(year, int(mo), int(d), int(h), int(mi), int(s), int(frac[:6].ljust(6, "0")), tzinfo=dt.timezone.utc)
    return t.timestamp()


starts, ends = [], []
up_plan_cycles = [[]]
for line in read("upstream.log").splitlines():
    if "Resetting pod evictor counters" in line:
        starts.append(ktime(line))
    elif "Number of evictions/requests" in line:
        ends.append(ktime(line))
        up_plan_cycles.append([])
    elif "Evicted pod in dry run mode" in line:
        pod = re.search(r'pod="([^"]+)"', line)
        strat = re.search(r'strategy="([^"]+)"', line)
        up_plan_cycles[-1].append((pod.group(1) if pod else "?", strat.group(1) if strat else "?"))
up_first = ends[0] - up_start
up_durations = [e - s for s, e in zip(starts, ends)]
up_rss = int(read("upstream-rss-kb.txt"))
up_startup_rss = int(read("upstream-startup-rss-kb.txt")) if (out / "upstream-startup-rss-kb.txt").exists() else None

# --- API requests from the audit log --------------------------------------------
# One entry per request: a watch logs twice (ResponseStarted, then
# ResponseComplete when it ends), so events are told apart by auditID.
# (Before 2026-12-03 each ended watch was counted twice.)
by_user = defaultdict(list)
seen_ids = set()
for line in read("audit.log").splitlines():
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    if ev.get("auditID") in seen_ids:
        continue
    seen_ids.add(ev.get("auditID"))
    user = ev.get("user", {}).get("username")
    ts = iso(ev.get("requestReceivedTimestamp"))
    by_user[user].append((ts, ev.get("verb"), (ev.get("objectRef") or {}).get("resource"), ev.get("stage")))


def per_cycle(user, t_from, t_to, n):
    reqs = [r for r in by_user[user] if t_from < r[0] <= t_to]
    verbs = Counter(f"{r[1]} {r[2]}" for r in reqs)
    return len(reqs) / n, verbs


def startup(user, t_from, t_to):
    return len([r for r in by_user[user] if t_from <= r[0] <= t_to])


def startup_verbs(user, t_from, t_to):
    return Counter(f"{r[1]} {r[2]}" for r in by_user[user] if t_from <= r[0] <= t_to)


def steady(durations):
    return statistics.median(durations[1:]) if len(durations) > 1 else durations[0]


for r in runs.values():
    n = len(r["ends"]) - 1
    r["req"], r["verbs"] = per_cycle("bench-ours", r["ends"][0], r["ends"][-1], n)
    r["n"] = n
    r["steady"] = steady(r["durations"])
    r["startup"] = startup("bench-ours", r["start"], r["ends"][0])
    r["startup_verbs"] = startup_verbs("bench-ours", r["start"], r["ends"][0])
n_up = len(ends) - 1
up_req, up_verbs = per_cycle("bench-upstream", ends[0], ends[-1], n_up)
steady_up = steady(up_durations)
up_startup = startup("bench-upstream", up_start, ends[0])
up_startup_verbs = startup_verbs("bench-upstream", up_start, ends[0])


def mib(kb):
    return f"{kb / 1024:.0f} MiB" if kb is not None else "n/a"


def ratio(a, b):
    return f"{a / b:.3f}" if a is not None and b else ""


names = [f"ours ({m})" if m else "ours" for m in modes]
print("## Side by side (one session, same cluster, one after the other)\n")
print(f"Cluster load (gencluster --apply, until every pod ran and statuses were patched): {load_s:.0f} s\n")
print("| | " + " | ".join(names) + " | upstream v0.36.0 | " + " | ".join(f"{n} / upstream" for n in names) + " |")
print("|---|" + "---|" * (2 * len(modes) + 1))


def row(label, ours_vals, up_val, fmt, ratio_of=None):
    cells = [fmt(v) for v in ours_vals] + [fmt(up_val)]
    cells += [ratio(v, up_val) if ratio_of is None else ratio_of(v) for v in ours_vals]
    print(f"| {label} | " + " | ".join(cells) + " |")


rs = [runs[m] for m in modes]
row("time to first completed cycle", [r["first"] for r in rs], up_first, lambda v: f"{v:.2f} s")
row(f"steady-state cycle (median of {rs[-1]['n']} / {n_up})", [r["steady"] for r in rs], steady_up, lambda v: f"{v:.3f} s")
row("peak RSS until the first completed cycle", [r["startup_rss"] for r in rs], up_startup_rss, mib)
row("peak RSS (VmHWM, end)", [r["rss"] for r in rs], up_rss, mib)
row("API requests before the first cycle ended", [r["startup"] for r in rs], up_startup, str)
row("API requests per steady-state cycle", [r["req"] for r in rs], up_req, lambda v: f"{v:.1f}", lambda v: "")
print()
for name, r in zip(names, rs):
    print(f"Cycle times (s), {name}: " + ", ".join(f"{d:.3f}" for d in r["durations"]) + "  ")
print("Cycle times (s), upstream: " + ", ".join(f"{d:.3f}" for d in up_durations) + "\n")
for name, r in zip(names, rs):
    print(f"Start-up requests, {name}: " + ", ".join(f"{k}: {v}" for k, v in sorted(r["startup_verbs"].items())) + "  ")
print("Start-up requests, upstream: " + ", ".join(f"{k}: {v}" for k, v in sorted(up_startup_verbs.items())) + "\n")
print("Requests per steady-state cycle by verb and resource: " + "; ".join(
    f"{name} " + (", ".join(f"{k}: {v / r['n']:.1f}" for k, v in sorted(r["verbs"].items())) or "none")
    for name, r in zip(names, rs))
      + "; upstream " + (", ".join(f"{k}: {v / n_up:.1f}" for k, v in sorted(up_verbs.items())) or "none") + "\n")
hwm = out / "control-plane-hwm-kb.txt"
if hwm.exists():
    parts = [line.split() for line in hwm.read_text().splitlines() if line.strip()]
    print("Control plane peak RSS (VmHWM at the end): " + ", ".join(
        f"{c} {int(v) / 1024:.0f} MiB" if v.isdigit() else f"{c} n/a" for c, v in parts) + "\n")
mem = out / "memory.tsv"
if mem.exists():
    rows_ = [line.split("\t") for line in mem.read_text().splitlines()[1:]]
    avail = [int(r[1]) for r in rows_ if len(r) > 1 and r[1].isdigit()]
    if avail:
        print(f"Machine MemAvailable during the session: min {min(avail) / 1048576:.1f} GiB, max {max(avail) / 1048576:.1f} GiB\n")

if not (out / "ours-plan.json").exists():
    sys.exit(0)

# --- plans -----------------------------------------------------------------------
plan = json.loads(read("ours-plan.json"))
ours = {}
for e in plan["evictions"]:
    ours[f"{e['namespace']}/{e['name']}"] = (e["strategy"], "evict", e["reason"])
for e in plan.get("blocked", []):
    ours[f"{e['namespace']}/{e['name']}"] = (e["strategy"], "blocked (PDB)", e["reason"])
# Upstream's second cycle (the first can differ while informers settle; dry
# run restores every pod after a cycle, so later cycles repeat it).
cycle = up_plan_cycles[1] if len(up_plan_cycles) > 2 else up_plan_cycles[0]
up = {}
for pod, strat in cycle:
    up.setdefault(pod, strat)
sizes = Counter(len(c) for c in up_plan_cycles[:-1])

strategies = [
    "RemoveFailedPods", "PodLifeTime", "RemovePodsHavingTooManyRestarts", "RemovePodsViolatingNodeTaints",
    "RemovePodsViolatingNodeAffinity", "RemovePodsViolatingInterPodAntiAffinity", "RemoveDuplicates",
    "RemovePodsViolatingTopologySpreadConstraint", "LowNodeUtilization", "HighNodeUtilization",
]
print("## Plans\n")
print(f"Upstream evictions per cycle: {dict(sizes)} (cycle used: 2nd). Ours: {len(plan['evictions'])} evictions + "
      f"{len(plan.get('blocked', []))} blocked by a PDB (upstream's dry run does not simulate PDBs, so both count).\n")
print("| strategy | ours | upstream | same pod, same strategy | only ours | only upstream | other strategy |")
print("|---|---|---|---|---|---|---|")
rows = []
for s in strategies:
    o = {p for p, v in ours.items() if v[0] == s}
    u = {p for p, v in up.items() if v == s}
    only_o = {p for p in o - u if p not in up}
    only_u = {p for p in u - o if p not in ours}
    moved = {p for p in (o - u) | (u - o) if p in ours and p in up}
    rows.append((s, len(o), len(u), len(o & u), len(only_o), len(only_u), len(moved)))
    print(f"| {s} | {len(o)} | {len(u)} | {len(o & u)} | {len(only_o)} | {len(only_u)} | {len(moved)} |")
print(f"| **total** | {len(ours)} | {len(up)} | {sum(r[3] for r in rows)} | {sum(r[4] for r in rows)} | "
      f"{sum(r[5] for r in rows)} | {sum(r[6] for r in rows)} |")
print()
with open(out / "plan-diff.tsv", "w") as f:
    f.write("pod\tours_strategy\tours_outcome\tours_reason\tupstream_strategy\n")
    for p in sorted(set(ours) | set(up)):
        o = ours.get(p)
        u = up.get(p)
        if o and u == o[0]:
            continue
        f.write(f"{p}\t{o[0] if o else ''}\t{o[1] if o else ''}\t{o[2] if o else ''}\t{u or ''}\n")
print(f"Every differing pod: {out / 'plan-diff.tsv'}")

# --- the two plans were made on the same cluster only if no pod changed -----------
if (out / "pods-after.json").exists():
    def pod_versions(items):
        return {f"{p['metadata']['namespace']}/{p['metadata']['name']}": (p["metadata"]["resourceVersion"], p["status"].get("phase"))
                for p in items if p.get("kind", "Pod") == "Pod"}
    before = pod_versions(json.loads(read("cluster.json"))["items"])
    after = pod_versions(json.loads(read("pods-after.json"))["items"])
    changed = [p for p in before.keys() | after.keys() if before.get(p) != after.get(p)]
    phases = Counter(f"{before.get(p, ('', 'absent'))[1]} -> {after.get(p, ('', 'absent'))[1]}" for p in changed)
    print(f"\nPods changed between the dump for our plan and the end of upstream's run: {len(changed)}"
          + (f" ({', '.join(f'{k}: {v}' for k, v in sorted(phases.items()))}); the plans are not comparable" if changed else ""))
