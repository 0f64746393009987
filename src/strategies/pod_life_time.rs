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
                .then_some((pod.prefer_no_eviction, created, id, age))
        })
        .collect();
    // Oldest first (prefer-no-eviction pods last); the id breaks ties in (namespace, name) order.
    candidates.sort();
    for (_, _, id, age) in candidates {
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

#[cfg(test)]
mod tests {
    use crate::testing::*;

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
