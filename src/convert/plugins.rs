//! Upstream v0.36 plugin args, decoded strictly (as upstream does) and mapped
//! to our strategy params. Upstream's own validation rules are checked here
//! so an error names the upstream field, not the field we would have written.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Draft;
use super::decode::{At, Problems, decode};
use super::evictor_args::{Common, and_selectors};
use crate::api::{
    EvictionLimits, EvictionMode, FailedPods, HighNodeUtilizationParams, HighThresholds,
    InterPodAntiAffinityParams, LowNodeUtilizationParams, LowThresholds, Namespaces,
    NodeAffinityParams, NodeAffinityType, NodeTaintsParams, OwnerKinds, PodConditionFilter,
    PodLifeTime, PodLifeTimeParams, PodState, PodsHavingTooManyRestarts, RemoveDuplicates,
    RemoveDuplicatesParams, RemoveFailedPodsParams, RestartState, Strategy, TooManyRestartsParams,
    TopologySpreadParams, WhenUnsatisfiable,
};

pub(crate) const DEFAULT_EVICTOR: &str = "DefaultEvictor";

/// Upstream's deschedule plugins (judge each pod on its own).
pub(crate) const DESCHEDULE: [&str; 6] = [
    "RemoveFailedPods",
    "PodLifeTime",
    "RemovePodsHavingTooManyRestarts",
    "RemovePodsViolatingNodeTaints",
    "RemovePodsViolatingNodeAffinity",
    "RemovePodsViolatingInterPodAntiAffinity",
];

/// Upstream's balance plugins (judge groups of pods).
pub(crate) const BALANCE: [&str; 4] = [
    "RemoveDuplicates",
    "RemovePodsViolatingTopologySpreadConstraint",
    "LowNodeUtilization",
    "HighNodeUtilization",
];

pub(crate) fn is_registered(name: &str) -> bool {
    name == DEFAULT_EVICTOR || DESCHEDULE.contains(&name) || BALANCE.contains(&name)
}

/// Upstream rejects both lists at once for every plugin that takes `namespaces`.
fn check_namespaces(ns: &Option<Namespaces>, at: &At, problems: &mut Problems) {
    if let Some(Namespaces {
        include: Some(i),
        exclude: Some(e),
    }) = ns
        && !i.is_empty()
        && !e.is_empty()
    {
        problems.push(at, "only one of include and exclude can be set");
    }
}

/// Upstream's Go strings treat "" as unset.
fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

fn to_i64(v: Option<u64>, at: &At, problems: &mut Problems) -> Option<i64> {
    v.and_then(|n| {
        i64::try_from(n)
            .map_err(|_| problems.push(at, format!("{n} is too large")))
            .ok()
    })
}

fn to_i32(v: Option<u64>, at: &At, problems: &mut Problems) -> Option<i32> {
    v.and_then(|n| {
        i32::try_from(n)
            .map_err(|_| problems.push(at, format!("{n} is too large")))
            .ok()
    })
}

/// An entry listed with no params at all stays `{}` (or `{enabled: false}`).
fn wrap<P: Default + PartialEq>(params: P, enabled: bool) -> Strategy<P> {
    Strategy {
        enabled: (!enabled).then_some(false),
        params: (params != P::default()).then_some(params),
    }
}

macro_rules! with_common {
    ($p:expr, $common:expr, $namespaces:expr, $selector:expr) => {{
        $p.namespaces = $namespaces;
        $p.threshold_priority = $common.threshold_priority;
        $p.threshold_priority_class_name = $common.threshold_priority_class_name.clone();
        $p.label_selector = and_selectors($selector, $common.label_selector.as_ref());
        $p.node_fit = $common.node_fit;
    }};
}

/// One plugin of a profile, to map.
pub(crate) struct PluginEntry<'a> {
    pub name: &'a str,
    /// The pluginConfig entry's args (absent: upstream's defaults).
    pub args: Option<&'a Value>,
    /// Where the args are (or would be) in the upstream document.
    pub args_at: At,
    /// Whether the plugin is enabled at its extension point; a configured
    /// plugin that is not is kept with `enabled: false`.
    pub enabled: bool,
}

