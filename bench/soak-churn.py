#!/usr/bin/env python3
"""The churn of bench/soak.sh: steady work for the operator on a cluster
without a scheduler or workload controllers.

Every tick (TICK seconds) it:

  - replaces the pods the operator evicted since the last tick (read from the
    apiserver's audit log, 201 answers to create pods/eviction), as a
    ReplicaSet and the scheduler would: a new pod of the same ReplicaSet
    (or, for other owners, of a ReplicaSet in the same namespace), bound with
    spec.nodeName to a random untainted node;
  - deletes PODS random pods of the soak's namespaces and creates PODS new
    ones; in the namespaces of the balance policy half of the new pods go to
    a node that already holds a pod of their ReplicaSet (work for
    RemoveDuplicates);
  - taints TAINT random untainted nodes with soak.descheduler.dev/churn:NoSchedule
    (work for RemovePodsViolatingNodeTaints) and untaints the nodes it tainted
    HOLD ticks ago.

It talks to the cluster through kubectl (one call per kind of change per
tick) as the admin user, whose requests the audit log does not record. It
keeps its own inventory of pods (listed once at the start, then updated with
what it created, deleted and saw evicted) instead of listing 15,000 pods per
tick. It writes STATS (one JSON object, cumulative counts) once it has
read the cluster, and again after each tick. It stops on SIGTERM after the tick in progress, untainting nothing:
soak.sh tears the cluster down.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time

TAINT_KEY = "soak.descheduler.dev/churn"
CHURN_LABEL = "soak.descheduler.dev/churn"

stop = False


def on_term(_sig, _frame):
    global stop
    stop = True


def log(msg):
    print(f"soak-churn: {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


class Kubectl:
    def __init__(self, binary, kubeconfig):
        self.base = [binary, "--kubeconfig", kubeconfig, "--request-timeout=60s"]
        self.errors = 0

    def run(self, args, stdin=None, check=True):
        p = subprocess.run(self.base + args, input=stdin, capture_output=True, text=True)
        if p.returncode != 0:
            self.errors += 1
            log(f"kubectl {' '.join(args[:3])} failed ({p.returncode}): {p.stderr.strip()[:500]}")
            if check:
                raise RuntimeError(p.stderr)
        return p.stdout

    def json(self, args):
        return json.loads(self.run(args + ["-o", "json"]))


class Audit:
    """Reads the audit log from where it left off: the evictions answered 201."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.partial = ""

    def new_evictions(self):
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                f.seek(self.offset)
                chunk = f.read()
                self.offset = f.tell()
        except FileNotFoundError:
            return []
        text = self.partial + chunk
        lines = text.split("\n")
        self.partial = lines.pop()  # the last line may be cut short
        evicted = []
        for line in lines:
            if '"eviction"' not in line:
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            ref = ev.get("objectRef") or {}
            if ev.get("verb") == "create" and ref.get("subresource") == "eviction" \
                    and (ev.get("responseStatus") or {}).get("code") == 201:
                evicted.append((ref.get("namespace", ""), ref.get("name", "")))
        return evicted


