//! SPEC §3 rules 1-4: which pods may be evicted at all, and which a strategy's
//! own filters admit. Pure: reads the policy and the snapshot only.

use std::fmt;
use std::time::Duration;

use crate::selectors::Selector;
use crate::snapshot::{Phase, PodId, Snapshot};

/// The value of the `system-cluster-critical` PriorityClass: the default threshold.
pub const SYSTEM_CRITICAL_PRIORITY: i32 = 2_000_000_000;

/// Handling of pods annotated `descheduler.alpha.kubernetes.io/prefer-no-eviction`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NoEvictionPolicy {
    /// Taken only after every other candidate.
    #[default]
    Preferred,
    /// Never evicted.
    Mandatory,
}

/// What to do with the last ready replica of a Deployment or StatefulSet (SPEC §12).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SingleReplica {
    /// Leave it (counted `SingleReplica`).
    #[default]
    Skip,
    /// Evict it anyway: the workload has no ready replica until the replacement is.
    Evict,
    /// Restart the workload instead (a rollout with its own surge), at most
    /// once per `gap`.
    RolloutRestart { gap: Duration },
}

/// What the planner does with the placement prediction (SPEC §10).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlacementCheck {
    /// Ignore it (it is still reported).
    Off,
    /// Evict anyway, counting a warning.
    #[default]
    Warn,
    /// Do not evict a pod whose replacement would come back or stay Pending.
    Enforce,
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
    pub single_replica: SingleReplica,
    pub placement_check: PlacementCheck,
}

/// A strategy's own filters (SPEC §3 rules 3-5).
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

/// Why a pod is not evictable (SPEC §3 rules 2 and 3), in the order checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    MirrorOrStatic,
    Terminating,
    BarePod,
    DaemonSet,
    LocalStorage,
    Pvc,
    Namespace,
    MinPodAge,
    MinReplicas,
    NoPdb,
    PreferNoEviction,
    SystemCritical,
    Priority,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::MirrorOrStatic => "MirrorOrStaticPod",
            Rule::Terminating => "Terminating",
            Rule::BarePod => "BarePod",
            Rule::DaemonSet => "DaemonSetPod",
            Rule::LocalStorage => "LocalStorage",
            Rule::Pvc => "PersistentVolumeClaim",
            Rule::Namespace => "NamespaceNotSelected",
            Rule::MinPodAge => "TooYoung",
            Rule::MinReplicas => "TooFewReplicas",
            Rule::NoPdb => "NoPodDisruptionBudget",
            Rule::PreferNoEviction => "PreferNoEviction",
            Rule::SystemCritical => "SystemCritical",
            Rule::Priority => "PriorityTooHigh",
        }
    }
}

/// Why a candidate was not evicted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    NotEvictable(Rule),
    NoFit,
    LimitReached,
    /// The last ready replica of its workload (`singleReplicaStrategy: Skip`).
    SingleReplica,
    /// Its workload was restarted or descheduled too recently.
    Cooldown,
    /// Its replacement is predicted to be bound to the node it leaves.
    WouldNotMove,
    /// Its replacement is predicted to stay Pending.
    WouldBePending,
    /// Balancing by measured usage, and the pod has no PodMetrics: what
    /// moving it frees is not known.
    NoMetrics,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::NotEvictable(rule) => write!(f, "NotEvictable:{}", rule.as_str()),
            SkipReason::NoFit => f.write_str("NoFit"),
            SkipReason::LimitReached => f.write_str("LimitReached"),
            SkipReason::SingleReplica => f.write_str("SingleReplica"),
            SkipReason::Cooldown => f.write_str("Cooldown"),
            SkipReason::WouldNotMove => f.write_str("WouldNotMove"),
            SkipReason::WouldBePending => f.write_str("WouldBePending"),
            SkipReason::NoMetrics => f.write_str("NoMetrics"),
        }
    }
}

/// Rules 1-3 for one pod under one strategy's priority threshold.
pub fn check(
    snap: &Snapshot,
    rules: &EvictionRules,
    common: &CommonParams,
    id: PodId,
) -> Result<(), Rule> {
    let pod = snap.pod(id);
    // Rule 1: the evict annotation skips rules 2 and 3.
    if pod.evict_annotation {
        return Ok(());
    }
    if pod.mirror_or_static {
        return Err(Rule::MirrorOrStatic);
    }
    if pod.terminating {
        return Err(Rule::Terminating);
    }
    if pod.owner.is_none() && !(rules.evict_failed_bare_pods && pod.phase == Phase::Failed) {
        return Err(Rule::BarePod);
    }
    if pod.daemon_set && !rules.evict_daemon_set_pods {
        return Err(Rule::DaemonSet);
    }
    if pod.local_storage && !rules.evict_local_storage_pods {
        return Err(Rule::LocalStorage);
    }
    if pod.pvc && rules.ignore_pvc_pods {
        return Err(Rule::Pvc);
    }
    if let Some(sel) = &rules.namespace_selector
        && !sel.matches_opt(snap.namespace_labels(&pod.namespace))
    {
        return Err(Rule::Namespace);
    }
    if let Some(min_age) = rules.min_pod_age {
        let old_enough = pod.started.is_some_and(|s| {
            snap.now
                .signed_duration_since(s)
                .to_std()
                .is_ok_and(|age| age >= min_age)
        });
        if !old_enough {
            return Err(Rule::MinPodAge);
        }
    }
    if rules.min_replicas > 1
        && let Some(owner) = &pod.owner
    {
        let live = snap
            .pods_of_owner(owner)
            .iter()
            .filter(|&&p| !snap.pod(p).phase.is_terminal())
            .count();
        if live < rules.min_replicas as usize {
            return Err(Rule::MinReplicas);
        }
    }
    if rules.ignore_pods_without_pdb && snap.pdbs_of(id).is_empty() {
        return Err(Rule::NoPdb);
    }
    if pod.prefer_no_eviction && rules.no_eviction_policy == NoEvictionPolicy::Mandatory {
        return Err(Rule::PreferNoEviction);
    }
    // Rule 3.
    if !rules.evict_system_critical_pods {
        if pod.system_critical_class {
            return Err(Rule::SystemCritical);
        }
        if pod.priority >= common.priority_threshold {
            return Err(Rule::Priority);
        }
    }
    Ok(())
}

/// Rule 4: the strategy's `namespaces` and `labelSelector`.
pub fn in_scope(snap: &Snapshot, common: &CommonParams, id: PodId) -> bool {
    let pod = snap.pod(id);
    common.namespaces.allows(&pod.namespace)
        && common
            .label_selector
            .as_ref()
            .is_none_or(|s| s.matches(pod.labels()))
}

/// The order in which competing candidates are taken: with `Preferred`,
/// prefer-no-eviction pods last; then lowest priority; then BestEffort,
/// Burstable, Guaranteed.
pub fn eviction_order(snap: &Snapshot, id: PodId) -> impl Ord + use<> {
    let pod = snap.pod(id);
    (pod.prefer_no_eviction, pod.priority, pod.qos)
}

#[cfg(test)]
#[path = "eligibility_tests.rs"]
mod tests;
