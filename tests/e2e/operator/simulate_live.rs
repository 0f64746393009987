//! `simulate` against the live cluster (SPEC §14) prints the same plan as
//! `simulate` on a kubectl dump of the same cluster, with the policy from a
//! file or from the cluster (`--policy-name`).

use serde_json::{Value, json};

use super::{Scenario, tainted_node_setup};
use crate::chart::{TempDir, kubectl};
use crate::support::kubeconfig_path;

const TAINTS: &str = "RemovePodsViolatingNodeTaints";
const NOW: &str = "2026-12-02T12:00:00Z";

async fn simulate(args: &[&str]) -> Value {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_descheduler"))
        .arg("simulate")
        .args(args)
        .args(["--now", NOW, "--output", "json"])
        .env_remove("KUBECONFIG")
        .output()
        .await
        .expect("run descheduler simulate");
    assert!(
        out.status.success(),
        "simulate {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("simulate prints JSON")
}

/// The parts of a plan that depend only on this test's nodes and pods
/// (other tests change the rest of the cluster concurrently).
fn own(plan: &Value, nodes: &[String]) -> Value {
    let mut plan = plan.clone();
    if let Some(list) = plan.get_mut("nodes").and_then(Value::as_array_mut) {
        list.retain(|n| nodes.iter().any(|ours| n["name"] == ours.as_str()));
    }
    plan
}

#[tokio::test]
async fn live_simulate_prints_the_same_plan_as_a_dump() {
    let s = Scenario::new("sim-live").await;
    let (nodes, _) = tainted_node_setup(&s, &[("web", 3), ("api", 2)]).await;
    let policy = s
        .create_policy(
            "live",
            json!({"interval": "1h", "dryRun": true, "strategies": {TAINTS: {}}}),
        )
        .await;
    let name = policy.metadata.name.clone().expect("policy name");
    let dir = TempDir::new("sim-live");
    let policy_file = dir.path().join("policy.yaml");
    let manifest = json!({
        "apiVersion": "descheduler.dev/v1alpha1",
        "kind": "DeschedulerPolicy",
        "metadata": {"name": name},
        "spec": policy.spec,
    });
    std::fs::write(
        &policy_file,
        serde_json::to_string(&manifest).expect("json"),
    )
    .expect("write policy");
    let kubeconfig = kubeconfig_path();
    let kc = kubeconfig.to_str().expect("utf-8");
    let pf = policy_file.to_str().expect("utf-8");

    let live = simulate(&["--policy", pf, "--kubeconfig", kc]).await;
    let by_name = simulate(&["--policy-name", &name, "--kubeconfig", kc]).await;
    let dump = kubectl(
        &[
            "get",
            "nodes,pods,poddisruptionbudgets,priorityclasses,namespaces",
            "-A",
            "-o",
            "yaml",
        ],
        None,
    )
    .await;
    let dump_file = dir.path().join("cluster.yaml");
    std::fs::write(&dump_file, dump).expect("write dump");
    let offline = simulate(&[
        "--policy",
        pf,
        "--cluster",
        dump_file.to_str().expect("utf-8"),
    ])
    .await;

    let evictions = live["evictions"].as_array().map_or(0, Vec::len);
    assert_eq!(evictions, 5, "every pod on the tainted node: {live:#}");
    assert_eq!(own(&live, &nodes), own(&offline, &nodes), "live vs dump");
    assert_eq!(
        own(&by_name, &nodes),
        own(&offline, &nodes),
        "--policy-name vs dump"
    );
}
