//! RemoveDuplicates: when one owner has several pods on a node, evicts the ones
//! above the even share `ceil(pods / feasible nodes)`, so the scheduler can
//! spread them.

use foldhash::HashMap;

use super::Strategy;
use crate::api;
use crate::plan::Ledger;
use crate::plan::eligibility::eviction_order;
use crate::plan::nodefit::{node_selector_matches, required_node_affinity};
use crate::selectors::tolerates_all;
use crate::snapshot::{NodeId, OwnerRef, PodId};
use crate::validation::Errors;

/// Owner identity: the controller plus the sorted container images.
type OwnerKey<'a> = (&'a OwnerRef, Vec<&'a str>);

#[derive(Debug, Clone)]
pub struct RemoveDuplicates {
    exclude_owner_kinds: Vec<String>,
}

impl Strategy for RemoveDuplicates {
    const NAME: &'static str = "RemoveDuplicates";
    type Spec = api::RemoveDuplicatesParams;

    fn spec(all: &api::Strategies) -> Option<&api::Strategy<Self::Spec>> {
        all.remove_duplicates.as_ref()
    }

    fn parse(spec: &Self::Spec, _at: &str, _errs: &mut Errors) -> Option<Self> {
        Some(Self {
            exclude_owner_kinds: spec
                .remove_duplicates
                .as_ref()
                .and_then(|r| r.exclude_owner_kinds.clone())
                .unwrap_or_default(),
        })
    }

