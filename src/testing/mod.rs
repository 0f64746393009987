//! Test builders: nodes, pods, PDBs, priority classes and namespaces as
//! k8s-openapi objects, and a one-call "validate this YAML policy and plan a run".
//! Defaults are the common case: a node is Ready with 4 cpu / 8Gi / 110 pods; a
//! pod is Running, Ready, in `default`, controlled by ReplicaSet `rs-<name>`,
//! created and started an hour ago, with one BestEffort container.

use std::collections::BTreeMap;
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
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::api::DeschedulerPolicySpec;
use crate::engine;
use crate::plan::{EvictionPlan, StrategyTally};
use crate::policy::{Policy, validate};
use crate::snapshot::{ClusterObjects, Snapshot};
use crate::strategies::Strategy;
use crate::validation::Errors;

/// The fixed clock of every test: 2027-01-15T08:00:00Z.
pub const NOW: i64 = 1_800_000_000;

pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).expect("valid timestamp")
}

/// A timestamp `secs` seconds before [`NOW`].
pub fn ago(secs: i64) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(NOW - secs).expect("valid timestamp"))
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn selector(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels(pairs)),
        ..Default::default()
    }
}

fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect()
}

// ---------------------------------------------------------------- nodes

pub struct NodeB(Node);

pub fn node(name: &str) -> NodeB {
    NodeB(Node {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(NodeSpec::default()),
        status: Some(NodeStatus {
            allocatable: Some(quantities(&[
                ("cpu", "4"),
                ("memory", "8Gi"),
                ("pods", "110"),
            ])),
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: "True".into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    })
}

impl NodeB {
    fn alloc_mut(&mut self) -> &mut BTreeMap<String, Quantity> {
        self.0
            .status
            .as_mut()
            .and_then(|s| s.allocatable.as_mut())
            .expect("allocatable")
    }

    /// Sets one allocatable resource ("cpu", "memory", "pods", "example.com/gpu").
    pub fn alloc(mut self, resource: &str, qty: &str) -> Self {
        self.alloc_mut()
            .insert(resource.into(), Quantity(qty.into()));
        self
    }

    pub fn cpu(self, qty: &str) -> Self {
        self.alloc("cpu", qty)
    }

    pub fn mem(self, qty: &str) -> Self {
        self.alloc("memory", qty)
    }

    pub fn pods(self, n: u32) -> Self {
        self.alloc("pods", &n.to_string())
    }

    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.0
            .metadata
            .labels
            .get_or_insert_default()
            .insert(k.into(), v.into());
        self
    }

    /// `value` may be empty for a key-only taint.
    pub fn taint(mut self, key: &str, value: &str, effect: &str) -> Self {
        let spec = self.0.spec.get_or_insert_default();
        spec.taints.get_or_insert_default().push(Taint {
            key: key.into(),
            value: (!value.is_empty()).then(|| value.into()),
            effect: effect.into(),
            ..Default::default()
        });
        self
    }

    pub fn unschedulable(mut self) -> Self {
        self.0.spec.get_or_insert_default().unschedulable = Some(true);
        self
    }

    pub fn not_ready(mut self) -> Self {
        let status = self.0.status.as_mut().expect("status");
        status.conditions.as_mut().expect("conditions")[0].status = "False".into();
        self
    }
}

// ---------------------------------------------------------------- pods

pub struct PodB(Pod);

pub fn pod(name: &str) -> PodB {
    PodB(Pod {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            creation_timestamp: Some(ago(3600)),
            owner_references: Some(vec![OwnerReference {
                api_version: "apps/v1".into(),
                kind: "ReplicaSet".into(),
                name: format!("rs-{name}"),
                uid: format!("uid-rs-{name}"),
                controller: Some(true),
                ..Default::default()
            }]),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "c0".into(),
                image: Some("img".into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".into()),
            start_time: Some(ago(3600)),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    })
}

fn requirements(cpu: &str, mem: &str) -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(quantities(&[("cpu", cpu), ("memory", mem)])),
        ..Default::default()
    }
}

