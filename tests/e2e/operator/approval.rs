//! approval: Manual (SPEC §12): a run publishes a plan and evicts nothing;
//! approving it evicts exactly the planned pods still eligible; a pod that
//! went away is reported stale and nothing takes its place; unknown and
//! expired ids are refused.

use std::collections::BTreeSet;
use std::time::Duration;

use descheduler::api::{DeschedulerPolicy, PendingPlan, RunMode};
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::{DeleteParams, ListParams};
use serde_json::json;

use super::{Operator, Scenario, tainted_node_setup, with_pod_spec};
use crate::support::{self, WAIT, state, wait_for};

const APPROVE: &str = "descheduler.dev/approve";
const TAINTS: &str = "RemovePodsViolatingNodeTaints";

/// Waits until the policy publishes a pending plan with `count` evictions.
async fn wait_plan(s: &Scenario, name: &str, count: usize) -> PendingPlan {
    let api = s.policies();
    wait_for(WAIT, format!("a pending plan of {count} on {name}"), || {
        let api = api.clone();
        async move {
            let p: DeschedulerPolicy = api.get(name).await.map_err(state)?;
            let status = p.status.unwrap_or_default();
            match status.pending_plan {
                Some(plan) if plan.evictions.len() == count => Ok(plan),
                other => Err(format!("{other:?}; last run {:?}", status.last_run)),
            }
        }
    })
    .await
}

async fn approve(s: &Scenario, name: &str, id: &str) {
    s.patch_policy(name, json!({"metadata": {"annotations": {APPROVE: id}}}))
        .await;
}

/// Waits until the operator has acted on approval `id`; returns the status.
async fn wait_handled(
    s: &Scenario,
    name: &str,
    id: &str,
) -> descheduler::api::DeschedulerPolicyStatus {
    let api = s.policies();
    wait_for(WAIT, format!("approval {id} of {name} handled"), || {
        let api = api.clone();
        async move {
            let status = api
                .get(name)
                .await
                .map_err(state)?
                .status
                .unwrap_or_default();
            if status.handled_approval.as_deref() == Some(id) {
                Ok(status)
            } else {
                Err(format!("{status:?}"))
            }
        }
    })
    .await
}

