//! PodLifeTime: evicts pods (in any phase) that match every filter given:
//! older than a maximum age, in given states, with given conditions, with
//! containers that exited with given codes, of given owner kinds. Oldest
//! first.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::PodCondition;

use super::Strategy;
use crate::api::{self, PodConditionFilter};
use crate::plan::Ledger;
use crate::snapshot::{PodInfo, exit_code, state_reason, to_chrono};
use crate::validation::Errors;

#[derive(Debug, Clone)]
pub struct PodLifeTime {
    max_pod_life_time_seconds: Option<i64>,
    /// Phases, pod reasons and container reasons, as the pod's status spells them.
    states: Vec<&'static str>,
    conditions: Vec<ConditionFilter>,
    exit_codes: Vec<i32>,
    owner_kinds: OwnerKinds,
    including_init_containers: bool,
    including_ephemeral_containers: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ConditionFilter {
    type_: Option<String>,
    status: Option<String>,
    reason: Option<String>,
    min_seconds: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum OwnerKinds {
    Any,
    Include(Vec<String>),
    Exclude(Vec<String>),
}

impl ConditionFilter {
    fn parse(f: &PodConditionFilter, at: &str, errs: &mut Errors) -> Self {
        if f.type_.is_none()
            && f.status.is_none()
            && f.reason.is_none()
            && f.min_time_since_last_transition_seconds.is_none()
        {
            errs.push(
                at,
                "sets no field; give type, status, reason or minTimeSinceLastTransitionSeconds",
            );
        }
        if let Some(m) = f.min_time_since_last_transition_seconds
            && m < 0
        {
            errs.push(
                format!("{at}.minTimeSinceLastTransitionSeconds"),
                format!("{m} is negative"),
            );
        }
        Self {
            type_: f.type_.clone(),
            status: f.status.clone(),
            reason: f.reason.clone(),
            min_seconds: f.min_time_since_last_transition_seconds,
        }
    }

    /// When the condition matches: its lastTransitionTime (or None when it has none).
    fn matches(&self, c: &PodCondition, now: DateTime<Utc>) -> Option<Option<DateTime<Utc>>> {
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        if !(eq(&self.type_, Some(&c.type_))
            && eq(&self.status, Some(&c.status))
            && eq(&self.reason, c.reason.as_deref()))
        {
            return None;
        }
        let since = c.last_transition_time.as_ref().and_then(|t| to_chrono(t.0));
        match self.min_seconds {
            None => Some(since),
            Some(min) => since.filter(|t| (now - *t).num_seconds() >= min).map(Some),
        }
    }
}

impl Strategy for PodLifeTime {
    const NAME: &'static str = "PodLifeTime";
    /// Its pods are bad wherever they run: Enforce only warns.
    const MOVES_PODS: bool = false;
    type Spec = api::PodLifeTimeParams;

    fn spec(all: &api::Strategies) -> Option<&api::Strategy<Self::Spec>> {
        all.pod_life_time.as_ref()
    }

    fn parse(spec: &Self::Spec, at: &str, errs: &mut Errors) -> Option<Self> {
        let at = format!("{at}.podLifeTime");
        let l = spec.pod_life_time.clone().unwrap_or_default();
        let max = match l.max_pod_life_time_seconds {
            Some(s) if s < 1 => {
                errs.push(
                    format!("{at}.maxPodLifeTimeSeconds"),
                    format!("{s} must be at least 1"),
                );
                None
            }
            other => other,
        };
        let mut states = l.states.clone().unwrap_or_default();
        states.extend(l.pod_status_phases.clone().unwrap_or_default());
        states.sort();
        states.dedup();
        let conditions: Vec<ConditionFilter> = l
            .conditions
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, c)| ConditionFilter::parse(c, &format!("{at}.conditions[{i}]"), errs))
            .collect();
        let exit_codes = l.exit_codes.clone().unwrap_or_default();
        if l.max_pod_life_time_seconds.is_none()
            && states.is_empty()
            && conditions.is_empty()
            && exit_codes.is_empty()
        {
            errs.push(
                at.clone(),
                "needs at least one of maxPodLifeTimeSeconds, states, conditions and exitCodes",
            );
            return None;
        }
        let owner_kinds = match &l.owner_kinds {
            None => OwnerKinds::Any,
            Some(api::OwnerKinds {
                include: Some(_),
                exclude: Some(_),
            }) => {
                errs.push(
                    format!("{at}.ownerKinds"),
                    "include and exclude are mutually exclusive",
                );
                OwnerKinds::Any
            }
            Some(api::OwnerKinds {
                include: Some(i), ..
            }) => OwnerKinds::Include(i.clone()),
            Some(api::OwnerKinds {
                exclude: Some(e), ..
            }) => OwnerKinds::Exclude(e.clone()),
            Some(_) => OwnerKinds::Any,
        };
        Some(Self {
            max_pod_life_time_seconds: max,
            states: states.into_iter().map(api::PodState::as_str).collect(),
            conditions,
            exit_codes,
            owner_kinds,
            including_init_containers: l.including_init_containers.unwrap_or(false),
            including_ephemeral_containers: l.including_ephemeral_containers.unwrap_or(false),
        })
    }

