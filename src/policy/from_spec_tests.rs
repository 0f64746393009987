//! Validation against SPEC §1: one table row per rule, each asserting the exact
//! field path and that the message names the problem.

use std::time::Duration;

use super::*;
use crate::plan::NamespaceFilter;
use crate::validation::FieldError;

/// PriorityClasses the tests know about.
fn lookup(name: &str) -> Option<i32> {
    match name {
        "high" => Some(100_000),
        "system-cluster-critical" => Some(2_000_000_000),
        _ => None,
    }
}

fn parse(yaml: &str) -> DeschedulerPolicySpec {
    serde_yaml_ng::from_str(yaml)
        .unwrap_or_else(|e| panic!("test spec does not parse: {e}\n{yaml}"))
}

fn check(yaml: &str) -> Result<crate::policy::Policy, ValidationErrors> {
    validate(&parse(yaml), &lookup)
}

fn errors(yaml: &str) -> Vec<FieldError> {
    match check(yaml) {
        Ok(_) => panic!("expected the spec to be invalid:\n{yaml}"),
        Err(e) => e.0,
    }
}

fn valid(yaml: &str) -> crate::policy::Policy {
    check(yaml).unwrap_or_else(|e| panic!("expected the spec to be valid, got {e}\n{yaml}"))
}

const LOW: &str = "spec.strategies.LowNodeUtilization.params.nodeResourceUtilizationThresholds";

