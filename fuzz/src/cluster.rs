//! Cluster dumps whose parts meet: pods on the generated nodes, owned by a
//! few controllers, labelled from a small vocabulary that the policies'
//! selectors, the nodes' taints, the pods' affinities and spread
//! constraints and the budgets' selectors use too. Quantities, counts and
//! times are drawn near their edges.

use arbitrary::{Result, Unstructured};
use descheduler::snapshot::ClusterObjects;
use serde_json::{Value, json};

use crate::{object, pick_int, pick_str};

const KEYS: &[&str] = &[
    "app",
    "tier",
    "role",
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "dedicated",
];
const VALUES: &[&str] = &[
    "web", "db", "a", "b", "zone-a", "zone-b", "worker", "gpu", "",
];
const NAMESPACES: &[&str] = &["default", "kube-system", "team-a", "team-b"];
const QUANTITIES: &[&str] = &[
    "0",
    "1",
    "100m",
    "1500m",
    "4",
    "64",
    "1Gi",
    "16Gi",
    "512Mi",
    "1e3",
    "0.5",
    "1.5Gi",
    "110",
    "-1",
    "1n",
    "9223372036854775807",
    "99999999999999999999Ei",
    "",
    "x",
];
const EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute", "Bogus"];
const OWNER_KINDS: &[&str] = &[
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "ReplicationController",
    "Node",
];
const PHASES: &[&str] = &["Running", "Pending", "Succeeded", "Failed", "Unknown"];
const WAITING: &[&str] = &["CrashLoopBackOff", "ImagePullBackOff", "ContainerCreating"];
const TERMINATED: &[&str] = &["OOMKilled", "Error", "Completed", "Evicted"];
const TOPOLOGY: &[&str] = &[
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "role",
];

/// Times within a few days of [`crate::now`], some after it.
fn time(u: &mut Unstructured) -> Result<Value> {
    let secs: i64 = match u.int_in_range(0..=3)? {
        0 => u.int_in_range(-400_000..=400_000)?,
        1 => 0,
        2 => -86_400 * 365,
        _ => u.int_in_range(-100..=100)?,
    };
    let t = crate::now() + chrono::Duration::seconds(secs);
    Ok(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into())
}

fn labels(u: &mut Unstructured) -> Result<Value> {
    let mut m = serde_json::Map::new();
    for _ in 0..u.int_in_range(0..=3)? {
        m.insert(
            u.choose(KEYS)?.to_string(),
            u.choose(VALUES)?.to_string().into(),
        );
    }
    Ok(Value::Object(m))
}

fn quantity(u: &mut Unstructured) -> Result<Value> {
    Ok(pick_str(u, QUANTITIES)?.into())
}

fn resources(u: &mut Unstructured) -> Result<Value> {
    let mut m = serde_json::Map::new();
    for name in ["cpu", "memory", "pods", "example.com/gpu"] {
        if crate::chance(u, 2, 3)? {
            m.insert(name.into(), quantity(u)?);
        }
    }
    Ok(Value::Object(m))
}

fn label_selector(u: &mut Unstructured) -> Result<Value> {
    let mut exprs = Vec::new();
    for _ in 0..u.int_in_range(0..=2)? {
        let op = *u.choose(&["In", "NotIn", "Exists", "DoesNotExist", "Bogus"])?;
        let values: Vec<&str> = if op.ends_with("In") || crate::chance(u, 1, 8)? {
            (0..u.int_in_range(0..=2)?)
                .map(|_| u.choose(VALUES).copied())
                .collect::<Result<_>>()?
        } else {
            Vec::new()
        };
        exprs.push(json!({"key": u.choose(KEYS)?, "operator": op, "values": values}));
    }
    Ok(object(vec![
        ("matchLabels", Some(labels(u)?)),
        (
            "matchExpressions",
            (!exprs.is_empty()).then(|| exprs.into()),
        ),
    ]))
}

fn node_selector_term(u: &mut Unstructured) -> Result<Value> {
    let mut exprs = Vec::new();
    for _ in 0..u.int_in_range(0..=2)? {
        let op = *u.choose(&["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"])?;
        let values: Vec<String> = match op {
            "Gt" | "Lt" => vec![pick_int(u)?.to_string()],
            "Exists" | "DoesNotExist" => Vec::new(),
            _ => (0..u.int_in_range(0..=2)?)
                .map(|_| u.choose(VALUES).map(|v| v.to_string()))
                .collect::<Result<_>>()?,
        };
        exprs.push(json!({"key": u.choose(KEYS)?, "operator": op, "values": values}));
    }
    let fields = if crate::chance(u, 1, 6)? {
        Some(
            json!([{"key": "metadata.name", "operator": "In", "values": [format!("node-{}", u.int_in_range(0..=3)?)]}]),
        )
    } else {
        None
    };
    Ok(object(vec![
        ("matchExpressions", Some(exprs.into())),
        ("matchFields", fields),
    ]))
}

