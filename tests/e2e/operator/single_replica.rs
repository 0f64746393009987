//! singleReplicaStrategy (SPEC §12) on the real control plane: the default
//! leaves a Deployment's only replica alone; RolloutRestart restarts the
//! Deployment instead, and the real Deployment controller surges a new pod
//! before the old one goes, so the workload never has zero ready pods.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::watcher::{self, Event};
use serde_json::json;

use super::{Operator, Scenario, tainted_node_setup};
use crate::support::{WAIT, state, wait_for};

const TAINTS: &str = "RemovePodsViolatingNodeTaints";
const RESTARTED_AT: &str = "descheduler.dev/restartedAt";

fn ready_and_live(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Watches the pods of `app` and records the fewest ready, not terminating
/// ones seen at any event after the initial list.
fn track_min_ready(
    pods: Api<Pod>,
    app: &str,
) -> (Arc<Mutex<Option<usize>>>, tokio::task::JoinHandle<()>) {
    let min = Arc::new(Mutex::new(None::<usize>));
    let seen = min.clone();
    let config = watcher::Config::default().labels(&format!("app={app}"));
    let task = tokio::spawn(async move {
        let mut ready: BTreeMap<String, bool> = BTreeMap::new();
        let mut listed = false;
        let mut stream = watcher::watcher(pods, config).boxed();
        while let Some(event) = stream.next().await {
            match event {
                Ok(Event::Apply(p)) | Ok(Event::InitApply(p)) => {
                    ready.insert(
                        p.metadata.name.clone().unwrap_or_default(),
                        ready_and_live(&p),
                    );
                }
                Ok(Event::Delete(p)) => {
                    ready.remove(&p.metadata.name.clone().unwrap_or_default());
                }
                Ok(Event::Init) => ready.clear(),
                Ok(Event::InitDone) => listed = true,
                Err(_) => continue,
            }
            if listed {
                let n = ready.values().filter(|r| **r).count();
                let mut m = seen.lock().unwrap_or_else(|e| e.into_inner());
                *m = Some(m.map_or(n, |m| m.min(n)));
            }
        }
    });
    (min, task)
}

#[tokio::test]
async fn the_last_replica_is_skipped_by_default_and_restarted_with_rollout_restart() {
    let s = Scenario::new("op-single").await;
    let op = Operator::start(&s.ns, "op", &[]);
    let (_op, (nodes, before)) = tokio::join!(op, tainted_node_setup(&s, &[("solo", 1)]));
    let (min_ready, watch) = track_min_ready(s.pods(), "solo");

    // Skip (the default): nothing happens, and the run says why.
    let skip = s.policy_name("skip");
    s.create_policy(
        "skip",
        json!({"interval": "1h", "singleReplicaStrategy": "Skip", "strategies": {TAINTS: {}}}),
    )
    .await;
    let (_, run) = s.wait_run(&skip, None, WAIT).await;
    let counts = &run.strategies[0];
    assert_eq!(
        (counts.evicted, counts.skipped.get("SingleReplica").copied()),
        (0, Some(1)),
        "{run:?}"
    );
    assert!(s.gone(&before).await.is_empty());
    s.policies()
        .delete(&skip, &Default::default())
        .await
        .expect("delete the Skip policy");

    // RolloutRestart: the Deployment's template is annotated, its controller
    // starts a new pod (on the untainted node) before the old one goes.
    let restart = s.policy_name("restart");
    s.create_policy(
        "restart",
        json!({"interval": "1h", "singleReplicaStrategy": "RolloutRestart", "strategies": {TAINTS: {}}}),
    )
    .await;
    let (_, run) = s.wait_run(&restart, None, WAIT).await;
    assert_eq!((run.restarted, run.evicted), (1, 0), "{run:?}");
    assert_eq!(run.strategies[0].restarted, 1, "{run:?}");
    let deployments: Api<Deployment> = s.ns.api();
    let d = deployments.get("solo").await.expect("get deployment solo");
    let annotated = d
        .spec
        .and_then(|s| s.template.metadata)
        .and_then(|m| m.annotations)
        .is_some_and(|a| a.contains_key(RESTARTED_AT));
    assert!(annotated, "the pod template carries {RESTARTED_AT}");

    let old = before[0].name.clone();
    let pods = s.pods();
    wait_for(
        WAIT,
        "the old pod replaced by a ready one on the untainted node",
        || {
            let pods = pods.clone();
            let (old, target) = (old.clone(), nodes[1].clone());
            async move {
                let list = pods
                    .list(&kube::api::ListParams::default().labels("app=solo"))
                    .await
                    .map_err(state)?;
                let names: Vec<_> = list
                    .items
                    .iter()
                    .map(|p| {
                        (
                            p.metadata.name.clone(),
                            p.spec.as_ref().and_then(|s| s.node_name.clone()),
                            ready_and_live(p),
                        )
                    })
                    .collect();
                let done = list.items.len() == 1
                    && list.items[0].metadata.name.as_deref() != Some(old.as_str())
                    && ready_and_live(&list.items[0])
                    && list.items[0]
                        .spec
                        .as_ref()
                        .and_then(|s| s.node_name.as_deref())
                        == Some(target.as_str());
                if done {
                    Ok(())
                } else {
                    Err(format!("{names:?}"))
                }
            }
        },
    )
    .await;
    watch.abort();
    let min = *min_ready.lock().unwrap_or_else(|e| e.into_inner());
    assert_eq!(
        min,
        Some(1),
        "the Deployment never dropped to zero ready pods"
    );
    // The pod was never evicted: its event says it was restarted instead.
    let events: Api<k8s_openapi::api::core::v1::Event> = s.ns.api();
    let fields = format!("involvedObject.name={old},reason=Descheduled");
    wait_for(WAIT, "a Descheduled event naming the restart", || async {
        let list = events
            .list(&kube::api::ListParams::default().fields(&fields))
            .await
            .map_err(state)?;
        let msgs: Vec<_> = list
            .items
            .iter()
            .filter_map(|e| e.message.clone())
            .collect();
        if msgs
            .iter()
            .any(|m| m.contains(&format!("restarted by policy {restart}")))
        {
            Ok(())
        } else {
            Err(format!("{msgs:?}"))
        }
    })
    .await;
}
