//! Placement prediction on the real control plane (SPEC §10, §11): with
//! Enforce an eviction whose replacement would stay Pending is refused, and
//! with Off it really stays Pending; the operator's follow-up reports where
//! replacements went; a replacement that comes back to its node backs the
//! workload off.

use std::collections::BTreeMap;

use descheduler::api::{DeschedulerPolicy, PlacementCounts};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams};
use serde_json::json;

use super::{Operator, Scenario, TAINT_KEY, tainted_node_setup};
use crate::support::{self, WAIT, state, wait_for};

const TAINTS: &str = "RemovePodsViolatingNodeTaints";
const LOW: &str = "LowNodeUtilization";

/// Waits until the policy's last run reports where its replacements went.
async fn wait_placement(s: &Scenario, name: &str) -> PlacementCounts {
    let api = s.policies();
    wait_for(WAIT, format!("lastRun.placement of {name}"), || {
        let api = api.clone();
        async move {
            let p: DeschedulerPolicy = api.get(name).await.map_err(state)?;
            let run = p.status.and_then(|s| s.last_run);
            match run.as_ref().and_then(|r| r.placement.clone()) {
                Some(c) => Ok(c),
                None => Err(format!("{run:?}")),
            }
        }
    })
    .await
}

fn unschedulable(p: &Pod) -> bool {
    p.spec.as_ref().is_none_or(|s| s.node_name.is_none())
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                c.iter().any(|c| {
                    c.type_ == "PodScheduled"
                        && c.status == "False"
                        && c.reason.as_deref() == Some("Unschedulable")
                })
            })
}

#[tokio::test]
async fn enforce_keeps_a_pod_that_would_stay_pending_and_off_shows_it_would() {
    let s = Scenario::new("op-pending").await;
    let (_op, nodes) = tokio::join!(Operator::start(&s.ns, "op", &[]), s.nodes_n(2));
    // n1 is full (a 900m filler of 1 CPU); web (300m) on n0, then n0 tainted:
    // its replacement fits nowhere.
    s.cordon(&nodes[0], true).await;
    s.deploy(support::deployment("filler", &s.opts(1, "900m")), 1)
        .await;
    s.cordon(&nodes[0], false).await;
    s.cordon(&nodes[1], true).await;
    s.deploy(support::deployment("web", &s.opts(1, "300m")), 1)
        .await;
    s.cordon(&nodes[1], false).await;
    s.taint(&nodes[0], TAINT_KEY, "x").await;
    let before = s.all_pods().await;

    let enforce = s.policy_name("enforce");
    s.create_policy(
        "enforce",
        json!({"interval": "1h", "placementCheck": "Enforce", "strategies": {TAINTS: {}}}),
    )
    .await;
    let (_, run) = s.wait_run(&enforce, None, WAIT).await;
    let counts = &run.strategies[0];
    assert_eq!(
        (
            counts.evicted,
            counts.skipped.get("WouldBePending").copied()
        ),
        (0, Some(1)),
        "{run:?}"
    );
    assert!(s.gone(&before).await.is_empty());
    s.policies()
        .delete(&enforce, &DeleteParams::default())
        .await
        .expect("delete the Enforce policy");

    // Off: evicted, and the real scheduler finds no node for the replacement.
    let off = s.policy_name("off");
    s.create_policy(
        "off",
        json!({"interval": "1h", "placementCheck": "Off", "strategies": {TAINTS: {}}}),
    )
    .await;
    let (_, run) = s.wait_run(&off, None, WAIT).await;
    assert_eq!(run.evicted, 1, "{run:?}");
    assert!(run.warnings.is_empty(), "Off counts no warnings: {run:?}");
    let pods = s.pods();
    wait_for(WAIT, "web's replacement Unschedulable", || async {
        let list = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .map_err(state)?;
        let names: Vec<_> = list.items.iter().map(|p| p.metadata.name.clone()).collect();
        if list.items.iter().any(unschedulable) {
            Ok(())
        } else {
            Err(format!("{names:?}"))
        }
    })
    .await;
    let placement = wait_placement(&s, &off).await;
    assert_eq!(
        (placement.predicted, placement.pending),
        (1, 1),
        "{placement:?}"
    );
}

#[tokio::test]
async fn the_follow_up_reports_where_the_replacements_went() {
    let s = Scenario::new("op-followup").await;
    let op = Operator::start(&s.ns, "op", &[]);
    let (_op, (nodes, before)) = tokio::join!(op, tainted_node_setup(&s, &[("web", 3)]));
    let name = s.policy_name("taints");
    s.create_policy(
        "taints",
        json!({"interval": "1h", "placementCheck": "Enforce", "strategies": {TAINTS: {}}}),
    )
    .await;
    let (_, run) = s.wait_run(&name, None, WAIT).await;
    assert_eq!(run.evicted, 3, "{run:?}");
    // The only untainted node is n1: predicted for all three, and where the
    // scheduler put them.
    let gone = s.gone(&before).await;
    let replaced = s
        .wait_replaced("web", 3, &super::uids(&before, &gone))
        .await;
    assert!(
        replaced
            .iter()
            .all(|p| p.node.as_deref() == Some(nodes[1].as_str()))
    );
    let placement = wait_placement(&s, &name).await;
    assert_eq!(
        placement,
        PlacementCounts {
            predicted: 3,
            landed_as_predicted: 3,
            ..Default::default()
        }
    );
}

