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
#   .cache/cluster/logs/audit.log      the apiserver's audit log (JSON lines):
#                                      every eviction and every write of a
#                                      DeschedulerPolicy status, see
#                                      audit-policy.yaml and audit-count.sh
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
# With WITH_METRICS=1 (make cluster-up-metrics) it also starts, from the
# binaries build-metrics.sh put in .cache/bin:
#
#   metrics-server  registered as the APIService v1beta1.metrics.k8s.io, so
#                   `kubectl top nodes` / `kubectl top pods` work;
#   prometheus      scraping every kwok node's kubelet-like endpoint;
#
# and turns on kwok's resource-usage emulation: kwok serves
# /metrics/nodes/<node>/metrics/resource for every node, with usage from the
# ClusterResourceUsage in kwok-usage.yaml (a pod uses what it requests, or
# what its kwok.x-k8s.io/usage-cpu / -memory annotations say) unless a
# ResourceUsage named like the pod overrides it. See tests/e2e/README.md.
#
# Environment:
#   CLUSTER_UP_TIMEOUT  seconds to wait for each component (default 120).
#   CLUSTER_NODES       number of default kwok nodes to register (default 2).
#   WITH_METRICS        1: also start metrics-server and Prometheus (default 0).
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
with_metrics="${WITH_METRICS:-0}"
[[ "${with_metrics}" == 1 ]] || with_metrics=0

components=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
if [[ "${with_metrics}" == 1 ]]; then
  components+=(metrics-server prometheus)
fi

log() { echo "cluster-up: $*"; }

for b in "${components[@]}" kubectl; do
  if [[ ! -x "${bin}/${b}" ]]; then
    case "${b}" in
      metrics-server|prometheus) hint="make cluster-build-metrics" ;;
      *) hint="make cluster-build" ;;
    esac
    echo "cluster-up: ${bin}/${b} not found; run '${hint}' first" >&2
    exit 1
  fi
done
if [[ "${with_metrics}" == 1 && ! -s "${bin}/kwok-metrics/metrics-resource.yaml" ]]; then
  echo "cluster-up: ${bin}/kwok-metrics/ is incomplete; run 'make cluster-build-metrics' first" >&2
  exit 1
fi
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
  if [[ "${with_metrics}" == 1 && ! -f "${pids}/metrics-server.pid" && -f "${pids}/kube-apiserver.pid" ]]; then
    log "the running cluster has no metrics components; restarting it with WITH_METRICS=1"
  else
    log "found a stale or partial cluster; tearing it down first"
  fi
  "${here}/down.sh"
fi

