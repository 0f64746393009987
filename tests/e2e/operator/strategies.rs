//! One scenario per strategy: build the violating situation with kwok nodes
//! and real Deployments, apply a policy, and check that exactly the right
//! pods were evicted, replaced and rescheduled, that the policy's status
//! counts equal what happened, and that the events exist.
//!
//! Pods are placed deterministically by cordoning the nodes they must not
//! land on while they are scheduled, then uncordoning them; the violation
//! (taint, label change, pod label, ...) is created after placement, so the
//! replacements always have a valid place among the test's own nodes.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    Affinity, ContainerState, ContainerStateTerminated, NodeAffinity, NodeSelector,
    NodeSelectorRequirement, NodeSelectorTerm, Pod, PodAffinityTerm, PodAntiAffinity, Toleration,
    TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

use super::{
    Expect, Operator, Scenario, TAINT_KEY, assert_evicting_run, names, uids, with_pod_spec,
};
use crate::support::{self, PodPlacement, WAIT, labels, state, wait_for};

const ZONE: &str = "e2e.descheduler.dev/zone";

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

/// Asserts every pod of `replaced` avoids node `node`.
fn assert_not_on(replaced: &[PodPlacement], node: &str) {
    assert!(
        replaced.iter().all(|p| p.node.as_deref() != Some(node)),
        "a replacement went back to {node}: {replaced:?}"
    );
}

#[tokio::test]
async fn node_taints_evicts_intolerant_pods_only() {
    let s = Scenario::new("op-taints").await;
    let (op, nodes) = tokio::join!(Operator::start(&s.ns, "op", &[]), s.nodes_n(3));
    // web (2 pods) and tolerant (1 pod, tolerates the taint) on n0 only.
    s.cordon(&nodes[1], true).await;
    s.cordon(&nodes[2], true).await;
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
    s.cordon(&nodes[1], false).await;
    s.cordon(&nodes[2], false).await;
    s.taint(&nodes[0], TAINT_KEY, "x").await;
    let before = s.all_pods().await;
    assert!(
        before
            .iter()
            .all(|p| p.node.as_deref() == Some(nodes[0].as_str()))
    );

    let policy = s.policy_name("taints");
    s.create_policy(
        "taints",
        json!({"interval": "1h", "strategies": {"RemovePodsViolatingNodeTaints": {}}}),
    )
    .await;
    let web = pods_of(&before, "web");
    let gone = assert_evicting_run(
        &s,
        &before,
        Expect {
            policy: &policy,
            candidates: names(&web),
            count: 2,
            strategy: "RemovePodsViolatingNodeTaints",
        },
    )
    .await;
    let replaced = s.wait_replaced("web", 2, &uids(&before, &gone)).await;
    assert_not_on(&replaced, &nodes[0]);
    assert!(
        op.metric_sum(
            "descheduler_pods_evicted_total",
            &[("policy", &policy), ("result", "evicted")]
        )
        .await
            == 2.0
    );
}

#[tokio::test]
async fn node_affinity_evicts_pods_whose_node_no_longer_matches() {
    let s = Scenario::new("op-affinity").await;
    let (_op, nodes) = tokio::join!(Operator::start(&s.ns, "op", &[]), s.nodes_n(2));
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
    // Move the label: n0 no longer satisfies web's required affinity, n1 does.
    s.label_node(&nodes[1], &[(ZONE, Some("good"))]).await;
    s.label_node(&nodes[0], &[(ZONE, None)]).await;
    let before = s.all_pods().await;

    let policy = s.policy_name("affinity");
    s.create_policy(
        "affinity",
        json!({"interval": "1h", "strategies": {"RemovePodsViolatingNodeAffinity": {
            "params": {"nodeAffinityType": ["requiredDuringSchedulingIgnoredDuringExecution"]}}}}),
    )
    .await;
    let gone = assert_evicting_run(
        &s,
        &before,
        Expect {
            policy: &policy,
            candidates: names(&pods_of(&before, "web")),
            count: 2,
            strategy: "RemovePodsViolatingNodeAffinity",
        },
    )
    .await;
    let replaced = s.wait_replaced("web", 2, &uids(&before, &gone)).await;
    assert!(
        replaced
            .iter()
            .all(|p| p.node.as_deref() == Some(nodes[1].as_str())),
        "{replaced:?}"
    );
}

