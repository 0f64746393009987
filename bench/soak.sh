#!/usr/bin/env bash
# Soak: the operator, evicting for real, for MINUTES on a generated cluster
# (examples/gencluster.rs --apply on bench/cluster.sh's control plane) that
# bench/soak-churn.py keeps changing: pods created and deleted, evicted pods
# replaced, nodes tainted and untainted. Three policies
# (bench/policies/soak.yaml: taints every 30 s, duplicates and low node
# utilization every 60 s, pod lifetime and restarts every 45 s), each limited
# to its own third of the namespaces so the apiserver's audit log attributes
# every eviction to one policy.
#
# Every minute it samples the operator's VmRSS and VmHWM (/proc/PID/status),
# open sockets and file descriptors (/proc/PID/fd), threads, CPU time, the
# cluster's pod count, the churn's counters, the evictions the audit log
# recorded (201 answers to create pods/eviction by user bench-ours) and the
# sum of the policies' status.totalEvicted, into OUT/samples.csv.
#
# At the end it stops the churn, suspends the policies, waits for the runs
# in flight to complete, and compares per policy the evictions in the audit
# log with status.totalEvicted (OUT/summary.md). It fails (exit 1) when they
# differ, when the operator exited or restarted during the soak, or when it
# does not stop cleanly on SIGTERM. RSS growth after warm-up is reported,
# not judged.
#
# Environment: NODES (500), PODS_PER_NODE (30), MINUTES (30), WARMUP
# (minutes, 10, at most MINUTES/3: at 500 nodes RSS settled after 9), SEED
# (1), OUT (.cache/bench/soak),
# CHURN_TICK (seconds, 10), CHURN_PODS (pods deleted and created per tick,
# 20), CHURN_TAINT (nodes tainted per tick, NODES/100, at least 1),
# CHURN_HOLD (ticks a taint stays, 6), MAX_EVICTIONS_PER_MINUTE (120),
# OURS_BIN (a prebuilt descheduler; default: build target/release),
# KEEP_CLUSTER=1 to leave the cluster up.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/.." && pwd)"
cd "${root}"
NODES="${NODES:-500}"
PODS_PER_NODE="${PODS_PER_NODE:-30}"
MINUTES="${MINUTES:-30}"
WARMUP="${WARMUP:-10}"
((WARMUP * 3 <= MINUTES)) || WARMUP=$((MINUTES / 3))
SEED="${SEED:-1}"
OUT="${OUT:-${root}/.cache/bench/soak}"
CHURN_TICK="${CHURN_TICK:-10}"
CHURN_PODS="${CHURN_PODS:-20}"
CHURN_TAINT="${CHURN_TAINT:-$(((NODES + 99) / 100))}"
CHURN_HOLD="${CHURN_HOLD:-6}"
MAX_EVICTIONS_PER_MINUTE="${MAX_EVICTIONS_PER_MINUTE:-120}"
policies=(soak-taints soak-balance soak-age)
state="${root}/.cache/bench-cluster"
audit="${state}/logs/audit.log"
kubectl() { "${root}/.cache/bin/kubectl" --kubeconfig "${state}/kubeconfig" "$@"; }
log() { echo "soak: $(date +%H:%M:%S) $*" >&2; }
fail() { echo "soak: FAILED: $*" >&2; exit 1; }

