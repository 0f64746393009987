//! Cheap, deterministic hashes of the parts of a pod spec the model caches
//! by: pods of one workload share their node constraints and their affinity
//! terms, so what is derived from them is computed once per distinct value.
//! A hash only finds candidates; callers confirm with `==` on the spec parts.

use std::hash::{Hash, Hasher};

use k8s_openapi::api::core::v1::{
    NodeAffinity, NodeSelectorRequirement, NodeSelectorTerm, PodAffinityTerm, PodSpec, Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

fn hasher() -> impl Hasher {
    std::hash::BuildHasher::build_hasher(&foldhash::fast::FixedState::default())
}

fn label_selector(h: &mut impl Hasher, s: Option<&LabelSelector>) {
    let Some(s) = s else {
        0u8.hash(h);
        return;
    };
    1u8.hash(h);
    for (k, v) in s.match_labels.iter().flatten() {
        (k, v).hash(h);
    }
    for e in s.match_expressions.iter().flatten() {
        (&e.key, &e.operator, &e.values).hash(h);
    }
}

fn requirements(h: &mut impl Hasher, reqs: Option<&Vec<NodeSelectorRequirement>>) {
    reqs.map_or(0, Vec::len).hash(h);
    for r in reqs.into_iter().flatten() {
        (&r.key, &r.operator, &r.values).hash(h);
    }
}

fn node_term(h: &mut impl Hasher, t: &NodeSelectorTerm) {
    requirements(h, t.match_expressions.as_ref());
    requirements(h, t.match_fields.as_ref());
}

fn node_affinity(h: &mut impl Hasher, na: Option<&NodeAffinity>) {
    let Some(na) = na else {
        0u8.hash(h);
        return;
    };
    1u8.hash(h);
    if let Some(req) = &na.required_during_scheduling_ignored_during_execution {
        req.node_selector_terms.len().hash(h);
        for t in &req.node_selector_terms {
            node_term(h, t);
        }
    }
    for p in na
        .preferred_during_scheduling_ignored_during_execution
        .iter()
        .flatten()
    {
        p.weight.hash(h);
        node_term(h, &p.preference);
    }
}

fn tolerations(h: &mut impl Hasher, tols: &[Toleration]) {
    tols.len().hash(h);
    for t in tols {
        (
            &t.key,
            &t.operator,
            &t.value,
            &t.effect,
            t.toleration_seconds,
        )
            .hash(h);
    }
}

/// The node side of a pod: nodeSelector, node affinity and tolerations.
pub(crate) fn node_side(spec: &PodSpec) -> u64 {
    let mut h = hasher();
    for (k, v) in spec.node_selector.iter().flatten() {
        (k, v).hash(&mut h);
    }
    node_affinity(
        &mut h,
        spec.affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref()),
    );
    tolerations(&mut h, spec.tolerations.as_deref().unwrap_or_default());
    h.finish()
}

/// Whether two pods have the same node side (what [`node_side`] hashes).
pub(crate) fn same_node_side(a: &PodSpec, b: &PodSpec) -> bool {
    a.node_selector == b.node_selector
        && a.affinity.as_ref().and_then(|x| x.node_affinity.as_ref())
            == b.affinity.as_ref().and_then(|x| x.node_affinity.as_ref())
        && a.tolerations == b.tolerations
}

/// An affinity term as one pod holds it: `own_ns` is the holder's namespace
/// (the default when the term names none), `tag` its kind and weight.
pub(crate) fn term(t: &PodAffinityTerm, own_ns: &str, tag: (u8, i64)) -> u64 {
    let mut h = hasher();
    tag.hash(&mut h);
    t.topology_key.hash(&mut h);
    t.namespaces.hash(&mut h);
    own_ns.hash(&mut h);
    label_selector(&mut h, t.label_selector.as_ref());
    label_selector(&mut h, t.namespace_selector.as_ref());
    h.finish()
}
