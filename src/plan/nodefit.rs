//! SPEC §3 rule 5: could the scheduler place this pod on a given node?
//! Checked in the order the SPEC lists; the first failure is the answer.

use k8s_openapi::api::core::v1::{NodeSelector, PodAffinityTerm};

use crate::selectors::{Labels, Selector, node_selector_terms_match, tolerates_all};
use crate::snapshot::{NodeId, PodId, PodInfo, Resources, Snapshot};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misfit {
    NotReady,
    Unschedulable,
    NodeSelector,
    Taints,
    AntiAffinity,
    Resources,
}

/// Whether the node's labels satisfy the pod's nodeSelector and required node affinity.
pub fn node_selector_matches(pod: &PodInfo, node_name: &str, labels: &Labels) -> bool {
    let spec = pod.spec();
    if let Some(sel) = &spec.node_selector
        && !sel.iter().all(|(k, v)| labels.get(k) == Some(v))
    {
        return false;
    }
    required_node_affinity(pod)
        .is_none_or(|r| node_selector_terms_match(&r.node_selector_terms, node_name, labels))
}

/// The pod's required node affinity, if any.
pub fn required_node_affinity(pod: &PodInfo) -> Option<&NodeSelector> {
    pod.spec()
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
}

/// The pod's required anti-affinity terms.
pub fn required_anti_affinity(pod: &PodInfo) -> &[PodAffinityTerm] {
    pod.spec()
        .affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|p| {
            p.required_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or_default()
}

/// An affinity term declared by one pod, with its selectors parsed once so it
/// can be matched against many pods.
pub struct TermMatcher<'a> {
    namespaces: Namespaces<'a>,
    /// None: a missing or unparseable selector selects nothing.
    selector: Option<Selector>,
}

enum Namespaces<'a> {
    List(&'a [String]),
    Selector(Option<Selector>),
    Own(&'a str),
}

impl<'a> TermMatcher<'a> {
    pub fn new(term: &'a PodAffinityTerm, owner: &'a PodInfo) -> Self {
        let namespaces = match (&term.namespaces, &term.namespace_selector) {
            (Some(list), _) if !list.is_empty() => Namespaces::List(list),
            (_, Some(sel)) => Namespaces::Selector(Selector::from_label_selector(sel).ok()),
            _ => Namespaces::Own(&owner.namespace),
        };
        let selector = term
            .label_selector
            .as_ref()
            .and_then(|s| Selector::from_label_selector(s).ok());
        Self {
            namespaces,
            selector,
        }
    }

    /// The namespaces the term looks in when it names them (its own `namespaces`
    /// or the declaring pod's); None when a namespaceSelector decides.
    pub fn namespace_names(&self) -> Option<Vec<&'a str>> {
        match &self.namespaces {
            Namespaces::List(list) => Some(list.iter().map(String::as_str).collect()),
            Namespaces::Selector(_) => None,
            Namespaces::Own(ns) => Some(vec![*ns]),
        }
    }

    /// The term's label selector; None selects nothing.
    pub fn selector(&self) -> Option<&Selector> {
        self.selector.as_ref()
    }

    /// Whether the term selects `other`.
    pub fn selects(&self, snap: &Snapshot, other: &PodInfo) -> bool {
        let ns_ok = match &self.namespaces {
            Namespaces::List(list) => list.contains(&other.namespace),
            Namespaces::Selector(sel) => sel
                .as_ref()
                .is_some_and(|s| s.matches_opt(snap.namespace_labels(&other.namespace))),
            Namespaces::Own(ns) => other.namespace == *ns,
        };
        ns_ok
            && self
                .selector
                .as_ref()
                .is_some_and(|s| s.matches(other.labels()))
    }
}

/// What a fit check needs besides the snapshot: the current usage of every node
/// and which pods are already gone in this run.
pub trait FitState {
    fn usage(&self, node: NodeId) -> &Resources;
    fn is_gone(&self, pod: PodId) -> bool;
    /// Whether the pod tolerates the node's NoSchedule and NoExecute taints;
    /// a state that checks one pod against many nodes may remember the
    /// answer per [`crate::snapshot::NodeInfo::taint_set`].
    fn tolerates_taints(&self, snap: &Snapshot, pod: PodId, node: NodeId) -> bool {
        tolerates_node(snap, pod, node)
    }
}

/// Whether the pod tolerates the node's NoSchedule and NoExecute taints.
pub fn tolerates_node(snap: &Snapshot, pod: PodId, node: NodeId) -> bool {
    let tolerations = snap
        .pod(pod)
        .spec()
        .tolerations
        .as_deref()
        .unwrap_or_default();
    tolerates_all(
        tolerations,
        &snap.node(node).taints,
        &["NoSchedule", "NoExecute"],
    )
}

