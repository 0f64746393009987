//! Where the replacement of an evicted pod would be bound (SPEC §10): a pure
//! model of kube-scheduler v1.36's default profile.
//!
//! A [`Model`] starts from a snapshot. [`Model::remove`] takes an evicted pod
//! off its node; [`Model::predict`] runs one scheduling cycle for a copy of a
//! pod without its nodeName (its replacement) and returns the node it would
//! be bound to, None when it would stay Pending; [`Model::place`] also binds
//! it there, so the pods of a plan are placed one after another, each seeing
//! the ones before (resources, host ports, affinity, spreading);
//! [`Model::restore`] puts back a pod removed but not evicted after all.
//!
//! For each eviction candidate `p` on node `src`, in plan order:
//!
//! ```ignore
//! m.remove(p);                 // the replacement does not see its predecessor
//! match m.predict(p) {
//!     Some(n) if n != src => { m.place(p); }   // evicted; later pods see it on n
//!     _ => m.restore(p),       // would land on src, or stay Pending: kept
//! }
//! ```
//!
//! (With placementCheck Warn or Off the pod is evicted anyway: `place` it,
//! which records nothing when it would stay Pending.)
//!
//! Filters, in the scheduler's plugin order ([`Filter`]): NodeUnschedulable,
//! TaintToleration (NoSchedule, NoExecute), NodeAffinity (nodeSelector and
//! required terms, with its PreFilter narrowing to `metadata.name` nodes),
//! NodePorts, NodeResourcesFit (every requested resource, init containers and
//! overhead included, and the pod count), PodTopologySpread (DoNotSchedule;
//! minDomains, nodeAffinityPolicy Honor and nodeTaintsPolicy Ignore by
//! default, matchLabelKeys, the minimum over eligible domains) and
//! InterPodAffinity (the pod's required affinity, with the first-pod rule,
//! and anti-affinity, and existing pods' required anti-affinity). NotReady
//! nodes are filtered first (the scheduler sees their not-ready taint), unless
//! the pod tolerates that taint.
//!
//! Scores, normalized per plugin as the framework does and weighted as the
//! default profile weighs them: TaintToleration (PreferNoSchedule, 3),
//! NodeAffinity (preferred terms, 2), NodeResourcesFit (LeastAllocated over
//! cpu and memory, counting 100m / 200Mi for containers without requests, 1),
//! NodeResourcesBalancedAllocation (requests as they are, skipped for pods
//! that request neither, 1), InterPodAffinity (preferred terms both ways and
//! existing pods' required affinity, 2) and PodTopologySpread (ScheduleAnyway
//! constraints, or the system defaults: hostname maxSkew 3 and zone maxSkew 5
//! for pods of a ReplicaSet, StatefulSet or ReplicationController, 2).
//!
//! Like the scheduler, a cycle stops filtering once it has found
//! `percentageOfNodesToScore` (adaptive: 50% less 1% per 125 nodes, at least
//! 5% and 100 nodes) feasible nodes, visiting nodes zone by zone from where
//! the previous placement stopped, and scores only those;
//! [`Model::score_all_nodes`] scores every feasible node instead. Ties go to
//! the first node by name (the scheduler picks one at random).
//!
//! The filter is checked against an independent checker on random clusters
//! and sequences of evictions (properties_tests.rs); the scores against
//! hand-computed totals (scores_tests.rs).
//!
//! Not modelled: custom profiles and scheduler configuration, extenders,
//! preemption (a pod that fits nowhere is Pending), nominated pods, volume
//! binding and volume topology, DRA, pod-level resources, Services (the
//! system default spreading uses the pod's controller alone, where the
//! scheduler uses the controller's selector). ImageLocality (weight 1) is
//! left out: the snapshot has no node images; on a real cluster it leans a
//! little towards nodes that already hold the image, the source node among
//! them. The scheduler filters nodes in parallel and may look at a few more
//! than it needs before it stops, so on clusters of 100 nodes and more the
//! set it scores, and where the next cycle starts, can differ slightly.

mod affinity;
mod fingerprint;
mod index;
mod nodes;
mod profile;
mod score;
mod spread;
#[cfg(test)]
mod test_builders;

