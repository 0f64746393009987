//! RemoveDuplicates: when one owner has several pods on a node, evicts the ones
//! above the even share `ceil(pods / feasible nodes)`, so the scheduler can
//! spread them.

use std::collections::BTreeMap;

use crate::eligibility::eviction_order;
use crate::nodefit::node_selector_matches;
use crate::plan::Plan;
use crate::policy::StrategyParams;
use crate::selectors::tolerates_all;
use crate::snapshot::{NodeId, OwnerRef, PodId};

/// Owner identity: the controller plus the sorted container images.
type OwnerKey = (OwnerRef, Vec<String>);

pub fn run(plan: &mut Plan<'_>, params: &StrategyParams) {
    let StrategyParams::RemoveDuplicates {
        exclude_owner_kinds,
    } = params
    else {
        return;
    };
    let snap = plan.snap;
    // owner -> node -> pods, all in a stable order.
    let mut groups: BTreeMap<OwnerKey, BTreeMap<NodeId, Vec<PodId>>> = BTreeMap::new();
    for id in super::scoped_active_pods(plan) {
        let pod = snap.pod(id);
        let (Some(owner), Some(node)) = (&pod.owner, pod.node) else {
            continue;
        };
        if exclude_owner_kinds.contains(&owner.kind) || plan.evictable(id).is_err() {
            continue;
        }
        let mut images: Vec<String> = pod
            .spec()
            .containers
            .iter()
            .filter_map(|c| c.image.clone())
            .collect();
        images.sort();
        groups
            .entry((owner.clone(), images))
            .or_default()
            .entry(node)
            .or_default()
            .push(id);
    }
    let processed: Vec<NodeId> = plan.processed_nodes().collect();
    for ((owner, _), by_node) in groups {
        if by_node.values().all(|pods| pods.len() < 2) {
            continue;
        }
        let Some(&sample) = by_node.values().flatten().next() else {
            continue;
        };
        let pod = snap.pod(sample);
        let tolerations = pod.spec().tolerations.as_deref().unwrap_or_default();
        let feasible = processed
            .iter()
            .filter(|&&n| {
                let node = snap.node(n);
                tolerates_all(tolerations, &node.taints, &["NoSchedule", "NoExecute"])
                    && node_selector_matches(pod, &node.name, &node.labels)
            })
            .count();
        if feasible < 2 {
            continue;
        }
        let total: usize = by_node.values().map(Vec::len).sum();
        let upper_avg = total.div_ceil(feasible);
        for (node, mut pods) in by_node {
            if pods.len() <= upper_avg {
                continue;
            }
            pods.sort_by_key(|&p| (eviction_order(snap, p), p));
            let extra = pods.len() - upper_avg;
            for id in pods.into_iter().take(extra) {
                plan.try_evict(
                    id,
                    format!(
                        "{} {}/{} has more than {upper_avg} pods on {}",
                        owner.kind,
                        owner.namespace,
                        owner.name,
                        snap.node(node).name
                    ),
                );
            }
        }
    }
}
