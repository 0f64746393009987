//! RemovePodsHavingTooManyRestarts: evicts pods whose containers restarted at
//! least `podRestartThreshold` times in total.

use crate::plan::Plan;
use crate::policy::StrategyParams;

pub fn run(plan: &mut Plan<'_>, params: &StrategyParams) {
    let StrategyParams::TooManyRestarts {
        threshold,
        including_init_containers,
    } = params
    else {
        return;
    };
    let snap = plan.snap;
    for id in super::scoped_active_pods(plan) {
        let pod = snap.pod(id);
        let init: &[_] = if *including_init_containers {
            pod.init_container_statuses()
        } else {
            &[]
        };
        let restarts: i64 = pod
            .container_statuses()
            .iter()
            .chain(init)
            .map(|c| i64::from(c.restart_count))
            .sum();
        if restarts >= i64::from(*threshold) {
            plan.try_evict(id, format!("{restarts} restarts (threshold {threshold})"));
        }
    }
}