#[tokio::test]
async fn replacements_that_come_back_back_the_workload_off() {
    let s = Scenario::new("op-pingpong").await;
    let (op, nodes) = tokio::join!(Operator::start(&s.ns, "op", &[]), s.nodes_n(3));
    // web is pinned to n0 (a nodeSelector only n0 matches) and makes it 80%
    // busy: LowNodeUtilization (without nodeFit) evicts from it, and the
    // replacements can only come back.
    s.label_node(&nodes[0], &[("e2e.descheduler.dev/pin", Some("web"))])
        .await;
    let mut opts = s.opts(4, "200m");
    opts.node_selector =
        BTreeMap::from([("e2e.descheduler.dev/pin".to_string(), "web".to_string())]);
    s.deploy(support::deployment("web", &opts), 4).await;
    let name = s.policy_name("low");
    s.create_policy(
        "low",
        json!({"interval": "1h", "strategies": {LOW: {"params": {
            "nodeResourceUtilizationThresholds": {
                "thresholds": {"cpu": 20}, "targetThresholds": {"cpu": 50}}}}}}),
    )
    .await;
    let (_, first) = s.wait_run(&name, None, WAIT).await;
    assert_eq!(first.evicted, 2, "{first:?}");
    // Warn (the default): evicted, with the prediction's warning.
    assert_eq!(first.warnings.get("WouldNotMove"), Some(&2), "{first:?}");
    let placement = wait_placement(&s, &name).await;
    assert_eq!(
        (placement.landed_on_source, placement.pending),
        (2, 0),
        "{placement:?}"
    );
    let p: DeschedulerPolicy = s.policies().get(&name).await.expect("policy");
    let backoff = p.status.map(|s| s.backoff).unwrap_or_default();
    assert_eq!(backoff.len(), 1, "{backoff:?}");
    assert_eq!(backoff[0].reason, "ReturnedToSource");
    assert!(
        backoff[0]
            .owner
            .starts_with(&format!("{}/ReplicaSet/web-", s.name())),
        "{backoff:?}"
    );

    // The next run leaves the workload alone.
    let before = s.all_pods().await;
    s.run_now(&name, "again").await;
    let (_, second) = s
        .wait_run_where(&name, WAIT, |r| r.trigger.as_deref() == Some("again"))
        .await;
    assert_eq!(second.evicted, 0, "{second:?}");
    assert_eq!(
        second.strategies[0].skipped.get("Cooldown"),
        Some(&4),
        "{second:?}"
    );
    assert!(s.gone(&before).await.is_empty());
    assert_eq!(
        op.metric_sum(
            "descheduler_replacements_total",
            &[("policy", &name), ("outcome", "landed_on_source")]
        )
        .await,
        2.0
    );
}

#[tokio::test]
async fn a_moved_replacement_flagged_again_backs_the_workload_off() {
    let s = Scenario::new("op-flagged").await;
    let op = Operator::start(&s.ns, "op", &[]);
    let (_op, (nodes, before)) = tokio::join!(op, tainted_node_setup(&s, &[("web", 2)]));
    let name = s.policy_name("taints");
    s.create_policy(
        "taints",
        json!({"interval": "1h", "placementCheck": "Enforce", "strategies": {TAINTS: {}}}),
    )
    .await;
    let (_, first) = s.wait_run(&name, None, WAIT).await;
    assert_eq!(first.evicted, 2, "{first:?}");
    let gone = s.gone(&before).await;
    s.wait_replaced("web", 2, &super::uids(&before, &gone))
        .await;
    let placement = wait_placement(&s, &name).await;
    assert_eq!(placement.landed_as_predicted, 2, "{placement:?}");

    // The taint flaps: n0 is clean again and n1 tainted, so the same
    // strategy flags the replacements it just moved. Evicting them would
    // only send them back: the workload is backed off instead.
    s.update_node(&nodes[0], |n| {
        if let Some(spec) = n.spec.as_mut() {
            spec.taints = None;
        }
    })
    .await;
    s.taint(&nodes[1], super::TAINT_KEY, "x").await;
    let moved = s.all_pods().await;
    s.run_now(&name, "flap").await;
    let (_, second) = s
        .wait_run_where(&name, WAIT, |r| r.trigger.as_deref() == Some("flap"))
        .await;
    assert_eq!(second.evicted, 0, "{second:?}");
    assert_eq!(
        second.strategies[0].skipped.get("Cooldown"),
        Some(&2),
        "{second:?}"
    );
    assert!(s.gone(&moved).await.is_empty());
    let p: DeschedulerPolicy = s.policies().get(&name).await.expect("policy");
    let backoff = p.status.map(|s| s.backoff).unwrap_or_default();
    assert_eq!(backoff.len(), 1, "{backoff:?}");
    assert_eq!(
        (backoff[0].reason.as_str(), backoff[0].strikes),
        ("FlaggedAgain", 1),
        "{backoff:?}"
    );
}
