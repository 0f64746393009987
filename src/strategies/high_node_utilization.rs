//! HighNodeUtilization: empties underutilized nodes while the other schedulable
//! nodes have room, so pods pack onto fewer nodes (pair it with a scheduler
//! that scores MostAllocated).

use super::Strategy;
use super::utilization::{
    Capacity, Loads, Thresholds, all_positive, below_all, check_source, check_thresholds,
    fill_natives, score, take,
};
use crate::api;
use k8s_openapi::api::core::v1::PodSpec;

use crate::plan::eligibility::{SkipReason, eviction_order};
use crate::plan::{Ledger, NodeClass, Outcome};
use crate::selectors::tolerates_all;
use crate::snapshot::{NodeId, PerNode, PodId, UsageSource};
use crate::validation::Errors;

#[derive(Debug, Clone)]
pub struct HighNodeUtilization {
    thresholds: Thresholds,
    number_of_nodes: u32,
    /// `evictionModes: [OnlyThresholdingResources]`: the resources the user
    /// listed; only pods requesting one of them explicitly are candidates.
    only_requesting: Option<Vec<String>>,
    /// `metricsUtilization`: where usage comes from (for classifying; the
    /// room on destinations stays by requests, as the scheduler places by them).
    source: UsageSource,
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
        let (source, source_ok) = check_source(t.metrics_utilization.as_ref(), &base, errs);
        let thresholds = check_thresholds(
            t.thresholds.as_ref(),
            &format!("{base}.thresholds"),
            &source,
            errs,
        );
        let only = t
            .eviction_modes
            .iter()
            .flatten()
            .any(|m| *m == api::EvictionMode::OnlyThresholdingResources);
        let modes_ok = !(only && matches!(source, UsageSource::Prometheus { .. }));
        if !modes_ok {
            errs.push(
                format!("{base}.evictionModes"),
                "OnlyThresholdingResources cannot be used with metricsUtilization.source Prometheus: no pod requests MetricResource",
            );
        }
        let mut thresholds = thresholds.filter(|_| source_ok && modes_ok)?;
        let only_requesting = only.then(|| thresholds.keys().cloned().collect());
        fill_natives(&mut thresholds, &source);
        Some(Self {
            thresholds,
            number_of_nodes: t.number_of_nodes.unwrap_or(0).max(0).unsigned_abs(),
            only_requesting,
            source,
        })
    }

    fn usage_source(&self) -> UsageSource {
        self.source.clone()
    }

    fn run(&self, ledger: &mut Ledger<'_>) {
        let Self {
            thresholds,
            number_of_nodes,
            only_requesting,
            source,
        } = self;
        let snap = ledger.snap;
        let nodes: Vec<NodeId> = ledger.processed_nodes().collect();
        let loads = match Loads::new(ledger, source, &nodes) {
            Ok(l) => l,
            Err(why) => return ledger.fail(why),
        };
        let mut under: Vec<NodeId> = nodes
            .iter()
            .copied()
            .filter(|&n| below_all(&loads, ledger, n, thresholds))
            .collect();
        loads.record(ledger, source, &nodes, thresholds, |n| {
            if under.contains(&n) {
                NodeClass::Underutilized
            } else {
                NodeClass::Appropriate
            }
        });
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
        // The destinations take pods by their requests, whatever they use.
        // With Prometheus the thresholds name the metric alone: the room is
        // the native resources'.
        let room_in: Vec<String> = if loads.knows_pods() {
            thresholds.keys().cloned().collect()
        } else {
            ["cpu", "memory", "pods"].map(String::from).to_vec()
        };
        let mut spare: Capacity = room_in
            .iter()
            .map(|r| {
                let free: i64 = others
                    .iter()
                    .map(|&n| snap.node(n).allocatable.get(r) - ledger.usage(n).get(r))
                    .sum();
                (r.clone(), free)
            })
            .collect();
        under.sort_by(|&a, &b| {
            score(&loads, ledger, a, thresholds)
                .total_cmp(&score(&loads, ledger, b, thresholds))
                .then(a.cmp(&b))
        });
        for node in under {
            let mut pods: Vec<PodId> = ledger
                .active_pods_on(node)
                .filter(|&p| ledger.in_scope(p))
                .filter(|&p| {
                    only_requesting
                        .as_ref()
                        .is_none_or(|res| requests_any(snap.pod(p).spec(), res))
                })
                .collect();
            pods.sort_by_key(|&p| (eviction_order(snap, p), p));
            for id in pods {
                if !all_positive(&spare) {
                    return;
                }
                // A pod no destination would take comes straight back.
                let tolerations = snap
                    .pod(id)
                    .spec()
                    .tolerations
                    .as_deref()
                    .unwrap_or_default();
                if !others.iter().any(|&d| {
                    tolerates_all(
                        tolerations,
                        &snap.node(d).taints,
                        &["NoSchedule", "NoExecute"],
                    )
                }) {
                    ledger.record_skip(SkipReason::NoFit);
                    continue;
                }
                let mut reason = format!(
                    "{} is underutilized; packing its pods onto other nodes",
                    snap.node(node).name
                );
                if loads.is_measured() {
                    reason.push_str(&format!(" (measured by {})", source.as_str()));
                }
                if ledger.try_evict(id, reason) == Outcome::Evicted {
                    take(&mut spare, &snap.pod(id).requests);
                }
            }
        }
    }
}

