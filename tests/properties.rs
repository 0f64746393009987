//! Property tests of the planner: random small clusters and random valid
//! policies, built through the public API, checked against invariants that
//! hold whatever the strategies decide:
//!
//! 1. only eligible pods are evicted (SPEC §3 rules 2-3 under the strategy's
//!    priority threshold, re-checked here independently, and rule 4), and only
//!    pods on processed nodes (Ready and matching spec.nodeSelector);
//! 2. the per-node, per-namespace and total limits are never exceeded;
//! 3. no pod appears twice across evictions and blocked;
//! 4. the same input gives the same plan, also with the input objects shuffled;
//! 5. no Succeeded pod is evicted, and Failed pods only by RemoveFailedPods;
//! 6. with fewer than two Ready nodes nothing is evicted.

// Test code may panic on what it built itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerState, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, EmptyDirVolumeSource, HostPathVolumeSource, Namespace, Node, NodeAffinity,
    NodeCondition, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, NodeSpec, NodeStatus,
    PersistentVolumeClaimVolumeSource, Pod, PodAffinityTerm, PodAntiAffinity, PodCondition,
    PodSpec, PodStatus, PreferredSchedulingTerm, ResourceRequirements, Taint, Toleration,
    TopologySpreadConstraint, Volume,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta, OwnerReference, Time,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use descheduler::api::{
    DeschedulerPolicySpec, EvictionLimits, EvictionMode, FailedPods, HighNodeUtilizationParams,
    HighThresholds, InterPodAntiAffinityParams, LowNodeUtilizationParams, LowThresholds,
    NoEvictionPolicy, NodeAffinityParams, NodeAffinityType, NodeTaintsParams, PlacementCheck,
    PodLifeTime, PodLifeTimeParams, PodState, PodsHavingTooManyRestarts, RemoveDuplicates,
    RemoveDuplicatesParams, RemoveFailedPodsParams, RestartState, Strategies, Strategy as Entry,
    TooManyRestartsParams, TopologySpreadParams,
};
use descheduler::engine::plan;
use descheduler::plan::{EvictionPlan as PlanResult, Prediction};
use descheduler::policy::validate;
use descheduler::snapshot::{ClusterObjects, Snapshot};

// ---------------------------------------------------------------------------
// The world the generators draw from.

const NOW: i64 = 1_800_000_000;
const NAMESPACES: [&str; 4] = ["default", "team-a", "team-b", "kube-system"];
const APPS: [&str; 3] = ["web", "db", "cache"];
const OWNER_KINDS: [&str; 4] = ["ReplicaSet", "StatefulSet", "DaemonSet", "Job"];
const ZONE: &str = "topology.kubernetes.io/zone";
const HOSTNAME: &str = "kubernetes.io/hostname";
const SYSTEM_CRITICAL: i32 = 2_000_000_000;
/// (name, value) of the PriorityClasses every cluster has.
const PRIORITY_CLASSES: [(&str, i32); 4] = [
    ("system-cluster-critical", SYSTEM_CRITICAL),
    ("system-node-critical", 2_000_001_000),
    ("high", 100_000),
    ("low", 10),
];
/// Taints a node may carry: (key, value, effect).
const TAINTS: [(&str, &str, &str); 4] = [
    ("dedicated", "db", "NoSchedule"),
    ("gpu", "", "NoSchedule"),
    ("maintenance", "", "NoExecute"),
    ("soft", "", "PreferNoSchedule"),
];

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).expect("valid timestamp")
}

fn ago(secs: u32) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(NOW - i64::from(secs)).expect("valid timestamp"))
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn match_labels(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(map(pairs)),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------
// Cluster descriptions: small, shrinkable values turned into k8s objects.

#[derive(Clone, Debug)]
struct NodeDesc {
    zone: u8,
    worker: bool,
    cpu_m: u32,
    mem_mi: u32,
    pods: u32,
    /// Bitmask over TAINTS.
    taints: u8,
    unschedulable: bool,
    ready: bool,
}

#[derive(Clone, Debug)]
struct PodDesc {
    ns: u8,
    app: u8,
    /// None: bare; Some((kind index, owner index)).
    owner: Option<(u8, u8)>,
    node: Option<u8>,
    phase: &'static str,
    ready: bool,
    cpu_m: u32,
    mem_mi: u32,
    guaranteed: bool,
    /// 0 none, 1 spec.priority, 2 priorityClassName.
    priority: (u8, i32, u8),
    evict: bool,
    prefer_no_eviction: bool,
    mirror: bool,
    static_pod: bool,
    terminating: bool,
    /// 0 none, 1 emptyDir, 2 hostPath, 3 PVC.
    volume: u8,
    restarts: u32,
    init_restarts: u32,
    waiting: Option<&'static str>,
    failure: Option<&'static str>,
    age_s: u32,
    started: bool,
    anti_affinity: Option<(u8, bool)>,
    spread: Option<(i32, bool, bool, u8)>,
    node_selector: Option<u8>,
    required_affinity: Option<u8>,
    preferred_affinity: Option<(u8, i32)>,
    /// Bitmask over TAINTS.
    tolerations: u8,
}

#[derive(Clone, Debug)]
struct PdbDesc {
    ns: u8,
    app: u8,
    /// true: minAvailable, false: maxUnavailable.
    min_available: bool,
    value: i32,
}

#[derive(Clone, Debug)]
struct Cluster {
    zones: u8,
    nodes: Vec<NodeDesc>,
    pods: Vec<PodDesc>,
    pdbs: Vec<PdbDesc>,
    /// Which namespaces carry `descheduling: enabled`.
    ns_enabled: [bool; 4],
}

fn node_desc() -> BoxedStrategy<NodeDesc> {
    (
        0u8..3,
        any::<bool>(),
        prop::sample::select(vec![1000u32, 2000, 4000, 8000]),
        prop::sample::select(vec![1024u32, 4096, 8192, 16384]),
        prop::sample::select(vec![4u32, 10, 30, 110]),
        prop::bits::u8::between(0, 4),
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.85),
    )
        .prop_map(
            |(zone, worker, cpu_m, mem_mi, pods, taints, unschedulable, ready)| NodeDesc {
                zone,
                worker,
                cpu_m,
                mem_mi,
                pods,
                taints: sparse(taints),
                unschedulable,
                ready,
            },
        )
        .boxed()
}

/// At most one bit of four random ones: most nodes carry no taint and most
/// pods no toleration.
fn sparse(bits: u8) -> u8 {
    if bits.count_ones() >= 2 { 0 } else { bits }
}

