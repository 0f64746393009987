//! LowNodeUtilization: evicts pods from overutilized nodes while underutilized
//! nodes have room for them, so the scheduler can even out usage.

use super::utilization::{Capacity, above_any, all_positive, below_all, percent, score, take};
use crate::eligibility::{SkipReason, eviction_order};
use crate::plan::{Outcome, Plan};
use crate::policy::{StrategyParams, Thresholds};
use crate::selectors::tolerates_all;
use crate::snapshot::{NodeId, PodId};

pub fn run(plan: &mut Plan<'_>, params: &StrategyParams) {
    let StrategyParams::LowNodeUtilization {
        thresholds,
        target_thresholds,
        number_of_nodes,
        use_deviation_thresholds,
    } = params
    else {
        return;
    };
    let snap = plan.snap;
    let nodes: Vec<NodeId> = plan.processed_nodes().collect();
    let (low, high) = if *use_deviation_thresholds {
        deviation_limits(plan, &nodes, thresholds, target_thresholds)
    } else {
        (thresholds.clone(), target_thresholds.clone())
    };
    let under: Vec<NodeId> = nodes
        .iter()
        .copied()
        .filter(|&n| !snap.node(n).unschedulable && below_all(plan, n, &low))
        .collect();
    let mut over: Vec<NodeId> = nodes
        .iter()
        .copied()
        .filter(|&n| above_any(plan, n, &high))
        .collect();
    if under.is_empty()
        || under.len() <= *number_of_nodes as usize
        || under.len() == nodes.len()
        || over.is_empty()
    {
        return;
    }
    // Spare room below the target on the underutilized nodes; natives the maps omit count as 100%.
    let mut resources: Vec<&str> = high.keys().map(String::as_str).collect();
    for r in ["cpu", "memory", "pods"] {
        if !resources.contains(&r) {
            resources.push(r);
        }
    }
    let mut spare: Capacity = resources
        .iter()
        .map(|&r| {
            let pct = high.get(r).copied().unwrap_or(100.0);
            let room: i64 = under
                .iter()
                .map(|&n| {
                    (snap.node(n).allocatable.get(r) as f64 * pct / 100.0) as i64
                        - plan.usage(n).get(r)
                })
                .sum();
            (r.to_string(), room)
        })
        .collect();

    over.sort_by(|&a, &b| {
        score(plan, b, &high)
            .total_cmp(&score(plan, a, &high))
            .then(a.cmp(&b))
    });
    for node in over {
        if !all_positive(&spare) {
            break;
        }
        let mut pods: Vec<PodId> = plan
            .active_pods_on(node)
            .filter(|&p| plan.in_scope(p))
            .collect();
        pods.sort_by_key(|&p| (eviction_order(snap, p), p));
        for id in pods {
            if !above_any(plan, node, &high) || !all_positive(&spare) {
                break;
            }
            let tolerations = snap
                .pod(id)
                .spec()
                .tolerations
                .as_deref()
                .unwrap_or_default();
            if !under.iter().any(|&u| {
                tolerates_all(
                    tolerations,
                    &snap.node(u).taints,
                    &["NoSchedule", "NoExecute"],
                )
            }) {
                plan.record_skip(SkipReason::NoFit);
                continue;
            }
            let reason = format!(
                "{} is overutilized ({})",
                snap.node(node).name,
                describe(plan, node, &high)
            );
            if plan.try_evict(id, reason) == Outcome::Evicted {
                take(&mut spare, &snap.pod(id).requests);
            }
        }
    }
}

/// With deviation thresholds, the limits are the mean usage minus `thresholds`
/// and plus `targetThresholds`, clamped to 0..100.
fn deviation_limits(
    plan: &Plan<'_>,
    nodes: &[NodeId],
    thresholds: &Thresholds,
    targets: &Thresholds,
) -> (Thresholds, Thresholds) {
    let mean = |r: &str| {
        if nodes.is_empty() {
            0.0
        } else {
            nodes.iter().map(|&n| percent(plan, n, r)).sum::<f64>() / nodes.len() as f64
        }
    };
    let low = thresholds
        .iter()
        .map(|(r, d)| (r.clone(), (mean(r) - d).clamp(0.0, 100.0)))
        .collect();
    let high = targets
        .iter()
        .map(|(r, d)| (r.clone(), (mean(r) + d).clamp(0.0, 100.0)))
        .collect();
    (low, high)
}

fn describe(plan: &Plan<'_>, node: NodeId, limits: &Thresholds) -> String {
    limits
        .iter()
        .filter(|(r, limit)| percent(plan, node, r) > **limit)
        .map(|(r, limit)| format!("{r} {:.0}% > {limit:.0}%", percent(plan, node, r)))
        .collect::<Vec<_>>()
        .join(", ")
}
