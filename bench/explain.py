#!/usr/bin/env python3
"""Why the two plans of bench/vs-upstream.sh differ: python3 bench/explain.py OUT_DIR.

Reads what vs-upstream.sh left in OUT_DIR (ours-plan.json, ours-policy.yaml,
upstream.log at -v=3, the dump cluster.json and pods-after.json) and gives
every pod that only one side evicts, or that the sides evict under different
strategies, one cause. A pod is judged at the first strategy (in run order)
where the sides disagree about it: the later strategy that took it on the
other side only took what was left. Causes, checked in this order:

  cluster changed       the pod, or a pod of its group, changed between our dump
                        and the end of upstream's run
  failed pod too young  RemoveFailedPods: upstream defaults minPodLifetimeSeconds
                        to 3600 s (from creationTimestamp); ours has no default
  nodeSelector only     RemovePodsViolatingNodeAffinity (required): upstream only
                        looks at pods with spec.affinity.nodeAffinity.required...;
                        ours also at pods whose nodeSelector no longer matches
  node order (capacity ran out)  LowNodeUtilization: both sides stop when the
                        underutilized nodes' spare capacity is used up (checked),
                        and the side that did not drain the pod's node ranks it
                        after the node where it ran out (or ran out on it)
  ordering among equals both sides take as many pods from the pod's group, but
                        not the same ones (on a node: all of one priority and QoS)
  cascade               an earlier strategy removed a different set of the
                        group's pods on the two sides, not only because of PDBs
  PDB-blocked on our side  the group holds pods we count as blocked by a PDB
                        (now or earlier): they stay in our plan, so the strategy
                        goes on; upstream's dry run evicts them
  upstream sandbox lag  upstream offered a pod of the group that it had already
                        evicted into its sandbox ("pod not found when evicting")
  UNEXPLAINED           anything else, listed pod by pod

Groups: InterPodAntiAffinity: namespace, term selectors and the topology
domains of their keys; RemoveDuplicates: owner and node (every pod of the
owner for the cascade check: the even share counts them all); TopologySpread:
namespace and the constraints the pod carries (every pod they select for the
cascade check); Low/HighNodeUtilization: node. Selectors are matchLabels only,
which is all the generated cluster uses. Python 3 standard library only.
"""
import datetime as dt
import functools
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

out = Path(sys.argv[1])
STRATEGIES = [
    "RemoveFailedPods", "PodLifeTime", "RemovePodsHavingTooManyRestarts", "RemovePodsViolatingNodeTaints",
    "RemovePodsViolatingNodeAffinity", "RemovePodsViolatingInterPodAntiAffinity", "RemoveDuplicates",
    "RemovePodsViolatingTopologySpreadConstraint", "LowNodeUtilization", "HighNodeUtilization",
]
RANK = {s: i for i, s in enumerate(STRATEGIES)}
CAUSES = ["cluster changed", "failed pod too young", "nodeSelector only", "node order (capacity ran out)",
          "ordering among equals", "cascade", "PDB-blocked on our side", "upstream sandbox lag", "UNEXPLAINED"]

# --- the cluster (the dump ours planned on) ------------------------------------------
items = json.loads((out / "cluster.json").read_text())["items"]
pods = {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o for o in items if o["kind"] == "Pod"}
nodes = {o["metadata"]["name"]: o for o in items if o["kind"] == "Node"}
dump_time = (out / "dump-time.txt").read_text().strip()
after = {}
if (out / "pods-after.json").exists():
    after = {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o
             for o in json.loads((out / "pods-after.json").read_text())["items"]}


def spec(p):
    return pods[p]["spec"]


def owner(p):
    refs = [r for r in pods[p]["metadata"].get("ownerReferences", []) if r.get("controller")]
    return (refs[0]["kind"], refs[0]["name"]) if refs else None


def node_of(p):
    return spec(p).get("nodeName")


def active(p):
    return node_of(p) and pods[p]["status"].get("phase") not in ("Succeeded", "Failed")


def anti_terms(p):
    aff = (spec(p).get("affinity") or {}).get("podAntiAffinity") or {}
    return aff.get("requiredDuringSchedulingIgnoredDuringExecution") or []


