//! Two replicas with leader election: only the Lease holder evicts, writes
//! status and publishes events.

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use serde_json::json;

use super::{Operator, Scenario, names, tainted_node_setup, uids};
use crate::support::{WAIT, state, wait_for};

#[tokio::test]
async fn with_two_replicas_only_the_leader_evicts() {
    let s = Scenario::new("op-ha").await;
    let lease = format!("descheduler-{}", s.name());
    let args = |id: &'static str| {
        vec![
            "--leader-elect",
            "--leader-elect-namespace",
            s.name(),
            "--leader-elect-lease-name",
            lease.as_str(),
            "--identity",
            id,
        ]
    };
    let (a_args, b_args) = (args("a"), args("b"));
    let (a, b, (_nodes, before)) = tokio::join!(
        Operator::start(&s.ns, "a", &a_args),
        Operator::start(&s.ns, "b", &b_args),
        tainted_node_setup(&s, &[("web", 2)])
    );
    let leases: Api<Lease> = s.ns.api();
    let holder = wait_for(WAIT, format!("Lease {lease} to have a holder"), || async {
        let l = leases.get(&lease).await.map_err(state)?;
        l.spec
            .and_then(|s| s.holder_identity)
            .filter(|h| !h.is_empty())
            .ok_or_else(|| "no holder yet".to_string())
    })
    .await;
    assert!(holder == "a" || holder == "b", "{holder}");
    let (leader, follower) = if holder == "a" { (&a, &b) } else { (&b, &a) };

    let policy = s.policy_name("ha");
    s.create_policy(
        "ha",
        json!({"interval": "1h", "strategies": {"RemovePodsViolatingNodeTaints": {}}}),
    )
    .await;
    let (_, run) = s.wait_run(&policy, None, WAIT).await;
    let gone = s.gone(&before).await;
    assert_eq!(gone, names(&before), "{run:?}");
    assert_eq!(run.evicted, 2, "{run:?}");
    s.assert_descheduled_events(&policy, &gone).await;
    let events = s.descheduled_events().await;
    assert_eq!(events.len(), 2, "one event per eviction: {events:?}");
    assert!(
        events.iter().all(|(_, instance)| *instance == holder),
        "events from {events:?}, leader {holder}"
    );
    let evicted = [("policy", policy.as_str()), ("result", "evicted")];
    let runs = [("policy", policy.as_str())];
    let metric = "descheduler_pods_evicted_total";
    assert_eq!(leader.metric_sum(metric, &evicted).await, 2.0);
    assert_eq!(follower.metric_sum(metric, &evicted).await, 0.0);
    let metric = "descheduler_runs_total";
    assert_eq!(leader.metric_sum(metric, &runs).await, 1.0);
    assert_eq!(follower.metric_sum(metric, &runs).await, 0.0);
    s.wait_replaced("web", 2, &uids(&before, &gone)).await;
    // Still the same holder: no flapping during the run.
    let l = leases.get(&lease).await.expect("lease");
    assert_eq!(l.spec.and_then(|s| s.holder_identity), Some(holder));
}
