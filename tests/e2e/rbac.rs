//! The chart's RBAC is enough: the chart is rendered and applied to the local
//! control plane, the operator (`descheduler run`, this crate's binary) runs
//! out-of-cluster with a kubeconfig holding a token of the chart's
//! ServiceAccount (from the TokenRequest API), with leader election on, and
//! a RemovePodsViolatingNodeTaints scenario must evict the one violating pod
//! (`status.lastRun.evicted == 1`) under that identity, take its Lease, and
//! log no `forbidden` error.
//!
//! The operator only reconciles this test's policy (`--policy-label-selector`),
//! and the policy selects only this test's nodes and namespace.

use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, ServiceAccount, Taint};
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::chart::{
    TempDir, apply_crd, delete_cluster_rbac, kubectl, of_kind, render, to_yaml_stream,
};
use crate::flux::{Process, free_port};
use crate::support::{
    DeploymentOpts, TestNamespace, client, create_deployment, kubeconfig_path, labels, state,
    token_kubeconfig, unique_suffix, wait_deployment_running, wait_for,
};

/// Label of this test's policy, matched by the operator's --policy-label-selector.
const OPERATOR_LABEL: &str = "e2e.descheduler.dev/operator";

async fn http_status(port: u16, path: &str) -> Result<u16, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(state)?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .map_err(state)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.map_err(state)?;
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad response: {text}"))
}

