//! A deterministic synthetic cluster for benchmarks and load tests, shared by
//! `benches/engine.rs` and `examples/gencluster.rs` (included with `#[path]`).
//!
//! Same seed and size, same cluster, byte for byte. The shape follows a
//! production cluster that has drifted since the scheduler placed its pods,
//! so that every strategy of the full policy ([`FULL_POLICY`]) finds work:
//!
//! - nodes in three zones, three instance types, a tainted `db` pool and a
//!   tainted `gpu` pool (with an extended resource), a few nodes that got a
//!   `maintenance` taint or lost their `pool` label after their pods were
//!   placed, a few cordoned, NotReady or freshly added (almost empty) nodes,
//!   and some "hot" nodes that hold more than their share;
//! - DaemonSets on every node, Deployments (as ReplicaSets), StatefulSets
//!   (with PVCs), Jobs and a few bare pods, with requests of every QoS class,
//!   priority classes, required and preferred pod anti-affinity, topology
//!   spread constraints (some with `matchLabelKeys`), nodeSelectors, required
//!   and preferred node affinity, emptyDir volumes, PodDisruptionBudgets;
//! - pods of every age, Failed and Succeeded pods, crash-looping and
//!   restarting pods, Pending and terminating pods; some replicas placed on
//!   a sibling's node, some workloads packed onto few nodes or skewed into one
//!   zone.
//!
//! Objects are `serde_json::Value`s shaped like `kubectl get -o json` prints
//! them (defaulted fields included, managedFields not), so they can be written
//! as a dump for `simulate`, converted into the typed objects a
//! [`Snapshot`](descheduler::snapshot::Snapshot) is built from, or created in
//! a live cluster (`examples/gencluster.rs --apply`).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

/// The instant the generated ages are relative to; pass it as `--now` to `simulate`.
pub const NOW: &str = "2026-11-23T12:00:00Z";
const NOW_SECS: i64 = 1_795_435_200; // NOW as a Unix timestamp

/// The policy the benchmarks run: all ten strategies, with parameters this
/// generator gives work to.
pub const FULL_POLICY: &str = r#"
strategies:
  RemoveFailedPods:
    params:
      failedPods: {minPodLifetimeSeconds: 300}
  PodLifeTime:
    params:
      podLifeTime: {maxPodLifeTimeSeconds: 2592000}
  RemovePodsHavingTooManyRestarts:
    params:
      podsHavingTooManyRestarts: {podRestartThreshold: 10, includingInitContainers: true}
  RemovePodsViolatingNodeTaints: {}
  RemovePodsViolatingNodeAffinity:
    params:
      nodeAffinityType: [requiredDuringSchedulingIgnoredDuringExecution, preferredDuringSchedulingIgnoredDuringExecution]
  RemovePodsViolatingInterPodAntiAffinity: {}
  RemoveDuplicates: {}
  RemovePodsViolatingTopologySpreadConstraint:
    params: {includeSoftConstraints: true}
  LowNodeUtilization:
    params:
      nodeResourceUtilizationThresholds:
        thresholds: {cpu: 20, memory: 20, pods: 20}
        targetThresholds: {cpu: 60, memory: 60, pods: 60}
  HighNodeUtilization:
    params:
      nodeResourceUtilizationThresholds:
        thresholds: {cpu: 15, memory: 15}
"#;

/// The spec of a policy that runs only `strategy`, with its [`FULL_POLICY`] params.
pub fn single_strategy_policy(strategy: &str) -> String {
    let full: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(FULL_POLICY).expect("FULL_POLICY parses");
    let entry = full["strategies"][strategy].clone();
    let mut strategies = serde_yaml_ng::Mapping::new();
    strategies.insert(strategy.into(), entry);
    let mut spec = serde_yaml_ng::Mapping::new();
    spec.insert(
        "strategies".into(),
        serde_yaml_ng::Value::Mapping(strategies),
    );
    serde_yaml_ng::to_string(&spec).expect("serializes")
}

#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub nodes: usize,
    pub pods_per_node: usize,
    pub seed: u64,
    /// Team namespaces; None: one per 25 nodes (at least 3).
    pub namespaces: Option<usize>,
    /// The share of replicated services (not Jobs) that get a
    /// PodDisruptionBudget selecting them by `app`. A different share leaves
    /// the rest of the cluster as it was (the dice are rolled either way).
    pub pdb_share: f64,
}

impl Config {
    pub fn new(nodes: usize, seed: u64) -> Self {
        Self {
            nodes,
            pods_per_node: 30,
            seed,
            namespaces: None,
            pdb_share: 0.35,
        }
    }

    /// The shape of a cluster whose every service ships its own budget (a
    /// Helm chart habit), in a few large namespaces: the worst case for
    /// matching budgets to pods.
    pub fn budget_per_workload(nodes: usize, seed: u64) -> Self {
        Self {
            namespaces: Some(4),
            pdb_share: 1.0,
            ..Self::new(nodes, seed)
        }
    }
}

/// A generated cluster.
#[derive(Default)]
pub struct Cluster {
    pub namespaces: Vec<Value>,
    pub priority_classes: Vec<Value>,
    pub nodes: Vec<Value>,
    pub pdbs: Vec<Value>,
    pub pods: Vec<Value>,
    /// The pods' controllers (ReplicaSets, StatefulSets, Jobs, DaemonSets):
    /// not part of a dump, created first in a live cluster. Pods refer to
    /// them with the placeholder uid [`owner_uid`] gives.
    pub owners: Vec<Value>,
}

/// The placeholder uid of a generated controller.
pub fn owner_uid(kind: &str, namespace: &str, name: &str) -> String {
    format!("gen-{}-{namespace}-{name}", kind.to_lowercase())
}

