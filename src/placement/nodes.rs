//! What depends only on the node and on the pod's node side (nodeSelector,
//! node affinity, tolerations), computed once per distinct node side: the
//! static filters, the NodeAffinity and TaintToleration raw scores, and the
//! nodes NodeAffinity's PreFilter narrows the search to. Also the order the
//! scheduler visits nodes in and how many feasible nodes it looks for.

use std::rc::Rc;

use foldhash::HashMap;
use k8s_openapi::api::core::v1::{NodeSelector, PodSpec, Taint};

use super::fingerprint;
use crate::selectors::{
    Labels, node_selector_term_matches, node_selector_terms_match, tolerates, tolerates_all,
};
use crate::snapshot::{Id, NodeId, PodId, PodInfo, Snapshot};

/// Ready, or the pod tolerates the taints a NotReady node carries.
pub(crate) const READY: u8 = 1;
/// Schedulable, or the pod tolerates node.kubernetes.io/unschedulable.
pub(crate) const SCHEDULABLE: u8 = 2;
/// No NoSchedule / NoExecute taint the pod does not tolerate.
pub(crate) const TAINTS: u8 = 4;
/// nodeSelector and required node affinity.
pub(crate) const AFFINITY: u8 = 8;

const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";
const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";

/// Whether the node's labels satisfy the pod's nodeSelector and required node
/// affinity (`nodeaffinity.GetRequiredNodeAffinity(pod).Match(node)`).
pub(crate) fn required_node_affinity_matches(pod: &PodInfo, name: &str, labels: &Labels) -> bool {
    let spec = pod.spec();
    if let Some(sel) = &spec.node_selector
        && !sel.iter().all(|(k, v)| labels.get(k) == Some(v))
    {
        return false;
    }
    required(pod).is_none_or(|r| node_selector_terms_match(&r.node_selector_terms, name, labels))
}

fn required(pod: &PodInfo) -> Option<&NodeSelector> {
    pod.spec()
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
}

/// The taints the node lifecycle controller puts on NotReady and cordoned
/// nodes, when the node object does not carry them yet: nodeTaintsPolicy
/// Honor and the TaintToleration filter see them on a real cluster.
pub(crate) fn implied_taints(snap: &Snapshot, n: NodeId) -> Vec<Taint> {
    let node = snap.node(n);
    let has = |key: &str| node.taints.iter().any(|t| t.key == key);
    let taint = |key: &str| Taint {
        key: key.to_string(),
        effect: "NoSchedule".to_string(),
        ..Default::default()
    };
    let mut out = Vec::new();
    if !node.ready && !has(NOT_READY_TAINT) && !has(UNREACHABLE_TAINT) {
        out.push(taint(NOT_READY_TAINT));
    }
    if node.unschedulable && !has(UNSCHEDULABLE_TAINT) {
        out.push(taint(UNSCHEDULABLE_TAINT));
    }
    out
}

/// The static part of one node side.
pub(crate) struct Statics {
    /// A number of its own, for caches keyed by node side.
    pub id: usize,
    rep: PodId,
    /// Per node: READY | SCHEDULABLE | TAINTS | AFFINITY.
    pub flags: Vec<u8>,
    /// NodeAffinity's raw score per node (the weights of the matching
    /// preferred terms); None when the pod prefers nothing.
    pub preferred: Option<Vec<i64>>,
    /// TaintToleration's raw score per node (PreferNoSchedule taints not
    /// tolerated); None when no node has one.
    pub prefer_no_schedule: Option<Vec<i64>>,
    /// NodeAffinity's PreFilter result: the nodes named by `metadata.name`
    /// in every required term, in visiting order; None for every node.
    pub candidates: Option<Vec<NodeId>>,
}

impl Statics {
    #[inline]
    pub(crate) fn flags(&self, n: NodeId) -> u8 {
        self.flags[n.index()]
    }

