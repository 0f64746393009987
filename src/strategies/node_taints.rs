//! RemovePodsViolatingNodeTaints: evicts pods from nodes whose NoSchedule (and
//! optionally PreferNoSchedule) taints they do not tolerate.

use crate::plan::Plan;
use crate::policy::StrategyParams;
use crate::selectors::tolerates;

pub fn run(plan: &mut Plan<'_>, params: &StrategyParams) {
    let StrategyParams::NodeTaints {
        excluded_taints,
        included_taints,
        include_prefer_no_schedule,
    } = params
    else {
        return;
    };
    let snap = plan.snap;
    for id in super::scoped_active_pods(plan) {
        let pod = snap.pod(id);
        let Some(node) = pod.node.map(|n| snap.node(n)) else {
            continue;
        };
        // Most nodes have no taints: leave the pod's spec unread there.
        if node.taints.is_empty() {
            continue;
        }
        let tolerations = pod.spec().tolerations.as_deref().unwrap_or_default();
        let violated = node.taints.iter().find(|t| {
            let effect_counts = t.effect == "NoSchedule"
                || (*include_prefer_no_schedule && t.effect == "PreferNoSchedule");
            effect_counts
                && !excluded_taints.iter().any(|m| m.matches(t))
                // An empty includedTaints list filters nothing, as upstream.
                && included_taints
                    .as_ref()
                    .filter(|inc| !inc.is_empty())
                    .is_none_or(|inc| inc.iter().any(|m| m.matches(t)))
                && !tolerates(tolerations, t)
        });
        if let Some(t) = violated {
            let value = t
                .value
                .as_deref()
                .map(|v| format!("={v}"))
                .unwrap_or_default();
            plan.try_evict(
                id,
                format!(
                    "does not tolerate taint {}{}:{} on {}",
                    t.key, value, t.effect, node.name
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn parameters() {
        let c = Cluster::default()
            .node(
                node("n1")
                    .taint("dedicated", "db", "NoSchedule")
                    .taint("soft", "", "PreferNoSchedule")
                    .taint("gone", "", "NoExecute"),
            )
            .node(node("n2"))
            .pods([
                pod("plain").on("n1"),
                pod("tolerates-db")
                    .on("n1")
                    .tolerate("dedicated", "db", "NoSchedule"),
                pod("tolerates-key").on("n1").tolerate("dedicated", "", ""),
                pod("wrong-value").on("n1").tolerate("dedicated", "web", ""),
                pod("wrong-effect")
                    .on("n1")
                    .tolerate("dedicated", "", "NoExecute"),
                pod("soft-only")
                    .on("n1")
                    .tolerate("dedicated", "", "")
                    .tolerate("gone", "", ""),
                pod("untainted-node").on("n2"),
            ]);
        let all_untolerated = ["plain", "wrong-effect", "wrong-value"];
        let cases: &[(&str, &[&str])] = &[
            ("", &all_untolerated),
            // PreferNoSchedule counts only when asked for.
            (
                "includePreferNoSchedule: true",
                &[
                    "plain",
                    "soft-only",
                    "tolerates-db",
                    "tolerates-key",
                    "wrong-effect",
                    "wrong-value",
                ],
            ),
            ("excludedTaints: [dedicated]", &[]),
            ("excludedTaints: [dedicated=db]", &[]),
            ("excludedTaints: [dedicated=web]", &all_untolerated),
            (
                "excludedTaints: [dedicated], includePreferNoSchedule: true",
                &[
                    "plain",
                    "soft-only",
                    "tolerates-db",
                    "tolerates-key",
                    "wrong-effect",
                    "wrong-value",
                ],
            ),
            ("includedTaints: [dedicated]", &all_untolerated),
            ("includedTaints: [dedicated=db]", &all_untolerated),
            ("includedTaints: [dedicated=web]", &[]),
            (
                "includedTaints: [soft], includePreferNoSchedule: true",
                &[
                    "plain",
                    "soft-only",
                    "tolerates-db",
                    "tolerates-key",
                    "wrong-effect",
                    "wrong-value",
                ],
            ),
            ("includedTaints: [gone]", &[]),
            // An empty list is no filter (as upstream).
            ("includedTaints: []", &all_untolerated),
        ];
        for (params, want) in cases {
            let r = c.run(&format!(
                "strategies: {{RemovePodsViolatingNodeTaints: {{params: {{{params}}}}}}}"
            ));
            assert_eq!(r.evicted_set(), *want, "{params}");
        }
    }

    #[test]
    fn node_fit_needs_another_node_the_pod_tolerates() {
        let c = Cluster::default()
            .node(node("n1").taint("maintenance", "", "NoSchedule"))
            .node(node("n2").taint("maintenance", "", "NoSchedule"))
            .node(node("n3").taint("other", "", "NoExecute"))
            .pods([
                pod("a").on("n1"),
                pod("b").on("n1").tolerate("other", "", "NoExecute"),
            ]);
        let r = c.run("strategies: {RemovePodsViolatingNodeTaints: {params: {nodeFit: true}}}");
        assert_eq!(r.evicted(), ["b"]);
        assert_eq!(r.skipped(), [("NoFit".to_string(), 1)]);
    }
}