async fn warning_events(s: &Scenario, policy: &str, reason: &str) -> Vec<String> {
    let events: Api<Event> = Api::namespaced(s.ns.client().clone(), "default");
    let fields = format!("involvedObject.name={policy},reason={reason}");
    events
        .list(&ListParams::default().fields(&fields))
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter(|e| e.type_.as_deref() == Some("Warning"))
                .filter_map(|e| e.message)
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn an_approved_plan_evicts_exactly_its_pods_and_reports_stale_ones() {
    let s = Scenario::new("op-approve").await;
    let op = Operator::start(&s.ns, "op", &[]);
    let (_op, (nodes, before)) = tokio::join!(op, tainted_node_setup(&s, &[("web", 3)]));
    let name = s.policy_name("manual");
    s.create_policy(
        "manual",
        json!({"interval": "1h", "approval": "Manual", "strategies": {TAINTS: {}}}),
    )
    .await;

    // The run plans three evictions and carries out none.
    let plan = wait_plan(&s, &name, 3).await;
    let (_, run) = s.wait_run(&name, None, WAIT).await;
    assert_eq!(run.mode, Some(RunMode::DryRun), "{run:?}");
    assert_eq!((run.evicted, run.would_evict), (0, 3), "{run:?}");
    assert!(s.gone(&before).await.is_empty());
    let planned: BTreeSet<String> = plan
        .evictions
        .iter()
        .map(|e| {
            e.pod
                .trim_start_matches(&format!("{}/", s.name()))
                .to_string()
        })
        .collect();

    // Before the approval: one planned pod goes away, and a pod the plan never
    // saw starts violating the taint too (bound to the tainted node directly).
    let deleted = planned.iter().next().cloned().expect("a planned pod");
    s.pods()
        .delete(&deleted, &DeleteParams::default().grace_period(0))
        .await
        .expect("delete a planned pod");
    let late = with_pod_spec(support::deployment("late", &s.opts(1, "100m")), |spec| {
        spec.node_name = Some(nodes[0].clone());
    });
    s.deploy(late, 1).await;
    let present = s.all_pods().await;

    approve(&s, &name, &plan.id).await;
    let status = wait_handled(&s, &name, &plan.id).await;
    let last = status.last_approved.clone().expect("lastApproved");
    assert_eq!(
        (last.id.as_str(), last.evicted, last.stale, last.blocked),
        (plan.id.as_str(), 2, 1, 0),
        "{status:?}"
    );
    assert_eq!(last.stale_pods, [format!("{}/{deleted}", s.name())]);
    assert!(status.pending_plan.is_none(), "{status:?}");
    // Exactly the two remaining planned pods were evicted: not the late pod,
    // not the replacement of the deleted one.
    let gone = s.gone(&present).await;
    let want: BTreeSet<String> = planned.iter().filter(|p| **p != deleted).cloned().collect();
    assert_eq!(gone, want);
    s.assert_descheduled_events(&name, &want).await;
    let approved = s.policy_events(&name, "PlanApproved").await;
    assert!(
        approved.iter().any(|m| m.contains("evicted 2, stale 1")),
        "{approved:?}"
    );

    // An id that names no pending plan is refused, and nothing is evicted.
    approve(&s, &name, "0123456789abcdef").await;
    let refused = wait_handled(&s, &name, "0123456789abcdef").await;
    let cond = refused
        .conditions
        .iter()
        .find(|c| c.type_ == "PlanApproved")
        .expect("PlanApproved condition");
    assert_eq!(
        (cond.status.as_str(), cond.reason.as_str()),
        ("False", "UnknownPlan")
    );
    wait_for(WAIT, "an ApprovalRefused warning", || async {
        let w = warning_events(&s, &name, "ApprovalRefused").await;
        if w.iter().any(|m| m.contains("0123456789abcdef")) {
            Ok(())
        } else {
            Err(format!("{w:?}"))
        }
    })
    .await;
    assert!(s.gone(&s.all_pods().await).await.is_empty());
}

#[tokio::test]
async fn an_expired_plan_is_refused() {
    let s = Scenario::new("op-expired").await;
    let op = Operator::start(&s.ns, "op", &[]);
    let (mut op, (_nodes, before)) = tokio::join!(op, tainted_node_setup(&s, &[("web", 1)]));
    let name = s.policy_name("manual");
    s.create_policy(
        "manual",
        json!({"interval": "10s", "approval": "Manual", "strategies": {TAINTS: {}}}),
    )
    .await;
    let plan = wait_plan(&s, &name, 1).await;
    // With the operator stopped, the plan outlives its expiry (one interval).
    op.terminate().await;
    let expires = plan
        .expires_at
        .as_ref()
        .map(|t| t.0.as_second())
        .expect("expiresAt");
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    };
    wait_for(Duration::from_secs(30), "the plan to expire", || async {
        if now() > expires {
            Ok(())
        } else {
            Err(format!("{} s left", expires - now()))
        }
    })
    .await;
    approve(&s, &name, &plan.id).await;
    let _op = Operator::start(&s.ns, "op2", &[]).await;
    let status = wait_handled(&s, &name, &plan.id).await;
    let cond = status
        .conditions
        .iter()
        .find(|c| c.type_ == "PlanApproved")
        .expect("PlanApproved condition");
    assert_eq!(
        (cond.status.as_str(), cond.reason.as_str()),
        ("False", "ExpiredPlan"),
        "{status:?}"
    );
    assert!(status.last_approved.is_none(), "{status:?}");
    assert!(
        s.gone(&before).await.is_empty(),
        "an expired plan evicted pods"
    );
}
