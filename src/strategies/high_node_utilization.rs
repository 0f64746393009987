//! HighNodeUtilization: empties underutilized nodes while the other schedulable
//! nodes have room, so pods pack onto fewer nodes (pair it with a scheduler
//! that scores MostAllocated).

use super::utilization::{Capacity, all_positive, below_all, score, take};
use crate::eligibility::eviction_order;
use crate::plan::{Outcome, Plan};
use crate::policy::StrategyParams;
use crate::snapshot::{NodeId, PodId};

pub fn run(plan: &mut Plan<'_>, params: &StrategyParams) {
    let StrategyParams::HighNodeUtilization {
        thresholds,
        number_of_nodes,
    } = params
    else {
        return;
    };
    let snap = plan.snap;
    let nodes: Vec<NodeId> = plan.processed_nodes().collect();
    let mut under: Vec<NodeId> = nodes
        .iter()
        .copied()
        .filter(|&n| below_all(plan, n, thresholds))
        .collect();
    if under.is_empty() || under.len() <= *number_of_nodes as usize || under.len() == nodes.len() {
        return;
    }
    let mut is_under = vec![false; snap.nodes.len()];
    for &n in &under {
        is_under[n] = true;
    }
    let others: Vec<NodeId> = (0..snap.nodes.len())
        .filter(|&n| !is_under[n] && snap.node(n).ready && !snap.node(n).unschedulable)
        .collect();
    let mut spare: Capacity = thresholds
        .keys()
        .map(|r| {
            let free: i64 = others
                .iter()
                .map(|&n| snap.node(n).allocatable.get(r) - plan.usage(n).get(r))
                .sum();
            (r.clone(), free)
        })
        .collect();
    under.sort_by(|&a, &b| {
        score(plan, a, thresholds)
            .total_cmp(&score(plan, b, thresholds))
            .then(a.cmp(&b))
    });
    for node in under {
        let mut pods: Vec<PodId> = plan
            .active_pods_on(node)
            .filter(|&p| plan.in_scope(p))
            .collect();
        pods.sort_by_key(|&p| (eviction_order(snap, p), p));
        for id in pods {
            if !all_positive(&spare) {
                return;
            }
            let reason = format!(
                "{} is underutilized; packing its pods onto other nodes",
                snap.node(node).name
            );
            if plan.try_evict(id, reason) == Outcome::Evicted {
                take(&mut spare, &snap.pod(id).requests);
            }
        }
    }
}
