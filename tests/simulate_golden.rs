//! Golden tests of `descheduler simulate`: every sample policy against the
//! shipped example cluster, as a table and as JSON, and every kind of bad input.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test --test simulate_golden`.

// Test and tool code may panic on what it built itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NOW: &str = "2026-11-23T12:00:00Z";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn simulate(policy: &Path, cluster: &Path, output: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_descheduler"))
        .args(["simulate", "--now", NOW, "--output", output, "--policy"])
        .arg(policy)
        .arg("--cluster")
        .arg(cluster)
        // Read only by the policies that balance by measured usage.
        .arg("--metrics")
        .arg(root().join("examples/metrics.json"))
        .current_dir(root())
        .output()
        .expect("the descheduler binary runs")
}

fn check_golden(name: &str, actual: &str) {
    let path = root().join("tests/fixtures/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(actual, expected, "output differs from {}", path.display());
}

fn samples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("config/samples"))
        .expect("config/samples exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_sample_matches_its_golden_table_and_json() {
    let cluster = root().join("examples/cluster.yaml");
    let samples = samples();
    assert!(
        samples.len() >= 11,
        "one sample per strategy plus default.yaml"
    );
    for policy in samples {
        let stem = policy
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name")
            .to_string();
        let table = simulate(&policy, &cluster, "table");
        assert!(
            table.status.success(),
            "{stem}: {}",
            String::from_utf8_lossy(&table.stderr)
        );
        check_golden(
            &format!("{stem}.txt"),
            &String::from_utf8_lossy(&table.stdout),
        );

        let json = simulate(&policy, &cluster, "json");
        assert!(
            json.status.success(),
            "{stem}: {}",
            String::from_utf8_lossy(&json.stderr)
        );
        let stdout = String::from_utf8_lossy(&json.stdout);
        let parsed: serde_json::Value =
            serde_json::from_str(&stdout).expect("--output json prints only JSON");
        for key in ["evictions", "blocked", "strategies", "nodes"] {
            assert!(parsed.get(key).is_some(), "{stem}: JSON lacks {key}");
        }
        check_golden(&format!("{stem}.json"), &stdout);
    }
}

#[test]
fn each_sample_evicts_what_it_is_meant_to_show() {
    let cluster = root().join("examples/cluster.yaml");
    let expectations: &[(&str, &[&str])] = &[
        (
            "remove-failed-pods",
            &["batch/report-28391-xk2lp", "batch/import-28390-b7c4d"],
        ),
        ("pod-life-time", &["shop/cache-warmer-6e5d4-t3y4u"]),
        ("too-many-restarts", &["shop/payments-2a1b0-v5n6m"]),
        ("node-taints", &["shop/worker-9b8a7-q1w2e"]),
        ("node-affinity", &["shop/search-4c3b2-z9x8c"]),
        ("inter-pod-anti-affinity", &["shop/api-5f6b7-c4d8e"]),
        (
            "remove-duplicates",
            &[
                "shop/api-5f6b7-c4d8e",
                "shop/frontend-8d7c6-a1b2c",
                "shop/web-7c9d8-k2xq",
                "shop/web-7c9d8-m8zt",
            ],
        ),
        ("topology-spread", &["shop/frontend-8d7c6-a1b2c"]),
        (
            "low-node-utilization",
            &["shop/api-5f6b7-c4d8e", "shop/frontend-8d7c6-a1b2c"],
        ),
        ("high-node-utilization", &["shop/notifier-7a8b9-e1r2t"]),
        (
            "default",
            &["shop/search-4c3b2-z9x8c", "shop/api-5f6b7-c4d8e"],
        ),
    ];
    for (sample, want) in expectations {
        let out = simulate(
            &root().join(format!("config/samples/{sample}.yaml")),
            &cluster,
            "json",
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
        let mut got: Vec<String> = json["evictions"]
            .as_array()
            .expect("evictions is a list")
            .iter()
            .map(|e| {
                format!(
                    "{}/{}",
                    e["namespace"].as_str().unwrap_or(""),
                    e["name"].as_str().unwrap_or("")
                )
            })
            .collect();
        got.sort();
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "{sample}");
    }
}

