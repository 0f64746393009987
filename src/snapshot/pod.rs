//! What the planner needs to know about one pod, computed once per snapshot.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{ContainerPort, ContainerStatus, Pod, PodSpec};

use super::NodeId;
use super::resources::{Resources, nonzero_requests, pod_requests};
use crate::selectors::Labels;

pub const ANNOTATION_EVICT: &str = "descheduler.alpha.kubernetes.io/evict";
pub const ANNOTATION_PREFER_NO_EVICTION: &str =
    "descheduler.alpha.kubernetes.io/prefer-no-eviction";
/// Set on a workload's pod template by RolloutRestart (SPEC §12); its pods carry it.
pub const ANNOTATION_RESTARTED_AT: &str = "descheduler.dev/restartedAt";
pub const ANNOTATION_MIRROR: &str = "kubernetes.io/config.mirror";
pub const ANNOTATION_SOURCE: &str = "kubernetes.io/config.source";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

impl Phase {
    fn parse(s: Option<&str>) -> Self {
        match s {
            Some("Running") => Phase::Running,
            Some("Succeeded") => Phase::Succeeded,
            Some("Failed") => Phase::Failed,
            Some("Unknown") => Phase::Unknown,
            _ => Phase::Pending,
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
            Phase::Unknown => "Unknown",
        }
    }
}

/// Quality of service class; the derived order is the eviction order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Qos {
    BestEffort,
    Burstable,
    Guaranteed,
}

/// A pod's controller, identified within its namespace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OwnerRef {
    pub namespace: String,
    pub kind: String,
    pub name: String,
}

/// The pod's controller owner (the ownerReference with `controller: true`).
pub fn controller_of(pod: &Pod) -> Option<OwnerRef> {
    let meta = &pod.metadata;
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| OwnerRef {
            namespace: meta.namespace.clone().unwrap_or_default(),
            kind: o.kind.clone(),
            name: o.name.clone(),
        })
}

/// A workload whose pods are replicas: what "single replica" (SPEC §12) counts.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Workload {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
        }
    }
}

/// The pod's Deployment (its ReplicaSet is named `<deployment>-<pod-template-hash>`)
/// or StatefulSet.
fn workload_of(owner: Option<&OwnerRef>, labels: Option<&Labels>) -> Option<Workload> {
    let owner = owner?;
    let name = match owner.kind.as_str() {
        "StatefulSet" => Some((WorkloadKind::StatefulSet, owner.name.clone())),
        "ReplicaSet" => {
            let hash = labels?.get("pod-template-hash")?;
            owner
                .name
                .strip_suffix(hash.as_str())
                .and_then(|n| n.strip_suffix('-'))
                .filter(|n| !n.is_empty())
                .map(|n| (WorkloadKind::Deployment, n.to_string()))
        }
        _ => None,
    };
    name.map(|(kind, name)| Workload {
        kind,
        namespace: owner.namespace.clone(),
        name,
    })
}

/// Names of the priority classes SPEC §3 rule 3 protects.
pub const SYSTEM_CRITICAL_CLASSES: [&str; 2] = ["system-cluster-critical", "system-node-critical"];

/// The fields every strategy reads for nearly every pod (eligibility, phase,
/// node, ordering) come first and fill the first cache line: a pass over
/// 150,000 pods then touches one line per pod instead of four or five, which
/// is most of what such a pass costs once the pods no longer fit in cache.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub struct PodInfo {
    pub node: Option<NodeId>,
    pub created: Option<DateTime<Utc>>,
    pub priority: i32,
    pub phase: Phase,
    pub qos: Qos,
    pub terminating: bool,
    pub ready: bool,
    pub mirror_or_static: bool,
    pub local_storage: bool,
    pub pvc: bool,
    pub evict_annotation: bool,
    pub prefer_no_eviction: bool,
    /// Controlled by a DaemonSet.
    pub daemon_set: bool,
    /// priorityClassName is one of [`SYSTEM_CRITICAL_CLASSES`].
    pub system_critical_class: bool,
    /// Some container or sidecar asks for a host port ([`host_port_entries`]).
    pub host_ports: bool,
    /// The spec has pod affinity or pod anti-affinity: the placement model
    /// passes over the pods without either, without reading their specs.
    pub pod_affinity: bool,
    pub started: Option<DateTime<Utc>>,
    /// Restarts summed over the containers, and over the init containers:
    /// kept here so a pass over every pod does not visit every pod's status.
    pub restarts: i64,
    pub init_restarts: i64,
    pub owner: Option<OwnerRef>,
    pub namespace: String,
    pub name: String,
    pub node_name: Option<String>,
    pub priority_class_name: Option<String>,
    pub requests: Resources,
    /// cpu and memory as the scheduler's LeastAllocated score counts them
    /// ([`nonzero_requests`]).
    pub nonzero_requests: (i64, i64),
    /// Its Deployment or StatefulSet, if any.
    pub workload: Option<Workload>,
    /// When RolloutRestart last restarted its workload (from the pod's annotation).
    pub restarted_at: Option<DateTime<Utc>>,
    pub pod: Arc<Pod>,
}

