# syntax=docker/dockerfile:1
#
# The descheduler operator image.
#
#   docker build -t ghcr.io/descheduler-dev/descheduler:0.1.0 .
#   docker run --rm ghcr.io/descheduler-dev/descheduler:0.1.0 --help
#
# Stage 1 builds a release binary with the official Rust image (Debian 12
# "bookworm"); stage 2 copies it into distroless/cc-debian12 (glibc, libgcc and
# CA certificates, no shell, no package manager), the runtime the binary needs:
# it links only libc, libm and libgcc_s (TLS is rustls, no OpenSSL). Both
# stages are Debian 12, so the glibc versions match.
#
# The image runs as the distroless "nonroot" user (65532:65532), which the
# chart's and config/manager's securityContext (runAsNonRoot, runAsUser 65532,
# readOnlyRootFilesystem, no capabilities) expect. The binary is the
# entrypoint; the default command is `run` (the operator), so
# `docker run IMAGE simulate --policy ... --cluster ...` works too.
#
# Multi-arch: `docker buildx build --platform linux/amd64,linux/arm64 .`
# builds each platform natively (under emulation for the foreign one).

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# Only what the build needs (see .dockerignore). The cache mounts keep the
# crate registry and compiled dependencies between builds.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY tests ./tests
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin descheduler \
 && cp target/release/descheduler /usr/local/bin/descheduler \
 && /usr/local/bin/descheduler --version

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="descheduler" \
      org.opencontainers.image.description="Evicts pods that a DeschedulerPolicy says are badly placed"
COPY --from=build /usr/local/bin/descheduler /usr/local/bin/descheduler
USER 65532:65532
# /metrics, /healthz, /readyz
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/descheduler"]
CMD ["run"]
