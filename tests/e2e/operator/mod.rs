//! End-to-end tests of `descheduler run` against the local control plane.
//!
//! Every test starts its own operator process(es) ([`Operator`]) that only
//! reconcile DeschedulerPolicies labelled `e2e.descheduler.dev/test=<its
//! namespace>`, so tests run in parallel without seeing each other's
//! policies. Policies select the test's own nodes (`spec.nodeSelector` on the
//! pool label) and pods (`namespaces.include` of every strategy), see
//! [`Scenario::create_policy`]. A [`Scenario`] deletes its (cluster-scoped)
//! policies when dropped, then its namespace and nodes go with the
//! [`TestNamespace`].
//!
//! Runs are asynchronous: tests wait for observable conditions (a run's
//! completion in status, a later run's start) with deadlines, never for fixed
//! times. A policy is created only after its violating situation exists; the
//! operator's watch caches are assumed to have seen that change by the time
//! the policy's own watch event has started a run (both are pushed by the
//! API server within milliseconds).
//!
//! Run them with `cargo test --test e2e -- operator::` (add
//! `--test-threads=4` to overlap the waits; most scenarios take 1-3s, the
//! cadence, suspend and restart ones about 22s because they span intervals).
//! Each operator logs to `.cache/e2e-logs/<namespace>-<tag>.log` (the path is
//! printed when a test fails); `DESCHEDULER_E2E_LOG` sets its `RUST_LOG`.

mod approval;
mod faults;
mod ha;
mod initial_list;
mod lifecycle;
mod metrics;
mod placement;
mod simulate_live;
mod single_replica;
mod strategies;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use descheduler::api::{DeschedulerPolicy, LastRun};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Node, Pod, Taint};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::support::{
    self, DeploymentOpts, PodPlacement, TestNamespace, WAIT, kubeconfig_path, labels, state,
    wait_for,
};

/// Label of every policy a test creates, valued with its namespace; the
/// test's operators select on it (`--policy-label-selector`).
pub const TEST_LABEL: &str = "e2e.descheduler.dev/test";
pub const RUN_NOW: &str = "descheduler.dev/run-now";

// --- the CRD ---------------------------------------------------------------

static CRD_APPLIED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// Applies `crds/deschedulerpolicies.descheduler.dev.yaml` (server-side apply,
/// idempotent) once per test process and waits until it is Established.
pub async fn ensure_crd() {
    CRD_APPLIED.get_or_init(apply_crd).await;
}