/// (what, spec, exact path, text the message must contain)
const INVALID: &[(&str, &str, &str, &str)] = &[
    (
        "low threshold above 100",
        "strategies: {LowNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {cpu: 120}, targetThresholds: {cpu: 100}}}}}",
        "spec.strategies.LowNodeUtilization.params.nodeResourceUtilizationThresholds.thresholds.cpu",
        "120 is outside 0..100",
    ),
    (
        "low target above 100",
        "strategies: {LowNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {memory: 10}, targetThresholds: {memory: 150}}}}}",
        "spec.strategies.LowNodeUtilization.params.nodeResourceUtilizationThresholds.targetThresholds.memory",
        "150 is outside 0..100",
    ),
    (
        "low threshold below 0",
        "strategies: {LowNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {memory: -5}, targetThresholds: {memory: 50}}}}}",
        "spec.strategies.LowNodeUtilization.params.nodeResourceUtilizationThresholds.thresholds.memory",
        "-5 is outside 0..100",
    ),
    (
        "low threshold not a number",
        "strategies: {LowNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {cpu: .nan}, targetThresholds: {cpu: 50}}}}}",
        "spec.strategies.LowNodeUtilization.params.nodeResourceUtilizationThresholds.thresholds.cpu",
        "NaN is outside 0..100",
    ),
    (
        "high threshold above 100",
        "strategies: {HighNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {pods: 101}}}}}",
        "spec.strategies.HighNodeUtilization.params.nodeResourceUtilizationThresholds.thresholds.pods",
        "101 is outside 0..100",
    ),
    (
        "high thresholds empty",
        "strategies: {HighNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {}}}}}",
        "spec.strategies.HighNodeUtilization.params.nodeResourceUtilizationThresholds.thresholds",
        "must list at least one resource",
    ),
    (
        "low without targetThresholds",
        "strategies: {LowNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {cpu: 20}}}}}",
        "spec.strategies.LowNodeUtilization.params.nodeResourceUtilizationThresholds.targetThresholds",
        "must list at least one resource",
    ),
    (
        "bad resource name (no domain)",
        "strategies: {HighNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {gpu: 50}}}}}",
        "spec.strategies.HighNodeUtilization.params.nodeResourceUtilizationThresholds.thresholds.gpu",
        "is not cpu, memory, pods or an extended resource name",
    ),
    (
        "bad resource name (kubernetes.io domain)",
        "strategies: {HighNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {kubernetes.io/foo: 50}}}}}",
        "spec.strategies.HighNodeUtilization.params.nodeResourceUtilizationThresholds.thresholds.kubernetes.io/foo",
        "is not cpu, memory, pods or an extended resource name",
    ),
    (
        "bad resource name (upper case)",
        "strategies: {HighNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {CPU: 10}}}}}",
        "spec.strategies.HighNodeUtilization.params.nodeResourceUtilizationThresholds.thresholds.CPU",
        "is not cpu, memory, pods or an extended resource name",
    ),
    (
        "low: thresholds lists a resource targetThresholds lacks",
        "strategies: {LowNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {cpu: 20, memory: 20}, targetThresholds: {cpu: 50}}}}}",
        "spec.strategies.LowNodeUtilization.params.nodeResourceUtilizationThresholds.targetThresholds",
        "has no entry for memory",
    ),
    (
        "low: targetThresholds lists a resource thresholds lacks",
        "strategies: {LowNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {cpu: 20}, targetThresholds: {cpu: 50, pods: 50}}}}}",
        "spec.strategies.LowNodeUtilization.params.nodeResourceUtilizationThresholds.thresholds",
        "has no entry for pods",
    ),
    (
        "low: threshold above its target",
        "strategies: {LowNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {cpu: 60}, targetThresholds: {cpu: 50}}}}}",
        "spec.strategies.LowNodeUtilization.params.nodeResourceUtilizationThresholds.thresholds.cpu",
        "60 is greater than targetThresholds.cpu (50)",
    ),
    (
        "namespaces include and exclude",
        "strategies: {RemoveDuplicates: {params: {namespaces: {include: [a], exclude: [b]}}}}",
        "spec.strategies.RemoveDuplicates.params.namespaces",
        "include and exclude are mutually exclusive",
    ),
    (
        "thresholdPriority and thresholdPriorityClassName",
        "strategies: {RemovePodsViolatingInterPodAntiAffinity: {params: {thresholdPriority: 10, thresholdPriorityClassName: high}}}",
        "spec.strategies.RemovePodsViolatingInterPodAntiAffinity.params",
        "thresholdPriority and thresholdPriorityClassName are mutually exclusive",
    ),
    (
        "unknown priority class",
        "strategies: {PodLifeTime: {params: {thresholdPriorityClassName: nope, podLifeTime: {maxPodLifeTimeSeconds: 60}}}}",
        "spec.strategies.PodLifeTime.params.thresholdPriorityClassName",
        "PriorityClass \"nope\" does not exist",
    ),
    (
        "podRestartThreshold 0",
        "strategies: {RemovePodsHavingTooManyRestarts: {params: {podsHavingTooManyRestarts: {podRestartThreshold: 0}}}}",
        "spec.strategies.RemovePodsHavingTooManyRestarts.params.podsHavingTooManyRestarts.podRestartThreshold",
        "0 must be at least 1",
    ),
    (
        "podRestartThreshold missing",
        "strategies: {RemovePodsHavingTooManyRestarts: {}}",
        "spec.strategies.RemovePodsHavingTooManyRestarts.params.podsHavingTooManyRestarts.podRestartThreshold",
        "is required",
    ),
    (
        "maxPodLifeTimeSeconds 0",
        "strategies: {PodLifeTime: {params: {podLifeTime: {maxPodLifeTimeSeconds: 0}}}}",
        "spec.strategies.PodLifeTime.params.podLifeTime.maxPodLifeTimeSeconds",
        "0 must be at least 1",
    ),
    (
        "maxPodLifeTimeSeconds negative",
        "strategies: {PodLifeTime: {params: {podLifeTime: {maxPodLifeTimeSeconds: -3}}}}",
        "spec.strategies.PodLifeTime.params.podLifeTime.maxPodLifeTimeSeconds",
        "-3 must be at least 1",
    ),
    (
        "PodLifeTime without any filter",
        "strategies: {PodLifeTime: {params: {podLifeTime: {includingInitContainers: true}}}}",
        "spec.strategies.PodLifeTime.params.podLifeTime",
        "needs at least one of maxPodLifeTimeSeconds, states, conditions and exitCodes",
    ),
    (
        "interval does not parse",
        "interval: soon",
        "spec.interval",
        "\"soon\" is not a duration",
    ),
    (
        "interval below 10s",
        "interval: 9s",
        "spec.interval",
        "9s is shorter than the minimum of 10s",
    ),
    ("interval negative", "interval: -1m", "spec.interval", "-1m"),
    (
        "minPodAge does not parse",
        "minPodAge: ten minutes",
        "spec.minPodAge",
        "\"ten minutes\" is not a duration",
    ),
    (
        "nodeSelector does not parse",
        "nodeSelector: 'zone in a'",
        "spec.nodeSelector",
        "cannot parse \"zone in a\"",
    ),
    (
        "nodeSelector unbalanced",
        "nodeSelector: 'zone in (a'",
        "spec.nodeSelector",
        "cannot parse",
    ),
    (
        "labelSelector unknown operator",
        "strategies: {RemoveDuplicates: {params: {labelSelector: {matchExpressions: [{key: app, operator: Equals, values: [web]}]}}}}",
        "spec.strategies.RemoveDuplicates.params.labelSelector",
        "unknown operator \"Equals\"",
    ),
    (
        "labelSelector In without values",
        "strategies: {RemovePodsViolatingNodeTaints: {params: {labelSelector: {matchExpressions: [{key: app, operator: In}]}}}}",
        "spec.strategies.RemovePodsViolatingNodeTaints.params.labelSelector",
        "operator In needs at least one value",
    ),
    (
        "labelSelector Exists with values",
        "strategies: {RemovePodsViolatingNodeTaints: {params: {labelSelector: {matchExpressions: [{key: app, operator: Exists, values: [x]}]}}}}",
        "spec.strategies.RemovePodsViolatingNodeTaints.params.labelSelector",
        "operator Exists takes no values",
    ),
    (
        "namespaceLabelSelector unknown operator",
        "namespaceLabelSelector: {matchExpressions: [{key: team, operator: Like, values: [a]}]}",
        "spec.namespaceLabelSelector",
        "unknown operator \"Like\"",
    ),
    (
        "gracePeriodSeconds negative",
        "gracePeriodSeconds: -1",
        "spec.gracePeriodSeconds",
        "-1 is negative",
    ),
    (
        "maxNoOfPodsToEvictPerNode negative",
        "maxNoOfPodsToEvictPerNode: -1",
        "spec.maxNoOfPodsToEvictPerNode",
        "-1 is negative",
    ),
    (
        "maxNoOfPodsToEvictPerNamespace negative",
        "maxNoOfPodsToEvictPerNamespace: -2",
        "spec.maxNoOfPodsToEvictPerNamespace",
        "-2 is negative",
    ),
    (
        "maxNoOfPodsToEvictTotal negative",
        "maxNoOfPodsToEvictTotal: -3",
        "spec.maxNoOfPodsToEvictTotal",
        "-3 is negative",
    ),
    (
        "minReplicas negative",
        "minReplicas: -1",
        "spec.minReplicas",
        "-1 is negative",
    ),
    (
        "minPodLifetimeSeconds negative",
        "strategies: {RemoveFailedPods: {params: {failedPods: {minPodLifetimeSeconds: -10}}}}",
        "spec.strategies.RemoveFailedPods.params.failedPods.minPodLifetimeSeconds",
        "-10 is negative",
    ),
    (
        "excludedTaints entry without key",
        "strategies: {RemovePodsViolatingNodeTaints: {params: {excludedTaints: [ok, '=v']}}}",
        "spec.strategies.RemovePodsViolatingNodeTaints.params.excludedTaints[1]",
        "\"=v\" is not `key` or `key=value`",
    ),
    (
        "includedTaints empty entry",
        "strategies: {RemovePodsViolatingNodeTaints: {params: {includedTaints: ['']}}}",
        "spec.strategies.RemovePodsViolatingNodeTaints.params.includedTaints[0]",
        "is not `key` or `key=value`",
    ),
    (
        "nodeAffinityType empty",
        "strategies: {RemovePodsViolatingNodeAffinity: {params: {nodeAffinityType: []}}}",
        "spec.strategies.RemovePodsViolatingNodeAffinity.params.nodeAffinityType",
        "must name at least one affinity type",
    ),
];