/// Whether a container or init container explicitly requests one of `resources`.
fn requests_any(spec: &PodSpec, resources: &[String]) -> bool {
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .filter_map(|c| c.resources.as_ref()?.requests.as_ref())
        .any(|req| resources.iter().any(|r| req.contains_key(r)))
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
    fn pods_must_tolerate_a_destination() {
        // n1 is underutilized; both destinations are tainted, n3 with a taint "t2" only.
        let c = Cluster::default()
            .node(node("n1"))
            .node(node("n2").taint("t", "", "NoSchedule"))
            .node(node("n3").taint("t2", "", "NoExecute"))
            .pods(load("n2", 2, "1"))
            .pods(load("n3", 2, "1"))
            .pod(pod("intolerant").on("n1").req("100m", ""))
            .pod(
                pod("tolerant")
                    .on("n1")
                    .req("100m", "")
                    .tolerate("t2", "", ""),
            );
        let r = c.run(&hnu(""));
        assert_eq!(r.evicted(), ["tolerant"]);
        assert_eq!(r.skipped(), [("NoFit".to_string(), 1)]);
        // PreferNoSchedule does not keep a pod away.
        let soft = Cluster::default()
            .node(node("n1"))
            .node(node("n2").taint("t", "", "PreferNoSchedule"))
            .pods(load("n2", 2, "1"))
            .pod(pod("p").on("n1").req("100m", ""));
        assert_eq!(soft.run(&hnu("")).evicted(), ["p"]);
    }

    #[test]
    fn eviction_modes_only_thresholding_resources() {
        let c = Cluster::with_nodes(2)
            .pods(load("n2", 2, "1"))
            .pod(pod("cpu").on("n1").req("100m", ""))
            .pod(pod("memory").on("n1").req("", "10Mi"))
            .pod(pod("init-cpu").on("n1").init_container("50m", ""))
            .pod(pod("nothing").on("n1"));
        let all = c.run(&hnu(""));
        assert_eq!(all.evicted_set(), ["cpu", "init-cpu", "memory", "nothing"]);
        let only = c.run(&hnu(", evictionModes: [OnlyThresholdingResources]"));
        assert_eq!(only.evicted_set(), ["cpu", "init-cpu"]);
        let bad = "{nodeResourceUtilizationThresholds: {thresholds: {cpu: 1}, evictionModes: [Everything]}}";
        assert!(serde_yaml_ng::from_str::<crate::api::HighNodeUtilizationParams>(bad).is_err());
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

    #[test]
    fn measured_usage_finds_the_idle_node() {
        // By requests every node is at 25% cpu; n1's pods use almost nothing.
        let c = Cluster::with_nodes(3)
            .pods(load("n1", 1, "1"))
            .pods(load("n2", 1, "1"))
            .pods(load("n3", 1, "1"));
        let by_usage = hnu(", metricsUtilization: {source: KubernetesMetrics}");
        assert!(c.run(&hnu("")).evicted().is_empty());
        let usage = kube_usage(
            &[
                ("n1", "100m", "1Gi"),
                ("n2", "2", "1Gi"),
                ("n3", "2", "1Gi"),
            ],
            &[
                ("n1-1", "100m", "1Gi"),
                ("n2-1", "2", "1Gi"),
                ("n3-1", "2", "1Gi"),
            ],
        );
        let r = c.run_with_usage(&by_usage, usage);
        assert_eq!(r.evicted(), ["n1-1"]);
        let t = r.tally("HighNodeUtilization");
        assert_eq!(t.figures.len(), 3);
        assert_eq!(t.figures[0].class, crate::plan::NodeClass::Underutilized);
        let r = c.run_with_usage(&by_usage, Default::default());
        assert!(r.evicted().is_empty());
        assert!(t.error.is_none() && r.tally("HighNodeUtilization").error.is_some());
    }

    #[test]
    fn prometheus_validation() {
        let c = Cluster::with_nodes(2);
        let errs = c.invalid("strategies: {HighNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {MetricResource: 20}, evictionModes: [OnlyThresholdingResources], metricsUtilization: {source: Prometheus, prometheus: {query: up}}}}}}");
        assert_eq!(
            errs[0].path,
            "spec.strategies.HighNodeUtilization.params.nodeResourceUtilizationThresholds.evictionModes"
        );
    }
}
