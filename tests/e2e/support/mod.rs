//! Reusable helpers for end-to-end tests against the local control plane
//! started by `make cluster-up` (see `tests/e2e/README.md`).
//!
//! Every test gets its own [`TestNamespace`]; nodes it creates through
//! [`TestNamespace::create_kwok_node`] carry an owner label and are deleted
//! with the namespace, so tests can run in parallel in one cluster. Give each
//! test's pods a `nodeSelector` on [`TestNamespace::pool_selector`] so they only
//! land on that test's nodes.
//!
//! Waits are bounded: [`wait_for`] polls a condition until a deadline and
//! panics with a description and the last observed state.

#![allow(dead_code)] // not every test binary uses every helper

pub mod audit;

use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, Namespace, Node, NodeSpec, NodeStatus, Pod, PodSpec, PodTemplateSpec,
    ResourceRequirements, ServiceAccount, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

/// Env var that overrides the kubeconfig path.
pub const KUBECONFIG_ENV: &str = "DESCHEDULER_E2E_KUBECONFIG";
/// Set to `1` to keep test namespaces and nodes after a test (for debugging).
pub const KEEP_ENV: &str = "DESCHEDULER_E2E_KEEP";
/// Annotation that makes kwok manage a node (see `up.sh`).
pub const KWOK_NODE_ANNOTATION: &str = "kwok.x-k8s.io/node";
/// Label put on every node a test creates, valued with the test namespace.
pub const OWNER_LABEL: &str = "e2e.descheduler.dev/owner";
/// Label put on every node a test creates, valued with the test namespace;
/// select on it (see [`TestNamespace::pool_selector`]) to keep pods on them.
pub const POOL_LABEL: &str = "e2e.descheduler.dev/pool";
/// Image of the containers in test pods; kwok never pulls it.
pub const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";

/// Default timeout for waits in e2e tests.
pub const WAIT: Duration = Duration::from_secs(60);
const POLL_INTERVAL: Duration = Duration::from_millis(250);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Path of the admin kubeconfig written by `make cluster-up`, or the value of
/// `DESCHEDULER_E2E_KUBECONFIG`.
pub fn kubeconfig_path() -> PathBuf {
    match std::env::var_os(KUBECONFIG_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/cluster/kubeconfig"),
    }
}

async fn try_client() -> Result<Client, String> {
    let path = kubeconfig_path();
    if !path.exists() {
        return Err(format!(
            "kubeconfig {} not found: the e2e cluster is not running. \
             Start it with `make cluster-up` (or run `make e2e` / `make test`), \
             or point {KUBECONFIG_ENV} at a kubeconfig",
            path.display()
        ));
    }
    let kubeconfig = Kubeconfig::read_from(&path)
        .map_err(|e| format!("reading kubeconfig {}: {e}", path.display()))?;
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("loading kubeconfig {}: {e}", path.display()))?;
    config.read_timeout = Some(REQUEST_TIMEOUT);
    config.connect_timeout = Some(Duration::from_secs(5));
    // kube retries 429/503/504 with a backoff of up to 15 attempts by default;
    // tests must see those answers (e.g. an eviction refused by a PDB) as-is.
    config.default_retry = false;
    Client::try_from(config).map_err(|e| format!("building client: {e}"))
}

/// A client for the e2e cluster. Panics (failing the test, never skipping it)
/// when the cluster is not running or not reachable, naming `make cluster-up`.
///
/// Unlike `kube`'s default, it does not retry 429/503/504 answers, so tests
/// observe them (an eviction refused by a PodDisruptionBudget is a 429).
pub async fn client() -> Client {
    let mut stopped = APISERVER_STOPPED.subscribe();
    let _ = stopped.wait_for(|s| !*s).await;
    let client = try_client()
        .await
        .unwrap_or_else(|e| panic!("e2e cluster unavailable: {e}"));
    match tokio::time::timeout(REQUEST_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(_)) => client,
        Ok(Err(e)) => panic!(
            "e2e cluster at {} is not reachable ({e}); start it with `make cluster-up`",
            kubeconfig_path().display()
        ),
        Err(_) => panic!(
            "e2e cluster at {} did not answer within {REQUEST_TIMEOUT:?}; start it with `make cluster-up`",
            kubeconfig_path().display()
        ),
    }
}

