//! The `DeschedulerPolicy` spec: field names follow the upstream descheduler's
//! v1alpha1 policy so an existing `strategies:` block can be pasted under `spec:`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::status::DeschedulerPolicyStatus;

/// A descheduling policy: which strategies to run, how often, and which pods
/// may be evicted. Cluster-scoped; each policy runs on its own interval.
// kube's printcolumn(...) repeats `type_`, which this lint mistakes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "descheduler.dev",
    version = "v1alpha1",
    kind = "DeschedulerPolicy",
    plural = "deschedulerpolicies",
    shortname = "dsp",
    category = "descheduler",
    doc = "A DeschedulerPolicy tells the descheduler which badly placed pods to evict, how often, and within which limits. See spec for the policy and status for what the last run did.",
    status = "DeschedulerPolicyStatus",
    printcolumn(
        name = "Mode",
        type_ = "string",
        json_path = ".status.lastRun.mode",
        description = "Evict or DryRun, as of the last run"
    ),
    printcolumn(name = "Interval", type_ = "string", json_path = ".spec.interval"),
    printcolumn(
        name = "Pending Plan",
        type_ = "string",
        json_path = ".status.pendingPlan.id",
        description = "The plan awaiting approval (approval: Manual); approve it with kubectl annotate dsp NAME descheduler.dev/approve=ID"
    ),
    printcolumn(
        name = "Last Run",
        type_ = "date",
        json_path = ".status.lastRun.completionTime",
        description = "When the last run completed"
    ),
    printcolumn(
        name = "Result",
        type_ = "string",
        json_path = ".status.lastRun.result",
        priority = 1
    ),
    printcolumn(
        name = "Evicted",
        type_ = "integer",
        json_path = ".status.lastRun.evicted",
        description = "Pods evicted by the last run"
    ),
    printcolumn(
        name = "Total",
        type_ = "integer",
        json_path = ".status.totalEvicted",
        description = "Pods evicted since the policy was created"
    ),
    printcolumn(
        name = "Valid",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Valid\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct DeschedulerPolicySpec {
    /// How often the policy runs, as a duration ("30s", "5m", "1h30m"). Default 15m; minimum 10s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('10s')").message("must be a duration of at least 10s, such as 30s, 5m or 1h30m"))]
    pub interval: Option<String>,

    /// When true, the policy decides and reports (status.lastRun.plan) but evicts nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,

    /// When true, the policy does not run until set back to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,

    /// A label selector string ("role=worker,zone!=a"); only pods on matching nodes are
    /// considered for eviction. Every Ready, schedulable node remains a destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<String>,

    /// Evict pods that use local storage (emptyDir or hostPath volumes). Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evict_local_storage_pods: Option<bool>,

    /// Evict system-critical pods too; this also disables priority filtering entirely. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evict_system_critical_pods: Option<bool>,

    /// Evict pods owned by a DaemonSet. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evict_daemon_set_pods: Option<bool>,

    /// Never evict pods that mount a PersistentVolumeClaim. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_pvc_pods: Option<bool>,

    /// Evict Failed pods that have no controller owner. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evict_failed_bare_pods: Option<bool>,

    /// At most this many evictions per node per run. Absent: no limit; 0: evict nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_no_of_pods_to_evict_per_node: Option<i32>,

    /// At most this many evictions per namespace per run. Absent: no limit; 0: evict nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_no_of_pods_to_evict_per_namespace: Option<i32>,

    /// At most this many evictions per run. Absent: no limit; 0: evict nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_no_of_pods_to_evict_total: Option<i32>,

    /// Grace period passed to the Eviction API. Absent: the pod's own terminationGracePeriodSeconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub grace_period_seconds: Option<i64>,

    /// Do not evict a pod whose controller owner has fewer than this many pods. Absent or 1: no check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_replicas: Option<i32>,

    /// Do not evict pods younger than this duration (age from status.startTime). Absent: no check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$')").message("must be a duration such as 30s, 10m or 1h"))]
    pub min_pod_age: Option<String>,

    /// When true, only pods selected by a PodDisruptionBudget are evicted. Default false.
    #[serde(
        rename = "ignorePodsWithoutPDB",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ignore_pods_without_pdb: Option<bool>,

    /// Only pods in namespaces whose labels match this selector are evicted. Absent: all namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_label_selector: Option<LabelSelector>,

    /// What to do with pods annotated descheduler.alpha.kubernetes.io/prefer-no-eviction:
    /// Preferred (default) takes them only after all others; Mandatory never evicts them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_eviction_policy: Option<NoEvictionPolicy>,

    /// Automatic (default) evicts on every run. Manual makes every run a dry run that publishes
    /// status.pendingPlan; annotating the policy descheduler.dev/approve=<pendingPlan.id> carries out
    /// exactly that plan, after checking each pod again against the cluster as it is then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,

    /// The last ready replica of a Deployment or StatefulSet (replicas: 1, or every replica on
    /// nodes this run drains): Skip (default) leaves it; Evict evicts it anyway (an outage until
    /// the replacement is ready); RolloutRestart restarts the workload instead, as
    /// `kubectl rollout restart` does, so a new pod starts before the old one goes (at most once
    /// per max(cooldown, interval); a Deployment with maxSurge 0 or the Recreate strategy is skipped).
    /// RolloutRestart needs `patch` on deployments and statefulsets (chart value
    /// rbac.rolloutRestart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_replica_strategy: Option<SingleReplicaStrategy>,

    /// After this policy evicts a pod of a workload (its controller owner), it does not evict from
    /// that workload again until this has passed (its pods are counted Cooldown); `0s` (default)
    /// is off. Remembered in status.backoff, so it survives operator restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<String>,

    /// What the planner does with the predicted destination of each replacement (kube-scheduler's
    /// default profile, modelled): Warn (default) evicts as planned and counts WouldNotMove /
    /// WouldBePending warnings; Enforce does not evict a pod whose replacement would be bound to
    /// the node it leaves, or stay Pending (counted under those reasons; RemoveFailedPods,
    /// PodLifeTime and RemovePodsHavingTooManyRestarts only warn); Off ignores the prediction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement_check: Option<PlacementCheck>,

    /// The strategies to run. A strategy listed here is enabled unless `enabled: false`.
    #[serde(default)]
    pub strategies: Strategies,
}

/// What the planner does with the placement prediction.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlacementCheck {
    /// Ignore it (simulate still prints it).
    Off,
    /// Evict as planned; count a warning when the replacement would come back or stay Pending.
    #[default]
    Warn,
    /// Do not evict a pod whose replacement would come back or stay Pending.
    Enforce,
}