#[cfg(test)]
#[path = "filters_tests.rs"]
mod filters_tests;
#[cfg(test)]
#[path = "properties_tests.rs"]
mod properties_tests;
#[cfg(test)]
#[path = "scores_tests.rs"]
mod scores_tests;
#[cfg(test)]
#[path = "sequence_tests.rs"]
mod sequence_tests;

use std::cell::{OnceCell, RefCell};
use std::rc::Rc;

use foldhash::HashMap;

use crate::snapshot::{Id, NodeId, NodeInfo, OwnerRef, PerNode, PodId, Resources, Snapshot};
use affinity::{AffinityCycle, Existing};
use index::{Keys, LabelIndex, MatchCache, NONE, Slot};
use nodes::{AFFINITY, NodeContext, READY, SCHEDULABLE, Statics, StaticsCache, TAINTS};
use profile::{HostPort, Profile, host_ports};
use spread::{EligibilityCache, SpreadCycle};

/// Every static filter passes.
const ALL_STATIC: u8 = READY | SCHEDULABLE | TAINTS | AFFINITY;

/// The filter that rejects a node, in the order the scheduler runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Filter {
    /// The node is not Ready (TaintToleration, on the not-ready or
    /// unreachable taint the node lifecycle controller adds).
    NotReady,
    /// NodeUnschedulable: cordoned, and the pod does not tolerate
    /// `node.kubernetes.io/unschedulable:NoSchedule`.
    Unschedulable,
    /// TaintToleration: a NoSchedule or NoExecute taint the pod does not tolerate.
    Taints,
    /// NodeAffinity: the nodeSelector or the required node affinity.
    NodeAffinity,
    /// NodePorts: a host port the pod wants is taken.
    Ports,
    /// NodeResourcesFit: a requested resource, or the pod count, does not fit.
    Resources,
    /// PodTopologySpread: a DoNotSchedule constraint would be skewed, or the
    /// node lacks its topology key.
    TopologySpread,
    /// InterPodAffinity: the pod's required affinity.
    InterPodAffinity,
    /// InterPodAffinity: the pod's required anti-affinity.
    InterPodAntiAffinity,
    /// InterPodAffinity: an existing pod's required anti-affinity selects the pod.
    ExistingAntiAffinity,
}

/// A node's capacity and what the pods the model places there request.
#[derive(Clone, Debug)]
struct NodeState {
    alloc_cpu: i64,
    alloc_mem: i64,
    alloc_pods: i64,
    /// Requests of the pods on the node (NodeResourcesFit, BalancedAllocation).
    used: Resources,
    /// cpu and memory as LeastAllocated counts them.
    nz_cpu: i64,
    nz_mem: i64,
}

/// What NodeResourcesFit's filter asks of a node, packed densely: the node
/// loop reads it for every visited node of every cycle.
#[derive(Clone, Copy, Debug, Default)]
struct Free {
    /// Allocatable less requested, at least 0: a pod requesting none fits
    /// even an overcommitted node, one requesting some never does.
    cpu: i64,
    memory: i64,
    /// Pods that still fit.
    pods: i64,
}

impl Free {
    fn of(st: &NodeState) -> Self {
        Self {
            cpu: (st.alloc_cpu - st.used.cpu).max(0),
            memory: (st.alloc_mem - st.used.memory).max(0),
            pods: st.alloc_pods - st.used.pods,
        }
    }

    /// Room for one more pod requesting `req`'s cpu and memory.
    #[inline(always)]
    fn fits(self, req: &Resources) -> bool {
        // Non-short-circuiting: the node loop runs this for every node, and
        // branches on unpredictable outcomes cost more than the comparisons.
        (self.pods >= 1) & (req.cpu <= self.cpu) & (req.memory <= self.memory)
    }
}

impl NodeState {
    fn new(node: &NodeInfo, used: &Resources) -> Self {
        Self {
            alloc_cpu: node.allocatable.cpu,
            alloc_mem: node.allocatable.memory,
            alloc_pods: node.allocatable.pods,
            used: used.clone(),
            nz_cpu: 0,
            nz_mem: 0,
        }
    }
}

