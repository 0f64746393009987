//! LowNodeUtilization: evicts pods from overutilized nodes while underutilized
//! nodes have room for them, so the scheduler can even out usage.

use super::Strategy;
use super::utilization::{
    Capacity, Loads, Thresholds, above_any, all_positive, below_all, check_source,
    check_thresholds, fill_natives, score, take,
};
use crate::api;
use crate::plan::eligibility::{SkipReason, eviction_order};
use crate::plan::{Ledger, NodeClass, Outcome};
use crate::selectors::tolerates_all;
use crate::snapshot::{NodeId, PodId, UsageSource};
use crate::validation::Errors;

#[derive(Debug, Clone)]
pub struct LowNodeUtilization {
    thresholds: Thresholds,
    target_thresholds: Thresholds,
    number_of_nodes: u32,
    use_deviation_thresholds: bool,
    /// `evictionLimits.node`: this strategy's evictions per overutilized node.
    per_node_limit: Option<u32>,
    /// `metricsUtilization`: where usage comes from.
    source: UsageSource,
}

impl Strategy for LowNodeUtilization {
    const NAME: &'static str = "LowNodeUtilization";
    type Spec = api::LowNodeUtilizationParams;

    fn spec(all: &api::Strategies) -> Option<&api::Strategy<Self::Spec>> {
        all.low_node_utilization.as_ref()
    }

    fn parse(spec: &Self::Spec, at: &str, errs: &mut Errors) -> Option<Self> {
        let base = format!("{at}.nodeResourceUtilizationThresholds");
        let t = spec
            .node_resource_utilization_thresholds
            .clone()
            .unwrap_or_default();
        let deviation = t.use_deviation_thresholds.unwrap_or(false);
        let (source, source_ok) = check_source(t.metrics_utilization.as_ref(), &base, errs);
        let thresholds = check_thresholds(
            t.thresholds.as_ref(),
            &format!("{base}.thresholds"),
            &source,
            errs,
        );
        let targets = check_thresholds(
            t.target_thresholds.as_ref(),
            &format!("{base}.targetThresholds"),
            &source,
            errs,
        );
        let mut ok = source_ok && thresholds.is_some() && targets.is_some();
        let mut thresholds = thresholds
            .or_else(|| t.thresholds.clone())
            .unwrap_or_default();
        let mut target_thresholds = targets
            .or_else(|| t.target_thresholds.clone())
            .unwrap_or_default();
        for name in thresholds
            .keys()
            .filter(|k| !target_thresholds.contains_key(*k))
        {
            errs.push(
                format!("{base}.targetThresholds"),
                format!("has no entry for {name}, which thresholds lists"),
            );
            ok = false;
        }
        for name in target_thresholds
            .keys()
            .filter(|k| !thresholds.contains_key(*k))
        {
            errs.push(
                format!("{base}.thresholds"),
                format!("has no entry for {name}, which targetThresholds lists"),
            );
            ok = false;
        }
        if !deviation {
            for (name, low) in &thresholds {
                if let Some(high) = target_thresholds.get(name)
                    && low > high
                {
                    errs.push(
                        format!("{base}.thresholds.{name}"),
                        format!("{low} is greater than targetThresholds.{name} ({high})"),
                    );
                    ok = false;
                }
            }
            fill_natives(&mut thresholds, &source);
            fill_natives(&mut target_thresholds, &source);
        }
        let per_node_limit = match t.eviction_limits.as_ref().and_then(|l| l.node) {
            Some(n) if n < 0 => {
                errs.push(
                    format!("{base}.evictionLimits.node"),
                    format!("{n} is negative"),
                );
                ok = false;
                None
            }
            other => other.map(i32::unsigned_abs),
        };
        ok.then_some(Self {
            thresholds,
            target_thresholds,
            number_of_nodes: t.number_of_nodes.unwrap_or(0).max(0).unsigned_abs(),
            use_deviation_thresholds: deviation,
            per_node_limit,
            source,
        })
    }

    fn usage_source(&self) -> UsageSource {
        self.source.clone()
    }