/// What to do with the last ready replica of a Deployment or StatefulSet.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SingleReplicaStrategy {
    /// Leave it; counted SingleReplica.
    #[default]
    Skip,
    /// Evict it anyway.
    Evict,
    /// Restart the workload instead (make-before-break with the workload's own surge).
    RolloutRestart,
}

/// Whether a run's evictions need approval.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Approval {
    /// Every run evicts what it plans.
    #[default]
    Automatic,
    /// Every run publishes a plan; only an approved plan is carried out.
    Manual,
}

/// Handling of pods annotated `descheduler.alpha.kubernetes.io/prefer-no-eviction`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NoEvictionPolicy {
    /// Such pods are evicted only after every other candidate.
    #[default]
    Preferred,
    /// Such pods are never evicted.
    Mandatory,
}

/// One entry per strategy, keyed by its exact name. Strategies run in a fixed order:
/// RemoveFailedPods, PodLifeTime, RemovePodsHavingTooManyRestarts, RemovePodsViolatingNodeTaints,
/// RemovePodsViolatingNodeAffinity, RemovePodsViolatingInterPodAntiAffinity, then RemoveDuplicates,
/// RemovePodsViolatingTopologySpreadConstraint, LowNodeUtilization, HighNodeUtilization.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Strategies {
    /// Evicts Failed pods (optionally only for given reasons and owner kinds).
    #[serde(
        rename = "RemoveFailedPods",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub remove_failed_pods: Option<Strategy<RemoveFailedPodsParams>>,
    /// Evicts pods older than a maximum lifetime (optionally only in given states).
    #[serde(
        rename = "PodLifeTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub pod_life_time: Option<Strategy<PodLifeTimeParams>>,
    /// Evicts pods whose containers restarted too often.
    #[serde(
        rename = "RemovePodsHavingTooManyRestarts",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub remove_pods_having_too_many_restarts: Option<Strategy<TooManyRestartsParams>>,
    /// Evicts pods from nodes whose NoSchedule taints they do not tolerate.
    #[serde(
        rename = "RemovePodsViolatingNodeTaints",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub remove_pods_violating_node_taints: Option<Strategy<NodeTaintsParams>>,
    /// Evicts pods whose node no longer satisfies their node affinity, when another node does.
    #[serde(
        rename = "RemovePodsViolatingNodeAffinity",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub remove_pods_violating_node_affinity: Option<Strategy<NodeAffinityParams>>,
    /// Evicts pods whose required inter-pod anti-affinity is violated.
    #[serde(
        rename = "RemovePodsViolatingInterPodAntiAffinity",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub remove_pods_violating_inter_pod_anti_affinity: Option<Strategy<InterPodAntiAffinityParams>>,
    /// Spreads pods of one owner that pile up on one node.
    #[serde(
        rename = "RemoveDuplicates",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub remove_duplicates: Option<Strategy<RemoveDuplicatesParams>>,
    /// Evicts the fewest pods needed to bring topology spread constraints back within maxSkew.
    #[serde(
        rename = "RemovePodsViolatingTopologySpreadConstraint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub remove_pods_violating_topology_spread_constraint: Option<Strategy<TopologySpreadParams>>,
    /// Moves pods from overutilized nodes so they land on underutilized ones.
    #[serde(
        rename = "LowNodeUtilization",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub low_node_utilization: Option<Strategy<LowNodeUtilizationParams>>,
    /// Empties underutilized nodes so pods pack onto the others.
    #[serde(
        rename = "HighNodeUtilization",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub high_node_utilization: Option<Strategy<HighNodeUtilizationParams>>,
}