    fn run(&self, ledger: &mut Ledger<'_>) {
        let snap = ledger.snap;
        // Every phase: a Succeeded pod lingering after PodCompleted is a candidate.
        let mut candidates: Vec<_> = ledger
            .processed_nodes()
            .flat_map(|n| snap.pods_on(n).iter().copied())
            .filter(|&p| !ledger.is_evicted(p) && ledger.in_scope(p))
            .filter_map(|id| {
                let pod = snap.pod(id);
                let (order, why) = self.matches(pod, snap.now)?;
                Some((pod.prefer_no_eviction, order, id, why))
            })
            .collect();
        // Oldest first (prefer-no-eviction pods last); the id breaks ties in (namespace, name) order.
        candidates.sort();
        for (_, _, id, why) in candidates {
            ledger.try_evict(id, why);
        }
    }
}

impl PodLifeTime {
    /// When every filter holds: the time the pod is ordered by, and why it matched.
    fn matches(&self, pod: &PodInfo, now: DateTime<Utc>) -> Option<(DateTime<Utc>, String)> {
        let created = pod.created?;
        // Every filter first, the reason text only for a pod that passes
        // them all: most pods fail one, and formatting theirs cost 5 % of a
        // run at 2,000 nodes.
        let age = match self.max_pod_life_time_seconds {
            Some(max) => {
                let age = (now - created).num_seconds();
                if age <= max {
                    return None;
                }
                Some((age, max))
            }
            None => None,
        };
        let state = if self.states.is_empty() {
            None
        } else {
            Some(
                self.observed_states(pod)
                    .find(|s| self.states.contains(s))?,
            )
        };
        let mut order = created;
        let condition = if self.conditions.is_empty() {
            None
        } else {
            let (f, since) = pod
                .pod
                .status
                .iter()
                .flat_map(|s| s.conditions.iter().flatten())
                .find_map(|c| {
                    self.conditions
                        .iter()
                        .find_map(|f| Some((f, f.matches(c, now)?)))
                })?;
            if f.min_seconds.is_some()
                && let Some(t) = since
            {
                order = t;
            }
            Some(f)
        };
        let code = if self.exit_codes.is_empty() {
            None
        } else {
            Some(
                pod.statuses(
                    self.including_init_containers,
                    self.including_ephemeral_containers,
                )
                .filter_map(exit_code)
                .find(|c| self.exit_codes.contains(c))?,
            )
        };
        let kinds = || {
            pod.pod
                .metadata
                .owner_references
                .iter()
                .flatten()
                .map(|o| o.kind.as_str())
        };
        let owner_ok = match &self.owner_kinds {
            OwnerKinds::Any => true,
            OwnerKinds::Include(list) => kinds().any(|k| list.iter().any(|l| l == k)),
            OwnerKinds::Exclude(list) => kinds().all(|k| list.iter().all(|l| l != k)),
        };
        if !owner_ok {
            return None;
        }
        let mut why = Vec::new();
        if let Some((age, max)) = age {
            why.push(format!("age {age}s exceeds {max}s"));
        }
        if let Some(state) = state {
            why.push(format!("in state {state}"));
        }
        if let Some(f) = condition {
            let shown = [&f.type_, &f.status, &f.reason]
                .iter()
                .filter_map(|v| v.as_deref())
                .collect::<Vec<_>>()
                .join("/");
            why.push(format!("condition {shown} matches"));
        }
        if let Some(code) = code {
            why.push(format!("a container exited with {code}"));
        }
        Some((order, why.join(", ")))
    }

