//! The run's bookkeeping (SPEC §2-3): strategies propose candidates, the plan
//! decides. It applies eligibility, node fit, the per-node / per-namespace /
//! total limits across strategies, at-most-once eviction and simulated
//! PodDisruptionBudgets, and counts every candidate it does not take.

use std::collections::{BTreeMap, HashMap};

use crate::eligibility::{self, SkipReason};
use crate::nodefit::{self, FitState};
use crate::policy::{CommonParams, Policy, StrategyConfig};
use crate::snapshot::{NodeId, PodId, Resources, Snapshot};
use crate::strategies;

/// One planned (or blocked) eviction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eviction {
    pub pod: PodId,
    pub strategy: &'static str,
    pub reason: String,
}

/// Counts for one strategy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StrategyTally {
    pub name: &'static str,
    pub evicted: u32,
    pub blocked: u32,
    pub skipped: BTreeMap<String, u32>,
}

/// What happened to a candidate offered to the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Evicted,
    Blocked,
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

/// The result of planning one run.
#[derive(Clone, Debug, Default)]
pub struct PlanResult {
    pub evictions: Vec<Eviction>,
    pub blocked: Vec<Eviction>,
    pub strategies: Vec<StrategyTally>,
    /// Set when the run did nothing at all, with the reason.
    pub skipped_run: Option<String>,
    /// Node usage after the planned evictions, indexed like `Snapshot::nodes`.
    pub usage_after: Vec<Resources>,
}

pub struct Plan<'a> {
    pub snap: &'a Snapshot,
    pub policy: &'a Policy,
    processed: Vec<bool>,
    fate: Vec<Fate>,
    usage: Vec<Resources>,
    per_node: Vec<u32>,
    per_namespace: HashMap<String, u32>,
    total: u32,
    pdb_planned: Vec<i64>,
    common: CommonParams,
    result: PlanResult,
}

impl FitState for Plan<'_> {
    fn usage(&self, node: NodeId) -> &Resources {
        &self.usage[node]
    }

    fn is_gone(&self, pod: PodId) -> bool {
        self.fate[pod] == Fate::Evicted
    }
}

/// Plans a whole run: every enabled strategy in order against one snapshot.
pub fn plan(snap: &Snapshot, policy: &Policy) -> PlanResult {
    plan_observed(snap, policy, &mut |_, run| run())
}

/// Like [`plan`], letting the caller wrap each strategy (the operator times
/// them) without this module reading the clock.
pub fn plan_observed(
    snap: &Snapshot,
    policy: &Policy,
    observe: &mut dyn FnMut(&'static str, &mut dyn FnMut()),
) -> PlanResult {
    let mut plan = Plan::new(snap, policy);
    let ready = snap.nodes.iter().filter(|n| n.ready).count();
    if ready < 2 {
        plan.result.skipped_run = Some(format!("{ready} Ready node(s); at least 2 are needed"));
        return plan.finish();
    }
    for cfg in &policy.strategies {
        observe(cfg.name(), &mut || plan.run_strategy(cfg));
    }
    plan.finish()
}

impl<'a> Plan<'a> {
    pub fn new(snap: &'a Snapshot, policy: &'a Policy) -> Self {
        let processed = snap
            .nodes
            .iter()
            .map(|n| n.ready && policy.node_selector.matches(&n.labels))
            .collect();
        Self {
            snap,
            policy,
            processed,
            fate: vec![Fate::Untouched; snap.pods.len()],
            usage: (0..snap.nodes.len())
                .map(|n| snap.node_usage(n).clone())
                .collect(),
            per_node: vec![0; snap.nodes.len()],
            per_namespace: HashMap::new(),
            total: 0,
            pdb_planned: vec![0; snap.pdbs.len()],
            common: CommonParams::default(),
            result: PlanResult::default(),
        }
    }

    pub fn run_strategy(&mut self, cfg: &StrategyConfig) {
        self.common = cfg.common.clone();
        self.result.strategies.push(StrategyTally {
            name: cfg.name(),
            ..Default::default()
        });
        strategies::run(&cfg.params, self);
    }

    pub fn finish(mut self) -> PlanResult {
        self.result.usage_after = self.usage;
        self.result
    }

    pub fn common(&self) -> &CommonParams {
        &self.common
    }

    /// Processed nodes: Ready and matching `spec.nodeSelector`, in name order.
    pub fn processed_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.snap.nodes.len()).filter(|&n| self.processed[n])
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
        eligibility::check(self.snap, &self.policy.eviction, &self.common, pod)
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

    fn limit_reached(&self, pod: PodId) -> bool {
        let limits = &self.policy.limits;
        let p = self.snap.pod(pod);
        let node_full = match (limits.per_node, p.node) {
            (Some(max), Some(n)) => self.per_node[n] >= max,
            _ => false,
        };
        let ns_full = limits
            .per_namespace
            .is_some_and(|max| self.per_namespace.get(&p.namespace).copied().unwrap_or(0) >= max);
        let total_full = limits.total.is_some_and(|max| self.total >= max);
        node_full || ns_full || total_full
    }

    fn pdb_allows(&self, pod: PodId) -> bool {
        let healthy = {
            let p = self.snap.pod(pod);
            p.ready && !p.terminating
        };
        let pdbs = self.snap.pdbs_of(pod);
        // The Eviction API refuses pods selected by more than one budget.
        if pdbs.len() > 1 {
            return false;
        }
        pdbs.iter()
            .all(|&i| self.snap.pdbs[i].allows(healthy, self.pdb_planned[i]))
    }

    fn tally(&mut self) -> &mut StrategyTally {
        self.result
            .strategies
            .last_mut()
            .expect("run_strategy pushes a tally first")
    }

    /// Counts a candidate the strategy itself had to pass over.
    pub fn record_skip(&mut self, reason: SkipReason) -> Outcome {
        *self.tally().skipped.entry(reason.to_string()).or_default() += 1;
        Outcome::Skipped(reason)
    }

    /// Offers a candidate to the plan. `reason` explains, for people, why the
    /// strategy wants it gone.
    pub fn try_evict(&mut self, pod: PodId, reason: impl Into<String>) -> Outcome {
        if self.fate[pod] != Fate::Untouched {
            return Outcome::AlreadyHandled;
        }
        if !self.in_scope(pod) {
            return Outcome::OutOfScope;
        }
        if let Err(r) = self.evictable(pod) {
            return self.record_skip(r);
        }
        if self.limit_reached(pod) {
            return self.record_skip(SkipReason::LimitReached);
        }
        let strategy = self.tally().name;
        let eviction = Eviction {
            pod,
            strategy,
            reason: reason.into(),
        };
        if !self.pdb_allows(pod) {
            self.fate[pod] = Fate::Blocked;
            self.tally().blocked += 1;
            self.result.blocked.push(eviction);
            return Outcome::Blocked;
        }
        let p = self.snap.pod(pod);
        if p.ready && !p.terminating {
            for &i in self.snap.pdbs_of(pod) {
                self.pdb_planned[i] += 1;
            }
        }
        if let Some(n) = p.node {
            self.per_node[n] += 1;
            if !p.phase.is_terminal() {
                self.usage[n].sub(&p.requests);
            }
        }
        *self.per_namespace.entry(p.namespace.clone()).or_default() += 1;
        self.total += 1;
        self.fate[pod] = Fate::Evicted;
        self.tally().evicted += 1;
        self.result.evictions.push(eviction);
        Outcome::Evicted
    }
}