fn pod_affinity_term(u: &mut Unstructured) -> Result<Value> {
    Ok(object(vec![
        ("labelSelector", Some(label_selector(u)?)),
        ("topologyKey", Some(u.choose(TOPOLOGY)?.to_string().into())),
        (
            "namespaces",
            crate::chance(u, 1, 4)?.then(|| json!([NAMESPACES[0]])),
        ),
    ]))
}

fn affinity(u: &mut Unstructured) -> Result<Value> {
    let mut a = serde_json::Map::new();
    if crate::chance(u, 1, 2)? {
        let mut na = serde_json::Map::new();
        if crate::chance(u, 2, 3)? {
            let terms = (0..u.int_in_range(0..=2)?)
                .map(|_| node_selector_term(u))
                .collect::<Result<Vec<_>>>()?;
            na.insert(
                "requiredDuringSchedulingIgnoredDuringExecution".into(),
                json!({"nodeSelectorTerms": terms}),
            );
        }
        if crate::chance(u, 1, 2)? {
            let prefs = (0..u.int_in_range(1..=2)?)
                .map(|_| Ok(json!({"weight": u.int_in_range(-1..=101)?, "preference": node_selector_term(u)?})))
                .collect::<Result<Vec<_>>>()?;
            na.insert(
                "preferredDuringSchedulingIgnoredDuringExecution".into(),
                prefs.into(),
            );
        }
        a.insert("nodeAffinity".into(), na.into());
    }
    for kind in ["podAffinity", "podAntiAffinity"] {
        if crate::chance(u, 1, 3)? {
            let mut pa = serde_json::Map::new();
            let req = (0..u.int_in_range(0..=2)?)
                .map(|_| pod_affinity_term(u))
                .collect::<Result<Vec<_>>>()?;
            pa.insert(
                "requiredDuringSchedulingIgnoredDuringExecution".into(),
                req.into(),
            );
            if crate::chance(u, 1, 2)? {
                pa.insert(
                    "preferredDuringSchedulingIgnoredDuringExecution".into(),
                    json!([{"weight": u.int_in_range(0..=100)?, "podAffinityTerm": pod_affinity_term(u)?}]),
                );
            }
            a.insert(kind.into(), pa.into());
        }
    }
    Ok(a.into())
}

fn tolerations(u: &mut Unstructured) -> Result<Value> {
    let mut out = Vec::new();
    for _ in 0..u.int_in_range(0..=2)? {
        let exists = u.arbitrary::<bool>()?;
        out.push(object(vec![
            ("key", crate::chance(u, 7, 8)?.then(|| Value::from(KEYS[5]))),
            (
                "operator",
                Some(if exists { "Exists" } else { "Equal" }.into()),
            ),
            ("value", (!exists).then(|| VALUES[7].into())),
            ("effect", crate::chance(u, 3, 4)?.then(|| EFFECTS[0].into())),
            (
                "tolerationSeconds",
                crate::chance(u, 1, 8)?
                    .then(|| pick_int(u))
                    .transpose()?
                    .map(Into::into),
            ),
        ]));
    }
    Ok(out.into())
}

fn spread(u: &mut Unstructured) -> Result<Value> {
    let mut out = Vec::new();
    for _ in 0..u.int_in_range(0..=2)? {
        out.push(object(vec![
            (
                "maxSkew",
                Some(
                    match u.int_in_range(0..=3)? {
                        0 => pick_int(u)? as i32,
                        n => n,
                    }
                    .into(),
                ),
            ),
            ("topologyKey", Some(u.choose(TOPOLOGY)?.to_string().into())),
            (
                "whenUnsatisfiable",
                Some(
                    u.choose(&["DoNotSchedule", "ScheduleAnyway"])?
                        .to_string()
                        .into(),
                ),
            ),
            ("labelSelector", Some(label_selector(u)?)),
            (
                "minDomains",
                crate::chance(u, 1, 4)?
                    .then(|| pick_int(u).map(|n| n as i32))
                    .transpose()?
                    .map(Into::into),
            ),
            (
                "matchLabelKeys",
                crate::chance(u, 1, 4)?.then(|| json!([KEYS[0]])),
            ),
            (
                "nodeAffinityPolicy",
                crate::chance(u, 1, 4)?.then(|| "Ignore".into()),
            ),
            (
                "nodeTaintsPolicy",
                crate::chance(u, 1, 4)?.then(|| "Honor".into()),
            ),
        ]));
    }
    Ok(out.into())
}

