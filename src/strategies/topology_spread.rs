//! RemovePodsViolatingTopologySpreadConstraint: for each distinct constraint,
//! moves the fewest pods needed from the largest domains to the smallest until
//! the skew is within maxSkew.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use foldhash::HashMap;
use std::rc::Rc;

use k8s_openapi::api::core::v1::TopologySpreadConstraint;

use super::Strategy;
use super::label_index::LabelIndex;
use crate::api;
use crate::plan::Ledger;
use crate::plan::eligibility::{SkipReason, eviction_order};
use crate::plan::nodefit::{node_selector_matches, required_node_affinity};
use crate::selectors::{Selector, tolerates_all};
use crate::snapshot::{NodeId, PerNode, PodId, PodInfo};
use crate::validation::Errors;

#[derive(Debug, Clone)]
pub struct TopologySpread {
    include_soft_constraints: bool,
    topology_balance_node_fit: bool,
}

/// A constraint as it applies to the pods that carry it; matchLabelKeys are
/// resolved into the selector, so one constraint can split into several.
struct Constraint<'a> {
    spec: &'a TopologySpreadConstraint,
    selector: Selector,
    /// A pod carrying the constraint: its node affinity and tolerations decide
    /// which nodes count (nodeAffinityPolicy / nodeTaintsPolicy).
    carrier: PodId,
}

impl Strategy for TopologySpread {
    const NAME: &'static str = "RemovePodsViolatingTopologySpreadConstraint";
    type Spec = api::TopologySpreadParams;

    fn spec(all: &api::Strategies) -> Option<&api::Strategy<Self::Spec>> {
        all.remove_pods_violating_topology_spread_constraint
            .as_ref()
    }

    fn parse(spec: &Self::Spec, _at: &str, _errs: &mut Errors) -> Option<Self> {
        Some(Self {
            include_soft_constraints: spec.include_soft_constraints.unwrap_or(false),
            topology_balance_node_fit: spec.topology_balance_node_fit.unwrap_or(true),
        })
    }

    fn run(&self, ledger: &mut Ledger<'_>) {
        let Self {
            include_soft_constraints,
            topology_balance_node_fit,
        } = *self;
        let snap = ledger.snap;
        let namespaces: Vec<&String> = snap
            .namespaces
            .keys()
            .chain(snap.pods.values().map(|p| &p.namespace))
            .collect();
        let mut namespaces: Vec<&String> = namespaces
            .into_iter()
            .filter(|ns| ledger.common().namespaces.allows(ns))
            .collect();
        namespaces.sort();
        namespaces.dedup();
        let mut domains = DomainCache::default();
        for ns in namespaces {
            let mut labels = LabelIndex::default();
            for c in constraints_in(ledger, ns, include_soft_constraints) {
                balance(
                    ledger,
                    ns,
                    &c,
                    topology_balance_node_fit,
                    &mut domains,
                    &mut labels,
                );
            }
        }
    }
}

/// The domains of a constraint depend only on its topologyKey and, through
/// nodeAffinityPolicy / nodeTaintsPolicy, on the carrier's node constraints
/// and tolerations; most constraints share them, so they are computed once
/// per run rather than once per constraint (which was quadratic).
#[derive(Default)]
struct DomainCache {
    by_key: HashMap<String, Rc<DomainNodes>>,
}

struct DomainNodes {
    /// (topology value, processed nodes with it), by value.
    domains: Vec<(String, Vec<NodeId>)>,
    /// Index into `domains` of every node; None when the node is in none.
    of_node: PerNode<Option<usize>>,
}

impl DomainCache {
    fn get(
        &mut self,
        ledger: &Ledger<'_>,
        key: &str,
        carrier: &PodInfo,
        honor_affinity: bool,
        honor_taints: bool,
    ) -> Rc<DomainNodes> {
        let spec = carrier.spec();
        let affinity =
            honor_affinity.then(|| (&spec.node_selector, required_node_affinity(carrier)));
        let tolerations = honor_taints.then_some(&spec.tolerations);
        let cache_key = serde_json::to_string(&(key, affinity, tolerations)).unwrap_or_default();
        self.by_key
            .entry(cache_key)
            .or_insert_with(|| {
                Rc::new(domain_nodes(
                    ledger,
                    key,
                    carrier,
                    honor_affinity,
                    honor_taints,
                ))
            })
            .clone()
    }
}

