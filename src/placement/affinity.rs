//! InterPodAffinity, both directions. Existing pods' terms are grouped (one
//! group per distinct term; a workload's replicas share theirs) with the
//! number of holders per topology domain, and indexed by a label their
//! selector requires, so the incoming pod finds the terms that select it
//! with a few lookups. The incoming pod's own terms count the pods they
//! select through the label index.

use std::rc::Rc;

use foldhash::HashMap;
use k8s_openapi::api::core::v1::PodAffinityTerm;

use super::index::{KeyDomains, Keys, NONE, Scope};
use super::profile::{Profile, Term};
use super::{Model, fingerprint};
use crate::selectors::Labels;
use crate::snapshot::{Id, NodeId, PodId, PodInfo, Snapshot};

/// What an existing pod's term does to an incoming pod it selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    /// Required anti-affinity: the domain is closed to it (Filter).
    Repel,
    /// Preferred terms (weight, negative for anti-affinity) and required
    /// affinity (hardPodAffinityWeight, 1): the domain scores that much per holder.
    Score(i64),
}

struct Group {
    term: Term,
    effect: Effect,
    domains: Rc<KeyDomains>,
    /// Holders per domain.
    holders: HashMap<usize, i64>,
    raw: PodAffinityTerm,
    own_ns: String,
}

/// The existing pods' affinity terms.
#[derive(Default)]
pub(crate) struct Existing {
    groups: Vec<Group>,
    by_hash: HashMap<u64, Vec<usize>>,
    /// Groups by a `key in (values)` their selector requires: key, value.
    by_label: HashMap<String, HashMap<String, Vec<usize>>>,
    /// Groups whose selector requires no label value.
    unindexed: Vec<usize>,
    /// Per snapshot pod, its entry in `sets` (`index::NONE` until first
    /// seen): the replicas of a workload share one list of groups.
    of_pod: Vec<u32>,
    sets: Vec<Vec<usize>>,
    /// The pod registered last: the next one, often a replica of the same
    /// workload, is compared with it before its terms are hashed.
    last: Option<PodId>,
}

/// The terms of a pod that act on other pods: (term, kind tag, effect).
fn terms_of(pod: &PodInfo) -> Vec<(&PodAffinityTerm, u8, Effect)> {
    let mut out = Vec::new();
    let Some(aff) = pod.spec().affinity.as_ref() else {
        return out;
    };
    if let Some(anti) = &aff.pod_anti_affinity {
        for t in anti
            .required_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
        {
            out.push((t, 0, Effect::Repel));
        }
        for w in anti
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
        {
            out.push((&w.pod_affinity_term, 1, Effect::Score(-i64::from(w.weight))));
        }
    }
    if let Some(pa) = &aff.pod_affinity {
        for t in pa
            .required_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
        {
            out.push((t, 2, Effect::Score(1)));
        }
        for w in pa
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
        {
            out.push((&w.pod_affinity_term, 3, Effect::Score(i64::from(w.weight))));
        }
    }
    out
}

/// Whether two pods' terms that act on other pods ([`terms_of`]) are the
/// same and held in the same namespace: then they find the same groups.
fn same_terms(a: &PodInfo, b: &PodInfo) -> bool {
    let (Some(x), Some(y)) = (a.spec().affinity.as_ref(), b.spec().affinity.as_ref()) else {
        return false;
    };
    a.namespace == b.namespace
        && x.pod_anti_affinity == y.pod_anti_affinity
        && x.pod_affinity == y.pod_affinity
}

