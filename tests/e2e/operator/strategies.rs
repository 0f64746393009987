//! One scenario per strategy: build the violating situation with kwok nodes
//! and real Deployments, apply a policy, and check that exactly the right
//! pods were evicted, replaced and rescheduled, that the policy's status
//! counts equal what happened, and that the events exist.
//!
//! Each scenario is a [`Case`] run by [`run`]: the cases differ only in
//! their setup, the strategy's parameters and what they expect, so the
//! scaffold (operator, nodes, policy, run checks, replacements) is shared.
//!
//! Pods are placed deterministically by cordoning the nodes they must not
//! land on while they are scheduled, then uncordoning them; the violation
//! (taint, label change, pod label, ...) is created after placement, so the
//! replacements always have a valid place among the test's own nodes.

use std::collections::BTreeSet;

use futures::FutureExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{
    Affinity, ContainerState, ContainerStateTerminated, NodeAffinity, NodeSelector,
    NodeSelectorRequirement, NodeSelectorTerm, Pod, PodAffinityTerm, PodAntiAffinity, Toleration,
    TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::{
    Expect, Operator, Scenario, TAINT_KEY, assert_evicting_run, names, uids, with_pod_spec,
};
use crate::support::{self, PodPlacement, WAIT, labels, state, wait_for};

const ZONE: &str = "e2e.descheduler.dev/zone";

// --- the runner ---------------------------------------------------------------

/// One strategy's scenario.
struct Case {
    /// Names the namespace (`op-<name>`) and the policy (`<ns>-<name>`).
    name: &'static str,
    /// Kwok nodes `n0..` created while the operator starts.
    nodes: usize,
    strategy: &'static str,
    /// The strategy's `params` (the runner adds `namespaces`).
    params: fn() -> Value,
    /// Builds the violating situation on the nodes.
    setup: for<'a> fn(&'a Scenario, &'a [String]) -> BoxFuture<'a, Setup>,
    /// How many of the setup's candidates the run evicts.
    evicts: usize,
    /// The Deployment whose pods are evicted, and its replica count.
    app: &'static str,
    replicas: usize,
    /// Where the replacements must be scheduled.
    placement: Placement,
}

/// What a setup built.
struct Setup {
    /// Every pod of the namespace, just before the policy exists.
    before: Vec<PodPlacement>,
    /// The pods of which exactly [`Case::evicts`] must go, and nothing else.
    candidates: BTreeSet<String>,
}

/// Where the replacements must go, by node index; only constrained where
/// the violation leaves the scheduler no choice.
enum Placement {
    Anywhere,
    NotOn(usize),
    AllOn(usize),
}

/// What a finished case leaves for checks of its own. Fields drop in order:
/// the operator stops before the scenario deletes the policy.
struct Ran {
    op: Operator,
    policy: String,
    _scenario: Scenario,
}

async fn run(case: &Case) -> Ran {
    let s = Scenario::new(&format!("op-{}", case.name)).await;
    let (op, nodes) = tokio::join!(Operator::start(&s.ns, "op", &[]), s.nodes_n(case.nodes));
    let Setup { before, candidates } = (case.setup)(&s, &nodes).await;

    let policy = s.policy_name(case.name);
    s.create_policy(
        case.name,
        json!({"interval": "1h", "strategies": {case.strategy: {"params": (case.params)()}}}),
    )
    .await;
    let gone = assert_evicting_run(
        &s,
        &before,
        Expect {
            policy: &policy,
            candidates,
            count: case.evicts,
            strategy: case.strategy,
        },
    )
    .await;
    let replaced = s
        .wait_replaced(case.app, case.replicas, &uids(&before, &gone))
        .await;
    match case.placement {
        Placement::Anywhere => {}
        Placement::NotOn(i) => assert!(
            replaced
                .iter()
                .all(|p| p.node.as_deref() != Some(nodes[i].as_str())),
            "a replacement went back to {}: {replaced:?}",
            nodes[i]
        ),
        Placement::AllOn(i) => assert_all_on(&replaced, &nodes[i]),
    }
    Ran {
        op,
        policy,
        _scenario: s,
    }
}

/// The pods of Deployment `app` among `pods` (named `<app>-<hash>-<id>`).
fn pods_of(pods: &[PodPlacement], app: &str) -> Vec<PodPlacement> {
    let prefix = format!("{app}-");
    pods.iter()
        .filter(|p| {
            p.name
                .strip_prefix(&prefix)
                .is_some_and(|rest| rest.matches('-').count() == 1)
        })
        .cloned()
        .collect()
}

fn assert_all_on(pods: &[PodPlacement], node: &str) {
    assert!(
        pods.iter().all(|p| p.node.as_deref() == Some(node)),
        "not all on {node}: {pods:?}"
    );
}

/// Cordons (or uncordons) every node but `n0`.
async fn cordon_others(s: &Scenario, nodes: &[String], on: bool) {
    for node in &nodes[1..] {
        s.cordon(node, on).await;
    }
}

/// Every pod of the namespace, asserted to be on `n0`.
async fn all_pods_on_n0(s: &Scenario, nodes: &[String]) -> Vec<PodPlacement> {
    let before = s.all_pods().await;
    assert_all_on(&before, &nodes[0]);
    before
}

// --- RemovePodsViolatingNodeTaints ---------------------------------------------

const TAINTS: Case = Case {
    name: "taints",
    nodes: 3,
    strategy: "RemovePodsViolatingNodeTaints",
    params: || json!({}),
    setup: |s, nodes| taints_setup(s, nodes).boxed(),
    evicts: 2,
    app: "web",
    replicas: 2,
    placement: Placement::NotOn(0),
};

/// web (2 pods) and tolerant (1 pod, tolerates the taint) on a tainted n0.
async fn taints_setup(s: &Scenario, nodes: &[String]) -> Setup {
    cordon_others(s, nodes, true).await;
    s.deploy(support::deployment("web", &s.opts(2, "100m")), 2)
        .await;
    let tolerant = with_pod_spec(
        support::deployment("tolerant", &s.opts(1, "100m")),
        |spec| {
            spec.tolerations = Some(vec![Toleration {
                key: Some(TAINT_KEY.into()),
                operator: Some("Exists".into()),
                ..Default::default()
            }]);
        },
    );
    s.deploy(tolerant, 1).await;
    cordon_others(s, nodes, false).await;
    s.taint(&nodes[0], TAINT_KEY, "x").await;
    let before = all_pods_on_n0(s, nodes).await;
    let candidates = names(&pods_of(&before, "web"));
    Setup { before, candidates }
}

#[tokio::test]
async fn node_taints_evicts_intolerant_pods_only() {
    let ran = run(&TAINTS).await;
    let evicted = ran
        .op
        .metric_sum(
            "descheduler_pods_evicted_total",
            &[("policy", &ran.policy), ("result", "evicted")],
        )
        .await;
    assert_eq!(evicted, 2.0);
}

// --- RemovePodsViolatingNodeAffinity -------------------------------------------

const AFFINITY: Case = Case {
    name: "affinity",
    nodes: 2,
    strategy: "RemovePodsViolatingNodeAffinity",
    params: || json!({"nodeAffinityType": ["requiredDuringSchedulingIgnoredDuringExecution"]}),
    setup: |s, nodes| affinity_setup(s, nodes).boxed(),
    evicts: 2,
    app: "web",
    replicas: 2,
    placement: Placement::AllOn(1),
};

/// web requires zone=good, which moves from n0 to n1 once web runs on n0.
async fn affinity_setup(s: &Scenario, nodes: &[String]) -> Setup {
    s.label_node(&nodes[0], &[(ZONE, Some("good"))]).await;
    let web = with_pod_spec(support::deployment("web", &s.opts(2, "100m")), |spec| {
        spec.affinity = Some(Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: ZONE.into(),
                            operator: "In".into(),
                            values: Some(vec!["good".into()]),
                        }]),
                        ..Default::default()
                    }],
                }),
                ..Default::default()
            }),
            ..Default::default()
        });
    });
    s.deploy(web, 2).await;
    // other: no affinity; wherever it lands it is never a candidate.
    s.deploy(support::deployment("other", &s.opts(1, "100m")), 1)
        .await;
    s.label_node(&nodes[1], &[(ZONE, Some("good"))]).await;
    s.label_node(&nodes[0], &[(ZONE, None)]).await;
    let before = s.all_pods().await;
    let candidates = names(&pods_of(&before, "web"));
    Setup { before, candidates }
}

