#!/usr/bin/env bash
# Stops or starts the kube-apiserver of the running e2e cluster, for the fault
# tests (tests/e2e/operator/faults.rs): everything else (etcd, the
# controllers, kwok, the operators under test) keeps running.
#
#   tests/e2e/cluster/apiserver.sh stop      # SIGTERM, SIGKILL after 15s
#   tests/e2e/cluster/apiserver.sh start     # the same command line again,
#                                            # then waits for /readyz
#   tests/e2e/cluster/apiserver.sh compact   # compacts etcd at its current
#                                            # revision: watches from before
#                                            # it cannot be resumed (410 Gone)
#
# `stop` saves the running process's command line (from /proc) in the
# cluster's data dir, so `start` needs nothing from up.sh: the same flags,
# ports, certificates and audit log (appended to), and the binary path stays
# .cache/bin/kube-apiserver, which cluster-down sweeps. `start` is a no-op
# while it runs; `stop` while it is stopped.
#
# `compact` talks to etcd's gRPC gateway (POST /v3/kv/range for the current
# revision, then /v3/kv/compaction) with curl: etcdctl is not built.
#
# Environment: APISERVER_START_TIMEOUT seconds to wait for /readyz (default 60).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cluster="${root}/.cache/cluster"
[[ -f "${cluster}/env" ]] || { echo "apiserver.sh: no running cluster (${cluster}/env)" >&2; exit 1; }
# shellcheck disable=SC1091
source "${cluster}/env"
pidfile="${cluster}/pids/kube-apiserver.pid"
saved="${DATA_DIR}/kube-apiserver.cmdline"
pki="${DATA_DIR}/pki"
timeout="${APISERVER_START_TIMEOUT:-60}"

# alive PID: PID runs and is not a zombie (the components' parent, up.sh's
# shell, is long gone: whoever inherited them may reap them late).
alive() {
  local _pid _comm state
  read -r _pid _comm state _ 2>/dev/null < "/proc/$1/stat" || return 1
  [[ "${state}" != Z ]]
}

running() {
  [[ -f "${pidfile}" ]] && alive "$(cat "${pidfile}")"
}

ready() {
  curl -fsS --max-time 2 --cacert "${pki}/ca.crt" --cert "${pki}/admin.crt" \
    --key "${pki}/admin.key" "${APISERVER_URL}/readyz" >/dev/null 2>&1
}

case "${1:-}" in
  stop)
    running || exit 0
    pid="$(cat "${pidfile}")"
    cp "/proc/${pid}/cmdline" "${saved}"
    kill -TERM "${pid}"
    for _ in $(seq 1 150); do
      alive "${pid}" || exit 0
      sleep 0.1
    done
    kill -KILL "${pid}" 2>/dev/null || true
    for _ in $(seq 1 50); do
      alive "${pid}" || exit 0
      sleep 0.1
    done
    echo "apiserver.sh: kube-apiserver ${pid} survived SIGKILL" >&2
    exit 1
    ;;
  start)
    if ! running; then
      old_pid="$(cat "${pidfile}" 2>/dev/null || true)"
      [[ -s "${saved}" ]] || { echo "apiserver.sh: no saved command line; stop it with this script first" >&2; exit 1; }
      mapfile -d '' args < "${saved}"
      # setsid forks when it leads its process group (a caller with job
      # control): -f always forks, so record the real pid from its child.
      setsid -f bash -c 'echo $$ > "$1"; shift; exec "$@"' apiserver "${pidfile}" "${args[@]}" \
        </dev/null >>"${cluster}/logs/kube-apiserver.log" 2>&1
      for _ in $(seq 1 50); do
        [[ "$(cat "${pidfile}" 2>/dev/null)" != "${old_pid}" ]] && break
        sleep 0.1
      done
    fi
    deadline=$((SECONDS + timeout))
    until ready; do
      if ! running; then
        echo "apiserver.sh: kube-apiserver exited (log: ${cluster}/logs/kube-apiserver.log)" >&2
        exit 1
      fi
      if ((SECONDS >= deadline)); then
        echo "apiserver.sh: kube-apiserver not ready after ${timeout}s" >&2
        exit 1
      fi
      sleep 0.2
    done
    ;;
  compact)
    etcd="http://127.0.0.1:${ETCD_PORT}"
    # Any key will do: the response header carries the store's revision.
    rev="$(curl -fsS --max-time 5 -X POST "${etcd}/v3/kv/range" -d '{"key":"AA=="}' \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')"
    curl -fsS --max-time 30 -X POST "${etcd}/v3/kv/compaction" \
      -d "{\"revision\":\"${rev}\",\"physical\":true}" >/dev/null
    echo "${rev}"
    ;;
  *)
    echo "usage: $0 stop|start|compact" >&2
    exit 2
    ;;
esac