fn container_status(name: &str) -> ContainerStatus {
    ContainerStatus {
        name: name.into(),
        image: "img".into(),
        image_id: "img".into(),
        ready: true,
        ..Default::default()
    }
}

impl PodB {
    fn spec(&mut self) -> &mut PodSpec {
        self.0.spec.get_or_insert_default()
    }

    fn status(&mut self) -> &mut PodStatus {
        self.0.status.get_or_insert_default()
    }

    fn affinity(&mut self) -> &mut Affinity {
        self.spec().affinity.get_or_insert_default()
    }

    pub fn ns(mut self, ns: &str) -> Self {
        self.0.metadata.namespace = Some(ns.into());
        for o in self.0.metadata.owner_references.iter_mut().flatten() {
            o.uid = format!("uid-{ns}-{}", o.name);
        }
        self
    }

    pub fn on(mut self, node: &str) -> Self {
        self.spec().node_name = Some(node.into());
        self
    }

    /// Replaces the controller owner.
    pub fn owner(mut self, kind: &str, name: &str) -> Self {
        let o = &mut self.0.metadata.owner_references.get_or_insert_default()[0];
        o.kind = kind.into();
        o.name = name.into();
        self
    }

    /// No controller ownerReference.
    pub fn bare(mut self) -> Self {
        self.0.metadata.owner_references = None;
        self
    }

    pub fn phase(mut self, phase: &str) -> Self {
        self.status().phase = Some(phase.into());
        self
    }

    pub fn not_ready(mut self) -> Self {
        self.status().conditions = None;
        self
    }

    /// Sets the first container's requests ("" leaves a resource out).
    pub fn req(mut self, cpu: &str, mem: &str) -> Self {
        self.spec().containers[0].resources = Some(requirements(cpu, mem));
        self
    }

    /// Adds a container with these requests.
    pub fn container(mut self, cpu: &str, mem: &str) -> Self {
        let n = self.spec().containers.len();
        self.spec().containers.push(Container {
            name: format!("c{n}"),
            image: Some(format!("img{n}")),
            resources: Some(requirements(cpu, mem)),
            ..Default::default()
        });
        self
    }

    /// Requests one extended resource on the first container.
    pub fn req_ext(mut self, resource: &str, qty: &str) -> Self {
        let res = self.spec().containers[0].resources.get_or_insert_default();
        res.requests
            .get_or_insert_default()
            .insert(resource.into(), Quantity(qty.into()));
        self
    }

    pub fn init_container(mut self, cpu: &str, mem: &str) -> Self {
        let inits = self.spec().init_containers.get_or_insert_default();
        inits.push(Container {
            name: format!("init{}", inits.len()),
            image: Some("init".into()),
            resources: Some(requirements(cpu, mem)),
            ..Default::default()
        });
        self
    }

    /// Limits equal to requests on every container: QoS Guaranteed.
    pub fn guaranteed(mut self) -> Self {
        for c in &mut self.spec().containers {
            let r = c.resources.get_or_insert_default();
            r.limits = r.requests.clone();
        }
        self
    }

    pub fn image(mut self, image: &str) -> Self {
        self.spec().containers[0].image = Some(image.into());
        self
    }

    pub fn priority(mut self, p: i32) -> Self {
        self.spec().priority = Some(p);
        self
    }

