//! What of a Pod or a Node a run reads, and dropping the rest before it is
//! kept: the operator's watch caches hold every pod of the cluster for as
//! long as it runs, a dump's objects live through a whole `simulate`, and
//! k8s-openapi's structs hold every field inline (a `Volume` takes 3 KiB, a
//! `Container` 2 KiB), so an unread container env, a service-account volume
//! or a termination message costs memory per pod and reads nothing.
//!
//! Kept is what `snapshot`, `eligibility`, `nodefit`, the strategies, the
//! placement model and the report look at:
//!
//! - Pod metadata but managed fields and annotations other than
//!   [`READ_ANNOTATIONS`];
//! - the spec but the ephemeral containers; of each container and init
//!   container its name, image, resources, restart policy and the ports that
//!   bind a host port (NodePorts); of the volumes only the emptyDir, hostPath
//!   and persistentVolumeClaim ones (local storage, PVCs), each by name;
//! - of the status the phase, reason, QoS class, start time, every
//!   condition's type, status, reason and transition time (Ready;
//!   PodLifeTime's `conditions`), and every container status' name, restart
//!   count and state (its reasons and exit code).
//! - Nodes without their images, volumes, node info, daemon endpoints and
//!   addresses.
//!
//! Two forms of one rule: [`pod`] / [`node`] on typed objects (the watch
//! caches, `simulate` on the live cluster) and [`json`] on a dump's objects
//! before they are typed (so a whole Pod is never built). A test checks they
//! keep the same; change both together, and this list with them.

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
    Node, Pod, PodCondition, PodStatus, Volume,
};
use serde_json::Value;

use super::pod::{
    ANNOTATION_EVICT, ANNOTATION_MIRROR, ANNOTATION_PREFER_NO_EVICTION, ANNOTATION_RESTARTED_AT,
    ANNOTATION_SOURCE,
};

/// The pod annotations anything reads.
pub const READ_ANNOTATIONS: [&str; 5] = [
    ANNOTATION_EVICT,
    ANNOTATION_PREFER_NO_EVICTION,
    ANNOTATION_RESTARTED_AT,
    ANNOTATION_MIRROR,
    ANNOTATION_SOURCE,
];

const CONTAINER_KEYS: [&str; 5] = ["name", "image", "resources", "restartPolicy", "ports"];
const VOLUME_KINDS: [&str; 3] = ["emptyDir", "hostPath", "persistentVolumeClaim"];
const STATUS_KEYS: [&str; 8] = [
    "phase",
    "reason",
    "qosClass",
    "startTime",
    "conditions",
    "containerStatuses",
    "initContainerStatuses",
    "ephemeralContainerStatuses",
];
const CONDITION_KEYS: [&str; 4] = ["type", "status", "reason", "lastTransitionTime"];
const CONTAINER_STATUS_KEYS: [&str; 3] = ["name", "restartCount", "state"];
const NODE_STATUS_UNREAD: [&str; 6] = [
    "images",
    "volumesAttached",
    "volumesInUse",
    "nodeInfo",
    "daemonEndpoints",
    "addresses",
];

pub fn pod(p: &mut Pod) {
    let meta = &mut p.metadata;
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.retain(|k, _| READ_ANNOTATIONS.contains(&k.as_str()));
    }
    if let Some(spec) = p.spec.as_mut() {
        spec.containers.iter_mut().for_each(container);
        spec.init_containers
            .iter_mut()
            .flatten()
            .for_each(container);
        spec.ephemeral_containers = None;
        if let Some(vols) = spec.volumes.as_mut() {
            vols.retain(|v| {
                v.empty_dir.is_some()
                    || v.host_path.is_some()
                    || v.persistent_volume_claim.is_some()
            });
            for v in vols.iter_mut() {
                *v = Volume {
                    name: std::mem::take(&mut v.name),
                    empty_dir: v.empty_dir.take(),
                    host_path: v.host_path.take(),
                    persistent_volume_claim: v.persistent_volume_claim.take(),
                    ..Default::default()
                };
            }
            vols.shrink_to_fit();
        }
    }
    if let Some(s) = p.status.take() {
        let statuses = |v: Option<Vec<ContainerStatus>>| {
            v.map(|v| v.into_iter().map(container_status).collect())
        };
        p.status = Some(PodStatus {
            phase: s.phase,
            reason: s.reason,
            qos_class: s.qos_class,
            start_time: s.start_time,
            conditions: s.conditions.map(|v| v.into_iter().map(condition).collect()),
            container_statuses: statuses(s.container_statuses),
            init_container_statuses: statuses(s.init_container_statuses),
            ephemeral_container_statuses: statuses(s.ephemeral_container_statuses),
            ..Default::default()
        });
    }
}