start_time=${SECONDS}
mkdir -p "${logs}" "${pids}"
rm -f "${pids}"/*.pid "${kubeconfig}" "${state}/env"
# A fresh audit log per cluster (the apiserver appends; audit-count.sh reads
# rotated backups, audit-<time>.log, too).
audit_log="${logs}/audit.log"
rm -f "${logs}"/audit*.log
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
if [[ "${with_metrics}" == 1 ]]; then
  take_ports metrics_server_port prometheus_port
fi
server="https://127.0.0.1:${apiserver_port}"

cat > "${state}/env" <<EOF
DATA_DIR=${data}
ETCD_PORT=${etcd_port}
APISERVER_URL=${server}
KUBE_CONTROLLER_MANAGER_PORT=${kcm_port}
KUBE_SCHEDULER_PORT=${scheduler_port}
KWOK_PORT=${kwok_port}
KUBECONFIG=${kubeconfig}
AUDIT_LOG=${audit_log}
WITH_METRICS=${with_metrics}
EOF
if [[ "${with_metrics}" == 1 ]]; then
  cat >> "${state}/env" <<EOF
METRICS_SERVER_URL=https://127.0.0.1:${metrics_server_port}
PROMETHEUS_URL=http://127.0.0.1:${prometheus_port}
EOF
fi

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
if [[ "${with_metrics}" == 1 ]]; then
  # metrics-server serves the aggregated API: the apiserver dials 127.0.0.1
  # and checks the name <service>.<namespace>.svc against the CA in the
  # APIService. As a client it is the user "metrics-server" (RBAC below).
  issue metrics-server-serving "/CN=metrics-server" \
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,DNS:metrics-server.kube-system.svc,DNS:metrics-server.kube-system.svc.cluster.local'
  issue metrics-server "/CN=metrics-server" "${client_ext}"
  issue prometheus "/CN=prometheus" "${client_ext}"
fi

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
kubeconfig_users=(admin kube-controller-manager kube-scheduler kwok)
if [[ "${with_metrics}" == 1 ]]; then
  kubeconfig_users+=(metrics-server prometheus)
fi
for u in "${kubeconfig_users[@]}"; do
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
  --audit-policy-file="${here}/audit-policy.yaml" \
  --audit-log-path="${audit_log}" \
  --audit-log-format=json \
  --audit-log-mode=blocking \
  --audit-log-maxsize=200 \
  --audit-log-maxbackup=2 \
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

# --- kwok's resource-usage emulation (WITH_METRICS=1) -------------------------
# kwok reads Metric, ClusterResourceUsage and ResourceUsage objects from the
# API (--enable-crds below), so their CRDs must exist before it starts; the
# objects themselves can come later (kwok watches them).
kwok_metrics_args=()
if [[ "${with_metrics}" == 1 ]]; then
  log "installing kwok's usage CRDs"
  kubectl_admin apply \
    -f "${bin}/kwok-metrics/crd-metrics.yaml" \
    -f "${bin}/kwok-metrics/crd-clusterresourceusages.yaml" \
    -f "${bin}/kwok-metrics/crd-resourceusages.yaml" >/dev/null
  kubectl_admin wait --for=condition=Established --timeout="${timeout}s" \
    crd/metrics.kwok.x-k8s.io crd/clusterresourceusages.kwok.x-k8s.io crd/resourceusages.kwok.x-k8s.io >/dev/null
  # Every node kwok initializes reports InternalIP 127.0.0.1 and kwok's port
  # as its kubelet port (what metrics-server dials); the extra stage gives it
  # the metrics.k8s.io/resource-metrics-path annotation.
  kwok_metrics_args=(
    --config="${here}/kwok-metrics-stage.yaml"
    --enable-crds=Metric,ClusterResourceUsage,ResourceUsage
    --node-ip=127.0.0.1
    --node-port="${kwok_port}"
  )
fi

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
  "${kwok_metrics_args[@]}" \
  </dev/null >"${logs}/kwok.log" 2>&1 &
echo $! > "${pids}/kwok.pid"

# --- metrics-server and Prometheus (WITH_METRICS=1) ------------------------------
if [[ "${with_metrics}" == 1 ]]; then
  # The Metric serving /metrics/nodes/<node>/metrics/resource, the default
  # usage, RBAC, and the APIService. With no kube-proxy the apiserver cannot
  # reach a ClusterIP, and an EndpointSlice may not point at 127.0.0.1
  # (loopback addresses are rejected), so --enable-aggregator-routing cannot
  # help; an ExternalName Service naming 127.0.0.1 can: the aggregator dials
  # <externalName>:<APIService port> and verifies the serving certificate
  # for metrics-server.kube-system.svc.
  kubectl_admin apply -f "${bin}/kwok-metrics/metrics-resource.yaml" -f "${here}/kwok-usage.yaml" \
    -f "${here}/metrics-rbac.yaml" -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata:
  name: metrics-server
  namespace: kube-system
  labels: {app.kubernetes.io/name: metrics-server}
spec:
  type: ExternalName
  externalName: 127.0.0.1
  ports:
  - {name: https, port: ${metrics_server_port}, protocol: TCP}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1beta1.metrics.k8s.io
  labels: {app.kubernetes.io/name: metrics-server}
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  service:
    namespace: kube-system
    name: metrics-server
    port: ${metrics_server_port}
  caBundle: $(base64 -w0 < "${pki}/ca.crt")
EOF

  # metrics-server scrapes https://<InternalIP>:<status kubelet port> +
  # the node's metrics.k8s.io/resource-metrics-path, i.e. kwok, whose TLS
  # certificate is self-signed (hence --kubelet-insecure-tls). 10s is the
  # shortest resolution it accepts; it must exceed the scrape timeout.
  start metrics-server \
    --bind-address=127.0.0.1 \
    --secure-port="${metrics_server_port}" \
    --tls-cert-file="${pki}/metrics-server-serving.crt" \
    --tls-private-key-file="${pki}/metrics-server-serving.key" \
    --kubeconfig="${data}/metrics-server.kubeconfig" \
    --authentication-kubeconfig="${data}/metrics-server.kubeconfig" \
    --authorization-kubeconfig="${data}/metrics-server.kubeconfig" \
    --kubelet-preferred-address-types=InternalIP \
    --kubelet-use-node-status-port \
    --kubelet-insecure-tls \
    --metric-resolution=10s \
    --kubelet-request-timeout=5s \
    --v=1

  # Prometheus discovers the nodes (Kubernetes SD) and scrapes, for each
  # kwok-managed one, kwok's /metrics/nodes/<node>/metrics/resource, with
  # instance=<node name>.
  prom_dir="${data}/prometheus"
  mkdir -p "${prom_dir}"
  cp "${here}/prometheus/rules.yml" "${prom_dir}/rules.yml"
  cat > "${prom_dir}/prometheus.yml" <<EOF
global:
  scrape_interval: 5s
  scrape_timeout: 4s
  evaluation_interval: 5s
rule_files:
- ${prom_dir}/rules.yml
scrape_configs:
- job_name: kwok-nodes
  scheme: http
  kubernetes_sd_configs:
  - role: node
    kubeconfig_file: ${data}/prometheus.kubeconfig
  relabel_configs:
  - action: keep
    source_labels: [__meta_kubernetes_node_annotation_kwok_x_k8s_io_node]
    regex: fake
  - source_labels: [__meta_kubernetes_node_name]
    target_label: __metrics_path__
    replacement: /metrics/nodes/\$1/metrics/resource
  - source_labels: [__meta_kubernetes_node_name]
    target_label: instance
  - target_label: __address__
    replacement: 127.0.0.1:${kwok_port}
EOF
  start prometheus \
    --config.file="${prom_dir}/prometheus.yml" \
    --storage.tsdb.path="${prom_dir}/data" \
    --storage.tsdb.retention.time=1d \
    --web.listen-address="127.0.0.1:${prometheus_port}" \
    --log.level=info
fi

wait_until kube-controller-manager "kube-controller-manager /healthz" insecure_curl "https://127.0.0.1:${kcm_port}/healthz"
wait_until kube-scheduler "kube-scheduler /healthz" insecure_curl "https://127.0.0.1:${scheduler_port}/healthz"
wait_until kwok "kwok /healthz" curl -fsS --max-time 5 "http://127.0.0.1:${kwok_port}/healthz"
wait_until kube-controller-manager "default service account" kubectl_admin get serviceaccount default --namespace default
if [[ "${with_metrics}" == 1 ]]; then
  wait_until metrics-server "metrics-server /livez" insecure_curl "https://127.0.0.1:${metrics_server_port}/livez"
  wait_until metrics-server "APIService v1beta1.metrics.k8s.io Available" kubectl_admin wait \
    apiservice/v1beta1.metrics.k8s.io --for=condition=Available --timeout=5s
  wait_until prometheus "prometheus /-/ready" curl -fsS --max-time 5 "http://127.0.0.1:${prometheus_port}/-/ready"
fi

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
log "  logs:       ${logs}/ (audit log: ${audit_log})"
if [[ "${with_metrics}" == 1 ]]; then
  log "  metrics:    METRICS_SERVER_URL=https://127.0.0.1:${metrics_server_port} PROMETHEUS_URL=http://127.0.0.1:${prometheus_port}"
  log "  try:        ${bin}/kubectl --kubeconfig ${kubeconfig} top nodes   (first numbers ~20s after a pod starts)"
fi
log "  try:        ${bin}/kubectl --kubeconfig ${kubeconfig} get nodes"
