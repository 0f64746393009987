//! Builders the placement tests need beyond `crate::testing`: pod affinity
//! terms of every kind, host ports, spread constraint options, and a model
//! over a cluster with lookups by name.

use k8s_openapi::api::core::v1::{
    ContainerPort, PodAffinity, PodAffinityTerm, PodAntiAffinity, TopologySpreadConstraint,
    WeightedPodAffinityTerm,
};

use super::{Filter, Model};
use crate::snapshot::{NodeId, PodId, Snapshot};
use crate::testing::*;

pub(crate) const HOST: &str = "kubernetes.io/hostname";
pub(crate) const ZONE: &str = "topology.kubernetes.io/zone";

pub(crate) fn term(key: &str, pairs: &[(&str, &str)]) -> PodAffinityTerm {
    PodAffinityTerm {
        topology_key: key.into(),
        label_selector: Some(selector(pairs)),
        ..Default::default()
    }
}

pub(crate) trait PodExt {
    fn affinity(self, key: &str, pairs: &[(&str, &str)]) -> Self;
    fn affinity_term(self, t: PodAffinityTerm) -> Self;
    fn prefer_affinity(self, weight: i32, key: &str, pairs: &[(&str, &str)]) -> Self;
    fn prefer_anti(self, weight: i32, key: &str, pairs: &[(&str, &str)]) -> Self;
    fn host_port(self, port: i32) -> Self;
}

impl PodExt for PodB {
    fn affinity(self, key: &str, pairs: &[(&str, &str)]) -> Self {
        self.affinity_term(term(key, pairs))
    }

    fn affinity_term(mut self, t: PodAffinityTerm) -> Self {
        let a = self
            .0
            .spec
            .get_or_insert_default()
            .affinity
            .get_or_insert_default();
        let pa: &mut PodAffinity = a.pod_affinity.get_or_insert_default();
        pa.required_during_scheduling_ignored_during_execution
            .get_or_insert_default()
            .push(t);
        self
    }

    fn prefer_affinity(mut self, weight: i32, key: &str, pairs: &[(&str, &str)]) -> Self {
        let a = self
            .0
            .spec
            .get_or_insert_default()
            .affinity
            .get_or_insert_default();
        let pa: &mut PodAffinity = a.pod_affinity.get_or_insert_default();
        pa.preferred_during_scheduling_ignored_during_execution
            .get_or_insert_default()
            .push(WeightedPodAffinityTerm {
                weight,
                pod_affinity_term: term(key, pairs),
            });
        self
    }

    fn prefer_anti(mut self, weight: i32, key: &str, pairs: &[(&str, &str)]) -> Self {
        let a = self
            .0
            .spec
            .get_or_insert_default()
            .affinity
            .get_or_insert_default();
        let anti: &mut PodAntiAffinity = a.pod_anti_affinity.get_or_insert_default();
        anti.preferred_during_scheduling_ignored_during_execution
            .get_or_insert_default()
            .push(WeightedPodAffinityTerm {
                weight,
                pod_affinity_term: term(key, pairs),
            });
        self
    }

    fn host_port(mut self, port: i32) -> Self {
        let c = &mut self.0.spec.get_or_insert_default().containers[0];
        c.ports.get_or_insert_default().push(ContainerPort {
            container_port: port,
            host_port: Some(port),
            ..Default::default()
        });
        self
    }
}

/// A spread constraint with minDomains, the inclusion policies and matchLabelKeys.
pub(crate) fn tsc_with(
    mut c: TopologySpreadConstraint,
    min_domains: Option<i32>,
    affinity_policy: Option<&str>,
    taints_policy: Option<&str>,
    match_label_keys: &[&str],
) -> TopologySpreadConstraint {
    c.min_domains = min_domains;
    c.node_affinity_policy = affinity_policy.map(Into::into);
    c.node_taints_policy = taints_policy.map(Into::into);
    if !match_label_keys.is_empty() {
        c.match_label_keys = Some(match_label_keys.iter().map(|k| k.to_string()).collect());
    }
    c
}

/// `n` nodes n1..nN, each labelled with its hostname and, when `zones` is
/// not empty, a zone assigned round-robin.
pub(crate) fn labelled(n: usize, zones: &[&str]) -> Cluster {
    (1..=n).fold(Cluster::default(), |c, i| {
        let name = format!("n{i}");
        let mut b = node(&name).label(HOST, &name);
        if !zones.is_empty() {
            b = b.label(ZONE, zones[(i - 1) % zones.len()]);
        }
        c.node(b)
    })
}

pub(crate) fn pod_id(snap: &Snapshot, name: &str) -> PodId {
    snap.pod_ids()
        .find(|&p| snap.pod(p).name == name)
        .unwrap_or_else(|| panic!("no pod {name}"))
}

pub(crate) fn node_id(snap: &Snapshot, name: &str) -> NodeId {
    snap.node_id(name)
        .unwrap_or_else(|| panic!("no node {name}"))
}

pub(crate) fn node_name(snap: &Snapshot, n: Option<NodeId>) -> Option<&str> {
    n.map(|n| snap.node(n).name.as_str())
}

/// Where the replacement of `pod` goes once `pod` is removed.
pub(crate) fn predict(snap: &Snapshot, pod: &str) -> Option<String> {
    let mut m = Model::new(snap);
    let p = pod_id(snap, pod);
    m.remove(p);
    node_name(snap, m.predict(p)).map(str::to_string)
}

/// The filter verdict for the replacement of `pod` on each node, by name.
pub(crate) fn verdicts(snap: &Snapshot, pod: &str) -> Vec<(String, Result<(), Filter>)> {
    let mut m = Model::new(snap);
    let p = pod_id(snap, pod);
    m.remove(p);
    snap.node_ids()
        .map(|n| (snap.node(n).name.clone(), m.filter(p, n)))
        .collect()
}

/// The verdict on one node.
pub(crate) fn verdict(snap: &Snapshot, pod: &str, node: &str) -> Result<(), Filter> {
    verdicts(snap, pod)
        .into_iter()
        .find(|(n, _)| n == node)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no node {node}"))
}
