#!/usr/bin/env bash
# A newcomer's demo: a local control plane, three kwok nodes, a badly placed
# workload, the operator with a policy, and the placement before and after.
# Cleans up on exit (and stops the cluster if this script started it).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"
export KUBECONFIG="${root}/.cache/cluster/kubeconfig"
kubectl="${root}/.cache/bin/kubectl"
work="${root}/.cache/demo"
mkdir -p "${work}"
started_cluster=0
operator_pid=""

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

cleanup() {
  set +e
  [[ -n "${operator_pid}" ]] && kill "${operator_pid}" 2>/dev/null && wait "${operator_pid}" 2>/dev/null
  if [[ -f "${KUBECONFIG}" ]]; then
    "${kubectl}" delete deschedulerpolicy demo --ignore-not-found >/dev/null 2>&1
    "${kubectl}" delete namespace demo --ignore-not-found --wait=false >/dev/null 2>&1
    "${kubectl}" delete node demo-1 demo-2 demo-3 --ignore-not-found >/dev/null 2>&1
  fi
  if [[ "${started_cluster}" == 1 ]]; then tests/e2e/cluster/down.sh >/dev/null 2>&1; fi
}
trap cleanup EXIT

placement() {
  "${kubectl}" get pods -n demo -o custom-columns='POD:.metadata.name,APP:.metadata.labels.app,NODE:.spec.nodeName,PHASE:.status.phase' --sort-by=.spec.nodeName
}

# Polls "$@" until it prints something non-empty, for at most $1 seconds.
wait_until() {
  local timeout=$1; shift
  local deadline=$((SECONDS + timeout))
  until [[ -n "$("$@" 2>/dev/null)" ]]; do
    (( SECONDS < deadline )) || { echo "timed out waiting for: $*" >&2; return 1; }
    sleep 1
  done
}

step "Building the control plane (cached) and the operator"
make -s cluster-build
cargo build -q
if ! "${kubectl}" get --raw /readyz >/dev/null 2>&1; then
  step "Starting the local control plane"
  tests/e2e/cluster/up.sh
  started_cluster=1
fi

step "Installing the CRD"
"${kubectl}" apply --server-side -f crds/deschedulerpolicies.descheduler.dev.yaml

step "Creating three kwok nodes; only demo-1 is schedulable while the workload starts"
for n in 1 2 3; do
  disk=hdd; [[ $n == 1 ]] && disk=ssd
  cat <<YAML | "${kubectl}" apply -f - >/dev/null
apiVersion: v1
kind: Node
metadata:
  name: demo-${n}
  annotations: {kwok.x-k8s.io/node: fake}
  labels: {kubernetes.io/hostname: demo-${n}, pool: demo, disktype: ${disk}}
spec: {unschedulable: $([[ $n == 1 ]] && echo false || echo true)}
status:
  allocatable: {cpu: "4", memory: 8Gi, pods: "20"}
  capacity: {cpu: "4", memory: 8Gi, pods: "20"}
YAML
done
"${kubectl}" create namespace demo >/dev/null
cat <<'YAML' | "${kubectl}" apply -f - >/dev/null
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  replicas: 6
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {pool: demo}
      containers: [{name: web, image: registry.k8s.io/pause:3.10, resources: {requests: {cpu: 250m, memory: 128Mi}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: search, namespace: demo}
spec:
  replicas: 1
  selector: {matchLabels: {app: search}}
  template:
    metadata: {labels: {app: search}}
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms: [{matchExpressions: [{key: disktype, operator: In, values: [ssd]}]}]
      containers: [{name: search, image: registry.k8s.io/pause:3.10, resources: {requests: {cpu: 250m}}}]
YAML
wait_until 60 bash -c "[[ \$('${kubectl}' get pods -n demo --field-selector=status.phase=Running -o name | wc -l) -eq 7 ]] && echo ok"

step "The cluster drifts: demo-2 and demo-3 open up, and demo-1's disk is relabelled hdd while demo-2 gets ssd"
"${kubectl}" uncordon demo-2 demo-3 >/dev/null
"${kubectl}" label node demo-1 disktype=hdd --overwrite >/dev/null
"${kubectl}" label node demo-2 disktype=ssd --overwrite >/dev/null

step "Placement before"
placement

step "Applying the policy"
cat <<'YAML' | tee "${work}/policy.yaml"
apiVersion: descheduler.dev/v1alpha1
kind: DeschedulerPolicy
metadata:
  name: demo
  labels: {descheduler.dev/demo: "true"}
spec:
  interval: 1m
  nodeSelector: pool=demo
  strategies:
    RemovePodsViolatingNodeAffinity: {}
    RemoveDuplicates:
      params:
        namespaces: {include: [demo]}
YAML
"${kubectl}" apply -f "${work}/policy.yaml" >/dev/null

step "What simulate says it would do, from a dump of the cluster"
"${kubectl}" get nodes,pods,poddisruptionbudgets,priorityclasses,namespaces -A -o yaml > "${work}/cluster.yaml"
target/debug/descheduler simulate --policy "${work}/policy.yaml" --cluster "${work}/cluster.yaml" | sed -n '1,/^STRATEGY/p'

step "Running the operator (log: .cache/demo/operator.log)"
# The selector keeps this operator away from any other policy in the cluster.
target/debug/descheduler run --metrics-bind-address 127.0.0.1:0 --policy-label-selector descheduler.dev/demo=true > "${work}/operator.log" 2>&1 &
operator_pid=$!
wait_until 60 "${kubectl}" get deschedulerpolicy demo -o 'jsonpath={.status.lastRun.completionTime}'
wait_until 60 bash -c "[[ \$('${kubectl}' get pods -n demo --field-selector=status.phase=Running -o name | wc -l) -eq 7 ]] && [[ \$('${kubectl}' get pods -n demo -o name | wc -l) -eq 7 ]] && echo ok"

step "kubectl get deschedulerpolicies"
"${kubectl}" get deschedulerpolicies -l descheduler.dev/demo=true

step "Placement after"
placement

step "Events"
"${kubectl}" get events -n demo --field-selector reason=Descheduled -o custom-columns='POD:.involvedObject.name,MESSAGE:.message'