/// The outcome of one scheduling cycle ([`Model::decide`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Where the replacement would be bound; None: it would stay Pending.
    pub node: Option<NodeId>,
    /// Nodes the cycle visited (where the next one starts).
    visited: usize,
    /// Other feasible nodes that scored as high as `node`: the scheduler
    /// picks one of the best at random, the model the first by name.
    pub tied: u32,
}

/// The scheduler's view of a cluster while a plan's replacements are placed.
pub struct Model<'s> {
    snap: &'s Snapshot,
    nodes: PerNode<NodeState>,
    /// `Free::of` each node's state, kept in step with `nodes`.
    free: PerNode<Free>,
    /// Where each slot (a snapshot pod, then each replacement) is bound, as
    /// the scheduler sees it ([`Model::slot_node`]); `index::NONE` for none,
    /// and so for a pod [`Model::remove`] took off.
    /// Dense: the spreading and affinity counts read it for every pod they
    /// count, and reaching each pod's own record costs a cache miss.
    slot_nodes: Vec<u32>,
    /// Deletion requested, per snapshot pod (dense, as `slot_nodes`).
    terminating: Vec<bool>,
    /// Placed replacements: (the evicted pod, its node); slot = pods + index.
    replacements: Vec<(PodId, NodeId)>,
    replacements_by_owner: HashMap<OwnerRef, Vec<Slot>>,
    replacements_by_ns: HashMap<String, Vec<Slot>>,
    ports: PerNode<Vec<(Slot, HostPort)>>,
    ctx: NodeContext,
    /// Where the next cycle starts visiting nodes (`nextStartNodeIndex`).
    start: usize,
    score_all: bool,
    existing: Existing,
    keys: Keys,
    labels: RefCell<LabelIndex<'s>>,
    match_cache: MatchCache,
    statics: RefCell<StaticsCache>,
    eligibility: EligibilityCache,
    namespaces: OnceCell<Vec<String>>,
    resource_scores: score::ResourceScores,
}

/// One scheduling cycle's state (PreFilter and PreScore).
pub(crate) struct Cycle<'s> {
    prof: Profile<'s>,
    statics: Rc<Statics>,
    affinity: AffinityCycle,
    spread: SpreadCycle,
    /// Some filter beyond the node's flags and resources can reject a node
    /// (host ports, DoNotSchedule spreading, inter-pod affinity): most
    /// pods have none, and their cycles skip those checks.
    more_filters: bool,
}

impl<'s> Model<'s> {
    /// The cluster as the snapshot has it.
    pub fn new(snap: &'s Snapshot) -> Self {
        let mut nodes: PerNode<NodeState> = snap
            .nodes
            .iter()
            .map(|(id, n)| NodeState::new(n, snap.node_usage(id)))
            .collect();
        let mut ports = PerNode::filled(snap.nodes.len(), Vec::new());
        // One pass over the pods: each one's record is a cache miss.
        let mut slot_nodes = Vec::with_capacity(snap.pods.len());
        let mut terminating = Vec::with_capacity(snap.pods.len());
        for (id, p) in snap.pods.iter() {
            terminating.push(p.terminating);
            let bound = bound_to(p);
            slot_nodes.push(bound.map_or(NONE, |n| n.index() as u32));
            let Some(n) = bound else {
                continue;
            };
            let (cpu, mem) = p.nonzero_requests;
            nodes[n].nz_cpu += cpu;
            nodes[n].nz_mem += mem;
            for hp in host_ports(p) {
                ports[n].push((Slot::pod(id), hp));
            }
        }
        let free = nodes.values().map(Free::of).collect();
        let mut m = Self {
            snap,
            nodes,
            free,
            slot_nodes,
            terminating,
            replacements: Vec::new(),
            replacements_by_owner: HashMap::default(),
            replacements_by_ns: HashMap::default(),
            ports,
            ctx: NodeContext::new(snap),
            start: 0,
            score_all: false,
            existing: Existing::default(),
            keys: Keys::default(),
            labels: RefCell::default(),
            match_cache: MatchCache::default(),
            statics: RefCell::default(),
            eligibility: EligibilityCache::default(),
            namespaces: OnceCell::new(),
            resource_scores: score::ResourceScores::new(snap.nodes.len()),
        };
        m.existing = Existing::build(&m);
        m
    }