mkdir -p "${OUT}"
rm -f "${OUT}"/*

if [[ -z "${OURS_BIN:-}" ]]; then
  log "building (release)"
  cargo build --release -q --bin descheduler --examples
  OURS_BIN=target/release/descheduler
fi
make -s cluster-build >/dev/null
gencluster=target/release/examples/gencluster
[[ -x "${gencluster}" ]] || cargo build --release -q --example gencluster

op_pid=""
churn_pid=""
cleanup() {
  [[ -n "${churn_pid}" ]] && kill "${churn_pid}" 2>/dev/null || true
  [[ -n "${op_pid}" ]] && kill "${op_pid}" 2>/dev/null || true
  if [[ "${KEEP_CLUSTER:-}" == 1 ]]; then
    log "cluster left up (KEEP_CLUSTER=1): bench/cluster.sh down to stop it"
  else
    "${here}/cluster.sh" down >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

log "fresh cluster, ${NODES} nodes x ${PODS_PER_NODE} pods (seed ${SEED})"
"${here}/cluster.sh" down >/dev/null 2>&1 || true
"${here}/cluster.sh" up >&2
t0=${SECONDS}
"${gencluster}" --nodes "${NODES}" --pods-per-node "${PODS_PER_NODE}" --seed "${SEED}" --apply \
  --kubeconfig "${state}/kubeconfig" 2> "${OUT}/load.log"
log "loaded in $((SECONDS - t0))s (details: ${OUT}/load.log)"

# Every namespace but kube-system belongs to one policy, round robin.
ns_map=""
i=0
for ns in $(kubectl get namespaces -o name | sed 's|^namespace/||' | sort); do
  case "${ns}" in kube-*|default) continue ;; esac
  p="${policies[$((i % 3))]}"
  kubectl label namespace "${ns}" "soak.descheduler.dev/policy=${p}" --overwrite >/dev/null
  ns_map="${ns_map:+${ns_map},}${ns}=${p}"
  i=$((i + 1))
done
echo "${ns_map}" | tr ',' '\n' > "${OUT}/namespaces.txt"
log "namespaces: ${ns_map}"

kubectl apply -f crds/deschedulerpolicies.descheduler.dev.yaml >/dev/null
# kubectl wait fails at once when the CRD has no conditions yet.
deadline=$((SECONDS + 60))
until kubectl wait --for condition=established --timeout=10s crd/deschedulerpolicies.descheduler.dev >/dev/null 2>&1; do
  ((SECONDS < deadline)) || fail "the DeschedulerPolicy CRD was not established within 60 s"
  sleep 1
done
kubectl apply -f bench/policies/soak.yaml >/dev/null

# Running (an exited child stays a zombie until waited for, and kill -0
# succeeds on a zombie).
running() { [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo gone)" =~ ^[RSDIT]$ ]]; }

# The churn first, so that it has read the cluster before the first eviction
# and replaces every one.
python3 "${here}/soak-churn.py" --kubectl "${root}/.cache/bin/kubectl" --kubeconfig "${state}/kubeconfig" \
  --audit-log "${audit}" --stats "${OUT}/churn.json" --namespaces "${ns_map}" \
  --tick "${CHURN_TICK}" --pods "${CHURN_PODS}" --taint "${CHURN_TAINT}" --hold "${CHURN_HOLD}" \
  --seed "${SEED}" 2> "${OUT}/churn.log" &
churn_pid=$!

deadline=$((SECONDS + 300))
until [[ -f "${OUT}/churn.json" ]]; do
  running "${churn_pid}" || fail "the churn exited; see ${OUT}/churn.log"
  ((SECONDS < deadline)) || fail "the churn did not read the cluster within 300 s"
  sleep 1
done

log "operator: ${OURS_BIN} run (max ${MAX_EVICTIONS_PER_MINUTE} evictions/min)"
KUBECONFIG="${state}/ours.kubeconfig" RUST_LOG=info "${OURS_BIN}" run \
  --metrics-bind-address 127.0.0.1:0 --max-evictions-per-minute "${MAX_EVICTIONS_PER_MINUTE}" \
  > "${OUT}/operator.log" 2>&1 &
op_pid=$!
op_start="$(awk '{print $22}' "/proc/${op_pid}/stat")"

# The operator must be the process started above, not a restarted one.
alive() {
  running "${op_pid}" && [[ "$(awk '{print $22}' "/proc/${op_pid}/stat" 2>/dev/null)" == "${op_start}" ]]
}
audit_evictions() {
  grep -h '"subresource":"eviction"' "${audit}" 2>/dev/null | grep -c '"code":201' || true
}
status_totals() {
  kubectl get deschedulerpolicies -o json | python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
print(" ".join("%s=%d" % (i["metadata"]["name"], (i.get("status") or {}).get("totalEvicted", 0)) for i in items))'
}
pod_count() {
  kubectl get --raw '/api/v1/pods?limit=1' | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(len(d["items"]) + (d["metadata"].get("remainingItemCount") or 0))'
}
churn_field() { python3 -c "import json; print(json.load(open('${OUT}/churn.json')).get('$1', 0))" 2>/dev/null || echo 0; }
clk_tck="$(getconf CLK_TCK)"
csv="${OUT}/samples.csv"
echo "minute,elapsed_s,vmrss_kb,vmhwm_kb,sockets,fds,threads,cpu_s,pods,tainted_nodes,churn_created,churn_replaced,churn_deleted,audit_evictions,status_evicted,runs_completed" > "${csv}"
sample() {
  local m="$1" st rss hwm threads sockets fds cpu totals sum
  st="/proc/${op_pid}/status"
  rss="$(awk '/^VmRSS/ {print $2}' "${st}")"
  hwm="$(awk '/^VmHWM/ {print $2}' "${st}")"
  threads="$(awk '/^Threads/ {print $2}' "${st}")"
  fds="$(find "/proc/${op_pid}/fd" -mindepth 1 -maxdepth 1 | wc -l)"
  sockets="$(find "/proc/${op_pid}/fd" -mindepth 1 -maxdepth 1 -lname 'socket:*' | wc -l)"
  cpu="$(awk -v t="${clk_tck}" '{printf "%.1f", ($14 + $15) / t}' "/proc/${op_pid}/stat")"
  totals="$(status_totals)"
  sum=0
  for kv in ${totals}; do sum=$((sum + ${kv#*=})); done
  echo "${m},$((SECONDS - soak_start)),${rss},${hwm},${sockets},${fds},${threads},${cpu},$(pod_count),$(churn_field tainted_now),$(churn_field created),$(churn_field replaced),$(churn_field deleted),$(audit_evictions),${sum},$(grep -c 'run completed' "${OUT}/operator.log" || true)" >> "${csv}"
  log "minute ${m}: rss $((rss / 1024)) MiB, hwm $((hwm / 1024)) MiB, ${sockets} sockets, status ${totals}"
}

soak_start=${SECONDS}
sample 0
for m in $(seq 1 "${MINUTES}"); do
  deadline=$((soak_start + m * 60))
  while ((SECONDS < deadline)); do
    alive || fail "the operator (pid ${op_pid}) exited during minute ${m}; see ${OUT}/operator.log"
    running "${churn_pid}" || fail "the churn exited during minute ${m}; see ${OUT}/churn.log"
    sleep 1
  done
  sample "${m}"
done

log "stopping the churn, suspending the policies"
kill -TERM "${churn_pid}"
wait "${churn_pid}" || fail "the churn failed; see ${OUT}/churn.log"
churn_pid=""
cp "${OUT}/churn.json" "${OUT}/churn-final.json"
for p in "${policies[@]}"; do
  kubectl patch deschedulerpolicy "${p}" --type merge -p '{"spec":{"suspend":true}}' >/dev/null
done
# Quiet: every run that started has completed, and no policy is Running.
deadline=$((SECONDS + 300))
until (($(grep -c 'run starting' "${OUT}/operator.log") == $(grep -c 'run completed' "${OUT}/operator.log"))) \
  && ! kubectl get deschedulerpolicies -o jsonpath='{.items[*].status.lastRun.result}' | grep -qw Running; do
  ((SECONDS < deadline)) || fail "runs still in flight 300 s after the policies were suspended"
  alive || fail "the operator exited while its last runs completed"
  sleep 2
done
log "runs quiet; waiting for the audit log to hold every eviction"
# The apiserver writes audit events in batches: poll until the count equals
# the status totals, or stops changing for two batch periods.
deadline=$((SECONDS + 120))
last=-1 same=0
while ((SECONDS < deadline)); do
  n="$(audit_evictions)"
  sum=0
  for kv in $(status_totals); do sum=$((sum + ${kv#*=})); done
  ((n == sum)) && break
  if ((n == last)); then same=$((same + 1)); else same=0; fi
  ((same >= 30)) && break
  last="${n}"
  sleep 2
done

kubectl get deschedulerpolicies -o json > "${OUT}/policies.json"
"${root}/tests/e2e/cluster/audit-count.sh" evictions --user bench-ours --log "${audit}" > "${OUT}/audit-evictions.txt"
"${root}/tests/e2e/cluster/audit-count.sh" evictions --user bench-ours --code any --log "${audit}" > "${OUT}/audit-attempts.txt"
"${root}/tests/e2e/cluster/audit-count.sh" status --user bench-ours --log "${audit}" > "${OUT}/audit-status-writes.txt"
alive || fail "the operator exited before the end"
restarts=0
log "stopping the operator (SIGTERM)"
kill -TERM "${op_pid}"
deadline=$((SECONDS + 60))
while running "${op_pid}"; do
  ((SECONDS < deadline)) || fail "the operator did not stop within 60 s of SIGTERM"
  sleep 0.5
done
op_exit=0
wait "${op_pid}" || op_exit=$?
op_pid=""

python3 "${here}/soak-summary.py" "${OUT}" "${WARMUP}" "${restarts}" "${op_exit}" | tee "${OUT}/summary.md" \
  || fail "the audit log and the status totals differ, or the operator did not stop cleanly (${OUT}/summary.md)"
log "samples: ${OUT}/samples.csv; summary: ${OUT}/summary.md"