/// Tests share one cluster; the fault tests (`operator::faults`) disturb it
/// for everyone (they stop the API server, delete the CRD, compact etcd). The
/// gate lets those run alone: every test holds a shared guard from the
/// creation of its [`TestNamespace`] until its cleanup is done (or takes one
/// with [`ClusterGuard::shared`] when it has no namespace), a disruptive test
/// an exclusive one. Tokio's lock is fair: once a disruptive test waits, new
/// tests wait behind it, so it is not starved. A test must not take a second
/// guard while holding one (a waiting exclusive one would deadlock them).
///
/// Tests call [`client`] before they create their namespace; while the API
/// server is stopped on purpose ([`set_apiserver_stopped`]) it waits instead of
/// failing, and the test then waits at the gate until the disruptive one is
/// done.
static CLUSTER_GATE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A test's hold on the shared cluster (see [`CLUSTER_GATE`]).
pub enum ClusterGuard {
    Shared(#[allow(dead_code)] tokio::sync::RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] tokio::sync::RwLockWriteGuard<'static, ()>),
}

impl ClusterGuard {
    /// Waits until no disruptive test runs or waits.
    pub async fn shared() -> Self {
        ClusterGuard::Shared(CLUSTER_GATE.read().await)
    }

    /// Waits until every other test is done with the cluster.
    pub async fn exclusive() -> Self {
        let start = Instant::now();
        let guard = CLUSTER_GATE.write().await;
        eprintln!(
            "exclusive use of the cluster after waiting {:.1}s",
            start.elapsed().as_secs_f64()
        );
        ClusterGuard::Exclusive(guard)
    }
}

/// Whether a fault test has stopped the API server (see [`CLUSTER_GATE`]).
static APISERVER_STOPPED: std::sync::LazyLock<tokio::sync::watch::Sender<bool>> =
    std::sync::LazyLock::new(|| tokio::sync::watch::Sender::new(false));

/// Marks the API server as stopped (or back) on purpose; only a test that
/// holds an exclusive [`ClusterGuard`] may do this.
pub fn set_apiserver_stopped(stopped: bool) {
    APISERVER_STOPPED.send_replace(stopped);
}

/// A short random suffix for names: unique across tests and processes.
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("{:08x}", h.finish() as u32)
}

