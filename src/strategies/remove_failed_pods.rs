//! RemoveFailedPods: evicts pods in phase Failed, optionally only for given
//! reasons, owner kinds and minimum age.

use super::Strategy;
use crate::api;
use crate::plan::Ledger;
use crate::snapshot::{Phase, PodInfo, exit_code};
use crate::validation::Errors;

#[derive(Debug, Clone)]
pub struct RemoveFailedPods {
    reasons: Vec<String>,
    exit_codes: Vec<i32>,
    including_init_containers: bool,
    exclude_owner_kinds: Vec<String>,
    min_pod_lifetime_seconds: Option<i64>,
}

impl Strategy for RemoveFailedPods {
    const NAME: &'static str = "RemoveFailedPods";
    /// Its pods are bad wherever they run: Enforce only warns.
    const MOVES_PODS: bool = false;
    type Spec = api::RemoveFailedPodsParams;

    fn spec(all: &api::Strategies) -> Option<&api::Strategy<Self::Spec>> {
        all.remove_failed_pods.as_ref()
    }

    fn parse(spec: &Self::Spec, at: &str, errs: &mut Errors) -> Option<Self> {
        let f = spec.failed_pods.clone().unwrap_or_default();
        if let Some(s) = f.min_pod_lifetime_seconds
            && s < 0
        {
            errs.push(
                format!("{at}.failedPods.minPodLifetimeSeconds"),
                format!("{s} is negative"),
            );
        }
        Some(Self {
            reasons: f.reasons.unwrap_or_default(),
            exit_codes: f.exit_codes.unwrap_or_default(),
            including_init_containers: f.including_init_containers.unwrap_or(false),
            exclude_owner_kinds: f.exclude_owner_kinds.unwrap_or_default(),
            min_pod_lifetime_seconds: f.min_pod_lifetime_seconds,
        })
    }

