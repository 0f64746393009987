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


# --- ours: "2026-11-23T15:26:53.526789Z  INFO ...: run starting|completed ..." ----------
ours_start = float(read("ours-start.txt"))
ours_starts, ours_ends = [], []
for line in read("ours.log").splitlines():
    if "run starting" in line or "run completed" in line:
        (ours_starts if "run starting" in line else ours_ends).append(iso(line.split()[0]))
ours_first = ours_ends[0] - ours_start
ours_durations = [e - s for s, e in zip(ours_starts, ours_ends)]
ours_rss = int(read("ours-rss-kb.txt"))


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

# --- API requests from the audit log --------------------------------------------
by_user = defaultdict(list)
for line in read("audit.log").splitlines():
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    user = ev.get("user", {}).get("username")
    ts = iso(ev.get("requestReceivedTimestamp"))
    by_user[user].append((ts, ev.get("verb"), (ev.get("objectRef") or {}).get("resource"), ev.get("stage")))


def per_cycle(user, t_from, t_to, n):
    reqs = [r for r in by_user[user] if t_from < r[0] <= t_to]
    verbs = Counter(f"{r[1]} {r[2]}" for r in reqs)
    return len(reqs) / n, verbs


def startup(user, t_from, t_to):
    return len([r for r in by_user[user] if t_from <= r[0] <= t_to])


n_ours = len(ours_ends) - 1
ours_req, ours_verbs = per_cycle("bench-ours", ours_ends[0], ours_ends[-1], n_ours)
n_up = len(ends) - 1
up_req, up_verbs = per_cycle("bench-upstream", ends[0], ends[-1], n_up)

steady_ours = statistics.median(ours_durations[1:]) if len(ours_durations) > 1 else ours_durations[0]
steady_up = statistics.median(up_durations[1:]) if len(up_durations) > 1 else up_durations[0]

print("## Side by side (one session, same cluster, one after the other)\n")
print(f"Cluster load (gencluster --apply, until every pod ran and statuses were patched): {load_s:.0f} s\n")
print("| | ours | upstream v0.36.0 | ours / upstream | target |")
print("|---|---|---|---|---|")
print(f"| time to first completed cycle | {ours_first:.2f} s | {up_first:.2f} s | {ours_first / up_first:.2f} | |")
print(f"| steady-state cycle (median of {len(ours_durations) - 1} / {len(up_durations) - 1}) | {steady_ours:.3f} s | {steady_up:.3f} s | {steady_ours / steady_up:.3f} | <= 0.2 |")
print(f"| peak RSS (VmHWM) | {ours_rss / 1024:.0f} MiB | {up_rss / 1024:.0f} MiB | {ours_rss / up_rss:.3f} | <= 0.333 |")
print(f"| API requests per steady-state cycle | {ours_req:.1f} | {up_req:.1f} | | |")
print(f"| API requests before the first cycle ended | {startup('bench-ours', ours_start, ours_ends[0])} | "
      f"{startup('bench-upstream', up_start, ends[0])} | | |")
print()
print("Cycle times (s): ours " + ", ".join(f"{d:.3f}" for d in ours_durations)
      + "; upstream " + ", ".join(f"{d:.3f}" for d in up_durations) + "\n")
print("Requests per steady-state cycle by verb and resource: ours "
      + (", ".join(f"{k}: {v / n_ours:.1f}" for k, v in sorted(ours_verbs.items())) or "none")
      + "; upstream " + (", ".join(f"{k}: {v / n_up:.1f}" for k, v in sorted(up_verbs.items())) or "none") + "\n")

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
