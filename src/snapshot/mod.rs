//! An owned, immutable view of the cluster at one instant, with the indexes the
//! strategies need. Built once per run; never calls the API or reads the clock.

mod ids;
mod label_index;
mod pdb;
mod pod;
pub mod resources;
mod reuse;
pub mod slim;
mod usage;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Taint};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;

pub use ids::{Id, IdVec, NodeId, PdbId, PerNode, PerPod, PodId};
pub use label_index::{LabelIndex, gather};
pub use pdb::PdbInfo;
pub use pod::{
    ANNOTATION_RESTARTED_AT, OwnerRef, Phase, PodInfo, Qos, Workload, WorkloadKind, controller_of,
    exit_code, host_port_entries, state_reason, to_chrono,
};
pub use resources::Resources;
pub use reuse::PodReuse;
pub use usage::{KubeMetrics, KubeUsage, MeasuredUsage, UsageInput, UsageSource};

use crate::selectors::Labels;

#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    /// Nodes with equal taints share this number, so a pod's tolerations
    /// are checked once per distinct set rather than once per node.
    pub taint_set: u32,
    pub unschedulable: bool,
    pub ready: bool,
    pub allocatable: Resources,
    pub node: Arc<Node>,
}

impl NodeInfo {
    fn new(node: Arc<Node>) -> Self {
        let spec = node.spec.as_ref();
        let status = node.status.as_ref();
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        Self {
            name: node.metadata.name.clone().unwrap_or_default(),
            labels: node.metadata.labels.clone().unwrap_or_default(),
            taints: spec.and_then(|s| s.taints.clone()).unwrap_or_default(),
            taint_set: 0,
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            ready,
            allocatable: Resources::from_list(status.and_then(|s| s.allocatable.as_ref())),
            node,
        }
    }
}

/// Numbers the nodes' distinct taint lists from 0, in node order; returns
/// how many there are.
fn number_taint_sets(nodes: &mut [NodeInfo]) -> u32 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let hasher = foldhash::fast::FixedState::default();
    // hash -> (set, a node that has it); equal hashes are told apart by
    // comparing the lists.
    let mut seen: foldhash::HashMap<u64, Vec<(u32, usize)>> = foldhash::HashMap::default();
    let mut count = 0;
    for i in 0..nodes.len() {
        let mut h = hasher.build_hasher();
        for t in &nodes[i].taints {
            (&t.key, &t.value, &t.effect).hash(&mut h);
        }
        let bucket = seen.entry(h.finish()).or_default();
        let set = match bucket
            .iter()
            .find(|(_, j)| nodes[*j].taints == nodes[i].taints)
        {
            Some(&(set, _)) => set,
            None => {
                bucket.push((count, i));
                count += 1;
                count - 1
            }
        };
        nodes[i].taint_set = set;
    }
    count
}

/// A pod's Deployment or StatefulSet, numbered within one snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WorkloadId(u32);

impl WorkloadId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The objects a snapshot is built from.
#[derive(Debug, Clone, Default)]
pub struct ClusterObjects {
    pub nodes: Vec<Arc<Node>>,
    pub pods: Vec<Arc<Pod>>,
    pub pdbs: Vec<Arc<PodDisruptionBudget>>,
    pub priority_classes: Vec<Arc<PriorityClass>>,
    pub namespaces: Vec<Arc<Namespace>>,
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub now: DateTime<Utc>,
    /// Sorted by name.
    pub nodes: PerNode<NodeInfo>,
    /// Sorted by namespace, then name.
    pub pods: PerPod<PodInfo>,
    /// Sorted by namespace, then name.
    pub pdbs: IdVec<PdbId, PdbInfo>,
    pub priority_classes: BTreeMap<String, i32>,
    pub namespaces: BTreeMap<String, Labels>,
    node_by_name: HashMap<String, NodeId>,
    pods_by_node: PerNode<Vec<PodId>>,
    pods_by_owner: HashMap<OwnerRef, Vec<PodId>>,
    /// The number of each pod's Deployment or StatefulSet, from 0 in the
    /// order of their first pods; the `_by_workload` lists are by it.
    workload_of: PerPod<Option<WorkloadId>>,
    /// Ready, not terminating pods of each Deployment and StatefulSet.
    ready_by_workload: Vec<u32>,
    /// The latest RolloutRestart any pod of each workload carries: the new
    /// pods of a rollout still in progress carry it before they are ready.
    restarted_by_workload: Vec<Option<DateTime<Utc>>>,
    pods_by_namespace: BTreeMap<String, Vec<PodId>>,
    pdbs_by_pod: PerPod<Vec<PdbId>>,
    /// Requests of the pods on each node that are not Succeeded or Failed.
    node_usage: PerNode<Resources>,
    /// What metrics sources measured for this run (see [`Snapshot::with_usage`]).
    measured: MeasuredUsage,
    /// The pods by label that matching the budgets built: kept, so that
    /// the placement model does not read every pod's labels again.
    labels: LabelIndex,
    /// How many distinct [`NodeInfo::taint_set`]s there are.
    taint_sets: u32,
}