fn pod_desc() -> BoxedStrategy<PodDesc> {
    let identity = (
        // Mostly `default`, and mostly ReplicaSets, so owners have several pods.
        prop::sample::select(vec![0u8, 0, 0, 1, 2, 3]),
        0u8..3,
        prop::option::weighted(
            0.85,
            (
                prop::sample::select(vec![0u8, 0, 0, 1, 2, 3]),
                prop::sample::select(vec![0u8, 0, 0, 1]),
            ),
        ),
        // Crowd the first nodes, so usage is uneven and owners pile up.
        prop::option::weighted(
            0.9,
            prop::sample::select(vec![0u8, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7]),
        ),
        prop::sample::select(vec![
            "Running",
            "Running",
            "Running",
            "Running",
            "Pending",
            "Failed",
            "Succeeded",
            "Unknown",
        ]),
        prop::bool::weighted(0.8),
    );
    let resources = (
        prop::sample::select(vec![0u32, 100, 250, 500, 1000, 1500]),
        prop::sample::select(vec![0u32, 128, 512, 1024, 2048]),
        prop::bool::weighted(0.3),
        (
            0u8..3,
            prop::sample::select(vec![0i32, 5, 500, 100_000, SYSTEM_CRITICAL]),
            0u8..4,
        ),
    );
    let flags = (
        prop::bool::weighted(0.08),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.05),
        prop::bool::weighted(0.05),
        prop::bool::weighted(0.05),
        prop::sample::select(vec![0u8, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]),
    );
    let status = (
        prop::sample::select(vec![0u32, 0, 1, 3, 10, 25]),
        prop::sample::select(vec![0u32, 0, 5]),
        prop::option::weighted(
            0.15,
            prop::sample::select(vec![
                "CrashLoopBackOff",
                "ImagePullBackOff",
                "ContainerCreating",
            ]),
        ),
        prop::option::weighted(
            0.5,
            prop::sample::select(vec!["Error", "OOMKilled", "Evicted", "NodeLost"]),
        ),
        prop::sample::select(vec![0u32, 30, 300, 3600, 86_400]),
        prop::bool::weighted(0.9),
    );
    let placement = (
        prop::option::weighted(0.2, (0u8..3, any::<bool>())),
        prop::option::weighted(0.25, (1i32..3, any::<bool>(), any::<bool>(), 0u8..3)),
        prop::option::weighted(0.2, 0u8..4),
        prop::option::weighted(0.15, 0u8..3),
        prop::option::weighted(0.1, (0u8..3, 1i32..100)),
        prop::bits::u8::between(0, 4),
    );
    (identity, resources, flags, status, placement)
        .prop_map(
            |(
                (ns, app, owner, node, phase, ready),
                (cpu_m, mem_mi, guaranteed, priority),
                (evict, prefer_no_eviction, mirror, static_pod, terminating, volume),
                (restarts, init_restarts, waiting, failure, age_s, started),
                (
                    anti_affinity,
                    spread,
                    node_selector,
                    required_affinity,
                    preferred_affinity,
                    tolerations,
                ),
            )| PodDesc {
                ns,
                app,
                owner,
                node,
                phase,
                ready,
                cpu_m,
                mem_mi,
                guaranteed,
                priority,
                evict,
                prefer_no_eviction,
                mirror,
                static_pod,
                terminating,
                volume,
                restarts,
                init_restarts,
                waiting,
                failure,
                age_s,
                started,
                anti_affinity,
                spread,
                node_selector,
                required_affinity,
                preferred_affinity,
                tolerations: sparse(tolerations),
            },
        )
        .boxed()
}

fn pdb_desc() -> BoxedStrategy<PdbDesc> {
    (0u8..4, 0u8..3, any::<bool>(), 0i32..3)
        .prop_map(|(ns, app, min_available, value)| PdbDesc {
            ns,
            app,
            min_available,
            value,
        })
        .boxed()
}

fn cluster() -> BoxedStrategy<Cluster> {
    (
        2u8..4,
        prop::collection::vec(node_desc(), 2..=8),
        prop::collection::vec(pod_desc(), 0..=60),
        prop::collection::vec(pdb_desc(), 0..=3),
        any::<[bool; 4]>(),
    )
        .prop_map(|(zones, nodes, mut pods, pdbs, ns_enabled)| {
            share_templates(&mut pods);
            Cluster {
                zones,
                nodes,
                pods,
                pdbs,
                ns_enabled,
            }
        })
        .boxed()
}

/// Pods of one owner mostly share its template (requests, priority, volumes,
/// placement rules), as a controller's pods do; every fifth keeps its own.
fn share_templates(pods: &mut [PodDesc]) {
    let mut templates: BTreeMap<(u8, u8, (u8, u8)), PodDesc> = BTreeMap::new();
    for (i, p) in pods.iter_mut().enumerate() {
        let Some(owner) = p.owner else { continue };
        match templates.get(&(p.ns, p.app, owner)) {
            None => {
                templates.insert((p.ns, p.app, owner), p.clone());
            }
            Some(t) if !i.is_multiple_of(5) => {
                p.cpu_m = t.cpu_m;
                p.mem_mi = t.mem_mi;
                p.guaranteed = t.guaranteed;
                p.priority = t.priority;
                p.volume = t.volume;
                p.anti_affinity = t.anti_affinity;
                p.spread = t.spread;
                p.node_selector = t.node_selector;
                p.required_affinity = t.required_affinity;
                p.preferred_affinity = t.preferred_affinity;
                p.tolerations = t.tolerations;
            }
            Some(_) => {}
        }
    }
}

fn node_name(i: usize) -> String {
    format!("node-{i}")
}

fn zone_name(z: u8) -> String {
    format!("zone-{z}")
}

