//! PodLifeTime: evicts pods older than a maximum age, oldest first, optionally
//! only those in given states.

use crate::api::PodState;
use crate::plan::Plan;
use crate::policy::StrategyParams;
use crate::snapshot::PodInfo;

pub fn run(plan: &mut Plan<'_>, params: &StrategyParams) {
    let StrategyParams::PodLifeTime {
        max_pod_life_time_seconds,
        states,
    } = params
    else {
        return;
    };
    let snap = plan.snap;
    let mut candidates: Vec<_> = super::scoped_active_pods(plan)
        .into_iter()
        .filter_map(|id| {
            let pod = snap.pod(id);
            let created = pod.created?;
            let age = (snap.now - created).num_seconds();
            (age > *max_pod_life_time_seconds && (states.is_empty() || matches_state(pod, states)))
                .then_some((created, id, age))
        })
        .collect();
    // Oldest first; the id breaks ties in (namespace, name) order.
    candidates.sort();
    for (_, id, age) in candidates {
        plan.try_evict(
            id,
            format!("age {age}s exceeds {max_pod_life_time_seconds}s"),
        );
    }
}

fn matches_state(pod: &PodInfo, states: &[PodState]) -> bool {
    let phase = pod.phase.as_str();
    let waiting = pod
        .init_container_statuses()
        .iter()
        .chain(pod.container_statuses())
        .filter_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.as_deref());
    let mut observed = std::iter::once(phase).chain(waiting);
    observed.any(|s| states.iter().any(|st| st.as_str() == s))
}