/// Polls `check` every 250ms until it returns `Ok(value)` and returns that
/// value. `Err(state)` means "not yet"; `state` describes what was observed.
/// Panics after `timeout` with `what` and the last observed state. Each call
/// of `check` is itself bounded, so a hung request cannot stall the wait.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: impl Display, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    let deadline = start + timeout;
    let mut last = String::from("<not checked yet>");
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining.max(POLL_INTERVAL), check()).await {
            Ok(Ok(value)) => return value,
            Ok(Err(state)) => last = state,
            Err(_) => last = format!("check did not finish in time (previous state: {last})"),
        }
        if Instant::now() >= deadline {
            panic!(
                "timed out after {:.1}s waiting for {what}; last observed: {last}",
                start.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Turns a `kube::Error` into a wait state.
pub fn state<E: Display>(e: E) -> String {
    format!("error: {e}")
}

/// Labels from `(key, value)` pairs.
pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A namespace of one test, named `e2e-<prefix>-<random>`. Dropping it deletes
/// the namespace and every node created through it (best effort, unless
/// `DESCHEDULER_E2E_KEEP=1`).
pub struct TestNamespace {
    name: String,
    client: Client,
    /// Released after the cleanup in `drop` (fields drop after it).
    _guard: ClusterGuard,
}

impl TestNamespace {
    /// Creates the namespace and waits until its `default` ServiceAccount
    /// exists (pods are rejected until then). Holds a shared
    /// [`ClusterGuard`] until dropped.
    pub async fn new(client: &Client, prefix: &str) -> Self {
        Self::guarded(client, prefix, ClusterGuard::shared().await).await
    }

    /// Like [`TestNamespace::new`], holding `guard` (an exclusive one for a
    /// test that disturbs the cluster) until dropped.
    pub async fn guarded(client: &Client, prefix: &str, guard: ClusterGuard) -> Self {
        let name = format!("e2e-{prefix}-{}", unique_suffix());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(labels(&[("e2e.descheduler.dev/test", "true")])),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        let this = TestNamespace {
            name,
            client: client.clone(),
            _guard: guard,
        };
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &this.name);
        wait_for(
            WAIT,
            format!("ServiceAccount default in namespace {}", this.name),
            || async {
                match sas.get_opt("default").await.map_err(state)? {
                    Some(_) => Ok(()),
                    None => Err("not created yet".into()),
                }
            },
        )
        .await;
        this
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `Api` for a namespaced resource in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// Node selector that matches exactly the nodes created through this
    /// namespace.
    pub fn pool_selector(&self) -> BTreeMap<String, String> {
        labels(&[(POOL_LABEL, &self.name)])
    }

    /// Name for a node of this test: `<namespace>-<suffix>`.
    pub fn node_name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.name)
    }

    /// Creates a kwok node named `<namespace>-<suffix>` (see [`create_kwok_node`])
    /// that carries this test's owner and pool labels besides `labels`.
    pub async fn create_kwok_node(
        &self,
        suffix: &str,
        cpu: &str,
        memory: &str,
        pods: u32,
        labels: &BTreeMap<String, String>,
        taints: &[Taint],
    ) -> Node {
        let mut all = labels.clone();
        all.insert(OWNER_LABEL.into(), self.name.clone());
        all.insert(POOL_LABEL.into(), self.name.clone());
        create_kwok_node(
            &self.client,
            &self.node_name(suffix),
            cpu,
            memory,
            pods,
            &all,
            taints,
        )
        .await
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if std::env::var(KEEP_ENV).is_ok_and(|v| v == "1") {
            eprintln!(
                "{KEEP_ENV}=1: keeping namespace {} and its nodes",
                self.name
            );
            return;
        }
        // Drop cannot await, and the test's runtime may be shutting down: clean
        // up on a separate thread with its own runtime and client.
        let name = self.name.clone();
        let cleanup = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return eprintln!("cleanup of {name}: no runtime: {e}"),
            };
            rt.block_on(async {
                let fut = cleanup_namespace(&name);
                if tokio::time::timeout(Duration::from_secs(45), fut)
                    .await
                    .is_err()
                {
                    eprintln!("cleanup of {name}: timed out (best effort)");
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Deletes namespace `name`, waits (bounded) for it to go, then deletes the
/// nodes it owned. Best effort: reports problems on stderr.
async fn cleanup_namespace(name: &str) {
    let client = match try_client().await {
        Ok(c) => c,
        Err(e) => return eprintln!("cleanup of {name}: {e}"),
    };
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if let Err(e) = namespaces.delete(name, &DeleteParams::background()).await {
        eprintln!("cleanup of {name}: deleting namespace: {e}");
    }
    // Pods go away while their kwok nodes still exist; 30s is plenty for the
    // namespace controller, and not waiting longer is fine.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match namespaces.get_opt(name).await {
            Ok(None) | Err(_) => break,
            Ok(Some(_)) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    let nodes: Api<Node> = Api::all(client);
    let lp = ListParams::default().labels(&format!("{OWNER_LABEL}={name}"));
    if let Err(e) = nodes.delete_collection(&DeleteParams::default(), &lp).await {
        eprintln!("cleanup of {name}: deleting nodes: {e}");
    }
}

/// Creates a node managed by kwok with the given allocatable (= capacity)
/// resources, labels and taints, and waits until it is Ready and schedulable
/// (the node lifecycle controller removed its `not-ready` taint).
pub async fn create_kwok_node(
    client: &Client,
    name: &str,
    cpu: &str,
    memory: &str,
    pods: u32,
    labels: &BTreeMap<String, String>,
    taints: &[Taint],
) -> Node {
    let mut all_labels = self::labels(&[
        ("type", "kwok"),
        ("kubernetes.io/hostname", name),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
    ]);
    all_labels.extend(labels.clone());
    let resources: BTreeMap<String, Quantity> = [
        ("cpu", cpu.to_string()),
        ("memory", memory.to_string()),
        ("pods", pods.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Quantity(v)))
    .collect();
    let node = Node {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(all_labels),
            annotations: Some(self::labels(&[(KWOK_NODE_ANNOTATION, "fake")])),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            taints: (!taints.is_empty()).then(|| taints.to_vec()),
            ..Default::default()
        }),
        status: Some(NodeStatus {
            allocatable: Some(resources.clone()),
            capacity: Some(resources),
            ..Default::default()
        }),
    };
    let api: Api<Node> = Api::all(client.clone());
    api.create(&PostParams::default(), &node)
        .await
        .unwrap_or_else(|e| panic!("creating node {name}: {e}"));
    wait_node_ready(client, name).await
}

/// Waits until node `name` is Ready and has no `node.kubernetes.io/not-ready`
/// or `unreachable` taint, and returns it.
pub async fn wait_node_ready(client: &Client, name: &str) -> Node {
    let api: Api<Node> = Api::all(client.clone());
    wait_for(WAIT, format!("node {name} to be Ready"), || async {
        let node = api.get(name).await.map_err(state)?;
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status.clone());
        let blocking: Vec<String> = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .into_iter()
            .flatten()
            .filter(|t| {
                t.key == "node.kubernetes.io/not-ready" || t.key == "node.kubernetes.io/unreachable"
            })
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect();
        if ready.as_deref() == Some("True") && blocking.is_empty() {
            Ok(node)
        } else {
            Err(format!("Ready={ready:?}, taints={blocking:?}"))
        }
    })
    .await
}

/// Options of [`deployment`]; `Default` is 1 replica requesting 100m CPU and
/// 64Mi memory, with no node selector.
#[derive(Clone, Debug)]
pub struct DeploymentOpts {
    pub replicas: i32,
    pub cpu: String,
    pub memory: String,
    pub node_selector: BTreeMap<String, String>,
    /// Extra pod labels, besides `app=<name>`.
    pub labels: BTreeMap<String, String>,
}

impl Default for DeploymentOpts {
    fn default() -> Self {
        DeploymentOpts {
            replicas: 1,
            cpu: "100m".into(),
            memory: "64Mi".into(),
            node_selector: BTreeMap::new(),
            labels: BTreeMap::new(),
        }
    }
}

/// A Deployment manifest whose pods are labelled `app=<name>`, run one pause
/// container with the requested resources, and use `opts.node_selector`.
/// Tweak it before [`create_deployment`]ing it if a test needs more.
pub fn deployment(name: &str, opts: &DeploymentOpts) -> Deployment {
    let selector = labels(&[("app", name)]);
    let mut pod_labels = opts.labels.clone();
    pod_labels.extend(selector.clone());
    let requests: BTreeMap<String, Quantity> = [
        ("cpu".to_string(), Quantity(opts.cpu.clone())),
        ("memory".to_string(), Quantity(opts.memory.clone())),
    ]
    .into();
    Deployment {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(selector.clone()),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(opts.replicas),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "app".into(),
                        image: Some(PAUSE_IMAGE.into()),
                        resources: Some(ResourceRequirements {
                            requests: Some(requests),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }],
                    node_selector: (!opts.node_selector.is_empty())
                        .then(|| opts.node_selector.clone()),
                    termination_grace_period_seconds: Some(0),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Creates `deployment(name, opts)` in namespace `ns`.
pub async fn create_deployment(
    client: &Client,
    ns: &str,
    name: &str,
    opts: &DeploymentOpts,
) -> Deployment {
    Api::<Deployment>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &deployment(name, opts))
        .await
        .unwrap_or_else(|e| panic!("creating deployment {ns}/{name}: {e}"))
}

/// Where a pod is and what it is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodPlacement {
    pub name: String,
    pub uid: String,
    /// `spec.nodeName`: set once the scheduler bound the pod.
    pub node: Option<String>,
    pub phase: String,
    pub ready: bool,
    /// Has a deletion timestamp.
    pub terminating: bool,
}

impl PodPlacement {
    pub fn from_pod(pod: &Pod) -> Self {
        let status = pod.status.as_ref();
        PodPlacement {
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            phase: status.and_then(|s| s.phase.clone()).unwrap_or_default(),
            ready: status
                .and_then(|s| s.conditions.as_ref())
                .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
                .is_some_and(|c| c.status == "True"),
            terminating: pod.metadata.deletion_timestamp.is_some(),
        }
    }

    /// Bound, Running, Ready and not being deleted.
    pub fn is_running(&self) -> bool {
        self.node.is_some() && self.phase == "Running" && self.ready && !self.terminating
    }
}

/// Pods of Deployment `ns/name` (by its selector's matchLabels), sorted by
/// name, with their nodes.
pub async fn deployment_pods(
    client: &Client,
    ns: &str,
    name: &str,
) -> Result<Vec<PodPlacement>, kube::Error> {
    let deploy = Api::<Deployment>::namespaced(client.clone(), ns)
        .get(name)
        .await?;
    let selector = deploy
        .spec
        .and_then(|s| s.selector.match_labels)
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let pods = Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(&selector))
        .await?;
    let mut placements: Vec<PodPlacement> = pods.items.iter().map(PodPlacement::from_pod).collect();
    placements.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(placements)
}