    pub fn class(mut self, name: &str) -> Self {
        self.spec().priority_class_name = Some(name.into());
        self
    }

    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.0
            .metadata
            .labels
            .get_or_insert_default()
            .insert(k.into(), v.into());
        self
    }

    pub fn annotate(mut self, k: &str, v: &str) -> Self {
        self.0
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(k.into(), v.into());
        self
    }

    /// Tolerates `key` (any value when `value` is empty) for `effect` (all when empty).
    pub fn tolerate(mut self, key: &str, value: &str, effect: &str) -> Self {
        self.spec()
            .tolerations
            .get_or_insert_default()
            .push(Toleration {
                key: Some(key.into()),
                operator: Some(if value.is_empty() { "Exists" } else { "Equal" }.into()),
                value: (!value.is_empty()).then(|| value.into()),
                effect: (!effect.is_empty()).then(|| effect.into()),
                ..Default::default()
            });
        self
    }

    pub fn node_selector(mut self, k: &str, v: &str) -> Self {
        self.spec()
            .node_selector
            .get_or_insert_default()
            .insert(k.into(), v.into());
        self
    }

    /// Adds a required node affinity term `key In values` (terms are ORed).
    pub fn require_node(mut self, key: &str, values: &[&str]) -> Self {
        let na = self.affinity().node_affinity.get_or_insert_default();
        let req = na
            .required_during_scheduling_ignored_during_execution
            .get_or_insert_with(|| NodeSelector {
                node_selector_terms: Vec::new(),
            });
        req.node_selector_terms.push(term(key, values));
        self
    }

    /// Adds a preferred node affinity term `key In [value]` with this weight.
    pub fn prefer_node(mut self, weight: i32, key: &str, value: &str) -> Self {
        let na: &mut NodeAffinity = self.affinity().node_affinity.get_or_insert_default();
        na.preferred_during_scheduling_ignored_during_execution
            .get_or_insert_default()
            .push(PreferredSchedulingTerm {
                weight,
                preference: term(key, &[value]),
            });
        self
    }

    /// Adds a required anti-affinity term against pods with these labels.
    pub fn anti_affinity(self, topology_key: &str, pairs: &[(&str, &str)]) -> Self {
        self.anti_affinity_term(PodAffinityTerm {
            topology_key: topology_key.into(),
            label_selector: Some(selector(pairs)),
            ..Default::default()
        })
    }

    pub fn anti_affinity_term(mut self, t: PodAffinityTerm) -> Self {
        let anti: &mut PodAntiAffinity = self.affinity().pod_anti_affinity.get_or_insert_default();
        anti.required_during_scheduling_ignored_during_execution
            .get_or_insert_default()
            .push(t);
        self
    }

    pub fn spread(mut self, c: TopologySpreadConstraint) -> Self {
        self.spec()
            .topology_spread_constraints
            .get_or_insert_default()
            .push(c);
        self
    }

    /// Adds a container status with this restart count.
    pub fn restarts(mut self, n: i32) -> Self {
        let list = self.status().container_statuses.get_or_insert_default();
        list.push(ContainerStatus {
            restart_count: n,
            ..container_status(&format!("c{}", list.len()))
        });
        self
    }

    pub fn init_restarts(mut self, n: i32) -> Self {
        let list = self
            .status()
            .init_container_statuses
            .get_or_insert_default();
        list.push(ContainerStatus {
            restart_count: n,
            ..container_status(&format!("init{}", list.len()))
        });
        self
    }

    fn push_state(mut self, init: bool, state: ContainerState) -> Self {
        let status = self.status();
        let list = if init {
            status.init_container_statuses.get_or_insert_default()
        } else {
            status.container_statuses.get_or_insert_default()
        };
        list.push(ContainerStatus {
            state: Some(state),
            ..container_status(&format!("s{}", list.len()))
        });
        self
    }

    pub fn waiting(self, reason: &str) -> Self {
        self.push_state(false, waiting(reason))
    }

    pub fn init_waiting(self, reason: &str) -> Self {
        self.push_state(true, waiting(reason))
    }

    pub fn terminated(self, reason: &str) -> Self {
        self.push_state(false, terminated(reason))
    }

    pub fn init_terminated(self, reason: &str) -> Self {
        self.push_state(true, terminated(reason))
    }

    /// `status.reason`.
    pub fn reason(mut self, reason: &str) -> Self {
        self.status().reason = Some(reason.into());
        self
    }

    fn volume(mut self, v: Volume) -> Self {
        self.spec().volumes.get_or_insert_default().push(v);
        self
    }

    pub fn empty_dir(self) -> Self {
        self.volume(Volume {
            name: "scratch".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        })
    }

    pub fn host_path(self) -> Self {
        self.volume(Volume {
            name: "host".into(),
            host_path: Some(HostPathVolumeSource {
                path: "/var".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    pub fn pvc(self) -> Self {
        self.volume(Volume {
            name: "data".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: "data".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    pub fn created(mut self, secs_ago: i64) -> Self {
        self.0.metadata.creation_timestamp = Some(ago(secs_ago));
        self
    }

    pub fn started(mut self, secs_ago: i64) -> Self {
        self.status().start_time = Some(ago(secs_ago));
        self
    }

    pub fn no_start(mut self) -> Self {
        self.status().start_time = None;
        self
    }

    /// Created and started `secs` ago.
    pub fn age(self, secs: i64) -> Self {
        self.created(secs).started(secs)
    }

    pub fn terminating(mut self) -> Self {
        self.0.metadata.deletion_timestamp = Some(ago(1));
        self
    }
}

fn term(key: &str, values: &[&str]) -> NodeSelectorTerm {
    NodeSelectorTerm {
        match_expressions: Some(vec![NodeSelectorRequirement {
            key: key.into(),
            operator: "In".into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }]),
        ..Default::default()
    }
}

fn waiting(reason: &str) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn terminated(reason: &str) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            reason: Some(reason.into()),
            exit_code: 1,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A topology spread constraint; hard (DoNotSchedule) unless `hard` is false.
pub fn tsc(
    key: &str,
    max_skew: i32,
    hard: bool,
    pairs: &[(&str, &str)],
) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        topology_key: key.into(),
        max_skew,
        when_unsatisfiable: if hard {
            "DoNotSchedule"
        } else {
            "ScheduleAnyway"
        }
        .into(),
        label_selector: Some(selector(pairs)),
        ..Default::default()
    }
}

// ---------------------------------------------------------------- others

/// A PDB in `default` selecting pods with these labels.
pub fn pdb(name: &str, pairs: &[(&str, &str)]) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            selector: Some(selector(pairs)),
            ..Default::default()
        }),
        status: None,
    }
}

/// "2" is an integer, "50%" a percentage.
fn int_or_string(v: &str) -> IntOrString {
    v.parse()
        .map(IntOrString::Int)
        .unwrap_or_else(|_| IntOrString::String(v.into()))
}

pub fn min_available(mut p: PodDisruptionBudget, v: &str) -> PodDisruptionBudget {
    p.spec.get_or_insert_default().min_available = Some(int_or_string(v));
    p
}

pub fn max_unavailable(mut p: PodDisruptionBudget, v: &str) -> PodDisruptionBudget {
    p.spec.get_or_insert_default().max_unavailable = Some(int_or_string(v));
    p
}

/// `unhealthyPodEvictionPolicy: AlwaysAllow`.
pub fn always_allow(mut p: PodDisruptionBudget) -> PodDisruptionBudget {
    p.spec.get_or_insert_default().unhealthy_pod_eviction_policy = Some("AlwaysAllow".into());
    p
}

pub fn priority_class(name: &str, value: i32) -> PriorityClass {
    PriorityClass {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        value: Some(value),
        ..Default::default()
    }
}

pub fn namespace(name: &str, pairs: &[(&str, &str)]) -> Namespace {
    Namespace {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels(pairs)),
            ..Default::default()
        },
        ..Default::default()
    }
}

