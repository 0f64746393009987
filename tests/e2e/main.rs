//! End-to-end tests against a real local control plane (etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler and kwok) built from Go modules.
//!
//! Start it with `make cluster-up` (or let `make e2e` / `make test` do it);
//! the tests fail, never skip, when it is not running. See
//! `tests/e2e/README.md`.

// Test and tool code may panic on what it built itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chart;
mod cluster_smoke;
mod flux;
mod operator;
mod rbac;
mod secure_metrics;
mod support;