def write_stats(path, stats):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(stats, f)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubectl", required=True)
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--audit-log", required=True)
    ap.add_argument("--stats", required=True)
    ap.add_argument("--namespaces", required=True,
                    help="ns=policy,... : the soak's namespaces and the policy each belongs to")
    ap.add_argument("--balance-policy", default="soak-balance")
    ap.add_argument("--tick", type=float, default=10)
    ap.add_argument("--pods", type=int, default=20)
    ap.add_argument("--taint", type=int, default=5)
    ap.add_argument("--hold", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    rng = random.Random(a.seed)
    k = Kubectl(a.kubectl, a.kubeconfig)
    group = dict(kv.split("=", 1) for kv in a.namespaces.split(","))

    # Nodes a scheduler would use: untainted and schedulable.
    nodes = k.json(["get", "nodes"])["items"]
    free = sorted(n["metadata"]["name"] for n in nodes
                  if not n["spec"].get("taints") and not n["spec"].get("unschedulable"))
    if len(free) < 2 * a.taint * (a.hold + 1):
        log(f"only {len(free)} untainted nodes; tainting fewer")
        a.taint = max(1, len(free) // (2 * (a.hold + 1)))
    tainted_at = {}  # node -> tick tainted

    # ReplicaSets of the soak's namespaces: the owners of new pods.
    rs_by_ns = {}
    rs_info = {}
    for rs in k.json(["get", "replicasets", "-A"])["items"]:
        m = rs["metadata"]
        if m["namespace"] not in group:
            continue
        tmpl = rs["spec"]["template"]
        key = (m["namespace"], m["name"])
        rs_info[key] = {
            "uid": m["uid"],
            "labels": (tmpl.get("metadata") or {}).get("labels") or {},
            "image": tmpl["spec"]["containers"][0]["image"],
        }
        rs_by_ns.setdefault(m["namespace"], []).append(key)
    if not rs_info:
        log("no ReplicaSets in the soak's namespaces")
        return 1

    # The pods of the soak's namespaces: namespace/name -> (node, owner ReplicaSet or None).
    cols = "NS:.metadata.namespace,NAME:.metadata.name,NODE:.spec.nodeName," \
           "KIND:.metadata.ownerReferences[0].kind,OWNER:.metadata.ownerReferences[0].name"
    pods = {}
    for line in k.run(["get", "pods", "-A", "--no-headers", "-o", f"custom-columns={cols}"]).splitlines():
        f = line.split()
        if len(f) != 5 or f[0] not in group:
            continue
        owner = (f[0], f[4]) if f[3] == "ReplicaSet" and (f[0], f[4]) in rs_info else None
        # custom-columns prints <none> for a pod not bound to a node.
        node = None if f[2] == "<none>" else f[2]
        pods[(f[0], f[1])] = (node, owner)
    nodes_of = {}  # owner -> set of nodes holding one of its pods (for duplicates)
    for node, owner in pods.values():
        if owner and node:
            nodes_of.setdefault(owner, set()).add(node)
    log(f"{len(free)} untainted nodes, {len(rs_info)} ReplicaSets, {len(pods)} pods in {len(group)} namespaces")

    # Every eviction in the log is the operator's (the log records only its
    # user), and soak.sh starts the operator after this point: all are replaced.
    audit = Audit(a.audit_log)
    stats = {"tick": 0, "created": 0, "replaced": 0, "deleted": 0, "tainted": 0,
             "untainted": 0, "evictions_seen": 0, "tainted_now": 0, "errors": 0}
    seq = 0

    def pod_manifest(owner, node):
        nonlocal seq
        seq += 1
        ns, rs = owner
        info = rs_info[owner]
        labels = dict(info["labels"])
        labels[CHURN_LABEL] = "true"
        cpu = rng.choice([50, 100, 200, 250, 500, 1000])
        mem = rng.choice([64, 128, 256, 512, 1024])
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": f"{rs}-soak{a.seed}-{seq}", "namespace": ns, "labels": labels,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                                     "uid": info["uid"], "controller": True,
                                     "blockOwnerDeletion": True}],
            },
            "spec": {
                "nodeName": node,
                "automountServiceAccountToken": False,
                "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "app", "image": info["image"],
                                "resources": {"requests": {"cpu": f"{cpu}m", "memory": f"{mem}Mi"}}}],
            },
        }

    def untainted():
        return [n for n in free if n not in tainted_at]

    def owner_in(ns):
        """A ReplicaSet of namespace ns, else of ns's policy group."""
        if rs_by_ns.get(ns):
            return rng.choice(rs_by_ns[ns])
        same = [o for o in rs_info if group.get(o[0]) == group.get(ns)]
        return rng.choice(same or list(rs_info))

    write_stats(a.stats, stats)
    next_tick = time.monotonic()
    while not stop:
        stats["tick"] += 1
        tick = stats["tick"]
        creates = []

        # Replace what the operator evicted.
        evicted = audit.new_evictions()
        stats["evictions_seen"] += len(evicted)
        for key in evicted:
            node, owner = pods.pop(key, (None, None))
            if node and owner and owner in nodes_of:
                nodes_of[owner].discard(node)
            if key[0] not in group:
                continue
            creates.append((owner or owner_in(key[0]), rng.choice(untainted()), "replaced"))

        # Delete random pods, create as many new ones.
        victims = rng.sample(sorted(pods), min(a.pods, len(pods)))
        for key in victims:
            node, owner = pods.pop(key)
            if owner and owner in nodes_of:
                nodes_of[owner].discard(node)
        for _ in range(a.pods):
            owner = rng.choice(list(rs_info))
            node = rng.choice(untainted())
            held = [n for n in nodes_of.get(owner, ()) if n not in tainted_at]
            if group.get(owner[0]) == a.balance_policy and held and rng.random() < 0.5:
                node = rng.choice(held)
            creates.append((owner, node, "created"))

        if victims:
            refs = {"apiVersion": "v1", "kind": "List", "items": [
                {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": ns, "name": name}}
                for ns, name in victims]}
            out = k.run(["delete", "-f", "-", "--ignore-not-found", "--wait=false", "-o", "name"],
                        stdin=json.dumps(refs), check=False)
            stats["deleted"] += len([ln for ln in out.splitlines() if ln.strip()])
        if creates:
            manifests = [pod_manifest(o, n) for o, n, _ in creates]
            out = k.run(["create", "-f", "-", "-o", "name"],
                        stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}),
                        check=False)
            made = {ln.strip().removeprefix("pod/") for ln in out.splitlines() if ln.strip()}
            for m, (owner, node, why) in zip(manifests, creates):
                if m["metadata"]["name"] in made:
                    pods[(owner[0], m["metadata"]["name"])] = (node, owner)
                    nodes_of.setdefault(owner, set()).add(node)
                    stats[why] += 1

        # Taints: new ones on random untainted nodes, the oldest removed.
        expired = sorted(n for n, t in tainted_at.items() if tick - t >= a.hold)
        fresh = rng.sample(untainted(), min(a.taint, len(untainted()) - 1))
        if expired:
            k.run(["taint", "nodes"] + expired + [f"{TAINT_KEY}:NoSchedule-"], check=False)
            for n in expired:
                del tainted_at[n]
            stats["untainted"] += len(expired)
        if fresh:
            k.run(["taint", "nodes", "--overwrite"] + fresh + [f"{TAINT_KEY}=tick{tick}:NoSchedule"],
                  check=False)
            for n in fresh:
                tainted_at[n] = tick
            stats["tainted"] += len(fresh)
        stats["tainted_now"] = len(tainted_at)
        stats["errors"] = k.errors

        write_stats(a.stats, stats)

        next_tick += a.tick
        while not stop and time.monotonic() < next_tick:
            time.sleep(min(0.5, max(0.0, next_tick - time.monotonic())))
    log(f"stopped after {stats['tick']} ticks: {json.dumps(stats)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
