#!/usr/bin/env python3
"""How often the placement model (src/placement) predicts the node the real
kube-scheduler binds a replacement to (SPEC §10).

On the local control plane (`make cluster-up`: kube-scheduler v1.36, default
profile, kwok nodes), each round builds a seeded random cluster where
placement matters -- three zones, mixed node sizes, a PreferNoSchedule taint,
preferred node affinity, zone spreading (DoNotSchedule), self anti-affinity,
host ports, pods with and without requests, nodes near full -- lets the real
scheduler place every pod, then taints two nodes NoSchedule. `descheduler
simulate` on the live cluster predicts where each evicted pod's replacement
goes; `descheduler run` (placementCheck: Off, so every candidate is evicted)
evicts them through the Eviction API; the replacements the ReplicaSets create
are then compared with the predictions, per owner (replicas of one owner are
interchangeable, so the comparison is of the multisets of nodes, "Pending"
counting as a node).

  make cluster-up && bench/placement-accuracy.py [--rounds 5] [--seed 1]

Prints a table and every disagreement; writes the same to
.cache/bench/placement-accuracy/results.md. Needs target/release/descheduler
(`cargo build --release`) or DESCHEDULER_BIN.
"""

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KUBECONFIG = os.path.join(ROOT, ".cache/cluster/kubeconfig")
KUBECTL = [os.path.join(ROOT, ".cache/bin/kubectl"), "--kubeconfig", KUBECONFIG]
BIN = os.environ.get("DESCHEDULER_BIN", os.path.join(ROOT, "target/release/descheduler"))
OUT = os.path.join(ROOT, ".cache/bench/placement-accuracy")
POOL = "accuracy.descheduler.dev/pool"
DRAIN = "accuracy.descheduler.dev/drain"
SOFT = "accuracy.descheduler.dev/soft"
ZONE = "topology.kubernetes.io/zone"
# Set by --evictions-per-minute: slow enough and the scheduler binds each
# replacement before the next eviction, in plan order, as the model places them.
EVICTIONS_PER_MINUTE = 120


def kubectl(*args, stdin=None, check=True):
    p = subprocess.run(KUBECTL + list(args), input=stdin, capture_output=True, text=True)
    if check and p.returncode != 0:
        sys.exit(f"kubectl {' '.join(args)}: {p.stderr}")
    return p.stdout


def apply(objs):
    kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))


def wait(what, pred, timeout=120, every=0.5):
    deadline = time.time() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.time() > deadline:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(every)


def pods(ns):
    return json.loads(kubectl("get", "pods", "-n", ns, "-o", "json"))["items"]


def node(name, ns, zone, cpu, mem, labels, taints):
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {"type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                       POOL: ns, ZONE: zone, **labels},
        },
        "spec": {"taints": taints},
        "status": {"allocatable": {"cpu": cpu, "memory": mem, "pods": "30"},
                   "capacity": {"cpu": cpu, "memory": mem, "pods": "30"}},
    }


def deployment(ns, name, replicas, cpu, extra=None):
    container = {"name": "c", "image": "registry.k8s.io/pause:3.10"}
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu, "memory": "128Mi"}}
    spec = {"nodeSelector": {POOL: ns}, "containers": [container],
            "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists"}]}
    for k, v in (extra or {}).items():
        if k == "hostPort":
            container["ports"] = [{"containerPort": v, "hostPort": v}]
        elif k == "tolerations":
            spec["tolerations"] += v
        else:
            spec[k] = v
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": spec}},
    }


