//! RemovePodsHavingTooManyRestarts: evicts pods whose containers restarted at
//! least `podRestartThreshold` times in total.

use super::Strategy;
use crate::api;
use crate::plan::Ledger;
use crate::validation::Errors;

#[derive(Debug, Clone)]
pub struct TooManyRestarts {
    threshold: i32,
    including_init_containers: bool,
}

impl Strategy for TooManyRestarts {
    const NAME: &'static str = "RemovePodsHavingTooManyRestarts";
    type Spec = api::TooManyRestartsParams;

    fn spec(all: &api::Strategies) -> Option<&api::Strategy<Self::Spec>> {
        all.remove_pods_having_too_many_restarts.as_ref()
    }

    fn parse(spec: &Self::Spec, at: &str, errs: &mut Errors) -> Option<Self> {
        let r = spec
            .pods_having_too_many_restarts
            .clone()
            .unwrap_or_default();
        let field = format!("{at}.podsHavingTooManyRestarts.podRestartThreshold");
        match r.pod_restart_threshold {
            None => {
                errs.push(field, "is required");
                None
            }
            Some(t) if t < 1 => {
                errs.push(field, format!("{t} must be at least 1"));
                None
            }
            Some(threshold) => Some(Self {
                threshold,
                including_init_containers: r.including_init_containers.unwrap_or(false),
            }),
        }
    }

    fn run(&self, ledger: &mut Ledger<'_>) {
        let Self {
            threshold,
            including_init_containers,
        } = self;
        let snap = ledger.snap;
        for id in super::scoped_active_pods(ledger) {
            let pod = snap.pod(id);
            let restarts = pod.restarts
                + if *including_init_containers {
                    pod.init_restarts
                } else {
                    0
                };
            if restarts >= i64::from(*threshold) {
                ledger.try_evict(id, format!("{restarts} restarts (threshold {threshold})"));
            }
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