#[test]
fn each_rule_reports_its_path_and_problem() {
    for (what, yaml, path, message) in INVALID {
        let errs = errors(yaml);
        let hit = errs
            .iter()
            .find(|e| e.path == *path && e.message.contains(message));
        let Some(hit) = hit else {
            panic!("{what}: no error at {path} containing {message:?}, got {errs:?}");
        };
        // The rendered form leads with the path, as status conditions and events show it.
        assert!(hit.to_string().starts_with(&format!("{path}: ")), "{what}");
        // Nothing else is wrong with these specs, except where one mistake breaks
        // two rules: a threshold above 100 is also above its target, and a missing
        // targetThresholds map also lacks the resources thresholds lists.
        let also = errs.iter().filter(|e| *e != hit).collect::<Vec<_>>();
        let expected_extra = usize::from(matches!(
            *what,
            "low threshold above 100" | "low without targetThresholds"
        ));
        assert_eq!(
            also.len(),
            expected_extra,
            "{what}: unexpected extra errors {also:?}"
        );
    }
}

/// Boundary values that must pass.
const VALID: &[(&str, &str)] = &[
    (
        "thresholds at 0 and 100",
        "strategies: {LowNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {cpu: 0}, targetThresholds: {cpu: 100}}}}}",
    ),
    (
        "threshold equal to target",
        "strategies: {LowNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {cpu: 50}, targetThresholds: {cpu: 50}}}}}",
    ),
    (
        "extended resource",
        "strategies: {HighNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {nvidia.com/gpu: 50, example.com/foo_bar: 1}}}}}",
    ),
    (
        "deviation thresholds may exceed targets",
        "strategies: {LowNodeUtilization: {params: {nodeResourceUtilizationThresholds: {useDeviationThresholds: true, thresholds: {cpu: 30}, targetThresholds: {cpu: 10}}}}}",
    ),
    (
        "include alone",
        "strategies: {RemoveDuplicates: {params: {namespaces: {include: [a]}}}}",
    ),
    (
        "exclude alone",
        "strategies: {RemoveDuplicates: {params: {namespaces: {exclude: [a]}}}}",
    ),
    (
        "known priority class",
        "strategies: {RemoveDuplicates: {params: {thresholdPriorityClassName: high}}}",
    ),
    (
        "podRestartThreshold 1",
        "strategies: {RemovePodsHavingTooManyRestarts: {params: {podsHavingTooManyRestarts: {podRestartThreshold: 1}}}}",
    ),
    (
        "maxPodLifeTimeSeconds 1",
        "strategies: {PodLifeTime: {params: {podLifeTime: {maxPodLifeTimeSeconds: 1}}}}",
    ),
    ("interval exactly 10s", "interval: 10s"),
    ("interval compound", "interval: 1h30m"),
    ("minPodAge", "minPodAge: 10m"),
    (
        "nodeSelector",
        "nodeSelector: 'node-role/worker,zone in (a,b),!gpu'",
    ),
    (
        "labelSelector operators",
        "strategies: {RemoveDuplicates: {params: {labelSelector: {matchExpressions: [{key: a, operator: In, values: [x]}, {key: b, operator: NotIn, values: [y]}, {key: c, operator: Exists}, {key: d, operator: DoesNotExist}]}}}}",
    ),
    (
        "taint matchers",
        "strategies: {RemovePodsViolatingNodeTaints: {params: {excludedTaints: [a, b=c], includedTaints: [d]}}}",
    ),
    ("empty spec", "{}"),
];