/// A strategy's switch and parameters.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Strategy<P> {
    /// Set to false to keep the entry but not run it. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The strategy's parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<P>,
}

/// Namespaces a strategy considers: `include` or `exclude`, never both.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new("!(has(self.include) && has(self.exclude))").message("include and exclude are mutually exclusive"))]
pub struct Namespaces {
    /// Only pods in these namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<String>>,
    /// Pods in every namespace except these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<Vec<String>>,
}

/// The params every strategy takes, read uniformly by the planner.
#[derive(Clone, Copy, Debug, Default)]
pub struct CommonParamsRef<'a> {
    pub namespaces: Option<&'a Namespaces>,
    pub threshold_priority: Option<i32>,
    pub threshold_priority_class_name: Option<&'a str>,
    pub label_selector: Option<&'a LabelSelector>,
    pub node_fit: Option<bool>,
}

/// A strategy's params struct: it carries the common params.
pub trait HasCommonParams {
    fn common(&self) -> CommonParamsRef<'_>;
}

/// Declares a strategy's params struct with the common params first, so every
/// strategy's schema documents them and rejects fields that are not its own.
macro_rules! strategy_params {
    ($(#[$meta:meta])* $name:ident $([$(#[$rule:meta])*])? { $($(#[$fmeta:meta])* $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
        #[serde(rename_all = "camelCase")]
        $($(#[$rule])*)?
        #[x_kube(validation = Rule::new("!(has(self.thresholdPriority) && has(self.thresholdPriorityClassName))").message("thresholdPriority and thresholdPriorityClassName are mutually exclusive"))]
        pub struct $name {
            /// Only pods in these namespaces (include) or outside them (exclude).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub namespaces: Option<Namespaces>,
            /// Pods with priority at or above this value are not evicted. Default: the value of system-cluster-critical (2000000000).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub threshold_priority: Option<i32>,
            /// Like thresholdPriority, taking the value of this PriorityClass (which must exist).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub threshold_priority_class_name: Option<String>,
            /// Only pods whose labels match this selector.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub label_selector: Option<LabelSelector>,
            /// When true, a pod is evicted only if it fits on at least one other Ready node. Default false.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub node_fit: Option<bool>,
            $(
                $(#[$fmeta])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: $ty,
            )*
        }

        impl HasCommonParams for $name {
            fn common(&self) -> CommonParamsRef<'_> {
                CommonParamsRef {
                    namespaces: self.namespaces.as_ref(),
                    threshold_priority: self.threshold_priority,
                    threshold_priority_class_name: self.threshold_priority_class_name.as_deref(),
                    label_selector: self.label_selector.as_ref(),
                    node_fit: self.node_fit,
                }
            }
        }
    };
}

strategy_params!(
    /// Parameters of RemoveFailedPods.
    RemoveFailedPodsParams {
        /// Which Failed pods to evict.
        failed_pods: Option<FailedPods>,
    }
);

strategy_params!(
    /// Parameters of PodLifeTime.
    PodLifeTimeParams {
        /// Which pods are too old.
        pod_life_time: Option<PodLifeTime>,
    }
);

strategy_params!(
    /// Parameters of RemovePodsHavingTooManyRestarts.
    TooManyRestartsParams {
        /// The restart threshold.
        pods_having_too_many_restarts: Option<PodsHavingTooManyRestarts>,
    }
);

strategy_params!(
    /// Parameters of RemovePodsViolatingNodeTaints.
    NodeTaintsParams {
        /// Taints to ignore, as `key` or `key=value`.
        excluded_taints: Option<Vec<String>>,
        /// When set, only taints matching one of these (`key` or `key=value`) count.
        included_taints: Option<Vec<String>>,
        /// Also evict pods that do not tolerate PreferNoSchedule taints. Default false.
        include_prefer_no_schedule: Option<bool>,
    }
);

strategy_params!(
    /// Parameters of RemovePodsViolatingNodeAffinity.
    NodeAffinityParams {
        /// Which node affinity to enforce. Default [requiredDuringSchedulingIgnoredDuringExecution].
        node_affinity_type: Option<Vec<NodeAffinityType>>,
    }
);

strategy_params!(
    /// Parameters of RemovePodsViolatingInterPodAntiAffinity.
    InterPodAntiAffinityParams {}
);

strategy_params!(
    /// Parameters of RemoveDuplicates.
    RemoveDuplicatesParams {
        /// Which owners to leave alone.
        remove_duplicates: Option<RemoveDuplicates>,
    }
);

strategy_params!(
    /// Parameters of RemovePodsViolatingTopologySpreadConstraint.
    TopologySpreadParams [
        #[x_kube(validation = Rule::new("!(has(self.includeSoftConstraints) && has(self.constraints))").message("includeSoftConstraints and constraints are mutually exclusive"))]
    ] {
        /// Also balance ScheduleAnyway (soft) constraints. Default false. Never together with constraints.
        include_soft_constraints: Option<bool>,
        /// Which constraints to balance, by whenUnsatisfiable. Default [DoNotSchedule]
        /// ([DoNotSchedule, ScheduleAnyway] with includeSoftConstraints). Never together with includeSoftConstraints.
        constraints: Option<Vec<WhenUnsatisfiable>>,
        /// Only evict a pod that fits some node in a domain below the average. Default true.
        topology_balance_node_fit: Option<bool>,
    }
);

strategy_params!(
    /// Parameters of LowNodeUtilization.
    LowNodeUtilizationParams {
        /// Thresholds that classify nodes.
        node_resource_utilization_thresholds: Option<LowThresholds>,
    }
);

strategy_params!(
    /// Parameters of HighNodeUtilization.
    HighNodeUtilizationParams {
        /// Thresholds that classify nodes.
        node_resource_utilization_thresholds: Option<HighThresholds>,
    }
);

/// Percentages per resource (cpu, memory, pods or an extended resource name), each 0-100.
pub type ResourceThresholds = BTreeMap<String, f64>;

fn bounded_thresholds(schema: &mut schemars::Schema) {
    // Bounds the CEL cost estimate of the rules that iterate these maps.
    schema.insert("maxProperties".into(), 16.into());
}

/// Node classification for LowNodeUtilization.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.thresholds) || !has(self.targetThresholds) || (self.thresholds.all(k, k in self.targetThresholds) && self.targetThresholds.all(k, k in self.thresholds) && ((has(self.useDeviationThresholds) && self.useDeviationThresholds) || self.thresholds.all(k, self.thresholds[k] <= self.targetThresholds[k])))").message("thresholds and targetThresholds must name the same resources, with each threshold <= its target"))]
pub struct LowThresholds {
    /// A node is underutilized when its usage is below these percentages for every resource listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.all(k, self[k] >= 0.0 && self[k] <= 100.0)").message("each threshold must be within 0..100"))]
    #[schemars(transform = bounded_thresholds)]
    pub thresholds: Option<ResourceThresholds>,
    /// A node is overutilized when its usage is above these percentages for any resource listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.all(k, self[k] >= 0.0 && self[k] <= 100.0)").message("each target threshold must be within 0..100"))]
    #[schemars(transform = bounded_thresholds)]
    pub target_thresholds: Option<ResourceThresholds>,
    /// Do nothing unless more than this many nodes are underutilized. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub number_of_nodes: Option<i32>,
    /// Read thresholds as distances below (thresholds) and above (targetThresholds) the mean usage. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_deviation_thresholds: Option<bool>,
    /// Caps on this strategy's evictions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eviction_limits: Option<EvictionLimits>,
    /// Classify nodes by what their pods actually use instead of by their requests. Absent: requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_utilization: Option<MetricsUtilization>,
}

/// Node classification for HighNodeUtilization.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HighThresholds {
    /// A node is underutilized (and emptied) when its usage is below these percentages for every resource listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.all(k, self[k] >= 0.0 && self[k] <= 100.0)").message("each threshold must be within 0..100"))]
    #[schemars(transform = bounded_thresholds)]
    pub thresholds: Option<ResourceThresholds>,
    /// Do nothing unless more than this many nodes are underutilized. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub number_of_nodes: Option<i32>,
    /// With [OnlyThresholdingResources], only pods that request at least one resource listed in
    /// thresholds are evicted. Default: every evictable pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eviction_modes: Option<Vec<EvictionMode>>,
    /// Classify nodes by what their pods actually use instead of by their requests. Absent: requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_utilization: Option<MetricsUtilization>,
}

/// Where real utilization comes from (SPEC §13).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.source != 'Prometheus' || (has(self.prometheus) && has(self.prometheus.query) && self.prometheus.query != '')").message("source Prometheus needs prometheus.query"))]
pub struct MetricsUtilization {
    /// KubernetesMetrics: cpu and memory from metrics.k8s.io/v1beta1 NodeMetrics (smoothed) and
    /// PodMetrics; Prometheus: one instant query to the --prometheus-url server.
    pub source: MetricsSource,
    /// The query of source Prometheus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusQuery>,
}

/// A source of real utilization.
#[derive(
    JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord,
)]
pub enum MetricsSource {
    /// metrics.k8s.io/v1beta1 (metrics-server): NodeMetrics and PodMetrics.
    #[default]
    KubernetesMetrics,
    /// A PromQL instant query returning one sample per node, labelled instance=<node name>,
    /// with values in [0, 1]; thresholds then name the single resource MetricResource.
    Prometheus,
}