fn container_status(u: &mut Unstructured, name: &str) -> Result<Value> {
    let state = match u.int_in_range(0..=2)? {
        0 => json!({"running": {"startedAt": time(u)?}}),
        1 => json!({"waiting": {"reason": u.choose(WAITING)?}}),
        _ => {
            json!({"terminated": {"reason": u.choose(TERMINATED)?, "exitCode": pick_int(u)? as i32}})
        }
    };
    Ok(json!({
        "name": name,
        "ready": u.arbitrary::<bool>()?,
        "restartCount": match u.int_in_range(0..=2)? { 0 => 0, 1 => u.int_in_range(0..=200)?, _ => pick_int(u)? as i32 },
        "image": "img",
        "imageID": "",
        "state": state,
    }))
}

fn node(u: &mut Unstructured, i: usize) -> Result<Value> {
    let name = format!("node-{i}");
    let mut l = labels(u)?;
    l["kubernetes.io/hostname"] = name.clone().into();
    let taints = (0..u.int_in_range(0..=2)?)
        .map(|_| {
            Ok(object(vec![
                ("key", Some(u.choose(KEYS)?.to_string().into())),
                (
                    "value",
                    crate::chance(u, 1, 2)?
                        .then(|| u.choose(VALUES).map(|v| v.to_string().into()))
                        .transpose()?,
                ),
                ("effect", Some(u.choose(EFFECTS)?.to_string().into())),
            ]))
        })
        .collect::<Result<Vec<_>>>()?;
    let alloc = resources(u)?;
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": l},
        "spec": object(vec![
            ("unschedulable", crate::chance(u, 1, 6)?.then_some(true.into())),
            ("taints", (!taints.is_empty()).then(|| taints.into())),
        ]),
        "status": {
            "allocatable": alloc,
            "capacity": alloc,
            "conditions": [{"type": "Ready", "status": u.choose(&["True", "True", "True", "False", "Unknown"])?}],
        },
    }))
}

fn pod(u: &mut Unstructured, i: usize, nodes: usize) -> Result<Value> {
    let ns = *u.choose(NAMESPACES)?;
    let phase = *u.choose(PHASES)?;
    let owner_kind = *u.choose(OWNER_KINDS)?;
    let owner = format!("{}-{}", owner_kind.to_lowercase(), u.int_in_range(0..=2)?);
    let owners = if crate::chance(u, 5, 6)? {
        json!([{"apiVersion": "apps/v1", "kind": owner_kind, "name": owner, "uid": format!("{ns}-{owner}"), "controller": crate::chance(u, 7, 8)?}])
    } else {
        json!([])
    };
    let mut annotations = serde_json::Map::new();
    if crate::chance(u, 1, 10)? {
        annotations.insert("descheduler.alpha.kubernetes.io/evict".into(), "".into());
    }
    if crate::chance(u, 1, 10)? {
        annotations.insert(
            "descheduler.alpha.kubernetes.io/prefer-no-eviction".into(),
            "".into(),
        );
    }
    if crate::chance(u, 1, 20)? {
        annotations.insert("kubernetes.io/config.mirror".into(), "x".into());
    }
    let node = (nodes > 0 && crate::chance(u, 7, 8)?)
        .then(|| u.choose_index(nodes).map(|n| format!("node-{n}")))
        .transpose()?;
    let containers = (0..u.int_in_range(1..=2)?)
        .map(|c| {
            Ok(json!({
                "name": format!("c{c}"),
                "image": if crate::chance(u, 1, 4)? { "other" } else { "img" },
                "resources": {"requests": resources(u)?},
            }))
        })
        .collect::<Result<Vec<_>>>()?;
    let init = if crate::chance(u, 1, 6)? {
        Some(json!([{"name": "init", "image": "img", "resources": {"requests": resources(u)?}}]))
    } else {
        None
    };
    let statuses = (0..containers.len())
        .map(|c| container_status(u, &format!("c{c}")))
        .collect::<Result<Vec<_>>>()?;
    let volumes = match u.int_in_range(0..=5)? {
        0 => Some(json!([{"name": "v", "emptyDir": {}}])),
        1 => Some(json!([{"name": "v", "persistentVolumeClaim": {"claimName": "c"}}])),
        2 => Some(json!([{"name": "v", "hostPath": {"path": "/x"}}])),
        _ => None,
    };
    let ports = crate::chance(u, 1, 6)?.then(|| json!([{"containerPort": 80, "hostPort": 8080}]));
    let mut containers = containers;
    if let (Some(p), Some(c)) = (ports, containers.first_mut()) {
        c["ports"] = p;
    }
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": object(vec![
            ("name", Some(format!("pod-{i}").into())),
            ("namespace", Some(ns.into())),
            ("uid", Some(format!("uid-{i}").into())),
            ("labels", Some(labels(u)?)),
            ("annotations", Some(annotations.into())),
            ("ownerReferences", Some(owners)),
            ("creationTimestamp", Some(time(u)?)),
            ("deletionTimestamp", crate::chance(u, 1, 20)?.then(|| time(u)).transpose()?),
        ]),
        "spec": object(vec![
            ("nodeName", node.map(Into::into)),
            ("containers", Some(containers.into())),
            ("initContainers", init),
            ("volumes", volumes),
            ("priority", crate::chance(u, 2, 3)?.then(|| pick_int(u).map(|p| (p as i32).into())).transpose()?),
            ("priorityClassName", crate::chance(u, 1, 4)?.then(|| u.choose(&["system-cluster-critical", "system-node-critical", "high", "low", "missing"]).map(|s| s.to_string().into())).transpose()?),
            ("nodeSelector", crate::chance(u, 1, 4)?.then(|| labels(u)).transpose()?),
            ("affinity", crate::chance(u, 1, 2)?.then(|| affinity(u)).transpose()?),
            ("tolerations", Some(tolerations(u)?)),
            ("topologySpreadConstraints", crate::chance(u, 1, 3)?.then(|| spread(u)).transpose()?),
            ("overhead", crate::chance(u, 1, 12)?.then(|| resources(u)).transpose()?),
        ]),
        "status": object(vec![
            ("phase", Some(phase.into())),
            ("reason", crate::chance(u, 1, 8)?.then(|| u.choose(&["NodeLost", "Shutdown", "Evicted", "NodeAffinity"]).map(|s| s.to_string().into())).transpose()?),
            ("qosClass", crate::chance(u, 1, 2)?.then(|| u.choose(&["BestEffort", "Burstable", "Guaranteed", "Bogus"]).map(|s| s.to_string().into())).transpose()?),
            ("startTime", crate::chance(u, 5, 6)?.then(|| time(u)).transpose()?),
            ("conditions", Some(json!([{"type": "Ready", "status": if crate::chance(u, 4, 5)? { "True" } else { "False" }, "lastTransitionTime": time(u)?}]))),
            ("containerStatuses", Some(statuses.into())),
        ]),
    }))
}

