//! What the fuzz targets share: the repository's own inputs (sample policies,
//! the example cluster and its metrics), the checks run on every input that
//! gets through parsing, and the structure-aware generators (a policy shaped
//! by the CRD's own schema, a cluster of Nodes, Pods, budgets, classes and
//! namespaces whose labels, taints and selectors meet each other).
//!
//! A check that fails is a bug, as is a panic: both abort the target.

use std::path::Path;
use std::sync::OnceLock;

use arbitrary::{Result, Unstructured};
use chrono::{DateTime, Utc};
use descheduler::dump::{self, PolicyManifest};
use descheduler::policy::validate;
use descheduler::snapshot::{ClusterObjects, UsageInput};
use serde_json::{Map, Value, json};

pub mod cluster;
pub mod schema;

/// The sample policies, the seeds of every policy-shaped input.
pub const SAMPLES: &[&str] = &[
    include_str!("../../config/samples/default.yaml"),
    include_str!("../../config/samples/high-node-utilization.yaml"),
    include_str!("../../config/samples/inter-pod-anti-affinity.yaml"),
    include_str!("../../config/samples/low-node-utilization-by-usage.yaml"),
    include_str!("../../config/samples/low-node-utilization.yaml"),
    include_str!("../../config/samples/node-affinity.yaml"),
    include_str!("../../config/samples/node-taints.yaml"),
    include_str!("../../config/samples/pod-life-time.yaml"),
    include_str!("../../config/samples/remove-duplicates.yaml"),
    include_str!("../../config/samples/remove-failed-pods.yaml"),
    include_str!("../../config/samples/too-many-restarts.yaml"),
    include_str!("../../config/samples/topology-spread.yaml"),
];

const EXAMPLE_CLUSTER: &str = include_str!("../../examples/cluster.yaml");
const EXAMPLE_METRICS: &str = include_str!("../../examples/metrics.json");

/// The clock of every simulated run: the golden tests' (examples/cluster.yaml's ages).
pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// examples/cluster.yaml, read once.
pub fn example_cluster() -> &'static ClusterObjects {
    static C: OnceLock<ClusterObjects> = OnceLock::new();
    C.get_or_init(
        || match dump::parse_cluster(Path::new("cluster.yaml"), EXAMPLE_CLUSTER) {
            Ok(d) => d.objects,
            Err(e) => panic!("examples/cluster.yaml does not parse: {e}"),
        },
    )
}

/// examples/metrics.json: the metrics.k8s.io usage of the example cluster.
pub fn example_usage() -> UsageInput {
    static M: OnceLock<descheduler::snapshot::KubeMetrics> = OnceLock::new();
    let m = M.get_or_init(|| {
        match descheduler::usage::metrics_api::parse_file(
            Path::new("metrics.json"),
            EXAMPLE_METRICS,
        ) {
            Ok(m) => m,
            Err(e) => panic!("examples/metrics.json does not parse: {e}"),
        }
    });
    UsageInput {
        kubernetes: Some(Ok(m.clone())),
        ..Default::default()
    }
}

/// Every policy text that parses goes through the same checks:
/// - it validates or not, without panicking;
/// - printed back as YAML by the crate's own printer (what `convert` and
///   the chart's users see), it parses to the same spec;
/// - when valid, planning it against `objects` (a dry run, as `simulate`)
///   completes, evicts no pod twice and keeps `maxNoOfPodsToEvictTotal`.
pub fn check_policy_text(text: &str, objects: &ClusterObjects, usage: UsageInput) {
    let Ok(manifest) = dump::parse_policy(Path::new("policy.yaml"), text) else {
        return;
    };
    round_trips(&manifest);
    check_plan(manifest, objects, usage);
}

fn round_trips(manifest: &PolicyManifest) {
    let doc = json!({
        "apiVersion": "descheduler.dev/v1alpha1",
        "kind": "DeschedulerPolicy",
        "metadata": {"name": manifest.name},
        "spec": manifest.spec,
    });
    let printed = match descheduler::yaml::to_string(&doc) {
        Ok(t) => t,
        Err(e) => panic!("a parsed spec does not print: {e}"),
    };
    match dump::parse_policy(Path::new("printed.yaml"), &printed) {
        Ok(again) => assert_eq!(
            again.spec, manifest.spec,
            "the printed spec reads back differently:\n{printed}"
        ),
        Err(e) => panic!("the printed spec does not parse: {e}\n{printed}"),
    }
}

/// Plans a parsed policy against `objects`, checking what any plan must hold.
pub fn check_plan(manifest: PolicyManifest, objects: &ClusterObjects, usage: UsageInput) {
    let total_limit = manifest.spec.max_no_of_pods_to_evict_total;
    let classes: std::collections::BTreeMap<String, i32> = objects
        .priority_classes
        .iter()
        .filter_map(|pc| Some((pc.metadata.name.clone()?, pc.value?)))
        .collect();
    if validate(&manifest.spec, &|n| classes.get(n).copied()).is_err() {
        return;
    }
    let sim = match descheduler::simulate::plan(
        manifest,
        "policy.yaml",
        objects.clone(),
        Vec::new(),
        usage,
        now(),
    ) {
        Ok(sim) => sim,
        Err(e) => panic!("a policy that validates failed to plan: {e}"),
    };
    let view = match serde_json::to_value(&sim.report) {
        Ok(v) => v,
        Err(e) => panic!("the plan does not serialize: {e}"),
    };
    let evictions = view["evictions"].as_array().cloned().unwrap_or_default();
    let mut seen = std::collections::BTreeSet::new();
    for e in &evictions {
        let key = (e["namespace"].to_string(), e["name"].to_string());
        assert!(seen.insert(key), "evicted twice: {e}");
    }
    if let Some(limit) = total_limit {
        assert!(
            evictions.len() as u64 <= limit as u64,
            "{} evictions over maxNoOfPodsToEvictTotal {limit}",
            evictions.len()
        );
    }
}

/// A short string, biased towards the values the code compares against.
pub fn pick_str(u: &mut Unstructured, dict: &[&str]) -> Result<String> {
    if dict.is_empty() || chance(u, 1, 8)? {
        let len = u.int_in_range(0..=12)?;
        let mut s = String::new();
        for _ in 0..len {
            s.push(*u.choose(&[
                'a', 'b', 'z', '0', '9', '-', '.', '/', '_', '=', '!', ',', ' ', '(', ')', ':',
                '%', 'é', '\n', '"', '*',
            ])?);
        }
        return Ok(s);
    }
    Ok(u.choose(dict)?.to_string())
}

/// An integer near the boundaries the code checks, or any.
pub fn pick_int(u: &mut Unstructured) -> Result<i64> {
    Ok(match u.int_in_range(0..=11)? {
        0 => 0,
        1 => 1,
        2 => -1,
        3 => 2,
        4 => 100,
        5 => 101,
        6 => i32::MAX as i64,
        7 => i32::MIN as i64,
        8 => i64::MAX,
        9 => i64::MIN,
        10 => u.int_in_range(0..=200)?,
        _ => u.arbitrary()?,
    })
}

/// An object from key/value pairs, skipping absent values.
pub fn object(pairs: Vec<(&str, Option<Value>)>) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    }
    Value::Object(m)
}

/// `numerator` in `denominator`; false once the input is used up, so the
/// rest of a generated object stays minimal instead of taking every option.
pub fn chance(u: &mut Unstructured, numerator: u32, denominator: u32) -> Result<bool> {
    if u.is_empty() {
        return Ok(false);
    }
    u.ratio(numerator, denominator)
}
