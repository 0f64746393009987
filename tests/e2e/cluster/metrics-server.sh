#!/usr/bin/env bash
# Stops or starts the metrics-server of the running e2e cluster (WITH_METRICS=1),
# for tests of a metrics outage (tests/e2e/operator/metrics.rs):
#
#   tests/e2e/cluster/metrics-server.sh stop    # SIGTERM, SIGKILL after 15s
#   tests/e2e/cluster/metrics-server.sh start   # the same command line again
#
# `stop` saves the running process's command line (from /proc) in the
# cluster's data dir, so `start` needs nothing from up.sh; the binary path
# stays .cache/bin/metrics-server, which cluster-down sweeps.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cluster="${root}/.cache/cluster"
[[ -f "${cluster}/env" ]] || { echo "metrics-server.sh: no running cluster (${cluster}/env)" >&2; exit 1; }
# shellcheck disable=SC1091
source "${cluster}/env"
[[ "${WITH_METRICS:-0}" == 1 ]] || { echo "metrics-server.sh: the cluster runs without metrics (WITH_METRICS=1 make cluster-up)" >&2; exit 1; }
pidfile="${cluster}/pids/metrics-server.pid"
saved="${DATA_DIR}/metrics-server.cmdline"

running() {
  [[ -f "${pidfile}" ]] && kill -0 "$(cat "${pidfile}")" 2>/dev/null
}

case "${1:-}" in
  stop)
    running || exit 0
    pid="$(cat "${pidfile}")"
    cp "/proc/${pid}/cmdline" "${saved}"
    kill -TERM "${pid}"
    for _ in $(seq 1 150); do
      kill -0 "${pid}" 2>/dev/null || exit 0
      sleep 0.1
    done
    kill -KILL "${pid}" 2>/dev/null || true
    ;;
  start)
    running && exit 0
    [[ -s "${saved}" ]] || { echo "metrics-server.sh: no saved command line; stop it with this script first" >&2; exit 1; }
    mapfile -d '' args < "${saved}"
    setsid "${args[@]}" </dev/null >>"${cluster}/logs/metrics-server.log" 2>&1 &
    echo $! > "${pidfile}"
    ;;
  *)
    echo "usage: $0 stop|start" >&2
    exit 2
    ;;
esac
