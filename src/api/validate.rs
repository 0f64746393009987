//! Checks a spec against every rule of SPEC §1 and turns it into a [`Policy`].
//! Every error names the field path; all errors are reported at once.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::spec::*;
use crate::policy::{
    CommonParams, EvictionRules, Limits, NamespaceFilter, Policy, SYSTEM_CRITICAL_PRIORITY,
    StrategyConfig, StrategyParams, TaintMatcher, Thresholds,
};
use crate::selectors::Selector;

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15 * 60);
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);
const NATIVE_RESOURCES: [&str; 3] = ["cpu", "memory", "pods"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in a spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

#[derive(Default)]
struct Collector(Vec<FieldError>);

impl Collector {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// Parses a Go-style duration ("90s", "1h30m"); negative durations are rejected.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d =
        kube::core::Duration::from_str(s).map_err(|e| format!("{s:?} is not a duration ({e})"))?;
    if d.is_negative() {
        return Err(format!("{s:?} is negative"));
    }
    Ok(d.into())
}

/// Validates `spec`; `priority_class` looks up a PriorityClass's value by name.
pub fn validate(
    spec: &DeschedulerPolicySpec,
    priority_class: &dyn Fn(&str) -> Option<i32>,
) -> Result<Policy, ValidationErrors> {
    let mut errs = Collector::default();

    let interval = match spec.interval.as_deref() {
        None => DEFAULT_INTERVAL,
        Some(s) => match parse_duration(s) {
            Ok(d) if d < MIN_INTERVAL => {
                errs.push(
                    "spec.interval",
                    format!("{s} is shorter than the minimum of 10s"),
                );
                DEFAULT_INTERVAL
            }
            Ok(d) => d,
            Err(e) => {
                errs.push("spec.interval", e);
                DEFAULT_INTERVAL
            }
        },
    };
    let min_pod_age = spec.min_pod_age.as_deref().and_then(|s| {
        parse_duration(s)
            .map_err(|e| errs.push("spec.minPodAge", e))
            .ok()
    });
    let node_selector = match spec.node_selector.as_deref() {
        None => Selector::everything(),
        Some(s) => Selector::parse(s).unwrap_or_else(|e| {
            errs.push("spec.nodeSelector", e.to_string());
            Selector::everything()
        }),
    };
    let namespace_selector = spec.namespace_label_selector.as_ref().and_then(|s| {
        Selector::from_label_selector(s)
            .map_err(|e| errs.push("spec.namespaceLabelSelector", e.to_string()))
            .ok()
    });
    let non_negative = |v: Option<i32>, field: &str, errs: &mut Collector| -> Option<u32> {
        match v {
            Some(n) if n < 0 => {
                errs.push(format!("spec.{field}"), format!("{n} is negative"));
                None
            }
            other => other.map(|n| n.unsigned_abs()),
        }
    };
    let per_node = non_negative(
        spec.max_no_of_pods_to_evict_per_node,
        "maxNoOfPodsToEvictPerNode",
        &mut errs,
    );
    let per_namespace = non_negative(
        spec.max_no_of_pods_to_evict_per_namespace,
        "maxNoOfPodsToEvictPerNamespace",
        &mut errs,
    );
    let total = non_negative(
        spec.max_no_of_pods_to_evict_total,
        "maxNoOfPodsToEvictTotal",
        &mut errs,
    );
    let min_replicas = non_negative(spec.min_replicas, "minReplicas", &mut errs).unwrap_or(0);
    if let Some(g) = spec.grace_period_seconds
        && g < 0
    {
        errs.push("spec.gracePeriodSeconds", format!("{g} is negative"));
    }

    let strategies = validate_strategies(&spec.strategies, priority_class, &mut errs);

    if !errs.0.is_empty() {
        return Err(ValidationErrors(errs.0));
    }
    Ok(Policy {
        interval,
        dry_run: spec.dry_run.unwrap_or(false),
        suspend: spec.suspend.unwrap_or(false),
        node_selector,
        eviction: EvictionRules {
            evict_local_storage_pods: spec.evict_local_storage_pods.unwrap_or(false),
            evict_system_critical_pods: spec.evict_system_critical_pods.unwrap_or(false),
            evict_daemon_set_pods: spec.evict_daemon_set_pods.unwrap_or(false),
            ignore_pvc_pods: spec.ignore_pvc_pods.unwrap_or(false),
            evict_failed_bare_pods: spec.evict_failed_bare_pods.unwrap_or(false),
            min_replicas,
            min_pod_age,
            ignore_pods_without_pdb: spec.ignore_pods_without_pdb.unwrap_or(false),
            namespace_selector,
            no_eviction_policy: spec.no_eviction_policy.unwrap_or_default(),
        },
        limits: Limits {
            per_node,
            per_namespace,
            total,
        },
        grace_period_seconds: spec.grace_period_seconds,
        strategies,
    })
}

fn validate_strategies(
    s: &Strategies,
    pc: &dyn Fn(&str) -> Option<i32>,
    errs: &mut Collector,
) -> Vec<StrategyConfig> {
    let mut out = Vec::new();
    // The order here is the run order of SPEC §2.
    macro_rules! each {
        ($field:ident, $name:literal, $conv:expr) => {
            if let Some(st) = &s.$field
                && st.enabled.unwrap_or(true)
            {
                let path = format!("spec.strategies.{}.params", $name);
                let params = st.params.clone().unwrap_or_default();
                let common = validate_common(&params.common(), &path, pc, errs);
                #[allow(clippy::redundant_closure_call)]
                if let Some(params) = ($conv)(&params, &path, &mut *errs) {
                    out.push(StrategyConfig { common, params });
                }
            }
        };
    }
    each!(remove_failed_pods, "RemoveFailedPods", remove_failed_pods);
    each!(pod_life_time, "PodLifeTime", pod_life_time);
    each!(
        remove_pods_having_too_many_restarts,
        "RemovePodsHavingTooManyRestarts",
        too_many_restarts
    );
    each!(
        remove_pods_violating_node_taints,
        "RemovePodsViolatingNodeTaints",
        node_taints
    );
    each!(
        remove_pods_violating_node_affinity,
        "RemovePodsViolatingNodeAffinity",
        node_affinity
    );
    each!(
        remove_pods_violating_inter_pod_anti_affinity,
        "RemovePodsViolatingInterPodAntiAffinity",
        |_: &InterPodAntiAffinityParams, _: &str, _: &mut Collector| Some(
            StrategyParams::InterPodAntiAffinity
        )
    );
    each!(remove_duplicates, "RemoveDuplicates", remove_duplicates);
    each!(
        remove_pods_violating_topology_spread_constraint,
        "RemovePodsViolatingTopologySpreadConstraint",
        topology_spread
    );
    each!(
        low_node_utilization,
        "LowNodeUtilization",
        low_node_utilization
    );
    each!(
        high_node_utilization,
        "HighNodeUtilization",
        high_node_utilization
    );
    out
}

fn validate_common(
    c: &CommonParamsRef<'_>,
    path: &str,
    pc: &dyn Fn(&str) -> Option<i32>,
    errs: &mut Collector,
) -> CommonParams {
    let namespaces = match c.namespaces {
        None => NamespaceFilter::All,
        Some(Namespaces {
            include: Some(_),
            exclude: Some(_),
        }) => {
            errs.push(
                format!("{path}.namespaces"),
                "include and exclude are mutually exclusive",
            );
            NamespaceFilter::All
        }
        Some(Namespaces {
            include: Some(i), ..
        }) => NamespaceFilter::Include(i.clone()),
        Some(Namespaces {
            exclude: Some(e), ..
        }) => NamespaceFilter::Exclude(e.clone()),
        Some(_) => NamespaceFilter::All,
    };
    let priority_threshold = match (c.threshold_priority, c.threshold_priority_class_name) {
        (Some(_), Some(_)) => {
            errs.push(
                path,
                "thresholdPriority and thresholdPriorityClassName are mutually exclusive",
            );
            SYSTEM_CRITICAL_PRIORITY
        }
        (Some(p), None) => p,
        (None, Some(name)) => pc(name).unwrap_or_else(|| {
            errs.push(
                format!("{path}.thresholdPriorityClassName"),
                format!("PriorityClass {name:?} does not exist"),
            );
            SYSTEM_CRITICAL_PRIORITY
        }),
        (None, None) => SYSTEM_CRITICAL_PRIORITY,
    };
    let label_selector = c.label_selector.and_then(|s| {
        Selector::from_label_selector(s)
            .map_err(|e| errs.push(format!("{path}.labelSelector"), e.to_string()))
            .ok()
    });
    CommonParams {
        namespaces,
        priority_threshold,
        label_selector,
        node_fit: c.node_fit.unwrap_or(false),
    }
}

fn remove_failed_pods(
    p: &RemoveFailedPodsParams,
    path: &str,
    errs: &mut Collector,
) -> Option<StrategyParams> {
    let f = p.failed_pods.clone().unwrap_or_default();
    if let Some(s) = f.min_pod_lifetime_seconds
        && s < 0
    {
        errs.push(
            format!("{path}.failedPods.minPodLifetimeSeconds"),
            format!("{s} is negative"),
        );
    }
    Some(StrategyParams::RemoveFailedPods {
        reasons: f.reasons.unwrap_or_default(),
        including_init_containers: f.including_init_containers.unwrap_or(false),
        exclude_owner_kinds: f.exclude_owner_kinds.unwrap_or_default(),
        min_pod_lifetime_seconds: f.min_pod_lifetime_seconds,
    })
}

fn pod_life_time(
    p: &PodLifeTimeParams,
    path: &str,
    errs: &mut Collector,
) -> Option<StrategyParams> {
    let l = p.pod_life_time.clone().unwrap_or_default();
    let field = format!("{path}.podLifeTime.maxPodLifeTimeSeconds");
    let max = match l.max_pod_life_time_seconds {
        None => {
            errs.push(field, "is required");
            return None;
        }
        Some(s) if s < 1 => {
            errs.push(field, format!("{s} must be at least 1"));
            return None;
        }
        Some(s) => s,
    };
    let mut states = l.states.unwrap_or_default();
    states.extend(l.pod_status_phases.unwrap_or_default());
    states.sort();
    states.dedup();
    Some(StrategyParams::PodLifeTime {
        max_pod_life_time_seconds: max,
        states,
    })
}

fn too_many_restarts(
    p: &TooManyRestartsParams,
    path: &str,
    errs: &mut Collector,
) -> Option<StrategyParams> {
    let r = p.pods_having_too_many_restarts.clone().unwrap_or_default();
    let field = format!("{path}.podsHavingTooManyRestarts.podRestartThreshold");
    match r.pod_restart_threshold {
        None => {
            errs.push(field, "is required");
            None
        }
        Some(t) if t < 1 => {
            errs.push(field, format!("{t} must be at least 1"));
            None
        }
        Some(threshold) => Some(StrategyParams::TooManyRestarts {
            threshold,
            including_init_containers: r.including_init_containers.unwrap_or(false),
        }),
    }
}

fn node_taints(p: &NodeTaintsParams, path: &str, errs: &mut Collector) -> Option<StrategyParams> {
    let parse = |list: &[String], field: &str, errs: &mut Collector| -> Vec<TaintMatcher> {
        list.iter()
            .enumerate()
            .filter_map(|(i, s)| {
                if s.is_empty() || s.starts_with('=') {
                    errs.push(
                        format!("{path}.{field}[{i}]"),
                        format!("{s:?} is not `key` or `key=value`"),
                    );
                    None
                } else {
                    Some(TaintMatcher::parse(s))
                }
            })
            .collect()
    };
    let excluded_taints = parse(
        p.excluded_taints.as_deref().unwrap_or_default(),
        "excludedTaints",
        errs,
    );
    let included_taints = p
        .included_taints
        .as_deref()
        .map(|l| parse(l, "includedTaints", errs));
    Some(StrategyParams::NodeTaints {
        excluded_taints,
        included_taints,
        include_prefer_no_schedule: p.include_prefer_no_schedule.unwrap_or(false),
    })
}

fn node_affinity(
    p: &NodeAffinityParams,
    path: &str,
    errs: &mut Collector,
) -> Option<StrategyParams> {
    let types = p
        .node_affinity_type
        .clone()
        .unwrap_or_else(|| vec![NodeAffinityType::Required]);
    if types.is_empty() {
        errs.push(
            format!("{path}.nodeAffinityType"),
            "must name at least one affinity type",
        );
        return None;
    }
    Some(StrategyParams::NodeAffinity {
        required: types.contains(&NodeAffinityType::Required),
        preferred: types.contains(&NodeAffinityType::Preferred),
    })
}

fn remove_duplicates(
    p: &RemoveDuplicatesParams,
    _path: &str,
    _errs: &mut Collector,
) -> Option<StrategyParams> {
    Some(StrategyParams::RemoveDuplicates {
        exclude_owner_kinds: p
            .remove_duplicates
            .as_ref()
            .and_then(|r| r.exclude_owner_kinds.clone())
            .unwrap_or_default(),
    })
}

fn topology_spread(
    p: &TopologySpreadParams,
    _path: &str,
    _errs: &mut Collector,
) -> Option<StrategyParams> {
    Some(StrategyParams::TopologySpread {
        include_soft_constraints: p.include_soft_constraints.unwrap_or(false),
        topology_balance_node_fit: p.topology_balance_node_fit.unwrap_or(true),
    })
}

/// An extended resource name is domain-qualified (`example.com/gpu`) outside kubernetes.io.
fn valid_resource_name(name: &str) -> bool {
    if NATIVE_RESOURCES.contains(&name) {
        return true;
    }
    match name.split_once('/') {
        Some((domain, res)) => {
            !domain.is_empty()
                && !res.is_empty()
                && !domain.ends_with("kubernetes.io")
                && domain
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
                && res
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        }
        None => false,
    }
}

fn check_thresholds(
    map: Option<&Thresholds>,
    field: &str,
    errs: &mut Collector,
) -> Option<Thresholds> {
    let Some(map) = map.filter(|m| !m.is_empty()) else {
        errs.push(field, "must list at least one resource");
        return None;
    };
    let mut ok = true;
    for (name, v) in map {
        if !valid_resource_name(name) {
            errs.push(
                format!("{field}.{name}"),
                "is not cpu, memory, pods or an extended resource name (domain/name)",
            );
            ok = false;
        }
        if !(0.0..=100.0).contains(v) || v.is_nan() {
            errs.push(format!("{field}.{name}"), format!("{v} is outside 0..100"));
            ok = false;
        }
    }
    ok.then(|| map.clone())
}

/// A native resource missing from the maps counts as 100 (SPEC §1).
fn fill_natives(map: &mut Thresholds) {
    for r in NATIVE_RESOURCES {
        map.entry(r.to_string()).or_insert(100.0);
    }
}

fn low_node_utilization(
    p: &LowNodeUtilizationParams,
    path: &str,
    errs: &mut Collector,
) -> Option<StrategyParams> {
    let base = format!("{path}.nodeResourceUtilizationThresholds");
    let t = p
        .node_resource_utilization_thresholds
        .clone()
        .unwrap_or_default();
    let deviation = t.use_deviation_thresholds.unwrap_or(false);
    let thresholds = check_thresholds(t.thresholds.as_ref(), &format!("{base}.thresholds"), errs);
    let targets = check_thresholds(
        t.target_thresholds.as_ref(),
        &format!("{base}.targetThresholds"),
        errs,
    );
    let mut ok = thresholds.is_some() && targets.is_some();
    let mut thresholds = thresholds
        .or_else(|| t.thresholds.clone())
        .unwrap_or_default();
    let mut target_thresholds = targets
        .or_else(|| t.target_thresholds.clone())
        .unwrap_or_default();
    for name in thresholds
        .keys()
        .filter(|k| !target_thresholds.contains_key(*k))
    {
        errs.push(
            format!("{base}.targetThresholds"),
            format!("has no entry for {name}, which thresholds lists"),
        );
        ok = false;
    }
    for name in target_thresholds
        .keys()
        .filter(|k| !thresholds.contains_key(*k))
    {
        errs.push(
            format!("{base}.thresholds"),
            format!("has no entry for {name}, which targetThresholds lists"),
        );
        ok = false;
    }
    if !deviation {
        for (name, low) in &thresholds {
            if let Some(high) = target_thresholds.get(name)
                && low > high
            {
                errs.push(
                    format!("{base}.thresholds.{name}"),
                    format!("{low} is greater than targetThresholds.{name} ({high})"),
                );
                ok = false;
            }
        }
        fill_natives(&mut thresholds);
        fill_natives(&mut target_thresholds);
    }
    ok.then_some(StrategyParams::LowNodeUtilization {
        thresholds,
        target_thresholds,
        number_of_nodes: t.number_of_nodes.unwrap_or(0).max(0).unsigned_abs(),
        use_deviation_thresholds: deviation,
    })
}

fn high_node_utilization(
    p: &HighNodeUtilizationParams,
    path: &str,
    errs: &mut Collector,
) -> Option<StrategyParams> {
    let base = format!("{path}.nodeResourceUtilizationThresholds");
    let t = p
        .node_resource_utilization_thresholds
        .clone()
        .unwrap_or_default();
    let mut thresholds =
        check_thresholds(t.thresholds.as_ref(), &format!("{base}.thresholds"), errs)?;
    fill_natives(&mut thresholds);
    Some(StrategyParams::HighNodeUtilization {
        thresholds,
        number_of_nodes: t.number_of_nodes.unwrap_or(0).max(0).unsigned_abs(),
    })
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