/// A PromQL instant query.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusQuery {
    /// Evaluated once per run; must return a vector with one sample per node, labelled
    /// instance=<node name>, value in [0, 1] (for example instance:node_cpu_utilisation:ratio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub query: Option<String>,
}

/// Which pods HighNodeUtilization may evict.
#[derive(
    JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord,
)]
pub enum EvictionMode {
    /// Only pods that request at least one resource listed in thresholds.
    OnlyThresholdingResources,
}

/// Constraint kinds RemovePodsViolatingTopologySpreadConstraint balances, by whenUnsatisfiable.
#[derive(
    JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord,
)]
pub enum WhenUnsatisfiable {
    /// Hard constraints.
    DoNotSchedule,
    /// Soft constraints.
    ScheduleAnyway,
}

/// Caps on LowNodeUtilization's own evictions.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EvictionLimits {
    /// At most this many evictions by this strategy from each overutilized node per run. Absent: no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub node: Option<i32>,
}

/// Node affinity kinds RemovePodsViolatingNodeAffinity can enforce.
#[derive(
    JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord,
)]
pub enum NodeAffinityType {
    /// Evict pods whose node no longer satisfies their required node affinity or nodeSelector.
    #[serde(rename = "requiredDuringSchedulingIgnoredDuringExecution")]
    Required,
    /// Evict pods whose node scores lower on their preferred terms than another node that fits them.
    #[serde(rename = "preferredDuringSchedulingIgnoredDuringExecution")]
    Preferred,
}

