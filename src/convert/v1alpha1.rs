//! Upstream `descheduler/v1alpha1` (`strategies:`, accepted up to v0.30): one
//! policy. Our spec keeps this format's names, so params map one to one; what
//! differs is upstream's semantics, which v0.30's own conversion to
//! v1alpha2 defines (a strategy without `enabled: true` is off; each
//! strategy reads only some of the shared params).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::Deserialize;
use serde_json::Value;

use super::Draft;
use super::decode::{At, Problems, decode};
use crate::api::{
    self, DeschedulerPolicySpec, FailedPods, HighThresholds, LowThresholds, Namespaces,
    NodeAffinityType, PodLifeTime, PodState, PodsHavingTooManyRestarts, RemoveDuplicates,
    ResourceThresholds, Strategies, Strategy,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Policy {
    #[allow(dead_code)] // checked by the caller; listed so it is not an unknown field
    api_version: Option<String>,
    #[allow(dead_code)]
    kind: Option<String>,
    strategies: Option<BTreeMap<String, Entry>>,
    node_selector: Option<String>,
    evict_failed_bare_pods: Option<bool>,
    evict_local_storage_pods: Option<bool>,
    evict_system_critical_pods: Option<bool>,
    evict_daemon_set_pods: Option<bool>,
    ignore_pvc_pods: Option<bool>,
    max_no_of_pods_to_evict_per_node: Option<u64>,
    max_no_of_pods_to_evict_per_namespace: Option<u64>,
    /// Not in v0.30's v1alpha1 types, but in earlier ones; kept (SPEC has it).
    max_no_of_pods_to_evict_total: Option<u64>,
}

#[derive(Deserialize)]
struct Entry {
    enabled: Option<bool>,
    weight: Option<i64>,
    params: Option<Params>,
}

/// Upstream's one params struct shared by every strategy.
#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct Params {
    node_resource_utilization_thresholds: Option<Nrut>,
    node_affinity_type: Option<Vec<NodeAffinityType>>,
    pods_having_too_many_restarts: Option<TooManyRestarts>,
    pod_life_time: Option<LifeTime>,
    remove_duplicates: Option<Duplicates>,
    failed_pods: Option<Failed>,
    include_soft_constraints: Option<bool>,
    namespaces: Option<Namespaces>,
    threshold_priority: Option<i32>,
    threshold_priority_class_name: Option<String>,
    label_selector: Option<LabelSelector>,
    node_fit: Option<bool>,
    include_prefer_no_schedule: Option<bool>,
    excluded_taints: Option<Vec<String>>,
    included_taints: Option<Vec<String>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct Nrut {
    use_deviation_thresholds: Option<bool>,
    thresholds: Option<ResourceThresholds>,
    target_thresholds: Option<ResourceThresholds>,
    number_of_nodes: Option<i32>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct TooManyRestarts {
    pod_restart_threshold: Option<i32>,
    including_init_containers: Option<bool>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct LifeTime {
    max_pod_life_time_seconds: Option<u64>,
    states: Option<Vec<PodState>>,
    pod_status_phases: Option<Vec<PodState>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct Duplicates {
    exclude_owner_kinds: Option<Vec<String>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct Failed {
    exclude_owner_kinds: Option<Vec<String>>,
    min_pod_lifetime_seconds: Option<u64>,
    reasons: Option<Vec<String>>,
    including_init_containers: Option<bool>,
}

const STRATEGIES: [&str; 10] = [
    "RemoveFailedPods",
    "PodLifeTime",
    "RemovePodsHavingTooManyRestarts",
    "RemovePodsViolatingNodeTaints",
    "RemovePodsViolatingNodeAffinity",
    "RemovePodsViolatingInterPodAntiAffinity",
    "RemoveDuplicates",
    "RemovePodsViolatingTopologySpreadConstraint",
    "LowNodeUtilization",
    "HighNodeUtilization",
];

/// Which shared params upstream v0.30 passes on to each strategy (besides
/// thresholdPriority / thresholdPriorityClassName, read for all).
fn reads(strategy: &str, param: &str) -> bool {
    let own: &[&str] = match strategy {
        "RemoveFailedPods" => &["namespaces", "labelSelector", "nodeFit", "failedPods"],
        "PodLifeTime" => &["namespaces", "labelSelector", "podLifeTime"],
        "RemovePodsHavingTooManyRestarts" => &[
            "namespaces",
            "labelSelector",
            "nodeFit",
            "podsHavingTooManyRestarts",
        ],
        "RemovePodsViolatingNodeTaints" => &[
            "namespaces",
            "labelSelector",
            "nodeFit",
            "includePreferNoSchedule",
            "excludedTaints",
            // Upstream v0.30's conversion dropped it (a bug); its intent is clear, so it is kept.
            "includedTaints",
        ],
        "RemovePodsViolatingNodeAffinity" => {
            &["namespaces", "labelSelector", "nodeFit", "nodeAffinityType"]
        }
        "RemovePodsViolatingInterPodAntiAffinity" => &["namespaces", "labelSelector", "nodeFit"],
        "RemoveDuplicates" => &["namespaces", "nodeFit", "removeDuplicates"],
        "RemovePodsViolatingTopologySpreadConstraint" => &[
            "namespaces",
            "labelSelector",
            "nodeFit",
            "includeSoftConstraints",
        ],
        "LowNodeUtilization" | "HighNodeUtilization" => {
            &["namespaces", "nodeFit", "nodeResourceUtilizationThresholds"]
        }
        _ => &[],
    };
    matches!(param, "thresholdPriority" | "thresholdPriorityClassName") || own.contains(&param)
}

/// The params that are set, by their upstream names.
fn set_params(p: &Params) -> Vec<&'static str> {
    let mut v = Vec::new();
    let mut add = |b: bool, n: &'static str| {
        if b {
            v.push(n)
        }
    };
    add(
        p.node_resource_utilization_thresholds.is_some(),
        "nodeResourceUtilizationThresholds",
    );
    add(p.node_affinity_type.is_some(), "nodeAffinityType");
    add(
        p.pods_having_too_many_restarts.is_some(),
        "podsHavingTooManyRestarts",
    );
    add(p.pod_life_time.is_some(), "podLifeTime");
    add(p.remove_duplicates.is_some(), "removeDuplicates");
    add(p.failed_pods.is_some(), "failedPods");
    // Upstream's plain bools: only true changes anything.
    add(
        p.include_soft_constraints == Some(true),
        "includeSoftConstraints",
    );
    add(p.namespaces.is_some(), "namespaces");
    add(p.threshold_priority.is_some(), "thresholdPriority");
    add(
        p.threshold_priority_class_name
            .as_ref()
            .is_some_and(|n| !n.is_empty()),
        "thresholdPriorityClassName",
    );
    add(p.label_selector.is_some(), "labelSelector");
    add(p.node_fit == Some(true), "nodeFit");
    add(
        p.include_prefer_no_schedule == Some(true),
        "includePreferNoSchedule",
    );
    add(p.excluded_taints.is_some(), "excludedTaints");
    add(p.included_taints.is_some(), "includedTaints");
    v
}

/// Clears what `strategy` does not read, so it is not carried over.
fn keep_only_read(p: &mut Params, strategy: &str) {
    let r = |n| reads(strategy, n);
    if !r("nodeResourceUtilizationThresholds") {
        p.node_resource_utilization_thresholds = None;
    }
    if !r("nodeAffinityType") {
        p.node_affinity_type = None;
    }
    if !r("podsHavingTooManyRestarts") {
        p.pods_having_too_many_restarts = None;
    }
    if !r("podLifeTime") {
        p.pod_life_time = None;
    }
    if !r("removeDuplicates") {
        p.remove_duplicates = None;
    }
    if !r("failedPods") {
        p.failed_pods = None;
    }
    if !r("includeSoftConstraints") {
        p.include_soft_constraints = None;
    }
    if !r("labelSelector") {
        p.label_selector = None;
    }
    if !r("nodeFit") {
        p.node_fit = None;
    }
    if !r("includePreferNoSchedule") {
        p.include_prefer_no_schedule = None;
    }
    if !r("excludedTaints") {
        p.excluded_taints = None;
    }
    if !r("includedTaints") {
        p.included_taints = None;
    }
}

fn wrap<P: Default + PartialEq>(params: P, enabled: bool) -> Strategy<P> {
    Strategy {
        enabled: (!enabled).then_some(false),
        params: (params != P::default()).then_some(params),
    }
}

macro_rules! common {
    ($t:ty, $p:expr) => {{
        let mut out = <$t>::default();
        out.namespaces = $p.namespaces.clone();
        out.threshold_priority = $p.threshold_priority;
        out.threshold_priority_class_name = $p
            .threshold_priority_class_name
            .clone()
            .filter(|n| !n.is_empty());
        out.label_selector = $p.label_selector.clone();
        out.node_fit = $p.node_fit;
        out
    }};
}

fn to_i64(v: Option<u64>, at: &At, problems: &mut Problems) -> Option<i64> {
    v.and_then(|n| {
        i64::try_from(n)
            .map_err(|_| problems.push(at, format!("{n} is too large")))
            .ok()
    })
}

fn put(
    s: &mut Strategies,
    name: &str,
    p: &Params,
    enabled: bool,
    at: &At,
    problems: &mut Problems,
) {
    match name {
        "RemoveFailedPods" => {
            let mut out = common!(api::RemoveFailedPodsParams, p);
            out.failed_pods = p.failed_pods.clone().map(|f| FailedPods {
                reasons: f.reasons,
                exit_codes: None,
                including_init_containers: f.including_init_containers,
                exclude_owner_kinds: f.exclude_owner_kinds,
                min_pod_lifetime_seconds: to_i64(
                    f.min_pod_lifetime_seconds,
                    &at.key("failedPods").key("minPodLifetimeSeconds"),
                    problems,
                ),
            });
            s.remove_failed_pods = Some(wrap(out, enabled));
        }
        "PodLifeTime" => {
            let mut out = common!(api::PodLifeTimeParams, p);
            out.pod_life_time = p.pod_life_time.clone().map(|l| {
                // Upstream concatenates podStatusPhases and states.
                let mut states: Vec<PodState> = Vec::new();
                for s in l
                    .pod_status_phases
                    .into_iter()
                    .flatten()
                    .chain(l.states.into_iter().flatten())
                {
                    if !states.contains(&s) {
                        states.push(s);
                    }
                }
                PodLifeTime {
                    max_pod_life_time_seconds: to_i64(
                        l.max_pod_life_time_seconds,
                        &at.key("podLifeTime").key("maxPodLifeTimeSeconds"),
                        problems,
                    ),
                    states: (!states.is_empty()).then_some(states),
                    ..PodLifeTime::default()
                }
            });
            s.pod_life_time = Some(wrap(out, enabled));
        }
        "RemovePodsHavingTooManyRestarts" => {
            let mut out = common!(api::TooManyRestartsParams, p);
            out.pods_having_too_many_restarts =
                p.pods_having_too_many_restarts
                    .clone()
                    .map(|t| PodsHavingTooManyRestarts {
                        pod_restart_threshold: t.pod_restart_threshold,
                        including_init_containers: t.including_init_containers,
                        states: None,
                    });
            s.remove_pods_having_too_many_restarts = Some(wrap(out, enabled));
        }
        "RemovePodsViolatingNodeTaints" => {
            let mut out = common!(api::NodeTaintsParams, p);
            out.excluded_taints = p.excluded_taints.clone();
            out.included_taints = p.included_taints.clone();
            out.include_prefer_no_schedule = p.include_prefer_no_schedule;
            s.remove_pods_violating_node_taints = Some(wrap(out, enabled));
        }
        "RemovePodsViolatingNodeAffinity" => {
            let mut out = common!(api::NodeAffinityParams, p);
            out.node_affinity_type = p.node_affinity_type.clone();
            s.remove_pods_violating_node_affinity = Some(wrap(out, enabled));
        }
        "RemovePodsViolatingInterPodAntiAffinity" => {
            let out = common!(api::InterPodAntiAffinityParams, p);
            s.remove_pods_violating_inter_pod_anti_affinity = Some(wrap(out, enabled));
        }
        "RemoveDuplicates" => {
            let mut out = common!(api::RemoveDuplicatesParams, p);
            out.remove_duplicates = p.remove_duplicates.clone().map(|d| RemoveDuplicates {
                exclude_owner_kinds: d.exclude_owner_kinds,
            });
            s.remove_duplicates = Some(wrap(out, enabled));
        }
        "RemovePodsViolatingTopologySpreadConstraint" => {
            let mut out = common!(api::TopologySpreadParams, p);
            out.include_soft_constraints = p.include_soft_constraints;
            s.remove_pods_violating_topology_spread_constraint = Some(wrap(out, enabled));
        }
        "LowNodeUtilization" => {
            let mut out = common!(api::LowNodeUtilizationParams, p);
            out.node_resource_utilization_thresholds = p
                .node_resource_utilization_thresholds
                .clone()
                .map(|n| LowThresholds {
                    thresholds: n.thresholds,
                    target_thresholds: n.target_thresholds,
                    number_of_nodes: n.number_of_nodes,
                    use_deviation_thresholds: n.use_deviation_thresholds,
                    eviction_limits: None,
                    metrics_utilization: None,
                });
            s.low_node_utilization = Some(wrap(out, enabled));
        }
        "HighNodeUtilization" => {
            let mut out = common!(api::HighNodeUtilizationParams, p);
            out.node_resource_utilization_thresholds = p
                .node_resource_utilization_thresholds
                .clone()
                .map(|n| HighThresholds {
                    thresholds: n.thresholds,
                    number_of_nodes: n.number_of_nodes,
                    eviction_modes: None,
                    metrics_utilization: None,
                });
            s.high_node_utilization = Some(wrap(out, enabled));
        }
        _ => {}
    }
}

/// Upstream v0.30's checks that would stop an enabled strategy (it validated
/// only the enabled ones), where our own validation is laxer.
fn check_enabled(name: &str, p: &Params, at: &At, problems: &mut Problems) {
    if p.threshold_priority.is_some()
        && p.threshold_priority_class_name
            .as_ref()
            .is_some_and(|n| !n.is_empty())
    {
        problems.push(
            at,
            "only one of thresholdPriority and thresholdPriorityClassName can be set",
        );
    }
    match name {
        "RemovePodsViolatingNodeAffinity"
            if p.node_affinity_type.as_ref().is_none_or(|t| t.is_empty()) =>
        {
            problems.push(
                &at.key("nodeAffinityType"),
                "must be set (upstream rejects it otherwise)",
            );
        }
        "LowNodeUtilization" | "HighNodeUtilization"
            if p.namespaces
                .as_ref()
                .and_then(|n| n.include.as_ref())
                .is_some_and(|i| !i.is_empty()) =>
        {
            problems.push(
                &at.key("namespaces").key("include"),
                "only exclude can be set for this strategy, inclusion is not supported (upstream rejects it too)",
            );
        }
        _ => {}
    }
}

pub(crate) fn convert(
    doc: &Value,
    at: &At,
    name: &str,
    problems: &mut Problems,
    notes: &mut Vec<String>,
) -> Option<Draft> {
    let p = decode::<Policy>(doc, at, problems)?;
    let limit = |v: Option<u64>, field: &str, problems: &mut Problems| {
        v.and_then(|n| {
            i32::try_from(n)
                .map_err(|_| problems.push(&at.key(field), format!("{n} is too large")))
                .ok()
        })
    };
    let mut spec = DeschedulerPolicySpec {
        node_selector: p.node_selector.clone().filter(|s| !s.is_empty()),
        evict_local_storage_pods: p.evict_local_storage_pods,
        evict_system_critical_pods: p.evict_system_critical_pods,
        evict_daemon_set_pods: p.evict_daemon_set_pods,
        ignore_pvc_pods: p.ignore_pvc_pods,
        evict_failed_bare_pods: p.evict_failed_bare_pods,
        ..DeschedulerPolicySpec::default()
    };
    spec.max_no_of_pods_to_evict_per_node = limit(
        p.max_no_of_pods_to_evict_per_node,
        "maxNoOfPodsToEvictPerNode",
        problems,
    );
    spec.max_no_of_pods_to_evict_per_namespace = limit(
        p.max_no_of_pods_to_evict_per_namespace,
        "maxNoOfPodsToEvictPerNamespace",
        problems,
    );
    spec.max_no_of_pods_to_evict_total = limit(
        p.max_no_of_pods_to_evict_total,
        "maxNoOfPodsToEvictTotal",
        problems,
    );

    let strategies = p.strategies.unwrap_or_default();
    if strategies.is_empty() {
        problems.push(&at.key("strategies"), "no strategy: nothing to convert");
    }
    let mut any_enabled = false;
    for (sname, entry) in &strategies {
        let sat = at.key("strategies").key(sname);
        if !STRATEGIES.contains(&sname.as_str()) {
            problems.push(
                &sat,
                format!("unknown strategy name {sname:?} (upstream rejects it even when disabled)"),
            );
            continue;
        }
        let enabled = entry.enabled == Some(true);
        any_enabled |= enabled;
        if entry.enabled.is_none() {
            notes.push(format!(
                "{sat}: has no `enabled: true`, so upstream does not run it: kept with enabled: false \
                 (a strategy listed here runs unless enabled: false)"
            ));
        }
        if entry.weight.is_some() {
            notes.push(format!(
                "{}: ignored: upstream never reads it",
                sat.key("weight")
            ));
        }
        let mut params = entry.params.clone().unwrap_or_default();
        let pat = sat.key("params");
        for n in set_params(&params) {
            if !reads(sname, n) {
                let why = if sname == "PodLifeTime" && n == "nodeFit" {
                    "upstream forces nodeFit off for PodLifeTime".to_string()
                } else {
                    format!("upstream's {sname} does not read it")
                };
                notes.push(format!("{}: not carried over: {why}", pat.key(n)));
            }
        }
        keep_only_read(&mut params, sname);
        if enabled {
            check_enabled(sname, &params, &pat, problems);
        }
        put(
            &mut spec.strategies,
            sname,
            &params,
            enabled,
            &pat,
            problems,
        );
    }
    if !strategies.is_empty() && !any_enabled {
        notes.push(format!(
            "{}: no strategy is enabled: the policy evicts nothing",
            at.key("strategies")
        ));
    }

    let origins = std::iter::once(("spec.strategies".to_string(), at.key("strategies")))
        .chain(
            [
                "nodeSelector",
                "maxNoOfPodsToEvictPerNode",
                "maxNoOfPodsToEvictPerNamespace",
                "maxNoOfPodsToEvictTotal",
            ]
            .into_iter()
            .map(|f| (format!("spec.{f}"), at.key(f))),
        )
        .collect();
    Some(Draft {
        name: name.to_string(),
        name_at: At::root("--name"),
        spec,
        origins,
        notes: Vec::new(),
    })
}
