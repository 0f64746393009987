//! The ledger of one run (SPEC §2-3): strategies propose candidates, the
//! ledger decides. It applies eligibility, node fit, the per-node /
//! per-namespace / total limits across strategies, at-most-once eviction and
//! simulated PodDisruptionBudgets, and counts every candidate it does not take.

use super::Rules;
use super::budgets::Budgets;
use super::eligibility::{self, CommonParams, PlacementCheck, SingleReplica, SkipReason};
use super::limits::Counters;
use super::nodefit::{self, FitState};
use super::result::{Eviction, EvictionPlan, NodeFigure, Prediction, StrategyTally};
use crate::placement::Model;
use crate::snapshot::{NodeId, PerNode, PerPod, PodId, Resources, Snapshot};

/// What happened to a candidate offered to the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Evicted,
    Blocked,
    /// Its workload is restarted instead.
    Restarted,
    Skipped(SkipReason),
    /// Already evicted or blocked earlier in this run; not counted again.
    AlreadyHandled,
    /// Outside the strategy's namespaces or labelSelector; not a candidate.
    OutOfScope,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Untouched,
    Evicted,
    Blocked,
}

/// Which (pod, strategy name) proposals a restricted ledger may take.
pub type Only<'a> = dyn Fn(PodId, &str) -> bool + 'a;

pub struct Ledger<'a> {
    pub snap: &'a Snapshot,
    rules: &'a Rules,
    processed: PerNode<bool>,
    fate: PerPod<Fate>,
    usage: PerNode<Resources>,
    counters: Counters,
    budgets: Budgets,
    common: CommonParams,
    /// Ready replicas of each workload planned to go so far, by
    /// [`Snapshot::workload_of`].
    leaving: Vec<u32>,
    /// Workloads already planned for a rollout restart in this run.
    restarting: Vec<bool>,
    /// The counts of the strategy whose turn it is; `None` before the first.
    current: Option<StrategyTally>,
    /// When set, only these (pod, strategy) proposals may be taken: an
    /// approved plan is carried out, never extended.
    only: Option<&'a Only<'a>>,
    /// The scheduler's view: where each planned eviction's replacement goes;
    /// None when the run does not predict (see [`Ledger::blind`]).
    model: Option<Model<'a>>,
    /// Whether the current strategy moves pods to better nodes (placementCheck
    /// Enforce applies) rather than removing pods bad wherever they run.
    moves_pods: bool,
    taint_memo: std::cell::RefCell<TaintMemo>,
    result: EvictionPlan,
}

impl FitState for Ledger<'_> {
    fn usage(&self, node: NodeId) -> &Resources {
        &self.usage[node]
    }

    fn is_gone(&self, pod: PodId) -> bool {
        self.fate[pod] == Fate::Evicted
    }

    fn tolerates_taints(&self, snap: &Snapshot, pod: PodId, node: NodeId) -> bool {
        let set = snap.node(node).taint_set as usize;
        let mut memo = self.taint_memo.borrow_mut();
        if memo.pod != Some(pod) {
            memo.pod = Some(pod);
            memo.known.clear();
            memo.known.resize(snap.taint_sets(), None);
        }
        *memo.known[set].get_or_insert_with(|| nodefit::tolerates_node(snap, pod, node))
    }
}

/// Whether one pod tolerates each taint set: strategies ask [`Ledger::fits`]
/// of one pod on node after node, and nodes mostly share a few sets.
#[derive(Default)]
struct TaintMemo {
    pod: Option<PodId>,
    known: Vec<Option<bool>>,
}

impl<'a> Ledger<'a> {
    pub fn new(snap: &'a Snapshot, rules: &'a Rules) -> Self {
        Self::build(snap, rules, Some(Model::new(snap)))
    }

    fn build(snap: &'a Snapshot, rules: &'a Rules, model: Option<Model<'a>>) -> Self {
        let processed = snap
            .nodes
            .values()
            .map(|n| n.ready && rules.node_selector.matches(&n.labels))
            .collect();
        Self {
            snap,
            rules,
            processed,
            fate: PerPod::filled(snap.pods.len(), Fate::Untouched),
            usage: snap
                .node_ids()
                .map(|n| snap.node_usage(n).clone())
                .collect(),
            counters: Counters::new(snap.nodes.len()),
            budgets: Budgets::new(snap),
            common: CommonParams::default(),
            current: None,
            leaving: vec![0; snap.workload_count()],
            restarting: vec![false; snap.workload_count()],
            only: None,
            model,
            moves_pods: true,
            taint_memo: Default::default(),
            result: EvictionPlan::default(),
        }
    }

    /// From now on, only proposals `only` accepts are taken; the others are
    /// treated as out of scope (not candidates, not counted).
    pub fn restrict(&mut self, only: &'a Only<'a>) {
        self.only = Some(only);
    }

