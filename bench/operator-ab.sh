#!/usr/bin/env bash
# Two or more builds of the operator, one after the other, on the cluster a
# `KEEP_CLUSTER=1 bench/vs-upstream.sh` run left up, in dry run with the
# policy that run wrote (OUT/ours-policy.yaml). Each binary runs until CYCLES
# runs completed, and the script prints, per binary:
#
#   - the operator's CPU time (utime+stime, /proc/PID/stat) between its first
#     and its last completed run, divided by the runs in between. On a
#     two-core machine that also runs a loaded control plane, wall-clock
#     cycles vary by about 30 %, and this figure varies much less;
#   - the median wall-clock cycle ("run starting" to "run completed");
#   - peak RSS (VmHWM).
#
#   bench/operator-ab.sh BINARY... (name a binary twice or more to alternate runs)
#
# Environment: CYCLES (9), OUT (.cache/bench/vs-upstream-2000: the run that
# left the cluster). Logs go to OUT/ab-N.log.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"
[[ $# -ge 1 ]] || { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
CYCLES="${CYCLES:-9}"
OUT="${OUT:-${root}/.cache/bench/vs-upstream-2000}"
state="${root}/.cache/bench-cluster"
[[ -f "${state}/kubeconfig" && -f "${OUT}/ours-policy.yaml" ]] \
  || { echo "operator-ab.sh: no kept cluster or policy (run KEEP_CLUSTER=1 bench/vs-upstream.sh first)" >&2; exit 2; }
((CYCLES >= 3)) || { echo "operator-ab.sh: CYCLES must be at least 3" >&2; exit 2; }
log() { echo "operator-ab: $*" >&2; }
# kubectl (the control plane's), vmhwm, wait_for_cycles
. "${root}/bench/lib.sh"
pid=""
trap '[[ -n "${pid}" ]] && kill "${pid}" 2>/dev/null || true' EXIT
i=0
for bin in "$@"; do
  [[ -x "${bin}" ]] || { echo "operator-ab.sh: ${bin} is not an executable" >&2; exit 2; }
  i=$((i + 1))
  runlog="${OUT}/ab-${i}.log"
  kubectl apply -f "${OUT}/ours-policy.yaml" >/dev/null
  KUBECONFIG="${state}/ours.kubeconfig" RUST_LOG=info "${bin}" run \
    --metrics-bind-address 127.0.0.1:0 --initial-list auto > "${runlog}" 2>&1 &
  pid=$!
  CYCLES=1 wait_for_cycles "run completed" "${runlog}" "${pid}" "${bin}" /dev/null
  cpu0="$(awk '{print $14 + $15}' "/proc/${pid}/stat")"
  wait_for_cycles "run completed" "${runlog}" "${pid}" "${bin}" /dev/null
  cpu1="$(awk '{print $14 + $15}' "/proc/${pid}/stat")"
  hwm="$(vmhwm "${pid}")"
  kill "${pid}"; wait "${pid}" 2>/dev/null || true; pid=""
  kubectl delete dsp bench >/dev/null
  python3 - "${runlog}" "${bin}" "${hwm}" "${cpu0}" "${cpu1}" "${CYCLES}" "$(getconf CLK_TCK)" <<'PY'
import datetime, statistics, sys
log, binary, hwm, cpu0, cpu1, cycles, tck = sys.argv[1:8]
stamp = lambda line: datetime.datetime.fromisoformat(line[:26])
walls, start = [], None
for line in open(log):
    if "run starting" in line:
        start = stamp(line)
    elif "run completed" in line and start is not None:
        walls.append((stamp(line) - start).total_seconds())
steady = walls[1:int(cycles)]
cpu = (int(cpu1) - int(cpu0)) / int(tck) / (int(cycles) - 1)
print(f"{binary}: CPU per steady cycle {cpu:.3f} s; wall median {statistics.median(steady):.3f} s "
      f"({' '.join(f'{w:.3f}' for w in steady)}); first {walls[0]:.3f} s; VmHWM {int(hwm) // 1024} MiB")
PY
done