fn build_node(i: usize, d: &NodeDesc, zones: u8) -> Node {
    let name = node_name(i);
    let mut labels = map(&[(HOSTNAME, &name), (ZONE, &zone_name(d.zone % zones))]);
    if d.worker {
        labels.insert("role".into(), "worker".into());
    }
    let taints: Vec<Taint> = TAINTS
        .iter()
        .enumerate()
        .filter(|(b, _)| d.taints & (1 << b) != 0)
        .map(|(_, (k, v, e))| Taint {
            key: k.to_string(),
            value: (!v.is_empty()).then(|| v.to_string()),
            effect: e.to_string(),
            ..Default::default()
        })
        .collect();
    let allocatable = [
        ("cpu".to_string(), Quantity(format!("{}m", d.cpu_m))),
        ("memory".to_string(), Quantity(format!("{}Mi", d.mem_mi))),
        ("pods".to_string(), Quantity(d.pods.to_string())),
    ]
    .into_iter()
    .collect();
    Node {
        metadata: ObjectMeta {
            name: Some(name),
            labels: Some(labels),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            unschedulable: d.unschedulable.then_some(true),
            taints: Some(taints),
            ..Default::default()
        }),
        status: Some(NodeStatus {
            allocatable: Some(allocatable),
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: if d.ready { "True" } else { "False" }.into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    }
}

fn tolerations(mask: u8) -> Vec<Toleration> {
    TAINTS
        .iter()
        .enumerate()
        .filter(|(b, _)| mask & (1 << b) != 0)
        .map(|(_, (k, _, e))| Toleration {
            key: Some(k.to_string()),
            operator: Some("Exists".into()),
            effect: Some(e.to_string()),
            ..Default::default()
        })
        .collect()
}

fn build_pod(i: usize, d: &PodDesc, cluster: &Cluster) -> Pod {
    let ns = NAMESPACES[d.ns as usize];
    let app = APPS[d.app as usize];
    let mut annotations = BTreeMap::new();
    if d.evict {
        annotations.insert(
            "descheduler.alpha.kubernetes.io/evict".to_string(),
            String::new(),
        );
    }
    if d.prefer_no_eviction {
        annotations.insert(
            "descheduler.alpha.kubernetes.io/prefer-no-eviction".to_string(),
            String::new(),
        );
    }
    if d.mirror {
        annotations.insert(
            "kubernetes.io/config.mirror".to_string(),
            "hash".to_string(),
        );
    }
    if d.static_pod {
        annotations.insert(
            "kubernetes.io/config.source".to_string(),
            "file".to_string(),
        );
    } else if i.is_multiple_of(7) {
        annotations.insert("kubernetes.io/config.source".to_string(), "api".to_string());
    }
    let owner_references = d.owner.map(|(kind, idx)| {
        let kind = OWNER_KINDS[kind as usize];
        vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: kind.into(),
            name: format!("{}-{app}-{idx}", kind.to_lowercase()),
            uid: format!("uid-{kind}-{app}-{idx}"),
            controller: Some(true),
            ..Default::default()
        }]
    });
    let quantities = |cpu: u32, mem: u32| -> BTreeMap<String, Quantity> {
        let mut m = BTreeMap::new();
        if cpu > 0 {
            m.insert("cpu".to_string(), Quantity(format!("{cpu}m")));
        }
        if mem > 0 {
            m.insert("memory".to_string(), Quantity(format!("{mem}Mi")));
        }
        m
    };
    let requests = quantities(d.cpu_m, d.mem_mi);
    let resources = ResourceRequirements {
        limits: (d.guaranteed && !requests.is_empty()).then(|| requests.clone()),
        requests: (!requests.is_empty()).then_some(requests),
        ..Default::default()
    };
    let volumes = match d.volume {
        1 => Some(vec![Volume {
            name: "scratch".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        }]),
        2 => Some(vec![Volume {
            name: "host".into(),
            host_path: Some(HostPathVolumeSource {
                path: "/var/log".into(),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        3 => Some(vec![Volume {
            name: "data".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: format!("data-{i}"),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        _ => None,
    };
    let (priority, priority_class_name) = match d.priority {
        (1, value, _) => (Some(value), None),
        (2, _, class) => (
            Some(PRIORITY_CLASSES[class as usize].1),
            Some(PRIORITY_CLASSES[class as usize].0.to_string()),
        ),
        _ => (None, None),
    };
    let anti = d.anti_affinity.map(|(other, by_zone)| PodAntiAffinity {
        required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
            label_selector: Some(match_labels(&[("app", APPS[other as usize])])),
            topology_key: if by_zone { ZONE } else { HOSTNAME }.into(),
            ..Default::default()
        }]),
        ..Default::default()
    });
    let zone_term = |z: u8| NodeSelectorTerm {
        match_expressions: Some(vec![NodeSelectorRequirement {
            key: ZONE.into(),
            operator: "In".into(),
            values: Some(vec![zone_name(z)]),
        }]),
        ..Default::default()
    };
    let node_affinity =
        (d.required_affinity.is_some() || d.preferred_affinity.is_some()).then(|| NodeAffinity {
            required_during_scheduling_ignored_during_execution: d.required_affinity.map(|z| {
                NodeSelector {
                    node_selector_terms: vec![zone_term(z)],
                }
            }),
            preferred_during_scheduling_ignored_during_execution: d.preferred_affinity.map(
                |(z, weight)| {
                    vec![PreferredSchedulingTerm {
                        weight,
                        preference: zone_term(z),
                    }]
                },
            ),
        });
    let affinity = (anti.is_some() || node_affinity.is_some()).then(|| Affinity {
        pod_anti_affinity: anti,
        node_affinity,
        ..Default::default()
    });
    let node_selector = d.node_selector.map(|s| match s {
        3 => map(&[("role", "worker")]),
        z => map(&[(ZONE, &zone_name(z))]),
    });
    let spread = d.spread.map(|(max_skew, by_zone, hard, other)| {
        vec![TopologySpreadConstraint {
            max_skew,
            topology_key: if by_zone { ZONE } else { HOSTNAME }.into(),
            when_unsatisfiable: if hard {
                "DoNotSchedule"
            } else {
                "ScheduleAnyway"
            }
            .into(),
            label_selector: Some(match_labels(&[("app", APPS[other as usize])])),
            ..Default::default()
        }]
    });
    let node_name = d.node.map(|n| node_name(n as usize % cluster.nodes.len()));
    let container_status = |name: &str, restarts: u32, init: bool| ContainerStatus {
        name: name.into(),
        image: "registry.example/app:1".into(),
        image_id: String::new(),
        ready: d.ready && !init,
        restart_count: restarts as i32,
        state: Some(ContainerState {
            waiting: (!init)
                .then_some(d.waiting)
                .flatten()
                .map(|r| ContainerStateWaiting {
                    reason: Some(r.into()),
                    ..Default::default()
                }),
            terminated: (d.phase == "Failed" && !init).then(|| ContainerStateTerminated {
                exit_code: 1,
                reason: d.failure.map(Into::into),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("pod-{i}")),
            namespace: Some(ns.into()),
            labels: Some(map(&[
                ("app", app),
                ("tier", if i.is_multiple_of(2) { "front" } else { "back" }),
            ])),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references,
            creation_timestamp: Some(ago(d.age_s.saturating_add(5))),
            deletion_timestamp: d.terminating.then(|| ago(1)),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name,
            containers: vec![Container {
                name: "app".into(),
                image: Some(format!("registry.example/{app}:1")),
                resources: Some(resources),
                ..Default::default()
            }],
            priority,
            priority_class_name,
            volumes,
            affinity,
            node_selector,
            topology_spread_constraints: spread,
            tolerations: (d.tolerations != 0).then(|| tolerations(d.tolerations)),
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some(d.phase.into()),
            reason: if d.phase == "Failed" {
                d.failure.map(Into::into)
            } else {
                None
            },
            start_time: d.started.then(|| ago(d.age_s)),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if d.ready { "True" } else { "False" }.into(),
                ..Default::default()
            }]),
            container_statuses: Some(vec![container_status("app", d.restarts, false)]),
            init_container_statuses: (d.init_restarts > 0)
                .then(|| vec![container_status("init", d.init_restarts, true)]),
            ..Default::default()
        }),
    }
}

fn build_pdb(i: usize, d: &PdbDesc) -> PodDisruptionBudget {
    let value = Some(IntOrString::Int(d.value));
    PodDisruptionBudget {
        metadata: ObjectMeta {
            name: Some(format!("pdb-{i}")),
            namespace: Some(NAMESPACES[d.ns as usize].into()),
            ..Default::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            selector: Some(match_labels(&[("app", APPS[d.app as usize])])),
            min_available: if d.min_available { value.clone() } else { None },
            max_unavailable: if d.min_available { None } else { value },
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn build_objects(c: &Cluster) -> ClusterObjects {
    ClusterObjects {
        nodes: c
            .nodes
            .iter()
            .enumerate()
            .map(|(i, d)| Arc::new(build_node(i, d, c.zones)))
            .collect(),
        pods: c
            .pods
            .iter()
            .enumerate()
            .map(|(i, d)| Arc::new(build_pod(i, d, c)))
            .collect(),
        pdbs: c
            .pdbs
            .iter()
            .enumerate()
            .map(|(i, d)| Arc::new(build_pdb(i, d)))
            .collect(),
        priority_classes: PRIORITY_CLASSES
            .iter()
            .map(|(name, value)| {
                Arc::new(PriorityClass {
                    metadata: ObjectMeta {
                        name: Some(name.to_string()),
                        ..Default::default()
                    },
                    value: Some(*value),
                    ..Default::default()
                })
            })
            .collect(),
        namespaces: NAMESPACES
            .iter()
            .zip(c.ns_enabled)
            // kube-system has no Namespace object: a pod's namespace may be missing.
            .filter(|(ns, _)| **ns != "kube-system")
            .map(|(ns, enabled)| {
                let labels = if enabled {
                    map(&[("descheduling", "enabled")])
                } else {
                    BTreeMap::new()
                };
                Arc::new(Namespace {
                    metadata: ObjectMeta {
                        name: Some(ns.to_string()),
                        labels: Some(labels),
                        ..Default::default()
                    },
                    ..Default::default()
                })
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------
// Policies: random but valid, built as the typed spec.

/// namespaces, thresholdPriority, thresholdPriorityClassName, labelSelector, nodeFit.
type CommonParts = (
    Option<descheduler::api::Namespaces>,
    Option<i32>,
    Option<String>,
    Option<LabelSelector>,
    Option<bool>,
);

fn common_parts() -> BoxedStrategy<CommonParts> {
    let namespaces = prop::option::weighted(
        0.3,
        (
            any::<bool>(),
            prop::sample::subsequence(NAMESPACES.to_vec(), 1..=3),
        )
            .prop_map(|(include, list)| {
                let list: Vec<String> = list.into_iter().map(String::from).collect();
                if include {
                    descheduler::api::Namespaces {
                        include: Some(list),
                        exclude: None,
                    }
                } else {
                    descheduler::api::Namespaces {
                        include: None,
                        exclude: Some(list),
                    }
                }
            }),
    );
    // 0: default threshold, 1: a value, 2: a class name.
    let priority = (
        0u8..3,
        prop::sample::select(vec![0i32, 6, 501, 100_000, 100_001]),
        prop::sample::select(vec!["high", "low"]),
    );
    let selector = prop::option::weighted(
        0.25,
        prop::sample::select(vec![0u8, 1, 2]).prop_map(|s| match s {
            0 => match_labels(&[("app", "web")]),
            1 => LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "app".into(),
                    operator: "In".into(),
                    values: Some(vec!["web".into(), "db".into()]),
                }]),
                ..Default::default()
            },
            _ => LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "NotIn".into(),
                    values: Some(vec!["back".into()]),
                }]),
                ..Default::default()
            },
        }),
    );
    (
        namespaces,
        priority,
        selector,
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(ns, (kind, value, class), selector, node_fit)| {
            let (tp, tpc) = match kind {
                1 => (Some(value), None),
                2 => (None, Some(class.to_string())),
                _ => (None, None),
            };
            (ns, tp, tpc, selector, node_fit)
        })
        .boxed()
}

/// A strategy entry: usually enabled, sometimes `enabled: false`.
fn entry<P: std::fmt::Debug + Clone + 'static>(
    present: f64,
    params: impl Strategy<Value = P> + 'static,
) -> BoxedStrategy<Option<Entry<P>>> {
    let entry = (
        prop::option::weighted(0.2, prop::bool::weighted(0.3)),
        params,
    )
        .prop_map(|(enabled, params)| Entry {
            enabled,
            params: Some(params),
        });
    if present >= 1.0 {
        entry.prop_map(Some).boxed()
    } else {
        prop::option::weighted(present, entry).boxed()
    }
}

