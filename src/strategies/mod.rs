//! The ten strategies, one file each. A strategy reads the snapshot through the
//! [`Plan`] and offers candidates with [`Plan::try_evict`]; it never calls the
//! API or reads the clock.

mod high_node_utilization;
mod inter_pod_anti_affinity;
mod label_index;
mod low_node_utilization;
mod node_affinity;
mod node_taints;
mod pod_life_time;
mod remove_duplicates;
mod remove_failed_pods;
mod too_many_restarts;
mod topology_spread;
mod utilization;

use crate::plan::Plan;
use crate::policy::StrategyParams;

/// Runs one strategy against the plan.
pub fn run(params: &StrategyParams, plan: &mut Plan<'_>) {
    match params {
        StrategyParams::RemoveFailedPods { .. } => remove_failed_pods::run(plan, params),
        StrategyParams::PodLifeTime { .. } => pod_life_time::run(plan, params),
        StrategyParams::TooManyRestarts { .. } => too_many_restarts::run(plan, params),
        StrategyParams::NodeTaints { .. } => node_taints::run(plan, params),
        StrategyParams::NodeAffinity { .. } => node_affinity::run(plan, params),
        StrategyParams::InterPodAntiAffinity => inter_pod_anti_affinity::run(plan),
        StrategyParams::RemoveDuplicates { .. } => remove_duplicates::run(plan, params),
        StrategyParams::TopologySpread { .. } => topology_spread::run(plan, params),
        StrategyParams::LowNodeUtilization { .. } => low_node_utilization::run(plan, params),
        StrategyParams::HighNodeUtilization { .. } => high_node_utilization::run(plan, params),
    }
}

/// In-scope pods on processed nodes that are not Succeeded or Failed, node by
/// node, with prefer-no-eviction pods moved last.
fn scoped_active_pods(plan: &Plan<'_>) -> Vec<crate::snapshot::PodId> {
    let mut pods: Vec<_> = plan
        .processed_nodes()
        .flat_map(|n| plan.active_pods_on(n))
        .filter(|&p| plan.in_scope(p))
        .collect();
    preferred_last(plan, &mut pods);
    pods
}

/// SPEC §3: with `noEvictionPolicy: Preferred`, pods annotated
/// prefer-no-eviction are "only taken after all others". The strategies that
/// judge pods one by one honour that by offering them last (it matters once a
/// limit is reached); the others order by `eligibility::eviction_order`.
fn preferred_last(plan: &Plan<'_>, pods: &mut [crate::snapshot::PodId]) {
    pods.sort_by_key(|&p| plan.snap.pod(p).prefer_no_eviction);
}
