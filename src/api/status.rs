//! What the operator writes back after each run.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Observed state of a DeschedulerPolicy, written by the operator only.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeschedulerPolicyStatus {
    /// The spec generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Valid (the spec passed validation) and Ready (the last run completed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The most recent run, written at its start and again at its completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<LastRun>,
    /// Pods evicted by this policy since it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_evicted: Option<i64>,
    /// When the next run is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run_time: Option<Time>,
    /// The last value of the descheduler.dev/run-now annotation that was acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handled_run_now: Option<String>,
    /// approval: Manual: the plan of the last run, waiting for descheduler.dev/approve=<id>.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_plan: Option<PendingPlan>,
    /// The last approved plan that was carried out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_approved: Option<LastApproved>,
    /// The last value of the descheduler.dev/approve annotation that was acted on (carried out or refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handled_approval: Option<String>,
    /// Workloads this policy leaves alone for a while: after an eviction (spec.cooldown), or
    /// backed off because a replacement came back to the node its predecessor left (at most 100,
    /// the longest-lasting kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backoff: Vec<Backoff>,
}

/// A plan waiting for approval.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PendingPlan {
    /// A hash of the plan's contents; approve with descheduler.dev/approve=<id>.
    pub id: String,
    pub created_at: Option<Time>,
    /// After this, the plan can no longer be approved (createdAt + interval).
    pub expires_at: Option<Time>,
    /// Every eviction of the plan (up to 1000), in the order they would be carried out.
    #[serde(default)]
    pub evictions: Vec<PlannedEviction>,
    /// Planned evictions beyond the first 1000: not part of the approvable plan.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Where a run's replacements went.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PlacementCounts {
    /// Evictions with a predicted destination (a node, or Pending).
    #[serde(default)]
    pub predicted: i64,
    /// Replacements bound to the predicted node.
    #[serde(default)]
    pub landed_as_predicted: i64,
    /// Replacements bound to another node than predicted (and not the source).
    #[serde(default)]
    pub landed_elsewhere: i64,
    /// Replacements bound to the node their predecessor was evicted from.
    #[serde(default)]
    pub landed_on_source: i64,
    /// Replacements not bound (or not seen) when the wait ended.
    #[serde(default)]
    pub pending: i64,
}

/// A workload this policy does not evict from until `until`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    /// namespace/Kind/name of the controller owner.
    pub owner: String,
    pub until: Option<Time>,
    /// Cooldown (spec.cooldown after an eviction) or ReturnedToSource (a replacement landed back
    /// on the node its predecessor was evicted from).
    pub reason: String,
    /// How many times in a row it was backed off (the hold doubles each time).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub strikes: i64,
}

/// What carrying out an approved plan did.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LastApproved {
    pub id: String,
    pub approved_at: Option<Time>,
    /// Pods of the plan that were evicted.
    #[serde(default)]
    pub evicted: i64,
    /// Pods of the plan that were gone, had moved, or were no longer candidates: not evicted,
    /// and never replaced by other pods.
    #[serde(default)]
    pub stale: i64,
    /// Pods a PodDisruptionBudget protected.
    #[serde(default)]
    pub blocked: i64,
    #[serde(default)]
    pub failed: i64,
    /// namespace/name of the stale pods (up to 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stale_pods: Vec<String>,
    /// Where the replacements of the evicted pods went, as the operator saw
    /// them bound (within a bounded wait after the evictions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementCounts>,
}

/// Evict or DryRun.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    Evict,
    DryRun,
}

impl RunMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Evict => "Evict",
            RunMode::DryRun => "DryRun",
        }
    }
}

/// How a run ended.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunResult {
    /// In progress: the run started and has not completed.
    Running,
    /// Every planned eviction was carried out (or blocked by a PodDisruptionBudget).
    Succeeded,
    /// Some evictions failed.
    Partial,
    /// The run could not be carried out.
    Failed,
    /// Nothing was evaluated (for example fewer than two Ready nodes).
    Skipped,
}

impl RunResult {
    pub fn as_str(self) -> &'static str {
        match self {
            RunResult::Running => "Running",
            RunResult::Succeeded => "Succeeded",
            RunResult::Partial => "Partial",
            RunResult::Failed => "Failed",
            RunResult::Skipped => "Skipped",
        }
    }
}

/// The outcome of one run.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LastRun {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<RunMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<RunResult>,
    /// Why the run was skipped or failed, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The value of the descheduler.dev/run-now annotation that triggered this run, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// The spec generation the run used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    #[serde(default)]
    pub evicted: i64,
    #[serde(default)]
    pub would_evict: i64,
    #[serde(default)]
    pub blocked: i64,
    #[serde(default)]
    pub failed: i64,
    /// One entry per enabled strategy, in run order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub strategies: Vec<StrategyCounts>,
    /// Workloads restarted instead of evicting their last ready replica.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restarted: i64,
    /// Where the replacements of this run's evictions went, compared with the prediction
    /// (written shortly after the run, once they are bound or a bounded wait is over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementCounts>,
    /// Every strategy's placement warnings, summed by reason.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub warnings: BTreeMap<String, i64>,
    /// Dry run only: up to 100 planned evictions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlannedEviction>,
}

/// Counts for one strategy in one run.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StrategyCounts {
    pub name: String,
    #[serde(default)]
    pub evicted: i64,
    #[serde(default)]
    pub would_evict: i64,
    #[serde(default)]
    pub blocked: i64,
    #[serde(default)]
    pub failed: i64,
    /// Workloads restarted (singleReplicaStrategy: RolloutRestart) instead of evicting their last ready replica.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restarted: i64,
    /// Dry run: workloads that would be restarted.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub would_restart: i64,
    /// Candidates not evicted, by reason (NotEvictable:<rule>, NoFit, LimitReached, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped: BTreeMap<String, i64>,
    /// Evicted although their replacement is predicted to come back (WouldNotMove) or stay
    /// Pending (WouldBePending): placementCheck Warn.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub warnings: BTreeMap<String, i64>,
    /// Why the strategy did nothing this run although enabled (for example: no metrics for a
    /// node). It evicted nothing; the next run tries again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where node usage came from when not from requests: KubernetesMetrics or Prometheus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_source: Option<String>,
    /// The measured usage the strategy classified each node by (up to 100 nodes), to compare
    /// with kubectl top nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_usage: Vec<NodeUsage>,
}

/// The measured usage of one node, as a utilization strategy used it.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeUsage {
    pub node: String,
    /// Underutilized, Overutilized or Appropriate.
    pub class: String,
    /// KubernetesMetrics: cpu usage (smoothed), in kubectl top's units (millicores, "1500m").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// KubernetesMetrics: memory usage (smoothed), in kubectl top's units (mebibytes, "512Mi").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Percent of allocatable (MetricResource: the Prometheus value x 100) per thresholds
    /// resource, rounded to 0.1.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub percent: BTreeMap<String, f64>,
}

/// A pod the run would evict (dry run).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PlannedEviction {
    /// namespace/name
    pub pod: String,
    pub node: String,
    pub strategy: String,
    pub reason: String,
    /// Where the replacement is predicted to land; absent when not predicted, empty when it would stay Pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_node: Option<String>,
}