impl Snapshot {
    pub fn build(now: DateTime<Utc>, objects: ClusterObjects) -> Self {
        Self::build_with(now, objects, None)
    }

    /// As [`Snapshot::build`], taking the records of the pods that have not
    /// changed since the last build from `reuse` (the operator's watch
    /// caches, which build one snapshot after another of the same objects).
    pub fn build_reusing(
        now: DateTime<Utc>,
        objects: ClusterObjects,
        reuse: &mut PodReuse,
    ) -> Self {
        Self::build_with(now, objects, Some(reuse))
    }

    fn build_with(
        now: DateTime<Utc>,
        objects: ClusterObjects,
        reuse: Option<&mut PodReuse>,
    ) -> Self {
        let priority_classes: BTreeMap<String, i32> = objects
            .priority_classes
            .iter()
            .filter_map(|pc| Some((pc.metadata.name.clone()?, pc.value?)))
            .collect();
        let namespaces: BTreeMap<String, Labels> = objects
            .namespaces
            .iter()
            .filter_map(|ns| {
                Some((
                    ns.metadata.name.clone()?,
                    ns.metadata.labels.clone().unwrap_or_default(),
                ))
            })
            .collect();

        let mut nodes: Vec<NodeInfo> = objects.nodes.into_iter().map(NodeInfo::new).collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        nodes.dedup_by(|a, b| a.name == b.name);
        let taint_sets = number_taint_sets(&mut nodes);
        let nodes: PerNode<NodeInfo> = nodes.into();
        let node_by_name: HashMap<String, NodeId> =
            nodes.iter().map(|(i, n)| (n.name.clone(), i)).collect();

        let mut pods: Vec<PodInfo> = match reuse {
            Some(reuse) => reuse.records(objects.pods, &priority_classes, &nodes, &node_by_name),
            None => objects
                .pods
                .into_iter()
                .map(|p| PodInfo::new(p, &priority_classes, &node_by_name))
                .collect(),
        };
        pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        pods.dedup_by(|a, b| a.namespace == b.namespace && a.name == b.name);
        let pods: PerPod<PodInfo> = pods.into();

        let mut pods_by_node = PerNode::filled(nodes.len(), Vec::new());
        // Keyed by the pods' own owners and workloads while the pods are
        // read: a key is copied once per owner, not once per pod.
        let mut by_owner: foldhash::HashMap<&OwnerRef, Vec<PodId>> = Default::default();
        let mut workload_number: foldhash::HashMap<&Workload, u32> = Default::default();
        let mut workload_of = PerPod::filled(pods.len(), None);
        let mut ready_by_workload: Vec<u32> = Vec::new();
        let mut restarted_by_workload: Vec<Option<DateTime<Utc>>> = Vec::new();
        let mut pods_by_namespace: BTreeMap<String, Vec<PodId>> = BTreeMap::new();
        let mut node_usage = PerNode::filled(nodes.len(), Resources::default());
        for (id, p) in pods.iter() {
            if let Some(n) = p.node {
                pods_by_node[n].push(id);
                if !p.phase.is_terminal() {
                    node_usage[n].add(&p.requests);
                }
            }
            if let Some(owner) = &p.owner {
                by_owner.entry(owner).or_default().push(id);
            }
            if let Some(w) = &p.workload {
                let next = ready_by_workload.len() as u32;
                let k = *workload_number.entry(w).or_insert(next);
                if k == next {
                    ready_by_workload.push(0);
                    restarted_by_workload.push(None);
                }
                workload_of[id] = Some(WorkloadId(k));
                let k = k as usize;
                if p.ready && !p.terminating && !p.phase.is_terminal() {
                    ready_by_workload[k] += 1;
                }
                if let Some(at) = p.restarted_at {
                    let latest = restarted_by_workload[k].get_or_insert(at);
                    *latest = (*latest).max(at);
                }
            }
            match pods_by_namespace.get_mut(p.namespace.as_str()) {
                Some(in_ns) => in_ns.push(id),
                None => {
                    pods_by_namespace.insert(p.namespace.clone(), vec![id]);
                }
            }
        }
        drop(workload_number);
        let pods_by_owner: HashMap<OwnerRef, Vec<PodId>> = by_owner
            .into_iter()
            .map(|(o, ids)| (o.clone(), ids))
            .collect();

        let mut labels = LabelIndex::default();
        let mut pdbs: Vec<PdbInfo> = objects
            .pdbs
            .iter()
            .map(|pdb| {
                let ns = pdb.metadata.namespace.as_deref().unwrap_or_default();
                let in_ns = pods_by_namespace.get(ns).map_or(&[][..], Vec::as_slice);
                PdbInfo::new(pdb, &pods, in_ns, &mut labels)
            })
            .collect();
        pdbs.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        let pdbs: IdVec<PdbId, PdbInfo> = pdbs.into();
        let mut pdbs_by_pod = PerPod::filled(pods.len(), Vec::new());
        for (i, pdb) in pdbs.iter() {
            for &p in &pdb.pods {
                pdbs_by_pod[p].push(i);
            }
        }

        Self {
            now,
            nodes,
            pods,
            pdbs,
            priority_classes,
            namespaces,
            node_by_name,
            pods_by_node,
            pods_by_owner,
            workload_of,
            ready_by_workload,
            restarted_by_workload,
            pods_by_namespace,
            pdbs_by_pod,
            node_usage,
            measured: MeasuredUsage::default(),
            labels,
            taint_sets,
        }
    }

