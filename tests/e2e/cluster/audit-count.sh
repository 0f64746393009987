#!/usr/bin/env bash
# Count what the local e2e kube-apiserver's audit log recorded (see
# audit-policy.yaml; the log is .cache/cluster/logs/audit.log, JSON lines,
# written by up.sh's apiserver, started afresh by every cluster-up).
#
#   audit-count.sh [evictions] [FILTERS] [--total]
#       successful evictions (create pods/eviction answered 201) per pod:
#       one "<count> <namespace>/<pod>" line per evicted pod, sorted.
#   audit-count.sh status [--policy NAME] [--since T] [--total]
#       successful (2xx) patch/update of deschedulerpolicies/status per
#       DeschedulerPolicy: one "<count> <policy>" line per policy, sorted.
#
# Filters (all optional, combined with AND):
#   --since T        only requests the apiserver received at or after T
#                    (RFC 3339, e.g. 2026-05-01T12:00:00Z or with an offset
#                    or fractional seconds; compared with
#                    requestReceivedTimestamp)
#   --namespace NS   only pods in namespace NS (evictions)
#   --pod NAME       only the pod NAME (evictions)
#   --user NAME      only requests made by user NAME, e.g.
#                    system:serviceaccount:NS:SA
#   --policy NAME    only the DeschedulerPolicy NAME (status)
#   --code N         count responses with HTTP code N instead (e.g. 429 for
#                    evictions a PodDisruptionBudget refused); --code any
#                    counts every attempt
#   --total          print one number, the sum, instead of per-object lines
#                    (0 when nothing matched)
#   --log FILE       read FILE instead of .cache/cluster/logs/audit.log
#                    (rotated backups next to it, audit-*.log, are read too)
#
# Exit status 0 also when nothing matched; 2 on bad usage or a missing log.
# The apiserver writes an event right after it has answered the request
# (audit mode "blocking", no batching), so poll for a few hundred ms rather
# than reading once straight after an eviction returned.
#
# Needs only python3 (no jq). Equivalent jq-free one-liner for a quick look:
#   grep '"subresource":"eviction"' .cache/cluster/logs/audit.log \
#     | grep '"responseStatus":{[^}]*"code":201' \
#     | grep -o '"objectRef":{[^}]*}' | sort | uniq -c
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../../.." && pwd)"
default_log="${root}/.cache/cluster/logs/audit.log"

exec python3 - "${default_log}" "$@" <<'PY'
import collections
import datetime
import glob
import json
import os
import sys

default_log, args = sys.argv[1], sys.argv[2:]


def usage(msg):
    print(f"audit-count.sh: {msg}", file=sys.stderr)
    print("usage: audit-count.sh [evictions|status] [--since RFC3339] [--namespace NS] "
          "[--pod NAME] [--user NAME] [--policy NAME] [--code N|any] [--total] [--log FILE]",
          file=sys.stderr)
    sys.exit(2)


def parse_time(s):
    t = s.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    # fromisoformat takes at most 6 fractional digits.
    if "." in t:
        head, rest = t.split(".", 1)
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        t = head + "." + rest[:i][:6].ljust(6, "0") + rest[i:]
    d = datetime.datetime.fromisoformat(t)
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return d


mode = "evictions"
if args and not args[0].startswith("--"):
    mode = args.pop(0)
    if mode not in ("evictions", "status"):
        usage(f"unknown mode {mode!r}")

opts = {"since": None, "namespace": None, "pod": None, "user": None,
        "policy": None, "code": None, "log": default_log}
total = False
while args:
    a = args.pop(0)
    if a == "--total":
        total = True
        continue
    key, _, val = a[2:].partition("=") if a.startswith("--") else ("", "", "")
    if key not in opts:
        usage(f"unknown argument {a!r}")
    if not val:
        if not args:
            usage(f"{a} needs a value")
        val = args.pop(0)
    opts[key] = val

since = None
if opts["since"]:
    try:
        since = parse_time(opts["since"])
    except ValueError:
        usage(f"--since: not an RFC 3339 time: {opts['since']!r}")
code = opts["code"]
if code not in (None, "any"):
    try:
        code = int(code)
    except ValueError:
        usage(f"--code: not a number: {code!r}")

log = opts["log"]
if not os.path.exists(log):
    print(f"audit-count.sh: no audit log at {log} (is the cluster up? make cluster-up)",
          file=sys.stderr)
    sys.exit(2)
stem, ext = os.path.splitext(log)
files = sorted(glob.glob(f"{glob.escape(stem)}-*{ext}")) + [log]


def code_ok(c):
    if code == "any":
        return True
    if code is not None:
        return c == code
    return c == 201 if mode == "evictions" else 200 <= c < 300


counts = collections.Counter()
for path in files:
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                ev = json.loads(line)
            except ValueError:
                continue  # a line cut short while being written
            if ev.get("stage") not in ("ResponseComplete", "Panic"):
                continue
            ref = ev.get("objectRef") or {}
            if mode == "evictions":
                if ev.get("verb") != "create" or ref.get("resource") != "pods" \
                        or ref.get("subresource") != "eviction":
                    continue
                if opts["namespace"] and ref.get("namespace") != opts["namespace"]:
                    continue
                if opts["pod"] and ref.get("name") != opts["pod"]:
                    continue
                key = f"{ref.get('namespace', '')}/{ref.get('name', '')}"
            else:
                if ev.get("verb") not in ("patch", "update") \
                        or ref.get("apiGroup") != "descheduler.dev" \
                        or ref.get("resource") != "deschedulerpolicies" \
                        or ref.get("subresource") != "status":
                    continue
                if opts["policy"] and ref.get("name") != opts["policy"]:
                    continue
                key = ref.get("name", "")
            if opts["user"] and (ev.get("user") or {}).get("username") != opts["user"]:
                continue
            if not code_ok((ev.get("responseStatus") or {}).get("code", 0)):
                continue
            if since is not None:
                ts = ev.get("requestReceivedTimestamp") or ev.get("stageTimestamp")
                try:
                    if ts is None or parse_time(ts) < since:
                        continue
                except ValueError:
                    continue
            counts[key] += 1

if total:
    print(sum(counts.values()))
else:
    for key in sorted(counts):
        print(f"{counts[key]} {key}")
PY