    fn run(&self, ledger: &mut Ledger<'_>) {
        let Self {
            thresholds,
            target_thresholds,
            number_of_nodes,
            use_deviation_thresholds,
            per_node_limit,
            source,
        } = self;
        let snap = ledger.snap;
        let nodes: Vec<NodeId> = ledger.processed_nodes().collect();
        let mut loads = match Loads::new(ledger, source, &nodes) {
            Ok(l) => l,
            Err(why) => return ledger.fail(why),
        };
        let (low, high) = if *use_deviation_thresholds {
            deviation_limits(&loads, ledger, &nodes, thresholds, target_thresholds)
        } else {
            (thresholds.clone(), target_thresholds.clone())
        };
        let under: Vec<NodeId> = nodes
            .iter()
            .copied()
            .filter(|&n| !snap.node(n).unschedulable && below_all(&loads, ledger, n, &low))
            .collect();
        let mut over: Vec<NodeId> = nodes
            .iter()
            .copied()
            .filter(|&n| above_any(&loads, ledger, n, &high))
            .collect();
        loads.record(ledger, source, &nodes, &high, |n| {
            if over.contains(&n) {
                NodeClass::Overutilized
            } else if under.contains(&n) {
                NodeClass::Underutilized
            } else {
                NodeClass::Appropriate
            }
        });
        if under.is_empty()
            || under.len() <= *number_of_nodes as usize
            || under.len() == nodes.len()
            || over.is_empty()
        {
            return;
        }
        // Spare room below the target on the underutilized nodes; natives the maps omit count as 100%.
        let mut resources: Vec<&str> = high.keys().map(String::as_str).collect();
        if loads.knows_pods() {
            for r in ["cpu", "memory", "pods"] {
                if !resources.contains(&r) {
                    resources.push(r);
                }
            }
        }
        let mut spare: Capacity = resources
            .iter()
            .map(|&r| {
                let pct = high.get(r).copied().unwrap_or(100.0);
                let room: i64 = under.iter().map(|&n| loads.room(ledger, n, r, pct)).sum();
                (r.to_string(), room)
            })
            .collect();

        over.sort_by(|&a, &b| {
            score(&loads, ledger, b, &high)
                .total_cmp(&score(&loads, ledger, a, &high))
                .then(a.cmp(&b))
        });
        for node in over {
            if !all_positive(&spare) {
                break;
            }
            let mut pods: Vec<PodId> = ledger
                .active_pods_on(node)
                .filter(|&p| ledger.in_scope(p))
                .collect();
            pods.sort_by_key(|&p| (eviction_order(snap, p), p));
            let mut evicted_here = 0;
            for id in pods {
                if !above_any(&loads, ledger, node, &high) || !all_positive(&spare) {
                    break;
                }
                // Prometheus says nothing of a pod's share: one pod per
                // overutilized node per run, and the next run measures again.
                if !loads.knows_pods() && evicted_here > 0 {
                    break;
                }
                if per_node_limit.is_some_and(|max| evicted_here >= max) {
                    // The node would still give up a pod: that one is counted.
                    ledger.record_skip(SkipReason::LimitReached);
                    break;
                }
                let tolerations = snap
                    .pod(id)
                    .spec()
                    .tolerations
                    .as_deref()
                    .unwrap_or_default();
                if !under.iter().any(|&u| {
                    tolerates_all(
                        tolerations,
                        &snap.node(u).taints,
                        &["NoSchedule", "NoExecute"],
                    )
                }) {
                    ledger.record_skip(SkipReason::NoFit);
                    continue;
                }
                let share = loads.share(ledger, id);
                if loads.knows_pods() && share.is_none() {
                    ledger.record_skip(SkipReason::NoMetrics);
                    continue;
                }
                let mut reason = format!(
                    "{} is overutilized ({})",
                    snap.node(node).name,
                    describe(&loads, ledger, node, &high)
                );
                if loads.is_measured() {
                    reason.push_str(&format!(", measured by {}", source.as_str()));
                }
                if ledger.try_evict(id, reason) == Outcome::Evicted {
                    if let Some(share) = &share {
                        take(&mut spare, share);
                    }
                    loads.evicted(ledger, id);
                    evicted_here += 1;
                }
            }
        }
    }
}

/// With deviation thresholds, the limits are the mean usage minus `thresholds`
/// and plus `targetThresholds`, clamped to 0..100.
fn deviation_limits(
    loads: &Loads<'_>,
    ledger: &Ledger<'_>,
    nodes: &[NodeId],
    thresholds: &Thresholds,
    targets: &Thresholds,
) -> (Thresholds, Thresholds) {
    let mean = |r: &str| {
        if nodes.is_empty() {
            0.0
        } else {
            nodes
                .iter()
                .map(|&n| loads.percent(ledger, n, r))
                .sum::<f64>()
                / nodes.len() as f64
        }
    };
    let low = thresholds
        .iter()
        .map(|(r, d)| (r.clone(), (mean(r) - d).clamp(0.0, 100.0)))
        .collect();
    let high = targets
        .iter()
        .map(|(r, d)| (r.clone(), (mean(r) + d).clamp(0.0, 100.0)))
        .collect();
    (low, high)
}

