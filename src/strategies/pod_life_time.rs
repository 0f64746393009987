//! PodLifeTime: evicts pods older than a maximum age, oldest first, optionally
//! only those in given states.

use super::Strategy;
use crate::api;
use crate::plan::Ledger;
use crate::snapshot::PodInfo;
use crate::validation::Errors;

#[derive(Debug, Clone)]
pub struct PodLifeTime {
    max_pod_life_time_seconds: i64,
    /// Phases and container waiting reasons, as the pod's status spells them.
    states: Vec<&'static str>,
}

impl Strategy for PodLifeTime {
    const NAME: &'static str = "PodLifeTime";
    type Spec = api::PodLifeTimeParams;

    fn spec(all: &api::Strategies) -> Option<&api::Strategy<Self::Spec>> {
        all.pod_life_time.as_ref()
    }

    fn parse(spec: &Self::Spec, at: &str, errs: &mut Errors) -> Option<Self> {
        let l = spec.pod_life_time.clone().unwrap_or_default();
        let field = format!("{at}.podLifeTime.maxPodLifeTimeSeconds");
        let max = match l.max_pod_life_time_seconds {
            None => {
                errs.push(field, "is required");
                return None;
            }
            Some(s) if s < 1 => {
                errs.push(field, format!("{s} must be at least 1"));
                return None;
            }
            Some(s) => s,
        };
        let mut states = l.states.unwrap_or_default();
        states.extend(l.pod_status_phases.unwrap_or_default());
        states.sort();
        states.dedup();
        Some(Self {
            max_pod_life_time_seconds: max,
            states: states.into_iter().map(api::PodState::as_str).collect(),
        })
    }

    fn run(&self, ledger: &mut Ledger<'_>) {
        let Self {
            max_pod_life_time_seconds,
            states,
        } = self;
        let snap = ledger.snap;
        let mut candidates: Vec<_> = super::scoped_active_pods(ledger)
            .into_iter()
            .filter_map(|id| {
                let pod = snap.pod(id);
                let created = pod.created?;
                let age = (snap.now - created).num_seconds();
                (age > *max_pod_life_time_seconds
                    && (states.is_empty() || matches_state(pod, states)))
                .then_some((pod.prefer_no_eviction, created, id, age))
            })
            .collect();
        // Oldest first (prefer-no-eviction pods last); the id breaks ties in (namespace, name) order.
        candidates.sort();
        for (_, _, id, age) in candidates {
            ledger.try_evict(
                id,
                format!("age {age}s exceeds {max_pod_life_time_seconds}s"),
            );
        }
    }
}

fn matches_state(pod: &PodInfo, states: &[&str]) -> bool {
    let phase = pod.phase.as_str();
    let waiting = pod
        .init_container_statuses()
        .iter()
        .chain(pod.container_statuses())
        .filter_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.as_deref());
    let mut observed = std::iter::once(phase).chain(waiting);
    observed.any(|s| states.contains(&s))
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn states_and_their_alias_are_merged() {
        let p: super::PodLifeTime = params(
            "{podLifeTime: {maxPodLifeTimeSeconds: 60, states: [Running, CrashLoopBackOff], podStatusPhases: [Pending, Running]}}",
        );
        assert_eq!(p.max_pod_life_time_seconds, 60);
        assert_eq!(p.states, ["Running", "Pending", "CrashLoopBackOff"]);
    }

    fn run(params: &str, pods: Vec<PodB>) -> Vec<String> {
        let yaml = format!(
            "strategies: {{PodLifeTime: {{params: {{podLifeTime: {{maxPodLifeTimeSeconds: 600{params}}}}}}}}}"
        );
        let r = Cluster::with_nodes(2)
            .pods(pods.into_iter().map(|p| p.on("n1")))
            .run(&yaml);
        r.evicted().into_iter().map(String::from).collect()
    }

    #[test]
    fn parameters() {
        let cases: Vec<(&str, &str, Vec<PodB>, &[&str])> = vec![
            (
                "older than the maximum, oldest first",
                "",
                vec![
                    pod("a").age(700),
                    pod("b").age(900),
                    pod("c").age(600),
                    pod("d").age(300),
                ],
                &["b", "a"],
            ),
            (
                "age from creationTimestamp, not startTime",
                "",
                vec![
                    pod("restarted").created(7000).started(10),
                    pod("late-start").created(10).started(7000),
                ],
                &["restarted"],
            ),
            (
                "ties in name order",
                "",
                vec![pod("y").age(700), pod("x").age(700)],
                &["x", "y"],
            ),
            (
                "Succeeded and Failed pods are not candidates",
                "",
                vec![
                    pod("done").phase("Succeeded"),
                    pod("failed").phase("Failed"),
                    pod("up"),
                ],
                &["up"],
            ),
            (
                "states: phases",
                ", states: [Pending]",
                vec![pod("pending").phase("Pending"), pod("running")],
                &["pending"],
            ),
            (
                "states: waiting reasons",
                ", states: [CrashLoopBackOff, ContainerCreating]",
                vec![
                    pod("crash").waiting("CrashLoopBackOff"),
                    pod("creating")
                        .phase("Pending")
                        .waiting("ContainerCreating"),
                    pod("pull").phase("Pending").waiting("ImagePullBackOff"),
                    pod("running"),
                ],
                &["crash", "creating"],
            ),
            (
                "states: PodInitializing, init containers too",
                ", states: [PodInitializing, ErrImagePull]",
                vec![
                    pod("init").phase("Pending").waiting("PodInitializing"),
                    pod("init-pull")
                        .phase("Pending")
                        .init_waiting("ErrImagePull"),
                    pod("pending").phase("Pending"),
                ],
                &["init", "init-pull"],
            ),
            (
                "podStatusPhases is an alias of states",
                ", podStatusPhases: [Pending]",
                vec![pod("pending").phase("Pending"), pod("running")],
                &["pending"],
            ),
            (
                "states and podStatusPhases together",
                ", states: [Running], podStatusPhases: [Pending]",
                vec![
                    pod("pending").phase("Pending").age(700),
                    pod("running"),
                    pod("unknown").phase("Unknown"),
                ],
                &["running", "pending"],
            ),
        ];
        for (what, params, pods, want) in cases {
            assert_eq!(run(params, pods), *want, "{what}");
        }
    }

    #[test]
    fn oldest_first_under_a_limit_with_preferred_pods_last() {
        let c = Cluster::with_nodes(2).pods([
            pod("old-preferred")
                .on("n1")
                .age(9000)
                .annotate("descheduler.alpha.kubernetes.io/prefer-no-eviction", ""),
            pod("older").on("n1").age(8000),
            pod("old").on("n1").age(7000),
        ]);
        let r = c.run(
            "maxNoOfPodsToEvictTotal: 2\nstrategies: {PodLifeTime: {params: {podLifeTime: {maxPodLifeTimeSeconds: 600}}}}",
        );
        assert_eq!(r.evicted(), ["older", "old"]);
        assert_eq!(r.skipped(), [("LimitReached".to_string(), 1)]);
    }
}