/// Restart threshold of RemovePodsHavingTooManyRestarts.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodsHavingTooManyRestarts {
    /// Evict pods whose containers restarted at least this many times in total. At least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub pod_restart_threshold: Option<i32>,
    /// Count init containers' restarts (and match their waiting reasons) too. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub including_init_containers: Option<bool>,
    /// Only pods in one of these states: the phase Running, or a container waiting in CrashLoopBackOff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub states: Option<Vec<RestartState>>,
}

/// A state RemovePodsHavingTooManyRestarts can require.
#[derive(
    JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord,
)]
pub enum RestartState {
    /// The pod's phase is Running.
    Running,
    /// A container is waiting with reason CrashLoopBackOff.
    CrashLoopBackOff,
}

/// Filters of PodLifeTime: every filter given must hold. At least one of maxPodLifeTimeSeconds,
/// states, conditions and exitCodes.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.maxPodLifeTimeSeconds) || has(self.states) || has(self.podStatusPhases) || has(self.conditions) || has(self.exitCodes)").message("needs at least one of maxPodLifeTimeSeconds, states, conditions and exitCodes"))]
pub struct PodLifeTime {
    /// Evict pods older than this many seconds (age from creationTimestamp). At least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_pod_life_time_seconds: Option<i64>,
    /// Only pods in one of these states: the pod's phase, its status.reason, or the waiting or
    /// terminated reason of one of its containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub states: Option<Vec<PodState>>,
    /// Deprecated alias of `states`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub pod_status_phases: Option<Vec<PodState>>,
    /// Only pods with a status condition matching one of these entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub conditions: Option<Vec<PodConditionFilter>>,
    /// Only pods with a terminated container that exited with one of these codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub exit_codes: Option<Vec<i32>>,
    /// Only pods with an ownerReference of one of these kinds (include), or with none of them (exclude).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_kinds: Option<OwnerKinds>,
    /// Match init containers' states and exit codes too. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub including_init_containers: Option<bool>,
    /// Match ephemeral containers' states and exit codes too. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub including_ephemeral_containers: Option<bool>,
}