pub fn check(
    snap: &Snapshot,
    state: &impl FitState,
    pod_id: PodId,
    node_id: NodeId,
) -> Result<(), Misfit> {
    let pod = snap.pod(pod_id);
    let node = snap.node(node_id);
    if !node.ready {
        return Err(Misfit::NotReady);
    }
    if node.unschedulable {
        return Err(Misfit::Unschedulable);
    }
    if !node_selector_matches(pod, &node.name, &node.labels) {
        return Err(Misfit::NodeSelector);
    }
    if !node.taints.is_empty() && !state.tolerates_taints(snap, pod_id, node_id) {
        return Err(Misfit::Taints);
    }
    for term in required_anti_affinity(pod) {
        if !node.labels.contains_key(&term.topology_key) {
            continue;
        }
        let matcher = TermMatcher::new(term, pod);
        let conflict = snap.pods_on(node_id).iter().any(|&other| {
            other != pod_id
                && !state.is_gone(other)
                && !snap.pod(other).phase.is_terminal()
                && matcher.selects(snap, snap.pod(other))
        });
        if conflict {
            return Err(Misfit::AntiAffinity);
        }
    }
    if !Resources::fits(&pod.requests, state.usage(node_id), &node.allocatable) {
        return Err(Misfit::Resources);
    }
    Ok(())
}

