//! What planning a run produces: the evictions in order, the ones a simulated
//! budget blocked, and every strategy's counts.

use std::collections::BTreeMap;

use crate::snapshot::{NodeId, PerNode, PodId, Resources};

/// Where the replacement of an evicted pod is predicted to be bound (SPEC §10).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Prediction {
    /// Not predicted (blocked evictions, restarts).
    #[default]
    Unknown,
    Node(NodeId),
    /// No node passes the scheduler's filters: it would stay Pending.
    Pending,
}

/// One planned (or blocked) eviction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eviction {
    pub pod: PodId,
    pub strategy: &'static str,
    pub reason: String,
    pub predicted: Prediction,
    /// Other nodes the model scored as high as the predicted one (the
    /// scheduler picks one of the best at random).
    pub tied: u32,
}

/// Counts for one strategy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StrategyTally {
    pub name: &'static str,
    pub evicted: u32,
    pub blocked: u32,
    /// Workloads restarted instead of evicting their last ready replica.
    pub restarted: u32,
    pub skipped: BTreeMap<String, u32>,
    /// `placementCheck: Warn` (and Enforce for strategies that remove pods
    /// bad anywhere): evicted although the prediction says `WouldNotMove` /
    /// `WouldBePending`.
    pub warnings: BTreeMap<String, u32>,
    /// Why the strategy did nothing this run although it should have acted
    /// (missing metrics): the run reports it.
    pub error: Option<String>,
    /// Where node usage came from, when not from requests (SPEC §13).
    pub source: Option<&'static str>,
    /// The measured usage the strategy classified nodes by (at most
    /// `MAX_FIGURES` nodes); empty when it used requests.
    pub figures: Vec<NodeFigure>,
}

/// How a utilization strategy classified a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeClass {
    Underutilized,
    Overutilized,
    /// Neither under nor over.
    Appropriate,
}

impl NodeClass {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeClass::Underutilized => "Underutilized",
            NodeClass::Overutilized => "Overutilized",
            NodeClass::Appropriate => "Appropriate",
        }
    }
}

/// The measured usage of one node, as a strategy used it.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeFigure {
    pub node: NodeId,
    pub class: NodeClass,
    /// KubernetesMetrics: millicores and bytes, smoothed.
    pub cpu: Option<i64>,
    pub memory: Option<i64>,
    /// Percent of allocatable per threshold resource (MetricResource for Prometheus).
    pub percent: BTreeMap<String, f64>,
}

// Percentages come from finite measurements (never NaN), so equality is total.
impl Eq for NodeFigure {}

/// The result of planning one run.
#[derive(Clone, Debug, Default)]
pub struct EvictionPlan {
    pub evictions: Vec<Eviction>,
    pub blocked: Vec<Eviction>,
    /// `singleReplicaStrategy: RolloutRestart`: the workloads of these pods
    /// are restarted instead of the pods being evicted, one entry per workload.
    pub restarts: Vec<Eviction>,
    pub strategies: Vec<StrategyTally>,
    /// Set when the run did nothing at all, with the reason.
    pub skipped_run: Option<String>,
    /// Node usage after the planned evictions, without their replacements.
    pub usage_after: PerNode<Resources>,
    /// Node usage after the planned evictions with their replacements
    /// placed where they are predicted to go.
    pub usage_placed: PerNode<Resources>,
}