/// Applies `crds/deschedulerpolicies.descheduler.dev.yaml` (server-side
/// apply, idempotent) and waits until it is Established and served.
pub async fn apply_crd() {
    // A client of its own: each test has its own runtime.
    let client = support::client().await;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("crds/deschedulerpolicies.descheduler.dev.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let crd: CustomResourceDefinition = serde_yaml_ng::from_str(&text)
        .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    let name = crd.metadata.name.clone().expect("CRD name");
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    api.patch(
        &name,
        &PatchParams::apply("descheduler-e2e").force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap_or_else(|e| panic!("applying CRD {name}: {e}"));
    wait_for(WAIT, format!("CRD {name} to be Established"), || async {
        let crd = api.get(&name).await.map_err(state)?;
        let conds = crd.status.and_then(|s| s.conditions).unwrap_or_default();
        if conds
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
        {
            Ok(())
        } else {
            Err(format!("{conds:?}"))
        }
    })
    .await;
    // The new API may take a moment to be served.
    let policies: Api<DeschedulerPolicy> = Api::all(client);
    wait_for(WAIT, "DeschedulerPolicy API to be served", || async {
        policies
            .list(&ListParams::default().limit(1))
            .await
            .map(|_| ())
            .map_err(state)
    })
    .await;
}

// --- the operator process --------------------------------------------------

/// One `descheduler run` process, killed when dropped.
pub struct Operator {
    child: Child,
    pub addr: std::net::SocketAddr,
    pub log: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

/// A plain HTTP/1.0 GET on the operator's metrics port: `(status, body)`.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> Result<(u16, String), String> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    stream
        .read_to_end(&mut buf)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad response: {head:?}"))?;
    Ok((code, body.to_string()))
}

impl Operator {
    /// Starts `descheduler run` for the policies of `ns` with `extra` flags,
    /// logging to `.cache/e2e-logs/<ns>-<tag>.log`, and waits for /readyz.
    pub async fn start(ns: &TestNamespace, tag: &str, extra: &[&str]) -> Self {
        Self::start_with(ns, tag, extra, &kubeconfig_path()).await
    }

    /// Like [`Operator::start`], talking to the cluster through `kubeconfig`.
    pub async fn start_with(
        ns: &TestNamespace,
        tag: &str,
        extra: &[&str],
        kubeconfig: &std::path::Path,
    ) -> Self {
        ensure_crd().await;
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/e2e-logs");
        std::fs::create_dir_all(&dir).expect("create .cache/e2e-logs");
        let log = dir.join(format!("{}-{tag}.log", ns.name()));
        let file = std::fs::File::create(&log).expect("create operator log");
        let err = file.try_clone().expect("clone log file handle");
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port())
            .parse()
            .expect("address");
        let selector = format!("{TEST_LABEL}={}", ns.name());
        let addr_arg = addr.to_string();
        let mut args = vec![
            "run",
            "--policy-label-selector",
            &selector,
            "--metrics-bind-address",
            &addr_arg,
        ];
        args.extend_from_slice(extra);
        let child = Command::new(env!("CARGO_BIN_EXE_descheduler"))
            .args(&args)
            .env("KUBECONFIG", kubeconfig)
            .env(
                "RUST_LOG",
                std::env::var("DESCHEDULER_E2E_LOG").unwrap_or_else(|_| "info".into()),
            )
            // Plain text in the log file.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn descheduler run");
        let mut op = Operator { child, addr, log };
        op.wait_ready().await;
        op
    }

    async fn wait_ready(&mut self) {
        let addr = self.addr;
        let log = self.log.display().to_string();
        let child = &mut self.child;
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("descheduler run exited with {status} before it was ready; log: {log}");
            }
            if let Ok((200, _)) = http_get(addr, "/readyz").await {
                return;
            }
            if start.elapsed() > WAIT {
                panic!("descheduler run not ready after {WAIT:?}; log: {log}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The Prometheus text of /metrics.
    pub async fn metrics(&self) -> String {
        match http_get(self.addr, "/metrics").await {
            Ok((200, body)) => body,
            other => panic!("GET /metrics: {other:?}; log: {}", self.log.display()),
        }
    }

    /// Sum of the samples of `name` whose labels include every `(k, v)` of `want`.
    pub async fn metric_sum(&self, name: &str, want: &[(&str, &str)]) -> f64 {
        metric_sum(&self.metrics().await, name, want)
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("operator still running")
    }

    /// SIGKILL, and wait for the process to be gone.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("SIGKILL descheduler");
    }

    /// Sends `signal` (a `kill` name: STOP, CONT, ...) to the process.
    pub fn signal(&self, signal: &str) {
        let pid = self.pid().to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    /// Whether the process has exited (and how), without waiting.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM (graceful shutdown); returns the exit status.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.pid().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM {pid} failed");
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("descheduler exits within 30s of SIGTERM")
            .expect("wait for descheduler")
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            eprintln!("operator log: {}", self.log.display());
        }
    }
}

/// Parses Prometheus/OpenMetrics text: sum of `name`'s samples with all `want` labels.
pub fn metric_sum(text: &str, name: &str, want: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, labels) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let ok = want
                .iter()
                .all(|(k, v)| labels.split(',').any(|kv| kv == format!("{k}=\"{v}\"")));
            ok.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

// --- a scenario: namespace, nodes, policies --------------------------------

/// One test's world: its namespace (and nodes), a client, and the policies it
/// created, deleted on drop. Prints how long the scenario took.
pub struct Scenario {
    pub client: Client,
    pub ns: TestNamespace,
    started: Instant,
}

impl Scenario {
    pub async fn new(prefix: &str) -> Self {
        Self::with_guard(prefix, support::ClusterGuard::shared().await).await
    }

    /// A scenario that has the cluster to itself until dropped (see
    /// [`support::ClusterGuard`]): for tests that disturb every other test.
    pub async fn exclusive(prefix: &str) -> Self {
        Self::with_guard(prefix, support::ClusterGuard::exclusive().await).await
    }

    async fn with_guard(prefix: &str, guard: support::ClusterGuard) -> Self {
        let started = Instant::now();
        let client = support::client().await;
        let ns = TestNamespace::guarded(&client, prefix, guard).await;
        ensure_crd().await;
        Scenario {
            client,
            ns,
            started,
        }
    }

    pub fn name(&self) -> &str {
        self.ns.name()
    }

    pub fn policies(&self) -> Api<DeschedulerPolicy> {
        Api::all(self.client.clone())
    }

    pub fn pods(&self) -> Api<Pod> {
        self.ns.api()
    }

    pub fn nodes(&self) -> Api<Node> {
        Api::all(self.client.clone())
    }

    /// Creates `count` kwok nodes `n0..` of 1 CPU, 4Gi and 20 pods; names.
    pub async fn nodes_n(&self, count: usize) -> Vec<String> {
        let mut names = Vec::new();
        for i in 0..count {
            let node = self
                .ns
                .create_kwok_node(&format!("n{i}"), "1", "4Gi", 20, &labels(&[]), &[])
                .await;
            names.push(node.metadata.name.expect("node name"));
        }
        names
    }

    /// Deployment options on this test's nodes: `replicas` pods of `cpu`.
    pub fn opts(&self, replicas: i32, cpu: &str) -> DeploymentOpts {
        DeploymentOpts {
            replicas,
            cpu: cpu.into(),
            memory: "64Mi".into(),
            node_selector: self.ns.pool_selector(),
            ..Default::default()
        }
    }

    /// Creates `deploy` and waits for `replicas` running pods.
    pub async fn deploy(&self, deploy: Deployment, replicas: usize) -> Vec<PodPlacement> {
        let name = deploy.metadata.name.clone().expect("deployment name");
        Api::<Deployment>::namespaced(self.client.clone(), self.name())
            .create(&PostParams::default(), &deploy)
            .await
            .unwrap_or_else(|e| panic!("creating deployment {name}: {e}"));
        support::wait_deployment_running(&self.client, self.name(), &name, replicas).await
    }

    /// Modifies node `name` with `f` (get, change, replace; retried on conflict).
    pub async fn update_node(&self, name: &str, f: impl Fn(&mut Node)) {
        let api = self.nodes();
        wait_for(WAIT, format!("updating node {name}"), || async {
            let mut node = api.get(name).await.map_err(state)?;
            f(&mut node);
            api.replace(name, &PostParams::default(), &node)
                .await
                .map(|_| ())
                .map_err(state)
        })
        .await;
    }

    /// Cordons or uncordons a node; after uncordoning, waits until the node
    /// controller removed its `node.kubernetes.io/unschedulable` taint.
    pub async fn cordon(&self, name: &str, on: bool) {
        self.update_node(name, |n| {
            n.spec.get_or_insert_with(Default::default).unschedulable = Some(on);
        })
        .await;
        if on {
            return;
        }
        let api = self.nodes();
        wait_for(
            WAIT,
            format!("node {name} to lose its unschedulable taint"),
            || async {
                let node = api.get(name).await.map_err(state)?;
                let taints = node.spec.and_then(|s| s.taints).unwrap_or_default();
                if taints
                    .iter()
                    .any(|t| t.key == "node.kubernetes.io/unschedulable")
                {
                    Err(format!("{taints:?}"))
                } else {
                    Ok(())
                }
            },
        )
        .await;
    }

    /// Adds a `key=value:NoSchedule` taint to a node.
    pub async fn taint(&self, name: &str, key: &str, value: &str) {
        self.update_node(name, |n| {
            let spec = n.spec.get_or_insert_with(Default::default);
            spec.taints.get_or_insert_with(Vec::new).push(Taint {
                key: key.into(),
                value: Some(value.into()),
                effect: "NoSchedule".into(),
                time_added: None,
            });
        })
        .await;
    }

    /// Sets (`Some`) or removes (`None`) node labels.
    pub async fn label_node(&self, name: &str, pairs: &[(&str, Option<&str>)]) {
        let labels: serde_json::Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map_or(Value::Null, |v| json!(v))))
            .collect();
        self.nodes()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": labels}})),
            )
            .await
            .unwrap_or_else(|e| panic!("labelling node {name}: {e}"));
    }

    /// Every pod of the namespace.
    pub async fn all_pods(&self) -> Vec<PodPlacement> {
        let list = self
            .pods()
            .list(&ListParams::default())
            .await
            .expect("list pods");
        let mut pods: Vec<PodPlacement> = list.items.iter().map(PodPlacement::from_pod).collect();
        pods.sort_by(|a, b| a.name.cmp(&b.name));
        pods
    }

    /// The pods of `before` that are gone or being deleted now (by name).
    pub async fn gone(&self, before: &[PodPlacement]) -> BTreeSet<String> {
        let now = self.all_pods().await;
        before
            .iter()
            .filter(|b| !now.iter().any(|p| p.uid == b.uid && !p.terminating))
            .map(|b| b.name.clone())
            .collect()
    }

    /// The full name of a policy of this test.
    pub fn policy_name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.name())
    }

    /// Creates policy `<ns>-<suffix>` labelled for this test's operators. The
    /// spec gets `nodeSelector: <pool label>=<ns>`, `singleReplicaStrategy:
    /// Evict`, and every strategy gets
    /// `params.namespaces: {include: [<ns>]}` unless the spec sets them.
    pub async fn create_policy(&self, suffix: &str, mut spec: Value) -> DeschedulerPolicy {
        let ns = self.name().to_string();
        let obj = spec.as_object_mut().expect("spec is an object");
        obj.entry("nodeSelector")
            .or_insert_with(|| json!(format!("{}={ns}", support::POOL_LABEL)));
        // The scenarios test strategies, whose candidates are often every
        // replica on a node; the last-replica guard has its own tests.
        obj.entry("singleReplicaStrategy")
            .or_insert_with(|| json!("Evict"));
        if let Some(strategies) = obj.get_mut("strategies").and_then(Value::as_object_mut) {
            for s in strategies.values_mut() {
                let s = s.as_object_mut().expect("strategy is an object");
                let params = s
                    .entry("params")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .expect("params is an object");
                params
                    .entry("namespaces")
                    .or_insert_with(|| json!({"include": [ns]}));
            }
        }
        let name = self.policy_name(suffix);
        let policy: DeschedulerPolicy = serde_json::from_value(json!({
            "apiVersion": "descheduler.dev/v1alpha1",
            "kind": "DeschedulerPolicy",
            "metadata": {"name": name, "labels": {TEST_LABEL: ns}},
            "spec": spec,
        }))
        .unwrap_or_else(|e| panic!("policy {name} does not deserialize: {e}"));
        self.policies()
            .create(&PostParams::default(), &policy)
            .await
            .unwrap_or_else(|e| panic!("creating policy {name}: {e}"))
    }

    /// Merge-patches a policy (spec or metadata).
    pub async fn patch_policy(&self, name: &str, patch: Value) -> DeschedulerPolicy {
        self.policies()
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap_or_else(|e| panic!("patching policy {name}: {e}"))
    }

    /// Sets the run-now annotation of a policy to `value`.
    pub async fn run_now(&self, name: &str, value: &str) {
        self.patch_policy(name, json!({"metadata": {"annotations": {RUN_NOW: value}}}))
            .await;
    }

    /// Waits until the policy has a completed run that used its current
    /// generation and started at another time than `after` (if given);
    /// returns the policy and that run. Start times have second precision,
    /// so runs less than a second apart need [`Scenario::wait_run_where`].
    pub async fn wait_run(
        &self,
        name: &str,
        after: Option<&str>,
        timeout: Duration,
    ) -> (DeschedulerPolicy, LastRun) {
        let after = after.map(str::to_string);
        self.wait_run_where(name, timeout, |run| {
            after.as_deref().is_none_or(|a| start_of(run) != a)
        })
        .await
    }

    /// Waits until the policy has a completed run of its current generation
    /// for which `pred` holds.
    pub async fn wait_run_where(
        &self,
        name: &str,
        timeout: Duration,
        pred: impl Fn(&LastRun) -> bool,
    ) -> (DeschedulerPolicy, LastRun) {
        let api = self.policies();
        let pred = &pred;
        wait_for(timeout, format!("a completed run of policy {name}"), || {
            let api = api.clone();
            async move {
                let p = api.get(name).await.map_err(state)?;
                let status = p.status.clone().unwrap_or_default();
                let Some(run) = status.last_run.clone() else {
                    return Err(format!("no run yet: {status:?}"));
                };
                let done = run.completion_time.is_some()
                    && run.generation == p.metadata.generation
                    && pred(&run);
                if done {
                    Ok((p, run))
                } else {
                    Err(format!("{run:?}"))
                }
            }
        })
        .await
    }

    /// Waits for `Descheduled` events on each of `pods` naming `policy`.
    pub async fn assert_descheduled_events(&self, policy: &str, pods: &BTreeSet<String>) {
        let events: Api<Event> = self.ns.api();
        for pod in pods {
            let fields = format!("involvedObject.name={pod},reason=Descheduled");
            wait_for(WAIT, format!("Descheduled event on pod {pod}"), || async {
                let list = events
                    .list(&ListParams::default().fields(&fields))
                    .await
                    .map_err(state)?;
                let ok = list.items.iter().any(|e| {
                    e.type_.as_deref() == Some("Normal")
                        && e.message.as_deref().is_some_and(|m| {
                            m.starts_with(&format!("Evicted by policy {policy}, strategy "))
                        })
                });
                if ok {
                    Ok(())
                } else {
                    Err(format!(
                        "{:?}",
                        list.items.iter().map(|e| &e.message).collect::<Vec<_>>()
                    ))
                }
            })
            .await;
        }
    }

    /// `Descheduled` events in this namespace: `(pod, reporting instance)`.
    pub async fn descheduled_events(&self) -> Vec<(String, String)> {
        let events: Api<Event> = self.ns.api();
        events
            .list(&ListParams::default().fields("reason=Descheduled"))
            .await
            .expect("list events")
            .items
            .into_iter()
            .map(|e| {
                (
                    e.involved_object.name.unwrap_or_default(),
                    e.reporting_instance.unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Waits for a policy event with `reason` (they go to `default`, the
    /// policy being cluster-scoped); returns the messages.
    pub async fn policy_events(&self, policy: &str, reason: &str) -> Vec<String> {
        let events: Api<Event> = Api::namespaced(self.client.clone(), "default");
        let fields = format!(
            "involvedObject.kind=DeschedulerPolicy,involvedObject.name={policy},reason={reason}"
        );
        wait_for(
            WAIT,
            format!("{reason} event on policy {policy}"),
            || async {
                let list = events
                    .list(&ListParams::default().fields(&fields))
                    .await
                    .map_err(state)?;
                let msgs: Vec<String> = list.items.into_iter().filter_map(|e| e.message).collect();
                if msgs.is_empty() {
                    Err("none yet".into())
                } else {
                    Ok(msgs)
                }
            },
        )
        .await
    }

    /// Waits until Deployment `name` has `replicas` running pods on this
    /// test's nodes, none of them in `evicted`; returns them.
    pub async fn wait_replaced(
        &self,
        name: &str,
        replicas: usize,
        evicted_uids: &BTreeSet<String>,
    ) -> Vec<PodPlacement> {
        let node_prefix = format!("{}-", self.name());
        wait_for(
            WAIT,
            format!("{replicas} running pods of {name}, replacements scheduled"),
            || async {
                let pods = support::deployment_pods(&self.client, self.name(), name)
                    .await
                    .map_err(state)?;
                let ok = pods.len() == replicas
                    && pods.iter().all(|p| {
                        p.is_running()
                            && !evicted_uids.contains(&p.uid)
                            && p.node
                                .as_deref()
                                .is_some_and(|n| n.starts_with(&node_prefix))
                    });
                if ok {
                    Ok(pods)
                } else {
                    Err(format!("{pods:?}"))
                }
            },
        )
        .await
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        eprintln!(
            "scenario {} took {:.1}s",
            self.ns.name(),
            self.started.elapsed().as_secs_f64()
        );
        if std::env::var(support::KEEP_ENV).is_ok_and(|v| v == "1") {
            return;
        }
        let selector = format!("{TEST_LABEL}={}", self.ns.name());
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let client = support::client().await;
                let api: Api<DeschedulerPolicy> = Api::all(client);
                let lp = ListParams::default().labels(&selector);
                if let Err(e) = api.delete_collection(&DeleteParams::default(), &lp).await {
                    eprintln!("cleanup of policies {selector}: {e}");
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// A run's start time as RFC 3339 text (comparable for equality).
pub fn start_of(run: &LastRun) -> String {
    run.start_time
        .as_ref()
        .map(|t| t.0.to_string())
        .unwrap_or_default()
}

/// A run's start time as a `SystemTime`-like instant in milliseconds.
pub fn start_millis(run: &LastRun) -> i64 {
    run.start_time
        .as_ref()
        .map(|t| t.0.as_millisecond())
        .unwrap_or_default()
}

/// Per-strategy counts of a run: name -> (evicted, wouldEvict, blocked).
pub fn strategy_counts(run: &LastRun) -> BTreeMap<String, (i64, i64, i64)> {
    run.strategies
        .iter()
        .map(|s| (s.name.clone(), (s.evicted, s.would_evict, s.blocked)))
        .collect()
}

/// Names of pods in `pods`.
pub fn names(pods: &[PodPlacement]) -> BTreeSet<String> {
    pods.iter().map(|p| p.name.clone()).collect()
}

/// UIDs of the pods of `pods` whose name is in `which`.
pub fn uids(pods: &[PodPlacement], which: &BTreeSet<String>) -> BTreeSet<String> {
    pods.iter()
        .filter(|p| which.contains(&p.name))
        .map(|p| p.uid.clone())
        .collect()
}

// --- shared setups and checks ------------------------------------------------

/// Taint key the tests put on a node to make its pods violate
/// RemovePodsViolatingNodeTaints.
pub const TAINT_KEY: &str = "e2e.descheduler.dev/taint";

/// Mutates the pod template's spec of a Deployment manifest.
pub fn with_pod_spec(
    mut d: Deployment,
    f: impl FnOnce(&mut k8s_openapi::api::core::v1::PodSpec),
) -> Deployment {
    let spec = d
        .spec
        .as_mut()
        .and_then(|s| s.template.spec.as_mut())
        .expect("deployment has a pod template");
    f(spec);
    d
}

/// The common violating situation: nodes `n0` and `n1`; the given
/// Deployments' pods (100m each) all placed on `n0` (by cordoning `n1` while
/// they are scheduled); then `n1` uncordoned and `n0` tainted
/// `TAINT_KEY=x:NoSchedule`, which none of the pods tolerates. Returns the node
/// names and every pod of the namespace.
pub async fn tainted_node_setup(
    s: &Scenario,
    deployments: &[(&str, i32)],
) -> (Vec<String>, Vec<PodPlacement>) {
    let nodes = s.nodes_n(2).await;
    s.cordon(&nodes[1], true).await;
    for (name, replicas) in deployments {
        let d = support::deployment(name, &s.opts(*replicas, "100m"));
        let pods = s.deploy(d, *replicas as usize).await;
        assert!(
            pods.iter()
                .all(|p| p.node.as_deref() == Some(nodes[0].as_str())),
            "{pods:?}"
        );
    }
    s.cordon(&nodes[1], false).await;
    s.taint(&nodes[0], TAINT_KEY, "x").await;
    (nodes, s.all_pods().await)
}

/// What the test expects of an evicting run.
pub struct Expect<'a> {
    pub policy: &'a str,
    /// Pods of which exactly `count` must be evicted; nothing else may be.
    pub candidates: BTreeSet<String>,
    pub count: usize,
    /// The strategy that evicts them; the other strategies evict nothing.
    pub strategy: &'a str,
}

/// Waits for the policy's first completed run and checks it against what
/// happened to the pods of `before`: exactly `count` of the candidates (and
/// nothing else) are gone, the status counts equal that, each evicted pod
/// has a `Descheduled` event and the policy a `RunCompleted` one. Returns the
/// evicted pods' names.
pub async fn assert_evicting_run(
    s: &Scenario,
    before: &[PodPlacement],
    e: Expect<'_>,
) -> BTreeSet<String> {
    let (policy, run) = s.wait_run(e.policy, None, WAIT).await;
    let gone = s.gone(before).await;
    assert!(
        gone.is_subset(&e.candidates),
        "evicted {gone:?}, only {:?} may be; run: {run:?}",
        e.candidates
    );
    assert_eq!(gone.len(), e.count, "evicted {gone:?}; run: {run:?}");
    assert_eq!(run.mode, Some(descheduler::api::RunMode::Evict));
    assert_eq!(
        run.result,
        Some(descheduler::api::RunResult::Succeeded),
        "{run:?}"
    );
    assert_eq!(run.evicted as usize, gone.len(), "{run:?}");
    assert_eq!(
        (run.would_evict, run.blocked, run.failed),
        (0, 0, 0),
        "{run:?}"
    );
    for (name, (evicted, would, blocked)) in strategy_counts(&run) {
        let want = if name == e.strategy {
            gone.len() as i64
        } else {
            0
        };
        assert_eq!(
            (evicted, would, blocked),
            (want, 0, 0),
            "strategy {name}: {run:?}"
        );
    }
    assert!(
        run.strategies.iter().any(|c| c.name == e.strategy),
        "no counts for {}: {run:?}",
        e.strategy
    );
    let status = policy.status.clone().unwrap_or_default();
    assert_eq!(status.total_evicted, Some(gone.len() as i64), "{status:?}");
    let valid = status.conditions.iter().find(|c| c.type_ == "Valid");
    assert_eq!(valid.map(|c| c.status.as_str()), Some("True"), "{status:?}");
    s.assert_descheduled_events(e.policy, &gone).await;
    let summaries = s.policy_events(e.policy, "RunCompleted").await;
    assert!(
        summaries
            .iter()
            .any(|m| m.contains(&format!("evicted {}", gone.len()))),
        "{summaries:?}"
    );
    gone
}