/// Whether the pod fits on some Ready node other than its own.
pub fn fits_elsewhere(snap: &Snapshot, state: &impl FitState, pod_id: PodId) -> bool {
    let own = snap.pod(pod_id).node;
    snap.node_ids()
        .any(|n| Some(n) != own && check(snap, state, pod_id, n).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    struct Fresh(Snapshot);

    impl FitState for Fresh {
        fn usage(&self, node: NodeId) -> &Resources {
            self.0.node_usage(node)
        }
        fn is_gone(&self, _: PodId) -> bool {
            false
        }
    }

    /// Where `p` (on n0) fits among the other nodes of the cluster, by name.
    fn fit(c: Cluster, p: PodB) -> Vec<(String, Result<(), Misfit>)> {
        let state = Fresh(c.node(node("n0")).pod(p.on("n0")).snapshot());
        let snap = &state.0;
        let id = snap
            .pod_ids()
            .find(|&x| snap.pod(x).name == "p")
            .expect("pod p");
        snap.node_ids()
            .filter(|&n| snap.node(n).name != "n0")
            .map(|n| (snap.node(n).name.clone(), check(snap, &state, id, n)))
            .collect()
    }

    #[test]
    fn checks_in_spec_order() {
        use Misfit::*;
        let one = |n: NodeB| Cluster::default().node(n);
        let cases: Vec<(&str, Cluster, PodB, Result<(), Misfit>)> = vec![
            ("fits", one(node("x")), pod("p").req("1", "1Gi"), Ok(())),
            (
                "not ready",
                one(node("x").not_ready()),
                pod("p"),
                Err(NotReady),
            ),
            (
                "unschedulable first",
                one(node("x").unschedulable().taint("t", "", "NoSchedule")),
                pod("p").node_selector("a", "b"),
                Err(Unschedulable),
            ),
            (
                "nodeSelector before taints",
                one(node("x").taint("t", "", "NoSchedule")),
                pod("p").node_selector("a", "b"),
                Err(NodeSelector),
            ),
            (
                "required affinity",
                one(node("x").label("zone", "a")),
                pod("p").require_node("zone", &["b"]),
                Err(NodeSelector),
            ),
            (
                "required affinity ok",
                one(node("x").label("zone", "a")),
                pod("p").require_node("zone", &["b", "a"]),
                Ok(()),
            ),
            (
                "NoSchedule taint",
                one(node("x").taint("t", "", "NoSchedule")),
                pod("p"),
                Err(Taints),
            ),
            (
                "NoExecute taint",
                one(node("x").taint("t", "", "NoExecute")),
                pod("p"),
                Err(Taints),
            ),
            (
                "PreferNoSchedule is fine",
                one(node("x").taint("t", "", "PreferNoSchedule")),
                pod("p"),
                Ok(()),
            ),
            (
                "tolerated",
                one(node("x").taint("t", "v", "NoSchedule")),
                pod("p").tolerate("t", "v", "NoSchedule"),
                Ok(()),
            ),
            (
                "anti-affinity before resources",
                one(node("x").label("h", "x")).pod(pod("web").on("x").label("app", "web")),
                pod("p").anti_affinity("h", &[("app", "web")]).req("9", ""),
                Err(AntiAffinity),
            ),
            (
                "anti-affinity needs the topology label on the node",
                one(node("x")).pod(pod("web").on("x").label("app", "web")),
                pod("p").anti_affinity("h", &[("app", "web")]),
                Ok(()),
            ),
            (
                "cpu",
                one(node("x").cpu("1")),
                pod("p").req("1500m", ""),
                Err(Resources),
            ),
            (
                "memory",
                one(node("x").mem("1Gi")),
                pod("p").req("", "2Gi"),
                Err(Resources),
            ),
            (
                "pods",
                one(node("x").pods(1)).pod(pod("q").on("x")),
                pod("p"),
                Err(Resources),
            ),
            (
                "extended resource the node lacks",
                one(node("x")),
                pod("p").req_ext("example.com/gpu", "1"),
                Err(Resources),
            ),
            (
                "extended resource",
                one(node("x").alloc("example.com/gpu", "2")),
                pod("p").req_ext("example.com/gpu", "1"),
                Ok(()),
            ),
            (
                "requests of pods already there",
                one(node("x").cpu("2")).pod(pod("q").on("x").req("1500m", "")),
                pod("p").req("1", ""),
                Err(Resources),
            ),
            (
                "Failed and Succeeded pods use nothing",
                one(node("x").cpu("2"))
                    .pod(pod("q").on("x").req("1500m", "").phase("Failed"))
                    .pod(pod("r").on("x").req("1500m", "").phase("Succeeded")),
                pod("p").req("1", ""),
                Ok(()),
            ),
            (
                "init container is the max",
                one(node("x").cpu("2")),
                pod("p").req("100m", "").init_container("3", ""),
                Err(Resources),
            ),
            (
                "containers sum",
                one(node("x").cpu("2")),
                pod("p").req("1", "").container("1500m", ""),
                Err(Resources),
            ),
        ];
        for (what, c, p, want) in cases {
            assert_eq!(fit(c, p), [("x".to_string(), want)], "{what}");
        }
    }

    /// The ledger remembers a pod's tolerations per taint set: asked of one
    /// pod on node after node and of pod after pod in turn, it answers as
    /// the check without memory does, and nodes with equal taints share a set.
    #[test]
    fn remembered_tolerations_answer_as_the_check() {
        let snap = Cluster::default()
            .node(node("a1").taint("a", "", "NoSchedule"))
            .node(node("a2").taint("a", "", "NoSchedule"))
            .node(node("b").taint("b", "x", "NoExecute"))
            .node(
                node("ab")
                    .taint("a", "", "NoSchedule")
                    .taint("b", "x", "NoExecute"),
            )
            .node(node("soft").taint("c", "", "PreferNoSchedule"))
            .node(node("plain"))
            .pods([
                pod("none").on("plain"),
                pod("tol-a").on("plain").tolerate("a", "", "NoSchedule"),
                pod("tol-b").on("plain").tolerate("b", "x", ""),
                pod("tol-b-other").on("plain").tolerate("b", "y", ""),
                pod("tol-ab")
                    .on("plain")
                    .tolerate("a", "", "")
                    .tolerate("b", "", "NoExecute"),
            ])
            .snapshot();
        let set = |name: &str| {
            let n = snap
                .node_ids()
                .find(|&n| snap.node(n).name == name)
                .expect("node");
            snap.node(n).taint_set
        };
        assert_eq!(set("a1"), set("a2"));
        let distinct: std::collections::BTreeSet<u32> = ["a1", "b", "ab", "soft", "plain"]
            .iter()
            .map(|n| set(n))
            .collect();
        assert_eq!(distinct.len(), 5);
        assert_eq!(snap.taint_sets(), 5);

        let fresh = Fresh(snap.clone());
        let rules = crate::plan::Rules::default();
        let ledger = crate::plan::Ledger::new(&snap, &rules);
        let want = |p: PodId, n: NodeId| check(&snap, &fresh, p, n).is_ok();
        let pairs_pod_major: Vec<(PodId, NodeId)> = snap
            .pod_ids()
            .flat_map(|p| snap.node_ids().map(move |n| (p, n)))
            .collect();
        let pairs_node_major: Vec<(PodId, NodeId)> = snap
            .node_ids()
            .flat_map(|n| snap.pod_ids().map(move |p| (p, n)))
            .collect();
        let mut fits = 0;
        for (p, n) in pairs_pod_major.into_iter().chain(pairs_node_major) {
            assert_eq!(
                ledger.fits(p, n),
                want(p, n),
                "{} on {}",
                snap.pod(p).name,
                snap.node(n).name
            );
            fits += usize::from(want(p, n));
        }
        // Each pod fits some tainted nodes and not others: the cases differ.
        assert!(fits > 0 && fits < 2 * 5 * 6, "{fits}");
    }
}
