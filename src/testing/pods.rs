//! Pod builders.

use super::*;

use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerState, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, EmptyDirVolumeSource, HostPathVolumeSource, NodeAffinity, NodeSelector,
    NodeSelectorRequirement, NodeSelectorTerm, PersistentVolumeClaimVolumeSource, Pod,
    PodAffinityTerm, PodAntiAffinity, PodCondition, PodSpec, PodStatus, PreferredSchedulingTerm,
    ResourceRequirements, Toleration, TopologySpreadConstraint, Volume,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

pub struct PodB(pub(crate) Pod);

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

    /// Owned by Deployment `name` (through ReplicaSet `<name>-5d8f9`).
    pub fn deployment(self, name: &str) -> Self {
        self.owner("ReplicaSet", &format!("{name}-5d8f9"))
            .label("pod-template-hash", "5d8f9")
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

    /// A container that terminated with this exit code (reason Error).
    pub fn exited(self, code: i32) -> Self {
        self.push_state(false, exited(code))
    }

    pub fn init_exited(self, code: i32) -> Self {
        self.push_state(true, exited(code))
    }

    /// An ephemeral container's status in this state.
    fn push_ephemeral(mut self, state: ContainerState) -> Self {
        let list = self
            .status()
            .ephemeral_container_statuses
            .get_or_insert_default();
        list.push(ContainerStatus {
            state: Some(state),
            ..container_status(&format!("debug{}", list.len()))
        });
        self
    }

    pub fn ephemeral_waiting(self, reason: &str) -> Self {
        self.push_ephemeral(waiting(reason))
    }

    pub fn ephemeral_exited(self, code: i32) -> Self {
        self.push_ephemeral(exited(code))
    }

    /// Adds a status condition that last changed `secs` seconds before [`super::NOW`].
    pub fn condition(mut self, type_: &str, status: &str, reason: &str, secs: i64) -> Self {
        self.status()
            .conditions
            .get_or_insert_default()
            .push(PodCondition {
                type_: type_.into(),
                status: status.into(),
                reason: (!reason.is_empty()).then(|| reason.into()),
                last_transition_time: Some(super::ago(secs)),
                ..Default::default()
            });
        self
    }

    /// Adds a non-controller ownerReference.
    pub fn also_owned_by(mut self, kind: &str, name: &str) -> Self {
        self.0
            .metadata
            .owner_references
            .get_or_insert_default()
            .push(OwnerReference {
                api_version: "v1".into(),
                kind: kind.into(),
                name: name.into(),
                uid: format!("uid-{name}"),
                controller: None,
                ..Default::default()
            });
        self
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

fn exited(code: i32) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: code,
            reason: Some("Error".into()),
            ..Default::default()
        }),
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
