//! The CEL rules (`x-kubernetes-validations`) of the generated CRD, evaluated
//! client-side with kube's CEL validator: each rule accepts good values and
//! rejects bad ones, and every rule in the CRD is exercised.
//!
//! Needs the `cel` feature of kube (a dev-dependency), so this target is
//! declared in Cargo.toml rather than discovered.

// Test and tool code may panic on what it built itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use kube::CustomResourceExt;
use kube::core::cel::{ValidationError, Validator, compile_schema};
use serde_json::{Value, json};

use descheduler::api::DeschedulerPolicy;

fn schema() -> Value {
    let crd = DeschedulerPolicy::crd();
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("the CRD has a schema");
    serde_json::to_value(schema).expect("the schema serializes")
}

/// Every rule in the schema, with its message.
fn rules_in(schema: &Value, out: &mut BTreeSet<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Array(rules)) = map.get("x-kubernetes-validations") {
                for r in rules {
                    out.insert(r["rule"].as_str().expect("a rule is a string").to_string());
                }
            }
            for v in map.values() {
                rules_in(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| rules_in(v, out)),
        _ => {}
    }
}

fn object(spec: Value) -> Value {
    json!({
        "apiVersion": "descheduler.dev/v1alpha1",
        "kind": "DeschedulerPolicy",
        "metadata": {"name": "test"},
        "spec": spec,
    })
}

fn run(schema: &Value, spec: Value) -> Vec<ValidationError> {
    match Validator::new().validate(schema, &object(spec), None) {
        Ok(()) => Vec::new(),
        Err(errs) => errs.into_vec(),
    }
}

fn low(thresholds: Value) -> Value {
    json!({"strategies": {"LowNodeUtilization": {"params": {"nodeResourceUtilizationThresholds": thresholds}}}})
}

fn high(thresholds: Value) -> Value {
    json!({"strategies": {"HighNodeUtilization": {"params": {"nodeResourceUtilizationThresholds": thresholds}}}})
}

fn strategy(name: &str, params: Value) -> Value {
    json!({"strategies": {name: {"params": params}}})
}

/// Specs every rule must accept.
fn good() -> Vec<(&'static str, Value)> {
    vec![
        ("empty spec", json!({})),
        ("interval 10s", json!({"interval": "10s"})),
        ("interval 30s", json!({"interval": "30s"})),
        ("interval 5m", json!({"interval": "5m"})),
        ("interval 1h30m", json!({"interval": "1h30m"})),
        ("interval 1.5h", json!({"interval": "1.5h"})),
        ("minPodAge 10m", json!({"minPodAge": "10m"})),
        ("minPodAge 0s", json!({"minPodAge": "0s"})),
        ("minPodAge 1h30m", json!({"minPodAge": "1h30m"})),
        (
            "namespaces include",
            strategy(
                "RemoveDuplicates",
                json!({"namespaces": {"include": ["a"]}}),
            ),
        ),
        (
            "namespaces exclude",
            strategy(
                "PodLifeTime",
                json!({"namespaces": {"exclude": ["a"]}, "podLifeTime": {"maxPodLifeTimeSeconds": 5}}),
            ),
        ),
        (
            "thresholdPriority",
            strategy("RemoveFailedPods", json!({"thresholdPriority": 10})),
        ),
        (
            "thresholdPriorityClassName",
            strategy(
                "RemoveFailedPods",
                json!({"thresholdPriorityClassName": "high"}),
            ),
        ),
        (
            "low integers",
            low(
                json!({"thresholds": {"cpu": 20, "memory": 20}, "targetThresholds": {"cpu": 50, "memory": 50}}),
            ),
        ),
        (
            "low floats",
            low(json!({"thresholds": {"cpu": 20.5}, "targetThresholds": {"cpu": 20.5}})),
        ),
        (
            "low bounds",
            low(json!({"thresholds": {"cpu": 0}, "targetThresholds": {"cpu": 100}})),
        ),
        (
            "low only thresholds",
            low(json!({"thresholds": {"cpu": 20}})),
        ),
        (
            "low deviation",
            low(
                json!({"useDeviationThresholds": true, "thresholds": {"cpu": 30}, "targetThresholds": {"cpu": 10}}),
            ),
        ),
        (
            "high",
            high(json!({"thresholds": {"cpu": 20, "nvidia.com/gpu": 100}})),
        ),
        (
            "high eviction modes",
            high(
                json!({"thresholds": {"cpu": 20}, "evictionModes": ["OnlyThresholdingResources"]}),
            ),
        ),
        (
            "low eviction limits",
            low(
                json!({"thresholds": {"cpu": 20}, "targetThresholds": {"cpu": 50}, "evictionLimits": {"node": 2}}),
            ),
        ),
        (
            "low by metrics",
            low(
                json!({"thresholds": {"cpu": 20}, "targetThresholds": {"cpu": 50}, "metricsUtilization": {"source": "KubernetesMetrics"}}),
            ),
        ),
        (
            "high by prometheus",
            high(
                json!({"thresholds": {"MetricResource": 20}, "metricsUtilization": {"source": "Prometheus", "prometheus": {"query": "instance:node_cpu_utilisation:ratio"}}}),
            ),
        ),
        (
            "spread constraints",
            strategy(
                "RemovePodsViolatingTopologySpreadConstraint",
                json!({"constraints": ["DoNotSchedule", "ScheduleAnyway"]}),
            ),
        ),
        (
            "lifetime conditions only",
            strategy(
                "PodLifeTime",
                json!({"podLifeTime": {"conditions": [{"reason": "PodCompleted", "minTimeSinceLastTransitionSeconds": 60}]}}),
            ),
        ),
        (
            "lifetime exit codes and owner kinds",
            strategy(
                "PodLifeTime",
                json!({"podLifeTime": {"exitCodes": [137], "ownerKinds": {"exclude": ["Job"]}, "includingEphemeralContainers": true}}),
            ),
        ),
        (
            "restarts states",
            strategy(
                "RemovePodsHavingTooManyRestarts",
                json!({"podsHavingTooManyRestarts": {"podRestartThreshold": 3, "states": ["CrashLoopBackOff"]}}),
            ),
        ),
        (
            "failed pods exit codes",
            strategy(
                "RemoveFailedPods",
                json!({"failedPods": {"exitCodes": [1, 137]}}),
            ),
        ),
    ]
}