#[tokio::test]
async fn node_affinity_evicts_pods_whose_node_no_longer_matches() {
    run(&AFFINITY).await;
}

// --- RemovePodsViolatingInterPodAntiAffinity -----------------------------------

const ANTI_AFFINITY: Case = Case {
    name: "antiaff",
    nodes: 2,
    strategy: "RemovePodsViolatingInterPodAntiAffinity",
    params: || json!({}),
    setup: |s, nodes| anti_affinity_setup(s, nodes).boxed(),
    evicts: 1,
    app: "web",
    replicas: 1,
    placement: Placement::AllOn(1),
};

/// web must not share a node with pods labelled role=blocker; both on n0.
async fn anti_affinity_setup(s: &Scenario, nodes: &[String]) -> Setup {
    cordon_others(s, nodes, true).await;
    let web = with_pod_spec(support::deployment("web", &s.opts(1, "100m")), |spec| {
        spec.affinity = Some(Affinity {
            pod_anti_affinity: Some(PodAntiAffinity {
                required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                    label_selector: Some(LabelSelector {
                        match_labels: Some(labels(&[("role", "blocker")])),
                        ..Default::default()
                    }),
                    topology_key: "kubernetes.io/hostname".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        });
    });
    s.deploy(web, 1).await;
    let blocker = s
        .deploy(support::deployment("blocker", &s.opts(1, "100m")), 1)
        .await;
    // Only now label the blocker pod: the scheduler could not have prevented it.
    s.pods()
        .patch(
            &blocker[0].name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"role": "blocker"}}})),
        )
        .await
        .expect("label blocker pod");
    cordon_others(s, nodes, false).await;
    let before = all_pods_on_n0(s, nodes).await;
    let candidates = names(&pods_of(&before, "web"));
    Setup { before, candidates }
}