#[tokio::test]
async fn inter_pod_anti_affinity_evicts_the_violating_pod() {
    let s = Scenario::new("op-antiaff").await;
    let (_op, nodes) = tokio::join!(Operator::start(&s.ns, "op", &[]), s.nodes_n(2));
    s.cordon(&nodes[1], true).await;
    // web must not share a node with pods labelled role=blocker.
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
    s.cordon(&nodes[1], false).await;
    let before = s.all_pods().await;
    assert!(
        before
            .iter()
            .all(|p| p.node.as_deref() == Some(nodes[0].as_str()))
    );

    let policy = s.policy_name("antiaff");
    s.create_policy(
        "antiaff",
        json!({"interval": "1h", "strategies": {"RemovePodsViolatingInterPodAntiAffinity": {}}}),
    )
    .await;
    let gone = assert_evicting_run(
        &s,
        &before,
        Expect {
            policy: &policy,
            candidates: names(&pods_of(&before, "web")),
            count: 1,
            strategy: "RemovePodsViolatingInterPodAntiAffinity",
        },
    )
    .await;
    let replaced = s.wait_replaced("web", 1, &uids(&before, &gone)).await;
    assert_eq!(replaced[0].node.as_deref(), Some(nodes[1].as_str()));
}

#[tokio::test]
async fn remove_duplicates_spreads_an_owners_pods() {
    let s = Scenario::new("op-dups").await;
    let (_op, nodes) = tokio::join!(Operator::start(&s.ns, "op", &[]), s.nodes_n(2));
    s.cordon(&nodes[1], true).await;
    s.deploy(support::deployment("web", &s.opts(4, "100m")), 4)
        .await;
    s.deploy(support::deployment("single", &s.opts(1, "100m")), 1)
        .await;
    s.cordon(&nodes[1], false).await;
    let before = s.all_pods().await;
    assert!(
        before
            .iter()
            .all(|p| p.node.as_deref() == Some(nodes[0].as_str()))
    );

    // 4 pods of web on n0, 2 feasible nodes: ceil(4/2) = 2 may stay.
    let policy = s.policy_name("dups");
    s.create_policy(
        "dups",
        json!({"interval": "1h", "strategies": {"RemoveDuplicates": {}}}),
    )
    .await;
    let gone = assert_evicting_run(
        &s,
        &before,
        Expect {
            policy: &policy,
            candidates: names(&pods_of(&before, "web")),
            count: 2,
            strategy: "RemoveDuplicates",
        },
    )
    .await;
    s.wait_replaced("web", 4, &uids(&before, &gone)).await;
}

#[tokio::test]
async fn topology_spread_evicts_the_minimum_to_rebalance() {
    let s = Scenario::new("op-spread").await;
    let (_op, nodes) = tokio::join!(Operator::start(&s.ns, "op", &[]), s.nodes_n(2));
    s.label_node(&nodes[0], &[(ZONE, Some("za"))]).await;
    s.label_node(&nodes[1], &[(ZONE, Some("zb"))]).await;
    s.cordon(&nodes[1], true).await;
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
    s.cordon(&nodes[1], false).await;
    let before = s.all_pods().await;
    assert!(
        before
            .iter()
            .all(|p| p.node.as_deref() == Some(nodes[0].as_str()))
    );

    // za: 4, zb: 0, maxSkew 1: moving 2 pods balances it.
    let policy = s.policy_name("spread");
    s.create_policy(
        "spread",
        json!({"interval": "1h", "strategies": {"RemovePodsViolatingTopologySpreadConstraint": {
            "params": {"includeSoftConstraints": true}}}}),
    )
    .await;
    let gone = assert_evicting_run(
        &s,
        &before,
        Expect {
            policy: &policy,
            candidates: names(&before),
            count: 2,
            strategy: "RemovePodsViolatingTopologySpreadConstraint",
        },
    )
    .await;
    s.wait_replaced("web", 4, &uids(&before, &gone)).await;
}

#[tokio::test]
async fn low_node_utilization_moves_pods_off_an_overutilized_node() {
    let s = Scenario::new("op-low").await;
    let (_op, nodes) = tokio::join!(Operator::start(&s.ns, "op", &[]), s.nodes_n(3));
    s.cordon(&nodes[1], true).await;
    s.cordon(&nodes[2], true).await;
    s.deploy(support::deployment("web", &s.opts(4, "200m")), 4)
        .await;
    s.cordon(&nodes[1], false).await;
    s.cordon(&nodes[2], false).await;
    let before = s.all_pods().await;
    assert!(
        before
            .iter()
            .all(|p| p.node.as_deref() == Some(nodes[0].as_str()))
    );

    // n0 at 80% cpu (> 50% target), n1 and n2 at 0% (< 20%): two 200m pods
    // take n0 to 40%.
    let policy = s.policy_name("low");
    s.create_policy(
        "low",
        json!({"interval": "1h", "strategies": {"LowNodeUtilization": {"params": {
            "nodeResourceUtilizationThresholds": {
                "thresholds": {"cpu": 20}, "targetThresholds": {"cpu": 50}}}}}}),
    )
    .await;
    let gone = assert_evicting_run(
        &s,
        &before,
        Expect {
            policy: &policy,
            candidates: names(&before),
            count: 2,
            strategy: "LowNodeUtilization",
        },
    )
    .await;
    s.wait_replaced("web", 4, &uids(&before, &gone)).await;
}