macro_rules! with_common {
    ($ty:ident { $($field:ident: $value:expr),* $(,)? }, $c:expr) => {{
        let (namespaces, threshold_priority, threshold_priority_class_name, label_selector, node_fit) = $c;
        $ty { namespaces, threshold_priority, threshold_priority_class_name, label_selector, node_fit, $($field: $value),* }
    }};
}

fn thresholds(resources: Vec<&'static str>, values: Vec<u8>) -> BTreeMap<String, f64> {
    resources
        .into_iter()
        .zip(values)
        .map(|(r, v)| (r.to_string(), f64::from(v)))
        .collect()
}

/// Each strategy is listed with probability `present`.
fn strategies(present: f64) -> BoxedStrategy<Strategies> {
    let failed = entry(
        present,
        (
            common_parts(),
            prop::option::of(prop::sample::subsequence(
                vec!["Error", "OOMKilled", "Evicted"],
                1..=2,
            )),
            prop::option::of(any::<bool>()),
            prop::option::weighted(0.3, Just(vec!["Job".to_string()])),
            prop::option::weighted(0.3, prop::sample::select(vec![0i64, 60, 3600])),
            prop::option::weighted(0.2, prop::sample::subsequence(vec![1i32, 137], 1..=2)),
        )
            .prop_map(|(c, reasons, init, kinds, min, codes)| {
                with_common!(
                    RemoveFailedPodsParams {
                        failed_pods: Some(FailedPods {
                            exit_codes: codes,
                            reasons: reasons.map(|r| r.into_iter().map(String::from).collect()),
                            including_init_containers: init,
                            exclude_owner_kinds: kinds,
                            min_pod_lifetime_seconds: min,
                        })
                    },
                    c
                )
            }),
    );
    let life = entry(
        present,
        (
            common_parts(),
            prop::sample::select(vec![1i64, 60, 1000, 5000, 100_000]),
            prop::option::weighted(
                0.4,
                prop::sample::subsequence(
                    vec![
                        PodState::Running,
                        PodState::Pending,
                        PodState::CrashLoopBackOff,
                        PodState::ContainerCreating,
                        PodState::Succeeded,
                        PodState::Failed,
                    ],
                    1..=3,
                ),
            ),
        )
            .prop_map(|(c, max, states)| {
                with_common!(
                    PodLifeTimeParams {
                        pod_life_time: Some(PodLifeTime {
                            max_pod_life_time_seconds: Some(max),
                            states,
                            ..Default::default()
                        })
                    },
                    c
                )
            }),
    );
    let restarts = entry(
        present,
        (
            common_parts(),
            1i32..12,
            prop::option::of(any::<bool>()),
            prop::option::weighted(
                0.3,
                prop::sample::subsequence(
                    vec![RestartState::Running, RestartState::CrashLoopBackOff],
                    1..=2,
                ),
            ),
        )
            .prop_map(|(c, t, init, states)| {
                with_common!(
                    TooManyRestartsParams {
                        pods_having_too_many_restarts: Some(PodsHavingTooManyRestarts {
                            pod_restart_threshold: Some(t),
                            including_init_containers: init,
                            states,
                        })
                    },
                    c
                )
            }),
    );
    let taints = entry(
        present,
        (
            common_parts(),
            prop::option::weighted(
                0.3,
                prop::sample::select(vec![
                    vec!["dedicated".to_string()],
                    vec!["gpu".to_string(), "soft".to_string()],
                ]),
            ),
            prop::option::weighted(
                0.3,
                prop::sample::select(vec![
                    vec!["dedicated=db".to_string()],
                    vec!["soft".to_string()],
                ]),
            ),
            prop::option::of(any::<bool>()),
        )
            .prop_map(|(c, excluded, included, prefer)| {
                with_common!(
                    NodeTaintsParams {
                        excluded_taints: excluded,
                        included_taints: included,
                        include_prefer_no_schedule: prefer
                    },
                    c
                )
            }),
    );
    let affinity = entry(
        present,
        (
            common_parts(),
            prop::option::of(prop::sample::subsequence(
                vec![NodeAffinityType::Required, NodeAffinityType::Preferred],
                1..=2,
            )),
        )
            .prop_map(|(c, types)| {
                with_common!(
                    NodeAffinityParams {
                        node_affinity_type: types
                    },
                    c
                )
            }),
    );
    let anti = entry(
        present,
        common_parts().prop_map(|c| with_common!(InterPodAntiAffinityParams {}, c)),
    );
    let duplicates = entry(
        present,
        (
            common_parts(),
            prop::option::weighted(
                0.3,
                prop::sample::select(vec![
                    vec!["ReplicaSet".to_string()],
                    vec!["Job".to_string()],
                ]),
            ),
        )
            .prop_map(|(c, kinds)| {
                with_common!(
                    RemoveDuplicatesParams {
                        remove_duplicates: Some(RemoveDuplicates {
                            exclude_owner_kinds: kinds
                        })
                    },
                    c
                )
            }),
    );
    let spread = entry(
        present,
        (
            common_parts(),
            prop::option::of(any::<bool>()),
            prop::option::of(any::<bool>()),
        )
            .prop_map(|(c, soft, fit)| {
                with_common!(
                    TopologySpreadParams {
                        include_soft_constraints: soft,
                        topology_balance_node_fit: fit,
                        constraints: None
                    },
                    c
                )
            }),
    );
    let resources = prop::sample::subsequence(vec!["cpu", "memory", "pods"], 1..=3);
    let low = entry(
        present,
        (
            common_parts(),
            resources.clone(),
            prop::collection::vec((0u8..=100, 0u8..=100), 3),
            any::<bool>(),
            prop::option::weighted(0.3, 0i32..3),
            prop::option::weighted(0.3, 0i32..3),
        )
            .prop_map(|(c, res, pairs, deviation, n, per_node)| {
                let (lows, highs): (Vec<u8>, Vec<u8>) = pairs
                    .into_iter()
                    .map(|(a, b)| {
                        if deviation {
                            (a / 2, b / 2)
                        } else {
                            (a.min(b), a.max(b))
                        }
                    })
                    .unzip();
                with_common!(
                    LowNodeUtilizationParams {
                        node_resource_utilization_thresholds: Some(LowThresholds {
                            thresholds: Some(thresholds(res.clone(), lows)),
                            target_thresholds: Some(thresholds(res, highs)),
                            number_of_nodes: n,
                            use_deviation_thresholds: deviation.then_some(true),
                            eviction_limits: per_node
                                .map(|node| EvictionLimits { node: Some(node) }),
                            metrics_utilization: None,
                        })
                    },
                    c
                )
            }),
    );
    let high = entry(
        present,
        (
            common_parts(),
            resources,
            prop::collection::vec(0u8..=100, 3),
            prop::option::weighted(0.3, 0i32..3),
            prop::option::weighted(0.3, Just(vec![EvictionMode::OnlyThresholdingResources])),
        )
            .prop_map(|(c, res, values, n, modes)| {
                with_common!(
                    HighNodeUtilizationParams {
                        node_resource_utilization_thresholds: Some(HighThresholds {
                            thresholds: Some(thresholds(res, values)),
                            number_of_nodes: n,
                            eviction_modes: modes,
                            metrics_utilization: None,
                        })
                    },
                    c
                )
            }),
    );
    (
        (failed, life, restarts, taints, affinity),
        (anti, duplicates, spread, low, high),
    )
        .prop_map(
            |(
                (failed, life, restarts, taints, affinity),
                (anti, duplicates, spread, low, high),
            )| Strategies {
                remove_failed_pods: failed,
                pod_life_time: life,
                remove_pods_having_too_many_restarts: restarts,
                remove_pods_violating_node_taints: taints,
                remove_pods_violating_node_affinity: affinity,
                remove_pods_violating_inter_pod_anti_affinity: anti,
                remove_duplicates: duplicates,
                remove_pods_violating_topology_spread_constraint: spread,
                low_node_utilization: low,
                high_node_utilization: high,
            },
        )
        .boxed()
}

