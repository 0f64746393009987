//! SPEC §3 rules 1-4: which pods may be evicted at all, and which a strategy's
//! own filters admit. Pure: reads the policy and the snapshot only.

use std::fmt;

use crate::api::NoEvictionPolicy;
use crate::policy::{CommonParams, EvictionRules};
use crate::snapshot::{Phase, PodId, Snapshot};

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
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::NotEvictable(rule) => write!(f, "NotEvictable:{}", rule.as_str()),
            SkipReason::NoFit => f.write_str("NoFit"),
            SkipReason::LimitReached => f.write_str("LimitReached"),
        }
    }
}

const SYSTEM_CRITICAL_CLASSES: [&str; 2] = ["system-cluster-critical", "system-node-critical"];

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
    match &pod.owner {
        None if !(rules.evict_failed_bare_pods && pod.phase == Phase::Failed) => {
            return Err(Rule::BarePod);
        }
        Some(o) if o.kind == "DaemonSet" && !rules.evict_daemon_set_pods => {
            return Err(Rule::DaemonSet);
        }
        _ => {}
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
        if pod
            .priority_class_name
            .as_deref()
            .is_some_and(|c| SYSTEM_CRITICAL_CLASSES.contains(&c))
        {
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