    /// Starts a strategy's turn: its filters apply and its counts begin.
    /// The next strategy's turn. `moves_pods`: it evicts to move pods to a
    /// better node, so a replacement predicted to come back or stay Pending
    /// defeats its purpose.
    pub fn begin(&mut self, strategy: &'static str, common: &CommonParams, moves_pods: bool) {
        self.common = common.clone();
        self.moves_pods = moves_pods;
        let next = StrategyTally {
            name: strategy,
            ..Default::default()
        };
        if let Some(done) = self.current.replace(next) {
            self.result.strategies.push(done);
        }
    }

    /// Marks the whole run as skipped, with the reason.
    pub fn skip_run(&mut self, why: String) {
        self.result.skipped_run = Some(why);
    }

    pub fn finish(mut self) -> EvictionPlan {
        self.result.strategies.extend(self.current.take());
        self.result.usage_placed = match &self.model {
            Some(m) => self.snap.node_ids().map(|n| m.usage(n).clone()).collect(),
            None => self.usage.clone(),
        };
        self.result.usage_after = self.usage;
        self.result
    }

    pub fn common(&self) -> &CommonParams {
        &self.common
    }

    /// Processed nodes: Ready and matching `spec.nodeSelector`, in name order.
    pub fn processed_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.processed.iter().filter(|(_, p)| **p).map(|(n, _)| n)
    }

    pub fn is_processed(&self, node: NodeId) -> bool {
        self.processed[node]
    }

    /// Pods on the node that are still there in this run and not Succeeded or Failed.
    pub fn active_pods_on(&self, node: NodeId) -> impl Iterator<Item = PodId> + '_ {
        self.snap
            .pods_on(node)
            .iter()
            .copied()
            .filter(|&p| self.fate[p] != Fate::Evicted && !self.snap.pod(p).phase.is_terminal())
    }

    pub fn is_evicted(&self, pod: PodId) -> bool {
        self.fate[pod] == Fate::Evicted
    }

    pub fn usage(&self, node: NodeId) -> &Resources {
        &self.usage[node]
    }

    /// Rule 4 for the current strategy.
    pub fn in_scope(&self, pod: PodId) -> bool {
        eligibility::in_scope(self.snap, &self.common, pod)
    }

    /// Rules 1-3, and rule 5 when the strategy has `nodeFit`, without counting anything.
    pub fn evictable(&self, pod: PodId) -> Result<(), SkipReason> {
        eligibility::check(self.snap, &self.rules.eviction, &self.common, pod)
            .map_err(SkipReason::NotEvictable)?;
        if self.common.node_fit && !nodefit::fits_elsewhere(self.snap, self, pod) {
            return Err(SkipReason::NoFit);
        }
        Ok(())
    }

    /// Whether the pod fits the node given the evictions planned so far.
    pub fn fits(&self, pod: PodId, node: NodeId) -> bool {
        nodefit::check(self.snap, self, pod, node).is_ok()
    }

    fn tally(&mut self) -> &mut StrategyTally {
        // A proposal before any `begin` is counted under an unnamed strategy.
        self.current.get_or_insert_with(StrategyTally::default)
    }

    /// The current strategy could not judge this run (metrics missing): it
    /// proposes nothing, and the run reports why.
    pub fn fail(&mut self, why: String) {
        self.tally().error = Some(why);
    }

    /// The measured usage the current strategy classified nodes by.
    pub fn record_usage(&mut self, source: &'static str, figures: Vec<NodeFigure>) {
        let t = self.tally();
        t.source = Some(source);
        t.figures = figures;
    }

    /// Counts a candidate the strategy itself had to pass over.
    pub fn record_skip(&mut self, reason: SkipReason) -> Outcome {
        *self.tally().skipped.entry(reason.to_string()).or_default() += 1;
        Outcome::Skipped(reason)
    }

    /// Offers a candidate. `reason` explains, for people, why the strategy
    /// wants it gone.
    pub fn try_evict(&mut self, pod: PodId, reason: impl Into<String>) -> Outcome {
        if self.fate[pod] != Fate::Untouched {
            return Outcome::AlreadyHandled;
        }
        if !self.in_scope(pod) {
            return Outcome::OutOfScope;
        }
        if let Some(only) = self.only {
            let strategy = self.current.as_ref().map_or("", |t| t.name);
            if !only(pod, strategy) {
                return Outcome::OutOfScope;
            }
        }
        if let Err(r) = self.evictable(pod) {
            return self.record_skip(r);
        }
        let snap = self.snap;
        let p = snap.pod(pod);
        if p.owner
            .as_ref()
            .is_some_and(|o| self.rules.held.contains(o))
        {
            return self.record_skip(SkipReason::Cooldown);
        }
        if self.counters.reached(&self.rules.limits, p) {
            return self.record_skip(SkipReason::LimitReached);
        }
        let strategy = self.tally().name;
        let mut eviction = Eviction {
            pod,
            strategy,
            reason: reason.into(),
            predicted: Prediction::Unknown,
            tied: 0,
        };
        if self.last_ready_replica(pod) {
            match self.rules.eviction.single_replica {
                SingleReplica::Skip => return self.record_skip(SkipReason::SingleReplica),
                SingleReplica::Evict => {}
                SingleReplica::RolloutRestart { gap } => {
                    let workload = snap.workload_of(pod);
                    let last = workload.and_then(|w| snap.last_restart(w));
                    let recent = last
                        .is_some_and(|t| (snap.now - t).to_std().is_ok_and(|since| since < gap));
                    if recent {
                        return self.record_skip(SkipReason::Cooldown);
                    }
                    self.take(pod);
                    if let Some(m) = &mut self.model {
                        m.remove(pod);
                        eviction.predicted = prediction(m.place(pod));
                    }
                    // A restart replaces every pod of the workload: one
                    // entry, one count, however many of its pods are flagged.
                    if let Some(w) = workload
                        && !std::mem::replace(&mut self.restarting[w.index()], true)
                    {
                        self.tally().restarted += 1;
                        self.result.restarts.push(eviction);
                    }
                    return Outcome::Restarted;
                }
            }
        }
        if !self.budgets.allow(snap, pod) {
            self.fate[pod] = Fate::Blocked;
            self.tally().blocked += 1;
            self.result.blocked.push(eviction);
            return Outcome::Blocked;
        }
        let decision = self.model.as_mut().map(|m| {
            m.remove(pod);
            m.decide(pod)
        });
        if let Some(useless) = decision.and_then(|d| useless(p.node, d.node)) {
            match self.rules.eviction.placement_check {
                PlacementCheck::Off => {}
                PlacementCheck::Enforce if self.moves_pods => {
                    if let Some(m) = &mut self.model {
                        m.restore(pod);
                    }
                    return self.record_skip(useless);
                }
                PlacementCheck::Warn | PlacementCheck::Enforce => {
                    *self
                        .tally()
                        .warnings
                        .entry(useless.to_string())
                        .or_default() += 1;
                }
            }
        }
        // The scheduler binds the replacement; later predictions see it there.
        if let (Some(m), Some(d)) = (&mut self.model, decision) {
            eviction.tied = d.tied;
            eviction.predicted = prediction(m.bind(pod, d));
        }
        self.budgets.record(snap, pod);
        self.take(pod);
        self.tally().evicted += 1;
        self.result.evictions.push(eviction);
        Outcome::Evicted
    }

    /// The pod leaves its node in this run: usage, limits, workload replicas.
    fn take(&mut self, pod: PodId) {
        let snap = self.snap;
        let p = snap.pod(pod);
        if let Some(n) = p.node
            && !p.phase.is_terminal()
        {
            self.usage[n].sub(&p.requests);
        }
        self.counters.count(p.node, &p.namespace);
        if let Some(w) = snap.workload_of(pod)
            && p.ready
            && !p.terminating
        {
            self.leaving[w.index()] += 1;
        }
        self.fate[pod] = Fate::Evicted;
    }

    /// A ledger that does not predict where replacements go (every
    /// eviction's prediction is Unknown and placementCheck has nothing to act
    /// on): to measure what prediction costs.
    pub fn blind(snap: &'a Snapshot, rules: &'a Rules) -> Self {
        Self::build(snap, rules, None)
    }

    /// Whether the pod is the last ready replica of its Deployment or
    /// StatefulSet once the run's planned evictions are gone (SPEC §12).
    fn last_ready_replica(&self, pod: PodId) -> bool {
        let p = self.snap.pod(pod);
        let Some(w) = self.snap.workload_of(pod) else {
            return false;
        };
        if !p.ready || p.terminating || p.phase.is_terminal() {
            return false;
        }
        self.snap
            .ready_replicas(w)
            .saturating_sub(self.leaving[w.index()])
            <= 1
    }
}

#[cfg(test)]
#[path = "single_replica_tests.rs"]
mod single_replica_tests;

fn prediction(node: Option<NodeId>) -> Prediction {
    node.map_or(Prediction::Pending, Prediction::Node)
}

/// Why evicting a pod from `from` would not help, if its replacement is
/// predicted to go to `to`.
fn useless(from: Option<NodeId>, to: Option<NodeId>) -> Option<SkipReason> {
    match to {
        None => Some(SkipReason::WouldBePending),
        Some(n) if Some(n) == from => Some(SkipReason::WouldNotMove),
        Some(_) => None,
    }
}

#[cfg(test)]
#[path = "placement_check_tests.rs"]
mod placement_check_tests;