fn limit() -> impl Strategy<Value = Option<i32>> {
    prop::option::weighted(0.35, prop::sample::select(vec![0i32, 1, 2, 3, 5]))
}

fn policy_spec() -> BoxedStrategy<DeschedulerPolicySpec> {
    let flags = (
        any::<[bool; 4]>(),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.5),
    );
    let limits = (limit(), limit(), limit());
    let rules = (
        prop::option::weighted(
            0.2,
            prop::sample::select(vec![
                "role=worker",
                "zone-of-node!=x,role",
                "topology.kubernetes.io/zone!=zone-0",
            ]),
        ),
        prop::option::weighted(0.2, prop::sample::select(vec!["0s", "60s", "1h", "48h"])),
        prop::option::weighted(0.2, 0i32..4),
        prop::option::weighted(0.15, Just(match_labels(&[("descheduling", "enabled")]))),
        prop::option::of(prop::sample::select(vec![
            NoEvictionPolicy::Preferred,
            NoEvictionPolicy::Mandatory,
        ])),
    );
    (flags, limits, rules, strategies(0.45))
        .prop_map(
            |(
                ([local, daemonset, pvc, failed_bare], critical, no_pdb, dry_run),
                (per_node, per_ns, total),
                (node_sel, age, replicas, ns_sel, nep),
                strategies,
            )| {
                DeschedulerPolicySpec {
                    interval: None,
                    dry_run: Some(dry_run),
                    suspend: None,
                    node_selector: node_sel.map(String::from),
                    evict_local_storage_pods: Some(local),
                    evict_system_critical_pods: Some(critical),
                    evict_daemon_set_pods: Some(daemonset),
                    ignore_pvc_pods: Some(pvc),
                    evict_failed_bare_pods: Some(failed_bare),
                    max_no_of_pods_to_evict_per_node: per_node,
                    max_no_of_pods_to_evict_per_namespace: per_ns,
                    max_no_of_pods_to_evict_total: total,
                    grace_period_seconds: None,
                    min_replicas: replicas,
                    min_pod_age: age.map(String::from),
                    ignore_pods_without_pdb: Some(no_pdb),
                    namespace_label_selector: ns_sel,
                    no_eviction_policy: nep,
                    strategies,
                    ..Default::default()
                }
            },
        )
        .boxed()
}

