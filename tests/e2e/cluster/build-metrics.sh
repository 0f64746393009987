#!/usr/bin/env bash
# Build the optional metrics components of the local e2e control plane (what
# `WITH_METRICS=1 up.sh` starts) from Go modules, one module per program
# since their Kubernetes library versions differ from the control plane's:
#
#   metrics-server/  metrics-server  sigs.k8s.io/metrics-server v0.9.0 (k8s.io/* v0.36)
#   prometheus/      prometheus      github.com/prometheus/prometheus v0.316.0
#                                    (= Prometheus 3.16.0; k8s.io/client-go v0.37)
#
# into <repo>/.cache/bin/, plus <repo>/.cache/bin/kwok-metrics/: kwok's
# Metric / ResourceUsage / ClusterResourceUsage CRDs and its kubelet-like
# /metrics/resource Metric, copied out of the kwok module pinned in
# tests/e2e/cluster/go.mod (so they always match the kwok binary).
#
# Prometheus is built with the tags remove_all_sd,enable_kubernetes_sd: only
# the Kubernetes service discovery (plus the always-present static, file and
# http ones) is compiled in, which leaves out the cloud SDKs. Without the
# builtinassets tag the web UI's assets are not embedded (the module has no
# built UI anyway): the server and its HTTP API (/api/v1/query, /-/ready, ...)
# work, the UI pages do not.
#
# `go mod download` is not run: the Prometheus module graph holds every cloud
# SDK, which the build above never needs; `go build` fetches exactly the
# modules it compiles.
#
# A second run with nothing changed is a no-op (a stamp of the inputs next to
# the binaries).
#
# Environment:
#   CLUSTER_BUILD_FORCE=1   rebuild even when the stamp matches.
set -euo pipefail

BUILD_RECIPE_VERSION=1
METRICS_SERVER_VERSION=v0.9.0
PROMETHEUS_VERSION=3.16.0
PROMETHEUS_TAGS=remove_all_sd,enable_kubernetes_sd
BUILD_DATE=2026-01-01T00:00:00Z

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../../.." && pwd)"
bin="${root}/.cache/bin"
kwok_files="${bin}/kwok-metrics"
stamp="${bin}/.metrics-stamp"

export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOFLAGS="-mod=readonly -trimpath -buildvcs=false"

cd "${here}"

want_stamp="$(
  {
    echo "recipe ${BUILD_RECIPE_VERSION} ${METRICS_SERVER_VERSION} ${PROMETHEUS_VERSION} ${PROMETHEUS_TAGS}"
    go env GOVERSION GOOS GOARCH
    sha256sum go.mod go.sum metrics-server/go.mod metrics-server/go.sum \
      prometheus/go.mod prometheus/go.sum build-metrics.sh
  } | sha256sum | cut -d' ' -f1
)"

kwok_wanted=(metrics-resource.yaml crd-metrics.yaml crd-resourceusages.yaml crd-clusterresourceusages.yaml)

if [[ -z "${CLUSTER_BUILD_FORCE:-}" && -f "${stamp}" && "$(cat "${stamp}")" == "${want_stamp}" ]]; then
  missing=0
  for b in metrics-server prometheus; do [[ -x "${bin}/${b}" ]] || missing=1; done
  for f in "${kwok_wanted[@]}"; do [[ -s "${kwok_files}/${f}" ]] || missing=1; done
  if [[ "${missing}" == 0 ]]; then
    echo "cluster-build-metrics: metrics-server and prometheus in ${bin} are up to date"
    exit 0
  fi
fi

mkdir -p "${bin}" "${kwok_files}"
rm -f "${stamp}"

# build DIR OUTPUT PACKAGE LDFLAGS [TAGS]
build() {
  local dir="$1" out="$2" pkg="$3" ldflags="$4" tags="${5:-}"
  local start=${SECONDS}
  echo "cluster-build-metrics: building ${out} (${pkg}) in ${dir}/ (a few minutes on a cold cache)"
  (cd "${dir}" && go build -tags "${tags}" -ldflags "-s -w ${ldflags}" -o "${bin}/${out}" "${pkg}")
  echo "cluster-build-metrics: ${out} built in $((SECONDS - start))s"
}

