//! Checks a spec against every rule of SPEC §1 and turns it into a [`Policy`].
//! Every error names the field path; all errors are reported at once. Each
//! strategy checks its own params (`Strategy::parse`); this module checks the
//! rest and the params every strategy shares.

use std::time::Duration;

use super::Policy;
use crate::api::{self, CommonParamsRef, DeschedulerPolicySpec, Namespaces};
use crate::plan::{
    CommonParams, EvictionRules, Limits, NamespaceFilter, NoEvictionPolicy, PlacementCheck, Rules,
    SingleReplica, eligibility::SYSTEM_CRITICAL_PRIORITY,
};
use crate::selectors::Selector;
use crate::strategies::registry;
use crate::validation::{Errors, ValidationErrors, parse_duration};

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15 * 60);
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);

/// Validates `spec`; `priority_class` looks up a PriorityClass's value by name.
pub fn validate(
    spec: &DeschedulerPolicySpec,
    priority_class: &dyn Fn(&str) -> Option<i32>,
) -> Result<Policy, ValidationErrors> {
    let mut errs = Errors::default();

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
    let cooldown = spec
        .cooldown
        .as_deref()
        .and_then(|s| {
            parse_duration(s)
                .map_err(|e| errs.push("spec.cooldown", e))
                .ok()
        })
        .unwrap_or_default();
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
    let non_negative = |v: Option<i32>, field: &str, errs: &mut Errors| -> Option<u32> {
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

    let strategies = registry::configure_all(
        &spec.strategies,
        &mut |common, at, errs| validate_common(common, at, priority_class, errs),
        &mut errs,
    );

    let eviction = EvictionRules {
        evict_local_storage_pods: spec.evict_local_storage_pods.unwrap_or(false),
        evict_system_critical_pods: spec.evict_system_critical_pods.unwrap_or(false),
        evict_daemon_set_pods: spec.evict_daemon_set_pods.unwrap_or(false),
        ignore_pvc_pods: spec.ignore_pvc_pods.unwrap_or(false),
        evict_failed_bare_pods: spec.evict_failed_bare_pods.unwrap_or(false),
        min_replicas,
        min_pod_age,
        ignore_pods_without_pdb: spec.ignore_pods_without_pdb.unwrap_or(false),
        namespace_selector,
        no_eviction_policy: match spec.no_eviction_policy.unwrap_or_default() {
            api::NoEvictionPolicy::Preferred => NoEvictionPolicy::Preferred,
            api::NoEvictionPolicy::Mandatory => NoEvictionPolicy::Mandatory,
        },
        placement_check: match spec.placement_check.unwrap_or_default() {
            api::PlacementCheck::Off => PlacementCheck::Off,
            api::PlacementCheck::Warn => PlacementCheck::Warn,
            api::PlacementCheck::Enforce => PlacementCheck::Enforce,
        },
        single_replica: match spec.single_replica_strategy.unwrap_or_default() {
            api::SingleReplicaStrategy::Skip => SingleReplica::Skip,
            api::SingleReplicaStrategy::Evict => SingleReplica::Evict,
            // At most one restart per run of the policy.
            api::SingleReplicaStrategy::RolloutRestart => SingleReplica::RolloutRestart {
                gap: interval.max(cooldown),
            },
        },
    };
    errs.into_result(Policy {
        interval,
        cooldown,
        dry_run: spec.dry_run.unwrap_or(false),
        manual_approval: spec.approval == Some(api::Approval::Manual),
        suspend: spec.suspend.unwrap_or(false),
        rules: Rules {
            node_selector,
            eviction,
            limits: Limits {
                per_node,
                per_namespace,
                total,
            },
            held: Default::default(),
        },
        grace_period_seconds: spec.grace_period_seconds,
        strategies,
    })
}

/// The params every strategy takes (`path` is the strategy's params).
fn validate_common(
    c: &CommonParamsRef<'_>,
    path: &str,
    pc: &dyn Fn(&str) -> Option<i32>,
    errs: &mut Errors,
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

#[cfg(test)]
#[path = "from_spec_tests.rs"]
mod tests;
