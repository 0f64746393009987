#!/usr/bin/env bash
# Start a local Kubernetes control plane for the e2e tests, from the binaries
# that build.sh put in <repo>/.cache/bin:
#
#   etcd -> kube-apiserver -> kube-controller-manager, kube-scheduler, kwok
#
# Everything listens on 127.0.0.1 on free ports, with certificates and
# service-account keys generated for this run. Cluster data (etcd, PKI) lives
# in a temp dir that down.sh removes. Fixed paths, relative to the repo root:
#
#   .cache/cluster/kubeconfig          admin kubeconfig (system:masters)
#   .cache/cluster/logs/<component>.log one log per component, kept by down.sh
#   .cache/cluster/pids/<component>.pid pids of the running components
#   .cache/cluster/env                 ports and the data dir of this run
#
# kwok plays the kubelet for every node annotated kwok.x-k8s.io/node=fake:
# it marks such nodes Ready, keeps their leases fresh, moves pods bound to
# them to Running and removes pods once they are deleted.
#
# If the cluster is already up and healthy this is a no-op. On failure it
# prints the tail of the component logs and tears down what it started.
#
# It also registers CLUSTER_NODES (default 2) kwok nodes, kwok-node-0..N-1,
# labelled e2e.descheduler.dev/pool=default and tainted
# kwok.x-k8s.io/node=fake:NoSchedule so that test pods, which select their own
# nodes, never land on them; pods that tolerate the taint run there.
#
# Environment:
#   CLUSTER_UP_TIMEOUT  seconds to wait for each component (default 120).
#   CLUSTER_NODES       number of default kwok nodes to register (default 2).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../../.." && pwd)"
bin="${root}/.cache/bin"
state="${root}/.cache/cluster"
logs="${state}/logs"
pids="${state}/pids"
kubeconfig="${state}/kubeconfig"
timeout="${CLUSTER_UP_TIMEOUT:-120}"
node_count="${CLUSTER_NODES:-2}"

components=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

log() { echo "cluster-up: $*"; }

for b in "${components[@]}" kubectl; do
  if [[ ! -x "${bin}/${b}" ]]; then
    echo "cluster-up: ${bin}/${b} not found; run 'make cluster-build' first" >&2
    exit 1
  fi
done
for tool in openssl curl; do
  command -v "${tool}" >/dev/null || { echo "cluster-up: '${tool}' is required" >&2; exit 1; }
done

# Already running? Then leave it alone.
if [[ -f "${kubeconfig}" && -d "${pids}" ]]; then
  all_alive=1
  for c in "${components[@]}"; do
    pid="$(cat "${pids}/${c}.pid" 2>/dev/null || true)"
    if [[ -z "${pid}" ]] || ! kill -0 "${pid}" 2>/dev/null; then all_alive=0; fi
  done
  if [[ "${all_alive}" == 1 ]] && "${bin}/kubectl" --kubeconfig "${kubeconfig}" get --raw /readyz >/dev/null 2>&1; then
    log "cluster is already up (kubeconfig: ${kubeconfig})"
    exit 0
  fi
  log "found a stale or partial cluster; tearing it down first"
  "${here}/down.sh"
fi