// ---------------------------------------------------------------------------
// A small deterministic PRNG (SplitMix64): no dependency, stable across versions.

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5DEE_CE66_D1CE_5EED)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    /// Uniform in 0.0..1.0.
    pub fn f(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.f() < p
    }
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    /// An index drawn by weight.
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.f() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
    /// A lowercase alphanumeric suffix like the ones generateName produces.
    pub fn suffix(&mut self, len: usize) -> String {
        const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len)
            .map(|_| CHARS[self.below(CHARS.len())] as char)
            .collect()
    }
    pub fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from_digit(self.below(16) as u32, 16).unwrap())
            .collect()
    }
    pub fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

// ---------------------------------------------------------------------------

const ZONES: [&str; 3] = ["eu-west-1a", "eu-west-1b", "eu-west-1c"];
/// (instance type, cpu cores, memory GiB, weight)
const TYPES: [(&str, u64, u64, f64); 3] = [
    ("m6i.xlarge", 4, 16, 0.2),
    ("m6i.2xlarge", 8, 32, 0.5),
    ("m6i.4xlarge", 16, 64, 0.3),
];
const ZONE_KEY: &str = "topology.kubernetes.io/zone";
const HOST_KEY: &str = "kubernetes.io/hostname";

fn ts(age_secs: i64) -> String {
    let t = chrono::DateTime::from_timestamp(NOW_SECS - age_secs, 0).expect("valid time");
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pool {
    General,
    Db,
    Gpu,
}

struct NodeGen {
    name: String,
    zone: usize,
    pool: Pool,
    /// The pool label is gone (relabelled after its pods were placed).
    pool_label_lost: bool,
    weight: f64,
    ready: bool,
    pods: usize,
    cpu_m: u64,
    mem_mi: u64,
}

/// Nodes by pool and by zone, with cumulative placement weights.
struct Placer {
    /// (pool, zone or usize::MAX for any) -> (node ids, cumulative weights)
    index: BTreeMap<(u8, usize), (Vec<usize>, Vec<f64>)>,
}

impl Placer {
    fn new(nodes: &[NodeGen]) -> Self {
        let mut index: BTreeMap<(u8, usize), (Vec<usize>, Vec<f64>)> = BTreeMap::new();
        for (i, n) in nodes.iter().enumerate() {
            for key in [(n.pool as u8, usize::MAX), (n.pool as u8, n.zone)] {
                let (ids, cum) = index.entry(key).or_default();
                let last = cum.last().copied().unwrap_or(0.0);
                ids.push(i);
                cum.push(last + n.weight);
            }
        }
        Self { index }
    }

    /// A node of the pool (in the zone, if given), drawn by weight, with room for one more pod.
    fn place(
        &self,
        rng: &mut Rng,
        nodes: &[NodeGen],
        pool: Pool,
        zone: Option<usize>,
    ) -> Option<usize> {
        let key = (pool as u8, zone.unwrap_or(usize::MAX));
        let (ids, cum) = self.index.get(&key)?;
        let total = *cum.last()?;
        for _ in 0..8 {
            let x = rng.f() * total;
            let i = cum.partition_point(|&c| c <= x).min(ids.len() - 1);
            let id = ids[i];
            if nodes[id].pods < 100 {
                return Some(id);
            }
        }
        Some(ids[rng.below(ids.len())])
    }
}

struct Workload {
    ns: String,
    kind: &'static str,
    name: String,
    /// ReplicaSet pod-template-hash, StatefulSet revision, Job uid.
    hash: String,
    app: String,
    replicas: usize,
    pool: Pool,
    priority_class: Option<&'static str>,
    qos: u8, // 0 BestEffort, 1 Burstable, 2 Guaranteed
    cpu_m: u64,
    mem_mi: u64,
    images: Vec<String>,
    init: bool,
    empty_dir: bool,
    pvc: bool,
    anti_host_required: bool,
    anti_zone_required: bool,
    anti_host_preferred: bool,
    spread_zone: Option<bool>, // Some(match_label_keys)
    spread_host_soft: bool,
    required_general: bool,
    preferred_ssd: bool,
    prefer_no_eviction: bool,
    placement: Placement,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Placement {
    Spread,
    Packed,
    OneZone,
    /// Placed on nodes its required node affinity no longer matches.
    Drifted,
}

pub fn generate(cfg: Config) -> Cluster {
    let mut rng = Rng::new(cfg.seed);
    let mut c = Cluster::default();
    let target = cfg.nodes * cfg.pods_per_node;

    // Priority classes.
    for (name, value, global) in [
        ("system-cluster-critical", 2_000_000_000, false),
        ("system-node-critical", 2_000_001_000, false),
        ("high-priority", 100_000, false),
        ("default-priority", 1_000, true),
        ("low-priority", 10, false),
        ("batch-low", -10, false),
    ] {
        c.priority_classes.push(json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name, "uid": rng.uuid(), "creationTimestamp": ts(400 * 86400)},
            "value": value,
            "globalDefault": global,
            "preemptionPolicy": "PreemptLowerPriority",
        }));
    }

    // Namespaces: a team per 25 nodes, plus system ones.
    let teams = cfg.namespaces.unwrap_or((cfg.nodes / 25).max(3)).max(1);
    let mut team_ns: Vec<String> = (0..teams).map(|i| format!("team-{i:03}")).collect();
    team_ns.push("batch".into());
    for ns in ["kube-system", "monitoring"]
        .into_iter()
        .map(String::from)
        .chain(team_ns.iter().cloned())
    {
        let mut labels = json!({"kubernetes.io/metadata.name": ns});
        if ns != "kube-system" {
            labels["descheduling"] = json!("enabled");
        }
        c.namespaces.push(json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "uid": rng.uuid(), "labels": labels, "creationTimestamp": ts(300 * 86400)},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }));
    }

    // Nodes.
    let mut nodes: Vec<NodeGen> = Vec::with_capacity(cfg.nodes);
    for i in 0..cfg.nodes {
        let zone = i % 3;
        let pool = if i % 20 == 10 {
            Pool::Db
        } else if i % 50 == 17 {
            Pool::Gpu
        } else {
            Pool::General
        };
        let t = rng.weighted(&TYPES.map(|t| t.3));
        let (itype, cpu, mem, _) = TYPES[t];
        let fresh = rng.chance(0.06);
        let hot = !fresh && rng.chance(0.10);
        let ready = !rng.chance(0.004);
        let cordoned = rng.chance(0.01);
        let maintenance = rng.chance(0.01);
        let spot = rng.chance(0.05);
        let pool_label_lost = pool != Pool::General && rng.chance(0.08);
        let name = format!("node-{i:05}");
        let mut labels = json!({
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/os": "linux",
            HOST_KEY: name,
            ZONE_KEY: ZONES[zone],
            "topology.kubernetes.io/region": "eu-west-1",
            "node.kubernetes.io/instance-type": itype,
            "node-role.kubernetes.io/worker": "",
            "disktype": if rng.chance(0.4) { "ssd" } else { "hdd" },
        });
        let pool_name = match pool {
            Pool::General => "general",
            Pool::Db => "db",
            Pool::Gpu => "gpu",
        };
        if !pool_label_lost {
            labels["pool"] = json!(pool_name);
        }
        let mut taints = Vec::new();
        match pool {
            Pool::Db => {
                taints.push(json!({"key": "dedicated", "value": "db", "effect": "NoSchedule"}))
            }
            Pool::Gpu => taints
                .push(json!({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"})),
            Pool::General => {}
        }
        if maintenance {
            taints.push(
                json!({"key": "maintenance", "value": "kernel-upgrade", "effect": "NoSchedule"}),
            );
        }
        if spot {
            taints.push(json!({"key": "spot", "value": "true", "effect": "PreferNoSchedule"}));
        }
        if cordoned {
            taints.push(json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule", "timeAdded": ts(3600)}));
        }
        if !ready {
            taints.push(json!({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule", "timeAdded": ts(600)}));
        }
        let cpu_m = cpu * 1000 - 90;
        let mem_mi = mem * 1024 - 1200;
        let mut allocatable = json!({
            "cpu": format!("{cpu_m}m"),
            "memory": format!("{}Ki", mem_mi * 1024),
            "pods": "110",
            "ephemeral-storage": "95551679124",
            "hugepages-1Gi": "0",
            "hugepages-2Mi": "0",
        });
        let mut capacity = json!({
            "cpu": cpu.to_string(),
            "memory": format!("{}Ki", mem * 1024 * 1024),
            "pods": "110",
            "ephemeral-storage": "103680000Ki",
            "hugepages-1Gi": "0",
            "hugepages-2Mi": "0",
        });
        if pool == Pool::Gpu {
            allocatable["nvidia.com/gpu"] = json!("4");
            capacity["nvidia.com/gpu"] = json!("4");
        }
        let age = if fresh {
            rng.range(300, 3600) as i64
        } else {
            rng.range(2, 200) as i64 * 86400
        };
        let cond = |t: &str, s: &str, reason: &str, msg: &str| {
            json!({"type": t, "status": s, "reason": reason, "message": msg,
                   "lastHeartbeatTime": ts(20), "lastTransitionTime": ts(age)})
        };
        let mut spec = json!({"podCIDR": format!("10.{}.{}.0/24", 64 + i / 256, i % 256), "providerID": format!("aws:///{}/i-{}", ZONES[zone], rng.hex(17))});
        if !taints.is_empty() {
            spec["taints"] = Value::Array(taints);
        }
        if cordoned {
            spec["unschedulable"] = json!(true);
        }
        c.nodes.push(json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "uid": rng.uuid(),
                "creationTimestamp": ts(age),
                "labels": labels,
                "annotations": {
                    "node.alpha.kubernetes.io/ttl": "0",
                    "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                },
            },
            "spec": spec,
            "status": {
                "addresses": [
                    {"type": "InternalIP", "address": format!("10.{}.{}.{}", 1 + zone, i / 250, 2 + i % 250)},
                    {"type": "Hostname", "address": name},
                ],
                "allocatable": allocatable,
                "capacity": capacity,
                "conditions": [
                    cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                    cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                    cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                    if ready {
                        cond("Ready", "True", "KubeletReady", "kubelet is posting ready status")
                    } else {
                        cond("Ready", "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
                    },
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "architecture": "amd64",
                    "bootID": rng.uuid(),
                    "containerRuntimeVersion": "containerd://2.1.4",
                    "kernelVersion": "6.12.40",
                    "kubeProxyVersion": "",
                    "kubeletVersion": "v1.36.3",
                    "machineID": rng.hex(32),
                    "operatingSystem": "linux",
                    "osImage": "Bottlerocket OS 1.44.0 (aws-k8s-1.36)",
                    "systemUUID": rng.uuid(),
                },
            },
        }));
        nodes.push(NodeGen {
            name,
            zone,
            pool,
            pool_label_lost,
            weight: if fresh {
                0.1
            } else if hot {
                2.5
            } else {
                1.0
            },
            ready,
            pods: 0,
            cpu_m,
            mem_mi,
        });
    }
    let placer = Placer::new(&nodes);

    let mut ctx = Ctx {
        pdb_share: cfg.pdb_share,
        rng,
        nodes,
        placer,
        out: c,
    };

    // DaemonSets: one pod on every node.
    for (name, cpu, mem, host_path) in [
        ("node-exporter", 50, 64, false),
        ("log-agent", 100, 200, true),
    ] {
        ctx.daemonset(name, cpu, mem, host_path);
    }
    // System deployments.
    let coredns = 2 + cfg.nodes / 100;
    ctx.system_deployment("coredns", coredns);
    ctx.system_deployment("metrics-server", 1);

    // Application workloads until the pod budget is used.
    let mut n = 0usize;
    while ctx.out.pods.len() < target {
        let remaining = target - ctx.out.pods.len();
        let ns = if ctx.rng.chance(0.05) {
            "monitoring".to_string()
        } else {
            team_ns[ctx.rng.below(teams)].clone()
        };
        let roll = ctx.rng.f();
        let w = if roll < 0.70 {
            ctx.workload(ns, "ReplicaSet", n)
        } else if roll < 0.84 {
            ctx.workload(ns, "StatefulSet", n)
        } else if roll < 0.97 {
            ctx.workload("batch".into(), "Job", n)
        } else {
            let ns = team_ns[ctx.rng.below(teams)].clone();
            ctx.bare_pods(&ns, n);
            n += 1;
            continue;
        };
        let mut w = w;
        w.replicas = w.replicas.min(remaining);
        ctx.emit_workload(&w);
        n += 1;
    }
    ctx.out
}

struct Ctx {
    rng: Rng,
    pdb_share: f64,
    nodes: Vec<NodeGen>,
    placer: Placer,
    out: Cluster,
}

impl Ctx {
    fn owner(&mut self, kind: &str, ns: &str, name: &str, spec: Value) {
        let api_version = if kind == "Job" { "batch/v1" } else { "apps/v1" };
        self.out.owners.push(json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": name, "namespace": ns, "uid": owner_uid(kind, ns, name)},
            "spec": spec,
        }));
    }

    fn daemonset(&mut self, name: &str, cpu: u64, mem: u64, host_path: bool) {
        let hash = self.rng.suffix(10);
        let labels =
            json!({"app": name, "controller-revision-hash": hash, "pod-template-generation": "1"});
        self.owner(
            "DaemonSet",
            "kube-system",
            name,
            json!({
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": name, "image": format!("registry.example.com/system/{name}:1.8.2")}]}},
            }),
        );
        for node in 0..self.nodes.len() {
            let node_name = self.nodes[node].name.clone();
            let pod_name = format!("{name}-{}", self.rng.suffix(5));
            let mut spec = self.container_spec(
                &[format!("registry.example.com/system/{name}:1.8.2")],
                1,
                cpu,
                mem,
                false,
            );
            spec["priorityClassName"] = json!("system-node-critical");
            spec["priority"] = json!(2_000_001_000);
            spec["tolerations"] = json!([{"operator": "Exists"}]);
            spec["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}}});
            if host_path {
                spec["volumes"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "varlog", "hostPath": {"path": "/var/log", "type": ""}}));
            }
            let age = self.rng.range(3600, 60 * 86400) as i64;
            self.pod(PodArgs {
                ns: "kube-system",
                name: pod_name,
                labels: labels.clone(),
                owner: Some(("DaemonSet", name.to_string())),
                node: Some(node),
                spec,
                age,
                annotations: json!({}),
                state: PodState::Running { restarts: 0 },
            });
        }
    }

    fn system_deployment(&mut self, name: &str, replicas: usize) {
        let w = Workload {
            ns: "kube-system".into(),
            kind: "ReplicaSet",
            name: name.into(),
            hash: self.rng.suffix(10),
            app: name.into(),
            replicas,
            pool: Pool::General,
            priority_class: Some("system-cluster-critical"),
            qos: 1,
            cpu_m: 100,
            mem_mi: 70,
            images: vec![format!("registry.example.com/system/{name}:1.12.0")],
            init: false,
            empty_dir: false,
            pvc: false,
            anti_host_required: false,
            anti_zone_required: false,
            anti_host_preferred: true,
            spread_zone: None,
            spread_host_soft: false,
            required_general: false,
            preferred_ssd: false,
            prefer_no_eviction: false,
            placement: Placement::Spread,
        };
        self.emit_workload(&w);
    }

    fn workload(&mut self, ns: String, kind: &'static str, n: usize) -> Workload {
        let r = &mut self.rng;
        let app_kind = *r.pick(&[
            "web", "api", "worker", "cache", "frontend", "search", "auth", "billing", "db", "queue",
        ]);
        let name = format!("{app_kind}-{n}");
        let replicas = match kind {
            "ReplicaSet" => [1, 2, 3, 3, 5, 5, 10, 10, 20, 50]
                [r.weighted(&[10.0, 20.0, 15.0, 10.0, 12.0, 8.0, 10.0, 5.0, 7.0, 3.0])],
            "StatefulSet" => *r.pick(&[1, 3, 3, 5]),
            _ => *r.pick(&[1, 1, 3, 5, 10, 20]),
        };
        let pool = if kind == "StatefulSet" && r.chance(0.35) {
            Pool::Db
        } else if kind == "Job" && r.chance(0.1) {
            Pool::Gpu
        } else {
            Pool::General
        };
        let qos = r.weighted(&[0.1, 0.6, 0.3]) as u8;
        let batch = kind == "Job";
        let priority_class = if batch {
            Some(*r.pick(&["batch-low", "low-priority"]))
        } else {
            match r.weighted(&[0.15, 0.15, 0.1, 0.6]) {
                0 => Some("high-priority"),
                1 => Some("low-priority"),
                2 => Some("default-priority"),
                _ => None,
            }
        };
        let spread = !batch && replicas >= 3 && r.chance(0.3);
        let anti_host_required = !batch && replicas >= 2 && r.chance(0.2);
        let placement = if spread && r.chance(0.3) {
            Placement::OneZone
        } else if r.chance(0.08) {
            Placement::Packed
        } else {
            Placement::Spread
        };
        let required_general = pool == Pool::General && !batch && r.chance(0.1);
        let containers = if r.chance(0.2) { 2 } else { 1 };
        let mut images = vec![format!(
            "registry.example.com/{app_kind}/{name}:{}.{}.{}",
            r.below(3) + 1,
            r.below(20),
            r.below(10)
        )];
        if containers == 2 {
            images.push("registry.example.com/mesh/proxy:1.26.1".into());
        }
        Workload {
            hash: if kind == "ReplicaSet" {
                r.suffix(10)
            } else {
                r.hex(10)
            },
            app: name.clone(),
            ns,
            kind,
            name,
            replicas,
            pool,
            priority_class,
            qos,
            cpu_m: *r.pick(&[50, 100, 100, 250, 250, 500, 1000]),
            mem_mi: *r.pick(&[64, 128, 256, 256, 512, 1024, 2048]),
            images,
            init: r.chance(0.15),
            empty_dir: r.chance(0.1),
            pvc: kind == "StatefulSet",
            anti_host_required,
            anti_zone_required: !batch && !anti_host_required && replicas <= 3 && r.chance(0.05),
            anti_host_preferred: !batch && r.chance(0.15),
            spread_zone: spread.then(|| r.chance(0.3)),
            spread_host_soft: !batch && replicas >= 3 && r.chance(0.1),
            required_general,
            preferred_ssd: !batch && r.chance(0.15),
            prefer_no_eviction: r.chance(0.02),
            placement: if required_general && r.chance(0.05) {
                Placement::Drifted
            } else {
                placement
            },
        }
    }

    fn container_spec(
        &mut self,
        images: &[String],
        qos: u8,
        cpu_m: u64,
        mem_mi: u64,
        init: bool,
    ) -> Value {
        let token = format!("kube-api-access-{}", self.rng.suffix(5));
        let resources = match qos {
            0 => json!({}),
            1 => json!({"requests": {"cpu": format!("{cpu_m}m"), "memory": format!("{mem_mi}Mi")},
                        "limits": {"memory": format!("{}Mi", mem_mi * 2)}}),
            _ => json!({"requests": {"cpu": format!("{cpu_m}m"), "memory": format!("{mem_mi}Mi")},
                        "limits": {"cpu": format!("{cpu_m}m"), "memory": format!("{mem_mi}Mi")}}),
        };
        let containers: Vec<Value> = images
            .iter()
            .enumerate()
            .map(|(i, image)| {
                let name = if i == 0 { "app".to_string() } else { "proxy".to_string() };
                json!({
                    "name": name,
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "ports": [{"containerPort": 8080 + i, "name": if i == 0 { "http" } else { "proxy" }, "protocol": "TCP"}],
                    "resources": resources,
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
                    "volumeMounts": [{"name": token, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}],
                })
            })
            .collect();
        let mut spec = json!({
            "containers": containers,
            "dnsPolicy": "ClusterFirst",
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "serviceAccount": "default",
            "serviceAccountName": "default",
            "terminationGracePeriodSeconds": 30,
            "tolerations": [
                {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
                {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300},
            ],
            "volumes": [{"name": token, "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ]}}],
        });
        if init {
            spec["initContainers"] = json!([{
                "name": "init",
                "image": "registry.example.com/tools/migrate:2.0.1",
                "imagePullPolicy": "IfNotPresent",
                "resources": resources,
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }]);
        }
        spec
    }

    fn emit_workload(&mut self, w: &Workload) {
        let ns = w.ns.as_str();
        let mut labels = json!({"app": w.app, "app.kubernetes.io/name": w.app, "team": ns});
        let owner_name = match w.kind {
            "ReplicaSet" => {
                labels["pod-template-hash"] = json!(w.hash);
                format!("{}-{}", w.name, w.hash)
            }
            "StatefulSet" => {
                labels["controller-revision-hash"] = json!(format!("{}-{}", w.name, w.hash));
                w.name.clone()
            }
            _ => {
                labels["batch.kubernetes.io/job-name"] = json!(w.name);
                labels["job-name"] = json!(w.name);
                w.name.clone()
            }
        };
        let selector = json!({"matchLabels": {"app": w.app}});
        let mut owner_spec = json!({
            "replicas": w.replicas,
            "selector": selector,
            "template": {"metadata": {"labels": {"app": w.app}}, "spec": {"containers": [{"name": "app", "image": w.images[0]}]}},
        });
        match w.kind {
            "StatefulSet" => owner_spec["serviceName"] = json!(w.name),
            "Job" => {
                owner_spec = json!({
                    "parallelism": w.replicas,
                    "completions": w.replicas,
                    "manualSelector": true,
                    "selector": selector,
                    "template": {"metadata": {"labels": {"app": w.app}}, "spec": {"restartPolicy": "Never", "containers": [{"name": "app", "image": w.images[0]}]}},
                });
            }
            _ => {}
        }
        self.owner(w.kind, ns, &owner_name, owner_spec);

        // A PodDisruptionBudget for a third of the replicated services.
        if w.kind != "Job" && w.replicas >= 2 && self.rng.chance(self.pdb_share) {
            let (field, value) = match self.rng.below(3) {
                0 => ("maxUnavailable", json!(1)),
                1 => ("minAvailable", json!("50%")),
                _ => ("minAvailable", json!(w.replicas - 1)),
            };
            self.out.pdbs.push(json!({
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": w.name, "namespace": ns, "uid": self.rng.uuid(), "creationTimestamp": ts(90 * 86400), "generation": 1},
                "spec": {field: value, "selector": selector},
                "status": {"currentHealthy": w.replicas, "desiredHealthy": w.replicas.saturating_sub(1), "disruptionsAllowed": 1, "expectedPods": w.replicas, "observedGeneration": 1},
            }));
        }

        let app_sel = json!({"matchLabels": {"app": w.app}});
        let mut affinity = json!({});
        if w.anti_host_required {
            affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] =
                json!([{"labelSelector": app_sel, "topologyKey": HOST_KEY}]);
        } else if w.anti_zone_required {
            affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] =
                json!([{"labelSelector": app_sel, "topologyKey": ZONE_KEY}]);
        }
        if w.anti_host_preferred {
            affinity["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] = json!([{"weight": 100, "podAffinityTerm": {"labelSelector": app_sel, "topologyKey": HOST_KEY}}]);
        }
        if w.required_general {
            affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = json!({"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["general"]}]}
            ]});
        }
        if w.preferred_ssd {
            affinity["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] = json!([
                {"weight": 50, "preference": {"matchExpressions": [{"key": "disktype", "operator": "In", "values": ["ssd"]}]}}
            ]);
        }
        let mut tsc = Vec::new();
        if let Some(match_label_keys) = w.spread_zone {
            let mut c = json!({"maxSkew": 1, "topologyKey": ZONE_KEY, "whenUnsatisfiable": "DoNotSchedule", "labelSelector": app_sel});
            if match_label_keys {
                c["matchLabelKeys"] = json!(["pod-template-hash"]);
            }
            tsc.push(c);
        }
        if w.spread_host_soft {
            tsc.push(json!({"maxSkew": 2, "topologyKey": HOST_KEY, "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": app_sel}));
        }

        // Node placement.
        let mut used: Vec<usize> = Vec::new();
        let one_zone = self.rng.below(3);
        let packed_nodes: Vec<usize> = (0..2)
            .filter_map(|_| self.placer.place(&mut self.rng, &self.nodes, w.pool, None))
            .collect();
        for i in 0..w.replicas {
            let node = match w.placement {
                Placement::Packed if !packed_nodes.is_empty() => {
                    Some(packed_nodes[i % packed_nodes.len()])
                }
                Placement::OneZone => {
                    self.placer
                        .place(&mut self.rng, &self.nodes, w.pool, Some(one_zone))
                }
                Placement::Drifted => self
                    .placer
                    .place(&mut self.rng, &self.nodes, Pool::Db, None),
                _ => {
                    let zone = if tsc.is_empty() { None } else { Some(i % 3) };
                    // Replicas avoid each other's nodes, mostly: a few land on a sibling's.
                    if !used.is_empty()
                        && (w.anti_host_required || w.anti_zone_required)
                        && self.rng.chance(0.04)
                    {
                        Some(used[self.rng.below(used.len())])
                    } else {
                        let mut pick = None;
                        for _ in 0..4 {
                            pick = self.placer.place(&mut self.rng, &self.nodes, w.pool, zone);
                            if pick.is_some_and(|p| !used.contains(&p)) {
                                break;
                            }
                        }
                        pick
                    }
                }
            };
            let node = if self.rng.chance(0.004) { None } else { node };
            if let Some(n) = node {
                used.push(n);
            }
            let mut spec = self.container_spec(&w.images, w.qos, w.cpu_m, w.mem_mi, w.init);
            if affinity.as_object().is_some_and(|o| !o.is_empty()) {
                spec["affinity"] = affinity.clone();
            }
            if !tsc.is_empty() {
                spec["topologySpreadConstraints"] = Value::Array(tsc.clone());
            }
            if let Some(pc) = w.priority_class {
                spec["priorityClassName"] = json!(pc);
                spec["priority"] = json!(match pc {
                    "system-cluster-critical" => 2_000_000_000,
                    "high-priority" => 100_000,
                    "default-priority" => 1_000,
                    "low-priority" => 10,
                    _ => -10,
                });
            } else {
                spec["priority"] = json!(1_000); // the globalDefault class
            }
            match w.pool {
                Pool::Db => {
                    spec["nodeSelector"] = json!({"pool": "db"});
                    spec["tolerations"].as_array_mut().unwrap().push(json!({"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}));
                }
                Pool::Gpu => {
                    spec["nodeSelector"] = json!({"pool": "gpu"});
                    spec["tolerations"].as_array_mut().unwrap().push(json!({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}));
                    spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = json!("1");
                    spec["containers"][0]["resources"]["requests"]["nvidia.com/gpu"] = json!("1");
                }
                Pool::General => {}
            }
            if w.kind == "Job" {
                spec["restartPolicy"] = json!("Never");
            }
            if w.empty_dir {
                spec["volumes"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "scratch", "emptyDir": {}}));
            }
            let name = match w.kind {
                "ReplicaSet" => format!("{owner_name}-{}", self.rng.suffix(5)),
                "StatefulSet" => format!("{}-{i}", w.name),
                _ => format!("{}-{}", w.name, self.rng.suffix(5)),
            };
            if w.pvc {
                spec["volumes"].as_array_mut().unwrap().push(json!({"name": "data", "persistentVolumeClaim": {"claimName": format!("data-{name}")}}));
                spec["hostname"] = json!(name);
                spec["subdomain"] = json!(w.name);
            }
            let mut pod_labels = labels.clone();
            if w.kind == "StatefulSet" {
                pod_labels["statefulset.kubernetes.io/pod-name"] = json!(name);
                pod_labels["apps.kubernetes.io/pod-index"] = json!(i.to_string());
            }
            let mut annotations = json!({});
            if w.prefer_no_eviction {
                annotations["descheduler.alpha.kubernetes.io/prefer-no-eviction"] = json!("true");
            }
            let r = &mut self.rng;
            let age = if w.kind == "Job" {
                r.range(60, 3 * 86400) as i64
            } else if r.chance(0.1) {
                r.range(25 * 86400, 120 * 86400) as i64
            } else {
                r.range(120, 25 * 86400) as i64
            };
            let state = if node.is_none() {
                PodState::Pending
            } else if w.kind == "Job" {
                match r.weighted(&[0.45, 0.12, 0.43]) {
                    0 => PodState::Succeeded,
                    1 => {
                        let reason: &'static str =
                            ["Error", "OOMKilled", "DeadlineExceeded"][r.below(3)];
                        PodState::Failed(reason)
                    }
                    _ => PodState::Running { restarts: 0 },
                }
            } else if r.chance(0.003) {
                PodState::Failed("Evicted")
            } else if r.chance(0.02) {
                PodState::CrashLoop {
                    restarts: r.range(10, 300) as u32,
                }
            } else if r.chance(0.002) {
                PodState::Terminating
            } else if r.chance(0.04) {
                PodState::Running {
                    restarts: r.range(1, 9) as u32,
                }
            } else {
                PodState::Running { restarts: 0 }
            };
            self.pod(PodArgs {
                ns,
                name,
                labels: pod_labels,
                owner: Some((w.kind, owner_name.clone())),
                node,
                spec,
                age,
                annotations,
                state,
            });
        }
    }

    fn bare_pods(&mut self, ns: &str, n: usize) {
        let name = format!("debug-{n}");
        let node = self
            .placer
            .place(&mut self.rng, &self.nodes, Pool::General, None);
        let mut spec = self.container_spec(
            &["registry.example.com/tools/netshoot:0.13".into()],
            0,
            0,
            0,
            false,
        );
        spec["restartPolicy"] = json!("Never");
        let age = self.rng.range(60, 40 * 86400) as i64;
        let state = if self.rng.chance(0.3) {
            PodState::Failed("Error")
        } else {
            PodState::Running { restarts: 0 }
        };
        self.pod(PodArgs {
            ns,
            name,
            labels: json!({"run": format!("debug-{n}")}),
            owner: None,
            node,
            spec,
            age,
            annotations: json!({}),
            state,
        });
    }

    fn pod(&mut self, a: PodArgs<'_>) {
        let r = &mut self.rng;
        let uid = r.uuid();
        let mut spec = a.spec;
        let started = a.age - r.range(1, 20).min(a.age as u64 - 1) as i64;
        let mut status = json!({"qosClass": qos_class(&spec)});
        if let Some(n) = a.node {
            let node = &mut self.nodes[n];
            node.pods += 1;
            spec["nodeName"] = json!(node.name);
            let host_ip = format!("10.{}.{}.{}", 1 + node.zone, n / 250, 2 + n % 250);
            let pod_ip = format!("10.{}.{}.{}", 64 + n / 256, n % 256, 2 + node.pods);
            status["hostIP"] = json!(host_ip);
            status["hostIPs"] = json!([{"ip": host_ip}]);
            status["podIP"] = json!(pod_ip);
            status["podIPs"] = json!([{"ip": pod_ip}]);
            status["startTime"] = json!(ts(started));
        }
        let (phase, ready, reason) = match a.state {
            PodState::Pending => ("Pending", false, None),
            PodState::Running { .. } | PodState::Terminating => ("Running", true, None),
            PodState::CrashLoop { .. } => ("Running", false, None),
            PodState::Succeeded => ("Succeeded", false, None),
            PodState::Failed(reason) => ("Failed", false, Some(reason)),
        };
        status["phase"] = json!(phase);
        let cond = |t: &str, s: bool, age: i64| json!({"type": t, "status": if s { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": ts(age)});
        if a.node.is_none() {
            status["conditions"] = json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/1 nodes are available: 1 Insufficient cpu.", "lastProbeTime": null, "lastTransitionTime": ts(a.age)}]);
        } else {
            let containers = spec["containers"].as_array().cloned().unwrap_or_default();
            let statuses: Vec<Value> = containers
                .iter()
                .map(|ct| {
                    let (state, last, restarts, cready) = match a.state {
                        PodState::CrashLoop { restarts } => (
                            json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}}),
                            json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": ts(400), "finishedAt": ts(390)}}),
                            restarts,
                            false,
                        ),
                        PodState::Running { .. } | PodState::Terminating => {
                            let restarts = match a.state {
                                PodState::Running { restarts } => restarts,
                                _ => 0,
                            };
                            (
                                json!({"running": {"startedAt": ts(started - 1)}}),
                                if restarts > 0 {
                                    json!({"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": ts(started), "finishedAt": ts(started - 1)}})
                                } else {
                                    json!({})
                                },
                                restarts,
                                true,
                            )
                        }
                        PodState::Succeeded => (
                            json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": ts(started), "finishedAt": ts(started / 2)}}),
                            json!({}),
                            0,
                            false,
                        ),
                        PodState::Failed(reason) => (
                            json!({"terminated": {"exitCode": if reason == "OOMKilled" { 137 } else { 1 }, "reason": reason, "startedAt": ts(started), "finishedAt": ts(started / 2)}}),
                            json!({}),
                            0,
                            false,
                        ),
                        PodState::Pending => (json!({"waiting": {"reason": "ContainerCreating"}}), json!({}), 0, false),
                    };
                    let image = ct["image"].as_str().unwrap_or_default().to_string();
                    json!({
                        "name": ct["name"],
                        "image": image,
                        "imageID": format!("{}@sha256:{}", image.split(':').next().unwrap_or_default(), r.hex(64)),
                        "containerID": format!("containerd://{}", r.hex(64)),
                        "ready": cready,
                        "started": cready,
                        "restartCount": restarts,
                        "state": state,
                        "lastState": last,
                    })
                })
                .collect();
            status["containerStatuses"] = Value::Array(statuses);
            if let Some(inits) = spec["initContainers"].as_array() {
                status["initContainerStatuses"] = Value::Array(
                    inits
                        .iter()
                        .map(|ct| {
                            json!({"name": ct["name"], "image": ct["image"], "ready": true, "restartCount": 0, "started": false,
                                "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": ts(started), "finishedAt": ts(started)}}})
                        })
                        .collect(),
                );
            }
            status["conditions"] = json!([
                cond("PodReadyToStartContainers", phase == "Running", started),
                cond("Initialized", true, started),
                cond("Ready", ready, started),
                cond("ContainersReady", ready, started),
                cond("PodScheduled", true, a.age),
            ]);
            if let Some(reason) = reason.filter(|r| *r == "Evicted") {
                status["reason"] = json!(reason);
                status["message"] = json!("The node was low on resource: memory.");
            }
        }
        let mut meta = json!({
            "name": a.name,
            "namespace": a.ns,
            "uid": uid,
            "creationTimestamp": ts(a.age),
            "labels": a.labels,
            "resourceVersion": (100_000 + self.out.pods.len()).to_string(),
        });
        if a.annotations.as_object().is_some_and(|o| !o.is_empty()) {
            meta["annotations"] = a.annotations;
        }
        if let PodState::Terminating = a.state {
            meta["deletionTimestamp"] = json!(ts(-20));
            meta["deletionGracePeriodSeconds"] = json!(30);
        }
        if let Some((kind, name)) = a.owner {
            let api_version = if kind == "Job" { "batch/v1" } else { "apps/v1" };
            meta["ownerReferences"] = json!([{
                "apiVersion": api_version, "kind": kind, "name": name,
                "uid": owner_uid(kind, a.ns, &name), "controller": true, "blockOwnerDeletion": true,
            }]);
            if kind != "StatefulSet" {
                let generate = name.clone() + "-";
                meta["generateName"] = json!(generate);
            }
        }
        self.out.pods.push(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": spec,
            "status": status,
        }));
    }
}