// ---------------------------------------------------------------------------
// The independent eligibility check (SPEC §3 rules 1-4), read from the raw objects.

fn controller(pod: &Pod) -> Option<&OwnerReference> {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
}

fn annotation<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

fn selector_matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    sel.match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v))
        && sel.match_expressions.iter().flatten().all(|e| {
            let values = e.values.clone().unwrap_or_default();
            let value = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                other => panic!("the generator made operator {other}"),
            }
        })
}

fn labels_of(pod: &Pod) -> BTreeMap<String, String> {
    pod.metadata.labels.clone().unwrap_or_default()
}

fn parse_age(s: &str) -> Option<i64> {
    // Only the values the generator uses.
    match s {
        "0s" => Some(0),
        "60s" => Some(60),
        "1h" => Some(3600),
        "48h" => Some(172_800),
        other => panic!("the generator made minPodAge {other}"),
    }
}

/// Why `pod` may not be evicted under `strategy`, or None when it may.
fn ineligible(
    objects: &ClusterObjects,
    spec: &DeschedulerPolicySpec,
    strategy: &str,
    pod: &Pod,
) -> Option<&'static str> {
    let common = common_of(&spec.strategies, strategy);
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    // Rule 4.
    if let Some(n) = common.namespaces {
        if n.include
            .as_ref()
            .is_some_and(|l| !l.iter().any(|x| x == ns))
        {
            return Some("namespace not included");
        }
        if n.exclude
            .as_ref()
            .is_some_and(|l| l.iter().any(|x| x == ns))
        {
            return Some("namespace excluded");
        }
    }
    if common
        .label_selector
        .is_some_and(|s| !selector_matches(&s, &labels_of(pod)))
    {
        return Some("labelSelector does not match");
    }
    // Rule 1.
    if annotation(pod, "descheduler.alpha.kubernetes.io/evict").is_some() {
        return None;
    }
    // Rule 2.
    if annotation(pod, "kubernetes.io/config.mirror").is_some() {
        return Some("mirror pod");
    }
    if annotation(pod, "kubernetes.io/config.source").is_some_and(|s| s != "api") {
        return Some("static pod");
    }
    if pod.metadata.deletion_timestamp.is_some() {
        return Some("terminating");
    }
    let owner = controller(pod);
    if owner.is_none() && !(spec.evict_failed_bare_pods == Some(true) && phase(pod) == "Failed") {
        return Some("bare pod");
    }
    if owner.is_some_and(|o| o.kind == "DaemonSet") && spec.evict_daemon_set_pods != Some(true) {
        return Some("DaemonSet pod");
    }
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default();
    if volumes
        .iter()
        .any(|v| v.empty_dir.is_some() || v.host_path.is_some())
        && spec.evict_local_storage_pods != Some(true)
    {
        return Some("local storage");
    }
    if volumes.iter().any(|v| v.persistent_volume_claim.is_some())
        && spec.ignore_pvc_pods == Some(true)
    {
        return Some("PVC");
    }
    if let Some(sel) = &spec.namespace_label_selector {
        let labels = objects
            .namespaces
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(ns))
            .and_then(|n| n.metadata.labels.clone())
            .unwrap_or_default();
        if !selector_matches(sel, &labels) {
            return Some("namespace labels do not match");
        }
    }
    if let Some(age) = spec.min_pod_age.as_deref() {
        let Some(started) = pod.status.as_ref().and_then(|s| s.start_time.as_ref()) else {
            return Some("no startTime with minPodAge");
        };
        let age_s = NOW - started.0.as_second();
        if parse_age(age).is_some_and(|min| age_s < min) {
            return Some("younger than minPodAge");
        }
    }
    if let (Some(min), Some(o)) = (spec.min_replicas.filter(|m| *m > 1), owner) {
        let siblings = objects
            .pods
            .iter()
            .filter(|p| {
                p.metadata.namespace.as_deref() == Some(ns)
                    && controller(p).is_some_and(|c| c.kind == o.kind && c.name == o.name)
            })
            .count();
        if siblings < min as usize {
            return Some("owner has fewer than minReplicas pods");
        }
    }
    if spec.ignore_pods_without_pdb == Some(true) {
        let covered = objects.pdbs.iter().any(|b| {
            b.metadata.namespace.as_deref() == Some(ns)
                && b.spec
                    .as_ref()
                    .and_then(|s| s.selector.as_ref())
                    .is_some_and(|s| selector_matches(s, &labels_of(pod)))
        });
        if !covered {
            return Some("no PodDisruptionBudget");
        }
    }
    if spec.no_eviction_policy == Some(NoEvictionPolicy::Mandatory)
        && annotation(pod, "descheduler.alpha.kubernetes.io/prefer-no-eviction").is_some()
    {
        return Some("prefer-no-eviction with Mandatory");
    }
    // Rule 3.
    if spec.evict_system_critical_pods != Some(true) {
        let class = pod
            .spec
            .as_ref()
            .and_then(|s| s.priority_class_name.as_deref());
        if class.is_some_and(|c| c == "system-cluster-critical" || c == "system-node-critical") {
            return Some("system-critical class");
        }
        let class_value = |name: &str| {
            PRIORITY_CLASSES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
        };
        let priority = pod
            .spec
            .as_ref()
            .and_then(|s| s.priority)
            .or_else(|| class.and_then(class_value))
            .unwrap_or(0);
        let threshold = match (
            common.threshold_priority,
            common.threshold_priority_class_name,
        ) {
            (Some(v), _) => v,
            (None, Some(name)) => class_value(&name).expect("the generator names known classes"),
            (None, None) => SYSTEM_CRITICAL,
        };
        if priority >= threshold {
            return Some("priority at or above the threshold");
        }
    }
    None
}

