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
        let restarts = pod.restarts
            + if *including_init_containers {
                pod.init_restarts
            } else {
                0
            };
        if restarts >= i64::from(*threshold) {
            plan.try_evict(id, format!("{restarts} restarts (threshold {threshold})"));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn parameters() {
        let pods = || {
            Cluster::with_nodes(2).pods([
                pod("below").on("n1").restarts(2),
                pod("at").on("n1").restarts(3),
                pod("sum").on("n1").restarts(1).restarts(2),
                pod("init-only").on("n1").restarts(1).init_restarts(5),
                pod("failed").on("n1").restarts(9).phase("Failed"),
                pod("succeeded").on("n2").restarts(9).phase("Succeeded"),
            ])
        };
        let cases: &[(&str, &[&str])] = &[
            ("podRestartThreshold: 3", &["at", "sum"]),
            (
                "podRestartThreshold: 3, includingInitContainers: true",
                &["at", "init-only", "sum"],
            ),
            (
                "podRestartThreshold: 1",
                &["at", "below", "init-only", "sum"],
            ),
            ("podRestartThreshold: 7", &[]),
            (
                "podRestartThreshold: 6, includingInitContainers: true",
                &["init-only"],
            ),
        ];
        for (params, want) in cases {
            let r = pods().run(&format!(
                "strategies: {{RemovePodsHavingTooManyRestarts: {{params: {{podsHavingTooManyRestarts: {{{params}}}}}}}}}"
            ));
            assert_eq!(r.evicted_set(), *want, "{params}");
        }
    }

    #[test]
    fn node_fit() {
        let r = Cluster::with_nodes(2)
            .pod(pod("fits").on("n1").restarts(5))
            .pod(pod("too-big").on("n1").restarts(5).req("5", ""))
            .run("strategies: {RemovePodsHavingTooManyRestarts: {params: {nodeFit: true, podsHavingTooManyRestarts: {podRestartThreshold: 1}}}}");
        assert_eq!(r.evicted(), ["fits"]);
        assert_eq!(r.skipped(), [("NoFit".to_string(), 1)]);
    }
}
