//! Node usage as percentages, shared by LowNodeUtilization and HighNodeUtilization.

use crate::plan::Plan;
use crate::policy::Thresholds;
use crate::snapshot::{NodeId, Resources};

/// Usage of one resource on a node, as a percentage of its allocatable.
pub fn percent(plan: &Plan<'_>, node: NodeId, resource: &str) -> f64 {
    Resources::percent(
        plan.usage(node).get(resource),
        plan.snap.node(node).allocatable.get(resource),
    )
}

/// Below the threshold for every listed resource.
pub fn below_all(plan: &Plan<'_>, node: NodeId, limits: &Thresholds) -> bool {
    limits
        .iter()
        .all(|(r, &limit)| percent(plan, node, r) < limit)
}

/// Above the threshold for any listed resource.
pub fn above_any(plan: &Plan<'_>, node: NodeId, limits: &Thresholds) -> bool {
    limits
        .iter()
        .any(|(r, &limit)| percent(plan, node, r) > limit)
}

/// The sum of the listed resources' percentages: how "used" a node is, for ordering.
pub fn score(plan: &Plan<'_>, node: NodeId, resources: &Thresholds) -> f64 {
    resources.keys().map(|r| percent(plan, node, r)).sum()
}

/// Capacity per listed resource, in each resource's own units.
pub type Capacity = Vec<(String, i64)>;

pub fn take(capacity: &mut Capacity, requests: &Resources) {
    for (r, v) in capacity.iter_mut() {
        *v = v.saturating_sub(requests.get(r));
    }
}

pub fn all_positive(capacity: &Capacity) -> bool {
    capacity.iter().all(|(_, v)| *v > 0)
}