    fn build(ctx: &NodeContext, snap: &Snapshot, id: usize, rep: PodId) -> Self {
        let pod = snap.pod(rep);
        let spec = pod.spec();
        let tolerations = spec.tolerations.as_deref().unwrap_or_default();
        let unschedulable_ok = tolerates(
            tolerations,
            &Taint {
                key: UNSCHEDULABLE_TAINT.to_string(),
                effect: "NoSchedule".to_string(),
                ..Default::default()
            },
        );
        let candidates = prefilter_nodes(snap, ctx, pod);
        let mut flags = vec![0u8; snap.nodes.len()];
        let mut visit = |n: NodeId| {
            let node = snap.node(n);
            let mut f = 0;
            // No filter looks at readiness: only the not-ready / unreachable
            // taint keeps pods off, and a pod that tolerates it gets on.
            let readiness_tolerated = || {
                let readiness = |t: &&Taint| {
                    (t.key == NOT_READY_TAINT || t.key == UNREACHABLE_TAINT)
                        && (t.effect == "NoSchedule" || t.effect == "NoExecute")
                };
                node.taints
                    .iter()
                    .chain(&ctx.implied[n.index()])
                    .filter(readiness)
                    .all(|t| tolerates(tolerations, t))
            };
            if node.ready || readiness_tolerated() {
                f |= READY;
            }
            if !node.unschedulable || unschedulable_ok {
                f |= SCHEDULABLE;
            }
            let effects = ["NoSchedule", "NoExecute"];
            if tolerates_all(tolerations, &node.taints, &effects)
                && tolerates_all(tolerations, &ctx.implied[n.index()], &effects)
            {
                f |= TAINTS;
            }
            if required_node_affinity_matches(pod, &node.name, &node.labels) {
                f |= AFFINITY;
            }
            flags[n.index()] = f;
        };
        match &candidates {
            Some(list) => list.iter().copied().for_each(&mut visit),
            None => snap.node_ids().for_each(&mut visit),
        }
        let preferred_terms = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| {
                na.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .filter(|p| p.iter().any(|t| t.weight != 0));
        let preferred = preferred_terms.map(|terms| {
            snap.nodes
                .values()
                .map(|node| {
                    terms
                        .iter()
                        .filter(|t| {
                            node_selector_term_matches(&t.preference, &node.name, &node.labels)
                        })
                        .map(|t| i64::from(t.weight))
                        .sum()
                })
                .collect()
        });
        let prefer_no_schedule = ctx.any_prefer_no_schedule.then(|| {
            snap.nodes
                .values()
                .map(|node| {
                    node.taints
                        .iter()
                        .filter(|t| t.effect == "PreferNoSchedule" && !tolerates(tolerations, t))
                        .count() as i64
                })
                .collect()
        });
        Self {
            id,
            rep,
            flags,
            preferred,
            prefer_no_schedule,
            candidates,
        }
    }
}

/// NodeAffinity's PreFilter: when every required term names nodes with
/// `metadata.name In`, only those nodes are visited (DaemonSet pods).
fn prefilter_nodes(snap: &Snapshot, ctx: &NodeContext, pod: &PodInfo) -> Option<Vec<NodeId>> {
    let terms = &required(pod)?.node_selector_terms;
    let mut names: Vec<&String> = Vec::new();
    for t in terms {
        let mut term_names: Option<Vec<&String>> = None;
        for r in t.match_fields.iter().flatten() {
            if r.key == "metadata.name" && r.operator == "In" {
                let values: Vec<&String> = r.values.iter().flatten().collect();
                term_names = Some(match term_names {
                    None => values,
                    Some(prev) => prev.into_iter().filter(|v| values.contains(v)).collect(),
                });
            }
        }
        names.extend(term_names?);
    }
    let mut nodes: Vec<NodeId> = names.into_iter().filter_map(|n| snap.node_id(n)).collect();
    nodes.sort_by_key(|n| ctx.position[n.index()]);
    nodes.dedup();
    Some(nodes)
}

/// What the statics of every node side share.
pub(crate) struct NodeContext {
    pub implied: Vec<Vec<Taint>>,
    pub any_prefer_no_schedule: bool,
    /// The order kube-scheduler's node tree lists nodes in.
    pub order: Vec<NodeId>,
    position: Vec<usize>,
}

impl NodeContext {
    pub(crate) fn new(snap: &Snapshot) -> Self {
        let order = visiting_order(snap);
        let mut position = vec![0; order.len()];
        for (i, n) in order.iter().enumerate() {
            position[n.index()] = i;
        }
        Self {
            implied: snap.node_ids().map(|n| implied_taints(snap, n)).collect(),
            any_prefer_no_schedule: snap
                .nodes
                .values()
                .any(|n| n.taints.iter().any(|t| t.effect == "PreferNoSchedule")),
            order,
            position,
        }
    }
}

/// The node tree's order: zones (region and zone labels) in the order their
/// first node appears, then round-robin across zones, one node of each in turn.
fn visiting_order(snap: &Snapshot) -> Vec<NodeId> {
    let zone_of = |labels: &Labels| {
        let get = |beta: &str, ga: &str| labels.get(beta).or_else(|| labels.get(ga)).cloned();
        let zone = get(
            "failure-domain.beta.kubernetes.io/zone",
            super::profile::ZONE,
        );
        let region = get(
            "failure-domain.beta.kubernetes.io/region",
            "topology.kubernetes.io/region",
        );
        (region.unwrap_or_default(), zone.unwrap_or_default())
    };
    let mut zones: Vec<Vec<NodeId>> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::default();
    for (id, node) in snap.nodes.iter() {
        let next = zones.len();
        let z = *index.entry(zone_of(&node.labels)).or_insert(next);
        if z == zones.len() {
            zones.push(Vec::new());
        }
        zones[z].push(id);
    }
    let longest = zones.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|i| zones.iter().filter_map(move |z| z.get(i).copied()))
        .collect()
}