by_node, by_owner, by_namespace = defaultdict(list), defaultdict(list), defaultdict(list)
for p in pods:
    if active(p):
        by_node[node_of(p)].append(p)
        by_namespace[p.split("/")[0]].append(p)
        if owner(p):
            by_owner[(p.split("/")[0],) + owner(p)].append(p)


def selects(selector, p):
    """matchLabels only: the generated cluster's selectors have nothing else."""
    labels = pods[p]["metadata"].get("labels", {})
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


# --- groups: the pods among which a strategy chooses, and those whose earlier
# removal changes its choice ------------------------------------------------------
def domain(p, key):
    return nodes[node_of(p)]["metadata"]["labels"].get(key, node_of(p))


@functools.cache
def group(strategy, p):
    """The group the strategy chooses p from."""
    ns = p.split("/")[0]
    if strategy == "RemovePodsViolatingInterPodAntiAffinity":
        return (ns,) + tuple((json.dumps(t["labelSelector"], sort_keys=True), t["topologyKey"], domain(p, t["topologyKey"]))
                             for t in anti_terms(p))
    if strategy == "RemoveDuplicates":
        return (ns,) + (owner(p) or ("", "")) + (node_of(p),)
    if strategy == "RemovePodsViolatingTopologySpreadConstraint":
        tscs = spec(p).get("topologySpreadConstraints") or []
        labels = pods[p]["metadata"].get("labels", {})
        return ns, json.dumps([tscs, [labels.get(k) for c in tscs for k in c.get("matchLabelKeys", [])]], sort_keys=True)
    if strategy in ("LowNodeUtilization", "HighNodeUtilization"):
        return (node_of(p),)
    return strategy, p


@functools.cache
def members(strategy, key, p):
    """The pods whose earlier removal changes how many the strategy takes from
    p's group."""
    ns = p.split("/")[0]
    if strategy == "RemovePodsViolatingInterPodAntiAffinity":
        return frozenset(q for q in by_namespace[ns] for t in anti_terms(p)
                         if selects(t["labelSelector"], q) and domain(q, t["topologyKey"]) == domain(p, t["topologyKey"]))
    if strategy == "RemoveDuplicates":
        return frozenset(by_owner[(ns,) + (owner(p) or ("", ""))])
    if strategy == "RemovePodsViolatingTopologySpreadConstraint":
        tscs = spec(p).get("topologySpreadConstraints") or []
        return frozenset(q for q in by_namespace[ns] if any(selects(c["labelSelector"], q) for c in tscs))
    if strategy in ("LowNodeUtilization", "HighNodeUtilization"):
        return frozenset(by_node[node_of(p)])
    return frozenset([p])


# --- the two plans --------------------------------------------------------------------
plan = json.loads((out / "ours-plan.json").read_text())
ours = {}  # pod -> (strategy, "evict" | "blocked")
for kind, entries in (("evict", plan["evictions"]), ("blocked", plan.get("blocked", []))):
    for e in entries:
        ours[f"{e['namespace']}/{e['name']}"] = (e["strategy"], kind)

# Upstream, per cycle: its evictions, the pods a plugin offered that an earlier
# one had already evicted into the sandbox, and the spare capacity the
# utilization plugins logged. Log lines name the plugin or follow one that does.
new_cycle = lambda: {"evicted": {}, "not_found": defaultdict(set), "capacity": {}, "order": defaultdict(list)}
cycles = [new_cycle()]
plugin = None
for line in (out / "upstream.log").read_text().splitlines():
    m = re.search(r'(?:plugin|strategy)="([^"]+)"', line)
    plugin = m.group(1) if m else plugin
    if "Number of evictions/requests" in line:
        cycles.append(new_cycle())
    elif "Evicted pod in dry run mode" in line:
        pod = re.search(r'pod="([^"]+)"', line).group(1)
        cycles[-1]["evicted"].setdefault(pod, re.search(r'strategy="([^"]+)"', line).group(1))
    elif '"Error evicting pod"' in line and "pod not found when evicting" in line:
        cycles[-1]["not_found"][plugin].add(re.search(r' pod="([^"]+)"', line).group(1))
    elif '"Evicting pods from node"' in line:
        cycles[-1]["order"][plugin].append(re.search(r'node="([^"]+)"', line).group(1))
    elif "Total capacity to be moved" in line:
        cycles[-1]["capacity"][plugin] = {k.lower(): float(v) for k, v in re.findall(r"(CPU|Mem|Pods)=(\d+)", line)}