// ---------------------------------------------------------------- cluster and run

#[derive(Default, Clone)]
pub struct Cluster(pub ClusterObjects);

impl Cluster {
    /// `n` plain nodes named n1..nN.
    pub fn with_nodes(n: usize) -> Self {
        (1..=n).fold(Self::default(), |c, i| c.node(node(&format!("n{i}"))))
    }

    pub fn node(mut self, n: NodeB) -> Self {
        self.0.nodes.push(Arc::new(n.0));
        self
    }

    pub fn pod(mut self, p: PodB) -> Self {
        self.0.pods.push(Arc::new(p.0));
        self
    }

    pub fn pods(self, pods: impl IntoIterator<Item = PodB>) -> Self {
        pods.into_iter().fold(self, Cluster::pod)
    }

    pub fn pdb(mut self, p: PodDisruptionBudget) -> Self {
        self.0.pdbs.push(Arc::new(p));
        self
    }

    pub fn priority_class(mut self, name: &str, value: i32) -> Self {
        self.0
            .priority_classes
            .push(Arc::new(priority_class(name, value)));
        self
    }

    pub fn namespace(mut self, name: &str, pairs: &[(&str, &str)]) -> Self {
        self.0.namespaces.push(Arc::new(namespace(name, pairs)));
        self
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot::build(now(), self.0.clone())
    }