// The hot fields above stay within the first cache line.
const _: () = assert!(std::mem::offset_of!(PodInfo, system_critical_class) < 64);

/// The ports of the containers and of the restartable init containers
/// (sidecars, which run as long as the pod) that ask for a host port.
pub fn host_port_entries(spec: &PodSpec) -> impl Iterator<Item = &ContainerPort> {
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    sidecars
        .chain(spec.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.host_port.is_some_and(|hp| hp > 0))
}

static EMPTY_LABELS: std::sync::LazyLock<Labels> = std::sync::LazyLock::new(Labels::new);
static EMPTY_SPEC: std::sync::LazyLock<PodSpec> = std::sync::LazyLock::new(PodSpec::default);

impl PodInfo {
    pub(super) fn new(
        pod: Arc<Pod>,
        priority_classes: &BTreeMap<String, i32>,
        nodes: &HashMap<String, NodeId>,
    ) -> Self {
        let meta = &pod.metadata;
        let spec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        let annotations = meta.annotations.as_ref();
        let has_annotation = |k: &str| annotations.is_some_and(|a| a.contains_key(k));
        let priority_class_name = spec.and_then(|s| s.priority_class_name.clone());
        let priority = spec
            .and_then(|s| s.priority)
            .or_else(|| {
                priority_class_name
                    .as_ref()
                    .and_then(|n| priority_classes.get(n).copied())
            })
            .unwrap_or(0);
        let owner = controller_of(&pod);
        let daemon_set = owner.as_ref().is_some_and(|o| o.kind == "DaemonSet");
        let workload = workload_of(owner.as_ref(), meta.labels.as_ref());
        let system_critical_class = priority_class_name
            .as_deref()
            .is_some_and(|c| SYSTEM_CRITICAL_CLASSES.contains(&c));
        let volumes = spec.and_then(|s| s.volumes.as_ref());
        let static_source = annotations
            .and_then(|a| a.get(ANNOTATION_SOURCE))
            .is_some_and(|v| v != "api");
        let node_name = spec
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty());
        let requests = spec.map(pod_requests).unwrap_or_default();
        let nonzero_requests = nonzero_requests(spec.unwrap_or(&EMPTY_SPEC), &requests);
        let host_ports = spec.is_some_and(|s| host_port_entries(s).next().is_some());
        let pod_affinity = spec
            .and_then(|s| s.affinity.as_ref())
            .is_some_and(|a| a.pod_affinity.is_some() || a.pod_anti_affinity.is_some());
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        Self {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            node: node_name.as_ref().and_then(|n| nodes.get(n).copied()),
            node_name,
            phase: Phase::parse(status.and_then(|s| s.phase.as_deref())),
            priority,
            priority_class_name,
            qos: status
                .and_then(|s| s.qos_class.as_deref())
                .and_then(parse_qos)
                .unwrap_or_else(|| spec.map_or(Qos::BestEffort, compute_qos)),
            requests,
            nonzero_requests,
            owner,
            created: meta
                .creation_timestamp
                .as_ref()
                .and_then(|t| to_chrono(t.0)),
            started: status
                .and_then(|s| s.start_time.as_ref())
                .and_then(|t| to_chrono(t.0)),
            terminating: meta.deletion_timestamp.is_some(),
            ready,
            mirror_or_static: has_annotation(ANNOTATION_MIRROR) || static_source,
            local_storage: volumes
                .into_iter()
                .flatten()
                .any(|v| v.empty_dir.is_some() || v.host_path.is_some()),
            pvc: volumes
                .into_iter()
                .flatten()
                .any(|v| v.persistent_volume_claim.is_some()),
            evict_annotation: has_annotation(ANNOTATION_EVICT),
            prefer_no_eviction: has_annotation(ANNOTATION_PREFER_NO_EVICTION),
            daemon_set,
            system_critical_class,
            host_ports,
            pod_affinity,
            workload,
            restarted_at: annotations
                .and_then(|a| a.get(ANNOTATION_RESTARTED_AT))
                .and_then(|v| v.parse::<DateTime<Utc>>().ok()),
            restarts: restart_sum(status.and_then(|s| s.container_statuses.as_deref())),
            init_restarts: restart_sum(status.and_then(|s| s.init_container_statuses.as_deref())),
            pod,
        }
    }

    pub fn labels(&self) -> &Labels {
        self.pod.metadata.labels.as_ref().unwrap_or(&EMPTY_LABELS)
    }

    pub fn spec(&self) -> &PodSpec {
        self.pod.spec.as_ref().unwrap_or(&EMPTY_SPEC)
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    pub fn container_statuses(&self) -> &[ContainerStatus] {
        self.pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_deref())
            .unwrap_or_default()
    }

    pub fn init_container_statuses(&self) -> &[ContainerStatus] {
        self.pod
            .status
            .as_ref()
            .and_then(|s| s.init_container_statuses.as_deref())
            .unwrap_or_default()
    }

    pub fn ephemeral_container_statuses(&self) -> &[ContainerStatus] {
        self.pod
            .status
            .as_ref()
            .and_then(|s| s.ephemeral_container_statuses.as_deref())
            .unwrap_or_default()
    }

    /// The regular containers' statuses, then the init containers' and the
    /// ephemeral containers' when asked for.
    pub fn statuses(
        &self,
        init: bool,
        ephemeral: bool,
    ) -> impl Iterator<Item = &ContainerStatus> + '_ {
        let init: &[_] = if init {
            self.init_container_statuses()
        } else {
            &[]
        };
        let ephemeral: &[_] = if ephemeral {
            self.ephemeral_container_statuses()
        } else {
            &[]
        };
        self.container_statuses()
            .iter()
            .chain(init)
            .chain(ephemeral)
    }

    pub fn status_reason(&self) -> Option<&str> {
        self.pod.status.as_ref().and_then(|s| s.reason.as_deref())
    }

    pub fn has_node_constraints(&self) -> bool {
        let spec = self.spec();
        spec.node_selector.as_ref().is_some_and(|s| !s.is_empty())
            || spec
                .affinity
                .as_ref()
                .and_then(|a| a.node_affinity.as_ref())
                .is_some()
    }
}

