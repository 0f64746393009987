//! Smoke tests proving the local control plane is a real cluster: the
//! scheduler binds pods within node allocatable, kwok runs them, the
//! ReplicaSet and disruption controllers react to evictions, and CRDs with a
//! status subresource work.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{EvictParams, Patch, PatchParams, PostParams};
use kube::{Api, CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::support::{
    DeploymentOpts, PodPlacement, TestNamespace, WAIT, client, create_deployment, labels,
    pods_per_node, state, wait_deployment_running, wait_for,
};

/// Creates `count` kwok nodes (`n0`, `n1`, ...) with 1 CPU, 2Gi and 10 pods
/// each, returning their names.
async fn small_nodes(ns: &TestNamespace, count: usize) -> Vec<String> {
    let mut names = Vec::new();
    for i in 0..count {
        let node = ns
            .create_kwok_node(&format!("n{i}"), "1", "2Gi", 10, &labels(&[]), &[])
            .await;
        names.push(node.metadata.name.expect("node name"));
    }
    names
}

/// Deployment options: `replicas` pods of 500m CPU (two fill a small node),
/// kept on this test's nodes.
fn half_cpu_pods(ns: &TestNamespace, replicas: i32) -> DeploymentOpts {
    DeploymentOpts {
        replicas,
        cpu: "500m".into(),
        memory: "128Mi".into(),
        node_selector: ns.pool_selector(),
        ..Default::default()
    }
}

#[tokio::test]
async fn deployment_pods_are_scheduled_and_running_on_kwok_nodes() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "schedule").await;
    let nodes = small_nodes(&ns, 3).await;

    // The allocatable we asked for is what the scheduler sees.
    let node_api: Api<Node> = Api::all(client.clone());
    for name in &nodes {
        let node = node_api.get(name).await.expect("get node");
        let alloc = node.status.and_then(|s| s.allocatable).unwrap_or_default();
        assert_eq!(alloc.get("cpu").map(|q| q.0.as_str()), Some("1"), "{name}");
        assert_eq!(
            alloc.get("pods").map(|q| q.0.as_str()),
            Some("10"),
            "{name}"
        );
    }

    create_deployment(&client, ns.name(), "web", &half_cpu_pods(&ns, 6)).await;
    let pods = wait_deployment_running(&client, ns.name(), "web", 6).await;

    // 6 pods of 500m on 3 nodes of 1 CPU: the scheduler must put exactly two
    // on each node, and only on this test's nodes.
    let per_node = pods_per_node(&pods);
    let expected: BTreeSet<&String> = nodes.iter().collect();
    assert_eq!(
        per_node.keys().collect::<BTreeSet<_>>(),
        expected,
        "{pods:?}"
    );
    assert!(per_node.values().all(|&n| n == 2), "{per_node:?}");

    // The Deployment controller sees them as available.
    let deployments: Api<Deployment> = ns.api();
    wait_for(
        WAIT,
        "deployment web to report 6 available replicas",
        || async {
            let d = deployments.get("web").await.map_err(state)?;
            let status = d.status.unwrap_or_default();
            match status.available_replicas {
                Some(6) => Ok(()),
                _ => Err(format!("{status:?}")),
            }
        },
    )
    .await;
}

#[tokio::test]
async fn evicted_pod_is_replaced_and_rescheduled() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "evict").await;
    let nodes = small_nodes(&ns, 2).await;
    create_deployment(&client, ns.name(), "web", &half_cpu_pods(&ns, 3)).await;
    let before = wait_deployment_running(&client, ns.name(), "web", 3).await;

    let victim = before[0].clone();
    let pods: Api<Pod> = ns.api();
    pods.evict(&victim.name, &EvictParams::default())
        .await
        .unwrap_or_else(|e| panic!("evicting {}: {e}", victim.name));

    // kwok removes the evicted pod, the ReplicaSet controller creates a
    // replacement and the scheduler binds it to one of this test's nodes.
    let after = wait_for(
        WAIT,
        format!("{} to be replaced by a new running pod", victim.name),
        || async {
            let now = crate::support::deployment_pods(&client, ns.name(), "web")
                .await
                .map_err(state)?;
            let gone = now.iter().all(|p| p.uid != victim.uid);
            if gone && now.len() == 3 && now.iter().all(PodPlacement::is_running) {
                Ok(now)
            } else {
                Err(format!("{now:?}"))
            }
        },
    )
    .await;

    let old: BTreeSet<&str> = before.iter().map(|p| p.uid.as_str()).collect();
    let new: Vec<&PodPlacement> = after
        .iter()
        .filter(|p| !old.contains(p.uid.as_str()))
        .collect();
    assert_eq!(new.len(), 1, "exactly one replacement: {after:?}");
    let replacement = pods.get(&new[0].name).await.expect("get replacement");
    let node = replacement.spec.as_ref().and_then(|s| s.node_name.clone());
    assert!(
        node.as_ref().is_some_and(|n| nodes.contains(n)),
        "replacement bound to {node:?}, expected one of {nodes:?}"
    );
    let scheduled = replacement
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .any(|c| c.type_ == "PodScheduled" && c.status == "True");
    assert!(scheduled, "replacement has no PodScheduled=True condition");
}