/// Waits until Deployment `ns/name` has exactly `replicas` pods, all bound,
/// Running and Ready, and no pod being deleted; returns them.
pub async fn wait_deployment_running(
    client: &Client,
    ns: &str,
    name: &str,
    replicas: usize,
) -> Vec<PodPlacement> {
    wait_for(
        WAIT,
        format!("{replicas} running pods of deployment {ns}/{name}"),
        || async {
            let pods = deployment_pods(client, ns, name).await.map_err(state)?;
            if pods.len() == replicas && pods.iter().all(PodPlacement::is_running) {
                Ok(pods)
            } else {
                Err(format!("{pods:?}"))
            }
        },
    )
    .await
}

/// Number of pods per node name.
pub fn pods_per_node(pods: &[PodPlacement]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for p in pods {
        if let Some(node) = &p.node {
            *counts.entry(node.clone()).or_insert(0) += 1;
        }
    }
    counts
}

/// A kubeconfig for the admin kubeconfig's cluster, authenticated by `token`.
pub fn token_kubeconfig(token: &str) -> String {
    let admin = std::fs::read_to_string(kubeconfig_path()).expect("admin kubeconfig");
    let admin: serde_json::Value = serde_yaml_ng::from_str(&admin).expect("kubeconfig YAML");
    let cluster = &admin["clusters"][0]["cluster"];
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "e2e", "cluster": {
            "server": cluster["server"],
            "certificate-authority-data": cluster["certificate-authority-data"],
        }}],
        "users": [{"name": "descheduler", "user": {"token": token}}],
        "contexts": [{"name": "descheduler", "context": {"cluster": "e2e", "user": "descheduler"}}],
        "current-context": "descheduler",
    });
    serde_yaml_ng::to_string(&config).expect("to YAML")
}