#[tokio::test]
async fn inter_pod_anti_affinity_evicts_the_violating_pod() {
    run(&ANTI_AFFINITY).await;
}

// --- RemoveDuplicates ------------------------------------------------------------

/// 4 pods of web on n0, 2 feasible nodes: ceil(4/2) = 2 may stay.
const DUPLICATES: Case = Case {
    name: "dups",
    nodes: 2,
    strategy: "RemoveDuplicates",
    params: || json!({}),
    setup: |s, nodes| duplicates_setup(s, nodes).boxed(),
    evicts: 2,
    app: "web",
    replicas: 4,
    placement: Placement::Anywhere,
};

/// web (4 pods) and single (1 pod, no duplicates) on n0.
async fn duplicates_setup(s: &Scenario, nodes: &[String]) -> Setup {
    cordon_others(s, nodes, true).await;
    s.deploy(support::deployment("web", &s.opts(4, "100m")), 4)
        .await;
    s.deploy(support::deployment("single", &s.opts(1, "100m")), 1)
        .await;
    cordon_others(s, nodes, false).await;
    let before = all_pods_on_n0(s, nodes).await;
    let candidates = names(&pods_of(&before, "web"));
    Setup { before, candidates }
}

#[tokio::test]
async fn remove_duplicates_spreads_an_owners_pods() {
    run(&DUPLICATES).await;
}

// --- RemovePodsViolatingTopologySpreadConstraint ---------------------------------

/// za: 4, zb: 0, maxSkew 1: moving 2 pods balances it.
const SPREAD: Case = Case {
    name: "spread",
    nodes: 2,
    strategy: "RemovePodsViolatingTopologySpreadConstraint",
    params: || json!({"includeSoftConstraints": true}),
    setup: |s, nodes| spread_setup(s, nodes).boxed(),
    evicts: 2,
    app: "web",
    replicas: 4,
    placement: Placement::Anywhere,
};

/// web (4 pods, spread over zones) all in zone za (n0); zb (n1) empty.
async fn spread_setup(s: &Scenario, nodes: &[String]) -> Setup {
    s.label_node(&nodes[0], &[(ZONE, Some("za"))]).await;
    s.label_node(&nodes[1], &[(ZONE, Some("zb"))]).await;
    cordon_others(s, nodes, true).await;
    // A soft constraint (a hard one would keep pods Pending while zb is cordoned).
    let web = with_pod_spec(support::deployment("web", &s.opts(4, "100m")), |spec| {
        spec.topology_spread_constraints = Some(vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: ZONE.into(),
            when_unsatisfiable: "ScheduleAnyway".into(),
            label_selector: Some(LabelSelector {
                match_labels: Some(labels(&[("app", "web")])),
                ..Default::default()
            }),
            ..Default::default()
        }]);
    });
    s.deploy(web, 4).await;
    cordon_others(s, nodes, false).await;
    let before = all_pods_on_n0(s, nodes).await;
    let candidates = names(&before);
    Setup { before, candidates }
}