def scenario(ns, rng):
    zones = ["za", "zb", "zc"]
    nodes = []
    for i in range(9):
        labels = {"disk": "ssd"} if rng.random() < 0.4 else {}
        taints = [{"key": SOFT, "value": "x", "effect": "PreferNoSchedule"}] if i == 4 else []
        nodes.append(node(f"{ns}-n{i}", ns, zones[i % 3], rng.choice(["2", "4", "4", "8"]),
                          rng.choice(["8Gi", "16Gi"]), labels, taints))
    deps = []
    for k in range(rng.randint(3, 5)):
        deps.append(deployment(ns, f"plain{k}", rng.randint(2, 6),
                               rng.choice(["100m", "250m", "500m", "1", None])))
    spread = {"topologySpreadConstraints": [{
        "maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "spread"}}}]}
    deps.append(deployment(ns, "spread", 6, "200m", spread))
    anti = {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "anti"}}}]}}}
    deps.append(deployment(ns, "anti", 5, "100m", anti))
    deps.append(deployment(ns, "ports", 4, "100m", {"hostPort": 8080}))
    prefer = {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
        "weight": 50, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}}}
    deps.append(deployment(ns, "prefer", 4, "300m", prefer))
    deps.append(deployment(ns, "tolerant", 3, "200m",
                           {"tolerations": [{"key": SOFT, "operator": "Exists"}]}))
    deps.append(deployment(ns, "big", rng.randint(2, 5), "1500m"))
    return nodes, deps


def owner(p):
    for o in p["metadata"].get("ownerReferences") or []:
        if o.get("controller"):
            return o["name"]
    return None


def settled(ns):
    ps = pods(ns)
    # Every pod bound, or marked Unschedulable by the scheduler.
    ok = all(p["spec"].get("nodeName") or any(
        c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable"
        for c in p.get("status", {}).get("conditions") or []) for p in ps)
    return ps if ok and ps else None


