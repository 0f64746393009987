//! The pure driver of one run (SPEC §2): the Ready-node rule, then every
//! enabled strategy in registry order against one ledger. `simulate` and the
//! operator both plan through here; neither calls a strategy itself.

use crate::plan::ledger::Only;
use crate::plan::{EvictionPlan, Ledger};
use crate::policy::Policy;
use crate::snapshot::Snapshot;

/// Plans a whole run: every enabled strategy in order against one snapshot.
pub fn plan(snap: &Snapshot, policy: &Policy) -> EvictionPlan {
    plan_observed(snap, policy, &mut |_, run| run())
}

/// Like [`plan`], letting the caller wrap each strategy (the operator times
/// them) without this module reading the clock.
pub fn plan_observed(
    snap: &Snapshot,
    policy: &Policy,
    observe: &mut dyn FnMut(&'static str, &mut dyn FnMut()),
) -> EvictionPlan {
    plan_restricted(snap, policy, None, observe)
}

/// Like [`plan`], without predicting where the replacements go: what the
/// planning costs without the placement model (benches).
pub fn plan_blind(snap: &Snapshot, policy: &Policy) -> EvictionPlan {
    drive(
        Ledger::blind(snap, &policy.rules),
        policy,
        None,
        &mut |_, run| run(),
    )
}

/// Like [`plan_observed`], taking only the proposals `only` accepts (pod,
/// strategy name): how an approved plan is checked again.
pub fn plan_restricted(
    snap: &Snapshot,
    policy: &Policy,
    only: Option<&Only<'_>>,
    observe: &mut dyn FnMut(&'static str, &mut dyn FnMut()),
) -> EvictionPlan {
    drive(Ledger::new(snap, &policy.rules), policy, only, observe)
}

fn drive<'a>(
    mut ledger: Ledger<'a>,
    policy: &'a Policy,
    only: Option<&'a Only<'a>>,
    observe: &mut dyn FnMut(&'static str, &mut dyn FnMut()),
) -> EvictionPlan {
    let snap = ledger.snap;
    if let Some(only) = only {
        ledger.restrict(only);
    }
    let ready = snap.nodes.values().filter(|n| n.ready).count();
    if ready < 2 {
        ledger.skip_run(format!("{ready} Ready node(s); at least 2 are needed"));
        return ledger.finish();
    }
    for cfg in &policy.strategies {
        ledger.begin(cfg.name(), &cfg.common, cfg.strategy.moves_pods());
        observe(cfg.name(), &mut || cfg.strategy.run(&mut ledger));
    }
    ledger.finish()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::testing::*;

    const LIFETIME: &str = "PodLifeTime: {params: {podLifeTime: {maxPodLifeTimeSeconds: 600}}}";

    fn skips(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn fewer_than_two_ready_nodes_skips_the_run() {
        let c = Cluster::default()
            .node(node("n1"))
            .node(node("n2").not_ready())
            .pod(pod("p").on("n1"));
        let run = c.run(&format!("strategies: {{{LIFETIME}}}"));
        assert!(run.evicted().is_empty());
        assert_eq!(
            run.result.skipped_run.as_deref(),
            Some("1 Ready node(s); at least 2 are needed")
        );
        assert!(run.result.strategies.is_empty());
        let two = c
            .node(node("n3"))
            .run(&format!("strategies: {{{LIFETIME}}}"));
        assert_eq!(two.result.skipped_run, None);
        assert_eq!(two.evicted(), ["p"]);
    }

    #[test]
    fn strategies_run_in_spec_order_whatever_the_yaml_order() {
        let yaml = "strategies: {
            HighNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {cpu: 1}}}},
            LowNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {cpu: 1}, targetThresholds: {cpu: 2}}}},
            RemovePodsViolatingTopologySpreadConstraint: {},
            RemoveDuplicates: {},
            RemovePodsViolatingInterPodAntiAffinity: {},
            RemovePodsViolatingNodeAffinity: {},
            RemovePodsViolatingNodeTaints: {},
            RemovePodsHavingTooManyRestarts: {params: {podsHavingTooManyRestarts: {podRestartThreshold: 1}}},
            PodLifeTime: {params: {podLifeTime: {maxPodLifeTimeSeconds: 600}}},
            RemoveFailedPods: {}}";
        let run = Cluster::with_nodes(2).run(yaml);
        let names: Vec<&str> = run.result.strategies.iter().map(|t| t.name).collect();
        // SPEC §2's order; the registry is the one list and must keep it.
        let registry: Vec<&str> = crate::strategies::registry::names().collect();
        assert_eq!(names, registry);
        assert_eq!(
            names,
            [
                "RemoveFailedPods",
                "PodLifeTime",
                "RemovePodsHavingTooManyRestarts",
                "RemovePodsViolatingNodeTaints",
                "RemovePodsViolatingNodeAffinity",
                "RemovePodsViolatingInterPodAntiAffinity",
                "RemoveDuplicates",
                "RemovePodsViolatingTopologySpreadConstraint",
                "LowNodeUtilization",
                "HighNodeUtilization",
            ]
        );
    }

    #[test]
    fn a_pod_is_evicted_at_most_once_by_the_first_strategy() {
        let yaml = format!(
            "strategies: {{RemovePodsHavingTooManyRestarts: {{params: {{podsHavingTooManyRestarts: {{podRestartThreshold: 3}}}}}}, {LIFETIME}}}"
        );
        let run = Cluster::with_nodes(2)
            .pod(pod("old-restarting").on("n1").restarts(5))
            .pod(pod("young-restarting").on("n1").age(30).restarts(5))
            .pod(pod("old").on("n2"))
            .run(&yaml);
        assert_eq!(
            run.evicted_by(),
            [
                ("old", "PodLifeTime"),
                ("old-restarting", "PodLifeTime"),
                ("young-restarting", "RemovePodsHavingTooManyRestarts"),
            ]
        );
        let restarts = run.tally("RemovePodsHavingTooManyRestarts");
        assert_eq!((restarts.evicted, restarts.skipped.len()), (1, 0));
    }

    #[test]
    fn limits_count_every_eviction_of_the_run() {
        // Oldest first: a, b (n1, ns x), c (n2, ns x), d (n2, ns y).
        let c = Cluster::with_nodes(2).pods([
            pod("a").on("n1").ns("x").age(4000),
            pod("b").on("n1").ns("x").age(3900),
            pod("c").on("n2").ns("x").age(3800),
            pod("d").on("n2").ns("y").age(3700),
        ]);
        let cases: &[(&str, &[&str], u32)] = &[
            ("", &["a", "b", "c", "d"], 0),
            ("maxNoOfPodsToEvictPerNode: 1", &["a", "c"], 2),
            ("maxNoOfPodsToEvictPerNode: 2", &["a", "b", "c", "d"], 0),
            ("maxNoOfPodsToEvictPerNamespace: 1", &["a", "d"], 2),
            ("maxNoOfPodsToEvictTotal: 3", &["a", "b", "c"], 1),
            ("maxNoOfPodsToEvictTotal: 0", &[], 4),
            ("maxNoOfPodsToEvictPerNode: 0", &[], 4),
            ("maxNoOfPodsToEvictPerNamespace: 0", &[], 4),
            (
                "{maxNoOfPodsToEvictPerNode: 1, maxNoOfPodsToEvictPerNamespace: 1}",
                &["a", "d"],
                2,
            ),
        ];
        for (limits, want, limited) in cases {
            let limits = limits.trim_start_matches('{').trim_end_matches('}');
            let yaml = format!(
                "{{{limits}{}strategies: {{{LIFETIME}}}}}",
                if limits.is_empty() { "" } else { ", " }
            );
            let run = c.run(&yaml);
            assert_eq!(run.evicted(), *want, "{limits}");
            let expect = if *limited == 0 {
                skips(&[])
            } else {
                skips(&[("LimitReached", *limited)])
            };
            assert_eq!(run.tally("PodLifeTime").skipped, expect, "{limits}");
        }
    }

    #[test]
    fn limits_apply_across_strategies() {
        let yaml = format!(
            "maxNoOfPodsToEvictTotal: 2\nstrategies: {{{LIFETIME}, RemovePodsHavingTooManyRestarts: {{params: {{podsHavingTooManyRestarts: {{podRestartThreshold: 1}}}}}}}}"
        );
        let run = Cluster::with_nodes(2)
            .pod(pod("old").on("n1"))
            .pod(pod("r1").on("n1").age(10).restarts(1))
            .pod(pod("r2").on("n2").age(10).restarts(1))
            .run(&yaml);
        assert_eq!(run.evicted(), ["old", "r1"]);
        assert_eq!(
            run.tally("RemovePodsHavingTooManyRestarts").skipped,
            skips(&[("LimitReached", 1)])
        );
    }

    #[test]
    fn node_usage_is_updated_for_later_strategies() {
        let low = "LowNodeUtilization: {params: {nodeResourceUtilizationThresholds: {thresholds: {cpu: 20}, targetThresholds: {cpu: 50}}}}";
        let c = Cluster::with_nodes(3).pods([
            pod("old").on("n1").req("2", ""),
            pod("new1").on("n1").age(30).req("1", ""),
            pod("new2").on("n1").age(30).req("1", ""),
        ]);
        // Alone, LowNodeUtilization takes n1 from 100% down to 50% cpu.
        assert_eq!(
            c.run(&format!("strategies: {{{low}}}")).evicted(),
            ["new1", "new2"]
        );
        // After PodLifeTime evicted `old`, n1 is at 50%: not overutilized any more.
        let run = c.run(&format!("strategies: {{{low}, {LIFETIME}}}"));
        assert_eq!(run.evicted_by(), [("old", "PodLifeTime")]);
        assert_eq!(
            run.result.usage_after.values().next().map(|u| u.cpu),
            Some(2000)
        );
    }

    #[test]
    fn only_ready_nodes_matching_the_node_selector_are_processed() {
        let c = Cluster::default()
            .node(node("n1").label("role", "worker"))
            .node(node("n2").label("disk", "ssd"))
            .node(node("n3").label("role", "worker").not_ready())
            .pods([
                pod("on-worker").on("n1").node_selector("disk", "ssd"),
                pod("on-other").on("n2"),
                pod("on-not-ready").on("n3"),
            ]);
        let run = c.run(&format!(
            "nodeSelector: role=worker\nstrategies: {{{LIFETIME}}}"
        ));
        assert_eq!(run.evicted(), ["on-worker"]);
        // Nodes outside the selector remain destinations for nodeFit.
        let fit = c.run(
            "nodeSelector: role=worker\nstrategies: {PodLifeTime: {params: {nodeFit: true, podLifeTime: {maxPodLifeTimeSeconds: 600}}}}",
        );
        assert_eq!(fit.evicted(), ["on-worker"]);
        let all = c.run(&format!("strategies: {{{LIFETIME}}}"));
        assert_eq!(all.evicted_set(), ["on-other", "on-worker"]);
    }

    fn four_replicas() -> Cluster {
        Cluster::with_nodes(2).pods((1..=4).map(|i| {
            pod(&format!("p{i}"))
                .on("n1")
                .label("app", "a")
                .age(5000 - i)
        }))
    }

    #[test]
    fn pdbs_are_simulated() {
        let yaml = format!("strategies: {{{LIFETIME}}}");
        let a = &[("app", "a")];
        let cases: Vec<(&str, Cluster, &[&str], &[&str])> = vec![
            (
                "minAvailable 3",
                four_replicas().pdb(min_available(pdb("b", a), "3")),
                &["p1"],
                &["p2", "p3", "p4"],
            ),
            (
                "minAvailable 50%",
                four_replicas().pdb(min_available(pdb("b", a), "50%")),
                &["p1", "p2"],
                &["p3", "p4"],
            ),
            (
                "minAvailable 0",
                four_replicas().pdb(min_available(pdb("b", a), "0")),
                &["p1", "p2", "p3", "p4"],
                &[],
            ),
            (
                "maxUnavailable 1",
                four_replicas().pdb(max_unavailable(pdb("b", a), "1")),
                &["p1"],
                &["p2", "p3", "p4"],
            ),
            (
                "maxUnavailable 25%",
                four_replicas().pdb(max_unavailable(pdb("b", a), "25%")),
                &["p1"],
                &["p2", "p3", "p4"],
            ),
            (
                "maxUnavailable 3",
                four_replicas().pdb(max_unavailable(pdb("b", a), "3")),
                &["p1", "p2", "p3"],
                &["p4"],
            ),
            (
                "a pod under two budgets",
                four_replicas()
                    .pdb(max_unavailable(pdb("b1", a), "4"))
                    .pdb(max_unavailable(pdb("b2", &[]), "4")),
                &[],
                &["p1", "p2", "p3", "p4"],
            ),
            (
                "budget in another namespace",
                four_replicas().pdb({
                    let mut b = min_available(pdb("b", a), "4");
                    b.metadata.namespace = Some("x".into());
                    b
                }),
                &["p1", "p2", "p3", "p4"],
                &[],
            ),
            (
                "unhealthy pod while the budget is met",
                four_replicas()
                    .pod(pod("p5").on("n1").label("app", "a").not_ready())
                    .pdb(min_available(pdb("b", a), "4")),
                &["p5"],
                &["p1", "p2", "p3", "p4"],
            ),
            (
                "unhealthy pod while the budget is not met",
                four_replicas()
                    .pod(pod("p5").on("n1").label("app", "a").not_ready())
                    .pdb(min_available(pdb("b", a), "5")),
                &[],
                &["p1", "p2", "p3", "p4", "p5"],
            ),
            (
                "a Pending pod under an exhausted budget: the API skips the check",
                four_replicas()
                    .pod(
                        pod("p5")
                            .on("n1")
                            .label("app", "a")
                            .phase("Pending")
                            .not_ready(),
                    )
                    .pdb(min_available(pdb("b", a), "4")),
                &["p5"],
                &["p1", "p2", "p3", "p4"],
            ),
            (
                "Succeeded and Failed pods skip the check, even under two budgets",
                Cluster::with_nodes(2)
                    .pod(pod("done").on("n1").label("app", "a").phase("Succeeded"))
                    .pod(pod("failed").on("n1").label("app", "a").phase("Failed"))
                    .pdb(min_available(pdb("b1", a), "9"))
                    .pdb(min_available(pdb("b2", a), "9")),
                &["done", "failed"],
                &[],
            ),
            (
                "a Pending pod under two budgets is not refused",
                Cluster::with_nodes(2)
                    .pod(pod("pending").on("n1").label("app", "a").phase("Pending"))
                    .pdb(max_unavailable(pdb("b1", a), "0"))
                    .pdb(max_unavailable(pdb("b2", &[]), "0")),
                &["pending"],
                &[],
            ),
            (
                "unhealthy pod with AlwaysAllow",
                four_replicas()
                    .pod(pod("p5").on("n1").label("app", "a").not_ready())
                    .pdb(always_allow(min_available(pdb("b", a), "5"))),
                &["p5"],
                &["p1", "p2", "p3", "p4"],
            ),
        ];
        for (what, c, evicted, blocked) in cases {
            let run = c.run(&yaml);
            assert_eq!(run.evicted_set(), evicted, "{what}");
            let mut b = run.blocked();
            b.sort();
            assert_eq!(b, blocked, "{what}");
            assert_eq!(
                run.tally("PodLifeTime").blocked as usize,
                blocked.len(),
                "{what}"
            );
        }
    }

    #[test]
    fn blocked_pods_are_not_retried_by_later_strategies() {
        let yaml = format!(
            "strategies: {{{LIFETIME}, RemovePodsHavingTooManyRestarts: {{params: {{podsHavingTooManyRestarts: {{podRestartThreshold: 1}}}}}}}}"
        );
        let run = Cluster::with_nodes(2)
            .pod(pod("p").on("n1").label("app", "a").restarts(3))
            .pdb(min_available(pdb("b", &[("app", "a")]), "1"))
            .run(&yaml);
        assert_eq!(run.blocked(), ["p"]);
        let t = run.tally("RemovePodsHavingTooManyRestarts");
        assert_eq!((t.evicted, t.blocked, t.skipped.len()), (0, 0, 0));
    }

    #[test]
    fn every_candidate_that_is_not_evicted_is_counted() {
        let yaml = "maxNoOfPodsToEvictPerNode: 2\nstrategies: {PodLifeTime: {params: {nodeFit: true, podLifeTime: {maxPodLifeTimeSeconds: 600}}}}";
        let run = Cluster::with_nodes(2)
            .pods([
                pod("a").on("n1").age(9000),
                pod("b").on("n1").age(8000).bare(),
                pod("c").on("n1").age(7000).node_selector("gpu", "yes"),
                pod("d").on("n1").age(6000).label("app", "d"),
                pod("e").on("n1").age(5000),
                pod("f").on("n1").age(4000),
                pod("young").on("n1").age(10),
            ])
            .pdb(min_available(pdb("b", &[("app", "d")]), "1"))
            .run(yaml);
        assert_eq!(run.evicted(), ["a", "e"]);
        assert_eq!(run.blocked(), ["d"]);
        let t = run.tally("PodLifeTime");
        assert_eq!((t.evicted, t.blocked), (2, 1));
        assert_eq!(
            t.skipped,
            skips(&[
                ("LimitReached", 1),
                ("NoFit", 1),
                ("NotEvictable:BarePod", 1)
            ])
        );
    }
}