fn describe(loads: &Loads<'_>, ledger: &Ledger<'_>, node: NodeId, limits: &Thresholds) -> String {
    limits
        .iter()
        .filter(|(r, limit)| loads.percent(ledger, node, r) > **limit)
        .map(|(r, limit)| format!("{r} {:.0}% > {limit:.0}%", loads.percent(ledger, node, r)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn missing_native_resources_count_as_100_in_both_maps() {
        let p: super::LowNodeUtilization = params(
            "{nodeResourceUtilizationThresholds: {thresholds: {cpu: 20, example.com/gpu: 5}, targetThresholds: {cpu: 50, example.com/gpu: 60}}}",
        );
        let want = |cpu: f64, gpu: f64| -> Vec<(String, f64)> {
            [
                ("cpu", cpu),
                ("example.com/gpu", gpu),
                ("memory", 100.0),
                ("pods", 100.0),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect()
        };
        assert_eq!(
            p.thresholds.into_iter().collect::<Vec<_>>(),
            want(20.0, 5.0)
        );
        assert_eq!(
            p.target_thresholds.into_iter().collect::<Vec<_>>(),
            want(50.0, 60.0)
        );
    }

    const YAML: &str = "strategies: {LowNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {cpu: 20}, targetThresholds: {cpu: 50}}}}}";

    fn lnu(extra: &str) -> String {
        format!(
            "strategies: {{LowNodeUtilization: {{params: {{nodeResourceUtilizationThresholds: {{thresholds: {{cpu: 20}}, targetThresholds: {{cpu: 50}}{extra}}}}}}}}}"
        )
    }

    /// n1 at 100% cpu, n2 empty, n3 at 25% (neither under nor over).
    fn basic() -> Cluster {
        Cluster::with_nodes(3)
            .pods(load("n1", 4, "1"))
            .pods(load("n3", 1, "1"))
    }

    #[test]
    fn classification_and_stop_conditions() {
        let cases: Vec<(&str, Cluster, String, &[&str])> = vec![
            ("evicts until n1 is at its target", basic(), YAML.into(), &["n1-1", "n1-2"]),
            ("numberOfNodes equal to the underutilized count", basic(), lnu(", numberOfNodes: 1"), &[]),
            ("numberOfNodes below it", basic(), lnu(", numberOfNodes: 0"), &["n1-1", "n1-2"]),
            ("no underutilized node", basic().pods(load("n2", 1, "1")), YAML.into(), &[]),
            ("no overutilized node", Cluster::with_nodes(3).pods(load("n1", 2, "1")), YAML.into(), &[]),
            ("all nodes underutilized", Cluster::with_nodes(3), YAML.into(), &[]),
            (
                "an unschedulable node is never underutilized",
                Cluster::default()
                    .node(node("n1"))
                    .node(node("n2").unschedulable())
                    .pods(load("n1", 4, "1")),
                YAML.into(),
                &[],
            ),
            (
                "an unschedulable node can be overutilized",
                Cluster::default()
                    .node(node("n1").unschedulable())
                    .node(node("n2"))
                    .pods(load("n1", 4, "1")),
                YAML.into(),
                &["n1-1", "n1-2"],
            ),
            (
                "usage at exactly the threshold is not under it",
                Cluster::with_nodes(2).pods(load("n1", 4, "1")).pods(load("n2", 1, "800m")),
                YAML.into(),
                &[],
            ),
            (
                "usage at exactly the target is not over it",
                Cluster::with_nodes(2).pods(load("n1", 2, "1")),
                YAML.into(),
                &[],
            ),
            (
                "any listed resource makes a node overutilized",
                Cluster::with_nodes(2).pods((1..=3).map(|i| pod(&format!("m{i}")).on("n1").req("", "2Gi"))),
                "strategies: {LowNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {cpu: 20, memory: 20}, targetThresholds: {cpu: 50, memory: 50}}}}}".into(),
                &["m1"],
            ),
            (
                "pods: count over allocatable pods",
                Cluster::default()
                    .node(node("n1").pods(4))
                    .node(node("n2").pods(4))
                    .pods((1..=4).map(|i| pod(&format!("p{i}")).on("n1"))),
                "strategies: {LowNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {pods: 20}, targetThresholds: {pods: 50}}}}}".into(),
                &["p1", "p2"],
            ),
            (
                "unprocessed nodes are neither",
                basic().node(node("n4")),
                format!("nodeSelector: kubernetes.io/os!=none\n{YAML}"),
                &["n1-1", "n1-2"],
            ),
        ];
        for (what, c, yaml, want) in cases {
            assert_eq!(c.run(&yaml).evicted(), *want, "{what}");
        }
    }

    #[test]
    fn spare_capacity_stops_evictions() {
        // n2 at 15%: room up to 50% is 1400m; the first 1500m pod uses it all up.
        let c = Cluster::with_nodes(2)
            .pods([
                pod("a").on("n1").req("1500m", ""),
                pod("b").on("n1").req("1500m", "").priority(1),
                pod("c").on("n1").req("1", "").priority(2),
            ])
            .pod(pod("small").on("n2").req("600m", ""));
        assert_eq!(c.run(YAML).evicted(), ["a"]);
        // Evicting the BestEffort pod first frees nothing: spare stays, n1 stays over.
        let c = Cluster::with_nodes(2).pods([
            pod("be").on("n1").priority(5),
            pod("x").on("n1").req("3", "").priority(5),
        ]);
        assert_eq!(c.run(YAML).evicted(), ["be", "x"]);
    }

    #[test]
    fn eviction_order_lowest_priority_then_qos() {
        let c = Cluster::with_nodes(2).pods([
            pod("g").on("n1").req("1500m", "1Mi").guaranteed(),
            pod("bu").on("n1").req("1", ""),
            pod("be").on("n1"),
            pod("low")
                .on("n1")
                .req("500m", "1Mi")
                .guaranteed()
                .priority(-1),
        ]);
        // 75% -> low (62.5%) -> be (62.5%) -> bu (37.5%): below the target.
        assert_eq!(c.run(YAML).evicted(), ["low", "be", "bu"]);
    }

    #[test]
    fn most_used_node_first() {
        let c = Cluster::with_nodes(3)
            .pods(load("n1", 3, "1"))
            .pods(load("n3", 4, "1"));
        let r = c.run(&format!("maxNoOfPodsToEvictTotal: 1\n{YAML}"));
        assert_eq!(r.evicted(), ["n3-1"]);
    }

    #[test]
    fn eviction_limits_cap_evictions_per_overutilized_node() {
        // n1 and n2 overutilized (4 pods each), n3 and n4 empty.
        let c = Cluster::with_nodes(4)
            .pods(load("n1", 4, "1"))
            .pods(load("n2", 4, "1"));
        let yaml = |limits: &str| {
            format!(
                "strategies: {{LowNodeUtilization: {{params: {{nodeResourceUtilizationThresholds: {{thresholds: {{cpu: 20}}, targetThresholds: {{cpu: 50}}{limits}}}}}}}}}"
            )
        };
        assert_eq!(c.run(&yaml("")).evicted().len(), 4);
        let capped = c.run(&yaml(", evictionLimits: {node: 1}"));
        assert_eq!(capped.evicted(), ["n1-1", "n2-1"]);
        assert_eq!(capped.skipped(), [("LimitReached".to_string(), 2)]);
        assert!(
            c.run(&yaml(", evictionLimits: {node: 0}"))
                .evicted()
                .is_empty()
        );
        let errs = c.invalid(&yaml(", evictionLimits: {node: -1}"));
        assert_eq!(
            errs[0].path,
            "spec.strategies.LowNodeUtilization.params.nodeResourceUtilizationThresholds.evictionLimits.node"
        );
    }

    #[test]
    fn pods_must_tolerate_an_underutilized_node() {
        let c = Cluster::default()
            .node(node("n1"))
            .node(node("n2").taint("t", "", "NoSchedule"))
            .pods(load("n1", 3, "1"))
            .pod(pod("tolerant").on("n1").req("1", "").tolerate("t", "", ""));
        let r = c.run(YAML);
        assert_eq!(r.evicted(), ["tolerant"]);
        // n1 at 75% after: each intolerant pod was a candidate it could not take.
        assert_eq!(r.skipped(), [("NoFit".to_string(), 3)]);
    }

    #[test]
    fn deviation_thresholds() {
        // cpu: n1 80%, n2 10%, n3 30%: mean 40, so under < 30 and over > 50.
        let c = Cluster::with_nodes(3)
            .pods(load("n1", 4, "800m"))
            .pods(load("n2", 1, "400m"))
            .pods(load("n3", 1, "1200m"));
        let yaml = "strategies: {LowNodeUtilization: {params: {nodeResourceUtilizationThresholds: {useDeviationThresholds: true, thresholds: {cpu: 10}, targetThresholds: {cpu: 10}}}}}";
        assert_eq!(c.run(yaml).evicted(), ["n1-1", "n1-2"]);
        // A wider band leaves n1 (80 <= 40 + 40) alone.
        let wide = yaml.replace("targetThresholds: {cpu: 10}", "targetThresholds: {cpu: 40}");
        assert!(c.run(&wide).evicted().is_empty());
    }

    #[test]
    fn nothing_left_to_evict_is_not_an_error() {
        let c = Cluster::with_nodes(2).pods(
            load("n1", 4, "1")
                .into_iter()
                .map(|p| p.owner("DaemonSet", "ds")),
        );
        let r = c.run(YAML);
        assert!(r.evicted().is_empty());
        assert_eq!(r.skipped(), [("NotEvictable:DaemonSetPod".to_string(), 4)]);
    }

    const BY_USAGE: &str = "strategies: {LowNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {cpu: 20, memory: 20}, targetThresholds: {cpu: 50, memory: 50}, metricsUtilization: {source: KubernetesMetrics}}}}}";
    const BY_REQUESTS: &str = "strategies: {LowNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {cpu: 20, memory: 20}, targetThresholds: {cpu: 50, memory: 50}}}}}";

    /// Equal requests (25% cpu each); n1's pods use far more than they request.
    fn hot() -> Cluster {
        Cluster::with_nodes(2)
            .pods([
                pod("hog").on("n1").req("500m", "1Gi"),
                pod("small").on("n1").req("500m", "1Gi").priority(5),
            ])
            .pods([pod("calm").on("n2").req("1", "1Gi")])
    }

    fn hot_usage() -> crate::snapshot::UsageInput {
        kube_usage(
            &[("n1", "3600m", "2Gi"), ("n2", "200m", "1Gi")],
            &[
                ("hog", "3000m", "1Gi"),
                ("small", "600m", "1Gi"),
                ("calm", "200m", "1Gi"),
            ],
        )
    }

    #[test]
    fn measured_usage_classifies_where_requests_see_balance() {
        let c = hot();
        assert!(c.run(BY_REQUESTS).evicted().is_empty());
        let r = c.run_with_usage(BY_USAGE, hot_usage());
        // 90% cpu: moving hog frees 3000m of it, so n1 is at 15%, below the target.
        assert_eq!(r.evicted(), ["hog"]);
        let t = r.tally("LowNodeUtilization");
        assert_eq!(t.error, None);
        assert_eq!(t.source, Some("KubernetesMetrics"));
        let classes: Vec<_> = t.figures.iter().map(|f| (f.class, f.cpu)).collect();
        assert_eq!(
            classes,
            [
                (crate::plan::NodeClass::Overutilized, Some(3600)),
                (crate::plan::NodeClass::Underutilized, Some(200)),
            ]
        );
        assert_eq!(t.figures[0].percent.get("cpu"), Some(&90.0));
        assert!(
            r.result.evictions[0]
                .reason
                .contains("measured by KubernetesMetrics")
        );
    }

    #[test]
    fn missing_metrics_fail_the_strategy_without_guessing() {
        let c = hot();
        let only_n1 = kube_usage(&[("n1", "3600m", "2Gi")], &[("hog", "3", "1Gi")]);
        let r = c.run_with_usage(BY_USAGE, only_n1);
        assert!(r.evicted().is_empty());
        assert_eq!(
            r.tally("LowNodeUtilization").error.as_deref(),
            Some("metrics.k8s.io has no NodeMetrics for n2")
        );
        let down = crate::snapshot::UsageInput {
            kubernetes: Some(Err(
                "the server is currently unable to handle the request".into()
            )),
            ..Default::default()
        };
        let r = c.run_with_usage(BY_USAGE, down);
        assert!(r.evicted().is_empty());
        assert_eq!(
            r.tally("LowNodeUtilization").error.as_deref(),
            Some(
                "no usage from metrics.k8s.io: the server is currently unable to handle the request"
            )
        );
    }

    #[test]
    fn a_pod_without_pod_metrics_is_not_moved() {
        let usage = kube_usage(
            &[("n1", "3600m", "2Gi"), ("n2", "200m", "1Gi")],
            &[("small", "600m", "1Gi"), ("calm", "200m", "1Gi")],
        );
        let r = hot().run_with_usage(BY_USAGE, usage);
        // hog has none; small frees 600m: n1 at 75%, still over, nothing else to take.
        assert_eq!(r.evicted(), ["small"]);
        assert_eq!(r.skipped(), [("NoMetrics".to_string(), 1)]);
    }

    #[test]
    fn prometheus_moves_one_pod_per_overutilized_node() {
        let yaml = "strategies: {LowNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {MetricResource: 20}, targetThresholds: {MetricResource: 50}, metricsUtilization: {source: Prometheus, prometheus: {query: q}}}}}}";
        let c = Cluster::with_nodes(3).pods(load("n1", 3, "100m"));
        let usage = |values: &[(&str, f64)]| crate::snapshot::UsageInput {
            prometheus: [(
                "q".to_string(),
                Ok(values.iter().map(|(n, v)| (n.to_string(), *v)).collect()),
            )]
            .into(),
            ..Default::default()
        };
        let r = c.run_with_usage(yaml, usage(&[("n1", 0.9), ("n2", 0.1), ("n3", 0.3)]));
        assert_eq!(r.evicted(), ["n1-1"]);
        let t = r.tally("LowNodeUtilization");
        assert_eq!(t.figures[0].percent.get("MetricResource"), Some(&90.0));
        let r = c.run_with_usage(yaml, usage(&[("n1", 0.9), ("n2", 0.1)]));
        assert!(r.evicted().is_empty());
        assert!(
            r.tally("LowNodeUtilization")
                .error
                .as_deref()
                .is_some_and(|e| e.ends_with("for n3")),
        );
    }

    #[test]
    fn metrics_validation_names_the_field() {
        let base = "spec.strategies.LowNodeUtilization.params.nodeResourceUtilizationThresholds";
        let c = Cluster::with_nodes(2);
        let lnu = |t: &str, tt: &str, m: &str| {
            format!(
                "strategies: {{LowNodeUtilization: {{params: {{nodeResourceUtilizationThresholds: {{thresholds: {t}, targetThresholds: {tt}, metricsUtilization: {m}}}}}}}}}"
            )
        };
        let paths = |yaml: String| -> Vec<String> {
            c.invalid(&yaml).into_iter().map(|e| e.path).collect()
        };
        assert_eq!(
            paths(lnu(
                "{example.com/gpu: 10}",
                "{example.com/gpu: 20}",
                "{source: KubernetesMetrics}"
            )),
            [
                format!("{base}.thresholds.example.com/gpu"),
                format!("{base}.targetThresholds.example.com/gpu")
            ]
        );
        assert_eq!(
            paths(lnu(
                "{MetricResource: 10}",
                "{MetricResource: 20}",
                "{source: Prometheus}"
            )),
            [format!("{base}.metricsUtilization.prometheus.query")]
        );
        assert_eq!(
            paths(lnu(
                "{cpu: 10}",
                "{cpu: 20}",
                "{source: Prometheus, prometheus: {query: up}}"
            )),
            [
                format!("{base}.thresholds.cpu"),
                format!("{base}.targetThresholds.cpu")
            ]
        );
        assert_eq!(
            paths(lnu(
                "{MetricResource: 10}",
                "{MetricResource: 20}",
                "{source: KubernetesMetrics}"
            )),
            [
                format!("{base}.thresholds.MetricResource"),
                format!("{base}.targetThresholds.MetricResource")
            ]
        );
        assert_eq!(
            paths(lnu(
                "{cpu: 10}",
                "{cpu: 20}",
                "{source: KubernetesMetrics, prometheus: {query: up}}"
            )),
            [format!("{base}.metricsUtilization.prometheus")]
        );
        let ok = c.policy(&lnu(
            "{MetricResource: 10}",
            "{MetricResource: 20}",
            "{source: Prometheus, prometheus: {query: up}}",
        ));
        assert_eq!(
            ok.usage_sources().into_iter().collect::<Vec<_>>(),
            [crate::snapshot::UsageSource::Prometheus { query: "up".into() }]
        );
        assert!(c.policy(BY_REQUESTS).usage_sources().is_empty());
    }
}