fn domain_nodes(
    ledger: &Ledger<'_>,
    key: &str,
    carrier: &PodInfo,
    honor_affinity: bool,
    honor_taints: bool,
) -> DomainNodes {
    let snap = ledger.snap;
    let tolerations = carrier.spec().tolerations.as_deref().unwrap_or_default();
    let mut by_value: BTreeMap<String, Vec<NodeId>> = BTreeMap::new();
    for n in ledger.processed_nodes() {
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
    let mut of_node = PerNode::filled(snap.nodes.len(), None);
    let domains: Vec<(String, Vec<NodeId>)> = by_value.into_iter().collect();
    for (i, (_, nodes)) in domains.iter().enumerate() {
        for &n in nodes {
            of_node[n] = Some(i);
        }
    }
    DomainNodes { domains, of_node }
}

fn constraints_in<'a>(ledger: &Ledger<'a>, ns: &str, include_soft: bool) -> Vec<Constraint<'a>> {
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
        if previous.is_some_and(|prev| same_constraints(prev, pod)) {
            continue;
        }
        previous = Some(pod);
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

/// Whether two pods yield the same constraint identities: equal constraints
/// and equal values for every matchLabelKeys key.
fn same_constraints(a: &PodInfo, b: &PodInfo) -> bool {
    let (ca, cb) = (
        &a.spec().topology_spread_constraints,
        &b.spec().topology_spread_constraints,
    );
    ca == cb
        && ca
            .iter()
            .flatten()
            .flat_map(|c| c.match_label_keys.iter().flatten())
            .all(|k| a.labels().get(k) == b.labels().get(k))
}

struct Domain {
    /// Index into `DomainNodes::domains`, whose order is the name order.
    index: usize,
    /// Pods in the order they would be given up: the last one goes first.
    pods: Vec<PodId>,
}

