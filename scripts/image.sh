#!/usr/bin/env bash
# Build the operator image offline: cargo on the host, then the Dockerfile's
# `prebuilt` target with buildah (or podman) from a staged context holding
# only the binary and the host's CA bundle. No base image is pulled.
#
#   scripts/image.sh [IMAGE]        (make image; IMAGE=... make image)
#
# IMAGE defaults to ghcr.io/descheduler-dev/descheduler:<Cargo.toml version>,
# the image the chart deploys. Prints the image's size and the binary's
# sha256 (the same file scripts/image-test.sh runs).
#
# Environment:
#   IMAGE_TRIPLE    cargo target (default: $(uname -m)-unknown-linux-gnu);
#                   the binary is linked statically (+crt-static)
#   IMAGE_BUILDER   buildah or podman (default: buildah if installed)
#   CA_BUNDLE       the CA bundle to ship (default /etc/ssl/certs/ca-certificates.crt)
#   CARGO_TARGET_DIR  as usual (default target/)
#
# The release build takes ~8 min cold on 2 cores; later builds reuse
# target/<triple>/release.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "image: $*"; }
die() { echo "image: FAILED: $*" >&2; exit 1; }

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)"
[[ -n "${version}" ]] || die "no package version in Cargo.toml"
image="${1:-${IMAGE:-ghcr.io/descheduler-dev/descheduler:${version}}}"
triple="${IMAGE_TRIPLE:-$(uname -m)-unknown-linux-gnu}"
ca="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
target_dir="${CARGO_TARGET_DIR:-target}"

builder="${IMAGE_BUILDER:-}"
if [[ -z "${builder}" ]]; then
  if command -v buildah >/dev/null; then builder=buildah
  elif command -v podman >/dev/null; then builder=podman
  else die "neither buildah nor podman is installed (apt-get install buildah podman)"
  fi
fi
[[ -s "${ca}" ]] || die "no CA bundle at ${ca} (apt-get install ca-certificates)"

# The triple's RUSTFLAGS variable, so build scripts and proc macros (host
# artifacts) stay dynamic and only the shipped binary is static.
flags_var="CARGO_TARGET_$(echo "${triple}" | tr 'a-z-' 'A-Z_')_RUSTFLAGS"
say "cargo build --release --target ${triple} (+crt-static)"
start=${SECONDS}
env "${flags_var}=-C target-feature=+crt-static" \
  cargo build --release --locked --bin descheduler --target "${triple}"
say "cargo: $((SECONDS - start))s"
bin="${target_dir}/${triple}/release/descheduler"

# A static binary has no interpreter (PT_INTERP) and no needed libraries:
# anything else would not start on an empty base.
if command -v readelf >/dev/null; then
  if readelf -l "${bin}" | grep -q 'Requesting program interpreter' \
    || readelf -d "${bin}" | grep -q '(NEEDED)'; then
    readelf -d "${bin}" | grep '(NEEDED)' >&2 || true
    die "${bin} is dynamically linked"
  fi
fi
"${bin}" --version >/dev/null || die "${bin} does not run"

context="$(mktemp -d "${TMPDIR:-/tmp}/descheduler-image.XXXXXX")"
trap 'rm -rf "${context}"' EXIT
cp "${bin}" "${context}/descheduler"
cp "${ca}" "${context}/ca-certificates.crt"
chmod 0755 "${context}/descheduler"
chmod 0644 "${context}/ca-certificates.crt"

say "${builder} build --target prebuilt -t ${image}"
case "${builder}" in
  buildah) buildah bud --quiet --layers=false -f Dockerfile --target prebuilt -t "${image}" "${context}" >/dev/null ;;
  podman) podman build --quiet --layers=false -f Dockerfile --target prebuilt -t "${image}" "${context}" >/dev/null ;;
  *) die "IMAGE_BUILDER must be buildah or podman, not ${builder}" ;;
esac

size="$(podman image inspect --format '{{.Size}}' "${image}" 2>/dev/null || true)"
[[ "${size}" =~ ^[0-9]+$ ]] || die "cannot read the size of ${image}"
say "built ${image}: ${size} bytes ($(awk -v s="${size}" 'BEGIN { printf "%.1f", s / 1048576 }') MiB)"
say "binary ${bin}: sha256 $(sha256sum "${bin}" | cut -d' ' -f1)"