impl Existing {
    /// The entry in `sets` of the groups of the pod's terms, created on
    /// first sight.
    fn register(&mut self, snap: &Snapshot, keys: &Keys, p: PodId) -> usize {
        if self.of_pod.len() < snap.pods.len() {
            self.of_pod.resize(snap.pods.len(), NONE);
        }
        let known = self.of_pod[p.index()];
        if known != NONE {
            return known as usize;
        }
        let pod = snap.pod(p);
        // Terms equal to the last pod's find the same groups.
        if let Some(q) = self.last
            && same_terms(snap.pod(q), pod)
        {
            let set = self.of_pod[q.index()];
            self.of_pod[p.index()] = set;
            self.last = Some(p);
            return set as usize;
        }
        let mut ids = Vec::new();
        for (raw, tag, effect) in terms_of(pod) {
            let weight = match effect {
                Effect::Repel => 0,
                Effect::Score(w) => w,
            };
            let hash = fingerprint::term(raw, &pod.namespace, (tag, weight));
            let bucket = self.by_hash.entry(hash).or_default();
            let found = bucket.iter().copied().find(|&g| {
                let g = &self.groups[g];
                g.effect == effect && g.own_ns == pod.namespace && g.raw == *raw
            });
            let id = match found {
                Some(id) => id,
                None => {
                    let id = self.groups.len();
                    bucket.push(id);
                    let term = Term::new(raw, &pod.namespace, weight);
                    match term.selector.as_ref().and_then(|s| s.required_values()) {
                        Some((k, vs)) => {
                            let by_value = self.by_label.entry(k.to_string()).or_default();
                            for v in vs {
                                by_value.entry(v.clone()).or_default().push(id);
                            }
                        }
                        None => self.unindexed.push(id),
                    }
                    self.groups.push(Group {
                        domains: keys.get(snap, &term.key),
                        term,
                        effect,
                        holders: HashMap::default(),
                        raw: raw.clone(),
                        own_ns: pod.namespace.clone(),
                    });
                    id
                }
            };
            ids.push(id);
        }
        let set = self.sets.len();
        self.sets.push(ids);
        self.of_pod[p.index()] = set as u32;
        self.last = Some(p);
        set
    }

    /// Counts (delta 1) or uncounts (-1) the pod's terms on `node`.
    pub(crate) fn shift(
        &mut self,
        snap: &Snapshot,
        keys: &Keys,
        p: PodId,
        node: NodeId,
        delta: i64,
    ) {
        // Most pods have no terms: no need to read their specs.
        if !snap.pod(p).pod_affinity {
            return;
        }
        let set = self.register(snap, keys, p);
        for k in 0..self.sets[set].len() {
            let group = &mut self.groups[self.sets[set][k]];
            if let Some(d) = group.domains.of(node) {
                let c = group.holders.entry(d).or_insert(0);
                *c += delta;
                if *c == 0 {
                    group.holders.remove(&d);
                }
            }
        }
    }

    pub(crate) fn build(m: &Model<'_>) -> Self {
        let mut e = Self::default();
        for p in m.snap.pod_ids() {
            if let Some(node) = m.live_node(p) {
                e.shift(m.snap, &m.keys, p, node, 1);
            }
        }
        e
    }

    /// The groups whose term selects a pod in `ns` with `labels`.
    fn selecting<'a>(
        &'a self,
        snap: &'a Snapshot,
        ns: &'a str,
        labels: &'a Labels,
    ) -> impl Iterator<Item = &'a Group> + 'a {
        // Through the label keys the groups are indexed by (a workload's
        // `app`, say), each looked up in the pod's labels: fewer lookups
        // than the other way round when pods carry more labels than that.
        // Each group is indexed under one key, so either way finds it once.
        let indexed = self.by_label.iter().flat_map(move |(k, by_value)| {
            labels
                .get(k)
                .and_then(|v| by_value.get(v))
                .into_iter()
                .flatten()
        });
        indexed
            .chain(self.unindexed.iter())
            .map(|&g| &self.groups[g])
            .filter(move |g| g.term.selects(snap, ns, labels))
    }
}

/// Per topology key, a number per domain.
struct PerKey<T> {
    domains: Rc<KeyDomains>,
    values: Vec<T>,
}

fn slot_for<'a, T: Default + Clone>(
    list: &'a mut Vec<PerKey<T>>,
    d: &Rc<KeyDomains>,
) -> &'a mut Vec<T> {
    let i = match list.iter().position(|p| Rc::ptr_eq(&p.domains, d)) {
        Some(i) => i,
        None => {
            list.push(PerKey {
                domains: d.clone(),
                values: vec![T::default(); d.count],
            });
            list.len() - 1
        }
    };
    &mut list[i].values
}

/// InterPodAffinity's PreFilter and PreScore state for one incoming pod.
pub(crate) struct AffinityCycle {
    /// Per required affinity term: pods matching every term, per domain.
    affinity: Vec<PerKey<u32>>,
    /// Some pod matches every required affinity term (on a node with one of
    /// their keys): otherwise the "first pod of its group" may go anywhere.
    affinity_any: bool,
    self_match: bool,
    /// Per topology key of the pod's required anti-affinity: matching pods.
    anti: Vec<PerKey<u32>>,
    /// Per topology key: existing pods whose required anti-affinity selects this pod.
    existing: Vec<PerKey<u32>>,
    /// topologyScore: per key, the raw score of each domain.
    score: Vec<PerKey<i64>>,
    pub scored: bool,
}

