# syntax=docker/dockerfile:1
#
# The descheduler operator image: a statically linked binary and a CA bundle
# on an empty base (FROM scratch): no shell, no package manager, no libc to
# match. Two ways to build the same image:
#
# With network access (BuildKit: docker, or buildah/podman), cargo runs in the
# official Rust image (stage `build`):
#
#   docker build -t ghcr.io/descheduler-dev/descheduler:0.1.0 .
#   docker run --rm ghcr.io/descheduler-dev/descheduler:0.1.0 --help
#
# Offline (no base image can be pulled), cargo runs on the host and the
# `prebuilt` target copies its output from a context directory that
# scripts/image.sh stages (`make image`; see README.md, "Container image"):
#
#   scripts/image.sh ghcr.io/descheduler-dev/descheduler:0.1.0
#
# Both end in stage `runtime`'s configuration with the same two files, so the
# image scripts/image-test.sh builds and runs as the chart's Deployment would
# is the image that ships; only where cargo ran differs (rust:1.95-bookworm,
# or the host's toolchain).
#
# The binary is linked statically with glibc (`-C target-feature=+crt-static`;
# TLS is rustls, no OpenSSL). glibc 2.34+ has its "files" and "dns" name
# services built in, so host names resolve from /etc/hosts and
# /etc/resolv.conf without any shared library. The CA bundle is Debian's
# (/etc/ssl/certs/ca-certificates.crt), for an https --prometheus-url with
# public roots; the apiserver's CA comes from the ServiceAccount mount.
#
# The image runs as 65532:65532 (distroless' "nonroot"), which the chart's and
# config/manager's securityContext (runAsNonRoot, runAsUser 65532,
# readOnlyRootFilesystem, no capabilities) expect. The binary is the
# entrypoint; the default command is `run` (the operator), so
# `docker run IMAGE simulate --policy ... --cluster ...` works too.
#
# Multi-arch: `docker buildx build --platform linux/amd64,linux/arm64 .`
# builds each platform natively (under emulation for the foreign one); the
# target triple follows the build platform's `uname -m`.

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# Only what the build needs (see .dockerignore). The cache mounts keep the
# crate registry and compiled dependencies between builds. With --target,
# RUSTFLAGS reach only the binary, not build scripts or proc macros.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY tests ./tests
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    triple="$(uname -m)-unknown-linux-gnu" \
 && RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked --bin descheduler --target "${triple}" \
 && mkdir -p /out/usr/local/bin /out/etc/ssl/certs \
 && cp "target/${triple}/release/descheduler" /out/usr/local/bin/descheduler \
 && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ca-certificates.crt \
 && /out/usr/local/bin/descheduler --version

# What every variant of the image is, whatever built the binary.
FROM scratch AS runtime
LABEL org.opencontainers.image.title="descheduler" \
      org.opencontainers.image.description="Evicts pods that a DeschedulerPolicy says are badly placed"
USER 65532:65532
# /metrics, /healthz and /readyz
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/descheduler"]
CMD ["run"]

# Offline: the context is the directory scripts/image.sh staged, holding
# `descheduler` (built on the host with the flags above) and
# `ca-certificates.crt` (the host's bundle). Not part of the default build:
# BuildKit and buildah skip stages the target does not need.
FROM runtime AS prebuilt
COPY descheduler /usr/local/bin/descheduler
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt

# The default target (last stage): the binary from `build`.
FROM runtime AS release
COPY --from=build /out/ /
