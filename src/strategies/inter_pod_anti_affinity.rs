//! RemovePodsViolatingInterPodAntiAffinity: evicts pods whose own required
//! anti-affinity terms match another pod in the same topology domain. Pods are
//! taken lowest priority first, and an evicted pod no longer counts against the
//! others, so of two mutually exclusive pods only one goes.

use std::collections::HashMap;

use crate::eligibility::eviction_order;
use crate::nodefit::{required_anti_affinity, term_selects};
use crate::plan::{Outcome, Plan};
use crate::snapshot::{NodeId, PodId, Snapshot};

pub fn run(plan: &mut Plan<'_>) {
    let snap = plan.snap;
    let mut domains = DomainIndex::default();
    let nodes: Vec<NodeId> = plan.processed_nodes().collect();
    for node in nodes {
        let mut pods: Vec<PodId> = plan
            .active_pods_on(node)
            .filter(|&p| plan.in_scope(p) && !required_anti_affinity(snap.pod(p)).is_empty())
            .collect();
        pods.sort_by_key(|&p| (eviction_order(snap, p), p));
        for id in pods {
            if let Some(other) = violation(plan, &mut domains, id, node) {
                let o = snap.pod(other);
                let outcome = plan.try_evict(
                    id,
                    format!(
                        "anti-affinity matches {}/{} on {}",
                        o.namespace,
                        o.name,
                        o.node_name.as_deref().unwrap_or("?")
                    ),
                );
                debug_assert_ne!(outcome, Outcome::OutOfScope);
            }
        }
    }
}

/// Nodes by (topologyKey, value), built on first use of each key.
#[derive(Default)]
struct DomainIndex {
    by_key: HashMap<String, HashMap<String, Vec<NodeId>>>,
}

impl DomainIndex {
    fn nodes(&mut self, snap: &Snapshot, key: &str, node: NodeId) -> Vec<NodeId> {
        let Some(value) = snap.node(node).labels.get(key) else {
            return vec![node];
        };
        let index = self.by_key.entry(key.to_string()).or_insert_with(|| {
            let mut m: HashMap<String, Vec<NodeId>> = HashMap::new();
            for (i, n) in snap.nodes.iter().enumerate() {
                if let Some(v) = n.labels.get(key) {
                    m.entry(v.clone()).or_default().push(i);
                }
            }
            m
        });
        index.get(value).cloned().unwrap_or_else(|| vec![node])
    }
}

/// The first other pod that one of `id`'s required anti-affinity terms matches.
fn violation(plan: &Plan<'_>, domains: &mut DomainIndex, id: PodId, node: NodeId) -> Option<PodId> {
    let snap = plan.snap;
    let pod = snap.pod(id);
    for term in required_anti_affinity(pod) {
        for n in domains.nodes(snap, &term.topology_key, node) {
            let hit = plan
                .active_pods_on(n)
                .find(|&other| other != id && term_selects(snap, term, pod, snap.pod(other)));
            if hit.is_some() {
                return hit;
            }
        }
    }
    None
}
