#!/usr/bin/env bash
# A local control plane for bench/vs-upstream.sh, apart from the e2e one:
#
#   bench/cluster.sh up     start it (a no-op when it is up)
#   bench/cluster.sh down   stop it and remove its data (logs stay)
#
# Built from the same binaries as tests/e2e/cluster/up.sh (run `make
# cluster-build` first), started the same way, with these differences:
#
# - its own state in .cache/bench-cluster/ (kubeconfigs, logs, pids) and its
#   own copies (hard links) of the binaries in .cache/bench-cluster/bin, so
#   the e2e cluster's up/down scripts never see or stop it;
# - kube-controller-manager runs without the workload controllers
#   (deployment, replicaset, statefulset, daemonset, job, cronjob): the
#   synthetic cluster (examples/gencluster.rs --apply) binds its pods to their
#   nodes itself and owns them by real but inert controllers; no scheduler;
#   nor the node lifecycle and taint eviction controllers: at 2,000 nodes
#   kwok, busy running pods on two cores, renews leases late, and those
#   controllers then tainted nodes NotReady and deleted their pods mid-load;
#   and so no TaintNodesByCondition admission either: it puts
#   node.kubernetes.io/not-ready:NoSchedule on every node created, for the
#   node lifecycle controller to take off once the node is Ready, so without
#   that controller every node kept it and RemovePodsViolatingNodeTaints
#   flagged every pod that does not tolerate it (runs before 2026-12-07);
# - the apiserver writes an audit log (JSON, Metadata level) of the requests
#   of two users only, bench-ours and bench-upstream, each with its own client
#   certificate and kubeconfig (ours.kubeconfig, upstream.kubeconfig): that is
#   how API requests per cycle are counted;
# - no default kwok nodes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/.." && pwd)"
src_bin="${root}/.cache/bin"
state="${root}/.cache/bench-cluster"
bin="${state}/bin"
logs="${state}/logs"
pids="${state}/pids"
kubeconfig="${state}/kubeconfig"
timeout="${CLUSTER_UP_TIMEOUT:-120}"
components=(etcd kube-apiserver kube-controller-manager kwok)

log() { echo "bench-cluster: $*"; }

down() {
  for c in kwok kube-controller-manager kube-apiserver etcd; do
    pid="$(cat "${pids}/${c}.pid" 2>/dev/null || true)"
    if [[ -n "${pid}" ]] && [[ "$(readlink "/proc/${pid}/exe" 2>/dev/null)" == "${bin}/${c}"* ]]; then
      log "stopping ${c} (pid ${pid})"
      kill -TERM "${pid}" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.2; done
      kill -KILL "${pid}" 2>/dev/null || true
    fi
    rm -f "${pids}/${c}.pid"
  done
  if [[ -f "${state}/datadir" ]]; then
    rm -rf "$(cat "${state}/datadir")"
    rm -f "${state}/datadir"
  fi
  rm -f "${kubeconfig}" "${state}/ours.kubeconfig" "${state}/upstream.kubeconfig" "${state}/env"
}

case "${1:-}" in
  down) down; exit 0 ;;
  up) ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac

for b in "${components[@]}" kubectl; do
  [[ -x "${src_bin}/${b}" ]] || { echo "bench-cluster: ${src_bin}/${b} not found; run 'make cluster-build' first" >&2; exit 1; }
done

if [[ -f "${kubeconfig}" ]] && "${src_bin}/kubectl" --kubeconfig "${kubeconfig}" get --raw /readyz >/dev/null 2>&1; then
  log "already up (kubeconfig: ${kubeconfig})"
  exit 0
fi
down >/dev/null 2>&1 || true

mkdir -p "${bin}" "${logs}" "${pids}"
for b in "${components[@]}" kubectl kwok-stages.yaml; do
  rm -f "${bin}/${b}"
  ln "${src_bin}/${b}" "${bin}/${b}" 2>/dev/null || cp "${src_bin}/${b}" "${bin}/${b}"
done

start_time=${SECONDS}
data="$(mktemp -d "${TMPDIR:-/tmp}/descheduler-bench-cluster.XXXXXX")"
echo "${data}" > "${state}/datadir"
failed=1
trap '[[ ${failed} == 1 ]] && { for c in "${components[@]}"; do echo "--- ${c}" >&2; tail -n 15 "${logs}/${c}.log" >&2 2>/dev/null || true; done; down >&2; }' EXIT

source "${root}/tests/e2e/cluster/lib.sh"
take_ports etcd_port etcd_peer_port apiserver_port kcm_port kwok_port
server="https://127.0.0.1:${apiserver_port}"
cat > "${state}/env" <<ENV
DATA_DIR=${data}
APISERVER_URL=${server}
AUDIT_LOG=${logs}/audit.log
ENV

pki="${data}/pki"
mkdir -p "${pki}"
new_ca descheduler-bench-ca
issue apiserver "/CN=kube-apiserver" \
  'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc'
issue admin "/O=system:masters/CN=bench-admin" "${client_ext}"
issue kube-controller-manager "/CN=system:kube-controller-manager" "${client_ext}"
issue kwok "/O=system:masters/CN=kwok" "${client_ext}"
issue ours "/O=system:masters/CN=bench-ours" "${client_ext}"
issue upstream "/O=system:masters/CN=bench-upstream" "${client_ext}"
issue front-proxy-client "/CN=front-proxy-client" "${client_ext}"
new_sa_keys

