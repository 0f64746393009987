//! A cluster of built objects, and a one-call "validate this YAML policy and
//! plan a run".

use super::*;
use std::sync::Arc;

use k8s_openapi::api::policy::v1::PodDisruptionBudget;

use crate::api::DeschedulerPolicySpec;
use crate::engine;
use crate::plan::{EvictionPlan, StrategyTally};
use crate::policy::{Policy, validate};
use crate::snapshot::{ClusterObjects, Snapshot};
use crate::strategies::Strategy;
use crate::validation::Errors;

#[derive(Default, Clone)]
pub struct Cluster(pub ClusterObjects);

impl Cluster {
    /// `n` plain nodes named n1..nN.
    pub fn with_nodes(n: usize) -> Self {
        (1..=n).fold(Self::default(), |c, i| c.node(node(&format!("n{i}"))))
    }

    pub fn node(mut self, n: NodeB) -> Self {
        self.0.nodes.push(Arc::new(n.0));
        self
    }

    pub fn pod(mut self, p: PodB) -> Self {
        self.0.pods.push(Arc::new(p.0));
        self
    }

    pub fn pods(self, pods: impl IntoIterator<Item = PodB>) -> Self {
        pods.into_iter().fold(self, Cluster::pod)
    }

    pub fn pdb(mut self, p: PodDisruptionBudget) -> Self {
        self.0.pdbs.push(Arc::new(p));
        self
    }

    pub fn priority_class(mut self, name: &str, value: i32) -> Self {
        self.0
            .priority_classes
            .push(Arc::new(priority_class(name, value)));
        self
    }

    pub fn namespace(mut self, name: &str, pairs: &[(&str, &str)]) -> Self {
        self.0.namespaces.push(Arc::new(namespace(name, pairs)));
        self
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot::build(now(), self.0.clone())
    }

    /// Parses and validates a policy spec (YAML) against this cluster's priority classes.
    pub fn policy(&self, yaml: &str) -> Policy {
        let spec: DeschedulerPolicySpec = serde_yaml_ng::from_str(yaml)
            .unwrap_or_else(|e| panic!("test policy does not parse: {e}\n{yaml}"));
        let classes = self.0.priority_classes.clone();
        let lookup = move |name: &str| {
            classes
                .iter()
                .find(|pc| pc.metadata.name.as_deref() == Some(name))
                .and_then(|pc| pc.value)
        };
        validate(&spec, &lookup).unwrap_or_else(|e| panic!("test policy is invalid: {e}\n{yaml}"))
    }

    /// The field errors of a policy that must be invalid.
    pub fn invalid(&self, yaml: &str) -> Vec<crate::validation::FieldError> {
        let spec: DeschedulerPolicySpec = serde_yaml_ng::from_str(yaml)
            .unwrap_or_else(|e| panic!("test policy does not parse: {e}\n{yaml}"));
        let classes = self.0.priority_classes.clone();
        let lookup = move |name: &str| {
            classes
                .iter()
                .find(|pc| pc.metadata.name.as_deref() == Some(name))
                .and_then(|pc| pc.value)
        };
        match validate(&spec, &lookup) {
            Ok(_) => panic!("expected the policy to be invalid:\n{yaml}"),
            Err(e) => e.0,
        }
    }

    /// Validates the policy and plans one run against a snapshot taken at [`NOW`].
    pub fn run(&self, yaml: &str) -> Run {
        let snap = self.snapshot();
        let result = engine::plan(&snap, &self.policy(yaml));
        Run { snap, result }
    }
}

impl Cluster {
    /// Like [`Cluster::run`], with measured usage attached to the snapshot.
    pub fn run_with_usage(&self, yaml: &str, usage: crate::snapshot::UsageInput) -> Run {
        let snap = self.snapshot().with_usage(usage);
        let result = engine::plan(&snap, &self.policy(yaml));
        Run { snap, result }
    }
}

/// metrics.k8s.io usage: nodes as (name, cpu, memory), pods as (name, cpu,
/// memory) in namespace `default`.
pub fn kube_usage(
    nodes: &[(&str, &str, &str)],
    pods: &[(&str, &str, &str)],
) -> crate::snapshot::UsageInput {
    let res = |cpu: &str, mem: &str| {
        crate::snapshot::Resources::from_list(Some(&quantities(&[("cpu", cpu), ("memory", mem)])))
    };
    crate::snapshot::UsageInput {
        kubernetes: Some(Ok(crate::snapshot::KubeMetrics {
            nodes: nodes
                .iter()
                .map(|(n, c, m)| (n.to_string(), res(c, m)))
                .collect(),
            pods: pods
                .iter()
                .map(|(n, c, m)| (("default".to_string(), n.to_string()), res(c, m)))
                .collect(),
        })),
        ..Default::default()
    }
}

pub struct Run {
    pub snap: Snapshot,
    pub result: EvictionPlan,
}

/// One strategy's params, parsed from the YAML of its `params` by its own
/// parse; panics with the field errors when they are invalid.
pub fn params<S: Strategy>(yaml: &str) -> S
where
    S::Spec: serde::de::DeserializeOwned,
{
    let spec: S::Spec = serde_yaml_ng::from_str(yaml)
        .unwrap_or_else(|e| panic!("test params do not parse: {e}\n{yaml}"));
    let mut errs = Errors::default();
    let parsed = S::parse(&spec, "params", &mut errs);
    match (errs.into_result(()), parsed) {
        (Ok(()), Some(p)) => p,
        (result, _) => panic!("test params are invalid: {result:?}\n{yaml}"),
    }
}

impl Run {
    /// Names of the evicted pods, in eviction order.
    pub fn evicted(&self) -> Vec<&str> {
        self.result
            .evictions
            .iter()
            .map(|e| self.snap.pod(e.pod).name.as_str())
            .collect()
    }

    /// Names of the evicted pods, sorted.
    pub fn evicted_set(&self) -> Vec<&str> {
        let mut v = self.evicted();
        v.sort();
        v
    }

    /// (pod name, strategy) of every eviction, in order.
    pub fn evicted_by(&self) -> Vec<(&str, &str)> {
        self.result
            .evictions
            .iter()
            .map(|e| (self.snap.pod(e.pod).name.as_str(), e.strategy))
            .collect()
    }

    pub fn blocked(&self) -> Vec<&str> {
        self.result
            .blocked
            .iter()
            .map(|e| self.snap.pod(e.pod).name.as_str())
            .collect()
    }

    pub fn tally(&self, strategy: &str) -> &StrategyTally {
        self.result
            .strategies
            .iter()
            .find(|t| t.name == strategy)
            .unwrap_or_else(|| panic!("strategy {strategy} did not run"))
    }

    /// The skip counts of the (only) strategy that ran, as (reason, count).
    pub fn skipped(&self) -> Vec<(String, u32)> {
        self.result
            .strategies
            .iter()
            .flat_map(|t| t.skipped.iter().map(|(k, v)| (k.clone(), *v)))
            .collect()
    }
}

/// `n` pods of `cpu` each on `node`, named `<node>-<i>`.
pub fn load(node: &str, n: usize, cpu: &str) -> Vec<PodB> {
    (1..=n)
        .map(|i| pod(&format!("{node}-{i}")).on(node).req(cpu, ""))
        .collect()
}