#[tokio::test]
async fn high_node_utilization_empties_an_underutilized_node() {
    let s = Scenario::new("op-high").await;
    let (_op, nodes) = tokio::join!(Operator::start(&s.ns, "op", &[]), s.nodes_n(2));
    // big: 3 x 200m on n1 (60%); small: 1 x 100m on n0 (10%).
    s.cordon(&nodes[0], true).await;
    s.deploy(support::deployment("big", &s.opts(3, "200m")), 3)
        .await;
    s.cordon(&nodes[0], false).await;
    s.cordon(&nodes[1], true).await;
    s.deploy(support::deployment("small", &s.opts(1, "100m")), 1)
        .await;
    s.cordon(&nodes[1], false).await;
    let before = s.all_pods().await;

    let policy = s.policy_name("high");
    s.create_policy(
        "high",
        json!({"interval": "1h", "strategies": {"HighNodeUtilization": {"params": {
            "nodeResourceUtilizationThresholds": {"thresholds": {"cpu": 30}}}}}}),
    )
    .await;
    let gone = assert_evicting_run(
        &s,
        &before,
        Expect {
            policy: &policy,
            candidates: names(&pods_of(&before, "small")),
            count: 1,
            strategy: "HighNodeUtilization",
        },
    )
    .await;
    s.wait_replaced("small", 1, &uids(&before, &gone)).await;
}

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

#[tokio::test]
async fn too_many_restarts_evicts_the_restarting_pod() {
    let s = Scenario::new("op-restarts").await;
    let (_op, _nodes) = tokio::join!(Operator::start(&s.ns, "op", &[]), s.nodes_n(2));
    let web = s
        .deploy(support::deployment("web", &s.opts(2, "100m")), 2)
        .await;
    let victim = web[0].name.clone();
    set_pod_status(&s, &victim, |pod| {
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
    let before = s.all_pods().await;

    let policy = s.policy_name("restarts");
    s.create_policy(
        "restarts",
        json!({"interval": "1h", "strategies": {"RemovePodsHavingTooManyRestarts": {"params": {
            "podsHavingTooManyRestarts": {"podRestartThreshold": 3}}}}}),
    )
    .await;
    let gone = assert_evicting_run(
        &s,
        &before,
        Expect {
            policy: &policy,
            candidates: BTreeSet::from([victim]),
            count: 1,
            strategy: "RemovePodsHavingTooManyRestarts",
        },
    )
    .await;
    s.wait_replaced("web", 2, &uids(&before, &gone)).await;
}

#[tokio::test]
async fn pod_life_time_evicts_only_old_pods() {
    let s = Scenario::new("op-lifetime").await;
    let (_op, _nodes) = tokio::join!(Operator::start(&s.ns, "op", &[]), s.nodes_n(2));
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
    let before = s.all_pods().await;

    let policy = s.policy_name("lifetime");
    s.create_policy(
        "lifetime",
        json!({"interval": "1h", "strategies": {"PodLifeTime": {"params": {
            "podLifeTime": {"maxPodLifeTimeSeconds": 5}}}}}),
    )
    .await;
    let gone = assert_evicting_run(
        &s,
        &before,
        Expect {
            policy: &policy,
            candidates: names(&old),
            count: 2,
            strategy: "PodLifeTime",
        },
    )
    .await;
    s.wait_replaced("old", 2, &uids(&before, &gone)).await;
}

#[tokio::test]
async fn remove_failed_pods_evicts_the_failed_pod() {
    let s = Scenario::new("op-failed").await;
    let (_op, _nodes) = tokio::join!(Operator::start(&s.ns, "op", &[]), s.nodes_n(2));
    let web = s
        .deploy(support::deployment("web", &s.opts(2, "100m")), 2)
        .await;
    let victim = web[0].name.clone();
    // Fail the pod through the status subresource (kwok leaves Failed pods
    // alone); its ReplicaSet then creates a replacement right away.
    set_pod_status(&s, &victim, |pod| {
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

    let policy = s.policy_name("failed");
    s.create_policy(
        "failed",
        json!({"interval": "1h", "strategies": {"RemoveFailedPods": {"params": {
            "failedPods": {"reasons": ["Error"]}}}}}),
    )
    .await;
    let gone = assert_evicting_run(
        &s,
        &before,
        Expect {
            policy: &policy,
            candidates: BTreeSet::from([victim]),
            count: 1,
            strategy: "RemoveFailedPods",
        },
    )
    .await;
    s.wait_replaced("web", 2, &uids(&before, &gone)).await;
}
