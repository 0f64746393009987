//! Balancing by real usage (SPEC §13) against a real metrics-server and a
//! real Prometheus, both scraping the usage kwok emulates (pod annotation
//! `kwok.x-k8s.io/usage-cpu`). Needs a cluster started with metrics
//! (`make e2e-metrics`, or `WITH_METRICS=1 make cluster-up`); on a cluster
//! without them every test here prints why and passes without checking
//! anything, so the plain suite stays fast.
//!
//! The tests share the one metrics-server (one of them stops it), so they
//! run one at a time ([`LOCK`]).
//!
//! The nodes: two kwok nodes of 4 CPU with equal requests (25% each); on the
//! hot one a pod uses 3 CPU while requesting 500m. By requests nothing is
//! over or under; by usage the hot node is at ~88% and the other at ~3%.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use descheduler::api::{LastRun, NodeUsage, StrategyCounts};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use serde_json::{Value, json};

use super::{Operator, Scenario, http_get};
use crate::support::{self, PodPlacement, WAIT, labels, state, wait_for};

static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const LOW: &str = "LowNodeUtilization";
const HIGH: &str = "HighNodeUtilization";
/// metrics-server reports a new pod about 20-25 s after it starts (two
/// scrapes 10 s apart); Prometheus' irate needs two 5 s scrapes.
const METRICS_WAIT: Duration = Duration::from_secs(90);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `.cache/cluster/env` as a map.
fn cluster_env() -> BTreeMap<String, String> {
    std::fs::read_to_string(root().join(".cache/cluster/env"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Whether the cluster runs metrics-server and Prometheus; says so when not.
fn metrics_available(test: &str) -> bool {
    let on = cluster_env().get("WITH_METRICS").is_some_and(|v| v == "1");
    if !on {
        eprintln!(
            "SKIPPED {test}: the cluster runs without metrics-server and Prometheus \
             (.cache/cluster/env has no WITH_METRICS=1); run `make e2e-metrics`"
        );
    }
    on
}

fn metrics_server(action: &str) {
    let status = std::process::Command::new(root().join("tests/e2e/cluster/metrics-server.sh"))
        .arg(action)
        .status()
        .expect("metrics-server.sh runs");
    assert!(status.success(), "metrics-server.sh {action}: {status}");
}

/// Millicores and bytes of a metrics.k8s.io usage map.
fn usage_of(v: &Value) -> (i64, i64) {
    let q = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(|s| {
                let r = descheduler::snapshot::resources::parse_quantity_milli(s).unwrap_or(0);
                if k == "cpu" {
                    r as i64
                } else {
                    (r / 1000) as i64
                }
            })
            .unwrap_or(0)
    };
    (q("cpu"), q("memory"))
}

async fn raw(client: &Client, path: &str) -> Result<Value, String> {
    let req = http::Request::get(path).body(Vec::new()).map_err(state)?;
    client.request::<Value>(req).await.map_err(state)
}

/// Waits until metrics.k8s.io reports `node` at >= `min_cpu` millicores and
/// has PodMetrics for every pod in `pods` (namespace `ns`).
async fn wait_node_metrics(client: &Client, node: &str, min_cpu: i64, ns: &str, pods: &[String]) {
    wait_for(
        METRICS_WAIT,
        format!("metrics.k8s.io to report {node} at >= {min_cpu}m and {pods:?}"),
        || async {
            let n = raw(
                client,
                &format!("/apis/metrics.k8s.io/v1beta1/nodes/{node}"),
            )
            .await?;
            let (cpu, _) = usage_of(&n["usage"]);
            if cpu < min_cpu {
                return Err(format!("{node} at {cpu}m"));
            }
            let list = raw(
                client,
                &format!("/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods"),
            )
            .await?;
            let have: Vec<String> = list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_string))
                .collect();
            match pods.iter().find(|p| !have.contains(p)) {
                Some(missing) => Err(format!("no PodMetrics for {missing} yet ({have:?})")),
                None => Ok(()),
            }
        },
    )
    .await;
}

/// `kubectl top nodes` as (cpu millicores, memory MiB) per node.
fn kubectl_top() -> BTreeMap<String, (i64, i64)> {
    let out = std::process::Command::new(root().join(".cache/bin/kubectl"))
        .arg("--kubeconfig")
        .arg(support::kubeconfig_path())
        .args(["top", "nodes", "--no-headers"])
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl top nodes: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let cpu = f.get(1)?.strip_suffix('m')?.parse().ok()?;
            let mem = f.get(3)?.strip_suffix("Mi")?.parse().ok()?;
            Some((f.first()?.to_string(), (cpu, mem)))
        })
        .collect()
}

