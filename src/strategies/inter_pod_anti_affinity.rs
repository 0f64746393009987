//! RemovePodsViolatingInterPodAntiAffinity: evicts pods whose own required
//! anti-affinity terms match another pod in the same topology domain. Pods are
//! taken lowest priority first, and an evicted pod no longer counts against the
//! others, so of two mutually exclusive pods only one goes.

use foldhash::HashMap;

use super::Strategy;
use crate::api;
use crate::plan::eligibility::eviction_order;
use crate::plan::nodefit::{TermMatcher, required_anti_affinity};
use crate::plan::{Ledger, Outcome};
use crate::snapshot::{NodeId, PerNode, PodId, Snapshot};

use super::label_index::LabelIndex;
use crate::validation::Errors;

#[derive(Debug, Clone)]
pub struct InterPodAntiAffinity;

impl Strategy for InterPodAntiAffinity {
    const NAME: &'static str = "RemovePodsViolatingInterPodAntiAffinity";
    type Spec = api::InterPodAntiAffinityParams;

    fn spec(all: &api::Strategies) -> Option<&api::Strategy<Self::Spec>> {
        all.remove_pods_violating_inter_pod_anti_affinity.as_ref()
    }

    fn parse(_spec: &Self::Spec, _at: &str, _errs: &mut Errors) -> Option<Self> {
        Some(Self)
    }

    fn run(&self, ledger: &mut Ledger<'_>) {
        let snap = ledger.snap;
        let mut domains = DomainIndex::default();
        let mut labels = LabelIndex::default();
        let nodes: Vec<NodeId> = ledger.processed_nodes().collect();
        for node in nodes {
            let mut pods: Vec<PodId> = ledger
                .active_pods_on(node)
                .filter(|&p| ledger.in_scope(p) && !required_anti_affinity(snap.pod(p)).is_empty())
                .collect();
            pods.sort_by_key(|&p| (eviction_order(snap, p), p));
            for id in pods {
                if let Some(other) = violation(ledger, &mut domains, &mut labels, id, node) {
                    let o = snap.pod(other);
                    let outcome = ledger.try_evict(
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
}

/// The domains of each topologyKey, built on first use of the key.
#[derive(Default)]
struct DomainIndex {
    by_key: HashMap<String, KeyDomains>,
}

struct KeyDomains {
    /// Each domain's nodes, in index order, and the number of pods bound to them.
    domains: Vec<(Vec<NodeId>, usize)>,
    /// The domain of every node; None when the node lacks the key.
    of_node: PerNode<Option<usize>>,
}

impl DomainIndex {
    fn key(&mut self, snap: &Snapshot, key: &str) -> &KeyDomains {
        self.by_key.entry(key.to_string()).or_insert_with(|| {
            let mut by_value: HashMap<&str, usize> = HashMap::default();
            let mut domains: Vec<(Vec<NodeId>, usize)> = Vec::new();
            let mut of_node = PerNode::filled(snap.nodes.len(), None);
            for (i, n) in snap.nodes.iter() {
                if let Some(v) = n.labels.get(key) {
                    let d = *by_value.entry(v).or_insert_with(|| {
                        domains.push((Vec::new(), 0));
                        domains.len() - 1
                    });
                    domains[d].0.push(i);
                    domains[d].1 += snap.pods_on(i).len();
                    of_node[i] = Some(d);
                }
            }
            KeyDomains { domains, of_node }
        })
    }
}

/// The first other pod that one of `id`'s required anti-affinity terms
/// matches: the lowest (node, pod) in index order among the active pods of
/// the domain that the term selects.
fn violation(
    ledger: &Ledger<'_>,
    domains: &mut DomainIndex,
    labels: &mut LabelIndex,
    id: PodId,
    node: NodeId,
) -> Option<PodId> {
    let snap = ledger.snap;
    let pod = snap.pod(id);
    for term in required_anti_affinity(pod) {
        let matcher = TermMatcher::new(term, pod);
        let key_domains = domains.key(snap, &term.topology_key);
        // A node without the key is a domain of its own.
        let domain = key_domains.of_node[node];
        let single = [node];
        let (nodes, domain_pods) = match domain {
            Some(d) => {
                let (nodes, pods) = &key_domains.domains[d];
                (nodes.as_slice(), *pods)
            }
            None => (&single[..], snap.pods_on(node).len()),
        };
        let same_domain = |n: NodeId| match domain {
            Some(d) => key_domains.of_node[n] == Some(d),
            None => n == node,
        };
        let selects = |other: PodId| {
            let o = snap.pod(other);
            let on = o.node?;
            (other != id
                && !ledger.is_evicted(other)
                && !o.phase.is_terminal()
                && same_domain(on)
                && matcher.selects(snap, o))
            .then_some((on, other))
        };
        // A term only selects pods in its namespaces and carrying its labels:
        // look those up rather than scanning every pod of the domain (a zone,
        // say). Every way finds the same pod.
        let hit = match (matcher.namespace_names(), matcher.selector()) {
            (Some(nss), Some(selector)) if selector.required_values().is_some() => nss
                .iter()
                .flat_map(|ns| labels.candidates(snap, ns, selector).unwrap_or_default())
                .filter_map(selects)
                .min()
                .map(|(_, other)| other),
            (Some(nss), _)
                if nss
                    .iter()
                    .map(|ns| snap.pods_in_namespace(ns).len())
                    .sum::<usize>()
                    < domain_pods =>
            {
                nss.iter()
                    .flat_map(|ns| snap.pods_in_namespace(ns).iter().copied())
                    .filter_map(selects)
                    .min()
                    .map(|(_, other)| other)
            }
            _ => nodes.iter().find_map(|&n| {
                ledger
                    .active_pods_on(n)
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