#[tokio::test]
async fn topology_spread_evicts_the_minimum_to_rebalance() {
    run(&SPREAD).await;
}

// --- LowNodeUtilization ------------------------------------------------------------

/// n0 at 80% cpu (> 50% target), n1 and n2 at 0% (< 20%): two 200m pods
/// take n0 to 40%.
const LOW_UTILIZATION: Case = Case {
    name: "low",
    nodes: 3,
    strategy: "LowNodeUtilization",
    params: || {
        json!({"nodeResourceUtilizationThresholds": {
            "thresholds": {"cpu": 20}, "targetThresholds": {"cpu": 50}}})
    },
    setup: |s, nodes| low_utilization_setup(s, nodes).boxed(),
    evicts: 2,
    app: "web",
    replicas: 4,
    placement: Placement::Anywhere,
};

/// web (4 x 200m) on n0.
async fn low_utilization_setup(s: &Scenario, nodes: &[String]) -> Setup {
    cordon_others(s, nodes, true).await;
    s.deploy(support::deployment("web", &s.opts(4, "200m")), 4)
        .await;
    cordon_others(s, nodes, false).await;
    let before = all_pods_on_n0(s, nodes).await;
    let candidates = names(&before);
    Setup { before, candidates }
}

#[tokio::test]
async fn low_node_utilization_moves_pods_off_an_overutilized_node() {
    run(&LOW_UTILIZATION).await;
}

// --- HighNodeUtilization -----------------------------------------------------------

const HIGH_UTILIZATION: Case = Case {
    name: "high",
    nodes: 2,
    strategy: "HighNodeUtilization",
    params: || json!({"nodeResourceUtilizationThresholds": {"thresholds": {"cpu": 30}}}),
    setup: |s, nodes| high_utilization_setup(s, nodes).boxed(),
    evicts: 1,
    app: "small",
    replicas: 1,
    placement: Placement::Anywhere,
};

/// big: 3 x 200m on n1 (60%); small: 1 x 100m on n0 (10%, under 30%).
async fn high_utilization_setup(s: &Scenario, nodes: &[String]) -> Setup {
    s.cordon(&nodes[0], true).await;
    s.deploy(support::deployment("big", &s.opts(3, "200m")), 3)
        .await;
    s.cordon(&nodes[0], false).await;
    s.cordon(&nodes[1], true).await;
    s.deploy(support::deployment("small", &s.opts(1, "100m")), 1)
        .await;
    s.cordon(&nodes[1], false).await;
    let before = s.all_pods().await;
    let candidates = names(&pods_of(&before, "small"));
    Setup { before, candidates }
}

#[tokio::test]
async fn high_node_utilization_empties_an_underutilized_node() {
    run(&HIGH_UTILIZATION).await;
}

// --- RemovePodsHavingTooManyRestarts -----------------------------------------------

/// Changes a pod's status through the status subresource (read, modify,
/// replace). kwok's pod stages (tests/e2e/cluster, `kwok-stages.yaml`) only
/// act on Pending pods that are not Ready (pod-ready), on Job pods
/// (pod-complete) and on pods being deleted (pod-delete), so a Running pod's
/// status set this way stays as set.
async fn set_pod_status(s: &Scenario, name: &str, f: impl Fn(&mut Pod)) {
    let api = s.pods();
    wait_for(WAIT, format!("updating status of pod {name}"), || async {
        let mut pod = api.get(name).await.map_err(state)?;
        f(&mut pod);
        api.replace_status(name, &PostParams::default(), &pod)
            .await
            .map(|_| ())
            .map_err(state)
    })
    .await;
}

const RESTARTS: Case = Case {
    name: "restarts",
    nodes: 2,
    strategy: "RemovePodsHavingTooManyRestarts",
    params: || json!({"podsHavingTooManyRestarts": {"podRestartThreshold": 3}}),
    setup: |s, _| restarts_setup(s).boxed(),
    evicts: 1,
    app: "web",
    replicas: 2,
    placement: Placement::Anywhere,
};