fn container(c: &mut Container) {
    let ports = c
        .ports
        .take()
        .map(|ps| {
            ps.into_iter()
                .filter(|p| p.host_port.is_some_and(|h| h > 0))
                .collect::<Vec<_>>()
        })
        .filter(|ps| !ps.is_empty());
    *c = Container {
        name: std::mem::take(&mut c.name),
        image: c.image.take(),
        resources: c.resources.take(),
        restart_policy: c.restart_policy.take(),
        ports,
        ..Default::default()
    };
}

fn condition(c: PodCondition) -> PodCondition {
    PodCondition {
        type_: c.type_,
        status: c.status,
        reason: c.reason,
        last_transition_time: c.last_transition_time,
        ..Default::default()
    }
}

fn container_status(c: ContainerStatus) -> ContainerStatus {
    ContainerStatus {
        name: c.name,
        restart_count: c.restart_count,
        state: c.state.map(|s| ContainerState {
            running: s.running,
            waiting: s.waiting.map(|w| ContainerStateWaiting {
                reason: w.reason,
                ..Default::default()
            }),
            terminated: s.terminated.map(|t| ContainerStateTerminated {
                reason: t.reason,
                exit_code: t.exit_code,
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

pub fn node(n: &mut Node) {
    n.metadata.managed_fields = None;
    if let Some(s) = n.status.as_mut() {
        s.images = None;
        s.volumes_attached = None;
        s.volumes_in_use = None;
        s.node_info = None;
        s.daemon_endpoints = None;
        s.addresses = None;
    }
}

/// [`pod`] and [`node`] on an object of kind `kind` not yet typed.
pub fn json(kind: Option<&str>, item: &mut Value) {
    fn retain_keys(v: &mut Value, keep: &[&str]) {
        if let Some(o) = v.as_object_mut() {
            o.retain(|k, _| keep.contains(&k.as_str()));
        }
    }
    fn each(v: Option<&mut Value>, f: impl Fn(&mut Value)) {
        if let Some(list) = v.and_then(Value::as_array_mut) {
            list.iter_mut().for_each(f);
        }
    }
    fn set(v: Option<&Value>) -> bool {
        v.is_some_and(|v| !v.is_null())
    }
    if let Some(meta) = item.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        if kind == Some("Pod")
            && let Some(a) = meta.get_mut("annotations")
        {
            retain_keys(a, &READ_ANNOTATIONS);
        }
    }
    match kind {
        Some("Pod") => {
            if let Some(spec) = item.get_mut("spec") {
                let container = |c: &mut Value| {
                    retain_keys(c, &CONTAINER_KEYS);
                    let Some(c) = c.as_object_mut() else { return };
                    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                        ports.retain(|p| {
                            p.get("hostPort")
                                .and_then(Value::as_i64)
                                .is_some_and(|h| h > 0)
                        });
                    }
                    let no_ports = match c.get("ports") {
                        Some(Value::Array(ports)) => ports.is_empty(),
                        Some(Value::Null) => true,
                        _ => false,
                    };
                    if no_ports {
                        c.remove("ports");
                    }
                };
                each(spec.get_mut("containers"), container);
                each(spec.get_mut("initContainers"), container);
                spec.as_object_mut()
                    .map(|s| s.remove("ephemeralContainers"));
                if let Some(vols) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
                    vols.retain(|v| VOLUME_KINDS.iter().any(|k| set(v.get(*k))));
                    let keep = ["name", VOLUME_KINDS[0], VOLUME_KINDS[1], VOLUME_KINDS[2]];
                    vols.iter_mut().for_each(|v| retain_keys(v, &keep));
                }
            }
            if let Some(status) = item.get_mut("status") {
                retain_keys(status, &STATUS_KEYS);
                each(status.get_mut("conditions"), |c| {
                    retain_keys(c, &CONDITION_KEYS)
                });
                let cs = |c: &mut Value| {
                    retain_keys(c, &CONTAINER_STATUS_KEYS);
                    if let Some(state) = c.get_mut("state") {
                        if let Some(w) = state.get_mut("waiting") {
                            retain_keys(w, &["reason"]);
                        }
                        if let Some(t) = state.get_mut("terminated") {
                            retain_keys(t, &["reason", "exitCode"]);
                        }
                    }
                };
                each(status.get_mut("containerStatuses"), cs);
                each(status.get_mut("initContainerStatuses"), cs);
                each(status.get_mut("ephemeralContainerStatuses"), cs);
            }
        }
        Some("Node") => {
            if let Some(status) = item.get_mut("status").and_then(Value::as_object_mut) {
                for field in NODE_STATUS_UNREAD {
                    status.remove(field);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A pod with most of what the API server, the kubelet and users put in
    /// one, read or not.
    fn full_pod() -> Value {
        let status = |name: &str| {
            json!({
                "name": name, "image": "registry.example/app:1.2", "imageID": "registry.example/app@sha256:abc",
                "containerID": "containerd://0123", "ready": false, "started": false, "restartCount": 7,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "message": "a long termination message",
                    "startedAt": "2026-11-23T11:00:00Z", "finishedAt": "2026-11-23T11:10:00Z", "containerID": "containerd://0123"}},
                "allocatedResources": {"cpu": "100m"}, "volumeMounts": [{"name": "data", "mountPath": "/data"}]
            })
        };
        let container = |name: &str| {
            json!({
                "name": name, "image": "registry.example/app:1.2", "imagePullPolicy": "IfNotPresent",
                "command": ["/app"], "args": ["--flag", "value"],
                "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "ports": [{"containerPort": 8080, "protocol": "TCP", "name": "http"},
                          {"containerPort": 9100, "hostPort": 9100, "hostIP": "10.0.0.1", "protocol": "UDP"}],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "kube-api-access-x", "mountPath": "/var/run/secrets"}],
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
                "readinessProbe": {"exec": {"command": ["true"]}},
                "securityContext": {"runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}},
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
            })
        };
        let mut sidecar = container("sidecar");
        sidecar["restartPolicy"] = json!("Always");
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "web-1", "namespace": "shop", "uid": "u-1", "resourceVersion": "42",
                "generateName": "web-", "creationTimestamp": "2026-11-23T10:00:00Z",
                "labels": {"app": "web", "pod-template-hash": "abc"},
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": "{\"a\": 1}",
                    "prometheus.io/scrape": "true",
                    ANNOTATION_EVICT: "true",
                    ANNOTATION_RESTARTED_AT: "2026-11-23T09:00:00Z",
                    ANNOTATION_SOURCE: "api"
                },
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "uid": "rs-1", "controller": true, "blockOwnerDeletion": true}],
                "finalizers": ["example.com/keep"],
                "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]
            },
            "spec": {
                "nodeName": "node-1", "schedulerName": "default-scheduler", "priority": 100,
                "priorityClassName": "high", "serviceAccountName": "web",
                "nodeSelector": {"zone": "a"},
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"}],
                "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}},
                "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"app": "web"}}}],
                "overhead": {"cpu": "10m"},
                "containers": [container("app")],
                "initContainers": [container("init"), sidecar],
                "ephemeralContainers": [{"name": "debug", "image": "busybox", "targetContainerName": "app"}],
                "volumes": [
                    {"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}},
                    {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
                    {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
                    {"name": "config", "configMap": {"name": "web-config", "items": [{"key": "a", "path": "a"}]}},
                    {"name": "kube-api-access-x", "projected": {"sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}}
                ]
            },
            "status": {
                "phase": "Running", "reason": "Evicted", "message": "a message", "qosClass": "Burstable",
                "startTime": "2026-11-23T10:00:05Z", "hostIP": "10.0.0.1", "hostIPs": [{"ip": "10.0.0.1"}],
                "podIP": "10.1.0.5", "podIPs": [{"ip": "10.1.0.5"}], "nominatedNodeName": "node-2",
                "conditions": [
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": "containers with unready status: [app]",
                     "lastTransitionTime": "2026-11-23T10:05:00Z", "lastProbeTime": null},
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-23T10:00:00Z"}
                ],
                "containerStatuses": [status("app")],
                "initContainerStatuses": [status("init"), status("sidecar")],
                "ephemeralContainerStatuses": [{"name": "debug", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
                    "state": {"terminated": {"exitCode": 2, "reason": "Error", "message": "usage: ..."}}}]
            }
        })
    }

    fn full_node() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "node-1", "labels": {"zone": "a"}, "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
                "managedFields": [{"manager": "kubelet"}]},
            "spec": {"taints": [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}], "unschedulable": false},
            "status": {
                "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"}, "capacity": {"cpu": "4"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                "images": [{"names": ["registry.example/app:1.2"], "sizeBytes": 1000}],
                "nodeInfo": {"architecture": "amd64", "bootID": "", "containerRuntimeVersion": "", "kernelVersion": "",
                    "kubeProxyVersion": "", "kubeletVersion": "", "machineID": "", "operatingSystem": "linux",
                    "osImage": "", "systemUUID": ""},
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "volumesInUse": ["a"], "volumesAttached": [{"name": "a", "devicePath": "/dev/a"}]
            }
        })
    }

    fn both<T: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
        kind: &str,
        v: Value,
        typed_slim: fn(&mut T),
    ) -> T {
        let mut raw = v.clone();
        json(Some(kind), &mut raw);
        let from_json: T = serde_json::from_value(raw).expect("slimmed JSON types");
        let mut typed: T = serde_json::from_value(v).expect("full JSON types");
        typed_slim(&mut typed);
        assert_eq!(
            typed, from_json,
            "the typed and JSON rules keep different fields"
        );
        typed
    }

    #[test]
    fn the_typed_and_the_json_rule_keep_the_same() {
        both("Pod", full_pod(), pod);
        both("Node", full_node(), node);
        let mut bare = full_pod();
        bare["spec"]["containers"][0]
            .as_object_mut()
            .expect("container")
            .remove("ports");
        bare["spec"]["volumes"] = json!([{"name": "config", "configMap": {"name": "c"}}]);
        bare["status"] = json!({"phase": "Pending"});
        both("Pod", bare, pod);
        for item in example_items() {
            match item.get("kind").and_then(Value::as_str) {
                Some("Pod") => drop(both("Pod", item, pod)),
                Some("Node") => drop(both("Node", item, node)),
                _ => {}
            }
        }
    }

    #[test]
    fn what_a_run_reads_is_kept() {
        let p = both("Pod", full_pod(), pod);
        let a = p.metadata.annotations.as_ref().expect("annotations");
        assert_eq!(
            a.keys().map(String::as_str).collect::<Vec<_>>(),
            [ANNOTATION_EVICT, ANNOTATION_RESTARTED_AT, ANNOTATION_SOURCE]
        );
        assert!(p.metadata.managed_fields.is_none());
        assert!(p.metadata.owner_references.is_some() && p.metadata.labels.is_some());
        let spec = p.spec.as_ref().expect("spec");
        let c = &spec.containers[0];
        assert_eq!(c.image.as_deref(), Some("registry.example/app:1.2"));
        assert!(c.resources.as_ref().is_some_and(|r| r.requests.is_some()));
        assert!(c.env.is_none() && c.liveness_probe.is_none() && c.volume_mounts.is_none());
        let ports = c.ports.as_ref().expect("host ports");
        assert_eq!(ports.len(), 1, "only the port bound on the host");
        assert_eq!(
            (
                ports[0].host_port,
                ports[0].host_ip.as_deref(),
                ports[0].protocol.as_deref()
            ),
            (Some(9100), Some("10.0.0.1"), Some("UDP"))
        );
        let init = spec.init_containers.as_ref().expect("init containers");
        assert_eq!(init[1].restart_policy.as_deref(), Some("Always"));
        assert!(spec.ephemeral_containers.is_none());
        let vols: Vec<&str> = spec
            .volumes
            .iter()
            .flatten()
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(vols, ["data", "scratch", "host"]);
        assert!(spec.tolerations.is_some() && spec.affinity.is_some() && spec.overhead.is_some());
        assert!(spec.topology_spread_constraints.is_some() && spec.node_selector.is_some());
        assert_eq!(spec.priority, Some(100));

        let status = p.status.as_ref().expect("status");
        assert_eq!(status.reason.as_deref(), Some("Evicted"));
        assert!(status.host_ip.is_none() && status.pod_ips.is_none() && status.message.is_none());
        let conds = status.conditions.as_ref().expect("conditions");
        assert_eq!(conds.len(), 2, "every condition: PodLifeTime matches any");
        assert_eq!(conds[0].reason.as_deref(), Some("ContainersNotReady"));
        assert!(conds[0].last_transition_time.is_some() && conds[0].message.is_none());
        let cs = &status.container_statuses.as_ref().expect("statuses")[0];
        assert_eq!((cs.name.as_str(), cs.restart_count), ("app", 7));
        assert_eq!(super::super::state_reason(cs), Some("CrashLoopBackOff"));
        assert!(cs.last_state.is_none() && cs.image.is_empty());
        let eph = &status
            .ephemeral_container_statuses
            .as_ref()
            .expect("ephemeral statuses")[0];
        assert_eq!(super::super::exit_code(eph), Some(2));
        let terminated = eph.state.as_ref().and_then(|s| s.terminated.as_ref());
        assert!(terminated.is_some_and(|t| t.message.is_none()));

        let n = both("Node", full_node(), node);
        let s = n.status.as_ref().expect("node status");
        assert!(s.allocatable.is_some() && s.conditions.is_some());
        assert!(s.images.is_none() && s.addresses.is_none() && s.node_info.is_none());
        assert!(n.spec.as_ref().is_some_and(|s| s.taints.is_some()));
    }

    fn example_items() -> Vec<Value> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster.yaml");
        let text = std::fs::read_to_string(&path).expect("examples/cluster.yaml");
        crate::yaml::documents(&text)
            .expect("YAML")
            .into_iter()
            .flat_map(|doc| match doc.get("items") {
                Some(Value::Array(items)) => items.clone(),
                _ => vec![doc],
            })
            .collect()
    }

    /// Every sample policy plans the same on the example cluster kept whole
    /// and slimmed.
    #[test]
    fn plans_are_the_same_on_slimmed_objects() {
        use crate::snapshot::ClusterObjects;
        use std::sync::Arc;
        fn typed<T: serde::de::DeserializeOwned>(v: Value) -> Arc<T> {
            Arc::new(serde_json::from_value(v).expect("example object types"))
        }
        let objects = |slim: bool| {
            let mut o = ClusterObjects::default();
            for mut item in example_items() {
                let kind = item.get("kind").and_then(Value::as_str).map(str::to_string);
                if slim {
                    json(kind.as_deref(), &mut item);
                }
                match kind.as_deref() {
                    Some("Node") => o.nodes.push(typed(item)),
                    Some("Pod") => o.pods.push(typed(item)),
                    Some("PodDisruptionBudget") => o.pdbs.push(typed(item)),
                    Some("PriorityClass") => o.priority_classes.push(typed(item)),
                    Some("Namespace") => o.namespaces.push(typed(item)),
                    _ => {}
                }
            }
            o
        };
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let now = "2026-11-23T12:00:00Z".parse().expect("time");
        let usage = || {
            crate::simulate::metrics_file(Some(&root.join("examples/metrics.json")))
                .expect("examples/metrics.json")
        };
        let mut samples: Vec<_> = std::fs::read_dir(root.join("config/samples"))
            .expect("config/samples")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        samples.sort();
        assert!(samples.len() >= 11);
        for policy in samples {
            let plan = |slim: bool| {
                let manifest = crate::dump::load_policy(&policy).expect("sample policy");
                let sim = crate::simulate::plan(manifest, "", objects(slim), vec![], usage(), now)
                    .expect("plans");
                serde_json::to_string(&sim.report).expect("JSON")
            };
            assert_eq!(plan(false), plan(true), "{}", policy.display());
        }
    }
}