fn balance(
    ledger: &mut Ledger<'_>,
    ns: &str,
    c: &Constraint<'_>,
    balance_node_fit: bool,
    cache: &mut DomainCache,
    labels: &mut LabelIndex,
) {
    let snap = ledger.snap;
    let carrier = snap.pod(c.carrier);
    let key = &c.spec.topology_key;
    let honor_affinity = c.spec.node_affinity_policy.as_deref() != Some("Ignore");
    let honor_taints = c.spec.node_taints_policy.as_deref() == Some("Honor");

    let nodes = cache.get(ledger, key, carrier, honor_affinity, honor_taints);
    if nodes.domains.len() < 2 {
        return;
    }
    // The matching pods of the namespace that are still there, with their domain.
    let candidates: Vec<PodId> = labels
        .candidates(snap, ns, &c.selector)
        .unwrap_or_else(|| snap.pods_in_namespace(ns).to_vec());
    let mut matching: Vec<(usize, PodId)> = candidates
        .into_iter()
        .filter_map(|p| {
            let pod = snap.pod(p);
            let d = pod.node.and_then(|n| nodes.of_node[n])?;
            (!ledger.is_evicted(p)
                && !pod.phase.is_terminal()
                && !pod.terminating
                && c.selector.matches(pod.labels()))
            .then_some((d, p))
        })
        .collect();
    matching.sort_unstable();
    // Most constraints are within their skew: decide that from the occupied
    // domains alone, without a vector of every domain (a hostname key has one
    // per node, and there is a constraint per workload).
    let occupied = matching.chunk_by(|a, b| a.0 == b.0);
    let mut max = 0;
    let mut min_occupied = i64::MAX;
    let mut occupied_count = 0;
    for group in occupied {
        let n = group.len() as i64;
        max = max.max(n);
        min_occupied = min_occupied.min(n);
        occupied_count += 1;
    }
    let mut min = if occupied_count < nodes.domains.len() {
        0
    } else {
        min_occupied
    };
    let max_skew = i64::from(c.spec.max_skew.max(1));
    if c.spec
        .min_domains
        .is_some_and(|m| (nodes.domains.len() as i64) < i64::from(m))
    {
        min = 0;
    }
    if max - min <= max_skew {
        return;
    }

    let mut domains: Vec<Domain> = (0..nodes.domains.len())
        .map(|index| Domain {
            index,
            pods: Vec::new(),
        })
        .collect();
    for (d, p) in matching {
        domains[d].pods.push(p);
    }
    // Pods given up first sit at the end: evictable ones, then those with a
    // nodeSelector or affinity, then lower priority.
    for d in &mut domains {
        d.pods.sort_by_cached_key(|&p| {
            let evictable = ledger.in_scope(p) && ledger.evictable(p).is_ok();
            (
                evictable,
                snap.pod(p).has_node_constraints(),
                Reverse(eviction_order(snap, p)),
                Reverse(p),
            )
        });
    }
    domains.sort_by_key(|d| (d.pods.len(), d.index));

    let total: usize = domains.iter().map(|d| d.pods.len()).sum();
    let ideal_avg = total as f64 / domains.len() as f64;
    let below_avg_nodes: Vec<NodeId> = if balance_node_fit {
        domains
            .iter()
            .filter(|d| (d.pods.len() as f64) < ideal_avg)
            .flat_map(|d| nodes.domains[d.index].1.iter().copied())
            .collect()
    } else {
        Vec::new()
    };
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
            // A pod that is not evictable anyway is counted under its rule by try_evict.
            if balance_node_fit
                && ledger.evictable(p).is_ok()
                && !below_avg_nodes
                    .iter()
                    .any(|&n| Some(n) != snap.pod(p).node && ledger.fits(p, n))
            {
                if ledger.in_scope(p) && !ledger.is_evicted(p) {
                    ledger.record_skip(SkipReason::NoFit);
                }
                continue;
            }
            ledger.try_evict(p, reason.clone());
        }
        domains[i].pods.extend(moved);
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const YAML: &str = "strategies: {RemovePodsViolatingTopologySpreadConstraint: {}}";
    const NO_FIT: &str = "strategies: {RemovePodsViolatingTopologySpreadConstraint: {params: {topologyBalanceNodeFit: false}}}";
    const SOFT: &str = "strategies: {RemovePodsViolatingTopologySpreadConstraint: {params: {includeSoftConstraints: true}}}";
    const WEB: &[(&str, &str)] = &[("app", "web")];

    /// Zones a, b, c on nodes na, nb, nc.
    fn zones() -> Cluster {
        Cluster::default()
            .node(node("na").label("zone", "a"))
            .node(node("nb").label("zone", "b"))
            .node(node("nc").label("zone", "c"))
    }

    fn two_zones() -> Cluster {
        Cluster::default()
            .node(node("na").label("zone", "a"))
            .node(node("nb").label("zone", "b"))
    }

    fn web(name: &str, node: &str, max_skew: i32) -> PodB {
        pod(name)
            .on(node)
            .label("app", "web")
            .spread(tsc("zone", max_skew, true, WEB))
    }

    fn many(prefix: &str, node: &str, n: usize) -> Vec<PodB> {
        (1..=n)
            .map(|i| web(&format!("{prefix}{i}"), node, 1))
            .collect()
    }

    #[test]
    fn moves_the_fewest_pods() {
        let cases: Vec<(&str, Cluster, &[&str])> = vec![
            (
                "4 vs 0: two go",
                two_zones().pods(many("a", "na", 4)),
                &["a1", "a2"],
            ),
            (
                "3/1/0: one goes, in name order",
                zones().pods(many("a", "na", 3)).pods(many("b", "nb", 1)),
                &["a1"],
            ),
            (
                "2/1: within maxSkew",
                two_zones()
                    .pods(many("a", "na", 2))
                    .pods(many("b", "nb", 1)),
                &[],
            ),
            (
                "6/0/0: four go",
                zones().pods(many("a", "na", 6)),
                &["a1", "a2", "a3", "a4"],
            ),
            (
                "5/5/0: three go",
                zones().pods(many("a", "na", 5)).pods(many("b", "nb", 5)),
                &["a1", "b1", "b2"],
            ),
            (
                "maxSkew 2: 3 vs 0, one goes",
                two_zones().pods((1..=3).map(|i| web(&format!("a{i}"), "na", 2))),
                &["a1"],
            ),
            (
                "maxSkew 2: 2 vs 0 is fine",
                two_zones().pods((1..=2).map(|i| web(&format!("a{i}"), "na", 2))),
                &[],
            ),
            (
                "pods the selector does not match do not count",
                two_zones()
                    .pods(many("a", "na", 2))
                    .pods([pod("x1").on("na"), pod("x2").on("na")]),
                &["a1"],
            ),
            (
                "other namespaces do not count",
                two_zones()
                    .pods(many("a", "na", 1))
                    .pod(web("other", "na", 1).ns("x"))
                    .pod(web("b1", "nb", 1)),
                &[],
            ),
            (
                "terminating and terminal pods do not count",
                two_zones()
                    .pods(many("a", "na", 2))
                    .pod(web("t", "na", 1).terminating())
                    .pod(web("s", "na", 1).phase("Succeeded")),
                &["a1"],
            ),
            (
                "nodes without the topology key are no domain",
                two_zones()
                    .node(node("nx"))
                    .pods(many("a", "na", 1))
                    .pods(many("x", "nx", 3)),
                &[],
            ),
        ];
        for (what, c, want) in cases {
            let r = c.run(YAML);
            assert_eq!(r.evicted_set(), *want, "{what}");
        }
    }

    #[test]
    fn soft_constraints_only_when_included() {
        let soft = |name: &str| {
            pod(name)
                .on("na")
                .label("app", "web")
                .spread(tsc("zone", 1, false, WEB))
        };
        let c = two_zones().pods([soft("a1"), soft("a2"), soft("a3")]);
        assert!(c.run(YAML).evicted().is_empty());
        assert_eq!(c.run(SOFT).evicted(), ["a1"]);
    }

    #[test]
    fn pods_given_up_prefer_evictable_then_constrained_then_lower_priority() {
        let c = two_zones().pods([
            web("a-plain", "na", 1),
            web("a-low", "na", 1).priority(-5),
            web("a-affinity", "na", 1).require_node("zone", &["a", "b"]),
            web("a-ds", "na", 1)
                .owner("DaemonSet", "ds")
                .require_node("zone", &["a", "b"])
                .priority(-10),
        ]);
        // 4 vs 0: two go. a-ds is not evictable; a-affinity has node constraints; then the lowest priority.
        assert_eq!(c.run(YAML).evicted_set(), ["a-affinity", "a-low"]);
    }

    #[test]
    fn match_label_keys_split_the_constraint() {
        let versioned = |name: &str, node: &str, v: &str, keys: bool| {
            let mut c = tsc("zone", 1, true, WEB);
            if keys {
                c.match_label_keys = Some(vec!["version".into()]);
            }
            pod(name)
                .on(node)
                .label("app", "web")
                .label("version", v)
                .spread(c)
        };
        // Without matchLabelKeys the zones hold 2 and 2; per version they hold 2 and 0.
        for (keys, want) in [(false, vec![]), (true, vec!["v1-a", "v2-a"])] {
            let r = two_zones()
                .pods([
                    versioned("v1-a", "na", "v1", keys),
                    versioned("v1-b", "na", "v1", keys),
                    versioned("v2-a", "nb", "v2", keys),
                    versioned("v2-b", "nb", "v2", keys),
                ])
                .run(YAML);
            assert_eq!(r.evicted_set(), want, "matchLabelKeys: {keys}");
        }
    }

    #[test]
    fn min_domains_never_forces_pointless_evictions() {
        // Two domains but minDomains 3: the scheduler treats the global minimum
        // as 0, yet moving a pod between the existing zones cannot help.
        let with_min = |name: &str, node: &str| {
            let mut c = tsc("zone", 1, true, WEB);
            c.min_domains = Some(3);
            pod(name).on(node).label("app", "web").spread(c)
        };
        let r = two_zones()
            .pods([
                with_min("a1", "na"),
                with_min("a2", "na"),
                with_min("b1", "nb"),
            ])
            .run(YAML);
        assert!(r.evicted().is_empty());
        let r = two_zones()
            .pods([
                with_min("a1", "na"),
                with_min("a2", "na"),
                with_min("a3", "na"),
                with_min("b1", "nb"),
            ])
            .run(YAML);
        assert_eq!(r.evicted(), ["a1"]);
    }

    #[test]
    fn node_affinity_and_taints_policies() {
        let constrained = |name: &str, node: &str, affinity: Option<&str>, taints: Option<&str>| {
            let mut c = tsc("zone", 1, true, WEB);
            c.node_affinity_policy = affinity.map(Into::into);
            c.node_taints_policy = taints.map(Into::into);
            pod(name)
                .on(node)
                .label("app", "web")
                .require_node("zone", &["a", "b"])
                .spread(c)
        };
        // a:2 b:1 c:0, pods may only run in a or b.
        let three = |aff: Option<&str>, taints: Option<&str>| {
            zones().pods([
                constrained("a1", "na", aff, taints),
                constrained("a2", "na", aff, taints),
                constrained("b1", "nb", aff, taints),
            ])
        };
        // Honor (default): zone c is no domain, so 2 vs 1 is fine.
        assert!(three(None, None).run(NO_FIT).evicted().is_empty());
        assert!(three(Some("Honor"), None).run(NO_FIT).evicted().is_empty());
        // Ignore: zone c counts; a pod goes when node fit is off...
        assert_eq!(three(Some("Ignore"), None).run(NO_FIT).evicted(), ["a1"]);
        // ... and with topologyBalanceNodeFit it cannot go to zone c.
        let r = three(Some("Ignore"), None).run(YAML);
        assert!(r.evicted().is_empty());
        assert_eq!(r.skipped(), [("NoFit".to_string(), 1)]);

        // Taints: zone c's node is tainted; Ignore (default) counts it, Honor does not.
        let tainted = |taints: Option<&str>| {
            Cluster::default()
                .node(node("na").label("zone", "a"))
                .node(node("nb").label("zone", "b"))
                .node(node("nc").label("zone", "c").taint("t", "", "NoSchedule"))
                .pods([
                    constrained("a1", "na", Some("Ignore"), taints),
                    constrained("a2", "na", Some("Ignore"), taints),
                    constrained("b1", "nb", Some("Ignore"), taints),
                ])
        };
        assert_eq!(tainted(None).run(NO_FIT).evicted(), ["a1"]);
        assert!(tainted(Some("Honor")).run(NO_FIT).evicted().is_empty());
    }

    #[test]
    fn balance_node_fit_needs_room_below_the_average() {
        let big = |name: &str, node: &str| web(name, node, 1).req("3", "");
        let c = Cluster::default()
            .node(node("na").label("zone", "a").cpu("8"))
            .node(node("nb").label("zone", "b").cpu("2"))
            .pods([big("a1", "na"), big("a2", "na")]);
        let r = c.run(YAML);
        assert!(r.evicted().is_empty());
        assert_eq!(r.skipped(), [("NoFit".to_string(), 1)]);
        assert_eq!(c.run(NO_FIT).evicted(), ["a1"]);
    }

    #[test]
    fn a_pod_that_is_not_evictable_is_counted_as_such() {
        // Neither evictable nor fitting zone b: counted under the rule, not NoFit.
        let r = Cluster::default()
            .node(node("na").label("zone", "a").cpu("8"))
            .node(node("nb").label("zone", "b").cpu("1"))
            .pods([
                web("a1", "na", 1).owner("DaemonSet", "ds").req("3", ""),
                web("a2", "na", 1).owner("DaemonSet", "ds").req("3", ""),
            ])
            .run(YAML);
        assert!(r.evicted().is_empty());
        assert_eq!(r.skipped(), [("NotEvictable:DaemonSetPod".to_string(), 1)]);
    }

    #[test]
    fn only_processed_nodes_are_domains() {
        let c = Cluster::default()
            .node(node("na").label("zone", "a").label("role", "w"))
            .node(node("nb").label("zone", "b"))
            .node(node("nc").label("zone", "c").label("role", "w"))
            .pods(many("a", "na", 2));
        // Zone b is not processed: a 2 vs c 0 still violates.
        let r = c.run(&format!("nodeSelector: role=w\n{YAML}"));
        assert_eq!(r.evicted(), ["a1"]);
    }

    #[test]
    fn namespaces_and_label_selector() {
        let c = two_zones()
            .pods(many("a", "na", 2))
            .pods([web("x1", "na", 1).ns("x"), web("x2", "na", 1).ns("x")]);
        let r = c.run("strategies: {RemovePodsViolatingTopologySpreadConstraint: {params: {namespaces: {include: [x]}}}}");
        assert_eq!(r.evicted(), ["x1"]);
    }
}