fn millis(s: &Option<String>) -> i64 {
    s.as_deref()
        .and_then(|s| s.strip_suffix('m'))
        .and_then(|s| s.parse().ok())
        .unwrap_or(-1)
}

fn mebis(s: &Option<String>) -> i64 {
    s.as_deref()
        .and_then(|s| s.strip_suffix("Mi"))
        .and_then(|s| s.parse().ok())
        .unwrap_or(-1)
}

fn counts<'a>(run: &'a LastRun, strategy: &str) -> &'a StrategyCounts {
    run.strategies
        .iter()
        .find(|c| c.name == strategy)
        .unwrap_or_else(|| panic!("no {strategy} in {run:?}"))
}

fn usage_of_node<'a>(c: &'a StrategyCounts, node: &str) -> &'a NodeUsage {
    c.node_usage
        .iter()
        .find(|u| u.node == node)
        .unwrap_or_else(|| panic!("no usage for {node} in {c:?}"))
}

/// A Deployment of one pod requesting `cpu`, using `usage` CPU (kwok's
/// emulation), on the test's nodes (on `node` only, when given).
fn workload(s: &Scenario, name: &str, cpu: &str, usage: &str, node: Option<&str>) -> Deployment {
    let mut opts = s.opts(1, cpu);
    opts.memory = "256Mi".into();
    if let Some(n) = node {
        opts.node_selector
            .insert("kubernetes.io/hostname".into(), n.into());
    }
    let mut d = support::deployment(name, &opts);
    if let Some(meta) = d.spec.as_mut().and_then(|s| s.template.metadata.as_mut()) {
        meta.annotations = Some(labels(&[("kwok.x-k8s.io/usage-cpu", usage)]));
    }
    d
}

struct Hot {
    s: Scenario,
    hot: String,
    cold: String,
    /// The pod that uses 3 CPU on the hot node.
    hog: PodPlacement,
}

/// Two 4-CPU nodes at 25% requests each: on `hot`, `a-hog` (500m, using 3
/// CPU) and `filler` (500m, using 500m); on `cold`, `calm` (1 CPU, using
/// 100m). Returns once metrics.k8s.io reports it all.
async fn hot_and_cold(prefix: &str) -> Hot {
    let s = Scenario::new(prefix).await;
    let mut names = Vec::new();
    for n in ["hot", "cold"] {
        let node =
            s.ns.create_kwok_node(n, "4", "8Gi", 20, &labels(&[]), &[])
                .await;
        names.push(node.metadata.name.expect("node name"));
    }
    let (hot, cold) = (names[0].clone(), names[1].clone());
    s.cordon(&cold, true).await;
    let hog = s.deploy(workload(&s, "a-hog", "500m", "3", None), 1).await;
    s.deploy(workload(&s, "filler", "500m", "500m", None), 1)
        .await;
    s.cordon(&cold, false).await;
    s.deploy(workload(&s, "calm", "1", "100m", Some(&cold)), 1)
        .await;
    let pods: Vec<String> = s.all_pods().await.into_iter().map(|p| p.name).collect();
    wait_node_metrics(&s.client, &hot, 3400, s.name(), &pods).await;
    let hog = hog.into_iter().next().expect("the hog pod");
    assert_eq!(hog.node.as_deref(), Some(hot.as_str()));
    Hot { s, hot, cold, hog }
}

fn lnu(metrics: Option<Value>) -> Value {
    let mut t = json!({"thresholds": {"cpu": 20}, "targetThresholds": {"cpu": 50}});
    if let Some(m) = metrics {
        t["metricsUtilization"] = m;
    }
    if t["metricsUtilization"]["source"] == "Prometheus" {
        t["thresholds"] = json!({"MetricResource": 20});
        t["targetThresholds"] = json!({"MetricResource": 50});
    }
    json!({"interval": "1h", "strategies": {LOW: {"params": {"nodeResourceUtilizationThresholds": t}}}})
}