#[test]
fn boundary_values_are_accepted() {
    for (what, yaml) in VALID {
        if let Err(e) = check(yaml) {
            panic!("{what}: {e}");
        }
    }
}

#[test]
fn unknown_state_is_rejected_when_deserializing() {
    let bad = "strategies: {PodLifeTime: {params: {podLifeTime: {maxPodLifeTimeSeconds: 60, states: [Running, Sleeping]}}}}";
    let err = serde_yaml_ng::from_str::<DeschedulerPolicySpec>(bad)
        .expect_err("Sleeping is not a pod state")
        .to_string();
    assert!(err.contains("Sleeping"), "{err}");
    // The deprecated alias is checked the same way.
    let bad = "strategies: {PodLifeTime: {params: {podLifeTime: {maxPodLifeTimeSeconds: 60, podStatusPhases: [Dead]}}}}";
    assert!(serde_yaml_ng::from_str::<DeschedulerPolicySpec>(bad).is_err());
    // Unknown nodeAffinityType values too.
    let bad =
        "strategies: {RemovePodsViolatingNodeAffinity: {params: {nodeAffinityType: [sometimes]}}}";
    assert!(serde_yaml_ng::from_str::<DeschedulerPolicySpec>(bad).is_err());
}

#[test]
fn interval_defaults_and_parses() {
    assert_eq!(valid("{}").interval, Duration::from_secs(15 * 60));
    assert_eq!(valid("interval: 10s").interval, Duration::from_secs(10));
    assert_eq!(
        valid("interval: 1h30m").interval,
        Duration::from_secs(90 * 60)
    );
    assert_eq!(
        valid("minPodAge: 10m").rules.eviction.min_pod_age,
        Some(Duration::from_secs(600))
    );
    assert_eq!(valid("{}").rules.eviction.min_pod_age, None);
}

#[test]
fn node_selector_is_applied() {
    let p = valid("nodeSelector: 'role=worker,zone!=a'");
    let labels = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert!(
        p.rules
            .node_selector
            .matches(&labels(&[("role", "worker"), ("zone", "b")]))
    );
    assert!(
        !p.rules
            .node_selector
            .matches(&labels(&[("role", "worker"), ("zone", "a")]))
    );
    assert!(valid("{}").rules.node_selector.matches(&labels(&[])));
}