#[derive(Clone, Copy)]
enum PodState {
    Pending,
    Running { restarts: u32 },
    CrashLoop { restarts: u32 },
    Terminating,
    Succeeded,
    Failed(&'static str),
}

struct PodArgs<'a> {
    ns: &'a str,
    name: String,
    labels: Value,
    owner: Option<(&'a str, String)>,
    node: Option<usize>,
    spec: Value,
    age: i64,
    annotations: Value,
    state: PodState,
}

fn qos_class(spec: &Value) -> &'static str {
    let res = &spec["containers"][0]["resources"];
    if res.get("requests").is_none() {
        "BestEffort"
    } else if res["limits"].get("cpu").is_some() {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

impl Cluster {
    /// Every object of the dump, in its order.
    fn items(&self) -> impl Iterator<Item = &Value> {
        self.namespaces
            .iter()
            .chain(&self.priority_classes)
            .chain(&self.nodes)
            .chain(&self.pdbs)
            .chain(&self.pods)
    }

    /// Writes the dump `simulate` reads, a `v1` List, indented like `kubectl
    /// get -o json`, or `compact` on one line (as `kubectl get -o json | jq
    /// -c` or a tool would). Serialized from the objects in place: a List
    /// built as one `Value` first copied every object, which at 10,000 nodes
    /// (300,000 pods) ran the 24 GiB machine out of memory.
    pub fn write_dump_as(&self, w: impl std::io::Write, compact: bool) -> std::io::Result<()> {
        struct Items<'a>(&'a Cluster);
        impl serde::Serialize for Items<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.items())
            }
        }
        // Fields in the order serde_json's sorted maps printed them.
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct List<'a> {
            api_version: &'static str,
            items: Items<'a>,
            kind: &'static str,
            metadata: Value,
        }
        let list = List {
            api_version: "v1",
            items: Items(self),
            kind: "List",
            metadata: json!({"resourceVersion": ""}),
        };
        let mut w = std::io::BufWriter::new(w);
        if compact {
            serde_json::to_writer(&mut w, &list)?;
        } else {
            serde_json::to_writer_pretty(&mut w, &list)?;
        }
        std::io::Write::write_all(&mut w, b"\n")
    }

    /// The typed objects a snapshot is built from.
    pub fn objects(&self) -> descheduler::snapshot::ClusterObjects {
        fn typed<T: serde::de::DeserializeOwned>(v: &[Value]) -> Vec<Arc<T>> {
            v.iter()
                .map(|o| {
                    Arc::new(
                        serde_json::from_value(o.clone()).expect("generated objects are valid"),
                    )
                })
                .collect()
        }
        descheduler::snapshot::ClusterObjects {
            nodes: typed(&self.nodes),
            pods: typed(&self.pods),
            pdbs: typed(&self.pdbs),
            priority_classes: typed(&self.priority_classes),
            namespaces: typed(&self.namespaces),
        }
    }
}

/// The generation instant as a `DateTime`.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(NOW_SECS, 0).expect("valid time")
}

/// A validated policy from a spec in YAML.
pub fn policy(
    spec_yaml: &str,
    snap: &descheduler::snapshot::Snapshot,
) -> descheduler::policy::Policy {
    let spec: descheduler::api::DeschedulerPolicySpec =
        serde_yaml_ng::from_str(spec_yaml).expect("policy spec parses");
    descheduler::policy::validate(&spec, &|name| snap.priority_classes.get(name).copied())
        .expect("policy is valid")
}
