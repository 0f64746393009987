//! The per-node, per-namespace and total eviction limits (SPEC §2): they count
//! every eviction of the run, across strategies.

use foldhash::HashMap;

use crate::snapshot::{NodeId, PerNode, PodInfo};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub per_node: Option<u32>,
    pub per_namespace: Option<u32>,
    pub total: Option<u32>,
}

/// Evictions counted so far in a run.
#[derive(Clone, Debug)]
pub struct Counters {
    per_node: PerNode<u32>,
    per_namespace: HashMap<String, u32>,
    total: u32,
}

impl Counters {
    pub fn new(nodes: usize) -> Self {
        Self {
            per_node: PerNode::filled(nodes, 0),
            per_namespace: HashMap::default(),
            total: 0,
        }
    }

    /// Whether evicting the pod would exceed one of the limits.
    pub fn reached(&self, limits: &Limits, pod: &PodInfo) -> bool {
        let node_full = match (limits.per_node, pod.node) {
            (Some(max), Some(n)) => self.per_node[n] >= max,
            _ => false,
        };
        let ns_full = limits
            .per_namespace
            .is_some_and(|max| self.per_namespace.get(&pod.namespace).copied().unwrap_or(0) >= max);
        let total_full = limits.total.is_some_and(|max| self.total >= max);
        node_full || ns_full || total_full
    }

    pub fn count(&mut self, node: Option<NodeId>, namespace: &str) {
        if let Some(n) = node {
            self.per_node[n] += 1;
        }
        *self.per_namespace.entry(namespace.to_string()).or_default() += 1;
        self.total += 1;
    }
}