    fn run(&self, ledger: &mut Ledger<'_>) {
        let Self {
            exclude_owner_kinds,
        } = self;
        let snap = ledger.snap;
        // owner -> (node, pod), in the order met: node by node. Hashed rather than
        // ordered by the owner's strings, which cost a comparison of strings per
        // pod; sorted once per owner below.
        let mut groups: HashMap<OwnerKey<'_>, Vec<(NodeId, PodId)>> = HashMap::default();
        for id in super::scoped_active_pods(ledger) {
            let pod = snap.pod(id);
            let (Some(owner), Some(node)) = (&pod.owner, pod.node) else {
                continue;
            };
            if exclude_owner_kinds.contains(&owner.kind) || ledger.evictable(id).is_err() {
                continue;
            }
            let mut images: Vec<&str> = pod
                .spec()
                .containers
                .iter()
                .filter_map(|c| c.image.as_deref())
                .collect();
            images.sort_unstable();
            groups.entry((owner, images)).or_default().push((node, id));
        }
        let mut groups: Vec<(OwnerKey<'_>, Vec<(NodeId, PodId)>)> = groups.into_iter().collect();
        groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let processed: Vec<NodeId> = ledger.processed_nodes().collect();
        let mut feasible_by_constraints: HashMap<String, usize> = HashMap::default();
        for ((owner, _), mut placed) in groups {
            // Stable: within a node, pods keep the order they were met in.
            placed.sort_by_key(|&(node, _)| node);
            let by_node: Vec<&[(NodeId, PodId)]> = placed.chunk_by(|a, b| a.0 == b.0).collect();
            if by_node.iter().all(|pods| pods.len() < 2) {
                continue;
            }
            let sample = placed[0].1;
            let pod = snap.pod(sample);
            let spec = pod.spec();
            // Owners mostly share their tolerations and node constraints: count the
            // feasible nodes once per distinct set (once per owner was quadratic).
            let key = serde_json::to_string(&(
                &spec.tolerations,
                &spec.node_selector,
                required_node_affinity(pod),
            ))
            .unwrap_or_default();
            let feasible = *feasible_by_constraints.entry(key).or_insert_with(|| {
                let tolerations = spec.tolerations.as_deref().unwrap_or_default();
                processed
                    .iter()
                    .filter(|&&n| {
                        let node = snap.node(n);
                        tolerates_all(tolerations, &node.taints, &["NoSchedule", "NoExecute"])
                            && node_selector_matches(pod, &node.name, &node.labels)
                    })
                    .count()
            });
            if feasible < 2 {
                continue;
            }
            let total = placed.len();
            let upper_avg = total.div_ceil(feasible);
            for pods in by_node {
                if pods.len() <= upper_avg {
                    continue;
                }
                let node = pods[0].0;
                let mut pods: Vec<PodId> = pods.iter().map(|&(_, p)| p).collect();
                pods.sort_by_key(|&p| (eviction_order(snap, p), p));
                let extra = pods.len() - upper_avg;
                for id in pods.into_iter().take(extra) {
                    ledger.try_evict(
                        id,
                        format!(
                            "{} {}/{} has more than {upper_avg} pods on {}",
                            owner.kind,
                            owner.namespace,
                            owner.name,
                            snap.node(node).name
                        ),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const YAML: &str = "strategies: {RemoveDuplicates: {}}";

    fn rs(name: &str, node: &str) -> PodB {
        pod(name).on(node).owner("ReplicaSet", "web")
    }

    #[test]
    fn cases() {
        let two = || Cluster::with_nodes(2);
        let three = || Cluster::with_nodes(3);
        let cases: Vec<(&str, Cluster, &str, &[&str])> = vec![
            (
                "one extra over upperAvg 2",
                two().pods([rs("a", "n1"), rs("b", "n1"), rs("c", "n1")]),
                YAML,
                &["a"],
            ),
            (
                "4 pods on 3 nodes: upperAvg 2",
                three().pods([rs("a", "n1"), rs("b", "n1"), rs("c", "n1"), rs("d", "n1")]),
                YAML,
                &["a", "b"],
            ),
            (
                "already spread",
                two().pods([rs("a", "n1"), rs("b", "n2")]),
                YAML,
                &[],
            ),
            (
                "2+1 on 3 nodes: upperAvg 1",
                three().pods([rs("a", "n1"), rs("b", "n1"), rs("c", "n2")]),
                YAML,
                &["a"],
            ),
            (
                "2+2 on 2 nodes",
                two().pods([rs("a", "n1"), rs("b", "n1"), rs("c", "n2"), rs("d", "n2")]),
                YAML,
                &[],
            ),
            (
                "different images are different owners",
                two().pods([rs("a", "n1"), rs("b", "n1").image("other")]),
                YAML,
                &[],
            ),
            (
                "same owner name in two namespaces",
                two().pods([rs("a", "n1"), rs("b", "n1").ns("x")]),
                YAML,
                &[],
            ),
            (
                "other owner kind",
                two().pods([rs("a", "n1"), rs("b", "n1").owner("StatefulSet", "web")]),
                YAML,
                &[],
            ),
            (
                "bare pods are not duplicates",
                two().pods([pod("a").on("n1").bare(), pod("b").on("n1").bare()]),
                YAML,
                &[],
            ),
            (
                "excludeOwnerKinds",
                two().pods([rs("a", "n1"), rs("b", "n1"), rs("c", "n1")]),
                "strategies: {RemoveDuplicates: {params: {removeDuplicates: {excludeOwnerKinds: [ReplicaSet]}}}}",
                &[],
            ),
            (
                "excludeOwnerKinds of another kind",
                two().pods([rs("a", "n1"), rs("b", "n1"), rs("c", "n1")]),
                "strategies: {RemoveDuplicates: {params: {removeDuplicates: {excludeOwnerKinds: [Job]}}}}",
                &["a"],
            ),
            (
                "lowest priority goes first",
                two().pods([
                    rs("a", "n1").priority(10),
                    rs("b", "n1").priority(-1),
                    rs("c", "n1").priority(5),
                ]),
                YAML,
                &["b"],
            ),
            (
                "only evictable pods are counted",
                two().pods([
                    rs("a", "n1").priority(300_000_000),
                    rs("b", "n1").priority(2_000_000_000),
                    rs("c", "n1"),
                ]),
                "strategies: {RemoveDuplicates: {params: {thresholdPriority: 100}}}",
                &[],
            ),
            (
                "feasible nodes need matching labels",
                Cluster::default()
                    .node(node("n1").label("disk", "ssd"))
                    .node(node("n2"))
                    .pods([
                        rs("a", "n1").node_selector("disk", "ssd"),
                        rs("b", "n1").node_selector("disk", "ssd"),
                    ]),
                YAML,
                &[],
            ),
            (
                "feasible nodes need tolerated taints",
                Cluster::default()
                    .node(node("n1"))
                    .node(node("n2").taint("t", "", "NoExecute"))
                    .node(node("n3").taint("t", "", "PreferNoSchedule"))
                    .pods([rs("a", "n1"), rs("b", "n1"), rs("c", "n1")]),
                YAML,
                &["a"],
            ),
            (
                "tolerating pods have more feasible nodes",
                Cluster::default()
                    .node(node("n1"))
                    .node(node("n2").taint("t", "", "NoSchedule"))
                    .node(node("n3").taint("t", "", "NoSchedule"))
                    .pods([
                        rs("a", "n1").tolerate("t", "", ""),
                        rs("b", "n1").tolerate("t", "", ""),
                        rs("c", "n1").tolerate("t", "", ""),
                    ]),
                YAML,
                &["a", "b"],
            ),
            (
                "feasible nodes are processed nodes",
                Cluster::default()
                    .node(node("n1").label("role", "w"))
                    .node(node("n2"))
                    .pods([rs("a", "n1"), rs("b", "n1")]),
                "nodeSelector: role=w\nstrategies: {RemoveDuplicates: {}}",
                &[],
            ),
        ];
        for (what, c, yaml, want) in cases {
            assert_eq!(c.run(yaml).evicted_set(), *want, "{what}");
        }
    }

    #[test]
    fn not_evictable_pods_are_not_counted() {
        // Two evictable pods on n1 of two feasible nodes: upperAvg 1, one goes;
        // the pod with local storage neither counts nor is a candidate.
        let r = Cluster::with_nodes(2)
            .pods([rs("a", "n1"), rs("b", "n1"), rs("c", "n1").empty_dir()])
            .run(YAML);
        assert_eq!(r.evicted(), ["a"]);
        assert!(r.skipped().is_empty());
    }
}
