#!/usr/bin/env bash
# Build the upstream descheduler (sigs.k8s.io/descheduler, pinned in
# bench/upstream/go.mod) into .cache/bin/descheduler-upstream, for
# bench/vs-upstream.sh. Its source stays in the Go module cache; nothing of it
# is committed. A second run with nothing changed is a no-op.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
self="${here}/$(basename "${BASH_SOURCE[0]}")"
root="$(cd "${here}/.." && pwd)"
out="${root}/.cache/bin/descheduler-upstream"
stamp="${out}.stamp"

export GOTOOLCHAIN=local CGO_ENABLED=0
export GOFLAGS="-mod=readonly -trimpath -buildvcs=false"
cd "${here}/upstream"

want="$( { go env GOVERSION GOOS GOARCH; sha256sum go.mod go.sum "${self}"; } | sha256sum | cut -d' ' -f1)"
if [[ -x "${out}" && -f "${stamp}" && "$(cat "${stamp}")" == "${want}" ]]; then
  echo "build-upstream: ${out} is up to date"
  exit 0
fi
mkdir -p "$(dirname "${out}")"
echo "build-upstream: building sigs.k8s.io/descheduler/cmd/descheduler ($(go list -m -f '{{.Version}}' sigs.k8s.io/descheduler))"
go build -o "${out}" sigs.k8s.io/descheduler/cmd/descheduler
echo "${want}" > "${stamp}"
echo "build-upstream: ${out}"