/// A pod status condition to match; every field set must be equal.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.type) || has(self.status) || has(self.reason) || has(self.minTimeSinceLastTransitionSeconds)").message("a condition filter sets at least one field"))]
pub struct PodConditionFilter {
    /// The condition type, such as Ready or PodScheduled.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// True, False or Unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The condition's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The condition's lastTransitionTime is at least this many seconds ago.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_time_since_last_transition_seconds: Option<i64>,
}

/// Owner kinds to include or exclude, never both.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new("!(has(self.include) && has(self.exclude))").message("include and exclude are mutually exclusive"))]
pub struct OwnerKinds {
    /// Only pods with an ownerReference of one of these kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<String>>,
    /// Only pods with no ownerReference of these kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<Vec<String>>,
}

/// A pod state PodLifeTime can match (as upstream v0.36): a phase, a pod status reason, or a
/// container waiting or terminated reason.
#[derive(
    JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
pub enum PodState {
    Running,
    Pending,
    Succeeded,
    Failed,
    Unknown,
    NodeAffinity,
    NodeLost,
    Shutdown,
    UnexpectedAdmissionError,
    PodInitializing,
    ContainerCreating,
    ImagePullBackOff,
    CrashLoopBackOff,
    CreateContainerConfigError,
    ErrImagePull,
    CreateContainerError,
    InvalidImageName,
    #[serde(rename = "OOMKilled")]
    OomKilled,
    Error,
    Completed,
    DeadlineExceeded,
    Evicted,
    ContainerCannotRun,
    StartError,
}

impl PodState {
    pub fn as_str(self) -> &'static str {
        match self {
            PodState::Running => "Running",
            PodState::Pending => "Pending",
            PodState::Succeeded => "Succeeded",
            PodState::Failed => "Failed",
            PodState::Unknown => "Unknown",
            PodState::NodeAffinity => "NodeAffinity",
            PodState::NodeLost => "NodeLost",
            PodState::Shutdown => "Shutdown",
            PodState::UnexpectedAdmissionError => "UnexpectedAdmissionError",
            PodState::PodInitializing => "PodInitializing",
            PodState::ContainerCreating => "ContainerCreating",
            PodState::ImagePullBackOff => "ImagePullBackOff",
            PodState::CrashLoopBackOff => "CrashLoopBackOff",
            PodState::CreateContainerConfigError => "CreateContainerConfigError",
            PodState::ErrImagePull => "ErrImagePull",
            PodState::CreateContainerError => "CreateContainerError",
            PodState::InvalidImageName => "InvalidImageName",
            PodState::OomKilled => "OOMKilled",
            PodState::Error => "Error",
            PodState::Completed => "Completed",
            PodState::DeadlineExceeded => "DeadlineExceeded",
            PodState::Evicted => "Evicted",
            PodState::ContainerCannotRun => "ContainerCannotRun",
            PodState::StartError => "StartError",
        }
    }
}

/// Filters of RemoveFailedPods.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FailedPods {
    /// Only pods whose status.reason or a container's terminated/waiting reason is one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<String>>,
    /// Only pods with a terminated container that exited with one of these codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub exit_codes: Option<Vec<i32>>,
    /// Also match init containers' reasons and exit codes. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub including_init_containers: Option<bool>,
    /// Skip pods whose controller owner is of one of these kinds (e.g. Job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_owner_kinds: Option<Vec<String>>,
    /// Only pods at least this many seconds old (from status.startTime, else creationTimestamp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_pod_lifetime_seconds: Option<i64>,
}

/// Filters of RemoveDuplicates.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RemoveDuplicates {
    /// Skip owners of these kinds (e.g. ReplicaSet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_owner_kinds: Option<Vec<String>>,
}
