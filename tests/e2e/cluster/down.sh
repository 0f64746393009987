#!/usr/bin/env bash
# Stop the control plane started by up.sh and remove its data.
#
# Sends SIGTERM to every recorded component (then SIGKILL after a grace
# period), also sweeps any process still running one of this checkout's
# .cache/bin binaries, removes the temp data dir, the kubeconfig and the pid
# files, and keeps the logs in .cache/cluster/logs/. Exits non-zero if a
# process survives. Safe to run when nothing is up.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../../.." && pwd)"
bin="${root}/.cache/bin"
state="${root}/.cache/cluster"
pids="${state}/pids"

# Stop order: clients first, etcd last.
components=(kwok kube-scheduler kube-controller-manager kube-apiserver etcd)

log() { echo "cluster-down: $*"; }

# is_ours PID NAME: PID is alive and runs ${bin}/NAME (guards against pid reuse).
is_ours() {
  local exe
  exe="$(readlink "/proc/$1/exe" 2>/dev/null)" || return 1
  exe="${exe% (deleted)}" # the binary may have been rebuilt meanwhile
  [[ "${exe}" == "${bin}/$2" ]]
}

# Pids of every live process of this checkout's component binaries.
our_pids() {
  local p exe c
  for p in /proc/[0-9]*; do
    exe="$(readlink "${p}/exe" 2>/dev/null)" || continue
    exe="${exe% (deleted)}"
    for c in "${components[@]}"; do
      if [[ "${exe}" == "${bin}/${c}" ]]; then
        echo "${p#/proc/}"
      fi
    done
  done
}

targets=()
for c in "${components[@]}"; do
  pid="$(cat "${pids}/${c}.pid" 2>/dev/null || true)"
  if [[ -n "${pid}" ]] && is_ours "${pid}" "${c}"; then
    targets+=("${pid}")
    log "stopping ${c} (pid ${pid})"
    kill -TERM "${pid}" 2>/dev/null || true
  fi
done
for pid in $(our_pids); do
  if [[ " ${targets[*]} " != *" ${pid} "* ]]; then
    log "stopping unrecorded $(readlink "/proc/${pid}/exe" 2>/dev/null) (pid ${pid})"
    targets+=("${pid}")
    kill -TERM "${pid}" 2>/dev/null || true
  fi
done

# Up to 15s for a clean exit, then SIGKILL.
for _ in $(seq 1 150); do
  [[ -z "$(our_pids)" ]] && break
  sleep 0.1
done
for pid in $(our_pids); do
  log "killing pid ${pid} (did not exit on SIGTERM)"
  kill -KILL "${pid}" 2>/dev/null || true
done
for _ in $(seq 1 50); do
  [[ -z "$(our_pids)" ]] && break
  sleep 0.1
done

status=0
left="$(our_pids)"
if [[ -n "${left}" ]]; then
  log "ERROR: processes still running: ${left}" >&2
  status=1
fi

data="$(cat "${state}/datadir" 2>/dev/null || true)"
if [[ -n "${data}" && -d "${data}" && "${data}" == */descheduler-e2e-cluster.* ]]; then
  rm -rf "${data}"
  log "removed ${data}"
fi
rm -rf "${pids}" "${state}/kubeconfig" "${state}/env" "${state}/datadir"
log "done (logs kept in ${state}/logs/)"
exit "${status}"