def round_(ns, rng, results):
    nodes, deps = scenario(ns, rng)
    kubectl("create", "namespace", ns)
    apply(nodes)
    wait("nodes Ready", lambda: all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions") or [])
        for n in json.loads(kubectl("get", "nodes", "-l", f"{POOL}={ns}", "-o", "json"))["items"]))
    apply(deps)
    want = sum(d["spec"]["replicas"] for d in deps)
    wait("pods placed", lambda: (lambda ps: ps if ps and len(ps) == want else None)(settled(ns)))
    time.sleep(2)
    before = {p["metadata"]["uid"]: p for p in pods(ns)}
    # Drain two nodes: every pod there not tolerating it is a candidate.
    for n in rng.sample([n["metadata"]["name"] for n in nodes], 2):
        kubectl("taint", "node", n, f"{DRAIN}=x:NoSchedule")
    policy = {
        "apiVersion": "descheduler.dev/v1alpha1", "kind": "DeschedulerPolicy",
        "metadata": {"name": ns, "labels": {"accuracy": ns}},
        "spec": {"interval": "1h", "nodeSelector": f"{POOL}={ns}", "placementCheck": "Off",
                 "singleReplicaStrategy": "Evict",
                 "strategies": {"RemovePodsViolatingNodeTaints": {"params": {"namespaces": {"include": [ns]}}}}},
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(policy, f)
        policy_file = f.name
    sim = json.loads(subprocess.run(
        [BIN, "simulate", "--policy", policy_file, "--kubeconfig", KUBECONFIG, "--output", "json"],
        capture_output=True, text=True, check=True).stdout)
    env = dict(os.environ, KUBECONFIG=KUBECONFIG, RUST_LOG="warn")
    op = subprocess.Popen([BIN, "run", "--metrics-bind-address", "127.0.0.1:0",
                           "--policy-label-selector", f"accuracy={ns}",
                           "--max-evictions-per-minute", str(EVICTIONS_PER_MINUTE)],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        kubectl("apply", "-f", policy_file)

        def placed():
            st = json.loads(kubectl("get", "dsp", ns, "-o", "json")).get("status", {})
            run = st.get("lastRun") or {}
            return run if run.get("placement") else None
        run = wait("the run and its follow-up", placed, timeout=180)
    finally:
        op.send_signal(signal.SIGTERM)
        op.wait(timeout=30)
    wait("replacements settled", lambda: settled(ns))
    time.sleep(3)
    after = pods(ns)
    by_name = {p["metadata"]["name"]: p for p in before.values()}
    predicted = collections.defaultdict(list)
    # Per owner: did any of its predictions tie (the scheduler then picks
    # one of the best nodes at random), and did any eviction planned before
    # its first one tie (then the state it was predicted in may differ).
    own_tie = collections.defaultdict(bool)
    earlier_tie = {}
    seen_tie = False
    evicted = set()
    for e in sim["evictions"]:
        p = by_name[e["name"]]
        o = owner(p)
        evicted.add(p["metadata"]["uid"])
        predicted[o].append(e.get("predictedNode") or "Pending")
        earlier_tie.setdefault(o, seen_tie)
        ties = e.get("predictedTies", 0) > 0
        own_tie[o] |= ties
        seen_tie |= ties
    actual = collections.defaultdict(list)
    for p in after:
        if p["metadata"]["uid"] not in before:
            actual[owner(p)].append(p["spec"].get("nodeName") or "Pending")
    gone = {u for u in before if u not in {p["metadata"]["uid"] for p in after}}
    for o, want_nodes in predicted.items():
        got = actual.get(o, [])
        common = sum((collections.Counter(want_nodes) & collections.Counter(got)).values())
        pend_want = want_nodes.count("Pending")
        pend_got = got.count("Pending") + max(0, len(want_nodes) - len(got))
        results.append({"round": ns, "owner": o, "n": len(want_nodes), "exact": common,
                        "pending_predicted": pend_want, "pending_actual": pend_got,
                        "own_tie": own_tie[o], "earlier_tie": earlier_tie[o],
                        "predicted": sorted(want_nodes), "actual": sorted(got)})
    results.append({"round": ns, "summary": True, "planned": len(evicted), "evicted": len(gone & set(before)),
                    "operator_placement": run.get("placement"), "same_plan": evicted == gone})
    kubectl("delete", "dsp", ns, "--wait=false", check=False)
    kubectl("delete", "namespace", ns, "--wait=false", check=False)
    kubectl("delete", "nodes", "-l", f"{POOL}={ns}", "--wait=false", check=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--evictions-per-minute", type=int, default=120)
    args = ap.parse_args()
    global EVICTIONS_PER_MINUTE
    EVICTIONS_PER_MINUTE = args.evictions_per_minute
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} not found: cargo build --release")
    kubectl("apply", "--server-side", "--force-conflicts", "-f", os.path.join(ROOT, "crds/deschedulerpolicies.descheduler.dev.yaml"))
    kubectl("wait", "--for", "condition=established", "crd/deschedulerpolicies.descheduler.dev")
    results = []
    for r in range(args.rounds):
        rng = random.Random(args.seed * 1000 + r)
        round_(f"acc-s{args.seed}-r{r}-{int(time.time()) % 100000}", rng, results)
    rows = [x for x in results if not x.get("summary")]
    total = sum(x["n"] for x in rows)
    exact = sum(x["exact"] for x in rows)
    pend_ok = sum(1 for x in rows if x["pending_predicted"] == x["pending_actual"])

    def share(sel):
        n = sum(x["n"] for x in sel)
        e = sum(x["exact"] for x in sel)
        return f"{e}/{n} = {100.0 * e / max(n, 1):.1f} %"
    unique = [x for x in rows if not x["own_tie"]]
    strict = [x for x in unique if not x["earlier_tie"]]
    lines = ["| rounds | evictions | exact node, all | exact, unique choice (no tie in the owner's predictions) | exact, no tie before either | owners with Pending agreement | plan = operator's evictions |",
             "|---|---|---|---|---|---|---|",
             f"| {args.rounds} (seed {args.seed}, {args.evictions_per_minute}/min) | {total} | {share(rows)} | {share(unique)} | {share(strict)} | "
             f"{pend_ok}/{len(rows)} | {all(x['same_plan'] for x in results if x.get('summary'))} |", ""]
    for s in (x for x in results if x.get("summary")):
        lines.append(f"- {s['round']}: planned {s['planned']}, evicted {s['evicted']}, operator's follow-up {s['operator_placement']}")
    lines.append("")
    lines.append("Disagreements (owner: predicted vs actual nodes):")
    for x in rows:
        if x["exact"] != x["n"] or x["pending_predicted"] != x["pending_actual"]:
            why = "tie" if x["own_tie"] else "tie earlier" if x["earlier_tie"] else "unique"
            lines.append(f"- {x['round']} {x['owner']} ({why}): {x['predicted']} vs {x['actual']}")
    text = "\n".join(lines) + "\n"
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(text)


if __name__ == "__main__":
    main()
