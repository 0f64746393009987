//! The strategies, one file each, and [`registry`]: the one list of them, in
//! run order. A strategy parses its own params from the spec (with field
//! paths), reads the snapshot through the [`Ledger`] and proposes candidates
//! with [`Ledger::try_evict`]; the ledger decides. Strategies never call the
//! API, read the clock or import the engine.

mod high_node_utilization;
mod inter_pod_anti_affinity;
mod label_index;
mod low_node_utilization;
mod node_affinity;
mod node_taints;
mod pod_life_time;
pub mod registry;
mod remove_duplicates;
mod remove_failed_pods;
mod too_many_restarts;
mod topology_spread;
mod utilization;

use std::fmt;

use crate::api;
use crate::plan::Ledger;
use crate::snapshot::{PodId, UsageSource};
use crate::validation::Errors;

pub use registry::{REGISTRY, StrategyConfig};

/// One strategy: its name, its params (the implementing type), how they are
/// read from the spec, and how it proposes evictions.
pub trait Strategy: fmt::Debug + Send + Sync + Sized + 'static {
    /// Its key under `spec.strategies`, exactly as the CRD spells it.
    const NAME: &'static str;
    /// Whether it evicts to move pods to better nodes (so a replacement
    /// predicted to come back, or stay Pending, defeats it: placementCheck
    /// Enforce applies) rather than to remove pods bad wherever they run.
    const MOVES_PODS: bool = true;
    /// Its params as the spec carries them.
    type Spec: api::HasCommonParams + Default;

    /// Its entry in `spec.strategies`.
    fn spec(all: &api::Strategies) -> Option<&api::Strategy<Self::Spec>>;

    /// Checks its own params; every problem goes to `errs` with a field path
    /// under `at` (`spec.strategies.<NAME>.params`).
    fn parse(spec: &Self::Spec, at: &str, errs: &mut Errors) -> Option<Self>;

    /// Proposes its candidates to the ledger.
    fn run(&self, ledger: &mut Ledger<'_>);

    /// Where it reads node usage from (SPEC §13): what has to be collected
    /// before a run.
    fn usage_source(&self) -> UsageSource {
        UsageSource::Requests
    }
}

/// A configured strategy, whatever its params: what the engine runs.
pub trait Planner: fmt::Debug + Send + Sync {
    fn name(&self) -> &'static str;
    fn moves_pods(&self) -> bool;
    fn run(&self, ledger: &mut Ledger<'_>);
    fn usage_source(&self) -> UsageSource;
}

impl<S: Strategy> Planner for S {
    fn name(&self) -> &'static str {
        S::NAME
    }

    fn moves_pods(&self) -> bool {
        S::MOVES_PODS
    }

    fn run(&self, ledger: &mut Ledger<'_>) {
        Strategy::run(self, ledger);
    }

    fn usage_source(&self) -> UsageSource {
        Strategy::usage_source(self)
    }
}

/// In-scope pods on processed nodes that are not Succeeded or Failed, node by
/// node, with prefer-no-eviction pods moved last.
fn scoped_active_pods(ledger: &Ledger<'_>) -> Vec<PodId> {
    let mut pods: Vec<_> = ledger
        .processed_nodes()
        .flat_map(|n| ledger.active_pods_on(n))
        .filter(|&p| ledger.in_scope(p))
        .collect();
    preferred_last(ledger, &mut pods);
    pods
}

/// SPEC §3: with `noEvictionPolicy: Preferred`, pods annotated
/// prefer-no-eviction are "only taken after all others". The strategies that
/// judge pods one by one honour that by offering them last (it matters once a
/// limit is reached); the others order by `eligibility::eviction_order`.
fn preferred_last(ledger: &Ledger<'_>, pods: &mut [PodId]) {
    pods.sort_by_key(|&p| ledger.snap.pod(p).prefer_no_eviction);
}