    /// The phase, status.reason, and every container's waiting or terminated reason.
    fn observed_states<'p>(&self, pod: &'p PodInfo) -> impl Iterator<Item = &'p str> {
        std::iter::once(pod.phase.as_str())
            .chain(pod.status_reason())
            .chain(
                pod.statuses(
                    self.including_init_containers,
                    self.including_ephemeral_containers,
                )
                .filter_map(state_reason),
            )
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn states_and_their_alias_are_merged() {
        let p: super::PodLifeTime = params(
            "{podLifeTime: {maxPodLifeTimeSeconds: 60, states: [Running, CrashLoopBackOff], podStatusPhases: [Pending, Running]}}",
        );
        assert_eq!(p.max_pod_life_time_seconds, Some(60));
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
                "pods in every phase are candidates",
                "",
                vec![
                    pod("done").phase("Succeeded").age(900),
                    pod("failed").phase("Failed").age(800),
                    pod("up"),
                ],
                &["up", "done", "failed"],
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
                "states: init containers only with includingInitContainers",
                ", states: [PodInitializing, ErrImagePull]",
                vec![
                    pod("init").phase("Pending").waiting("PodInitializing"),
                    pod("init-pull")
                        .phase("Pending")
                        .init_waiting("ErrImagePull"),
                    pod("pending").phase("Pending"),
                ],
                &["init"],
            ),
            (
                "states: init containers with includingInitContainers",
                ", states: [ErrImagePull], includingInitContainers: true",
                vec![
                    pod("init-pull")
                        .phase("Pending")
                        .init_waiting("ErrImagePull"),
                    pod("pending").phase("Pending"),
                ],
                &["init-pull"],
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

    /// Like `run`, with the whole `podLifeTime` block given.
    fn run_filters(filters: &str, pods: Vec<PodB>) -> Vec<String> {
        let yaml =
            format!("strategies: {{PodLifeTime: {{params: {{podLifeTime: {{{filters}}}}}}}}}");
        let r = Cluster::with_nodes(2)
            .pods(pods.into_iter().map(|p| p.on("n1")))
            .run(&yaml);
        r.evicted().into_iter().map(String::from).collect()
    }

    #[test]
    fn v036_filters() {
        let cases: Vec<(&str, &str, Vec<PodB>, &[&str])> = vec![
            (
                "upstream's example: Succeeded pods 4 h after PodCompleted",
                "states: [Succeeded], conditions: [{reason: PodCompleted, status: 'True', minTimeSinceLastTransitionSeconds: 14400}]",
                vec![
                    pod("old-done").phase("Succeeded").condition(
                        "Ready",
                        "True",
                        "PodCompleted",
                        20000,
                    ),
                    pod("new-done").phase("Succeeded").condition(
                        "Ready",
                        "True",
                        "PodCompleted",
                        600,
                    ),
                    pod("running").condition("Ready", "True", "PodCompleted", 20000),
                ],
                &["old-done"],
            ),
            (
                "conditions alone; oldest transition first",
                "conditions: [{type: Ready, status: 'False', minTimeSinceLastTransitionSeconds: 60}]",
                vec![
                    pod("a").age(9000).condition("Ready", "False", "", 100),
                    pod("b").age(100).condition("Ready", "False", "", 5000),
                    pod("c").condition("Ready", "True", "", 5000),
                ],
                &["b", "a"],
            ),
            (
                "conditions: any entry matching is enough",
                "conditions: [{type: Ready, status: 'False'}, {type: DisruptionTarget}]",
                vec![
                    pod("unready").condition("Ready", "False", "", 1),
                    pod("target").condition("DisruptionTarget", "True", "", 1),
                    pod("fine"),
                ],
                &["target", "unready"],
            ),
            (
                "exitCodes, regular containers",
                "exitCodes: [137, 2]",
                vec![
                    pod("oom").phase("Failed").exited(137),
                    pod("two").exited(2),
                    pod("one").phase("Failed").exited(1),
                    pod("init").init_exited(137),
                    pod("debug").ephemeral_exited(137),
                ],
                &["oom", "two"],
            ),
            (
                "exitCodes with init and ephemeral containers",
                "exitCodes: [137], includingInitContainers: true, includingEphemeralContainers: true",
                vec![
                    pod("init").init_exited(137),
                    pod("debug").ephemeral_exited(137),
                    pod("ok"),
                ],
                &["debug", "init"],
            ),
            (
                "states: ephemeral containers only with the flag",
                "states: [CrashLoopBackOff], includingEphemeralContainers: true",
                vec![
                    pod("debug").ephemeral_waiting("CrashLoopBackOff"),
                    pod("ok"),
                ],
                &["debug"],
            ),
            (
                "states: terminated reasons and pod reasons",
                "states: [OOMKilled, NodeLost, Shutdown]",
                vec![
                    pod("oom").terminated("OOMKilled"),
                    pod("lost").phase("Unknown").reason("NodeLost"),
                    pod("down").phase("Failed").reason("Shutdown"),
                    pod("error").terminated("Error"),
                ],
                &["down", "lost", "oom"],
            ),
            (
                "ownerKinds include: some ownerReference kind",
                "maxPodLifeTimeSeconds: 60, ownerKinds: {include: [Job]}",
                vec![
                    pod("job").owner("Job", "j"),
                    pod("rs"),
                    pod("rs-and-job").also_owned_by("Job", "k"),
                ],
                &["job", "rs-and-job"],
            ),
            (
                "ownerKinds exclude: no ownerReference of these kinds",
                "maxPodLifeTimeSeconds: 60, ownerKinds: {exclude: [Job]}",
                vec![
                    pod("job").owner("Job", "j"),
                    pod("rs"),
                    pod("rs-and-job").also_owned_by("Job", "k"),
                ],
                &["rs"],
            ),
            (
                "every filter given must hold",
                "maxPodLifeTimeSeconds: 600, states: [Failed], exitCodes: [1]",
                vec![
                    pod("all").phase("Failed").exited(1).age(700),
                    pod("young").phase("Failed").exited(1).age(100),
                    pod("code").phase("Failed").exited(3).age(700),
                    pod("phase").exited(1).age(700),
                ],
                &["all"],
            ),
        ];
        for (what, filters, pods, want) in cases {
            let mut got = run_filters(filters, pods);
            let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
            if what.contains("first") {
                assert_eq!(got, want, "{what}");
            } else {
                got.sort();
                want.sort();
                assert_eq!(got, want, "{what}");
            }
        }
    }

    #[test]
    fn filter_validation_names_the_field() {
        let cases = [
            (
                "{}",
                "spec.strategies.PodLifeTime.params.podLifeTime",
                "at least one of",
            ),
            (
                "{exitCodes: [1], conditions: [{}]}",
                "spec.strategies.PodLifeTime.params.podLifeTime.conditions[0]",
                "sets no field",
            ),
            (
                "{exitCodes: [1], ownerKinds: {include: [Job], exclude: [ReplicaSet]}}",
                "spec.strategies.PodLifeTime.params.podLifeTime.ownerKinds",
                "mutually exclusive",
            ),
            (
                "{maxPodLifeTimeSeconds: 0}",
                "spec.strategies.PodLifeTime.params.podLifeTime.maxPodLifeTimeSeconds",
                "at least 1",
            ),
        ];
        for (filters, path, text) in cases {
            let yaml =
                format!("strategies: {{PodLifeTime: {{params: {{podLifeTime: {filters}}}}}}}");
            let errs = Cluster::with_nodes(2).invalid(&yaml);
            assert!(
                errs.iter()
                    .any(|e| e.path == path && e.message.contains(text)),
                "{filters}: {errs:?}"
            );
        }
        // Unknown states are rejected by the schema, RunContainerError included (not a v0.36 state).
        for bad in ["Sleeping", "RunContainerError"] {
            let yaml = format!("{{podLifeTime: {{states: [{bad}]}}}}");
            assert!(
                serde_yaml_ng::from_str::<crate::api::PodLifeTimeParams>(&yaml).is_err(),
                "{bad}"
            );
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