    /// Scores every feasible node, instead of stopping at the scheduler's
    /// percentageOfNodesToScore (the same below 100 nodes).
    pub fn score_all_nodes(mut self) -> Self {
        self.score_all = true;
        self
    }

    /// Computes every LeastAllocated and BalancedAllocation score afresh:
    /// what the kept ones must agree with.
    #[cfg(test)]
    pub(crate) fn without_kept_scores(mut self) -> Self {
        self.resource_scores.disable();
        self
    }

    /// The pod is evicted: it leaves its node. Idempotent.
    pub fn remove(&mut self, pod: PodId) {
        let Some(node) = self.live_node(pod) else {
            return;
        };
        self.slot_nodes[pod.index()] = NONE;
        self.account(pod, node, -1);
        self.existing.shift(self.snap, &self.keys, pod, node, -1);
    }

    /// The node a replacement of `pod` (same spec, no nodeName) would be
    /// bound to now; None when it would stay Pending. Call [`Model::remove`]
    /// first: a pod still in place counts against its own replacement
    /// (resources, host ports, anti-affinity, spreading). After the remove,
    /// `predict(p) == snapshot.pod(p).node` means the replacement would land
    /// on the node it leaves. Changes nothing: predicting twice gives the same.
    pub fn predict(&self, pod: PodId) -> Option<NodeId> {
        self.run(pod).0
    }

    /// [`Model::predict`], and the replacement is bound there: later
    /// predictions see it. Nothing is recorded when it would stay Pending.
    pub fn place(&mut self, pod: PodId) -> Option<NodeId> {
        let cycle = self.decide(pod);
        self.bind(pod, cycle)
    }

    /// One scheduling cycle for a replacement of `pod`, not yet bound: what
    /// [`Model::predict`] answers, kept so that binding it does not run the
    /// cycle again.
    pub fn decide(&self, pod: PodId) -> Decision {
        let (node, visited, tied) = self.run(pod);
        Decision {
            node,
            visited,
            tied,
        }
    }

    /// Binds the replacement where `decision` (of [`Model::decide`], with
    /// nothing changed since) put it, as [`Model::place`] does.
    pub fn bind(&mut self, pod: PodId, decision: Decision) -> Option<NodeId> {
        let Decision { node, visited, .. } = decision;
        let total = self.ctx.order.len().max(1);
        self.start = (self.start + visited) % total;
        let node = node?;
        let slot = Slot::new(self.snap.pods.len() + self.replacements.len());
        self.replacements.push((pod, node));
        self.slot_nodes.push(node.index() as u32);
        let info = self.snap.pod(pod);
        self.account(pod, node, 1);
        for hp in host_ports(info) {
            self.ports[node].push((slot, hp));
        }
        self.existing.shift(self.snap, &self.keys, pod, node, 1);
        self.labels.borrow_mut().add(slot, info);
        // Looked up before inserting: most owners and namespaces already
        // have a replacement, and their keys need no copy.
        if let Some(o) = &info.owner {
            match self.replacements_by_owner.get_mut(o) {
                Some(slots) => slots.push(slot),
                None => {
                    self.replacements_by_owner.insert(o.clone(), vec![slot]);
                }
            }
        }
        match self.replacements_by_ns.get_mut(info.namespace.as_str()) {
            Some(slots) => slots.push(slot),
            None => {
                self.replacements_by_ns
                    .insert(info.namespace.clone(), vec![slot]);
            }
        }
        Some(node)
    }

    /// Whether a replacement of `pod` passes every filter on `node`, and
    /// if not the first that rejects it.
    pub fn filter(&self, pod: PodId, node: NodeId) -> Result<(), Filter> {
        self.check(&self.cycle(pod), node)
    }

    /// What the pods on the node request now, replacements included.
    pub fn usage(&self, node: NodeId) -> &Resources {
        &self.nodes[node].used
    }

    /// The replacements placed so far: (evicted pod, node), in order.
    pub fn replacements(&self) -> &[(PodId, NodeId)] {
        &self.replacements
    }