impl AffinityCycle {
    pub(crate) fn new(m: &Model<'_>, prof: &Profile<'_>) -> Self {
        let snap = m.snap;
        let pod = prof.pod;
        let mut c = Self {
            affinity: Vec::new(),
            affinity_any: false,
            self_match: false,
            anti: Vec::new(),
            existing: Vec::new(),
            score: Vec::new(),
            scored: false,
        };
        for g in m.existing.selecting(snap, &pod.namespace, pod.labels()) {
            if g.holders.is_empty() {
                continue;
            }
            match g.effect {
                Effect::Repel => {
                    let v = slot_for(&mut c.existing, &g.domains);
                    for (&d, &n) in &g.holders {
                        v[d] += n.max(0) as u32;
                    }
                }
                Effect::Score(w) => {
                    let v = slot_for(&mut c.score, &g.domains);
                    for (&d, &n) in &g.holders {
                        v[d] += w * n;
                    }
                    c.scored = true;
                }
            }
        }
        c.required_affinity(m, prof);
        for t in &prof.required_anti {
            let d = m.keys.get(snap, &t.key);
            let v = slot_for(&mut c.anti, &d);
            each_selected(m, t, |n| {
                if let Some(x) = d.of(n) {
                    v[x] += 1;
                }
            });
        }
        for t in &prof.preferred {
            let d = m.keys.get(snap, &t.key);
            let v = slot_for(&mut c.score, &d);
            let mut any = false;
            each_selected(m, t, |n| {
                if let Some(x) = d.of(n) {
                    v[x] += t.weight;
                    any = true;
                }
            });
            c.scored |= any;
        }
        c
    }

    fn required_affinity(&mut self, m: &Model<'_>, prof: &Profile<'_>) {
        let terms = &prof.required_affinity;
        let Some(first) = terms.first() else {
            return;
        };
        let snap = m.snap;
        let doms: Vec<Rc<KeyDomains>> = terms.iter().map(|t| m.keys.get(snap, &t.key)).collect();
        let mut counts: Vec<Vec<u32>> = doms.iter().map(|d| vec![0; d.count]).collect();
        let mut any = false;
        if let Some(sel) = &first.selector {
            m.for_each_match(Scope::Term(&first.scope), sel, |_, other, n| {
                if terms
                    .iter()
                    .all(|t| t.selects(snap, &other.namespace, other.labels()))
                {
                    for (d, c) in doms.iter().zip(counts.iter_mut()) {
                        if let Some(x) = d.of(n) {
                            c[x] += 1;
                            any = true;
                        }
                    }
                }
            });
        }
        self.affinity = doms
            .into_iter()
            .zip(counts)
            .map(|(domains, values)| PerKey { domains, values })
            .collect();
        self.affinity_any = any;
        self.self_match = terms
            .iter()
            .all(|t| t.selects(snap, &prof.pod.namespace, prof.pod.labels()));
    }

    /// Some required term, the pod's or an existing pod's, can reject a node.
    pub(crate) fn filters(&self) -> bool {
        !self.affinity.is_empty() || !self.anti.is_empty() || !self.existing.is_empty()
    }

    /// The pod's required affinity holds on the node.
    pub(crate) fn affinity_ok(&self, n: NodeId) -> bool {
        let mut pods_exist = true;
        for t in &self.affinity {
            match t.domains.of(n) {
                None => return false,
                Some(d) if t.values[d] == 0 => pods_exist = false,
                Some(_) => {}
            }
        }
        pods_exist || (!self.affinity_any && self.self_match)
    }

    /// No pod the pod's required anti-affinity selects is in the node's domain.
    pub(crate) fn anti_ok(&self, n: NodeId) -> bool {
        blocked_by(&self.anti, n)
    }

    /// No existing pod's required anti-affinity selecting the pod is in the node's domain.
    pub(crate) fn existing_ok(&self, n: NodeId) -> bool {
        blocked_by(&self.existing, n)
    }

    /// The node's raw InterPodAffinity score.
    pub(crate) fn raw_score(&self, n: NodeId) -> i64 {
        self.score
            .iter()
            .filter_map(|s| s.domains.of(n).map(|d| s.values[d]))
            .sum()
    }
}

fn blocked_by(list: &[PerKey<u32>], n: NodeId) -> bool {
    list.iter()
        .all(|a| a.domains.of(n).is_none_or(|d| a.values[d] == 0))
}

/// Calls `f` with the node of every pod the term selects.
fn each_selected(m: &Model<'_>, t: &Term, mut f: impl FnMut(NodeId)) {
    if let Some(sel) = &t.selector {
        m.for_each_match(Scope::Term(&t.scope), sel, |_, _, n| f(n));
    }
}