/// Specs that must be rejected, with the message of the rule that rejects them.
fn bad() -> Vec<(&'static str, Value, &'static str)> {
    const INTERVAL: &str = "must be a duration of at least 10s, such as 30s, 5m or 1h30m";
    const AGE: &str = "must be a duration such as 30s, 10m or 1h";
    const NS: &str = "include and exclude are mutually exclusive";
    const PRIO: &str = "thresholdPriority and thresholdPriorityClassName are mutually exclusive";
    const RANGE: &str = "each threshold must be within 0..100";
    const TARGET_RANGE: &str = "each target threshold must be within 0..100";
    const PAIR: &str = "thresholds and targetThresholds must name the same resources, with each threshold <= its target";
    vec![
        ("interval 9s", json!({"interval": "9s"}), INTERVAL),
        ("interval 500ms", json!({"interval": "500ms"}), INTERVAL),
        ("interval words", json!({"interval": "soon"}), INTERVAL),
        ("interval days", json!({"interval": "1d"}), INTERVAL),
        ("interval negative", json!({"interval": "-1h"}), INTERVAL),
        ("minPodAge words", json!({"minPodAge": "ten minutes"}), AGE),
        ("minPodAge bare number", json!({"minPodAge": "10"}), AGE),
        (
            "namespaces both (RemoveDuplicates)",
            strategy(
                "RemoveDuplicates",
                json!({"namespaces": {"include": ["a"], "exclude": ["b"]}}),
            ),
            NS,
        ),
        (
            "namespaces both (LowNodeUtilization)",
            strategy(
                "LowNodeUtilization",
                json!({"namespaces": {"include": ["a"], "exclude": ["b"]}}),
            ),
            NS,
        ),
        (
            "priority both",
            strategy(
                "RemovePodsViolatingNodeTaints",
                json!({"thresholdPriority": 1, "thresholdPriorityClassName": "high"}),
            ),
            PRIO,
        ),
        (
            "high above 100",
            high(json!({"thresholds": {"cpu": 101}})),
            RANGE,
        ),
        (
            "high below 0",
            high(json!({"thresholds": {"pods": -1}})),
            RANGE,
        ),
        (
            "low threshold above 100",
            low(json!({"thresholds": {"cpu": 120}})),
            RANGE,
        ),
        (
            "low target above 100",
            low(json!({"targetThresholds": {"cpu": 100.5}})),
            TARGET_RANGE,
        ),
        (
            "low target below 0",
            low(json!({"targetThresholds": {"memory": -0.5}})),
            TARGET_RANGE,
        ),
        (
            "low threshold above target",
            low(json!({"thresholds": {"cpu": 60}, "targetThresholds": {"cpu": 50}})),
            PAIR,
        ),
        (
            "low threshold above target, deviation off",
            low(
                json!({"useDeviationThresholds": false, "thresholds": {"cpu": 60}, "targetThresholds": {"cpu": 50}}),
            ),
            PAIR,
        ),
        (
            "low resource missing from targets",
            low(json!({"thresholds": {"cpu": 10, "memory": 10}, "targetThresholds": {"cpu": 50}})),
            PAIR,
        ),
        (
            "spread: includeSoftConstraints and constraints",
            strategy(
                "RemovePodsViolatingTopologySpreadConstraint",
                json!({"includeSoftConstraints": true, "constraints": ["DoNotSchedule"]}),
            ),
            "includeSoftConstraints and constraints are mutually exclusive",
        ),
        (
            "lifetime without any filter",
            strategy(
                "PodLifeTime",
                json!({"podLifeTime": {"includingInitContainers": true}}),
            ),
            "needs at least one of maxPodLifeTimeSeconds, states, conditions and exitCodes",
        ),
        (
            "prometheus without a query",
            low(
                json!({"thresholds": {"MetricResource": 20}, "targetThresholds": {"MetricResource": 50}, "metricsUtilization": {"source": "Prometheus"}}),
            ),
            "source Prometheus needs prometheus.query",
        ),
        (
            "prometheus with an empty query",
            high(
                json!({"thresholds": {"MetricResource": 20}, "metricsUtilization": {"source": "Prometheus", "prometheus": {"query": ""}}}),
            ),
            "source Prometheus needs prometheus.query",
        ),
        (
            "lifetime condition without a field",
            strategy("PodLifeTime", json!({"podLifeTime": {"conditions": [{}]}})),
            "a condition filter sets at least one field",
        ),
        (
            "lifetime owner kinds both",
            strategy(
                "PodLifeTime",
                json!({"podLifeTime": {"exitCodes": [1], "ownerKinds": {"include": ["Job"], "exclude": ["ReplicaSet"]}}}),
            ),
            NS,
        ),
    ]
}