/// The common params of one strategy of the spec, read through its wire form
/// so that no list of strategies is kept here.
struct Common {
    namespaces: Option<descheduler::api::Namespaces>,
    threshold_priority: Option<i32>,
    threshold_priority_class_name: Option<String>,
    label_selector: Option<LabelSelector>,
}

fn common_of(s: &Strategies, name: &str) -> Common {
    let all = serde_json::to_value(s).expect("strategies serialize");
    let params = &all[name]["params"];
    fn field<T: serde::de::DeserializeOwned>(params: &serde_json::Value, k: &str) -> Option<T> {
        serde_json::from_value(params[k].clone()).ok()
    }
    assert!(
        all.get(name).is_some(),
        "an evicting strategy {name} is in the spec"
    );
    Common {
        namespaces: field(params, "namespaces"),
        threshold_priority: field(params, "thresholdPriority"),
        threshold_priority_class_name: field(params, "thresholdPriorityClassName"),
        label_selector: field(params, "labelSelector"),
    }
}

// ---------------------------------------------------------------------------
// Running and comparing plans.

/// A plan with pods named rather than indexed, so plans over differently
/// ordered inputs compare.
#[derive(Debug, PartialEq)]
struct Named {
    evictions: Vec<(String, &'static str, String)>,
    blocked: Vec<(String, &'static str, String)>,
    tallies: Vec<(&'static str, u32, u32, BTreeMap<String, u32>)>,
    skipped_run: Option<String>,
}

fn named(snap: &Snapshot, r: &PlanResult) -> Named {
    let list = |l: &[descheduler::plan::Eviction]| {
        l.iter()
            .map(|e| (snap.pod(e.pod).key(), e.strategy, e.reason.clone()))
            .collect()
    };
    Named {
        evictions: list(&r.evictions),
        blocked: list(&r.blocked),
        tallies: r
            .strategies
            .iter()
            .map(|t| (t.name, t.evicted, t.blocked, t.skipped.clone()))
            .collect(),
        skipped_run: r.skipped_run.clone(),
    }
}

fn shuffled<T: Clone>(items: &[T], seed: &mut u64) -> Vec<T> {
    let mut v = items.to_vec();
    for i in (1..v.len()).rev() {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = (*seed >> 33) as usize % (i + 1);
        v.swap(i, j);
    }
    v
}

#[derive(Default, Debug)]
struct Stats {
    cases: usize,
    skipped_runs: usize,
    evicted: BTreeMap<&'static str, usize>,
    blocked: usize,
}

fn check_case(
    cluster: &Cluster,
    spec: &DeschedulerPolicySpec,
    seed: u64,
    stats: &mut Stats,
) -> Result<(), TestCaseError> {
    let objects = build_objects(cluster);
    let lookup = |name: &str| {
        PRIORITY_CLASSES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    };
    let policy = validate(spec, &lookup)
        .map_err(|e| TestCaseError::fail(format!("the generated policy is invalid: {e}")))?;
    let snap = Snapshot::build(now(), objects.clone());
    let result = plan(&snap, &policy);
    stats.cases += 1;
    stats.skipped_runs += usize::from(result.skipped_run.is_some());
    stats.blocked += result.blocked.len();
    for e in &result.evictions {
        *stats.evicted.entry(e.strategy).or_default() += 1;
    }

    // (3) At most once.
    let mut seen = BTreeSet::new();
    for e in result.evictions.iter().chain(&result.blocked) {
        prop_assert!(
            seen.insert(e.pod),
            "{} appears twice",
            snap.pod(e.pod).key()
        );
    }

    // (6) Fewer than two Ready nodes: nothing at all.
    let ready = cluster.nodes.iter().filter(|n| n.ready).count();
    if ready < 2 {
        prop_assert!(
            result.evictions.is_empty() && result.blocked.is_empty(),
            "{ready} Ready node(s) but the plan evicts"
        );
        prop_assert!(result.skipped_run.is_some());
    }

    // (2) Limits.
    let mut per_node: BTreeMap<String, i32> = BTreeMap::new();
    let mut per_ns: BTreeMap<String, i32> = BTreeMap::new();
    for e in &result.evictions {
        let p = snap.pod(e.pod);
        *per_node
            .entry(p.node_name.clone().unwrap_or_default())
            .or_default() += 1;
        *per_ns.entry(p.namespace.clone()).or_default() += 1;
    }
    let total = result.evictions.len() as i32;
    if let Some(max) = spec.max_no_of_pods_to_evict_total {
        prop_assert!(total <= max, "{total} evictions, total limit {max}");
    }
    if let Some(max) = spec.max_no_of_pods_to_evict_per_node {
        for (node, n) in &per_node {
            prop_assert!(*n <= max, "{n} evictions on {node}, limit {max}");
        }
    }
    if let Some(max) = spec.max_no_of_pods_to_evict_per_namespace {
        for (ns, n) in &per_ns {
            prop_assert!(*n <= max, "{n} evictions in {ns}, limit {max}");
        }
    }

    // (1) and (5): every evicted (or blocked) pod was eligible, on a processed node.
    let node_selector = spec
        .node_selector
        .as_deref()
        .map(|s| descheduler::selectors::Selector::parse(s).expect("valid selector"));
    for e in result.evictions.iter().chain(&result.blocked) {
        let info = snap.pod(e.pod);
        let pod = &info.pod;
        let key = info.key();
        if let Some(why) = ineligible(&objects, spec, e.strategy, pod) {
            return Err(TestCaseError::fail(format!(
                "{key} was taken by {} ({}) but is not eligible: {why}",
                e.strategy, e.reason
            )));
        }
        // Only RemoveFailedPods and PodLifeTime look at pods in every phase
        // (SPEC §4); RemoveFailedPods only at Failed ones.
        let phase = phase(pod);
        if phase == "Succeeded" || phase == "Failed" {
            prop_assert!(
                e.strategy == "PodLifeTime"
                    || (phase == "Failed" && e.strategy == "RemoveFailedPods"),
                "{} pod {} taken by {}",
                phase,
                key,
                e.strategy
            );
        }
        let node_index = info
            .node_name
            .as_deref()
            .and_then(|n| n.strip_prefix("node-"))
            .and_then(|i| i.parse::<usize>().ok());
        let Some(node) = node_index.map(|i| &cluster.nodes[i]) else {
            return Err(TestCaseError::fail(format!(
                "{key} has no node but was taken by {}",
                e.strategy
            )));
        };
        prop_assert!(
            node.ready,
            "{key} is on a NotReady node but was taken by {}",
            e.strategy
        );
        if let Some(sel) = &node_selector {
            let labels = &snap
                .node(
                    snap.node_id(info.node_name.as_deref().unwrap_or_default())
                        .expect("known node"),
                )
                .labels;
            prop_assert!(
                sel.matches(labels),
                "{key} is on a node outside spec.nodeSelector but was taken by {}",
                e.strategy
            );
        }
    }

    // (4) Determinism: again, and with every list shuffled.
    let again = plan(&snap, &policy);
    prop_assert_eq!(
        named(&snap, &result),
        named(&snap, &again),
        "two runs on one snapshot differ"
    );
    let mut seed = seed;
    let shuffled_objects = ClusterObjects {
        nodes: shuffled(&objects.nodes, &mut seed),
        pods: shuffled(&objects.pods, &mut seed),
        pdbs: shuffled(&objects.pdbs, &mut seed),
        priority_classes: shuffled(&objects.priority_classes, &mut seed),
        namespaces: shuffled(&objects.namespaces, &mut seed),
    };
    let snap2 = Snapshot::build(now(), shuffled_objects);
    let result2 = plan(&snap2, &policy);
    prop_assert_eq!(
        named(&snap, &result),
        named(&snap2, &result2),
        "shuffling the input changes the plan"
    );

    // (7) placementCheck: Warn plans exactly what Off plans (the prediction
    // only annotates), and Enforce never evicts, for a strategy that moves
    // pods, a pod whose replacement is predicted to come back or stay Pending.
    let with = |check: PlacementCheck| {
        let mut spec = spec.clone();
        spec.placement_check = Some(check);
        validate(&spec, &lookup).map(|p| plan(&snap, &p))
    };
    let (Ok(off), Ok(warn), Ok(enforce)) = (
        with(PlacementCheck::Off),
        with(PlacementCheck::Warn),
        with(PlacementCheck::Enforce),
    ) else {
        return Err(TestCaseError::fail(
            "placementCheck made the policy invalid",
        ));
    };
    prop_assert_eq!(
        named(&snap, &off),
        named(&snap, &warn),
        "Warn changes the plan"
    );
    for e in &enforce.evictions {
        if REMOVES_BAD_PODS.contains(&e.strategy) {
            continue;
        }
        let from = snap.pod(e.pod).node;
        prop_assert!(
            matches!(e.predicted, Prediction::Node(n) if Some(n) != from),
            "Enforce evicted {} ({}) although its replacement is predicted {:?}",
            snap.pod(e.pod).key(),
            e.strategy,
            e.predicted
        );
    }
    Ok(())
}

/// Strategies whose pods are bad wherever they run: Enforce only warns.
const REMOVES_BAD_PODS: [&str; 3] = [
    "RemoveFailedPods",
    "PodLifeTime",
    "RemovePodsHavingTooManyRestarts",
];

fn input() -> BoxedStrategy<(Cluster, DeschedulerPolicySpec, u64)> {
    (cluster(), policy_spec(), any::<u64>()).boxed()
}

proptest! {
    #![proptest_config(Config { cases: 256, ..Config::default() })]

    #[test]
    fn plans_respect_the_invariants((cluster, spec, seed) in input()) {
        check_case(&cluster, &spec, seed, &mut Stats::default())?;
    }
}

fn strategy_names() -> Vec<&'static str> {
    descheduler::strategies::registry::names().collect()
}

/// The spec with only strategy `name` (taken from `all`), enabled, and no limits.
fn focused(spec: &DeschedulerPolicySpec, all: &Strategies, name: &str) -> DeschedulerPolicySpec {
    let mut entries = serde_json::to_value(all).expect("strategies serialize");
    let mut one = serde_json::Map::new();
    if let Some(mut entry) = entries.get_mut(name).map(serde_json::Value::take) {
        entry["enabled"] = serde_json::Value::Bool(true);
        one.insert(name.to_string(), entry);
    }
    DeschedulerPolicySpec {
        max_no_of_pods_to_evict_per_node: None,
        max_no_of_pods_to_evict_per_namespace: None,
        max_no_of_pods_to_evict_total: None,
        strategies: serde_json::from_value(serde_json::Value::Object(one))
            .expect("one strategy deserializes"),
        ..spec.clone()
    }
}

/// The generators are only worth something if every strategy gets to evict.
/// A fixed-seed run of the same checks, on the random policy and on the same
/// policy cut down to one strategy in turn (enabled, without limits), counting
/// what each strategy evicted in the cut-down runs.
#[test]
fn generators_exercise_every_strategy() {
    let config = Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let mixed = std::cell::RefCell::new(Stats::default());
    let alone = std::cell::RefCell::new(Stats::default());
    let case = std::cell::Cell::new(0usize);
    runner
        .run(
            &(input(), strategies(1.0)),
            |((cluster, spec, seed), all)| {
                check_case(&cluster, &spec, seed, &mut mixed.borrow_mut())?;
                let names = strategy_names();
                let k = case.replace(case.get() + 1) % names.len();
                check_case(
                    &cluster,
                    &focused(&spec, &all, names[k]),
                    seed,
                    &mut alone.borrow_mut(),
                )
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let (mixed, alone) = (mixed.into_inner(), alone.into_inner());
    eprintln!("random policies: {mixed:#?}\none strategy at a time: {alone:#?}");
    for name in strategy_names() {
        assert!(
            alone.evicted.get(name).copied().unwrap_or(0) > 0,
            "{name} never evicted on its own: {alone:?}"
        );
    }
    assert!(
        mixed.evicted.len() >= 5,
        "random policies evict with too few strategies: {mixed:?}"
    );
    assert!(
        mixed.skipped_runs > 0,
        "no case had fewer than two Ready nodes"
    );
    assert!(
        mixed.blocked + alone.blocked > 0,
        "no PodDisruptionBudget ever blocked"
    );
}