cycles = cycles[:-1]  # the last one was cut short
used = cycles[1] if len(cycles) > 1 else cycles[0]  # as compare.py: the 2nd cycle
up = used["evicted"]


@functools.cache
def taken(side, strategy):
    """Pods the side takes under the strategy (ours: evicted or blocked)."""
    if side == "ours":
        return frozenset(p for p, (s, _) in ours.items() if s == strategy)
    return frozenset(p for p, s in up.items() if s == strategy)


def removed_before(side, strategy, pods_):
    """The pods gone before the strategy runs; ours keeps the PDB-blocked ones."""
    if side == "ours":
        return {p for p in pods_ if p in ours and ours[p][1] == "evict" and RANK[ours[p][0]] < RANK[strategy]}
    return {p for p in pods_ if p in up and RANK[up[p]] < RANK[strategy]}


def blocked_by_then(strategy, pods_):
    """The pods we count as blocked by a PDB at or before the strategy."""
    return {p for p in pods_ if p in ours and ours[p][1] == "blocked" and RANK[ours[p][0]] <= RANK[strategy]}


# --- LowNodeUtilization: both sides stop when the underutilized nodes' spare
# capacity runs out, and they drain the overutilized nodes in different orders --
SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "m": 1e-3, "": 1}


def qty(s):
    num, suffix = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(s)).groups()
    return float(num) * SUFFIX[suffix]


def requests(p):
    """cpu in millicores, memory in bytes, pods: max(sum of containers, largest init)."""
    total = {"cpu": 0.0, "mem": 0.0}
    for key, containers in (("sum", spec(p)["containers"]), ("max", spec(p).get("initContainers", []))):
        for c in containers:
            r = (c.get("resources") or {}).get("requests") or {}
            for res, name in (("cpu", "cpu"), ("mem", "memory")):
                v = qty(r.get(name, "0")) * (1000 if res == "cpu" else 1)
                total[res] = total[res] + v if key == "sum" else max(total[res], v)
    return {**total, "pods": 1.0}


def allocatable(n):
    a = nodes[n]["status"]["allocatable"]
    return {"cpu": qty(a["cpu"]) * 1000, "mem": qty(a["memory"]), "pods": qty(a["pods"])}


def lnu_capacity():
    """Ours: the spare capacity at LowNodeUtilization's start (thresholds and
    targets from ours-policy.yaml) against the requests it evicted. Upstream: the
    capacity it logged against the requests of its evictions."""
    policy = (out / "ours-policy.yaml").read_text().split("LowNodeUtilization:")[1]
    # Either flow style (`thresholds: {cpu: 20, ...}`) or `descheduler convert`'s
    # block style (`thresholds:` then one `cpu: 20.0` per line).
    blocks = re.findall(r"hresholds: \{([^}]*)\}", policy) or re.findall(
        r"hresholds:\n((?:\s+(?:cpu|memory|pods): [\d.]+\n)+)", policy)
    low, high = ({k: float(v) for k, v in re.findall(r"(cpu|memory|pods): ([\d.]+)", m)}
                 for m in blocks[:2])
    gone = removed_before("ours", "LowNodeUtilization", pods)
    usage = defaultdict(lambda: {"cpu": 0.0, "mem": 0.0, "pods": 0.0})
    for p in pods:
        if active(p) and p not in gone:
            for r, v in requests(p).items():
                usage[node_of(p)][r] += v
    pct = lambda n, r: 100 * usage[n][r] / allocatable(n)[r]
    res = (("cpu", "cpu"), ("mem", "memory"), ("pods", "pods"))
    under = [n for n in nodes if not nodes[n]["spec"].get("unschedulable") and all(pct(n, r) < low[name] for r, name in res)]
    over = [n for n in nodes if any(pct(n, r) > high[name] for r, name in res)]
    order = sorted(over, key=lambda n: (-sum(pct(n, r) for r, _ in res), n))  # the most used first
    spare = {r: sum(allocatable(n)[r] * high[name] / 100 - usage[n][r] for n in under)
             for r, name in res}
    sums = lambda ps: {r: sum(requests(p)[r] for p in ps) for r in ("cpu", "mem", "pods")}
    ours_used = sums([p for p in taken("ours", "LowNodeUtilization") if ours[p][1] == "evict"])
    up_used = sums(taken("upstream", "LowNodeUtilization"))
    return spare, ours_used, order, used["capacity"].get("LowNodeUtilization", {}), up_used