write_kubeconfig() {
  local file="$1" user="$2"
  cat > "${file}" <<KC
apiVersion: v1
kind: Config
clusters:
- name: bench
  cluster:
    server: ${server}
    certificate-authority-data: $(base64 -w0 < "${pki}/ca.crt")
users:
- name: ${user}
  user:
    client-certificate-data: $(base64 -w0 < "${pki}/${user}.crt")
    client-key-data: $(base64 -w0 < "${pki}/${user}.key")
contexts:
- name: bench
  context: {cluster: bench, user: ${user}}
current-context: bench
KC
  chmod 600 "${file}"
}
for u in admin kube-controller-manager kwok ours upstream; do
  write_kubeconfig "${data}/${u}.kubeconfig" "${u}"
done

cat > "${data}/audit-policy.yaml" <<'AUDIT'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  users: [bench-ours, bench-upstream]
- level: None
AUDIT

start() {
  local name="$1"; shift
  log "starting ${name}"
  setsid "${bin}/${name}" "$@" </dev/null >"${logs}/${name}.log" 2>&1 &
  echo $! > "${pids}/${name}.pid"
}
wait_until() {
  local name="$1" what="$2"; shift 2
  local deadline=$((SECONDS + timeout)) pid
  pid="$(cat "${pids}/${name}.pid")"
  until "$@" >/dev/null 2>&1; do
    kill -0 "${pid}" 2>/dev/null || { echo "bench-cluster: ${name} exited (log: ${logs}/${name}.log)" >&2; return 1; }
    ((SECONDS < deadline)) || { echo "bench-cluster: timed out waiting for ${what}" >&2; return 1; }
    sleep 0.5
  done
  log "${what}: ok ($((SECONDS - start_time))s)"
}
admin_curl() { curl -fsS --max-time 5 --cacert "${pki}/ca.crt" --cert "${pki}/admin.crt" --key "${pki}/admin.key" "$@"; }

start etcd --name=bench --data-dir="${data}/etcd" \
  --listen-client-urls="http://127.0.0.1:${etcd_port}" --advertise-client-urls="http://127.0.0.1:${etcd_port}" \
  --listen-peer-urls="http://127.0.0.1:${etcd_peer_port}" --initial-advertise-peer-urls="http://127.0.0.1:${etcd_peer_port}" \
  --initial-cluster="bench=http://127.0.0.1:${etcd_peer_port}" --unsafe-no-fsync=true --log-level=warn \
  --quota-backend-bytes=8589934592
wait_until etcd "etcd /health" curl -fsS --max-time 5 "http://127.0.0.1:${etcd_port}/health"

rm -f "${logs}/audit.log"
start kube-apiserver --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="${apiserver_port}" \
  --etcd-servers="http://127.0.0.1:${etcd_port}" \
  --tls-cert-file="${pki}/apiserver.crt" --tls-private-key-file="${pki}/apiserver.key" --client-ca-file="${pki}/ca.crt" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="${pki}/sa.pub" --service-account-signing-key-file="${pki}/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 --authorization-mode=Node,RBAC \
  --requestheader-client-ca-file="${pki}/ca.crt" --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="${pki}/front-proxy-client.crt" --proxy-client-key-file="${pki}/front-proxy-client.key" \
  --allow-privileged=true --cert-dir="${data}/kube-apiserver" \
  --max-requests-inflight=800 --max-mutating-requests-inflight=400 \
  --disable-admission-plugins=TaintNodesByCondition \
  --audit-policy-file="${data}/audit-policy.yaml" --audit-log-path="${logs}/audit.log" \
  --audit-log-format=json --audit-log-mode=batch --audit-log-maxsize=0 \
  --v=1
wait_until kube-apiserver "kube-apiserver /readyz" admin_curl "${server}/readyz"

start kube-controller-manager --kubeconfig="${data}/kube-controller-manager.kubeconfig" \
  --authentication-kubeconfig="${data}/kube-controller-manager.kubeconfig" \
  --authorization-kubeconfig="${data}/kube-controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="${kcm_port}" --cert-dir="${data}/kube-controller-manager" \
  --controllers='*,-deployment-controller,-replicaset-controller,-statefulset-controller,-daemonset-controller,-job-controller,-cronjob-controller,-ttl-after-finished-controller,-node-lifecycle-controller,-taint-eviction-controller' \
  --use-service-account-credentials=true --service-account-private-key-file="${pki}/sa.key" \
  --root-ca-file="${pki}/ca.crt" --cluster-signing-cert-file="${pki}/ca.crt" --cluster-signing-key-file="${pki}/ca.key" \
  --leader-elect=false --kube-api-qps=200 --kube-api-burst=400 --v=1

mkdir -p "${data}/kwok-home"
log "starting kwok"
HOME="${data}/kwok-home" setsid "${bin}/kwok" --kubeconfig="${data}/kwok.kubeconfig" --config="${bin}/kwok-stages.yaml" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --node-lease-duration-seconds=40 --cidr=10.244.0.1/16 --server-address="127.0.0.1:${kwok_port}" \
  </dev/null >"${logs}/kwok.log" 2>&1 &
echo $! > "${pids}/kwok.pid"

wait_until kube-controller-manager "kube-controller-manager /healthz" curl -fsSk --max-time 5 "https://127.0.0.1:${kcm_port}/healthz"
wait_until kwok "kwok /healthz" curl -fsS --max-time 5 "http://127.0.0.1:${kwok_port}/healthz"

cp "${data}/admin.kubeconfig" "${kubeconfig}"
cp "${data}/ours.kubeconfig" "${state}/ours.kubeconfig"
cp "${data}/upstream.kubeconfig" "${state}/upstream.kubeconfig"
failed=0
log "up in $((SECONDS - start_time))s; kubeconfig: ${kubeconfig}"