#[tokio::test]
async fn eviction_blocked_by_pod_disruption_budget() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "pdb").await;
    small_nodes(&ns, 2).await;
    create_deployment(&client, ns.name(), "web", &half_cpu_pods(&ns, 3)).await;
    let before = wait_deployment_running(&client, ns.name(), "web", 3).await;

    let pdb = PodDisruptionBudget {
        metadata: ObjectMeta {
            name: Some("web".into()),
            ..Default::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(0)),
            selector: Some(LabelSelector {
                match_labels: Some(labels(&[("app", "web")])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let pdbs: Api<PodDisruptionBudget> = ns.api();
    pdbs.create(&PostParams::default(), &pdb)
        .await
        .expect("create PDB");

    // The disruption controller has counted the pods and allows nothing.
    wait_for(WAIT, "PDB web to allow 0 disruptions of 3 pods", || async {
        let pdb = pdbs.get("web").await.map_err(state)?;
        let generation = pdb.metadata.generation;
        let s = pdb.status.unwrap_or_default();
        if s.observed_generation == generation
            && s.expected_pods == Some(3)
            && s.current_healthy == Some(3)
            && s.disruptions_allowed == Some(0)
        {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;

    let victim = &before[0];
    let pods: Api<Pod> = ns.api();
    match pods.evict(&victim.name, &EvictParams::default()).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 429, "eviction refused with {status:?}");
        }
        other => panic!(
            "eviction of {} should be refused, got {other:?}",
            victim.name
        ),
    }

    // The pod stays: same object, not terminating, still running, and the
    // deployment still has exactly the original pods.
    let pod = pods.get(&victim.name).await.expect("pod still exists");
    let now = PodPlacement::from_pod(&pod);
    assert_eq!(now.uid, victim.uid);
    assert!(now.is_running(), "{now:?}");
    let after = crate::support::deployment_pods(&client, ns.name(), "web")
        .await
        .expect("list pods");
    assert_eq!(after, before);
}

/// A throwaway custom resource for the CRD test.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "e2e.descheduler.dev",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus"
)]
pub struct WidgetSpec {
    pub size: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetStatus {
    pub phase: String,
    pub observed_size: i32,
}

#[tokio::test]
async fn custom_resource_status_subresource_can_be_patched() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "crd").await;

    // Apply (idempotently: other runs may share the cluster) and wait until
    // the CRD is established.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = Widget::crd();
    let crd_name = crd.metadata.name.clone().expect("crd name");
    crds.patch(
        &crd_name,
        &PatchParams::apply("descheduler-e2e").force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("apply Widget CRD");
    wait_for(
        WAIT,
        format!("CRD {crd_name} to be Established"),
        || async {
            let crd = crds.get(&crd_name).await.map_err(state)?;
            let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
            if conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
            {
                Ok(())
            } else {
                Err(format!("{conditions:?}"))
            }
        },
    )
    .await;

    // Create a Widget; retry while the new API is not yet served.
    let widgets: Api<Widget> = ns.api();
    let widget = Widget::new("w1", WidgetSpec { size: 3 });
    let created = wait_for(WAIT, "creating Widget w1", || async {
        widgets
            .create(&PostParams::default(), &widget)
            .await
            .map_err(state)
    })
    .await;
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(created.status, None);

    // Patch the status subresource.
    let patched = widgets
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Ready", "observedSize": 3}})),
        )
        .await
        .expect("patch Widget status");
    let expected_status = WidgetStatus {
        phase: "Ready".into(),
        observed_size: 3,
    };
    assert_eq!(patched.status.as_ref(), Some(&expected_status));
    assert_eq!(patched.spec, WidgetSpec { size: 3 });
    assert_eq!(patched.metadata.generation, Some(1), "status is not spec");

    // Through the main resource, status changes are ignored and spec changes
    // bump the generation: status really is a subresource.
    let updated = widgets
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 5}, "status": {"phase": "Bogus"}})),
        )
        .await
        .expect("patch Widget spec");
    assert_eq!(updated.spec, WidgetSpec { size: 5 });
    assert_eq!(updated.metadata.generation, Some(2));
    assert_eq!(updated.status.as_ref(), Some(&expected_status));

    let read = widgets.get("w1").await.expect("get Widget");
    assert_eq!(read.status, Some(expected_status));
}
