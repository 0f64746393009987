//! RemoveFailedPods: evicts pods in phase Failed, optionally only for given
//! reasons, owner kinds and minimum age.

use crate::plan::Plan;
use crate::policy::StrategyParams;
use crate::snapshot::{Phase, PodInfo};

pub fn run(plan: &mut Plan<'_>, params: &StrategyParams) {
    let StrategyParams::RemoveFailedPods {
        reasons,
        including_init_containers,
        exclude_owner_kinds,
        min_pod_lifetime_seconds,
    } = params
    else {
        return;
    };
    let snap = plan.snap;
    let candidates: Vec<_> = plan
        .processed_nodes()
        .flat_map(|n| snap.pods_on(n).iter().copied())
        .filter(|&p| snap.pod(p).phase == Phase::Failed && plan.in_scope(p))
        .collect();
    for id in candidates {
        let pod = snap.pod(id);
        if pod
            .owner
            .as_ref()
            .is_some_and(|o| exclude_owner_kinds.contains(&o.kind))
        {
            continue;
        }
        if let Some(min) = min_pod_lifetime_seconds {
            let since = pod.started.or(pod.created);
            if since.is_none_or(|t| (snap.now - t).num_seconds() < *min) {
                continue;
            }
        }
        let matched = if reasons.is_empty() {
            Some(pod.status_reason().unwrap_or("Failed").to_string())
        } else {
            failure_reasons(pod, *including_init_containers)
                .find(|r| reasons.iter().any(|want| want == r))
                .map(str::to_string)
        };
        if let Some(reason) = matched {
            plan.try_evict(id, format!("pod failed ({reason})"));
        }
    }
}

/// The pod's status.reason and every container's terminated or waiting reason.
fn failure_reasons(pod: &PodInfo, including_init_containers: bool) -> impl Iterator<Item = &str> {
    let init: &[_] = if including_init_containers {
        pod.init_container_statuses()
    } else {
        &[]
    };
    let containers = pod.container_statuses().iter().chain(init);
    pod.status_reason()
        .into_iter()
        .chain(containers.filter_map(|c| {
            let state = c.state.as_ref()?;
            state
                .terminated
                .as_ref()
                .and_then(|t| t.reason.as_deref())
                .or_else(|| state.waiting.as_ref().and_then(|w| w.reason.as_deref()))
        }))
}