#[tokio::test]
async fn operator_evicts_as_the_chart_service_account() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "rbac").await;
    apply_crd().await;

    // The chart's ServiceAccount and RBAC, applied for real; no Deployment
    // replica (the operator runs here, out-of-cluster) and no chart policy.
    let release = format!("r{}", unique_suffix());
    let fullname = format!("{release}-descheduler");
    let docs = render(
        &release,
        ns.name(),
        &["--set", "replicaCount=0", "--set", "policies=null"],
    )
    .await;
    assert!(of_kind(&docs, "DeschedulerPolicy").is_empty());
    let all: Vec<&Value> = docs.iter().collect();
    kubectl(&["apply", "-f", "-"], Some(&to_yaml_stream(&all))).await;
    let _rbac_cleanup = ClusterRbacCleanup(fullname.clone());

    // Two nodes; one pod of a Deployment on them.
    let n0 = ns
        .create_kwok_node("n0", "2", "4Gi", 20, &labels(&[]), &[])
        .await;
    let n1 = ns
        .create_kwok_node("n1", "2", "4Gi", 20, &labels(&[]), &[])
        .await;
    let opts = DeploymentOpts {
        node_selector: ns.pool_selector(),
        ..Default::default()
    };
    create_deployment(&client, ns.name(), "victim", &opts).await;
    let before = wait_deployment_running(&client, ns.name(), "victim", 1).await;
    let victim = before[0].clone();
    let victim_node = victim.node.clone().expect("bound");
    let other = [&n0, &n1]
        .iter()
        .map(|n| n.metadata.name.clone().expect("name"))
        .find(|n| *n != victim_node)
        .expect("another node");

    // Taint the victim's node NoSchedule: the pod no longer tolerates it.
    let nodes: Api<Node> = Api::all(client.clone());
    let taint = Taint {
        key: "e2e.descheduler.dev/rbac".into(),
        value: Some("x".into()),
        effect: "NoSchedule".into(),
        ..Default::default()
    };
    nodes
        .patch(
            &victim_node,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"taints": [taint]}})),
        )
        .await
        .expect("taint node");

    // A token of the chart's ServiceAccount, in a kubeconfig of its own.
    let sas: Api<ServiceAccount> = ns.api();
    let tr = sas
        .create_token_request(
            &fullname,
            &PostParams::default(),
            &TokenRequest {
                spec: Some(TokenRequestSpec {
                    expiration_seconds: Some(3600),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .expect("TokenRequest for the chart's ServiceAccount");
    let token = tr.status.and_then(|s| s.token).expect("a token");
    let work = TempDir::new("rbac");
    let kubeconfig = work.path().join("kubeconfig");
    std::fs::write(&kubeconfig, token_kubeconfig(&token)).expect("write kubeconfig");
    // The token is the ServiceAccount, and it may evict but not, e.g., delete nodes.
    let whoami = kubectl(
        &[
            "--kubeconfig",
            kubeconfig.to_str().expect("utf-8"),
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
        None,
    )
    .await;
    assert_eq!(
        whoami,
        format!("system:serviceaccount:{}:{fullname}", ns.name())
    );
    // `kubectl auth can-i VERB RESOURCE [--subresource=S] -A` as the ServiceAccount.
    let can = |query: &'static [&'static str]| {
        let kubeconfig = kubeconfig.clone();
        async move {
            let mut args = vec![
                "--kubeconfig",
                kubeconfig.to_str().expect("utf-8"),
                "auth",
                "can-i",
                "-A",
            ];
            args.extend_from_slice(query);
            let (_, out, _) = crate::chart::run_raw(
                &crate::chart::tool("kubectl"),
                &args,
                &crate::chart::repo_root(),
                None,
                Duration::from_secs(30),
            )
            .await;
            out.trim().to_string()
        }
    };
    assert_eq!(
        can(&["create", "pods", "--subresource=eviction"]).await,
        "yes"
    );
    assert_eq!(can(&["delete", "pods"]).await, "no");
    assert_eq!(can(&["delete", "nodes"]).await, "no");
    assert_eq!(
        can(&["create", "deschedulerpolicies.descheduler.dev"]).await,
        "no"
    );

    // The operator, as that ServiceAccount, with leader election in the test namespace.
    let metrics_port = free_port();
    let operator = Process::start(
        "descheduler run",
        std::path::Path::new(env!("CARGO_BIN_EXE_descheduler")),
        &[
            "run".into(),
            format!("--metrics-bind-address=127.0.0.1:{metrics_port}"),
            "--leader-elect".into(),
            format!("--leader-elect-namespace={}", ns.name()),
            format!("--leader-elect-lease-name={fullname}"),
            format!("--identity=e2e-{release}"),
            "--max-evictions-per-minute=0".into(),
            "--log-format=text".into(),
            // Only this test's policy: other tests' operators and policies
            // share the cluster.
            format!("--policy-label-selector={OPERATOR_LABEL}={release}"),
        ],
        &[
            ("KUBECONFIG", kubeconfig.display().to_string()),
            ("RUST_LOG", "info".to_string()),
        ],
        work.path().join("operator.log"),
    );
    wait_for(
        Duration::from_secs(60),
        "the operator's /readyz",
        || async {
            operator.alive()?;
            match http_status(metrics_port, "/readyz").await? {
                200 => Ok(()),
                code => Err(format!("HTTP {code}")),
            }
        },
    )
    .await;

    // The policy: taint violations among this test's pods on this test's nodes.
    let policy_name = format!("e2e-rbac-{}", unique_suffix());
    let gvk = GroupVersionKind::gvk("descheduler.dev", "v1alpha1", "DeschedulerPolicy");
    let policies: Api<DynamicObject> = Api::all_with(client.clone(), &ApiResource::from_gvk(&gvk));
    let policy: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "descheduler.dev/v1alpha1",
        "kind": "DeschedulerPolicy",
        "metadata": {"name": policy_name, "labels": {OPERATOR_LABEL: release}},
        "spec": {
            "interval": "10m",
            "nodeSelector": format!("{}={}", crate::support::POOL_LABEL, ns.name()),
            // Its one pod is its Deployment's only replica.
            "singleReplicaStrategy": "Evict",
            "strategies": {
                "RemovePodsViolatingNodeTaints": {
                    "params": {"namespaces": {"include": [ns.name()]}}
                }
            }
        }
    }))
    .expect("policy object");
    policies
        .create(&PostParams::default(), &policy)
        .await
        .expect("create policy");
    let _policy_cleanup = PolicyCleanup(policy_name.clone());

    let last_run = wait_for(
        Duration::from_secs(90),
        format!("policy {policy_name}: lastRun.evicted == 1"),
        || async {
            operator.alive()?;
            let p = serde_json::to_value(policies.get(&policy_name).await.map_err(state)?)
                .map_err(state)?;
            let last = &p["status"]["lastRun"];
            if last["evicted"] == json!(1) {
                Ok(last.clone())
            } else {
                Err(format!("status: {}", p["status"]))
            }
        },
    )
    .await;
    assert_eq!(last_run["mode"], "Evict", "{last_run}");

    // The victim is gone; its replacement runs on the untainted node.
    let after = wait_deployment_running(&client, ns.name(), "victim", 1).await;
    assert_ne!(after[0].uid, victim.uid, "the violating pod was evicted");
    assert_eq!(after[0].node.as_deref(), Some(other.as_str()));

    // The Lease in the release namespace is held by this operator.
    let leases: Api<Lease> = ns.api();
    let lease = leases.get(&fullname).await.expect("the operator's Lease");
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity),
        Some(format!("e2e-{release}"))
    );

    let log = std::fs::read_to_string(&operator.log).unwrap_or_default();
    assert!(
        !log.to_lowercase().contains("forbidden"),
        "the operator was denied something as the chart's ServiceAccount:\n{}",
        operator.tail(80)
    );
}

struct ClusterRbacCleanup(String);

impl Drop for ClusterRbacCleanup {
    fn drop(&mut self) {
        let name = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(delete_cluster_rbac(&name));
            }
        })
        .join();
    }
}

/// Deletes the policy with kubectl (a fresh process: the test's client may
/// not be usable while its runtime is shutting down).
struct PolicyCleanup(String);

impl Drop for PolicyCleanup {
    fn drop(&mut self) {
        let _ = std::process::Command::new(crate::chart::repo_root().join(".cache/bin/kubectl"))
            .args(["delete", "deschedulerpolicy", &self.0, "--ignore-not-found"])
            .env("KUBECONFIG", kubeconfig_path())
            .status();
    }
}
