//! The distinct constraints of a namespace. A constraint is distinct per
//! (the constraint itself, the values of its matchLabelKeys, and the nodes
//! that are its domains): where its nodeAffinityPolicy / nodeTaintsPolicy is
//! Honor, the carrier's nodeSelector and required node affinity / its
//! tolerations decide those nodes, so pods pinned to one zone and pods free
//! to move each get their own view, while carriers whose constraints reach
//! the same nodes share one.

use std::collections::BTreeMap;
use std::rc::Rc;

use k8s_openapi::api::core::v1::TopologySpreadConstraint;

use super::domains::{DomainCache, DomainNodes};
use crate::plan::Ledger;
use crate::plan::nodefit::required_node_affinity;
use crate::selectors::Selector;
use crate::snapshot::PodInfo;

/// A constraint as it applies to the pods that carry it; matchLabelKeys are
/// resolved into the selector, so one constraint can split into several.
pub struct Constraint<'a> {
    pub spec: &'a TopologySpreadConstraint,
    pub selector: Selector,
    /// Its domains, as the pods that carry it see them (nodeAffinityPolicy /
    /// nodeTaintsPolicy applied to their node constraints and tolerations).
    pub nodes: Rc<DomainNodes>,
}

impl Constraint<'_> {
    pub fn honors_affinity(spec: &TopologySpreadConstraint) -> bool {
        spec.node_affinity_policy.as_deref() != Some("Ignore")
    }

    pub fn honors_taints(spec: &TopologySpreadConstraint) -> bool {
        spec.node_taints_policy.as_deref() == Some("Honor")
    }
}

/// The constraints carried by the namespace's pods on processed nodes whose
/// whenUnsatisfiable is asked for, each once, in identity order.
pub fn constraints_in<'a>(
    ledger: &Ledger<'a>,
    ns: &str,
    hard: bool,
    soft: bool,
    cache: &mut DomainCache,
) -> Vec<Constraint<'a>> {
    let snap = ledger.snap;
    let mut seen: BTreeMap<String, Constraint<'a>> = BTreeMap::new();
    let mut previous: Option<&PodInfo> = None;
    for &id in snap.pods_in_namespace(ns) {
        let pod = snap.pod(id);
        if pod.phase.is_terminal()
            || pod.terminating
            || ledger.is_evicted(id)
            || !pod.node.is_some_and(|n| ledger.is_processed(n))
        {
            continue;
        }
        // Replicas sit next to each other in name order and carry the same
        // constraints: theirs would only repeat identities already seen.
        if previous.is_some_and(|prev| same_identities(prev, pod)) {
            continue;
        }
        previous = Some(pod);
        for tsc in pod.spec().topology_spread_constraints.iter().flatten() {
            let wanted = if tsc.when_unsatisfiable == "DoNotSchedule" {
                hard
            } else {
                soft
            };
            if !wanted {
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
            let nodes = cache.get(
                ledger,
                &tsc.topology_key,
                pod,
                Constraint::honors_affinity(tsc),
                Constraint::honors_taints(tsc),
            );
            identity.push_str(&format!("|domains#{}", nodes.id));
            seen.entry(identity).or_insert(Constraint {
                spec: tsc,
                selector,
                nodes,
            });
        }
    }
    seen.into_values().collect()
}

/// Whether two pods yield the same constraint identities: equal constraints,
/// equal values for every matchLabelKeys key, and equal node constraints and
/// tolerations.
fn same_identities(a: &PodInfo, b: &PodInfo) -> bool {
    let (sa, sb) = (a.spec(), b.spec());
    let (ca, cb) = (
        &sa.topology_spread_constraints,
        &sb.topology_spread_constraints,
    );
    ca == cb
        && sa.node_selector == sb.node_selector
        && required_node_affinity(a) == required_node_affinity(b)
        && sa.tolerations == sb.tolerations
        && ca
            .iter()
            .flatten()
            .flat_map(|c| c.match_label_keys.iter().flatten())
            .all(|k| a.labels().get(k) == b.labels().get(k))
}
