.DEFAULT_GOAL := help
SHELL := /bin/bash

CLUSTER := tests/e2e/cluster

.PHONY: help cluster-build cluster-build-metrics cluster-up cluster-up-metrics cluster-down e2e e2e-metrics test install-tools-build generate demo image image-test

help:
	@echo "make test           build the control plane, start it, run all cargo tests, stop it"
	@echo "make cluster-build  build etcd, kube-*, kubectl and kwok into .cache/bin (no-op if up to date)"
	@echo "make cluster-up     start the local control plane (kubeconfig: .cache/cluster/kubeconfig)"
	@echo "                    WITH_METRICS=1 make cluster-up: also build and start metrics-server and Prometheus"
	@echo "make cluster-up-metrics  the same as WITH_METRICS=1 make cluster-up"
	@echo "make cluster-build-metrics  build metrics-server and Prometheus into .cache/bin (no-op if up to date)"
	@echo "make cluster-down   stop it and remove its data (logs stay in .cache/cluster/logs)"
	@echo "make e2e            run the e2e tests against the cluster, starting it if needed"
	@echo "make e2e-metrics    build and start metrics-server and Prometheus, run the real-usage e2e tests"
	@echo "make install-tools-build  build helm and Flux's source-/helm-controller into .cache/bin (no-op if up to date)"
	@echo "make demo           the operator on a local control plane: a badly placed workload before and after"
	@echo "make generate       regenerate the CRD into crds/, charts/descheduler/crds/ and config/crd/"
	@echo "make image          build the operator image offline (static binary, FROM scratch) with buildah/podman"
	@echo "                    IMAGE=<ref> make image: tag it <ref> (default ghcr.io/descheduler-dev/descheduler:<version>)"
	@echo "make image-test     build the image, run it with podman as the chart's Deployment would, check /readyz and an eviction"

# --- local Kubernetes control plane for the e2e tests (tests/e2e/cluster) ---

# WITH_METRICS=1 (from the environment or the command line) also builds and
# starts metrics-server and Prometheus; see tests/e2e/README.md.
cluster-build:
	$(CLUSTER)/build.sh
ifeq ($(WITH_METRICS),1)
	$(CLUSTER)/build-metrics.sh
endif

cluster-build-metrics:
	$(CLUSTER)/build-metrics.sh

cluster-up: cluster-build
	$(CLUSTER)/up.sh

cluster-up-metrics: cluster-build cluster-build-metrics
	WITH_METRICS=1 $(CLUSTER)/up.sh

cluster-down:
	$(CLUSTER)/down.sh

# --- helm and the Flux controllers for the chart/Flux/RBAC e2e tests ---

install-tools-build:
	tests/e2e/install/build.sh

# --- generated files: the CRD and its copies (tests/crd.rs fails on drift) ---

CRD := deschedulerpolicies.descheduler.dev.yaml

generate:
	@mkdir -p .cache
	cargo run -q -- crd > .cache/$(CRD).tmp
	mv .cache/$(CRD).tmp crds/$(CRD)
	cp crds/$(CRD) charts/descheduler/crds/$(CRD)
	cp crds/$(CRD) config/crd/$(CRD)

demo:
	scripts/demo.sh

# --- the container image (Dockerfile; README.md, "Container image") ---

# Offline: cargo on the host (static), then the Dockerfile's `prebuilt` target.
image:
	scripts/image.sh $(IMAGE)

# Builds the image and runs it as the chart's Deployment would against the
# local control plane (started, and stopped again, if it is not up).
image-test: cluster-build install-tools-build
	scripts/image-test.sh

e2e: cluster-up install-tools-build
	cargo test --test e2e

# Balancing by real usage (tests/e2e/operator/metrics.rs) against a real
# metrics-server and Prometheus. Their cold build takes ~13 min, so `make
# test` leaves them out (there these tests print SKIPPED and check nothing).
# Leaves the cluster running, like `make e2e`.
e2e-metrics: cluster-build cluster-build-metrics
	WITH_METRICS=1 $(CLUSTER)/up.sh
	cargo test --test e2e -- operator::metrics

# Benches are not run here (their 5,000-node case is slow in a debug build);
# .ci/run runs them once at the smallest size.
# Compile first so the cluster is not idle while cargo builds; always tear
# the cluster down, and keep the first failing exit code.
test: cluster-build install-tools-build
	cargo test --lib --bins --tests --no-run
	status=0; \
	$(CLUSTER)/up.sh && cargo test --lib --bins --tests --no-fail-fast || status=$$?; \
	$(CLUSTER)/down.sh || { [ $$status -ne 0 ] || status=1; }; \
	exit $$status

# --- our operator against the upstream descheduler on one live cluster (BENCHMARKS.md) ---

.PHONY: bench-vs-upstream
bench-vs-upstream: cluster-build
	bench/vs-upstream.sh

# --- soak: 30 minutes of churn on a 500-node cluster, evicting for real (BENCHMARKS.md) ---

.PHONY: bench-soak
bench-soak: cluster-build
	bench/soak.sh