    fn run(&self, ledger: &mut Ledger<'_>) {
        let Self {
            reasons,
            exit_codes,
            including_init_containers,
            exclude_owner_kinds,
            min_pod_lifetime_seconds,
        } = self;
        let snap = ledger.snap;
        let mut candidates: Vec<_> = ledger
            .processed_nodes()
            .flat_map(|n| snap.pods_on(n).iter().copied())
            .filter(|&p| snap.pod(p).phase == Phase::Failed && ledger.in_scope(p))
            .collect();
        super::preferred_last(ledger, &mut candidates);
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
            let exited = if exit_codes.is_empty() {
                Some(String::new())
            } else {
                pod.statuses(*including_init_containers, false)
                    .filter_map(exit_code)
                    .find(|c| exit_codes.contains(c))
                    .map(|c| format!(", exit code {c}"))
            };
            if let (Some(reason), Some(code)) = (matched, exited) {
                ledger.try_evict(id, format!("pod failed ({reason}{code})"));
            }
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

#[cfg(test)]
mod tests {
    use crate::testing::*;

    fn run(params: &str, pods: Vec<PodB>) -> Vec<String> {
        let yaml =
            format!("strategies: {{RemoveFailedPods: {{params: {{failedPods: {{{params}}}}}}}}}");
        let r = Cluster::with_nodes(2)
            .pods(pods.into_iter().map(|p| p.on("n1")))
            .run(&yaml);
        r.evicted_set().into_iter().map(String::from).collect()
    }

    fn failed(name: &str) -> PodB {
        pod(name).phase("Failed").not_ready()
    }

    #[test]
    fn parameters() {
        let cases: Vec<(&str, &str, Vec<PodB>, &[&str])> = vec![
            (
                "only Failed pods",
                "",
                vec![
                    failed("f"),
                    pod("r"),
                    pod("s").phase("Succeeded"),
                    pod("p").phase("Pending"),
                ],
                &["f"],
            ),
            (
                "exitCodes: a terminated container exited with a listed code",
                "exitCodes: [137, 3]",
                vec![
                    failed("oom").exited(137),
                    failed("three").exited(3),
                    failed("one").exited(1),
                    failed("none"),
                    failed("init").init_exited(137),
                ],
                &["oom", "three"],
            ),
            (
                "exitCodes with init containers",
                "exitCodes: [137], includingInitContainers: true",
                vec![failed("init").init_exited(137), failed("one").exited(1)],
                &["init"],
            ),
            (
                "exitCodes and reasons together",
                "exitCodes: [137], reasons: [OOMKilled]",
                vec![
                    failed("both").terminated("OOMKilled").exited(137),
                    failed("code-only").exited(137),
                    failed("reason-only").terminated("OOMKilled"),
                ],
                &["both"],
            ),
            (
                "status.reason",
                "reasons: [Evicted]",
                vec![
                    failed("evicted").reason("Evicted"),
                    failed("other").reason("NodeLost"),
                    failed("none"),
                ],
                &["evicted"],
            ),
            (
                "container terminated and waiting reasons",
                "reasons: [OOMKilled, CreateContainerConfigError]",
                vec![
                    failed("oom").terminated("OOMKilled"),
                    failed("config").waiting("CreateContainerConfigError"),
                    failed("error").terminated("Error"),
                ],
                &["config", "oom"],
            ),
            (
                "init containers ignored by default",
                "reasons: [Error]",
                vec![
                    failed("init").init_terminated("Error"),
                    failed("main").terminated("Error"),
                ],
                &["main"],
            ),
            (
                "includingInitContainers",
                "reasons: [Error, ErrImagePull], includingInitContainers: true",
                vec![
                    failed("init").init_terminated("Error"),
                    failed("init-waiting").init_waiting("ErrImagePull"),
                    failed("neither").init_terminated("Completed"),
                ],
                &["init", "init-waiting"],
            ),
            (
                "excludeOwnerKinds",
                "excludeOwnerKinds: [Job]",
                vec![failed("job").owner("Job", "j"), failed("rs")],
                &["rs"],
            ),
            (
                "minPodLifetimeSeconds from startTime",
                "minPodLifetimeSeconds: 300",
                vec![
                    failed("old").created(1000).started(300),
                    failed("young").created(1000).started(299),
                ],
                &["old"],
            ),
            (
                "minPodLifetimeSeconds falls back to creationTimestamp",
                "minPodLifetimeSeconds: 300",
                vec![
                    failed("old").no_start().created(301),
                    failed("young").no_start().created(100),
                ],
                &["old"],
            ),
        ];
        for (what, params, pods, want) in cases {
            assert_eq!(run(params, pods), *want, "{what}");
        }
    }

    #[test]
    fn failed_pods_on_unprocessed_nodes_are_left_alone() {
        let r = Cluster::default()
            .node(node("n1").label("role", "worker"))
            .node(node("n2"))
            .pod(failed("on-worker").on("n1"))
            .pod(failed("elsewhere").on("n2"))
            .run("nodeSelector: role=worker\nstrategies: {RemoveFailedPods: {}}");
        assert_eq!(r.evicted(), ["on-worker"]);
    }

    #[test]
    fn common_params_apply() {
        let c = Cluster::with_nodes(2).pods([
            failed("a").on("n1").ns("x").label("app", "a"),
            failed("b").on("n1").ns("y").label("app", "a"),
            failed("c").on("n1").ns("x"),
            failed("high")
                .on("n1")
                .ns("x")
                .label("app", "a")
                .priority(100),
        ]);
        let r = c.run("strategies: {RemoveFailedPods: {params: {namespaces: {include: [x]}, labelSelector: {matchLabels: {app: a}}, thresholdPriority: 100}}}");
        assert_eq!(r.evicted(), ["a"]);
        assert_eq!(
            r.skipped(),
            [("NotEvictable:PriorityTooHigh".to_string(), 1)]
        );
    }
}
