//! RemovePodsViolatingNodeAffinity: evicts pods whose node no longer satisfies
//! their required node affinity (or nodeSelector), or, for the preferred type,
//! scores lower on their preferred terms than another node that fits them.

use foldhash::HashMap;
use std::rc::Rc;

use k8s_openapi::api::core::v1::PreferredSchedulingTerm;

use super::Strategy;
use crate::api::{self, NodeAffinityType};
use crate::plan::eligibility::SkipReason;
use crate::plan::nodefit::node_selector_matches;
use crate::plan::{Ledger, Outcome};
use crate::selectors::node_selector_term_matches;
use crate::snapshot::{NodeId, PerNode, PodId, Snapshot};
use crate::validation::Errors;

#[derive(Debug, Clone)]
pub struct NodeAffinity {
    required: bool,
    preferred: bool,
}

impl Strategy for NodeAffinity {
    const NAME: &'static str = "RemovePodsViolatingNodeAffinity";
    type Spec = api::NodeAffinityParams;

    fn spec(all: &api::Strategies) -> Option<&api::Strategy<Self::Spec>> {
        all.remove_pods_violating_node_affinity.as_ref()
    }

    fn parse(spec: &Self::Spec, at: &str, errs: &mut Errors) -> Option<Self> {
        let types = spec
            .node_affinity_type
            .clone()
            .unwrap_or_else(|| vec![NodeAffinityType::Required]);
        if types.is_empty() {
            errs.push(
                format!("{at}.nodeAffinityType"),
                "must name at least one affinity type",
            );
            return None;
        }
        Some(Self {
            required: types.contains(&NodeAffinityType::Required),
            preferred: types.contains(&NodeAffinityType::Preferred),
        })
    }

    fn run(&self, ledger: &mut Ledger<'_>) {
        let Self {
            required,
            preferred,
        } = *self;
        let snap = ledger.snap;
        let mut score_cache = HashMap::default();
        for id in super::scoped_active_pods(ledger) {
            let pod = snap.pod(id);
            let Some(node) = pod.node else { continue };
            let node_info = snap.node(node);
            if required
                && pod.has_node_constraints()
                && !node_selector_matches(pod, &node_info.name, &node_info.labels)
            {
                if fits_other(ledger, id, node, |_| true) {
                    ledger.try_evict(
                        id,
                        format!(
                            "node {} no longer matches the pod's required node affinity",
                            node_info.name
                        ),
                    );
                } else {
                    count_no_fit(ledger, id);
                }
                continue;
            }
            if preferred {
                let Some(scores) = preferred_scores(snap, id, &mut score_cache) else {
                    continue;
                };
                let current = scores.of_node[node];
                // No node scores higher than this one: nothing to look for.
                if current >= scores.max {
                    continue;
                }
                let better = |n: NodeId| scores.of_node[n] > current;
                if fits_other(ledger, id, node, better) {
                    ledger.try_evict(
                        id,
                        format!(
                            "another node scores higher than {} on the pod's preferred node affinity",
                            node_info.name
                        ),
                    );
                }
            }
        }
    }
}

fn fits_other(ledger: &Ledger<'_>, id: PodId, own: NodeId, extra: impl Fn(NodeId) -> bool) -> bool {
    ledger
        .snap
        .node_ids()
        .any(|n| n != own && extra(n) && ledger.fits(id, n))
}

/// A pod with no other place to go is a candidate the ledger could not take;
/// one that is not evictable anyway is counted under that rule instead.
fn count_no_fit(ledger: &mut Ledger<'_>, id: PodId) {
    if ledger.in_scope(id) && !ledger.is_evicted(id) {
        let reason = ledger.evictable(id).err().unwrap_or(SkipReason::NoFit);
        let _: Outcome = ledger.record_skip(reason);
    }
}

/// Every node's score on a set of preferred terms, and the highest.
struct Scores {
    of_node: PerNode<i64>,
    max: i64,
}

/// The node scores of the pod's preferred terms; None when it has none. Pods
/// of one workload share their terms, so each distinct set is scored once per
/// run (scoring every node for every pod was quadratic).
fn preferred_scores(
    snap: &Snapshot,
    pod: PodId,
    cache: &mut HashMap<String, Rc<Scores>>,
) -> Option<Rc<Scores>> {
    let terms = preferred_terms(snap, pod)?;
    let key = serde_json::to_string(terms).unwrap_or_default();
    let scores = cache.entry(key).or_insert_with(|| {
        let of_node: PerNode<i64> = snap.node_ids().map(|n| score(terms, snap, n)).collect();
        let max = of_node.values().copied().max().unwrap_or(0);
        Rc::new(Scores { of_node, max })
    });
    Some(scores.clone())
}