/// How many feasible nodes the scheduler looks for before it stops
/// filtering (`numFeasibleNodesToFind` with the default
/// percentageOfNodesToScore: 50% minus 1% per 125 nodes, at least 5%, and
/// at least 100 nodes).
pub(crate) fn feasible_to_find(nodes: usize) -> usize {
    const MIN_NODES: usize = 100;
    if nodes < MIN_NODES {
        return nodes;
    }
    let percentage = (50 - (nodes / 125) as i64).max(5) as usize;
    (nodes * percentage / 100).max(MIN_NODES)
}

/// Statics by node side.
#[derive(Default)]
pub(crate) struct StaticsCache {
    by_hash: HashMap<u64, Vec<Rc<Statics>>>,
    count: usize,
    /// The last one asked for: plans evict a workload's pods one after
    /// another, and comparing with it is cheaper than hashing the spec.
    last: Option<Rc<Statics>>,
}

impl StaticsCache {
    pub(crate) fn get(&mut self, ctx: &NodeContext, snap: &Snapshot, pod: PodId) -> Rc<Statics> {
        let spec = snap.pod(pod).spec();
        if let Some(s) = &self.last
            && fingerprint::same_node_side(snap.pod(s.rep).spec(), spec)
        {
            return s.clone();
        }
        let s = self.lookup(ctx, snap, pod, spec);
        self.last = Some(s.clone());
        s
    }

    fn lookup(
        &mut self,
        ctx: &NodeContext,
        snap: &Snapshot,
        pod: PodId,
        spec: &PodSpec,
    ) -> Rc<Statics> {
        let hash = fingerprint::node_side(spec);
        let bucket = self.by_hash.entry(hash).or_default();
        if let Some(s) = bucket
            .iter()
            .find(|s| fingerprint::same_node_side(snap.pod(s.rep).spec(), spec))
        {
            return s.clone();
        }
        let s = Rc::new(Statics::build(ctx, snap, self.count, pod));
        self.count += 1;
        bucket.push(s.clone());
        s
    }
}
