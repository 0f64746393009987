//! RemovePodsViolatingTopologySpreadConstraint: for each distinct constraint,
//! moves the fewest pods needed from the largest domains to the smallest until
//! the skew is within maxSkew.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::TopologySpreadConstraint;

use crate::eligibility::{SkipReason, eviction_order};
use crate::nodefit::node_selector_matches;
use crate::plan::Plan;
use crate::policy::StrategyParams;
use crate::selectors::{Selector, tolerates_all};
use crate::snapshot::{NodeId, PodId};

/// A constraint as it applies to the pods that carry it; matchLabelKeys are
/// resolved into the selector, so one constraint can split into several.
struct Constraint<'a> {
    spec: &'a TopologySpreadConstraint,
    selector: Selector,
    /// A pod carrying the constraint: its node affinity and tolerations decide
    /// which nodes count (nodeAffinityPolicy / nodeTaintsPolicy).
    carrier: PodId,
}

pub fn run(plan: &mut Plan<'_>, params: &StrategyParams) {
    let StrategyParams::TopologySpread {
        include_soft_constraints,
        topology_balance_node_fit,
    } = *params
    else {
        return;
    };
    let snap = plan.snap;
    let namespaces: Vec<&String> = snap
        .namespaces
        .keys()
        .chain(snap.pods.iter().map(|p| &p.namespace))
        .collect();
    let mut namespaces: Vec<&String> = namespaces
        .into_iter()
        .filter(|ns| plan.common().namespaces.allows(ns))
        .collect();
    namespaces.sort();
    namespaces.dedup();
    for ns in namespaces {
        for c in constraints_in(plan, ns, include_soft_constraints) {
            balance(plan, ns, &c, topology_balance_node_fit);
        }
    }
}

fn constraints_in<'a>(plan: &Plan<'a>, ns: &str, include_soft: bool) -> Vec<Constraint<'a>> {
    let snap = plan.snap;
    let mut seen: BTreeMap<String, Constraint<'a>> = BTreeMap::new();
    for &id in snap.pods_in_namespace(ns) {
        let pod = snap.pod(id);
        if pod.phase.is_terminal()
            || pod.terminating
            || plan.is_evicted(id)
            || !pod.node.is_some_and(|n| plan.is_processed(n))
        {
            continue;
        }
        for tsc in pod.spec().topology_spread_constraints.iter().flatten() {
            let hard = tsc.when_unsatisfiable == "DoNotSchedule";
            if !hard && !include_soft {
                continue;
            }
            let Some(mut selector) = tsc
                .label_selector
                .as_ref()
                .and_then(|s| Selector::from_label_selector(s).ok())
            else {
                continue;
            };
            let mut identity = serde_json::to_string(tsc).unwrap_or_default();
            for key in tsc.match_label_keys.iter().flatten() {
                if let Some(v) = pod.labels().get(key) {
                    selector = selector.and_equals(key, v);
                    identity.push_str(&format!("|{key}={v}"));
                }
            }
            seen.entry(identity).or_insert(Constraint {
                spec: tsc,
                selector,
                carrier: id,
            });
        }
    }
    seen.into_values().collect()
}

struct Domain {
    name: String,
    nodes: Vec<NodeId>,
    /// Pods in the order they would be given up: the last one goes first.
    pods: Vec<PodId>,
}

fn balance(plan: &mut Plan<'_>, ns: &str, c: &Constraint<'_>, balance_node_fit: bool) {
    let snap = plan.snap;
    let carrier = snap.pod(c.carrier);
    let key = &c.spec.topology_key;
    let honor_affinity = c.spec.node_affinity_policy.as_deref() != Some("Ignore");
    let honor_taints = c.spec.node_taints_policy.as_deref() == Some("Honor");
    let tolerations = carrier.spec().tolerations.as_deref().unwrap_or_default();

    let mut by_value: BTreeMap<String, Vec<NodeId>> = BTreeMap::new();
    for n in plan.processed_nodes() {
        let node = snap.node(n);
        let Some(value) = node.labels.get(key) else {
            continue;
        };
        if honor_affinity && !node_selector_matches(carrier, &node.name, &node.labels) {
            continue;
        }
        if honor_taints && !tolerates_all(tolerations, &node.taints, &["NoSchedule", "NoExecute"]) {
            continue;
        }
        by_value.entry(value.clone()).or_default().push(n);
    }
    let mut domains: Vec<Domain> = by_value
        .into_iter()
        .map(|(name, nodes)| {
            let pods = nodes
                .iter()
                .flat_map(|&n| plan.active_pods_on(n))
                .filter(|&p| {
                    let pod = snap.pod(p);
                    pod.namespace == ns && !pod.terminating && c.selector.matches(pod.labels())
                })
                .collect();
            Domain { name, nodes, pods }
        })
        .collect();
    if domains.len() < 2 {
        return;
    }
    let max_skew = i64::from(c.spec.max_skew.max(1));
    let sizes = domains.iter().map(|d| d.pods.len() as i64);
    let (max, mut min) = (sizes.clone().max().unwrap_or(0), sizes.min().unwrap_or(0));
    if c.spec
        .min_domains
        .is_some_and(|m| (domains.len() as i64) < i64::from(m))
    {
        min = 0;
    }
    if max - min <= max_skew {
        return;
    }

    // Pods given up first sit at the end: evictable ones, then those with a
    // nodeSelector or affinity, then lower priority.
    for d in &mut domains {
        d.pods.sort_by_cached_key(|&p| {
            let evictable = plan.in_scope(p) && plan.evictable(p).is_ok();
            (
                evictable,
                snap.pod(p).has_node_constraints(),
                Reverse(eviction_order(snap, p)),
                Reverse(p),
            )
        });
    }
    domains.sort_by(|a, b| {
        a.pods
            .len()
            .cmp(&b.pods.len())
            .then_with(|| a.name.cmp(&b.name))
    });

    let total: usize = domains.iter().map(|d| d.pods.len()).sum();
    let ideal_avg = total as f64 / domains.len() as f64;
    let below_avg_nodes: Vec<NodeId> = domains
        .iter()
        .filter(|d| (d.pods.len() as f64) < ideal_avg)
        .flat_map(|d| d.nodes.iter().copied())
        .collect();
    let reason = format!("topology spread on {key} (maxSkew {max_skew}) is skewed {max} vs {min}");

    let (mut i, mut j) = (0, domains.len() - 1);
    while i < j {
        if domains[j].pods.len() as f64 <= ideal_avg {
            j -= 1;
            if i >= j {
                break;
            }
        }
        let skew = domains[j].pods.len() as f64 - domains[i].pods.len() as f64;
        if skew <= max_skew as f64 {
            i += 1;
            continue;
        }
        let above = (domains[j].pods.len() as f64 - ideal_avg).ceil();
        let below = (ideal_avg - domains[i].pods.len() as f64).ceil();
        let half_skew = ((skew - max_skew as f64) / 2.0).ceil();
        let move_pods = above.min(below).min(half_skew) as usize;
        if move_pods == 0 {
            i += 1;
            continue;
        }
        let split = domains[j].pods.len() - move_pods;
        let moved: Vec<PodId> = domains[j].pods.split_off(split);
        for &p in moved.iter().rev() {
            if balance_node_fit
                && !below_avg_nodes
                    .iter()
                    .any(|&n| Some(n) != snap.pod(p).node && plan.fits(p, n))
            {
                if plan.in_scope(p) && !plan.is_evicted(p) {
                    plan.record_skip(SkipReason::NoFit);
                }
                continue;
            }
            plan.try_evict(p, reason.clone());
        }
        domains[i].pods.extend(moved);
    }
}