def exhausted(capacity, spent):
    return any(capacity.get(r) is not None and spent[r] >= capacity[r] for r in ("cpu", "mem", "pods"))


spare, ours_spent, ours_order, up_capacity, up_spent = lnu_capacity()
lnu_both_exhausted = exhausted(spare, ours_spent) and exhausted(up_capacity, up_spent)
drained = {side: {node_of(p) for p in taken(side, "LowNodeUtilization")} for side in ("ours", "upstream")}
lnu_order = {"ours": ours_order, "upstream": used["order"]["LowNodeUtilization"]}


def last_drained(side):
    order = lnu_order[side]
    return max((order.index(n) for n in drained[side] if n in order), default=-1)


def capacity_ran_out_before(side, node):
    """Whether the side ranks the node among its overutilized ones but ran out of
    spare capacity before it, or on it (its last node, drained only in part)."""
    order, taken_here = lnu_order[side], [q for q in taken(side, "LowNodeUtilization") if node_of(q) == node]
    other = "upstream" if side == "ours" else "ours"
    fewer = len(taken_here) < len([q for q in taken(other, "LowNodeUtilization") if node_of(q) == node])
    return node in order and (order.index(node) > last_drained(side) or (order.index(node) == last_drained(side) and fewer))


# --- one cause per differing pod ------------------------------------------------------------
def age_seconds(p):
    t = lambda s: dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    return (t(dump_time) - t(pods[p]["metadata"]["creationTimestamp"])).total_seconds()


def changed(p):
    return bool(after) and (p not in after or after[p]["metadata"]["resourceVersion"] != pods[p]["metadata"]["resourceVersion"])


def cause(p, strategy):
    if changed(p):
        return "cluster changed"
    if strategy == "RemoveFailedPods":
        return "failed pod too young" if p not in up and age_seconds(p) < 3600 else "UNEXPLAINED"
    if strategy == "RemovePodsViolatingNodeAffinity":
        na = (spec(p).get("affinity") or {}).get("nodeAffinity") or {}
        only_selector = spec(p).get("nodeSelector") and not na.get("requiredDuringSchedulingIgnoredDuringExecution")
        return "nodeSelector only" if p not in up and only_selector else "UNEXPLAINED"
    if strategy == "LowNodeUtilization" and lnu_both_exhausted:
        if any(capacity_ran_out_before(side, node_of(p)) for side in drained):
            return "node order (capacity ran out)"
    key = group(strategy, p)
    group_pods = members(strategy, key, p)
    if any(changed(q) for q in group_pods):
        return "cluster changed"
    o = {q for q in taken("ours", strategy) if group(strategy, q) == key}
    u = {q for q in taken("upstream", strategy) if group(strategy, q) == key}
    # The pods of a group are alike (one owner, one workload) except on a node,
    # where only pods of one priority and QoS class are interchangeable.
    if len(o) == len(u) and len({(spec(q).get("priority"), pods[q]["status"].get("qosClass")) for q in o ^ u}) <= 1:
        return "ordering among equals"
    ours_gone, up_gone = removed_before("ours", strategy, group_pods), removed_before("upstream", strategy, group_pods)
    blocked = blocked_by_then(strategy, group_pods)
    if ours_gone != up_gone and not (ours_gone <= up_gone and up_gone - ours_gone <= blocked):
        return "cascade"
    if blocked:
        return "PDB-blocked on our side"
    if group_pods & used["not_found"].get(strategy, set()):
        return "upstream sandbox lag"
    return "UNEXPLAINED"