fn args_of<T: DeserializeOwned + Default>(
    e: &PluginEntry<'_>,
    problems: &mut Problems,
) -> Option<T> {
    match e.args {
        None | Some(Value::Null) => Some(T::default()),
        Some(Value::Object(map)) => {
            // Upstream's args carry an inline TypeMeta.
            let mut map = map.clone();
            map.remove("apiVersion");
            map.remove("kind");
            decode(&Value::Object(map), &e.args_at, problems)
        }
        Some(_) => {
            problems.push(&e.args_at, "must be a mapping");
            None
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RemoveFailedPodsArgs {
    namespaces: Option<Namespaces>,
    label_selector: Option<LabelSelector>,
    exclude_owner_kinds: Option<Vec<String>>,
    min_pod_lifetime_seconds: Option<u64>,
    reasons: Option<Vec<String>>,
    exit_codes: Option<Vec<i32>>,
    including_init_containers: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PodLifeTimeArgs {
    namespaces: Option<Namespaces>,
    label_selector: Option<LabelSelector>,
    owner_kinds: Option<OwnerKinds>,
    max_pod_life_time_seconds: Option<u64>,
    states: Option<Vec<PodState>>,
    conditions: Option<Vec<ConditionArgs>>,
    exit_codes: Option<Vec<i32>>,
    including_init_containers: Option<bool>,
    including_ephemeral_containers: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ConditionArgs {
    #[serde(rename = "type")]
    type_: Option<String>,
    status: Option<String>,
    reason: Option<String>,
    min_time_since_last_transition_seconds: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct TooManyRestartsArgs {
    namespaces: Option<Namespaces>,
    label_selector: Option<LabelSelector>,
    pod_restart_threshold: Option<i32>,
    including_init_containers: Option<bool>,
    states: Option<Vec<RestartState>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct NodeTaintsArgs {
    namespaces: Option<Namespaces>,
    label_selector: Option<LabelSelector>,
    include_prefer_no_schedule: Option<bool>,
    excluded_taints: Option<Vec<String>>,
    included_taints: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct NodeAffinityArgs {
    namespaces: Option<Namespaces>,
    label_selector: Option<LabelSelector>,
    node_affinity_type: Option<Vec<NodeAffinityType>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct InterPodAntiAffinityArgs {
    namespaces: Option<Namespaces>,
    label_selector: Option<LabelSelector>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RemoveDuplicatesArgs {
    namespaces: Option<Namespaces>,
    exclude_owner_kinds: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct TopologySpreadArgs {
    namespaces: Option<Namespaces>,
    label_selector: Option<LabelSelector>,
    constraints: Option<Vec<WhenUnsatisfiable>>,
    topology_balance_node_fit: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct LowNodeUtilizationArgs {
    use_deviation_thresholds: Option<bool>,
    thresholds: Option<BTreeMap<String, f64>>,
    target_thresholds: Option<BTreeMap<String, f64>>,
    number_of_nodes: Option<i64>,
    metrics_utilization: Option<MetricsUtilization>,
    evictable_namespaces: Option<Namespaces>,
    eviction_limits: Option<EvictionLimitsArgs>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct HighNodeUtilizationArgs {
    thresholds: Option<BTreeMap<String, f64>>,
    number_of_nodes: Option<i64>,
    eviction_modes: Option<Vec<EvictionMode>>,
    evictable_namespaces: Option<Namespaces>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct MetricsUtilization {
    metrics_server: Option<bool>,
    source: Option<String>,
    prometheus: Option<PrometheusQuery>,
}

#[derive(Deserialize, Default)]
struct PrometheusQuery {
    query: Option<String>,
}

#[derive(Deserialize, Default)]
struct EvictionLimitsArgs {
    node: Option<u64>,
}

/// Maps one plugin into `draft.spec.strategies`; problems name upstream fields.
pub(crate) fn add(
    e: &PluginEntry<'_>,
    common: &Common,
    draft: &mut Draft,
    problems: &mut Problems,
) {
    let at = &e.args_at;
    let s = &mut draft.spec.strategies;
    let key = e.name;
    let nested: Option<&str> = match key {
        "RemoveFailedPods" => {
            let Some(a) = args_of::<RemoveFailedPodsArgs>(e, problems) else {
                return;
            };
            check_namespaces(&a.namespaces, &at.key("namespaces"), problems);
            let mut p = RemoveFailedPodsParams::default();
            with_common!(p, common, a.namespaces, a.label_selector);
            let min = to_i64(
                a.min_pod_lifetime_seconds,
                &at.key("minPodLifetimeSeconds"),
                problems,
            );
            if min.is_none() && a.min_pod_lifetime_seconds.is_none() {
                draft.notes.push(format!(
                    "{}: RemoveFailedPods minPodLifetimeSeconds set to 3600, upstream's default \
                     (ours is no minimum)",
                    at
                ));
            }
            p.failed_pods = Some(FailedPods {
                reasons: a.reasons,
                exit_codes: a.exit_codes,
                including_init_containers: a.including_init_containers,
                exclude_owner_kinds: a.exclude_owner_kinds,
                // Upstream defaults it to an hour; ours has no minimum.
                min_pod_lifetime_seconds: min.or(Some(3600)),
            });
            s.remove_failed_pods = Some(wrap(p, e.enabled));
            Some("failedPods")
        }
        "PodLifeTime" => {
            let Some(a) = args_of::<PodLifeTimeArgs>(e, problems) else {
                return;
            };
            check_namespaces(&a.namespaces, &at.key("namespaces"), problems);
            if let Some(OwnerKinds {
                include: Some(i),
                exclude: Some(x),
            }) = &a.owner_kinds
                && !i.is_empty()
                && !x.is_empty()
            {
                problems.push(
                    &at.key("ownerKinds"),
                    "only one of include and exclude can be set",
                );
            }
            let conditions = a.conditions.map(|cs| {
                cs.into_iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let cat = at.key("conditions").index(i);
                        let f = PodConditionFilter {
                            type_: non_empty(c.type_),
                            status: non_empty(c.status),
                            reason: non_empty(c.reason),
                            min_time_since_last_transition_seconds: to_i64(
                                c.min_time_since_last_transition_seconds,
                                &cat.key("minTimeSinceLastTransitionSeconds"),
                                problems,
                            ),
                        };
                        if f == PodConditionFilter::default() {
                            problems.push(
                                &cat,
                                "at least one of type, status, reason and \
                                 minTimeSinceLastTransitionSeconds must be set",
                            );
                        }
                        f
                    })
                    .collect::<Vec<_>>()
            });
            let some = |len: Option<usize>| len.is_some_and(|l| l > 0);
            if a.max_pod_life_time_seconds.is_none()
                && !some(a.states.as_ref().map(Vec::len))
                && !some(conditions.as_ref().map(Vec::len))
                && !some(a.exit_codes.as_ref().map(Vec::len))
            {
                problems.push(
                    at,
                    "at least one filtering criterion must be specified (maxPodLifeTimeSeconds, \
                     states, conditions, or exitCodes)",
                );
            }
            let mut p = PodLifeTimeParams::default();
            with_common!(p, common, a.namespaces, a.label_selector);
            p.pod_life_time = Some(PodLifeTime {
                max_pod_life_time_seconds: to_i64(
                    a.max_pod_life_time_seconds,
                    &at.key("maxPodLifeTimeSeconds"),
                    problems,
                ),
                states: a.states,
                pod_status_phases: None,
                conditions,
                exit_codes: a.exit_codes,
                owner_kinds: a.owner_kinds,
                including_init_containers: a.including_init_containers,
                including_ephemeral_containers: a.including_ephemeral_containers,
            });
            s.pod_life_time = Some(wrap(p, e.enabled));
            Some("podLifeTime")
        }
        "RemovePodsHavingTooManyRestarts" => {
            let Some(a) = args_of::<TooManyRestartsArgs>(e, problems) else {
                return;
            };
            check_namespaces(&a.namespaces, &at.key("namespaces"), problems);
            if a.pod_restart_threshold.unwrap_or(0) < 1 {
                problems.push(
                    &at.key("podRestartThreshold"),
                    match a.pod_restart_threshold {
                        None => "must be set to at least 1 (upstream has no default)".to_string(),
                        Some(n) => format!("{n} is less than 1"),
                    },
                );
            }
            let mut p = TooManyRestartsParams::default();
            with_common!(p, common, a.namespaces, a.label_selector);
            p.pods_having_too_many_restarts = Some(PodsHavingTooManyRestarts {
                pod_restart_threshold: a.pod_restart_threshold,
                including_init_containers: a.including_init_containers,
                states: a.states,
            });
            s.remove_pods_having_too_many_restarts = Some(wrap(p, e.enabled));
            Some("podsHavingTooManyRestarts")
        }
        "RemovePodsViolatingNodeTaints" => {
            let Some(a) = args_of::<NodeTaintsArgs>(e, problems) else {
                return;
            };
            check_namespaces(&a.namespaces, &at.key("namespaces"), problems);
            let set = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|v| !v.is_empty());
            if set(&a.included_taints) && set(&a.excluded_taints) {
                problems.push(
                    &at.key("includedTaints"),
                    "either includedTaints or excludedTaints can be set, but not both",
                );
            }
            let mut p = NodeTaintsParams::default();
            with_common!(p, common, a.namespaces, a.label_selector);
            p.excluded_taints = a.excluded_taints;
            p.included_taints = a.included_taints;
            p.include_prefer_no_schedule = a.include_prefer_no_schedule;
            s.remove_pods_violating_node_taints = Some(wrap(p, e.enabled));
            None
        }
        "RemovePodsViolatingNodeAffinity" => {
            let Some(a) = args_of::<NodeAffinityArgs>(e, problems) else {
                return;
            };
            check_namespaces(&a.namespaces, &at.key("namespaces"), problems);
            if a.node_affinity_type.as_ref().is_none_or(|t| t.is_empty()) {
                problems.push(
                    &at.key("nodeAffinityType"),
                    "must be set (upstream v0.36 has no default): \
                     [requiredDuringSchedulingIgnoredDuringExecution] and/or \
                     preferredDuringSchedulingIgnoredDuringExecution",
                );
            }
            let mut p = NodeAffinityParams::default();
            with_common!(p, common, a.namespaces, a.label_selector);
            p.node_affinity_type = a.node_affinity_type;
            s.remove_pods_violating_node_affinity = Some(wrap(p, e.enabled));
            None
        }
        "RemovePodsViolatingInterPodAntiAffinity" => {
            let Some(a) = args_of::<InterPodAntiAffinityArgs>(e, problems) else {
                return;
            };
            check_namespaces(&a.namespaces, &at.key("namespaces"), problems);
            let mut p = InterPodAntiAffinityParams::default();
            with_common!(p, common, a.namespaces, a.label_selector);
            s.remove_pods_violating_inter_pod_anti_affinity = Some(wrap(p, e.enabled));
            None
        }
        "RemoveDuplicates" => {
            let Some(a) = args_of::<RemoveDuplicatesArgs>(e, problems) else {
                return;
            };
            check_namespaces(&a.namespaces, &at.key("namespaces"), problems);
            let mut p = RemoveDuplicatesParams::default();
            with_common!(p, common, a.namespaces, None);
            p.remove_duplicates = a.exclude_owner_kinds.map(|k| RemoveDuplicates {
                exclude_owner_kinds: Some(k),
            });
            s.remove_duplicates = Some(wrap(p, e.enabled));
            Some("removeDuplicates")
        }
        "RemovePodsViolatingTopologySpreadConstraint" => {
            let Some(a) = args_of::<TopologySpreadArgs>(e, problems) else {
                return;
            };
            check_namespaces(&a.namespaces, &at.key("namespaces"), problems);
            let mut p = TopologySpreadParams::default();
            with_common!(p, common, a.namespaces, a.label_selector);
            // Where the seed-002 field can say it, say it that way.
            let mut kinds = a.constraints.unwrap_or_default();
            kinds.sort();
            kinds.dedup();
            match kinds.as_slice() {
                [] => {}
                [WhenUnsatisfiable::DoNotSchedule] => p.include_soft_constraints = Some(false),
                [
                    WhenUnsatisfiable::DoNotSchedule,
                    WhenUnsatisfiable::ScheduleAnyway,
                ] => p.include_soft_constraints = Some(true),
                _ => p.constraints = Some(kinds),
            }
            p.topology_balance_node_fit = a.topology_balance_node_fit;
            s.remove_pods_violating_topology_spread_constraint = Some(wrap(p, e.enabled));
            None
        }
        "LowNodeUtilization" => {
            let Some(a) = args_of::<LowNodeUtilizationArgs>(e, problems) else {
                return;
            };
            let namespaces = evictable_namespaces(a.evictable_namespaces, at, problems);
            let metrics = metrics_utilization(a.metrics_utilization.as_ref(), at, problems);
            check_thresholds(&a.thresholds, &at.key("thresholds"), problems);
            check_thresholds(&a.target_thresholds, &at.key("targetThresholds"), problems);
            if let (Some(t), Some(tt)) = (&a.thresholds, &a.target_thresholds) {
                for r in t.keys().chain(tt.keys()) {
                    if !(t.contains_key(r) && tt.contains_key(r)) {
                        let which = if t.contains_key(r) {
                            "targetThresholds"
                        } else {
                            "thresholds"
                        };
                        problems.push(
                            &at.key(which),
                            format!("thresholds and targetThresholds must name the same resources; {r} is missing here"),
                        );
                    }
                }
                if !a.use_deviation_thresholds.unwrap_or(false) {
                    for (r, v) in t {
                        if tt.get(r).is_some_and(|target| v > target) {
                            problems.push(
                                &at.key("thresholds").key(r),
                                format!("{v} is greater than targetThresholds.{r}"),
                            );
                        }
                    }
                }
            }
            let mut p = LowNodeUtilizationParams::default();
            with_common!(p, common, namespaces, None);
            p.node_resource_utilization_thresholds = Some(LowThresholds {
                thresholds: a.thresholds,
                target_thresholds: a.target_thresholds,
                number_of_nodes: number_of_nodes(a.number_of_nodes, at, problems),
                use_deviation_thresholds: a.use_deviation_thresholds,
                eviction_limits: a.eviction_limits.map(|l| EvictionLimits {
                    node: to_i32(l.node, &at.key("evictionLimits").key("node"), problems),
                }),
                metrics_utilization: metrics,
            });
            s.low_node_utilization = Some(wrap(p, e.enabled));
            Some("nodeResourceUtilizationThresholds")
        }
        "HighNodeUtilization" => {
            let Some(a) = args_of::<HighNodeUtilizationArgs>(e, problems) else {
                return;
            };
            let namespaces = evictable_namespaces(a.evictable_namespaces, at, problems);
            check_thresholds(&a.thresholds, &at.key("thresholds"), problems);
            let mut p = HighNodeUtilizationParams::default();
            with_common!(p, common, namespaces, None);
            p.node_resource_utilization_thresholds = Some(HighThresholds {
                thresholds: a.thresholds,
                number_of_nodes: number_of_nodes(a.number_of_nodes, at, problems),
                eviction_modes: a.eviction_modes,
                metrics_utilization: None,
            });
            s.high_node_utilization = Some(wrap(p, e.enabled));
            Some("nodeResourceUtilizationThresholds")
        }
        other => {
            problems.push(&e.args_at, format!("{other} is not a strategy plugin"));
            return;
        }
    };
    let params = format!("spec.strategies.{key}.params");
    if let Some(n) = nested {
        draft.origins.push((format!("{params}.{n}"), at.clone()));
    }
    if let Some(ev) = &common.at {
        let pt = ev.key("priorityThreshold");
        draft
            .origins
            .push((format!("{params}.thresholdPriority"), pt.key("value")));
        draft.origins.push((
            format!("{params}.thresholdPriorityClassName"),
            pt.key("name"),
        ));
        draft
            .origins
            .push((format!("{params}.nodeFit"), ev.key("nodeFit")));
    }
    if matches!(key, "LowNodeUtilization" | "HighNodeUtilization") {
        draft.origins.push((
            format!("{params}.namespaces"),
            at.key("evictableNamespaces"),
        ));
    }
    draft.origins.push((params, at.clone()));
}

fn evictable_namespaces(
    ns: Option<Namespaces>,
    at: &At,
    problems: &mut Problems,
) -> Option<Namespaces> {
    let ns = ns?;
    if ns.include.as_ref().is_some_and(|i| !i.is_empty()) {
        problems.push(
            &at.key("evictableNamespaces").key("include"),
            "only exclude can be set for this plugin, inclusion is not supported (upstream rejects it too)",
        );
    }
    ns.exclude.map(|e| Namespaces {
        include: None,
        exclude: Some(e),
    })
}

fn number_of_nodes(n: Option<i64>, at: &At, problems: &mut Problems) -> Option<i32> {
    let n = n?;
    match i32::try_from(n) {
        Ok(v) if v >= 0 => Some(v),
        _ => {
            problems.push(&at.key("numberOfNodes"), format!("{n} is not a node count"));
            None
        }
    }
}

/// Upstream: at least one resource, each within 0..100.
fn check_thresholds(t: &Option<BTreeMap<String, f64>>, at: &At, problems: &mut Problems) {
    match t {
        None => problems.push(at, "no resource threshold is configured"),
        Some(m) if m.is_empty() => problems.push(at, "no resource threshold is configured"),
        Some(m) => {
            for (r, v) in m {
                if !(0.0..=100.0).contains(v) {
                    problems.push(&at.key(r), format!("{v} is outside 0..100"));
                }
            }
        }
    }
}

/// upstream's metricsUtilization (v0.36: `source`, or the deprecated
/// `metricsServer: true`) as ours; the Prometheus server itself is the
/// operator's `--prometheus-url` (see the metricsProviders note).
fn metrics_utilization(
    m: Option<&MetricsUtilization>,
    at: &At,
    problems: &mut Problems,
) -> Option<crate::api::MetricsUtilization> {
    let m = m?;
    let mat = at.key("metricsUtilization");
    match (m.source.as_deref(), m.metrics_server) {
        (Some("KubernetesMetrics"), _) | (None | Some(""), Some(true)) => {
            Some(crate::api::MetricsUtilization {
                source: crate::api::MetricsSource::KubernetesMetrics,
                prometheus: None,
            })
        }
        (Some("Prometheus"), _) => {
            let query = m
                .prometheus
                .as_ref()
                .and_then(|p| p.query.clone())
                .filter(|q| !q.trim().is_empty());
            if query.is_none() {
                problems.push(
                    &mat.key("prometheus").key("query"),
                    "a Prometheus source needs a query (upstream rejects it too)",
                );
            }
            Some(crate::api::MetricsUtilization {
                source: crate::api::MetricsSource::Prometheus,
                prometheus: Some(crate::api::PrometheusQuery { query }),
            })
        }
        (None | Some(""), _) => None,
        (Some(other), _) => {
            problems.push(
                &mat.key("source"),
                format!(
                    "{other:?} is not a supported metrics source (KubernetesMetrics, Prometheus)"
                ),
            );
            None
        }
    }
}
