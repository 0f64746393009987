//! RemovePodsViolatingNodeAffinity: evicts pods whose node no longer satisfies
//! their required node affinity (or nodeSelector), or, for the preferred type,
//! scores lower on their preferred terms than another node that fits them.

use crate::eligibility::SkipReason;
use crate::nodefit::node_selector_matches;
use crate::plan::{Outcome, Plan};
use crate::policy::StrategyParams;
use crate::selectors::node_selector_term_matches;
use crate::snapshot::{NodeId, PodId, Snapshot};

pub fn run(plan: &mut Plan<'_>, params: &StrategyParams) {
    let StrategyParams::NodeAffinity {
        required,
        preferred,
    } = *params
    else {
        return;
    };
    let snap = plan.snap;
    for id in super::scoped_active_pods(plan) {
        let pod = snap.pod(id);
        let Some(node) = pod.node else { continue };
        let node_info = snap.node(node);
        if required
            && pod.has_node_constraints()
            && !node_selector_matches(pod, &node_info.name, &node_info.labels)
        {
            if fits_other(plan, id, node, |_| true) {
                plan.try_evict(
                    id,
                    format!(
                        "node {} no longer matches the pod's required node affinity",
                        node_info.name
                    ),
                );
            } else {
                count_no_fit(plan, id);
            }
            continue;
        }
        if preferred {
            let current = preferred_score(snap, id, node);
            if current.is_none() {
                continue;
            }
            let better = |n: NodeId| preferred_score(snap, id, n) > current;
            if fits_other(plan, id, node, better) {
                plan.try_evict(
                    id,
                    format!(
                        "another node scores higher than {} on the pod's preferred node affinity",
                        node_info.name
                    ),
                );
            }
        }
    }
}

fn fits_other(plan: &Plan<'_>, id: PodId, own: NodeId, extra: impl Fn(NodeId) -> bool) -> bool {
    (0..plan.snap.nodes.len()).any(|n| n != own && extra(n) && plan.fits(id, n))
}

/// A pod with no other place to go is a candidate the plan could not take.
fn count_no_fit(plan: &mut Plan<'_>, id: PodId) {
    if plan.in_scope(id) && !plan.is_evicted(id) {
        let _: Outcome = plan.record_skip(SkipReason::NoFit);
    }
}

/// Sum of the weights of the preferred terms the node matches; None when the pod has none.
fn preferred_score(snap: &Snapshot, pod: PodId, node: NodeId) -> Option<i64> {
    let terms = snap
        .pod(pod)
        .spec()
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .preferred_during_scheduling_ignored_during_execution
        .as_ref()
        .filter(|t| !t.is_empty())?;
    let n = snap.node(node);
    Some(
        terms
            .iter()
            .filter(|t| node_selector_term_matches(&t.preference, &n.name, &n.labels))
            .map(|t| i64::from(t.weight))
            .sum(),
    )
}