#[test]
fn every_rule_compiles() {
    let compiled = compile_schema(&schema());
    fn walk(s: &kube::core::cel::CompiledSchema, path: &str) {
        assert!(!s.has_errors(), "{path}: {:?}", s.compilation_errors());
        for (k, child) in &s.properties {
            walk(child, &format!("{path}.{k}"));
        }
        if let Some(items) = &s.items {
            walk(items, &format!("{path}[]"));
        }
        if let Some(ap) = &s.additional_properties {
            walk(ap, &format!("{path}.*"));
        }
    }
    walk(&compiled, "");
}

#[test]
fn good_values_pass_every_rule() {
    let schema = schema();
    for (what, spec) in good() {
        let errs = run(&schema, spec);
        assert!(errs.is_empty(), "{what}: {errs:?}");
    }
}

#[test]
fn bad_values_are_rejected_by_their_rule_and_every_rule_is_exercised() {
    let schema = schema();
    let mut exercised = BTreeSet::new();
    for (what, spec, message) in bad() {
        let errs = run(&schema, spec);
        assert!(!errs.is_empty(), "{what}: accepted");
        for e in &errs {
            assert_eq!(
                e.message, message,
                "{what}: rejected for the wrong reason: {e}"
            );
            assert!(
                e.field_path.starts_with("spec"),
                "{what}: path {:?}",
                e.field_path
            );
            exercised.insert(e.rule.clone());
        }
    }
    let mut all = BTreeSet::new();
    rules_in(&schema, &mut all);
    let missed: Vec<&String> = all.difference(&exercised).collect();
    assert!(missed.is_empty(), "rules no test rejects with: {missed:#?}");
}

/// The CEL rules and `api::validate` agree on the cases both can judge.
#[test]
fn cel_and_code_validation_agree() {
    let schema = schema();
    let lookup = |name: &str| (name == "high").then_some(100);
    let cases = good()
        .into_iter()
        .map(|(w, s)| (w, s, true))
        .chain(bad().into_iter().map(|(w, s, _)| (w, s, false)));
    for (what, spec, cel_ok) in cases {
        assert_eq!(run(&schema, spec.clone()).is_empty(), cel_ok, "{what}");
        // The code is stricter than the schema (a LowNodeUtilization entry needs
        // both maps, and targetThresholds may not list extra resources), so only
        // "CEL rejects => code rejects" holds.
        if !cel_ok {
            let parsed: descheduler::api::DeschedulerPolicySpec =
                serde_json::from_value(spec).expect("spec deserializes");
            assert!(
                descheduler::policy::validate(&parsed, &lookup).is_err(),
                "{what}: CEL rejects it but api::validate accepts it"
            );
        }
    }
}