fn pdb(u: &mut Unstructured, i: usize) -> Result<Value> {
    let int_or_pct = |u: &mut Unstructured| -> Result<Value> {
        Ok(if u.arbitrary()? {
            u.int_in_range(-1..=5)?.into()
        } else {
            u.choose(&["0%", "50%", "100%", "150%", "x%", "1"])?
                .to_string()
                .into()
        })
    };
    let min = u.arbitrary::<bool>()?;
    Ok(json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": format!("pdb-{i}"), "namespace": u.choose(NAMESPACES)?},
        "spec": object(vec![
            ("selector", crate::chance(u, 7, 8)?.then(|| label_selector(u)).transpose()?),
            ("minAvailable", min.then(|| int_or_pct(u)).transpose()?),
            ("maxUnavailable", (!min && crate::chance(u, 3, 4)?).then(|| int_or_pct(u)).transpose()?),
        ]),
        "status": {
            "currentHealthy": pick_int(u)? as i32,
            "desiredHealthy": pick_int(u)? as i32,
            "disruptionsAllowed": pick_int(u)? as i32,
            "expectedPods": pick_int(u)? as i32,
        },
    }))
}

/// A list of cluster objects, in the shape `kubectl get -o json` prints.
pub fn items(u: &mut Unstructured) -> Result<Vec<Value>> {
    let nodes = u.int_in_range(0..=5)?;
    let pods = u.int_in_range(0..=16)?;
    let mut out = Vec::new();
    for i in 0..nodes {
        out.push(node(u, i)?);
    }
    for i in 0..pods {
        out.push(pod(u, i, nodes)?);
    }
    for i in 0..u.int_in_range(0..=2)? {
        out.push(pdb(u, i)?);
    }
    for name in ["high", "low"] {
        if crate::chance(u, 1, 2)? {
            out.push(json!({
                "apiVersion": "scheduling.k8s.io/v1",
                "kind": "PriorityClass",
                "metadata": {"name": name},
                "value": pick_int(u)? as i32,
            }));
        }
    }
    for ns in NAMESPACES {
        if crate::chance(u, 1, 2)? {
            out.push(json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "labels": labels(u)?},
            }));
        }
    }
    if crate::chance(u, 1, 8)? {
        out.push(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}));
    }
    Ok(out)
}

/// Two readings of the same dump hold the same objects.
pub fn assert_same(a: &ClusterObjects, b: &ClusterObjects) {
    assert_eq!(a.nodes, b.nodes, "nodes differ");
    assert_eq!(a.pods, b.pods, "pods differ");
    assert_eq!(a.pdbs, b.pdbs, "budgets differ");
    assert_eq!(
        a.priority_classes, b.priority_classes,
        "priority classes differ"
    );
    assert_eq!(a.namespaces, b.namespaces, "namespaces differ");
}