start_time=${SECONDS}
mkdir -p "${logs}" "${pids}"
rm -f "${pids}"/*.pid "${kubeconfig}" "${state}/env"
data="$(mktemp -d "${TMPDIR:-/tmp}/descheduler-e2e-cluster.XXXXXX")"
echo "${data}" > "${state}/datadir"

failed=1
on_exit() {
  if [[ "${failed}" == 1 ]]; then
    echo "cluster-up: FAILED; last lines of each component log:" >&2
    for c in "${components[@]}"; do
      if [[ -f "${logs}/${c}.log" ]]; then
        echo "----- ${logs}/${c}.log" >&2
        tail -n 15 "${logs}/${c}.log" >&2 || true
      fi
    done
    "${here}/down.sh" >&2 || true
  fi
}
trap on_exit EXIT

# --- free ports ---------------------------------------------------------------
# Ports below the Linux ephemeral range (32768+) so outgoing connections never
# hold one of them; probed with bash's /dev/tcp (connection refused = free).
source "${here}/lib.sh"
take_ports etcd_port etcd_peer_port apiserver_port kcm_port scheduler_port kwok_port
server="https://127.0.0.1:${apiserver_port}"

cat > "${state}/env" <<EOF
DATA_DIR=${data}
ETCD_PORT=${etcd_port}
APISERVER_URL=${server}
KUBE_CONTROLLER_MANAGER_PORT=${kcm_port}
KUBE_SCHEDULER_PORT=${scheduler_port}
KWOK_PORT=${kwok_port}
KUBECONFIG=${kubeconfig}
EOF

# --- PKI ------------------------------------------------------------------------
pki="${data}/pki"
mkdir -p "${pki}"
log "generating certificates in ${pki}"
new_ca descheduler-e2e-ca

issue apiserver "/CN=kube-apiserver" \
  'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local'
issue admin "/O=system:masters/CN=e2e-admin" "${client_ext}"
issue kube-controller-manager "/CN=system:kube-controller-manager" "${client_ext}"
issue kube-scheduler "/CN=system:kube-scheduler" "${client_ext}"
issue kwok "/O=system:masters/CN=kwok" "${client_ext}"
# The apiserver's client for aggregated APIs (front proxy); also lets the other
# components' delegated authentication find a request-header CA.
issue front-proxy-client "/CN=front-proxy-client" "${client_ext}"
new_sa_keys

# write_kubeconfig FILE USER
write_kubeconfig() {
  local file="$1" user="$2"
  cat > "${file}" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: descheduler-e2e
  cluster:
    server: ${server}
    certificate-authority-data: $(base64 -w0 < "${pki}/ca.crt")
users:
- name: ${user}
  user:
    client-certificate-data: $(base64 -w0 < "${pki}/${user}.crt")
    client-key-data: $(base64 -w0 < "${pki}/${user}.key")
contexts:
- name: descheduler-e2e
  context:
    cluster: descheduler-e2e
    user: ${user}
current-context: descheduler-e2e
EOF
  chmod 600 "${file}"
}
for u in admin kube-controller-manager kube-scheduler kwok; do
  write_kubeconfig "${data}/${u}.kubeconfig" "${u}"
done

# --- process helpers ----------------------------------------------------------
# start NAME ARGS...: run .cache/bin/NAME in its own session, log to logs/NAME.log.
start() {
  local name="$1"; shift
  log "starting ${name}"
  setsid "${bin}/${name}" "$@" </dev/null >"${logs}/${name}.log" 2>&1 &
  echo $! > "${pids}/${name}.pid"
}

# wait_until NAME DESCRIPTION COMMAND...: poll COMMAND until it succeeds,
# failing if NAME's process exits or the timeout passes.
wait_until() {
  local name="$1" what="$2"; shift 2
  local deadline=$((SECONDS + timeout))
  local pid
  pid="$(cat "${pids}/${name}.pid")"
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "${pid}" 2>/dev/null; then
      echo "cluster-up: ${name} exited while waiting for ${what} (log: ${logs}/${name}.log)" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "cluster-up: timed out after ${timeout}s waiting for ${what} (log: ${logs}/${name}.log)" >&2
      return 1
    fi
    sleep 0.5
  done
  log "${what}: ok ($((SECONDS - start_time))s)"
}

admin_curl() {
  curl -fsS --max-time 5 --cacert "${pki}/ca.crt" --cert "${pki}/admin.crt" --key "${pki}/admin.key" "$@"
}
insecure_curl() {
  curl -fsSk --max-time 5 "$@"
}
kubectl_admin() {
  "${bin}/kubectl" --kubeconfig "${data}/admin.kubeconfig" "$@"
}

# --- etcd -----------------------------------------------------------------------
start etcd \
  --name=e2e \
  --data-dir="${data}/etcd" \
  --listen-client-urls="http://127.0.0.1:${etcd_port}" \
  --advertise-client-urls="http://127.0.0.1:${etcd_port}" \
  --listen-peer-urls="http://127.0.0.1:${etcd_peer_port}" \
  --initial-advertise-peer-urls="http://127.0.0.1:${etcd_peer_port}" \
  --initial-cluster="e2e=http://127.0.0.1:${etcd_peer_port}" \
  --unsafe-no-fsync=true \
  --log-level=warn
wait_until etcd "etcd /health" curl -fsS --max-time 5 "http://127.0.0.1:${etcd_port}/health"

# --- kube-apiserver -------------------------------------------------------------
start kube-apiserver \
  --bind-address=127.0.0.1 \
  --advertise-address=127.0.0.1 \
  --secure-port="${apiserver_port}" \
  --etcd-servers="http://127.0.0.1:${etcd_port}" \
  --tls-cert-file="${pki}/apiserver.crt" \
  --tls-private-key-file="${pki}/apiserver.key" \
  --client-ca-file="${pki}/ca.crt" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="${pki}/sa.pub" \
  --service-account-signing-key-file="${pki}/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 \
  --authorization-mode=Node,RBAC \
  --requestheader-client-ca-file="${pki}/ca.crt" \
  --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User \
  --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="${pki}/front-proxy-client.crt" \
  --proxy-client-key-file="${pki}/front-proxy-client.key" \
  --allow-privileged=true \
  --cert-dir="${data}/kube-apiserver" \
  --v=1
wait_until kube-apiserver "kube-apiserver /readyz" admin_curl "${server}/readyz"

# --- kube-controller-manager ----------------------------------------------------
start kube-controller-manager \
  --kubeconfig="${data}/kube-controller-manager.kubeconfig" \
  --authentication-kubeconfig="${data}/kube-controller-manager.kubeconfig" \
  --authorization-kubeconfig="${data}/kube-controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 \
  --secure-port="${kcm_port}" \
  --cert-dir="${data}/kube-controller-manager" \
  --controllers='*' \
  --use-service-account-credentials=true \
  --service-account-private-key-file="${pki}/sa.key" \
  --root-ca-file="${pki}/ca.crt" \
  --cluster-signing-cert-file="${pki}/ca.crt" \
  --cluster-signing-key-file="${pki}/ca.key" \
  --leader-elect=false \
  --v=2

# --- kube-scheduler -------------------------------------------------------------
start kube-scheduler \
  --kubeconfig="${data}/kube-scheduler.kubeconfig" \
  --authentication-kubeconfig="${data}/kube-scheduler.kubeconfig" \
  --authorization-kubeconfig="${data}/kube-scheduler.kubeconfig" \
  --bind-address=127.0.0.1 \
  --secure-port="${scheduler_port}" \
  --cert-dir="${data}/kube-scheduler" \
  --leader-elect=false \
  --v=2

# --- kwok -----------------------------------------------------------------------
# HOME points into the data dir so a developer's ~/.kwok/kwok.yaml is not read.
log "starting kwok"
mkdir -p "${data}/kwok-home"
HOME="${data}/kwok-home" setsid "${bin}/kwok" \
  --kubeconfig="${data}/kwok.kubeconfig" \
  --config="${bin}/kwok-stages.yaml" \
  --manage-all-nodes=false \
  --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --node-lease-duration-seconds=40 \
  --cidr=10.244.0.1/16 \
  --server-address="127.0.0.1:${kwok_port}" \
  </dev/null >"${logs}/kwok.log" 2>&1 &
echo $! > "${pids}/kwok.pid"

wait_until kube-controller-manager "kube-controller-manager /healthz" insecure_curl "https://127.0.0.1:${kcm_port}/healthz"
wait_until kube-scheduler "kube-scheduler /healthz" insecure_curl "https://127.0.0.1:${scheduler_port}/healthz"
wait_until kwok "kwok /healthz" curl -fsS --max-time 5 "http://127.0.0.1:${kwok_port}/healthz"
wait_until kube-controller-manager "default service account" kubectl_admin get serviceaccount default --namespace default

# --- default kwok nodes -----------------------------------------------------------
if ((node_count > 0)); then
  for i in $(seq 0 $((node_count - 1))); do
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-${i}
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    type: kwok
    kubernetes.io/hostname: kwok-node-${i}
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    e2e.descheduler.dev/pool: default
spec:
  taints:
  - key: kwok.x-k8s.io/node
    value: fake
    effect: NoSchedule
status:
  allocatable: {cpu: "4", memory: 16Gi, pods: "110"}
  capacity: {cpu: "4", memory: 16Gi, pods: "110"}
EOF
  done | kubectl_admin apply -f - >/dev/null
  log "registered ${node_count} default kwok nodes"
  wait_until kwok "default kwok nodes Ready" kubectl_admin wait node \
    --selector=e2e.descheduler.dev/pool=default --for=condition=Ready --timeout=5s
fi

cp "${data}/admin.kubeconfig" "${kubeconfig}"
failed=0
log "cluster is up in $((SECONDS - start_time))s"
log "  kubeconfig: ${kubeconfig}"
log "  logs:       ${logs}/"
log "  try:        ${bin}/kubectl --kubeconfig ${kubeconfig} get nodes"
