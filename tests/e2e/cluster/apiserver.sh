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
#   tests/e2e/cluster/apiserver.sh second NAME [FLAG...]
#                                            # a second kube-apiserver on the
#                                            # same etcd, with the running
#                                            # one's flags plus FLAGs; prints
#                                            # its URL once /readyz answers
#   tests/e2e/cluster/apiserver.sh second-stop NAME
#
# A second API server serves the same cluster (as in a highly available
# control plane) with different flags, e.g. --feature-gates=WatchList=false,
# to the one client a test points at it, while every other test and
# component keeps the first: nothing else is disturbed. It takes its own
# port, logs to logs/kube-apiserver-NAME.log, writes its audit log to
# logs/NAME-apiserver-audit.log (not audit*.log: the counts of the other
# tests stay the first server's) and leaves the `kubernetes` Service's
# endpoints to the first (--endpoint-reconciler-type=none). Its binary is
# .cache/bin/kube-apiserver, so cluster-down sweeps it too.
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
  second)
    name="${2:?usage: $0 second NAME [FLAG...]}"
    shift 2
    running || { echo "apiserver.sh: the first kube-apiserver is not running" >&2; exit 1; }
    second_pid="${cluster}/pids/kube-apiserver-${name}.pid"
    [[ -f "${second_pid}" ]] && alive "$(cat "${second_pid}")" && {
      echo "apiserver.sh: a second kube-apiserver ${name} already runs" >&2; exit 1; }
    source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
    take_ports second_port
    mapfile -d '' first < "/proc/$(cat "${pidfile}")/cmdline"
    args=()
    for a in "${first[@]}"; do
      case "${a}" in
        --secure-port=*) args+=("--secure-port=${second_port}") ;;
        --audit-log-path=*) args+=("--audit-log-path=${cluster}/logs/${name}-apiserver-audit.log") ;;
        --cert-dir=*) args+=("--cert-dir=${DATA_DIR}/kube-apiserver-${name}") ;;
        *) args+=("${a}") ;;
      esac
    done
    args+=(--endpoint-reconciler-type=none "$@")
    setsid -f bash -c 'echo $$ > "$1"; shift; exec "$@"' apiserver "${second_pid}" "${args[@]}" \
      </dev/null >"${cluster}/logs/kube-apiserver-${name}.log" 2>&1
    url="https://127.0.0.1:${second_port}"
    deadline=$((SECONDS + timeout))
    until curl -fsS --max-time 2 --cacert "${pki}/ca.crt" --cert "${pki}/admin.crt" \
        --key "${pki}/admin.key" "${url}/readyz" >/dev/null 2>&1; do
      if [[ -f "${second_pid}" ]] && ! alive "$(cat "${second_pid}")"; then
        echo "apiserver.sh: kube-apiserver ${name} exited (log: ${cluster}/logs/kube-apiserver-${name}.log)" >&2
        exit 1
      fi
      if ((SECONDS >= deadline)); then
        echo "apiserver.sh: kube-apiserver ${name} not ready after ${timeout}s" >&2
        exit 1
      fi
      sleep 0.2
    done
    echo "${url}"
    ;;
  second-stop)
    name="${2:?usage: $0 second-stop NAME}"
    second_pid="${cluster}/pids/kube-apiserver-${name}.pid"
    [[ -f "${second_pid}" ]] || exit 0
    pid="$(cat "${second_pid}")"
    if alive "${pid}" && [[ "$(readlink "/proc/${pid}/exe" 2>/dev/null)" == "${root}/.cache/bin/kube-apiserver" ]]; then
      kill -TERM "${pid}"
      for _ in $(seq 1 150); do alive "${pid}" || break; sleep 0.1; done
      alive "${pid}" && kill -KILL "${pid}" 2>/dev/null
    fi
    rm -f "${second_pid}"
    ;;
  *)
    echo "usage: $0 stop|start|compact|second NAME [FLAG...]|second-stop NAME" >&2
    exit 2
    ;;
esac
