//! PodDisruptionBudgets, PriorityClasses and Namespaces.

use super::*;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// A PDB in `default` selecting pods with these labels.
pub fn pdb(name: &str, pairs: &[(&str, &str)]) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            selector: Some(selector(pairs)),
            ..Default::default()
        }),
        status: None,
    }
}

/// "2" is an integer, "50%" a percentage.
fn int_or_string(v: &str) -> IntOrString {
    v.parse()
        .map(IntOrString::Int)
        .unwrap_or_else(|_| IntOrString::String(v.into()))
}

pub fn min_available(mut p: PodDisruptionBudget, v: &str) -> PodDisruptionBudget {
    p.spec.get_or_insert_default().min_available = Some(int_or_string(v));
    p
}

pub fn max_unavailable(mut p: PodDisruptionBudget, v: &str) -> PodDisruptionBudget {
    p.spec.get_or_insert_default().max_unavailable = Some(int_or_string(v));
    p
}

/// `unhealthyPodEvictionPolicy: AlwaysAllow`.
pub fn always_allow(mut p: PodDisruptionBudget) -> PodDisruptionBudget {
    p.spec.get_or_insert_default().unhealthy_pod_eviction_policy = Some("AlwaysAllow".into());
    p
}

pub fn priority_class(name: &str, value: i32) -> PriorityClass {
    PriorityClass {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        value: Some(value),
        ..Default::default()
    }
}

pub fn namespace(name: &str, pairs: &[(&str, &str)]) -> Namespace {
    Namespace {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels(pairs)),
            ..Default::default()
        },
        ..Default::default()
    }
}