    fn cycle(&self, pod: PodId) -> Cycle<'s> {
        let prof = Profile::new(self.snap, pod);
        let statics = self.statics.borrow_mut().get(&self.ctx, self.snap, pod);
        let affinity = AffinityCycle::new(self, &prof);
        let spread = SpreadCycle::new(self, &prof, &statics);
        let more_filters = !prof.ports.is_empty() || spread.filters() || affinity.filters();
        Cycle {
            prof,
            statics,
            affinity,
            spread,
            more_filters,
        }
    }

    /// One scheduling cycle: the chosen node, how many nodes it visited, and
    /// how many others scored as high.
    fn run(&self, pod: PodId) -> (Option<NodeId>, usize, u32) {
        let cyc = self.cycle(pod);
        let list: &[NodeId] = cyc.statics.candidates.as_deref().unwrap_or(&self.ctx.order);
        if list.is_empty() {
            return (None, 0, 0);
        }
        let want = if self.score_all {
            list.len()
        } else {
            nodes::feasible_to_find(list.len())
        };
        let start = self.start % list.len();
        // From `start` round to just before it: no division per node.
        let (before, from) = list.split_at(start);
        let (feasible, visited) = if cyc.more_filters || !cyc.prof.pod.requests.other.is_empty() {
            self.find_feasible(&cyc, [from, before], want)
        } else {
            self.find_feasible_plain(&cyc, [from, before], want)
        };
        let (node, tied) = self.select(&cyc, &feasible);
        (node, visited, tied)
    }

    /// The first `want` nodes of `lists` that pass every filter, and how
    /// many nodes were visited to find them. Flags and resources reject most
    /// of the nodes that fail, unpredictably: each chunk of nodes is first
    /// narrowed to those that pass them without branching on each, and only
    /// those run the other filters, in order.
    fn find_feasible(
        &self,
        cyc: &Cycle<'_>,
        lists: [&[NodeId]; 2],
        want: usize,
    ) -> (Vec<NodeId>, usize) {
        const CHUNK: usize = 64;
        let req = &cyc.prof.pod.requests;
        let flags = cyc.statics.flags.as_slice();
        let free = self.free.as_slice();
        let mut feasible = Vec::with_capacity(want);
        let mut visited = 0;
        let mut passing = [0u8; CHUNK];
        for chunk in lists.into_iter().flat_map(|l| l.chunks(CHUNK)) {
            let mut k = 0;
            for (j, &n) in chunk.iter().enumerate() {
                passing[k] = j as u8;
                k += usize::from(flags_and_resources_pass(flags, free, req, n));
            }
            for &j in &passing[..k] {
                let n = chunk[usize::from(j)];
                if (req.other.is_empty() || self.fits_other(req, n))
                    && (!cyc.more_filters || self.more_pass(cyc, n))
                {
                    feasible.push(n);
                    if feasible.len() >= want {
                        return (feasible, visited + usize::from(j) + 1);
                    }
                }
            }
            visited += chunk.len();
        }
        (feasible, visited)
    }

    /// [`Model::find_feasible`] for a pod whose only filters are the node's
    /// flags, cpu, memory and pod count: most pods, in the hottest loop of a
    /// plan. About a third of the visited nodes pass, unpredictably, so the
    /// loop does not branch on it: every node is written to the next free
    /// place, which moves on only when the node passes.
    fn find_feasible_plain(
        &self,
        cyc: &Cycle<'_>,
        lists: [&[NodeId]; 2],
        want: usize,
    ) -> (Vec<NodeId>, usize) {
        let req = &cyc.prof.pod.requests;
        let flags = cyc.statics.flags.as_slice();
        let free = self.free.as_slice();
        debug_assert!(want > 0, "a cycle over some nodes looks for at least one");
        let mut found = vec![NodeId::from_index(0); want + 1];
        let (mut k, mut visited) = (0, 0);
        'lists: for list in lists {
            for &n in list {
                visited += 1;
                found[k] = n;
                k += usize::from(flags_and_resources_pass(flags, free, req, n));
                if k == want {
                    break 'lists;
                }
            }
        }
        found.truncate(k);
        (found, visited)
    }

    /// The filters beyond flags and resources, as [`Model::check`] runs them.
    fn more_pass(&self, cyc: &Cycle<'_>, n: NodeId) -> bool {
        (cyc.prof.ports.is_empty() || self.ports_free(&cyc.prof.ports, n))
            && cyc.spread.check(n)
            && cyc.affinity.affinity_ok(n)
            && cyc.affinity.anti_ok(n)
            && cyc.affinity.existing_ok(n)
    }

    fn check(&self, cyc: &Cycle<'_>, n: NodeId) -> Result<(), Filter> {
        let flags = cyc.statics.flags(n);
        let fail = |bit: u8, f: Filter| if flags & bit == 0 { Err(f) } else { Ok(()) };
        fail(READY, Filter::NotReady)?;
        fail(SCHEDULABLE, Filter::Unschedulable)?;
        fail(TAINTS, Filter::Taints)?;
        fail(AFFINITY, Filter::NodeAffinity)?;
        if !cyc.prof.ports.is_empty() && !self.ports_free(&cyc.prof.ports, n) {
            return Err(Filter::Ports);
        }
        if !self.fits(&cyc.prof.pod.requests, n) {
            return Err(Filter::Resources);
        }
        if !cyc.spread.check(n) {
            return Err(Filter::TopologySpread);
        }
        if !cyc.affinity.affinity_ok(n) {
            return Err(Filter::InterPodAffinity);
        }
        if !cyc.affinity.anti_ok(n) {
            return Err(Filter::InterPodAntiAffinity);
        }
        if !cyc.affinity.existing_ok(n) {
            return Err(Filter::ExistingAntiAffinity);
        }
        Ok(())
    }

    #[inline]
    fn ports_free(&self, want: &[HostPort], n: NodeId) -> bool {
        let used = &self.ports[n];
        want.iter().all(|w| {
            used.iter()
                .all(|(slot, u)| self.slot_node(*slot).is_none() || !u.conflicts(w))
        })
    }

    /// NodeResourcesFit's filter: room for one more pod, and for every
    /// resource the pod requests.
    #[inline(always)]
    fn fits(&self, req: &Resources, n: NodeId) -> bool {
        self.free[n].fits(req) && self.fits_other(req, n)
    }

    /// NodeResourcesFit for the resources beyond cpu, memory and pods.
    #[inline]
    fn fits_other(&self, req: &Resources, n: NodeId) -> bool {
        let st = &self.nodes[n];
        let alloc = &self.snap.node(n).allocatable;
        req.other
            .iter()
            .all(|(name, want)| *want <= 0 || *want <= alloc.get(name) - st.used.get(name))
    }
}