/// One of web's 2 pods restarted 5 times (threshold 3).
async fn restarts_setup(s: &Scenario) -> Setup {
    let web = s
        .deploy(support::deployment("web", &s.opts(2, "100m")), 2)
        .await;
    let victim = web[0].name.clone();
    set_pod_status(s, &victim, |pod| {
        for c in pod
            .status
            .as_mut()
            .and_then(|st| st.container_statuses.as_mut())
            .expect("container statuses")
        {
            c.restart_count = 5;
        }
    })
    .await;
    let pod = s.pods().get(&victim).await.expect("victim");
    let restarts: i32 = pod
        .status
        .and_then(|st| st.container_statuses)
        .unwrap_or_default()
        .iter()
        .map(|c| c.restart_count)
        .sum();
    assert_eq!(restarts, 5, "the restart count stays as set");
    Setup {
        before: s.all_pods().await,
        candidates: BTreeSet::from([victim]),
    }
}

#[tokio::test]
async fn too_many_restarts_evicts_the_restarting_pod() {
    run(&RESTARTS).await;
}

// --- PodLifeTime -------------------------------------------------------------------

const LIFETIME: Case = Case {
    name: "lifetime",
    nodes: 2,
    strategy: "PodLifeTime",
    params: || json!({"podLifeTime": {"maxPodLifeTimeSeconds": 5}}),
    setup: |s, _| lifetime_setup(s).boxed(),
    evicts: 2,
    app: "old",
    replicas: 2,
    placement: Placement::Anywhere,
};

/// old (2 pods, older than the 5s limit) and young (1 pod, younger).
async fn lifetime_setup(s: &Scenario) -> Setup {
    let old = s
        .deploy(support::deployment("old", &s.opts(2, "100m")), 2)
        .await;
    // Wait (on the pods' own creation timestamps) until old is 8s old, then
    // create young: with a 5s limit only old's pods qualify at the run.
    let api = s.pods();
    wait_for(WAIT, "old's pods to be 8s old", || async {
        let pod = api.get(&old[0].name).await.map_err(state)?;
        let created = pod
            .metadata
            .creation_timestamp
            .map(|t| t.0.as_second())
            .unwrap_or_default();
        let age = k8s_openapi::jiff::Timestamp::now().as_second() - created;
        if age >= 8 {
            Ok(())
        } else {
            Err(format!("{age}s"))
        }
    })
    .await;
    s.deploy(support::deployment("young", &s.opts(1, "100m")), 1)
        .await;
    Setup {
        before: s.all_pods().await,
        candidates: names(&old),
    }
}

#[tokio::test]
async fn pod_life_time_evicts_only_old_pods() {
    run(&LIFETIME).await;
}

// --- RemoveFailedPods --------------------------------------------------------------

const FAILED: Case = Case {
    name: "failed",
    nodes: 2,
    strategy: "RemoveFailedPods",
    params: || json!({"failedPods": {"reasons": ["Error"]}}),
    setup: |s, _| failed_setup(s).boxed(),
    evicts: 1,
    app: "web",
    replicas: 2,
    placement: Placement::Anywhere,
};

/// One of web's 2 pods Failed with reason Error.
async fn failed_setup(s: &Scenario) -> Setup {
    let web = s
        .deploy(support::deployment("web", &s.opts(2, "100m")), 2)
        .await;
    let victim = web[0].name.clone();
    // Through the status subresource, as kwok leaves Failed pods alone; the
    // ReplicaSet then creates a replacement right away.
    set_pod_status(s, &victim, |pod| {
        let st = pod.status.as_mut().expect("status");
        st.phase = Some("Failed".into());
        for c in st.container_statuses.as_mut().expect("container statuses") {
            c.ready = false;
            c.started = Some(false);
            c.state = Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: 1,
                    reason: Some("Error".into()),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        for cond in st.conditions.as_mut().into_iter().flatten() {
            if cond.type_ == "Ready" || cond.type_ == "ContainersReady" {
                cond.status = "False".into();
            }
        }
    })
    .await;
    let before = s.all_pods().await;
    let failed: Vec<&PodPlacement> = before.iter().filter(|p| p.phase == "Failed").collect();
    assert_eq!(failed.len(), 1, "{before:?}");
    Setup {
        before,
        candidates: BTreeSet::from([victim]),
    }
}

#[tokio::test]
async fn remove_failed_pods_evicts_the_failed_pod() {
    run(&FAILED).await;
}
