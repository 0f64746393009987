//! The domains of a constraint: the values of its topologyKey on the
//! processed nodes that pass its nodeAffinityPolicy / nodeTaintsPolicy for
//! the pods that carry it.

use std::collections::BTreeMap;
use std::rc::Rc;

use foldhash::HashMap;

use crate::plan::Ledger;
use crate::plan::nodefit::{node_selector_matches, required_node_affinity};
use crate::selectors::tolerates_all;
use crate::snapshot::{NodeId, PerNode, PodInfo};

/// The domains of a constraint depend only on its topologyKey and, through
/// nodeAffinityPolicy / nodeTaintsPolicy, on the carrier's node constraints
/// and tolerations; most constraints share them, so they are computed once
/// per run rather than once per constraint (which was quadratic).
/// Different inputs that yield the same nodes share one `DomainNodes`, so
/// constraints can be told apart by what their domains are.
#[derive(Default)]
pub struct DomainCache {
    by_key: HashMap<String, Rc<DomainNodes>>,
    by_content: HashMap<Vec<(String, Vec<NodeId>)>, Rc<DomainNodes>>,
}

pub struct DomainNodes {
    /// Equal for equal domains within a run.
    pub id: usize,
    /// (topology value, processed nodes with it), by value.
    pub domains: Vec<(String, Vec<NodeId>)>,
    /// Index into `domains` of every node; None when the node is in none.
    pub of_node: PerNode<Option<usize>>,
}

impl DomainCache {
    pub fn get(
        &mut self,
        ledger: &Ledger<'_>,
        key: &str,
        carrier: &PodInfo,
        honor_affinity: bool,
        honor_taints: bool,
    ) -> Rc<DomainNodes> {
        let spec = carrier.spec();
        let affinity =
            honor_affinity.then(|| (&spec.node_selector, required_node_affinity(carrier)));
        let tolerations = honor_taints.then_some(&spec.tolerations);
        let cache_key = serde_json::to_string(&(key, affinity, tolerations)).unwrap_or_default();
        if let Some(d) = self.by_key.get(&cache_key) {
            return d.clone();
        }
        let computed = domain_nodes(ledger, key, carrier, honor_affinity, honor_taints);
        let next_id = self.by_content.len();
        let shared = self
            .by_content
            .entry(computed.domains.clone())
            .or_insert_with(|| {
                Rc::new(DomainNodes {
                    id: next_id,
                    ..computed
                })
            })
            .clone();
        self.by_key.insert(cache_key, shared.clone());
        shared
    }
}

fn domain_nodes(
    ledger: &Ledger<'_>,
    key: &str,
    carrier: &PodInfo,
    honor_affinity: bool,
    honor_taints: bool,
) -> DomainNodes {
    let snap = ledger.snap;
    let tolerations = carrier.spec().tolerations.as_deref().unwrap_or_default();
    let mut by_value: BTreeMap<String, Vec<NodeId>> = BTreeMap::new();
    for n in ledger.processed_nodes() {
        let node = snap.node(n);
        let Some(value) = node.labels.get(key) else {
            continue;
        };
        if honor_affinity && !node_selector_matches(carrier, &node.name, &node.labels) {
            continue;
        }
        if honor_taints && !tolerates_all(tolerations, &node.taints, &["NoSchedule", "NoExecute"]) {
            continue;
        }
        by_value.entry(value.clone()).or_default().push(n);
    }
    let mut of_node = PerNode::filled(snap.nodes.len(), None);
    let domains: Vec<(String, Vec<NodeId>)> = by_value.into_iter().collect();
    for (i, (_, nodes)) in domains.iter().enumerate() {
        for &n in nodes {
            of_node[n] = Some(i);
        }
    }
    DomainNodes {
        id: 0,
        domains,
        of_node,
    }
}