/// `descheduler simulate --output json` of a policy with `spec` (scoped to
/// the test's nodes and namespace) against the live cluster.
async fn simulate_live(s: &Scenario, mut spec: Value) -> Value {
    spec["nodeSelector"] = json!(format!("{}={}", support::POOL_LABEL, s.name()));
    // As Scenario::create_policy: every candidate here is a single replica.
    spec["singleReplicaStrategy"] = json!("Evict");
    for st in spec["strategies"]
        .as_object_mut()
        .into_iter()
        .flat_map(|m| m.values_mut())
    {
        st["params"]["namespaces"] = json!({"include": [s.name()]});
    }
    let manifest = json!({
        "apiVersion": "descheduler.dev/v1alpha1",
        "kind": "DeschedulerPolicy",
        "metadata": {"name": "simulated"},
        "spec": spec,
    });
    let dir = root().join(".cache/e2e-logs");
    std::fs::create_dir_all(&dir).expect("create .cache/e2e-logs");
    let file = dir.join(format!("{}-policy.json", s.name()));
    std::fs::write(&file, manifest.to_string()).expect("write the policy");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_descheduler"))
        .arg("simulate")
        .arg("--policy")
        .arg(&file)
        .arg("--kubeconfig")
        .arg(support::kubeconfig_path())
        .args(["--output", "json"])
        .output()
        .await
        .expect("run descheduler simulate");
    assert!(
        out.status.success(),
        "simulate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("simulate prints JSON")
}

#[tokio::test]
async fn kubernetes_metrics_drain_the_hot_node_and_status_agrees_with_kubectl_top() {
    if !metrics_available("kubernetes_metrics_drain_the_hot_node") {
        return;
    }
    let _serial = LOCK.lock().await;
    let h = hot_and_cold("op-usage").await;
    let s = &h.s;
    let _op = Operator::start(&s.ns, "op", &[]).await;

    // By requests both nodes are at 25%: nothing to do.
    let by_requests = s.policy_name("requests");
    s.create_policy("requests", lnu(None)).await;
    let (_, run) = s.wait_run(&by_requests, None, WAIT).await;
    let c = counts(&run, LOW);
    assert_eq!((c.evicted, c.error.as_deref()), (0, None), "{run:?}");
    assert!(c.node_usage.is_empty() && c.usage_source.is_none(), "{c:?}");

    // simulate against the live cluster reads metrics.k8s.io too, and plans
    // what the operator is about to do.
    let plan = simulate_live(s, lnu(Some(json!({"source": "KubernetesMetrics"})))).await;
    let evicted: Vec<&str> = plan["evictions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(evicted, [h.hog.name.as_str()], "{plan}");
    let hot_entry = plan["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["name"] == h.hot.as_str())
        .cloned()
        .unwrap_or_default();
    assert!(
        hot_entry["usage"]["cpu"].as_f64().unwrap_or(0.0) > 80.0
            && hot_entry["before"]["cpu"].as_f64() == Some(25.0),
        "usage next to requests: {hot_entry}"
    );

    // By usage the hot node is overutilized: the hog goes, and that is enough.
    let before = s.all_pods().await;
    let by_usage = s.policy_name("usage");
    s.create_policy("usage", lnu(Some(json!({"source": "KubernetesMetrics"}))))
        .await;
    let (_, run) = s.wait_run(&by_usage, None, WAIT).await;
    let top = kubectl_top();
    let c = counts(&run, LOW);
    assert_eq!(c.error, None, "{run:?}");
    assert_eq!(c.evicted, 1, "{run:?}");
    assert_eq!(s.gone(&before).await, [h.hog.name.clone()].into());
    assert_eq!(c.usage_source.as_deref(), Some("KubernetesMetrics"));
    let hot = usage_of_node(c, &h.hot);
    let cold = usage_of_node(c, &h.cold);
    assert_eq!(
        (hot.class.as_str(), cold.class.as_str()),
        ("Overutilized", "Underutilized")
    );
    // What the operator used is what kubectl top shows (the same
    // metrics-server; the collector's first sample is taken as it is, and
    // kwok's usage is constant, so only a scrape's jitter may differ).
    for (name, u) in [(&h.hot, hot), (&h.cold, cold)] {
        let (cpu, mem) = top[name.as_str()];
        assert!(
            (millis(&u.cpu) - cpu).abs() <= 50,
            "{name}: status {:?}, kubectl top {cpu}m",
            u.cpu
        );
        assert!(
            (mebis(&u.memory) - mem).abs() <= mem / 20 + 2,
            "{name}: status {:?}, kubectl top {mem}Mi",
            u.memory
        );
    }
    assert!(
        hot.percent["cpu"] > 80.0 && cold.percent["cpu"] < 10.0,
        "{c:?}"
    );
}

#[tokio::test]
async fn a_metrics_outage_fails_the_strategy_for_the_run_and_the_next_run_recovers() {
    if !metrics_available("a_metrics_outage_fails_the_strategy") {
        return;
    }
    let _serial = LOCK.lock().await;
    let h = hot_and_cold("op-outage").await;
    let s = &h.s;
    let op = Operator::start(&s.ns, "op", &[]).await;
    // A dry run keeps the situation as it is from run to run.
    let mut spec = lnu(Some(json!({"source": "KubernetesMetrics"})));
    spec["dryRun"] = json!(true);
    let name = s.policy_name("usage");
    s.create_policy("usage", spec).await;
    let (_, run) = s.wait_run(&name, None, WAIT).await;
    assert_eq!(counts(&run, LOW).would_evict, 1, "{run:?}");

    metrics_server("stop");
    // The collector notices at its next poll (every 5 s): ask for runs until
    // one reports the outage.
    let failed = run_until(s, &name, "down", |c| c.error.is_some()).await;
    metrics_server("start");
    let c = counts(&failed, LOW);
    let error = c.error.clone().unwrap_or_default();
    assert!(
        error.contains("metrics.k8s.io"),
        "the run names the failed source: {failed:?}"
    );
    assert_eq!((c.would_evict, c.evicted), (0, 0), "{failed:?}");
    assert_eq!(
        failed.result.map(|r| r.as_str()),
        Some("Partial"),
        "{failed:?}"
    );
    assert!(
        failed.message.as_deref().unwrap_or_default().contains(LOW),
        "{failed:?}"
    );
    let failures = op
        .metric_sum("descheduler_strategy_failures_total", &[("strategy", LOW)])
        .await;
    assert!(
        failures >= 1.0,
        "descheduler_strategy_failures_total: {failures}"
    );

    // Back up: the next run that sees metrics plans again.
    wait_node_metrics(&s.client, &h.hot, 3400, s.name(), &[]).await;
    let recovered = run_until(s, &name, "up", |c| c.error.is_none()).await;
    let c = counts(&recovered, LOW);
    assert_eq!(
        (c.error.as_deref(), c.would_evict),
        (None, 1),
        "{recovered:?}"
    );
    assert_eq!(recovered.result.map(|r| r.as_str()), Some("Succeeded"));
}

/// Triggers runs (run-now `<tag>-<i>`), polling about once a second, until
/// one whose LowNodeUtilization counts satisfy `done`; returns that run.
async fn run_until(
    s: &Scenario,
    name: &str,
    tag: &str,
    done: impl Fn(&StrategyCounts) -> bool,
) -> LastRun {
    let deadline = std::time::Instant::now() + METRICS_WAIT;
    let mut i = 0;
    loop {
        i += 1;
        let want = format!("{tag}-{i}");
        s.run_now(name, &want).await;
        let (_, run) = s
            .wait_run_where(name, WAIT, |r| r.trigger.as_deref() == Some(&want))
            .await;
        if done(counts(&run, LOW)) {
            return run;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no run of {name} as wanted within {METRICS_WAIT:?}; the last: {run:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One sample per node: the CPU used over the last scrapes / allocatable.
const PROM_QUERY: &str = "sum by (instance) (irate(node_cpu_usage_seconds_total{job=\"kwok-nodes\"}[30s])) / on (instance) sum by (instance) (kube_node_status_allocatable{job=\"kwok-nodes\", resource=\"cpu\"})";

/// Waits until Prometheus' answer to [`PROM_QUERY`] has `node` at >= `min`.
async fn wait_prometheus(url: &str, node: &str, min: f64) {
    let addr: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("PROMETHEUS_URL is http://127.0.0.1:<port>");
    let mut q = String::new();
    for b in PROM_QUERY.bytes() {
        if b.is_ascii_alphanumeric() {
            q.push(b as char);
        } else {
            q.push_str(&format!("%{b:02X}"));
        }
    }
    let path = format!("/api/v1/query?query={q}");
    wait_for(
        METRICS_WAIT,
        format!("Prometheus to see {node} at >= {min}"),
        || async {
            let (code, body) = http_get(addr, &path).await?;
            let v: Value = serde_json::from_str(&body).map_err(state)?;
            let value = v["data"]["result"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["metric"]["instance"] == node)
                .and_then(|r| r["value"][1].as_str())
                .and_then(|s| s.parse::<f64>().ok());
            match value {
                Some(x) if code == 200 && x >= min => Ok(()),
                other => Err(format!("{code}: {other:?}")),
            }
        },
    )
    .await;
}

#[tokio::test]
async fn prometheus_drains_the_hot_node() {
    if !metrics_available("prometheus_drains_the_hot_node") {
        return;
    }
    let _serial = LOCK.lock().await;
    let url = cluster_env()
        .get("PROMETHEUS_URL")
        .cloned()
        .expect("PROMETHEUS_URL in .cache/cluster/env");
    let h = hot_and_cold("op-prom").await;
    let s = &h.s;
    wait_prometheus(&url, &h.hot, 0.8).await;
    let _op = Operator::start(&s.ns, "op", &["--prometheus-url", &url]).await;
    let before = s.all_pods().await;
    let name = s.policy_name("prom");
    s.create_policy(
        "prom",
        lnu(Some(
            json!({"source": "Prometheus", "prometheus": {"query": PROM_QUERY}}),
        )),
    )
    .await;
    let (_, run) = s.wait_run(&name, None, WAIT).await;
    let c = counts(&run, LOW);
    assert_eq!(c.error, None, "{run:?}");
    // A pod's share is unknown to Prometheus: one pod per overutilized node
    // and run, the first in eviction order (a-hog).
    assert_eq!(c.evicted, 1, "{run:?}");
    assert_eq!(s.gone(&before).await, [h.hog.name.clone()].into());
    assert_eq!(c.usage_source.as_deref(), Some("Prometheus"));
    let hot = usage_of_node(c, &h.hot);
    let cold = usage_of_node(c, &h.cold);
    assert!(
        hot.percent["MetricResource"] > 80.0 && cold.percent["MetricResource"] < 10.0,
        "{c:?}"
    );
    assert_eq!(hot.class, "Overutilized");
}

#[tokio::test]
async fn high_node_utilization_by_usage_empties_the_idle_node() {
    if !metrics_available("high_node_utilization_by_usage") {
        return;
    }
    let _serial = LOCK.lock().await;
    // Equal requests (1 CPU of 4 each): the pod on `idle` uses 100m, the one
    // on `busy` 3 CPU.
    let s = Scenario::new("op-hnu-usage").await;
    let mut names = Vec::new();
    for n in ["busy", "idle"] {
        let node =
            s.ns.create_kwok_node(n, "4", "8Gi", 20, &labels(&[]), &[])
                .await;
        names.push(node.metadata.name.expect("node name"));
    }
    let (busy, idle) = (names[0].clone(), names[1].clone());
    s.deploy(workload(&s, "worker", "1", "3", Some(&busy)), 1)
        .await;
    s.cordon(&busy, true).await;
    let quiet = s.deploy(workload(&s, "quiet", "1", "100m", None), 1).await;
    s.cordon(&busy, false).await;
    let pods: Vec<String> = s.all_pods().await.into_iter().map(|p| p.name).collect();
    wait_node_metrics(&s.client, &busy, 2900, s.name(), &pods).await;
    let _op = Operator::start(&s.ns, "op", &[]).await;

    let hnu = |metrics: bool| {
        let mut t = json!({"thresholds": {"cpu": 20}});
        if metrics {
            t["metricsUtilization"] = json!({"source": "KubernetesMetrics"});
        }
        json!({"interval": "1h", "strategies": {HIGH: {"params": {"nodeResourceUtilizationThresholds": t}}}})
    };
    let name = s.policy_name("requests");
    s.create_policy("requests", hnu(false)).await;
    let (_, run) = s.wait_run(&name, None, WAIT).await;
    assert_eq!(counts(&run, HIGH).evicted, 0, "{run:?}");

    let before = s.all_pods().await;
    let name = s.policy_name("usage");
    s.create_policy("usage", hnu(true)).await;
    let (_, run) = s.wait_run(&name, None, WAIT).await;
    let c = counts(&run, HIGH);
    assert_eq!((c.error.as_deref(), c.evicted), (None, 1), "{run:?}");
    assert_eq!(s.gone(&before).await, [quiet[0].name.clone()].into());
    assert_eq!(usage_of_node(c, &idle).class, "Underutilized");
    assert_eq!(usage_of_node(c, &busy).class, "Appropriate");
}
