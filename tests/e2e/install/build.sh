#!/usr/bin/env bash
# Build the install tools used by the chart, Flux and RBAC e2e tests from the
# Go modules pinned here, one module per tool (their dependency sets differ):
#
#   helm/               helm            helm.sh/helm/v4/cmd/helm v4.2.4
#   source-controller/  source-controller  github.com/fluxcd/source-controller v1.9.6
#   helm-controller/    helm-controller    github.com/fluxcd/helm-controller v1.6.4
#
# into <repo>/.cache/bin/, plus the Flux CRDs (HelmRepository, HelmChart, ...,
# HelmRelease) copied out of the same modules into <repo>/.cache/flux-crds/.
# All three use Kubernetes v0.36 client libraries and Helm v4.2.4, like the
# v1.36 control plane of tests/e2e/cluster.
#
# A second run with nothing changed is a no-op (a stamp of the inputs next to
# the binaries); `go build`'s own cache keeps a changed one fast too.
#
# Environment:
#   INSTALL_TOOLS_FORCE=1   rebuild even when the stamp matches.
set -euo pipefail

BUILD_RECIPE_VERSION=1
HELM_VERSION=v4.2.4

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../../.." && pwd)"
bin="${root}/.cache/bin"
crds="${root}/.cache/flux-crds"
stamp="${bin}/.install-tools-stamp"

tools=(helm source-controller helm-controller)

export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOFLAGS="-mod=readonly -trimpath -buildvcs=false"

cd "${here}"

want_stamp="$(
  {
    echo "recipe ${BUILD_RECIPE_VERSION} ${HELM_VERSION}"
    go env GOVERSION GOOS GOARCH
    sha256sum */go.mod */go.sum build.sh
  } | sha256sum | cut -d' ' -f1
)"

if [[ -z "${INSTALL_TOOLS_FORCE:-}" && -f "${stamp}" && "$(cat "${stamp}")" == "${want_stamp}" ]]; then
  missing=0
  for t in "${tools[@]}"; do [[ -x "${bin}/${t}" ]] || missing=1; done
  [[ -s "${crds}/helmreleases.yaml" && -s "${crds}/helmrepositories.yaml" ]] || missing=1
  if [[ "${missing}" == 0 ]]; then
    echo "install-tools: helm and the Flux controllers in ${bin} are up to date"
    exit 0
  fi
fi

mkdir -p "${bin}" "${crds}"
rm -f "${stamp}"

# build DIR OUTPUT PACKAGE [LDFLAGS]
build() {
  local dir="$1" out="$2" pkg="$3" ldflags="${4:-}"
  local start=${SECONDS}
  echo "install-tools: building ${out} (${pkg}) in ${dir}/"
  (cd "${dir}" && go mod download && go build -ldflags "-s -w ${ldflags}" -o "${bin}/${out}" "${pkg}")
  echo "install-tools: ${out} built in $((SECONDS - start))s"
}

build helm helm helm.sh/helm/v4/cmd/helm \
  "-X helm.sh/helm/v4/internal/version.version=${HELM_VERSION}"
build source-controller source-controller github.com/fluxcd/source-controller
build helm-controller helm-controller github.com/fluxcd/helm-controller

# The CRDs ship in each controller's module under config/crd/bases.
copy_crds() {
  local dir="$1" module="$2"
  local src
  src="$(cd "${dir}" && go list -m -f '{{.Dir}}' "${module}")/config/crd/bases"
  [[ -d "${src}" ]] || { echo "install-tools: no CRDs in ${src}" >&2; exit 1; }
  for f in "${src}"/*.yaml; do
    # source.toolkit.fluxcd.io_helmrepositories.yaml -> helmrepositories.yaml
    install -m 0644 "${f}" "${crds}/$(basename "${f}" | sed 's/^.*_//')"
  done
}
copy_crds source-controller github.com/fluxcd/source-controller
copy_crds helm-controller github.com/fluxcd/helm-controller

for t in "${tools[@]}"; do
  [[ -x "${bin}/${t}" ]] || { echo "install-tools: ${bin}/${t} missing after build" >&2; exit 1; }
done
echo "${want_stamp}" > "${stamp}"
"${bin}/helm" version 2>/dev/null || true
