//! RemovePodsViolatingNodeTaints: evicts pods from nodes whose NoSchedule (and
//! optionally PreferNoSchedule) taints they do not tolerate.

use k8s_openapi::api::core::v1::Taint;

use super::Strategy;
use crate::api;
use crate::plan::Ledger;
use crate::selectors::tolerates;
use crate::validation::Errors;

#[derive(Debug, Clone)]
pub struct NodeTaints {
    excluded_taints: Vec<TaintMatcher>,
    included_taints: Option<Vec<TaintMatcher>>,
    include_prefer_no_schedule: bool,
}

/// `key` or `key=value`, as in excludedTaints / includedTaints.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TaintMatcher {
    key: String,
    value: Option<String>,
}

impl TaintMatcher {
    fn parse(s: &str) -> Self {
        match s.split_once('=') {
            Some((k, v)) => Self {
                key: k.to_string(),
                value: Some(v.to_string()),
            },
            None => Self {
                key: s.to_string(),
                value: None,
            },
        }
    }

    fn matches(&self, taint: &Taint) -> bool {
        self.key == taint.key
            && self
                .value
                .as_deref()
                .is_none_or(|v| taint.value.as_deref().unwrap_or("") == v)
    }
}

fn parse_matchers(list: &[String], field: &str, errs: &mut Errors) -> Vec<TaintMatcher> {
    list.iter()
        .enumerate()
        .filter_map(|(i, s)| {
            if s.is_empty() || s.starts_with('=') {
                errs.push(
                    format!("{field}[{i}]"),
                    format!("{s:?} is not `key` or `key=value`"),
                );
                None
            } else {
                Some(TaintMatcher::parse(s))
            }
        })
        .collect()
}

impl Strategy for NodeTaints {
    const NAME: &'static str = "RemovePodsViolatingNodeTaints";
    type Spec = api::NodeTaintsParams;

    fn spec(all: &api::Strategies) -> Option<&api::Strategy<Self::Spec>> {
        all.remove_pods_violating_node_taints.as_ref()
    }

    fn parse(spec: &Self::Spec, at: &str, errs: &mut Errors) -> Option<Self> {
        let excluded_taints = parse_matchers(
            spec.excluded_taints.as_deref().unwrap_or_default(),
            &format!("{at}.excludedTaints"),
            errs,
        );
        let included_taints = spec
            .included_taints
            .as_deref()
            .map(|l| parse_matchers(l, &format!("{at}.includedTaints"), errs));
        Some(Self {
            excluded_taints,
            included_taints,
            include_prefer_no_schedule: spec.include_prefer_no_schedule.unwrap_or(false),
        })
    }

    fn run(&self, ledger: &mut Ledger<'_>) {
        let Self {
            excluded_taints,
            included_taints,
            include_prefer_no_schedule,
        } = self;
        let snap = ledger.snap;
        for id in super::scoped_active_pods(ledger) {
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
                ledger.try_evict(
                    id,
                    format!(
                        "does not tolerate taint {}{}:{} on {}",
                        t.key, value, t.effect, node.name
                    ),
                );
            }
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
