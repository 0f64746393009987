//! The ledger a run's strategies write to (SPEC §2-3), and what it needs:
//! eligibility, node fit, limits and simulated PodDisruptionBudgets. A leaf:
//! it knows nothing of any strategy; the engine drives it, strategies propose
//! to it, and it decides.

pub mod budgets;
pub mod eligibility;
pub mod ledger;
pub mod limits;
pub mod nodefit;
pub mod result;

pub use eligibility::{
    CommonParams, EvictionRules, NamespaceFilter, NoEvictionPolicy, PlacementCheck, Rule,
    SingleReplica, SkipReason,
};
pub use ledger::{Ledger, Outcome};
pub use limits::Limits;
pub use result::{Eviction, EvictionPlan, NodeClass, NodeFigure, Prediction, StrategyTally};

use crate::selectors::Selector;

/// The policy-wide rules the ledger applies to every strategy's candidates.
#[derive(Clone, Debug)]
pub struct Rules {
    /// Only pods on Ready nodes matching this selector are candidates (SPEC §2).
    pub node_selector: Selector,
    pub eviction: EvictionRules,
    pub limits: Limits,
    /// Workloads (controller owners) earlier runs put on hold (SPEC §11):
    /// their pods are counted Cooldown. Filled from status, not from the spec.
    pub held: std::collections::BTreeSet<crate::snapshot::OwnerRef>,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            node_selector: Selector::everything(),
            eviction: EvictionRules::default(),
            limits: Limits::default(),
            held: Default::default(),
        }
    }
}
