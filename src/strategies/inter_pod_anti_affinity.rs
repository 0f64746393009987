//! RemovePodsViolatingInterPodAntiAffinity: evicts pods whose own required
//! anti-affinity terms match another pod in the same topology domain. Pods are
//! taken lowest priority first, and an evicted pod no longer counts against the
//! others, so of two mutually exclusive pods only one goes.

use std::collections::HashMap;

use crate::eligibility::eviction_order;
use crate::nodefit::{TermMatcher, required_anti_affinity};
use crate::plan::{Outcome, Plan};
use crate::snapshot::{NodeId, PodId, Snapshot};

pub fn run(plan: &mut Plan<'_>) {
    let snap = plan.snap;
    let mut domains = DomainIndex::default();
    let nodes: Vec<NodeId> = plan.processed_nodes().collect();
    for node in nodes {
        let mut pods: Vec<PodId> = plan
            .active_pods_on(node)
            .filter(|&p| plan.in_scope(p) && !required_anti_affinity(snap.pod(p)).is_empty())
            .collect();
        pods.sort_by_key(|&p| (eviction_order(snap, p), p));
        for id in pods {
            if let Some(other) = violation(plan, &mut domains, id, node) {
                let o = snap.pod(other);
                let outcome = plan.try_evict(
                    id,
                    format!(
                        "anti-affinity matches {}/{} on {}",
                        o.namespace,
                        o.name,
                        o.node_name.as_deref().unwrap_or("?")
                    ),
                );
                debug_assert_ne!(outcome, Outcome::OutOfScope);
            }
        }
    }
}

/// Nodes by (topologyKey, value), built on first use of each key, with the
/// number of pods bound to them.
#[derive(Default)]
struct DomainIndex {
    by_key: HashMap<String, HashMap<String, (Vec<NodeId>, usize)>>,
}

impl DomainIndex {
    /// The nodes of `node`'s domain for `key`, in index order, and how many
    /// pods are bound to them; None when the node lacks the key (then it is a
    /// domain of its own).
    fn domain(&mut self, snap: &Snapshot, key: &str, node: NodeId) -> Option<(&[NodeId], usize)> {
        let value = snap.node(node).labels.get(key)?;
        let index = self.by_key.entry(key.to_string()).or_insert_with(|| {
            let mut m: HashMap<String, (Vec<NodeId>, usize)> = HashMap::new();
            for (i, n) in snap.nodes.iter().enumerate() {
                if let Some(v) = n.labels.get(key) {
                    let e = m.entry(v.clone()).or_default();
                    e.0.push(i);
                    e.1 += snap.pods_on(i).len();
                }
            }
            m
        });
        let (nodes, pods) = &index[value];
        Some((nodes, *pods))
    }
}