#[test]
fn priority_threshold_comes_from_the_value_or_the_class() {
    let threshold = |yaml: &str| valid(yaml).strategies[0].common.priority_threshold;
    assert_eq!(
        threshold("strategies: {RemoveDuplicates: {}}"),
        crate::plan::eligibility::SYSTEM_CRITICAL_PRIORITY
    );
    assert_eq!(
        threshold("strategies: {RemoveDuplicates: {params: {thresholdPriority: 42}}}"),
        42
    );
    assert_eq!(
        threshold("strategies: {RemoveDuplicates: {params: {thresholdPriorityClassName: high}}}"),
        100_000
    );
}

#[test]
fn namespaces_become_a_filter() {
    let p =
        valid("strategies: {RemoveDuplicates: {params: {namespaces: {exclude: [kube-system]}}}}");
    assert_eq!(
        p.strategies[0].common.namespaces,
        NamespaceFilter::Exclude(vec!["kube-system".into()])
    );
    assert!(!p.strategies[0].common.namespaces.allows("kube-system"));
    assert!(p.strategies[0].common.namespaces.allows("default"));
}

#[test]
fn disabled_strategies_are_skipped() {
    let p = valid(
        "strategies: {RemoveDuplicates: {enabled: false}, RemoveFailedPods: {enabled: true}, PodLifeTime: {enabled: false, params: {podLifeTime: {maxPodLifeTimeSeconds: 5}}}}",
    );
    let names: Vec<&str> = p.strategies.iter().map(|s| s.name()).collect();
    assert_eq!(names, ["RemoveFailedPods"]);
}

#[test]
fn all_errors_are_reported_at_once() {
    let yaml = r#"
interval: 5s
nodeSelector: "zone in a"
strategies:
  RemoveDuplicates: {params: {namespaces: {include: [a], exclude: [b]}}}
  PodLifeTime: {params: {podLifeTime: {maxPodLifeTimeSeconds: 0}}}
  LowNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {cpu: 20}, targetThresholds: {cpu: 120}}}}
"#;
    let errs = errors(yaml);
    assert_eq!(errs.len(), 5, "{errs:?}");
    let mut paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "spec.interval",
            "spec.nodeSelector",
            "spec.strategies.LowNodeUtilization.params.nodeResourceUtilizationThresholds.targetThresholds.cpu",
            "spec.strategies.PodLifeTime.params.podLifeTime.maxPodLifeTimeSeconds",
            "spec.strategies.RemoveDuplicates.params.namespaces",
        ],
        "{errs:?}"
    );
    // The Display form joins them all.
    let shown = ValidationErrors(errs).to_string();
    assert_eq!(shown.matches("; ").count(), 4, "{shown}");
}

#[test]
fn a_strategy_with_several_problems_reports_each() {
    let errs = errors(
        "strategies: {LowNodeUtilization: {params: {thresholdPriority: 1, thresholdPriorityClassName: nope, labelSelector: {matchExpressions: [{key: a, operator: Is}]}, nodeResourceUtilizationThresholds: {thresholds: {cpu: 120, gpu: 5}, targetThresholds: {cpu: 101}}}}}",
    );
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert!(
        paths.contains(&"spec.strategies.LowNodeUtilization.params"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"spec.strategies.LowNodeUtilization.params.labelSelector"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&format!("{LOW}.thresholds.cpu").as_str()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&format!("{LOW}.thresholds.gpu").as_str()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&format!("{LOW}.targetThresholds.cpu").as_str()),
        "{paths:?}"
    );
}

#[test]
fn limits_and_flags_are_carried_over() {
    let p = valid(
        "dryRun: true\nmaxNoOfPodsToEvictPerNode: 0\nmaxNoOfPodsToEvictPerNamespace: 5\nmaxNoOfPodsToEvictTotal: 20\nminReplicas: 2\nnoEvictionPolicy: Mandatory\nevictFailedBarePods: true",
    );
    assert!(p.dry_run);
    assert_eq!(
        p.rules.limits,
        crate::plan::Limits {
            per_node: Some(0),
            per_namespace: Some(5),
            total: Some(20)
        }
    );
    assert_eq!(p.rules.eviction.min_replicas, 2);
    assert_eq!(
        p.rules.eviction.no_eviction_policy,
        NoEvictionPolicy::Mandatory
    );
    assert!(p.rules.eviction.evict_failed_bare_pods);
    assert!(!p.rules.eviction.evict_daemon_set_pods);
}