#[test]
fn bad_input_fails_with_a_clear_message_and_exit_code_2() {
    let good_policy = root().join("config/samples/default.yaml");
    let cluster = root().join("examples/cluster.yaml");
    let bad = |f: &str| root().join("tests/fixtures/bad").join(f);
    let cases: Vec<(&str, PathBuf, PathBuf, &[&str])> = vec![
        (
            "missing-file",
            bad("does-not-exist.yaml"),
            cluster.clone(),
            &["does-not-exist.yaml: cannot read"],
        ),
        (
            "malformed-policy",
            bad("malformed-policy.yaml"),
            cluster.clone(),
            &["malformed-policy.yaml:5:1: malformed YAML"],
        ),
        (
            "malformed-cluster",
            good_policy.clone(),
            bad("malformed-cluster.yaml"),
            &["malformed-cluster.yaml:3:1: malformed YAML"],
        ),
        (
            "wrong-kind-policy",
            bad("wrong-kind-policy.yaml"),
            cluster.clone(),
            &["kind: expected DeschedulerPolicy"],
        ),
        (
            "wrong-type-cluster",
            good_policy.clone(),
            bad("wrong-type-cluster.yaml"),
            &["document 2 (Node n): spec.unschedulable: invalid type"],
        ),
        (
            "unknown-fields",
            bad("unknown-fields.yaml"),
            cluster.clone(),
            &[
                "spec.intervall: unknown field",
                "states[0]: unknown variant `Sleeping`",
            ],
        ),
        (
            "invalid-policy",
            bad("invalid-policy.yaml"),
            cluster.clone(),
            &[
                "spec.interval: 5s is shorter than the minimum of 10s",
                "spec.nodeSelector: cannot parse",
                "spec.strategies.PodLifeTime.params.podLifeTime: needs at least one of maxPodLifeTimeSeconds, states, conditions and exitCodes",
                "spec.strategies.LowNodeUtilization.params.namespaces: include and exclude are mutually exclusive",
                "spec.strategies.LowNodeUtilization.params.nodeResourceUtilizationThresholds.thresholds.cpu: 120 is outside 0..100",
            ],
        ),
    ];
    for (name, policy, cluster, needles) in cases {
        let out = simulate(&policy, &cluster, "json");
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(out.stdout.is_empty(), "{name}: nothing on stdout");
        let stderr = String::from_utf8_lossy(&out.stderr);
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "{name}: stderr lacks {needle:?}:\n{stderr}"
            );
        }
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

#[test]
fn other_kinds_in_the_dump_are_ignored_with_a_warning() {
    let out = simulate(
        &root().join("config/samples/default.yaml"),
        &root().join("tests/fixtures/bad/wrong-kind-policy.yaml"),
        "table",
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ignored 1 object(s) of kind ConfigMap"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Run skipped: 0 Ready node(s)"));
}

#[test]
fn a_policy_by_usage_without_metrics_fails_that_strategy_and_says_how_to_provide_them() {
    let out = Command::new(env!("CARGO_BIN_EXE_descheduler"))
        .args(["simulate", "--now", NOW, "--output", "json", "--policy"])
        .arg(root().join("config/samples/low-node-utilization-by-usage.yaml"))
        .arg("--cluster")
        .arg(root().join("examples/cluster.yaml"))
        .output()
        .expect("the descheduler binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let lnu = &v["strategies"]["LowNodeUtilization"];
    assert_eq!(lnu["evicted"], 0);
    assert!(
        lnu["error"]
            .as_str()
            .is_some_and(|e| e.contains("--metrics")),
        "{lnu}"
    );
    assert!(v["nodes"][0].get("usage").is_none());

    // A metrics file that is not one: exit 2, with the path.
    let out = Command::new(env!("CARGO_BIN_EXE_descheduler"))
        .args(["simulate", "--now", NOW, "--policy"])
        .arg(root().join("config/samples/low-node-utilization-by-usage.yaml"))
        .arg("--cluster")
        .arg(root().join("examples/cluster.yaml"))
        .arg("--metrics")
        .arg(root().join("examples/cluster.yaml"))
        .output()
        .expect("the descheduler binary runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("examples/cluster.yaml") && err.contains("NodeMetricsList"),
        "{err}"
    );
}