    /// How many distinct taint sets the nodes have (see [`NodeInfo::taint_set`]).
    pub fn taint_sets(&self) -> usize {
        self.taint_sets as usize
    }

    /// Every node, in name order.
    pub fn node_ids(&self) -> impl DoubleEndedIterator<Item = NodeId> + ExactSizeIterator + use<> {
        self.nodes.ids()
    }

    /// Every pod, in (namespace, name) order.
    pub fn pod_ids(&self) -> impl DoubleEndedIterator<Item = PodId> + ExactSizeIterator + use<> {
        self.pods.ids()
    }

    pub fn pdb(&self, id: PdbId) -> &PdbInfo {
        &self.pdbs[id]
    }

    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.node_by_name.get(name).copied()
    }

    pub fn pod(&self, id: PodId) -> &PodInfo {
        &self.pods[id]
    }

    pub fn node(&self, id: NodeId) -> &NodeInfo {
        &self.nodes[id]
    }

    /// Pods bound to the node, in (namespace, name) order.
    pub fn pods_on(&self, node: NodeId) -> &[PodId] {
        &self.pods_by_node[node]
    }

    /// Pods whose controller is `owner`, in (namespace, name) order.
    pub fn pods_of_owner(&self, owner: &OwnerRef) -> &[PodId] {
        self.pods_by_owner.get(owner).map_or(&[], Vec::as_slice)
    }

    /// Ready, not terminating pods of the workload.
    pub fn ready_replicas(&self, w: WorkloadId) -> u32 {
        self.ready_by_workload[w.index()]
    }

    /// The number of the pod's Deployment or StatefulSet in this snapshot.
    pub fn workload_of(&self, pod: PodId) -> Option<WorkloadId> {
        self.workload_of[pod]
    }

    /// How many Deployments and StatefulSets have pods.
    pub fn workload_count(&self) -> usize {
        self.ready_by_workload.len()
    }

    /// When RolloutRestart last restarted the workload, as its pods show.
    pub fn last_restart(&self, w: WorkloadId) -> Option<DateTime<Utc>> {
        self.restarted_by_workload[w.index()]
    }

    pub fn pods_in_namespace(&self, ns: &str) -> &[PodId] {
        self.pods_by_namespace.get(ns).map_or(&[], Vec::as_slice)
    }

    /// The budgets that select the pod.
    pub fn pdbs_of(&self, pod: PodId) -> &[PdbId] {
        &self.pdbs_by_pod[pod]
    }

    pub fn node_usage(&self, node: NodeId) -> &Resources {
        &self.node_usage[node]
    }

    /// The pods of `ns` by their value of `key`, in id order, when
    /// matching the budgets indexed them (None: not indexed, not "none").
    pub fn pods_by_label(
        &self,
        ns: &str,
        key: &str,
    ) -> Option<&foldhash::HashMap<String, Vec<PodId>>> {
        self.labels.built(ns, key)
    }

    pub fn namespace_labels(&self, ns: &str) -> Option<&Labels> {
        self.namespaces.get(ns)
    }
}
