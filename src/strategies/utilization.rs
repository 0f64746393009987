//! Node usage as percentages, shared by LowNodeUtilization and HighNodeUtilization.

use std::collections::BTreeMap;

use crate::plan::Ledger;
use crate::snapshot::{NodeId, Resources};
use crate::validation::Errors;

/// Percentages per resource name.
pub type Thresholds = BTreeMap<String, f64>;

const NATIVE_RESOURCES: [&str; 3] = ["cpu", "memory", "pods"];

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

/// The map when it is non-empty with valid names and values in 0..100.
pub fn check_thresholds(
    map: Option<&Thresholds>,
    field: &str,
    errs: &mut Errors,
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
pub fn fill_natives(map: &mut Thresholds) {
    for r in NATIVE_RESOURCES {
        map.entry(r.to_string()).or_insert(100.0);
    }
}

/// Usage of one resource on a node, as a percentage of its allocatable.
pub fn percent(ledger: &Ledger<'_>, node: NodeId, resource: &str) -> f64 {
    Resources::percent(
        ledger.usage(node).get(resource),
        ledger.snap.node(node).allocatable.get(resource),
    )
}

/// Below the threshold for every listed resource.
pub fn below_all(ledger: &Ledger<'_>, node: NodeId, limits: &Thresholds) -> bool {
    limits
        .iter()
        .all(|(r, &limit)| percent(ledger, node, r) < limit)
}

/// Above the threshold for any listed resource.
pub fn above_any(ledger: &Ledger<'_>, node: NodeId, limits: &Thresholds) -> bool {
    limits
        .iter()
        .any(|(r, &limit)| percent(ledger, node, r) > limit)
}

/// The sum of the listed resources' percentages: how "used" a node is, for ordering.
pub fn score(ledger: &Ledger<'_>, node: NodeId, resources: &Thresholds) -> f64 {
    resources.keys().map(|r| percent(ledger, node, r)).sum()
}

/// Capacity per listed resource, in each resource's own units.
pub type Capacity = Vec<(String, i64)>;

pub fn take(capacity: &mut Capacity, requests: &Resources) {
    for (r, v) in capacity.iter_mut() {
        *v = v.saturating_sub(requests.get(r));
    }
}

pub fn all_positive(capacity: &Capacity) -> bool {
    capacity.iter().all(|(_, v)| *v > 0)
}