build metrics-server metrics-server sigs.k8s.io/metrics-server/cmd/metrics-server \
  "-X k8s.io/client-go/pkg/version.gitVersion=${METRICS_SERVER_VERSION} -X k8s.io/client-go/pkg/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.buildDate=${BUILD_DATE}"

prom_version_pkg=github.com/prometheus/common/version
build prometheus prometheus github.com/prometheus/prometheus/cmd/prometheus \
  "-X ${prom_version_pkg}.Version=${PROMETHEUS_VERSION} -X ${prom_version_pkg}.Branch=release -X ${prom_version_pkg}.Revision=v0.316.0 -X ${prom_version_pkg}.BuildUser=descheduler-e2e -X ${prom_version_pkg}.BuildDate=${BUILD_DATE}" \
  "${PROMETHEUS_TAGS}"

# kwok's usage-emulation CRDs and its /metrics/resource Metric, from the kwok
# module the control plane is built from (tests/e2e/cluster/go.mod).
# Two changes to kwok's Metric:
# - a node's usage gets a constant "system" share of 1m cpu and 1Mi memory
#   on top of its pods' (a real kubelet never reports 0): metrics-server
#   drops a node whose cumulative cpu or memory is 0, so a node without
#   pods would show <unknown> in `kubectl top nodes` rather than ~0%;
# - appended: the node's allocatable cpu and memory, named and labelled like
#   kube-state-metrics' kube_node_status_allocatable, so that Prometheus can
#   divide usage by allocatable (in this one Metric: kwok shares one registry
#   per node between all Metric paths, so a second path would race with this
#   one). metrics-server ignores these series.
kwok_dir="$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
kwok_metric="${kwok_dir}/kustomize/metrics/resource/metrics-resource.yaml"
node_cpu="value: 'node.CumulativeUsage(\"cpu\")'"
node_mem="value: 'node.Usage(\"memory\")'"
for v in "${node_cpu}" "${node_mem}"; do
  [[ "$(grep -cF "${v}" "${kwok_metric}")" == 1 ]] || {
    echo "cluster-build-metrics: ${kwok_metric} no longer has exactly one \"${v}\"" >&2
    exit 1
  }
done
{
  sed -e "s|${node_cpu}|value: 'node.CumulativeUsage(\"cpu\") + 0.001 * node.SinceSecond()'|" \
    -e "s|${node_mem}|value: 'node.Usage(\"memory\") + 1048576.0'|" "${kwok_metric}"
  cat <<'EOF'
  # Allocatable of the node (added by tests/e2e/cluster/build-metrics.sh)
  - name: kube_node_status_allocatable
    dimension: node
    help: |
      The allocatable for different resources of a node that are available for scheduling.
    kind: gauge
    labels:
    - name: node
      value: 'node.metadata.name'
    - name: resource
      value: '"cpu"'
    - name: unit
      value: '"core"'
    value: 'node.status.allocatable["cpu"]'
  - name: kube_node_status_allocatable
    dimension: node
    help: |
      The allocatable for different resources of a node that are available for scheduling.
    kind: gauge
    labels:
    - name: node
      value: 'node.metadata.name'
    - name: resource
      value: '"memory"'
    - name: unit
      value: '"byte"'
    value: 'node.status.allocatable["memory"]'
EOF
} > "${kwok_files}/metrics-resource.yaml"
for crd in metrics resourceusages clusterresourceusages; do
  install -m 0644 "${kwok_dir}/kustomize/crd/bases/kwok.x-k8s.io_${crd}.yaml" "${kwok_files}/crd-${crd}.yaml"
done

for b in metrics-server prometheus; do
  [[ -x "${bin}/${b}" ]] || { echo "cluster-build-metrics: ${bin}/${b} missing after build" >&2; exit 1; }
done
echo "${want_stamp}" > "${stamp}"
"${bin}/prometheus" --version 2>/dev/null | head -n1 || true