/// k8s-openapi carries jiff timestamps; the rest of the crate uses chrono.
/// A container's current waiting or terminated reason.
pub fn state_reason(c: &ContainerStatus) -> Option<&str> {
    let state = c.state.as_ref()?;
    state
        .waiting
        .as_ref()
        .and_then(|w| w.reason.as_deref())
        .or_else(|| state.terminated.as_ref().and_then(|t| t.reason.as_deref()))
}

/// A container's exit code, when it has terminated.
pub fn exit_code(c: &ContainerStatus) -> Option<i32> {
    Some(c.state.as_ref()?.terminated.as_ref()?.exit_code)
}

pub fn to_chrono(t: k8s_openapi::jiff::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.as_second(), t.subsec_nanosecond().max(0) as u32)
}

fn restart_sum(statuses: Option<&[ContainerStatus]>) -> i64 {
    statuses
        .into_iter()
        .flatten()
        .map(|c| i64::from(c.restart_count))
        .sum()
}

fn parse_qos(s: &str) -> Option<Qos> {
    match s {
        "BestEffort" => Some(Qos::BestEffort),
        "Burstable" => Some(Qos::Burstable),
        "Guaranteed" => Some(Qos::Guaranteed),
        _ => None,
    }
}

/// The kubelet's rule: Guaranteed when every container has equal cpu and memory
/// requests and limits; BestEffort when none has any; otherwise Burstable.
fn compute_qos(spec: &PodSpec) -> Qos {
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    let mut any = false;
    let mut guaranteed = true;
    for c in containers {
        let res = c.resources.as_ref();
        let req = res.and_then(|r| r.requests.as_ref());
        let lim = res.and_then(|r| r.limits.as_ref());
        for name in ["cpu", "memory"] {
            let r = req.and_then(|m| m.get(name));
            let l = lim.and_then(|m| m.get(name));
            if r.is_some() || l.is_some() {
                any = true;
            }
            match (r, l) {
                (_, None) => guaranteed = false,
                (Some(r), Some(l)) if r != l => guaranteed = false,
                _ => {}
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => Qos::BestEffort,
        (true, true) => Qos::Guaranteed,
        (true, false) => Qos::Burstable,
    }
}
