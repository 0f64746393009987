#!/usr/bin/env python3
"""The summary of bench/soak.sh, from the files it left in OUT: samples.csv,
namespaces.txt (namespace=policy), audit-evictions.txt, audit-attempts.txt,
audit-status-writes.txt (tests/e2e/cluster/audit-count.sh output),
policies.json, operator.log and churn-final.json. Prints Markdown; exits 1
when a policy's evictions in the audit log differ from its
status.totalEvicted, when an eviction hit a namespace of no policy, or when
the operator did not exit 0.

usage: soak-summary.py OUT WARMUP_MINUTES RESTARTS OPERATOR_EXIT_STATUS
"""
import collections, csv, json, os, sys
out, warmup, restarts, op_exit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rows = list(csv.DictReader(open(os.path.join(out, "samples.csv"))))
ns_policy = dict(l.strip().split("=", 1) for l in open(os.path.join(out, "namespaces.txt")) if l.strip())

def per_policy(path):
    c = collections.Counter()
    twice = 0
    for line in open(path):
        n, pod = line.split()
        c[ns_policy.get(pod.split("/", 1)[0], "(no policy)")] += int(n)
        twice += int(n) > 1
    return c, twice

audit, twice = per_policy(os.path.join(out, "audit-evictions.txt"))
attempts, _ = per_policy(os.path.join(out, "audit-attempts.txt"))
writes = collections.Counter()
for line in open(os.path.join(out, "audit-status-writes.txt")):
    n, name = line.split()
    writes[name] = int(n)
items = json.load(open(os.path.join(out, "policies.json")))["items"]
status = {i["metadata"]["name"]: (i.get("status") or {}).get("totalEvicted", 0) for i in items}
interval = {i["metadata"]["name"]: i["spec"].get("interval", "") for i in items}
log = open(os.path.join(out, "operator.log"), errors="replace").read().splitlines()
runs = collections.Counter()
for line in log:
    if "run completed" in line:
        for p in status:
            if f"policy={p} " in line + " ":
                runs[p] += 1
failed_lines = sum("eviction failed" in l for l in log)
errors = sum(" ERROR " in l for l in log)
churn = json.load(open(os.path.join(out, "churn-final.json")))

def mib(kb):
    return f"{int(kb) / 1024:.1f}"

# Minute 0 is the process just started; minute 1 has the watch caches filled.
first, last = rows[min(1, len(rows) - 1)], rows[-1]
warm = rows[min(warmup, len(rows) - 1)]
print(f"## Soak summary ({len(rows) - 1} minutes, warm-up {warmup} minutes)\n")
print(f"| | minute {first['minute']} | minute {warm['minute']} (after warm-up) | minute {last['minute']} (last) | max |")
print("|---|---:|---:|---:|---:|")
for key, label, f in [("vmrss_kb", "VmRSS (MiB)", mib), ("vmhwm_kb", "VmHWM (MiB)", mib),
                      ("sockets", "open sockets", str), ("fds", "open fds", str),
                      ("threads", "threads", str), ("pods", "pods in the cluster", str)]:
    mx = max(int(r[key]) for r in rows)
    print(f"| {label} | {f(first[key])} | {f(warm[key])} | {f(last[key])} | {f(mx)} |")
growth = int(last["vmrss_kb"]) - int(warm["vmrss_kb"])
span = max(1, int(last["minute"]) - int(warm["minute"]))
print(f"\nVmRSS after warm-up to the end: {growth / 1024:+.2f} MiB "
      f"({100 * growth / max(1, int(warm['vmrss_kb'])):+.2f}%, {growth / span:+.0f} KiB/min); "
      f"CPU time {last['cpu_s']} s in {last['elapsed_s']} s.\n")
print(f"Churn: {churn['created']} pods created, {churn['replaced']} evicted pods replaced, "
      f"{churn['deleted']} deleted, {churn['tainted']} taints added, {churn['untainted']} removed, "
      f"{churn['errors']} kubectl errors, over {churn['tick']} ticks.\n")
print("| policy | interval | runs completed | eviction attempts (audit) | evicted (audit, 201) | status.totalEvicted | status writes (audit) | equal |")
print("|---|---|---:|---:|---:|---:|---:|---|")
ok = True
for p in sorted(status):
    eq = audit[p] == status[p]
    ok &= eq
    print(f"| {p} | {interval[p]} | {runs[p]} | {attempts[p]} | {audit[p]} | {status[p]} | {writes[p]} | {'yes' if eq else 'NO'} |")
stray = audit.get("(no policy)", 0)
ok &= stray == 0
print(f"| total | | {sum(runs.values())} | {sum(attempts.values())} | {sum(audit.values())} | {sum(status.values())} | {sum(writes.values())} | {'yes' if ok else 'NO'} |")
print(f"\nPods evicted more than once: {twice}. Evictions outside the policies' namespaces: {stray}. "
      f"'eviction failed' log lines: {failed_lines}; ERROR lines: {errors}.")
print(f"Operator restarts: {restarts}; exit status after SIGTERM: {op_exit}.")
if not ok:
    print("\nFAILED: the audit log and the status totals differ")
    sys.exit(1)
if op_exit != 0:
    print("\nFAILED: the operator did not exit cleanly")
    sys.exit(1)
