//! RemovePodsHavingTooManyRestarts: evicts pods whose containers restarted at
//! least `podRestartThreshold` times in total, optionally only in given
//! states; on each node the most restarted first.

use std::cmp::Reverse;

use super::Strategy;
use crate::api::{self, RestartState};
use crate::plan::Ledger;
use crate::snapshot::PodInfo;
use crate::validation::Errors;

#[derive(Debug, Clone)]
pub struct TooManyRestarts {
    threshold: i32,
    including_init_containers: bool,
    /// "Running" (the phase) and "CrashLoopBackOff" (a waiting reason).
    states: Vec<&'static str>,
}

impl Strategy for TooManyRestarts {
    const NAME: &'static str = "RemovePodsHavingTooManyRestarts";
    /// Its pods are bad wherever they run: Enforce only warns.
    const MOVES_PODS: bool = false;
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
        let threshold = match r.pod_restart_threshold {
            None => {
                errs.push(field, "is required");
                return None;
            }
            Some(t) if t < 1 => {
                errs.push(field, format!("{t} must be at least 1"));
                return None;
            }
            Some(t) => t,
        };
        let mut states: Vec<&'static str> = r
            .states
            .iter()
            .flatten()
            .map(|s| match s {
                RestartState::Running => "Running",
                RestartState::CrashLoopBackOff => "CrashLoopBackOff",
            })
            .collect();
        states.sort_unstable();
        states.dedup();
        Some(Self {
            threshold,
            including_init_containers: r.including_init_containers.unwrap_or(false),
            states,
        })
    }

    fn run(&self, ledger: &mut Ledger<'_>) {
        let snap = ledger.snap;
        let mut candidates = Vec::new();
        for node in ledger.processed_nodes() {
            for id in ledger.active_pods_on(node).filter(|&p| ledger.in_scope(p)) {
                let pod = snap.pod(id);
                let restarts = pod.restarts
                    + if self.including_init_containers {
                        pod.init_restarts
                    } else {
                        0
                    };
                if restarts >= i64::from(self.threshold) && self.in_state(pod) {
                    // Prefer-no-eviction pods last; per node, the most restarted first.
                    candidates.push((pod.prefer_no_eviction, node, Reverse(restarts), id));
                }
            }
        }
        candidates.sort();
        for (_, _, Reverse(restarts), id) in candidates {
            ledger.try_evict(
                id,
                format!("{restarts} restarts (threshold {})", self.threshold),
            );
        }
    }
}

impl TooManyRestarts {
    fn in_state(&self, pod: &PodInfo) -> bool {
        if self.states.is_empty() {
            return true;
        }
        let waiting = pod
            .statuses(self.including_init_containers, false)
            .filter_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.as_deref());
        std::iter::once(pod.phase.as_str())
            .chain(waiting)
            .any(|s| self.states.contains(&s))
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
    fn states() {
        let pods = || {
            Cluster::with_nodes(2).pods([
                pod("running").on("n1").restarts(5),
                pod("crashing")
                    .on("n1")
                    .phase("Pending")
                    .restarts(5)
                    .waiting("CrashLoopBackOff"),
                pod("init-crashing")
                    .on("n1")
                    .phase("Pending")
                    .restarts(5)
                    .init_waiting("CrashLoopBackOff"),
                pod("pending").on("n1").phase("Pending").restarts(5),
            ])
        };
        let cases: &[(&str, &[&str])] = &[
            ("states: [Running]", &["running"]),
            ("states: [CrashLoopBackOff]", &["crashing"]),
            (
                "states: [CrashLoopBackOff], includingInitContainers: true",
                &["crashing", "init-crashing"],
            ),
            (
                "states: [Running, CrashLoopBackOff]",
                &["crashing", "running"],
            ),
            (
                "states: []",
                &["crashing", "init-crashing", "pending", "running"],
            ),
        ];
        for (params, want) in cases {
            let r = pods().run(&format!(
                "strategies: {{RemovePodsHavingTooManyRestarts: {{params: {{podsHavingTooManyRestarts: {{podRestartThreshold: 1, {params}}}}}}}}}"
            ));
            assert_eq!(r.evicted_set(), *want, "{params}");
        }
        let bad = "{podsHavingTooManyRestarts: {podRestartThreshold: 1, states: [Pending]}}";
        assert!(serde_yaml_ng::from_str::<crate::api::TooManyRestartsParams>(bad).is_err());
    }

    #[test]
    fn most_restarted_first_on_each_node_so_limits_keep_the_worst() {
        let r = Cluster::with_nodes(2)
            .pods([
                pod("a-few").on("n1").restarts(2),
                pod("b-many").on("n1").restarts(40),
                pod("c-some").on("n1").restarts(9),
                pod("d-other-node").on("n2").restarts(100),
            ])
            .run("maxNoOfPodsToEvictPerNode: 2\nstrategies: {RemovePodsHavingTooManyRestarts: {params: {podsHavingTooManyRestarts: {podRestartThreshold: 1}}}}");
        assert_eq!(r.evicted(), ["b-many", "c-some", "d-other-node"]);
        assert_eq!(r.skipped(), [("LimitReached".to_string(), 1)]);
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