fn preferred_terms(snap: &Snapshot, pod: PodId) -> Option<&[PreferredSchedulingTerm]> {
    snap.pod(pod)
        .spec()
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .preferred_during_scheduling_ignored_during_execution
        .as_ref()
        .filter(|t| !t.is_empty())
        .map(Vec::as_slice)
}

/// Sum of the weights of the preferred terms the node matches.
fn score(terms: &[PreferredSchedulingTerm], snap: &Snapshot, node: NodeId) -> i64 {
    let n = snap.node(node);
    terms
        .iter()
        .filter(|t| node_selector_term_matches(&t.preference, &n.name, &n.labels))
        .map(|t| i64::from(t.weight))
        .sum()
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    fn cluster() -> Cluster {
        Cluster::default()
            .node(node("n1").label("zone", "a"))
            .node(node("n2").label("zone", "b"))
            .node(node("n3").label("zone", "c").unschedulable())
    }

    const REQUIRED: &str = "strategies: {RemovePodsViolatingNodeAffinity: {}}";
    const PREFERRED: &str = "strategies: {RemovePodsViolatingNodeAffinity: {params: {nodeAffinityType: [preferredDuringSchedulingIgnoredDuringExecution]}}}";
    const BOTH: &str = "strategies: {RemovePodsViolatingNodeAffinity: {params: {nodeAffinityType: [requiredDuringSchedulingIgnoredDuringExecution, preferredDuringSchedulingIgnoredDuringExecution]}}}";

    #[test]
    fn required_and_preferred() {
        let c = cluster().pods([
            pod("req-ok").on("n1").require_node("zone", &["a"]),
            pod("req-moved").on("n1").require_node("zone", &["b"]),
            pod("req-or")
                .on("n1")
                .require_node("zone", &["x"])
                .require_node("zone", &["b"]),
            pod("req-nowhere").on("n1").require_node("zone", &["x"]),
            pod("req-cordoned").on("n1").require_node("zone", &["c"]),
            pod("sel-moved").on("n1").node_selector("zone", "b"),
            pod("sel-ok").on("n2").node_selector("zone", "b"),
            pod("pref-better").on("n1").prefer_node(10, "zone", "b"),
            pod("pref-best-here")
                .on("n1")
                .prefer_node(10, "zone", "b")
                .prefer_node(20, "zone", "a"),
            pod("pref-equal")
                .on("n1")
                .prefer_node(10, "zone", "a")
                .prefer_node(10, "zone", "b"),
            pod("pref-cordoned").on("n1").prefer_node(10, "zone", "c"),
            pod("pref-too-big")
                .on("n1")
                .prefer_node(10, "zone", "b")
                .req("5", ""),
            pod("none").on("n1"),
        ]);
        #[allow(clippy::type_complexity)]
        let cases: &[(&str, &[&str], &[(&str, u32)])] = &[
            (
                REQUIRED,
                &["req-moved", "req-or", "sel-moved"],
                &[("NoFit", 2)],
            ),
            (PREFERRED, &["pref-better"], &[]),
            (
                BOTH,
                &["pref-better", "req-moved", "req-or", "sel-moved"],
                &[("NoFit", 2)],
            ),
        ];
        for (yaml, want, skipped) in cases {
            let r = c.run(yaml);
            assert_eq!(r.evicted_set(), *want, "{yaml}");
            let skipped: Vec<(String, u32)> =
                skipped.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            assert_eq!(r.skipped(), skipped, "{yaml}");
        }
    }

    #[test]
    fn a_pod_that_is_not_evictable_is_counted_as_such() {
        let r = cluster()
            .pod(
                pod("ds")
                    .on("n1")
                    .owner("DaemonSet", "ds")
                    .require_node("zone", &["x"]),
            )
            .pod(
                pod("ds2")
                    .on("n1")
                    .owner("DaemonSet", "ds")
                    .require_node("zone", &["b"]),
            )
            .run(REQUIRED);
        assert!(r.evicted().is_empty());
        assert_eq!(r.skipped(), [("NotEvictable:DaemonSetPod".to_string(), 2)]);
    }

    #[test]
    fn destination_needs_room_and_tolerated_taints() {
        let c = Cluster::default()
            .node(node("n1").label("zone", "a"))
            .node(node("n2").label("zone", "b").taint("t", "", "NoSchedule"))
            .node(node("n3").label("zone", "b").cpu("1"))
            .pods([
                pod("tolerates")
                    .on("n1")
                    .require_node("zone", &["b"])
                    .tolerate("t", "", "")
                    .req("2", ""),
                pod("small")
                    .on("n1")
                    .require_node("zone", &["b"])
                    .req("500m", ""),
                pod("stuck")
                    .on("n1")
                    .require_node("zone", &["b"])
                    .req("2", ""),
            ]);
        let r = c.run(REQUIRED);
        assert_eq!(r.evicted_set(), ["small", "tolerates"]);
        assert_eq!(r.skipped(), [("NoFit".to_string(), 1)]);
    }
}