/// The first other pod that one of `id`'s required anti-affinity terms
/// matches: the lowest (node, pod) in index order among the active pods of
/// the domain that the term selects.
fn violation(plan: &Plan<'_>, domains: &mut DomainIndex, id: PodId, node: NodeId) -> Option<PodId> {
    let snap = plan.snap;
    let pod = snap.pod(id);
    for term in required_anti_affinity(pod) {
        let matcher = TermMatcher::new(term, pod);
        let single = [node];
        let (nodes, domain_pods) = domains
            .domain(snap, &term.topology_key, node)
            .unwrap_or((&single, snap.pods_on(node).len()));
        // A term only selects pods in its namespaces: when those hold fewer
        // pods than the domain (a zone, say), look there instead of scanning
        // every pod of the domain. Both find the same pod.
        let namespaces: Option<Vec<&str>> = match (&term.namespaces, &term.namespace_selector) {
            (Some(list), _) if !list.is_empty() => Some(list.iter().map(String::as_str).collect()),
            (_, Some(_)) => None,
            _ => Some(vec![pod.namespace.as_str()]),
        };
        let ns_pods = namespaces.as_ref().map(|nss| {
            nss.iter()
                .map(|ns| snap.pods_in_namespace(ns).len())
                .sum::<usize>()
        });
        let hit = match namespaces {
            Some(nss) if ns_pods.is_some_and(|n| n < domain_pods) => {
                let key = &term.topology_key;
                let value = snap.node(node).labels.get(key);
                let same_domain = |n: NodeId| match value {
                    Some(v) => snap.node(n).labels.get(key) == Some(v),
                    None => n == node,
                };
                nss.iter()
                    .flat_map(|ns| snap.pods_in_namespace(ns).iter().copied())
                    .filter_map(|other| {
                        let on = snap.pod(other).node?;
                        (other != id
                            && !plan.is_evicted(other)
                            && !snap.pod(other).phase.is_terminal()
                            && same_domain(on)
                            && matcher.selects(snap, snap.pod(other)))
                        .then_some((on, other))
                    })
                    .min()
                    .map(|(_, other)| other)
            }
            _ => nodes.iter().find_map(|&n| {
                plan.active_pods_on(n)
                    .find(|&other| other != id && matcher.selects(snap, snap.pod(other)))
            }),
        };
        if hit.is_some() {
            return hit;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::PodAffinityTerm;

    use crate::testing::*;

    const YAML: &str = "strategies: {RemovePodsViolatingInterPodAntiAffinity: {}}";
    const HOST: &str = "kubernetes.io/hostname";

    fn cluster() -> Cluster {
        Cluster::default()
            .node(node("n1").label("zone", "z1").label(HOST, "n1"))
            .node(node("n2").label("zone", "z1").label(HOST, "n2"))
            .node(node("n3").label("zone", "z2").label(HOST, "n3"))
    }

    #[test]
    fn cases() {
        let web = &[("app", "web")];
        let cases: Vec<(&str, Vec<PodB>, &[&str])> = vec![
            (
                "the pod declaring the term goes",
                vec![
                    pod("a").on("n1").anti_affinity(HOST, web),
                    pod("web").on("n1").label("app", "web"),
                ],
                &["a"],
            ),
            (
                "different host",
                vec![
                    pod("a").on("n1").anti_affinity(HOST, web),
                    pod("web").on("n2").label("app", "web"),
                ],
                &[],
            ),
            (
                "same zone on another node",
                vec![
                    pod("a").on("n1").anti_affinity("zone", web),
                    pod("web").on("n2").label("app", "web"),
                ],
                &["a"],
            ),
            (
                "other zone",
                vec![
                    pod("a").on("n1").anti_affinity("zone", web),
                    pod("web").on("n3").label("app", "web"),
                ],
                &[],
            ),
            (
                "the same node counts without the topology label",
                vec![
                    pod("a").on("n1").anti_affinity("rack", web),
                    pod("web").on("n1").label("app", "web"),
                ],
                &["a"],
            ),
            (
                "not against itself",
                vec![
                    pod("a")
                        .on("n1")
                        .label("app", "web")
                        .anti_affinity(HOST, web),
                ],
                &[],
            ),
            (
                "other namespaces do not count by default",
                vec![
                    pod("a").on("n1").anti_affinity(HOST, web),
                    pod("web").on("n1").ns("other").label("app", "web"),
                ],
                &[],
            ),
            (
                "terminal pods do not count",
                vec![
                    pod("a").on("n1").anti_affinity(HOST, web),
                    pod("web").on("n1").label("app", "web").phase("Succeeded"),
                ],
                &[],
            ),
            (
                "mutual: only one goes, lowest priority first",
                vec![
                    pod("a")
                        .on("n1")
                        .label("app", "web")
                        .anti_affinity(HOST, web)
                        .priority(10),
                    pod("b")
                        .on("n1")
                        .label("app", "web")
                        .anti_affinity(HOST, web)
                        .priority(5),
                ],
                &["b"],
            ),
            (
                "mutual: BestEffort before Burstable",
                vec![
                    pod("a")
                        .on("n1")
                        .label("app", "web")
                        .anti_affinity(HOST, web),
                    pod("b")
                        .on("n1")
                        .label("app", "web")
                        .anti_affinity(HOST, web)
                        .req("10m", ""),
                ],
                &["a"],
            ),
            (
                "mutual: Burstable before Guaranteed",
                vec![
                    pod("a")
                        .on("n1")
                        .label("app", "web")
                        .anti_affinity(HOST, web)
                        .req("10m", "1Mi")
                        .guaranteed(),
                    pod("b")
                        .on("n1")
                        .label("app", "web")
                        .anti_affinity(HOST, web)
                        .req("10m", ""),
                ],
                &["b"],
            ),
            (
                "three of a kind: two go",
                vec![
                    pod("a")
                        .on("n1")
                        .label("app", "web")
                        .anti_affinity(HOST, web),
                    pod("b")
                        .on("n1")
                        .label("app", "web")
                        .anti_affinity(HOST, web),
                    pod("c")
                        .on("n1")
                        .label("app", "web")
                        .anti_affinity(HOST, web),
                ],
                &["a", "b"],
            ),
        ];
        for (what, pods, want) in cases {
            let r = cluster().pods(pods).run(YAML);
            assert_eq!(r.evicted_set(), *want, "{what}");
        }
    }

    #[test]
    fn term_namespaces() {
        let term = PodAffinityTerm {
            topology_key: HOST.into(),
            label_selector: Some(selector(&[("app", "web")])),
            namespaces: Some(vec!["other".into()]),
            ..Default::default()
        };
        let r = cluster()
            .pod(pod("a").on("n1").anti_affinity_term(term.clone()))
            .pod(pod("web").on("n1").ns("other").label("app", "web"))
            .run(YAML);
        assert_eq!(r.evicted(), ["a"]);
        let by_selector = PodAffinityTerm {
            namespaces: None,
            namespace_selector: Some(selector(&[("team", "web")])),
            ..term
        };
        let c = cluster()
            .namespace("other", &[("team", "web")])
            .pod(pod("a").on("n1").anti_affinity_term(by_selector))
            .pod(pod("web").on("n1").ns("other").label("app", "web"));
        assert_eq!(c.run(YAML).evicted(), ["a"]);
    }

    #[test]
    fn a_blocked_or_unevictable_pod_still_counts() {
        let web = &[("app", "web")];
        let r = cluster()
            .pod(
                pod("a")
                    .on("n1")
                    .label("app", "web")
                    .anti_affinity(HOST, web)
                    .owner("DaemonSet", "ds"),
            )
            .pod(
                pod("b")
                    .on("n1")
                    .label("app", "web")
                    .anti_affinity(HOST, web)
                    .priority(5),
            )
            .run(YAML);
        // `a` is first (lower priority) but not evictable, so `b` must go.
        assert_eq!(r.evicted(), ["b"]);
        assert_eq!(r.skipped(), [("NotEvictable:DaemonSetPod".to_string(), 1)]);
    }

    #[test]
    fn only_processed_nodes_are_judged_but_all_pods_count() {
        let web = &[("app", "web")];
        let c = cluster()
            .pod(pod("a").on("n1").anti_affinity("zone", web))
            .pod(
                pod("b")
                    .on("n2")
                    .label("app", "web")
                    .anti_affinity("zone", &[("x", "y")]),
            );
        let r = c.run(&format!("nodeSelector: {HOST}=n1\n{YAML}"));
        assert_eq!(r.evicted(), ["a"]);
        let r = c.run(&format!("nodeSelector: {HOST}=n2\n{YAML}"));
        assert!(r.evicted().is_empty());
    }
}
