#!/usr/bin/env bash
# Our operator and the upstream descheduler (sigs.k8s.io/descheduler, pinned in
# bench/upstream/go.mod) side by side on one local control plane holding a
# synthetic cluster, both in dry run with the same policy
# (bench/policies/upstream.yaml; ours is `descheduler convert` of it). One after the
# other, each for CYCLES completed cycles, measuring:
#
#   - time to the first completed cycle, from process start;
#   - steady-state cycle time: the median of the cycles after the first,
#     from log timestamps (ours: "run starting" to "run completed"; upstream:
#     "Resetting pod evictor counters" to "Number of evictions", -v=3);
#   - peak RSS (VmHWM from /proc/PID/status) until the first completed cycle
#     (start-up) and at the end;
#   - API requests per steady-state cycle, from the apiserver's audit log,
#     which records the requests of each one's own user (bench-ours,
#     bench-upstream); one per request (auditID), a watch when it starts.
#
# and the two plans: ours from `descheduler simulate` on a dump of the live
# cluster taken just before our run (the operator's status lists only 100
# pods; the same engine plans both), upstream's from its "Evicted pod in dry
# run mode" log lines of one cycle. bench/compare.py writes the tables.
#
# Both plans must be made on the same cluster: kwok's pod-complete stage turns
# the Running pods of Jobs into Succeeded (and can overwrite a Failed status
# gencluster patched) for minutes after a load on a busy machine, so the
# script first waits for that, and compares the pods after upstream's run with
# the dump (compare.py reports any pod that changed). bench/explain.py then
# attributes every pod only one side evicts to a cause (explain.md).
#
# Environment: NODES (500), PODS_PER_NODE (30), SEED (1), CYCLES (6), INTERVAL (10s), OUT
# (.cache/bench/vs-upstream), KEEP_CLUSTER=1 to leave the cluster up,
# REUSE_CLUSTER=1 to measure on the cluster a previous KEEP_CLUSTER=1 run left,
# OURS_BIN to measure a prebuilt descheduler binary instead of building the
# working tree, OURS_MODES ("paged auto": ours runs once per
# --initial-list mode, one after the other; the last one's status is kept;
# "default" passes no --initial-list, for a build from before the flag),
# PLANS=0 to skip the dump, the plans and their comparison (at thousands of
# nodes the dump alone is gigabytes), READY_TIMEOUT (seconds gencluster waits
# for kwok to run every pod; default 900, raise it past 2,000 nodes).
#
# memory.tsv samples, every 5 s from the load on, the machine's MemAvailable
# and the RSS of etcd, kube-apiserver, kube-controller-manager, kwok and the
# descheduler running: what limits the cluster size on this machine.
# Nothing of upstream is committed: its source stays in the Go module cache
# and its binary in .cache/bin.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/.." && pwd)"
cd "${root}"
NODES="${NODES:-500}"
PODS_PER_NODE="${PODS_PER_NODE:-30}"
SEED="${SEED:-1}"
CYCLES="${CYCLES:-6}"
INTERVAL="${INTERVAL:-10s}"
OURS_MODES="${OURS_MODES:-paged auto}"
PLANS="${PLANS:-1}"
READY_TIMEOUT="${READY_TIMEOUT:-900}"
OUT="${OUT:-${root}/.cache/bench/vs-upstream}"
state="${root}/.cache/bench-cluster"
log() { echo "vs-upstream: $*" >&2; }
# kubectl (the control plane's), now, vmhwm, wait_for_cycles
. "${here}/lib.sh"
# The RSS (KiB) of the bench cluster's components and of PID $1 (if any),
# with the machine's MemAvailable, every 5 s, into memory.tsv.
sample_memory() {
  local c pid rss
  echo -e "time\tmem_available_kb\tetcd\tkube-apiserver\tkube-controller-manager\tkwok\tdescheduler" > "${OUT}/memory.tsv"
  while :; do
    local row
    row="$(date +%s)\t$(awk '/MemAvailable/ {print $2}' /proc/meminfo)"
    for c in etcd kube-apiserver kube-controller-manager kwok; do
      pid="$(cat "${state}/pids/${c}.pid" 2>/dev/null || true)"
      rss="$(awk '/VmRSS/ {print $2}' "/proc/${pid}/status" 2>/dev/null || true)"
      row+="\t${rss:-}"
    done
    pid="$(cat "${OUT}/running.pid" 2>/dev/null || true)"
    rss=""
    [[ -n "${pid}" ]] && rss="$(awk '/VmRSS/ {print $2}' "/proc/${pid}/status" 2>/dev/null || true)"
    echo -e "${row}\t${rss}" >> "${OUT}/memory.tsv"
    sleep 5
  done
}