    /// Parses and validates a policy spec (YAML) against this cluster's priority classes.
    pub fn policy(&self, yaml: &str) -> Policy {
        let spec: DeschedulerPolicySpec = serde_yaml_ng::from_str(yaml)
            .unwrap_or_else(|e| panic!("test policy does not parse: {e}\n{yaml}"));
        let classes = self.0.priority_classes.clone();
        let lookup = move |name: &str| {
            classes
                .iter()
                .find(|pc| pc.metadata.name.as_deref() == Some(name))
                .and_then(|pc| pc.value)
        };
        validate(&spec, &lookup).unwrap_or_else(|e| panic!("test policy is invalid: {e}\n{yaml}"))
    }

    /// Validates the policy and plans one run against a snapshot taken at [`NOW`].
    pub fn run(&self, yaml: &str) -> Run {
        let snap = self.snapshot();
        let result = engine::plan(&snap, &self.policy(yaml));
        Run { snap, result }
    }
}

pub struct Run {
    pub snap: Snapshot,
    pub result: EvictionPlan,
}

/// One strategy's params, parsed from the YAML of its `params` by its own
/// parse; panics with the field errors when they are invalid.
pub fn params<S: Strategy>(yaml: &str) -> S
where
    S::Spec: serde::de::DeserializeOwned,
{
    let spec: S::Spec = serde_yaml_ng::from_str(yaml)
        .unwrap_or_else(|e| panic!("test params do not parse: {e}\n{yaml}"));
    let mut errs = Errors::default();
    let parsed = S::parse(&spec, "params", &mut errs);
    match (errs.into_result(()), parsed) {
        (Ok(()), Some(p)) => p,
        (result, _) => panic!("test params are invalid: {result:?}\n{yaml}"),
    }
}

impl Run {
    /// Names of the evicted pods, in eviction order.
    pub fn evicted(&self) -> Vec<&str> {
        self.result
            .evictions
            .iter()
            .map(|e| self.snap.pod(e.pod).name.as_str())
            .collect()
    }

    /// Names of the evicted pods, sorted.
    pub fn evicted_set(&self) -> Vec<&str> {
        let mut v = self.evicted();
        v.sort();
        v
    }

    /// (pod name, strategy) of every eviction, in order.
    pub fn evicted_by(&self) -> Vec<(&str, &str)> {
        self.result
            .evictions
            .iter()
            .map(|e| (self.snap.pod(e.pod).name.as_str(), e.strategy))
            .collect()
    }

    pub fn blocked(&self) -> Vec<&str> {
        self.result
            .blocked
            .iter()
            .map(|e| self.snap.pod(e.pod).name.as_str())
            .collect()
    }

    pub fn tally(&self, strategy: &str) -> &StrategyTally {
        self.result
            .strategies
            .iter()
            .find(|t| t.name == strategy)
            .unwrap_or_else(|| panic!("strategy {strategy} did not run"))
    }

    /// The skip counts of the (only) strategy that ran, as (reason, count).
    pub fn skipped(&self) -> Vec<(String, u32)> {
        self.result
            .strategies
            .iter()
            .flat_map(|t| t.skipped.iter().map(|(k, v)| (k.clone(), *v)))
            .collect()
    }
}

/// `n` pods of `cpu` each on `node`, named `<node>-<i>`.
pub fn load(node: &str, n: usize, cpu: &str) -> Vec<PodB> {
    (1..=n)
        .map(|i| pod(&format!("{node}-{i}")).on(node).req(cpu, ""))
        .collect()
}