/// The node's static flags, cpu, memory and pod count admit one more pod
/// requesting `req`: the first test of both node loops, without branches.
#[inline(always)]
fn flags_and_resources_pass(flags: &[u8], free: &[Free], req: &Resources, n: NodeId) -> bool {
    let i = n.index();
    (flags[i] == ALL_STATIC) & free[i].fits(req)
}

/// The node the snapshot has the pod on, as the scheduler counts it: not
/// once it has succeeded or failed.
fn bound_to(p: &crate::snapshot::PodInfo) -> Option<NodeId> {
    p.node.filter(|_| !p.phase.is_terminal())
}

impl Model<'_> {
    /// Undoes [`Model::remove`]: the planner decided not to evict the pod
    /// after all (its replacement would not have helped).
    pub fn restore(&mut self, pod: PodId) {
        // Removed: bound in the snapshot, and no longer in the model.
        if self.live_node(pod).is_some() {
            return;
        }
        let Some(node) = bound_to(self.snap.pod(pod)) else {
            return;
        };
        self.slot_nodes[pod.index()] = node.index() as u32;
        self.account(pod, node, 1);
        self.existing.shift(self.snap, &self.keys, pod, node, 1);
    }

    /// Adds (`sign` 1) or takes off (-1) the pod's requests on the node,
    /// keeping its `Free` in step.
    fn account(&mut self, pod: PodId, node: NodeId, sign: i64) {
        let info = self.snap.pod(pod);
        let req = &info.requests;
        let (cpu, mem) = info.nonzero_requests;
        let st = &mut self.nodes[node];
        if sign > 0 {
            st.used.add(req);
        } else {
            st.used.sub(req);
        }
        st.nz_cpu += sign * cpu;
        st.nz_mem += sign * mem;
        self.free[node] = Free::of(st);
        self.resource_scores.changed(node);
    }
}