# --- attribute every differing pod ------------------------------------------------------
later = [c["evicted"] for c in cycles[1:]]
rows = []
for p in sorted(set(ours) | set(up)):
    o, u = ours.get(p), up.get(p)
    if o and o[0] == u:
        continue
    first = min((s for s in (o and o[0], u) if s), key=RANK.get)
    side = "ours" if o and o[0] == first else "upstream"
    # In how many of its cycles (2nd on) did upstream take this pod under that strategy?
    up_times = sum(c.get(p) == first for c in later)
    rows.append((p, first, side, o, u, cause(p, first), up_times))

table = defaultdict(Counter)
for r in rows:
    table[r[1]][r[5]] += 1
print("## Every differing pod, attributed\n")
print(f"{len(rows)} pods differ (plan-diff.tsv); each is counted once, under the first strategy (in run order) "
      "where the two plans disagree about it.\n")
causes = [c for c in CAUSES if any(r[5] == c for r in rows)]
print("| strategy | differing pods | " + " | ".join(causes) + " |")
print("|---|---|" + "---|" * len(causes))
for s in STRATEGIES:
    if table[s]:
        print(f"| {s} | {sum(table[s].values())} | " + " | ".join(str(table[s][c] or "") for c in causes) + " |")
total = Counter()
for s in table:
    total.update(table[s])
print(f"| **total** | {len(rows)} | " + " | ".join(str(total[c] or "") for c in causes) + " |\n")

fmt = lambda d: ", ".join(f"{r} {d[r]:.0f}" for r in ("cpu", "mem", "pods") if r in d)
print(f"LowNodeUtilization spare capacity (cpu m, mem bytes, pods) and requests evicted: ours {fmt(spare)} / {fmt(ours_spent)}; "
      f"upstream {fmt(up_capacity)} / {fmt(up_spent)}: both ran out: {'yes' if lnu_both_exhausted else 'NO'}. "
      f"Overutilized nodes drained: ours {len(drained['ours'])}, upstream {len(drained['upstream'])}, "
      f"both {len(drained['ours'] & drained['upstream'])}; ours drains them by the sum of their usage percentages, "
      f"upstream by the sum of millicores, bytes and pods (its log: {' '.join(lnu_order['upstream'][:4])} ...).\n")
n = len(later)
print("Upstream's evictions per cycle and strategy (its first cycle runs while its sandbox is still being filled):\n")
print("| strategy | " + " | ".join(f"cycle {i + 1}" for i in range(len(cycles))) + " |")
print("|---|" + "---|" * len(cycles))
for s in STRATEGIES:
    print(f"| {s} | " + " | ".join(str(sum(v == s for v in c["evicted"].values())) for c in cycles) + " |")
print("| pods offered again after their eviction (\"pod not found when evicting\") | "
      + " | ".join(str(sum(len(v) for v in c["not_found"].values())) for c in cycles) + " |\n")
eq = {side: [r for r in rows if r[5] == "ordering among equals" and r[2] == side] for side in ("ours", "upstream")}
print(f"Upstream against itself (cycles 2-{n + 1}; evictions in cycles 1-{n + 1}: {[len(c['evicted']) for c in cycles]}): "
      f"{len({p for c in later for p in c if any(c2.get(p) != c[p] for c2 in later)})} pods are evicted in some of them "
      f"and not in others or under another strategy. Of the {len(eq['upstream'])} pods only upstream takes by ordering "
      f"among equals, it leaves {sum(r[6] < n for r in eq['upstream'])} alone in some of its own cycles; of the "
      f"{len(eq['ours'])} only we take, it takes {sum(r[6] > 0 for r in eq['ours'])} in some of them.\n")

with open(out / "explain.tsv", "w") as f:
    f.write(f"pod\tfirst_strategy\ttaken_by\tours\tupstream\tcause\tupstream_cycles_taking_it_of_{n}\n")
    for p, s, side, o, u, c, k in rows:
        f.write(f"{p}\t{s}\t{side}\t{' '.join(o) if o else ''}\t{u or ''}\t{c}\t{k}\n")
print(f"Per pod: {out / 'explain.tsv'}")
unexplained = [r for r in rows if r[5] == "UNEXPLAINED"]
if unexplained:
    print("\n### Unexplained\n")
    for p, s, side, o, u, *_ in unexplained:
        print(f"- {p}: {s}, taken by {side} (ours: {' '.join(o) if o else '-'}, upstream: {u or '-'})")
