//! A validated policy with every default applied and every string parsed: what
//! the planner and the strategies read. Built only by `api::validate`.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::api::{NoEvictionPolicy, PodState};
use crate::selectors::Selector;

/// The value of the `system-cluster-critical` PriorityClass: the default threshold.
pub const SYSTEM_CRITICAL_PRIORITY: i32 = 2_000_000_000;

#[derive(Clone, Debug)]
pub struct Policy {
    pub interval: Duration,
    pub dry_run: bool,
    pub suspend: bool,
    pub node_selector: Selector,
    pub eviction: EvictionRules,
    pub limits: Limits,
    pub grace_period_seconds: Option<i64>,
    /// Enabled strategies in run order.
    pub strategies: Vec<StrategyConfig>,
}

/// The pod-level rules of SPEC §3 (rules 1-3) that do not depend on the strategy.
#[derive(Clone, Debug, Default)]
pub struct EvictionRules {
    pub evict_local_storage_pods: bool,
    pub evict_system_critical_pods: bool,
    pub evict_daemon_set_pods: bool,
    pub ignore_pvc_pods: bool,
    pub evict_failed_bare_pods: bool,
    pub min_replicas: u32,
    pub min_pod_age: Option<Duration>,
    pub ignore_pods_without_pdb: bool,
    pub namespace_selector: Option<Selector>,
    pub no_eviction_policy: NoEvictionPolicy,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub per_node: Option<u32>,
    pub per_namespace: Option<u32>,
    pub total: Option<u32>,
}

/// The strategy's own filters (SPEC §3 rules 3-5).
#[derive(Clone, Debug)]
pub struct CommonParams {
    pub namespaces: NamespaceFilter,
    pub priority_threshold: i32,
    pub label_selector: Option<Selector>,
    pub node_fit: bool,
}

impl Default for CommonParams {
    fn default() -> Self {
        Self {
            namespaces: NamespaceFilter::All,
            priority_threshold: SYSTEM_CRITICAL_PRIORITY,
            label_selector: None,
            node_fit: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamespaceFilter {
    All,
    Include(Vec<String>),
    Exclude(Vec<String>),
}

impl NamespaceFilter {
    pub fn allows(&self, ns: &str) -> bool {
        match self {
            NamespaceFilter::All => true,
            NamespaceFilter::Include(list) => list.iter().any(|n| n == ns),
            NamespaceFilter::Exclude(list) => list.iter().all(|n| n != ns),
        }
    }
}

#[derive(Clone, Debug)]
pub struct StrategyConfig {
    pub common: CommonParams,
    pub params: StrategyParams,
}

impl StrategyConfig {
    pub fn name(&self) -> &'static str {
        self.params.name()
    }
}

/// Percentages per resource name.
pub type Thresholds = BTreeMap<String, f64>;

#[derive(Clone, Debug)]
pub enum StrategyParams {
    RemoveFailedPods {
        reasons: Vec<String>,
        including_init_containers: bool,
        exclude_owner_kinds: Vec<String>,
        min_pod_lifetime_seconds: Option<i64>,
    },
    PodLifeTime {
        max_pod_life_time_seconds: i64,
        states: Vec<PodState>,
    },
    TooManyRestarts {
        threshold: i32,
        including_init_containers: bool,
    },
    NodeTaints {
        excluded_taints: Vec<TaintMatcher>,
        included_taints: Option<Vec<TaintMatcher>>,
        include_prefer_no_schedule: bool,
    },
    NodeAffinity {
        required: bool,
        preferred: bool,
    },
    InterPodAntiAffinity,
    RemoveDuplicates {
        exclude_owner_kinds: Vec<String>,
    },
    TopologySpread {
        include_soft_constraints: bool,
        topology_balance_node_fit: bool,
    },
    LowNodeUtilization {
        thresholds: Thresholds,
        target_thresholds: Thresholds,
        number_of_nodes: u32,
        use_deviation_thresholds: bool,
    },
    HighNodeUtilization {
        thresholds: Thresholds,
        number_of_nodes: u32,
    },
}

impl StrategyParams {
    pub fn name(&self) -> &'static str {
        match self {
            StrategyParams::RemoveFailedPods { .. } => "RemoveFailedPods",
            StrategyParams::PodLifeTime { .. } => "PodLifeTime",
            StrategyParams::TooManyRestarts { .. } => "RemovePodsHavingTooManyRestarts",
            StrategyParams::NodeTaints { .. } => "RemovePodsViolatingNodeTaints",
            StrategyParams::NodeAffinity { .. } => "RemovePodsViolatingNodeAffinity",
            StrategyParams::InterPodAntiAffinity => "RemovePodsViolatingInterPodAntiAffinity",
            StrategyParams::RemoveDuplicates { .. } => "RemoveDuplicates",
            StrategyParams::TopologySpread { .. } => "RemovePodsViolatingTopologySpreadConstraint",
            StrategyParams::LowNodeUtilization { .. } => "LowNodeUtilization",
            StrategyParams::HighNodeUtilization { .. } => "HighNodeUtilization",
        }
    }
}

/// `key` or `key=value`, as in excludedTaints / includedTaints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaintMatcher {
    pub key: String,
    pub value: Option<String>,
}

impl TaintMatcher {
    pub fn parse(s: &str) -> Self {
        match s.split_once('=') {
            Some((k, v)) => Self {
                key: k.to_string(),
                value: Some(v.to_string()),
            },
            None => Self {
                key: s.to_string(),
                value: None,
            },
        }
    }

    pub fn matches(&self, taint: &k8s_openapi::api::core::v1::Taint) -> bool {
        self.key == taint.key
            && self
                .value
                .as_deref()
                .is_none_or(|v| taint.value.as_deref().unwrap_or("") == v)
    }
}
