//! RemovePodsViolatingNodeTaints: evicts pods from nodes whose NoSchedule (and
//! optionally PreferNoSchedule) taints they do not tolerate.

use crate::plan::Plan;
use crate::policy::StrategyParams;
use crate::selectors::tolerates;

pub fn run(plan: &mut Plan<'_>, params: &StrategyParams) {
    let StrategyParams::NodeTaints {
        excluded_taints,
        included_taints,
        include_prefer_no_schedule,
    } = params
    else {
        return;
    };
    let snap = plan.snap;
    for id in super::scoped_active_pods(plan) {
        let pod = snap.pod(id);
        let Some(node) = pod.node.map(|n| snap.node(n)) else {
            continue;
        };
        let tolerations = pod.spec().tolerations.as_deref().unwrap_or_default();
        let violated = node.taints.iter().find(|t| {
            let effect_counts = t.effect == "NoSchedule"
                || (*include_prefer_no_schedule && t.effect == "PreferNoSchedule");
            effect_counts
                && !excluded_taints.iter().any(|m| m.matches(t))
                && included_taints
                    .as_ref()
                    .is_none_or(|inc| inc.iter().any(|m| m.matches(t)))
                && !tolerates(tolerations, t)
        });
        if let Some(t) = violated {
            let value = t
                .value
                .as_deref()
                .map(|v| format!("={v}"))
                .unwrap_or_default();
            plan.try_evict(
                id,
                format!(
                    "does not tolerate taint {}{}:{} on {}",
                    t.key, value, t.effect, node.name
                ),
            );
        }
    }
}
