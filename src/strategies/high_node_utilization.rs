//! HighNodeUtilization: empties underutilized nodes while the other schedulable
//! nodes have room, so pods pack onto fewer nodes (pair it with a scheduler
//! that scores MostAllocated).

use super::Strategy;
use super::utilization::{
    Capacity, Thresholds, all_positive, below_all, check_thresholds, fill_natives, score, take,
};
use crate::api;
use crate::plan::eligibility::eviction_order;
use crate::plan::{Ledger, Outcome};
use crate::snapshot::{NodeId, PerNode, PodId};
use crate::validation::Errors;

#[derive(Debug, Clone)]
pub struct HighNodeUtilization {
    thresholds: Thresholds,
    number_of_nodes: u32,
}

impl Strategy for HighNodeUtilization {
    const NAME: &'static str = "HighNodeUtilization";
    type Spec = api::HighNodeUtilizationParams;

    fn spec(all: &api::Strategies) -> Option<&api::Strategy<Self::Spec>> {
        all.high_node_utilization.as_ref()
    }

    fn parse(spec: &Self::Spec, at: &str, errs: &mut Errors) -> Option<Self> {
        let base = format!("{at}.nodeResourceUtilizationThresholds");
        let t = spec
            .node_resource_utilization_thresholds
            .clone()
            .unwrap_or_default();
        let mut thresholds =
            check_thresholds(t.thresholds.as_ref(), &format!("{base}.thresholds"), errs)?;
        fill_natives(&mut thresholds);
        Some(Self {
            thresholds,
            number_of_nodes: t.number_of_nodes.unwrap_or(0).max(0).unsigned_abs(),
        })
    }

    fn run(&self, ledger: &mut Ledger<'_>) {
        let Self {
            thresholds,
            number_of_nodes,
        } = self;
        let snap = ledger.snap;
        let nodes: Vec<NodeId> = ledger.processed_nodes().collect();
        let mut under: Vec<NodeId> = nodes
            .iter()
            .copied()
            .filter(|&n| below_all(ledger, n, thresholds))
            .collect();
        if under.is_empty()
            || under.len() <= *number_of_nodes as usize
            || under.len() == nodes.len()
        {
            return;
        }
        let mut is_under = PerNode::filled(snap.nodes.len(), false);
        for &n in &under {
            is_under[n] = true;
        }
        let others: Vec<NodeId> = snap
            .node_ids()
            .filter(|&n| !is_under[n] && snap.node(n).ready && !snap.node(n).unschedulable)
            .collect();
        let mut spare: Capacity = thresholds
            .keys()
            .map(|r| {
                let free: i64 = others
                    .iter()
                    .map(|&n| snap.node(n).allocatable.get(r) - ledger.usage(n).get(r))
                    .sum();
                (r.clone(), free)
            })
            .collect();
        under.sort_by(|&a, &b| {
            score(ledger, a, thresholds)
                .total_cmp(&score(ledger, b, thresholds))
                .then(a.cmp(&b))
        });
        for node in under {
            let mut pods: Vec<PodId> = ledger
                .active_pods_on(node)
                .filter(|&p| ledger.in_scope(p))
                .collect();
            pods.sort_by_key(|&p| (eviction_order(snap, p), p));
            for id in pods {
                if !all_positive(&spare) {
                    return;
                }
                let reason = format!(
                    "{} is underutilized; packing its pods onto other nodes",
                    snap.node(node).name
                );
                if ledger.try_evict(id, reason) == Outcome::Evicted {
                    take(&mut spare, &snap.pod(id).requests);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn missing_native_resources_count_as_100() {
        let p: super::HighNodeUtilization =
            params("{nodeResourceUtilizationThresholds: {thresholds: {memory: 30}}}");
        assert_eq!(p.thresholds.get("memory"), Some(&30.0));
        assert_eq!(p.thresholds.get("cpu"), Some(&100.0));
        assert_eq!(p.thresholds.get("pods"), Some(&100.0));
    }

    fn hnu(extra: &str) -> String {
        format!(
            "strategies: {{HighNodeUtilization: {{params: {{nodeResourceUtilizationThresholds: {{thresholds: {{cpu: 20}}{extra}}}}}}}}}"
        )
    }

    /// n1 at 10%, n2 at 60%, n3 at 50%.
    fn basic() -> Cluster {
        Cluster::with_nodes(3)
            .pods(load("n1", 1, "400m"))
            .pods(load("n2", 3, "800m"))
            .pods(load("n3", 2, "1"))
    }

    #[test]
    fn classification_and_stop_conditions() {
        let cases: Vec<(&str, Cluster, String, &[&str])> = vec![
            (
                "empties the underutilized node",
                basic(),
                hnu(""),
                &["n1-1"],
            ),
            (
                "numberOfNodes equal to the count",
                basic(),
                hnu(", numberOfNodes: 1"),
                &[],
            ),
            (
                "no underutilized node",
                Cluster::with_nodes(2)
                    .pods(load("n1", 1, "1"))
                    .pods(load("n2", 1, "1")),
                hnu(""),
                &[],
            ),
            (
                "every node underutilized",
                Cluster::with_nodes(2).pods(load("n1", 1, "100m")),
                hnu(""),
                &[],
            ),
            (
                "spare capacity: the first pod uses up the little room left",
                Cluster::with_nodes(2)
                    .pods(load("n1", 2, "300m"))
                    .pods(load("n2", 1, "3800m")),
                hnu(""),
                &["n1-1"],
            ),
            (
                "unschedulable nodes are no room",
                Cluster::default()
                    .node(node("n1"))
                    .node(node("n2"))
                    .node(node("n3").unschedulable())
                    .pods(load("n1", 2, "300m"))
                    .pods(load("n2", 1, "3800m")),
                hnu(""),
                &["n1-1"],
            ),
            (
                "an unschedulable underutilized node is emptied",
                Cluster::default()
                    .node(node("n1").unschedulable())
                    .node(node("n2"))
                    .pods(load("n1", 2, "300m"))
                    .pods(load("n2", 1, "1")),
                hnu(""),
                &["n1-1", "n1-2"],
            ),
        ];
        for (what, c, yaml, want) in cases {
            assert_eq!(c.run(&yaml).evicted(), *want, "{what}");
        }
    }

    #[test]
    fn least_used_first_and_eviction_order() {
        let c = Cluster::with_nodes(3)
            .pods([
                pod("g").on("n1").req("300m", "1Mi").guaranteed(),
                pod("bu").on("n1").req("300m", ""),
                pod("be").on("n1"),
                pod("low")
                    .on("n1")
                    .req("100m", "1Mi")
                    .guaranteed()
                    .priority(-1),
            ])
            .pods(load("n2", 1, "100m"))
            .pods(load("n3", 3, "1"));
        let r = c.run(&hnu(""));
        assert_eq!(r.evicted(), ["n2-1", "low", "be", "bu", "g"]);
        let r = c.run(&format!("maxNoOfPodsToEvictTotal: 2\n{}", hnu("")));
        assert_eq!(r.evicted(), ["n2-1", "low"]);
    }
}
