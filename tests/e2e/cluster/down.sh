#!/usr/bin/env bash
# Stop the control plane started by up.sh (with WITH_METRICS=1 also its
# metrics-server and Prometheus) and remove its data.
#
# Sends SIGTERM to every recorded component, to etcd only once the others have
# exited (SIGKILL after a grace period), also sweeps any process still running
# one of this checkout's .cache/bin binaries, removes the temp data dir, the
# kubeconfig and the pid files, and keeps the logs in .cache/cluster/logs/. Exits non-zero if a
# process survives. Safe to run when nothing is up.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../../.." && pwd)"
bin="${root}/.cache/bin"
state="${root}/.cache/cluster"
pids="${state}/pids"

# Stop order: clients first, etcd last. prometheus and metrics-server run only
# with WITH_METRICS=1; absent pid files are skipped.
components=(prometheus metrics-server kwok kube-scheduler kube-controller-manager kube-apiserver etcd)

log() { echo "cluster-down: $*"; }

# is_ours PID NAME: PID is alive and runs ${bin}/NAME (guards against pid reuse).
is_ours() {
  local exe
  exe="$(readlink "/proc/$1/exe" 2>/dev/null)" || return 1
  exe="${exe% (deleted)}" # the binary may have been rebuilt meanwhile
  [[ "${exe}" == "${bin}/$2" ]]
}

# Pids of every live process of this checkout's component binaries (one
# `find` for all of /proc: a readlink per process costs a fork each).
our_pids() {
  local dir exe c
  while read -r dir exe; do
    exe="${exe% (deleted)}"
    for c in "${components[@]}"; do
      if [[ "${exe}" == "${bin}/${c}" ]]; then
        echo "${dir#/proc/}"
      fi
    done
  done < <(find /proc -mindepth 2 -maxdepth 2 -name exe -path '/proc/[0-9]*' -printf '%h %l\n' 2>/dev/null)
}

# alive PID: PID runs and is not a zombie. The components' parent (the shell
# of up.sh) is long gone, so whoever inherits them may reap them only a second
# or so after they exit; a zombie has exited all the same.
alive() {
  local _pid _comm state
  read -r _pid _comm state _ < "/proc/$1/stat" 2>/dev/null || return 1
  [[ "${state}" != Z ]]
}

# wait_gone SECONDS PID...: wait until none of PID... is alive, at most SECONDS.
wait_gone() {
  local deadline=$((SECONDS + $1)) pid any
  shift
  while true; do
    any=0
    for pid in "$@"; do
      if alive "${pid}"; then any=1; break; fi
    done
    [[ "${any}" == 0 ]] && return 0
    ((SECONDS >= deadline)) && return 1
    sleep 0.1
  done
}

# Everything but etcd first, and wait for it: a stopping kube-apiserver still
# talks to etcd (it deletes its lease, finishes its storage); with etcd gone
# it hangs 10s or more. Then etcd. Up to 15s each for a clean exit.
targets=()
first=()
etcd_pid=""
for c in "${components[@]}"; do
  pid="$(cat "${pids}/${c}.pid" 2>/dev/null || true)"
  if [[ -n "${pid}" ]] && is_ours "${pid}" "${c}"; then
    targets+=("${pid}")
    if [[ "${c}" == etcd ]]; then
      etcd_pid="${pid}"
      continue
    fi
    log "stopping ${c} (pid ${pid})"
    kill -TERM "${pid}" 2>/dev/null || true
    first+=("${pid}")
  fi
done
((${#first[@]} == 0)) || wait_gone 15 "${first[@]}" || true
if [[ -n "${etcd_pid}" ]]; then
  log "stopping etcd (pid ${etcd_pid})"
  kill -TERM "${etcd_pid}" 2>/dev/null || true
  wait_gone 15 "${etcd_pid}" || true
fi
unrecorded=()
for pid in $(our_pids); do
  if [[ " ${targets[*]} " != *" ${pid} "* ]]; then
    log "stopping unrecorded $(readlink "/proc/${pid}/exe" 2>/dev/null) (pid ${pid})"
    unrecorded+=("${pid}")
    kill -TERM "${pid}" 2>/dev/null || true
  fi
done
((${#unrecorded[@]} == 0)) || wait_gone 15 "${unrecorded[@]}" || true

# Whatever of ours still runs gets SIGKILL.
left=()
for pid in $(our_pids); do
  log "killing pid ${pid} (did not exit on SIGTERM)"
  kill -KILL "${pid}" 2>/dev/null || true
  left+=("${pid}")
done
((${#left[@]} == 0)) || wait_gone 5 "${left[@]}" || true

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