mkdir -p "${OUT}"
rm -f "${OUT}"/*

log "building: control plane, upstream descheduler, ours"
make -s cluster-build >/dev/null
"${here}/build-upstream.sh" >&2
if [[ -n "${OURS_BIN:-}" ]]; then
  [[ "${REUSE_CLUSTER:-}" == 1 ]] || cargo build --release -q --example gencluster
else
  cargo build --release -q --bin descheduler --example gencluster
  OURS_BIN=target/release/descheduler
fi

cleanup() {
  [[ -n "${sampler_pid:-}" ]] && kill "${sampler_pid}" 2>/dev/null || true
  [[ -n "${ours_pid:-}" ]] && kill "${ours_pid}" 2>/dev/null || true
  [[ -n "${up_pid:-}" ]] && kill "${up_pid}" 2>/dev/null || true
  [[ "${KEEP_CLUSTER:-}" == 1 ]] || "${here}/cluster.sh" down >/dev/null 2>&1 || true
}
trap cleanup EXIT
if [[ "${REUSE_CLUSTER:-}" == 1 && -f "${state}/kubeconfig" ]]; then
  log "reusing the loaded cluster (REUSE_CLUSTER=1)"
  load_s=nan
else
  log "fresh cluster, ${NODES} nodes x ${PODS_PER_NODE} pods (seed ${SEED})"
  "${here}/cluster.sh" down >/dev/null 2>&1 || true
  "${here}/cluster.sh" up >&2
  sample_memory & sampler_pid=$!
  t0="$(now)"
  target/release/examples/gencluster --nodes "${NODES}" --pods-per-node "${PODS_PER_NODE}" --seed "${SEED}" --apply \
    --ready-timeout "${READY_TIMEOUT}" --kubeconfig "${state}/kubeconfig" 2> "${OUT}/load.log"
  load_s="$(echo "$(now) - ${t0}" | bc)"
  log "loaded in ${load_s}s (details: ${OUT}/load.log)"
fi
[[ -n "${sampler_pid:-}" ]] || { sample_memory & sampler_pid=$!; }
t0="$(now)"
while :; do
  # Job pods only (they carry job-name), filtered by the server: a list of
  # every running pod is too big at thousands of nodes.
  jobs_running="$(kubectl get pods -A -l job-name --field-selector=status.phase=Running \
    --no-headers -o name | wc -l)"
  ((jobs_running == 0)) && break
  log "waiting for kwok to complete ${jobs_running} running Job pods"
  sleep 10
done
log "cluster settled ($(echo "$(now) - ${t0}" | bc)s)"
# Every node Ready and untainted by condition (see bench/cluster.sh), or
# NodeTaints would plan for a cluster no one runs.
not_ready_tainted="$(kubectl get nodes -o jsonpath='{range .items[*]}{.spec.taints[*].key}{"\n"}{end}' \
  | grep -c '^\(.* \)\{0,1\}node.kubernetes.io/not-ready\( \|$\)' || true)"
if ((not_ready_tainted > 0)); then
  echo "vs-upstream: ${not_ready_tainted} nodes carry node.kubernetes.io/not-ready; is the cluster from an older bench/cluster.sh? (bench/cluster.sh down, then run again)" >&2
  exit 1
fi
kubectl apply -f crds/deschedulerpolicies.descheduler.dev.yaml >/dev/null
kubectl wait --for condition=established --timeout=60s crd/deschedulerpolicies.descheduler.dev >/dev/null
audit="${state}/logs/audit.log"

# --- ours ------------------------------------------------------------------------
if [[ "${PLANS}" == 1 ]]; then
  log "dumping the cluster for our plan"
  kubectl get nodes,pods,poddisruptionbudgets,priorityclasses,namespaces -A -o json > "${OUT}/cluster.json"
fi
date -u +%Y-%m-%dT%H:%M:%SZ > "${OUT}/dump-time.txt"
# Ours is upstream's policy converted, as a user coming from upstream would
# do it, switched to a dry run.
"${OURS_BIN}" convert bench/policies/upstream.yaml --interval "${INTERVAL}" 2>"${OUT}/convert-notes.txt" \
  | sed 's/^spec:$/spec:\n  dryRun: true/' > "${OUT}/ours-policy.yaml"
echo "${OURS_MODES}" > "${OUT}/ours-modes.txt"
for mode in ${OURS_MODES}; do
  log "ours (--initial-list ${mode}): descheduler run, dry run, interval ${INTERVAL}"
  kubectl apply -f "${OUT}/ours-policy.yaml" >/dev/null
  now > "${OUT}/ours-${mode}-start.txt"
  # "default": no --initial-list (a build from before it existed).
  flag=(--initial-list "${mode}")
  [[ "${mode}" == default ]] && flag=()
  KUBECONFIG="${state}/ours.kubeconfig" RUST_LOG=info "${OURS_BIN}" run \
    --metrics-bind-address 127.0.0.1:0 "${flag[@]}" \
    > "${OUT}/ours-${mode}.log" 2>&1 &
  ours_pid=$!
  echo "${ours_pid}" > "${OUT}/running.pid"
  # Its log, not its status, tells when runs complete: polling the status with
  # kubectl on a busy machine missed runs, and costs CPU during the measurement.
  wait_for_cycles "run completed" "${OUT}/ours-${mode}.log" "${ours_pid}" ours "${OUT}/ours-${mode}-startup-rss-kb.txt"
  vmhwm "${ours_pid}" > "${OUT}/ours-${mode}-rss-kb.txt"
  kubectl get dsp bench -o json > "${OUT}/ours-status.json"
  kill "${ours_pid}"; wait "${ours_pid}" 2>/dev/null || true; ours_pid=""
  rm -f "${OUT}/running.pid"
  kubectl delete dsp bench >/dev/null
done
if [[ "${PLANS}" == 1 ]]; then
  "${OURS_BIN}" simulate --policy "${OUT}/ours-policy.yaml" --cluster "${OUT}/cluster.json" \
    --now "$(cat "${OUT}/dump-time.txt")" --output json > "${OUT}/ours-plan.json"
fi

# --- upstream --------------------------------------------------------------------
log "upstream: descheduler-upstream --dry-run, interval ${INTERVAL}"
t_start="$(now)"
echo "${t_start}" > "${OUT}/upstream-start.txt"
.cache/bin/descheduler-upstream --kubeconfig "${state}/upstream.kubeconfig" \
  --policy-config-file bench/policies/upstream.yaml --descheduling-interval "${INTERVAL}" \
  --dry-run --secure-port 0 -v=3 > "${OUT}/upstream.log" 2>&1 &
up_pid=$!
echo "${up_pid}" > "${OUT}/running.pid"
wait_for_cycles "Number of evictions/requests" "${OUT}/upstream.log" "${up_pid}" upstream "${OUT}/upstream-startup-rss-kb.txt"
up_rss="$(vmhwm "${up_pid}")"
kill "${up_pid}"; wait "${up_pid}" 2>/dev/null || true; up_pid=""
rm -f "${OUT}/running.pid"
echo "${up_rss}" > "${OUT}/upstream-rss-kb.txt"
for c in etcd kube-apiserver kube-controller-manager kwok; do
  pid="$(cat "${state}/pids/${c}.pid" 2>/dev/null || true)"
  echo "${c} $(vmhwm "${pid}" 2>/dev/null || echo nan)"
done > "${OUT}/control-plane-hwm-kb.txt"
cp "${audit}" "${OUT}/audit.log"
[[ "${PLANS}" == 1 ]] && kubectl get pods -A -o json > "${OUT}/pods-after.json"

python3 "${here}/compare.py" "${OUT}" "${load_s}" | tee "${OUT}/results.md"
if [[ "${PLANS}" == 1 ]]; then
  python3 "${here}/explain.py" "${OUT}" > "${OUT}/explain.md"
  log "every differing pod attributed to a cause: ${OUT}/explain.md"
fi
