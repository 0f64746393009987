//! Node builders.

use super::*;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeCondition, NodeSpec, NodeStatus, Taint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

pub struct NodeB(pub(crate) Node);

pub fn node(name: &str) -> NodeB {
    NodeB(Node {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(NodeSpec::default()),
        status: Some(NodeStatus {
            allocatable: Some(quantities(&[
                ("cpu", "4"),
                ("memory", "8Gi"),
                ("pods", "110"),
            ])),
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: "True".into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    })
}

impl NodeB {
    fn alloc_mut(&mut self) -> &mut BTreeMap<String, Quantity> {
        self.0
            .status
            .as_mut()
            .and_then(|s| s.allocatable.as_mut())
            .expect("allocatable")
    }

    /// Sets one allocatable resource ("cpu", "memory", "pods", "example.com/gpu").
    pub fn alloc(mut self, resource: &str, qty: &str) -> Self {
        self.alloc_mut()
            .insert(resource.into(), Quantity(qty.into()));
        self
    }

    pub fn cpu(self, qty: &str) -> Self {
        self.alloc("cpu", qty)
    }

    pub fn mem(self, qty: &str) -> Self {
        self.alloc("memory", qty)
    }

    pub fn pods(self, n: u32) -> Self {
        self.alloc("pods", &n.to_string())
    }

    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.0
            .metadata
            .labels
            .get_or_insert_default()
            .insert(k.into(), v.into());
        self
    }

    /// `value` may be empty for a key-only taint.
    pub fn taint(mut self, key: &str, value: &str, effect: &str) -> Self {
        let spec = self.0.spec.get_or_insert_default();
        spec.taints.get_or_insert_default().push(Taint {
            key: key.into(),
            value: (!value.is_empty()).then(|| value.into()),
            effect: effect.into(),
            ..Default::default()
        });
        self
    }

    pub fn unschedulable(mut self) -> Self {
        self.0.spec.get_or_insert_default().unschedulable = Some(true);
        self
    }

    pub fn not_ready(mut self) -> Self {
        let status = self.0.status.as_mut().expect("status");
        status.conditions.as_mut().expect("conditions")[0].status = "False".into();
        self
    }
}
