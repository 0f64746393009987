//! The pods the scheduler would see while a plan is placed, and the indexes
//! that find them without a scan: a [`Slot`] is a snapshot pod or a placed
//! replacement; [`KeyDomains`] maps each node to its value of a topology key;
//! [`LabelIndex`] finds the pods carrying a label.

use std::cell::RefCell;
use std::hash::{BuildHasher, Hash, Hasher};
use std::rc::Rc;

use foldhash::HashMap;

use super::Model;
use super::profile::NsScope;
use crate::selectors::Selector;
use crate::snapshot::{Id, NodeId, PodId, PodInfo, Snapshot};

/// A pod as the model sees it: below the snapshot's pod count, that pod;
/// above, a placed replacement (a copy of the evicted pod on its new node).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Slot(u32);

impl Slot {
    pub(crate) fn pod(p: PodId) -> Self {
        Self(p.index() as u32)
    }

    pub(crate) fn new(i: usize) -> Self {
        // A snapshot and its replacements hold far fewer than 2^32 pods.
        Self(i as u32)
    }
}

pub(crate) const NONE: u32 = u32::MAX;

/// The domains of one topology key: each node's value, numbered.
#[derive(Debug)]
pub(crate) struct KeyDomains {
    of_node: Vec<u32>,
    /// How many distinct values the nodes have.
    pub count: usize,
}

impl KeyDomains {
    fn build(snap: &Snapshot, key: &str) -> Self {
        let mut ids: HashMap<&str, u32> = HashMap::default();
        let of_node = snap
            .nodes
            .values()
            .map(|n| match n.labels.get(key) {
                Some(v) => {
                    let next = ids.len() as u32;
                    *ids.entry(v.as_str()).or_insert(next)
                }
                None => NONE,
            })
            .collect();
        Self {
            of_node,
            count: ids.len(),
        }
    }

    /// The node's domain, `count` when it lacks the key: an index into a
    /// per-domain table with one more entry for "no domain".
    #[inline]
    pub(crate) fn of_or_count(&self, n: NodeId) -> usize {
        (self.of_node[n.index()] as usize).min(self.count)
    }

    /// The node's domain, None when it lacks the key.
    #[inline]
    pub(crate) fn of(&self, n: NodeId) -> Option<usize> {
        let d = self.of_node[n.index()];
        (d != NONE).then_some(d as usize)
    }
}

/// Topology keys, each computed once.
#[derive(Default)]
pub(crate) struct Keys(RefCell<HashMap<String, Rc<KeyDomains>>>);

impl Keys {
    pub(crate) fn get(&self, snap: &Snapshot, key: &str) -> Rc<KeyDomains> {
        if let Some(d) = self.0.borrow().get(key) {
            return d.clone();
        }
        let d = Rc::new(KeyDomains::build(snap, key));
        self.0.borrow_mut().insert(key.to_string(), d.clone());
        d
    }
}

/// Slots by label value; the values borrow from the snapshot's pods (a
/// replacement is a copy of one).
type ByValue<'s> = HashMap<&'s str, Vec<Slot>>;

/// Slots by (label key, namespace, value), built one (key, namespace) at a
/// time when a selector first asks for it, and kept up to date as
/// replacements land.
#[derive(Default)]
pub(crate) struct LabelIndex<'s> {
    by_key: HashMap<String, HashMap<String, ByValue<'s>>>,
}

impl<'s> LabelIndex<'s> {
    fn build(m: &Model<'s>, key: &str, ns: &str) -> ByValue<'s> {
        let mut out = ByValue::default();
        let placed = m.replacements_by_ns.get(ns).into_iter().flatten().copied();
        // The snapshot's index, where matching the budgets built it, lists
        // the same pods in the same (id) order without reading their labels
        // (a cache miss or more per pod).
        if let Some(built) = m.snap.pods_by_label(ns, key) {
            for (v, pods) in built {
                out.insert(v.as_str(), pods.iter().map(|&p| Slot::pod(p)).collect());
            }
            for slot in placed {
                if let Some(v) = m.snap.pod(m.slot_pod(slot)).labels().get(key) {
                    out.entry(v.as_str()).or_default().push(slot);
                }
            }
            return out;
        }
        let snapshot = m.snap.pods_in_namespace(ns).iter().map(|&p| Slot::pod(p));
        for slot in snapshot.chain(placed) {
            let p = m.snap.pod(m.slot_pod(slot));
            if let Some(v) = p.labels().get(key) {
                out.entry(v.as_str()).or_default().push(slot);
            }
        }
        out
    }

    /// Adds a replacement to every (key, namespace) built so far.
    pub(crate) fn add(&mut self, slot: Slot, pod: &'s PodInfo) {
        for (key, by_ns) in &mut self.by_key {
            if let (Some(v), Some(by_value)) =
                (pod.labels().get(key), by_ns.get_mut(pod.namespace.as_str()))
            {
                by_value.entry(v.as_str()).or_default().push(slot);
            }
        }
    }
}

/// The namespaces a query looks in.
#[derive(Clone, Copy)]
pub(crate) enum Scope<'a> {
    Namespace(&'a str),
    Term(&'a NsScope),
}

impl Scope<'_> {
    fn contains(&self, snap: &Snapshot, ns: &str) -> bool {
        match self {
            Scope::Namespace(own) => *own == ns,
            Scope::Term(t) => t.contains(snap, ns),
        }
    }

    fn hash_into(&self, h: &mut impl Hasher) {
        match self {
            Scope::Namespace(ns) => {
                0u8.hash(h);
                ns.hash(h);
            }
            Scope::Term(t) => {
                1u8.hash(h);
                t.hash(h);
            }
        }
    }
}

/// A [`Scope`], owned.
enum OwnedScope {
    Namespace(String),
    Term(NsScope),
}

impl OwnedScope {
    fn new(scope: Scope<'_>) -> Self {
        match scope {
            Scope::Namespace(ns) => Self::Namespace(ns.to_string()),
            Scope::Term(t) => Self::Term(t.clone()),
        }
    }

    fn is(&self, scope: Scope<'_>) -> bool {
        match (self, scope) {
            (Self::Namespace(a), Scope::Namespace(b)) => a == b,
            (Self::Term(a), Scope::Term(b)) => a == b,
            _ => false,
        }
    }
}

/// The snapshot pods one query of [`Model::for_each_match`] selects,
/// whether or not the scheduler sees them now: a pod's namespace and labels
/// never change, only where it is bound, and each cycle that asks again (the
/// spreading and affinity counts of every pod of a workload ask the same)
/// visits only these instead of matching labels. Replacements are few and
/// matched as they are asked for.
struct Matches {
    scope: OwnedScope,
    selector: Selector,
    slots: Vec<Slot>,
}

/// Which slots a scan visits.
#[derive(Clone, Copy)]
enum Part {
    Snapshot,
    Replacements,
}

/// [`Matches`] by the hash of their query.
#[derive(Default)]
pub(crate) struct MatchCache(RefCell<HashMap<u64, Vec<Rc<Matches>>>>);

fn query_hash(scope: Scope<'_>, selector: &Selector) -> u64 {
    let mut h = foldhash::fast::FixedState::default().build_hasher();
    scope.hash_into(&mut h);
    selector.hash(&mut h);
    h.finish()
}

impl<'s> Model<'s> {
    pub(crate) fn slot_pod(&self, s: Slot) -> PodId {
        let i = s.0 as usize;
        match i.checked_sub(self.snap.pods.len()) {
            None => PodId::from_index(i),
            Some(r) => self.replacements[r].0,
        }
    }

    /// Where the slot's pod is bound, None when the scheduler would not see
    /// it: evicted, Succeeded or Failed, or not bound to a known node.
    #[inline]
    pub(crate) fn slot_node(&self, s: Slot) -> Option<NodeId> {
        let n = self.slot_nodes[s.0 as usize];
        (n != NONE).then(|| NodeId::from_index(n as usize))
    }

    /// A replacement is a new pod: never terminating.
    #[inline]
    pub(crate) fn slot_terminating(&self, s: Slot) -> bool {
        self.terminating.get(s.0 as usize).copied().unwrap_or(false)
    }

    pub(crate) fn live_node(&self, p: PodId) -> Option<NodeId> {
        self.slot_node(Slot::pod(p))
    }

    /// Every namespace that has pods or a Namespace object, sorted.
    fn namespaces(&self) -> &[String] {
        self.namespaces.get_or_init(|| {
            let mut all: Vec<String> = self.snap.namespaces.keys().cloned().collect();
            let mut last: Option<&str> = None;
            for p in self.snap.pods.values() {
                if last != Some(p.namespace.as_str()) {
                    all.push(p.namespace.clone());
                    last = Some(p.namespace.as_str());
                }
            }
            all.sort();
            all.dedup();
            all
        })
    }

    /// The slots of pods the scheduler sees, in `scope`, that `selector`
    /// matches, with their nodes (terminating pods included), in no
    /// particular order.
    pub(crate) fn for_each_match(
        &self,
        scope: Scope<'_>,
        selector: &Selector,
        mut f: impl FnMut(Slot, &'s PodInfo, NodeId),
    ) {
        let mut visit = |slot: Slot| {
            if let Some(node) = self.slot_node(slot) {
                f(slot, self.snap.pod(self.slot_pod(slot)), node);
            }
        };
        for &slot in &self.snapshot_matches(scope, selector).slots {
            visit(slot);
        }
        self.scan(scope, selector, Part::Replacements, visit);
    }

    /// The query's [`Matches`], found on first use.
    fn snapshot_matches(&self, scope: Scope<'_>, selector: &Selector) -> Rc<Matches> {
        let hash = query_hash(scope, selector);
        if let Some(m) = self.match_cache.0.borrow().get(&hash).and_then(|bucket| {
            bucket
                .iter()
                .find(|m| m.selector == *selector && m.scope.is(scope))
        }) {
            return m.clone();
        }
        let mut slots = Vec::new();
        self.scan(scope, selector, Part::Snapshot, |slot| slots.push(slot));
        let m = Rc::new(Matches {
            scope: OwnedScope::new(scope),
            selector: selector.clone(),
            slots,
        });
        let mut cache = self.match_cache.0.borrow_mut();
        cache.entry(hash).or_default().push(m.clone());
        m
    }

    /// Every slot of `part` in `scope` that `selector` matches, bound or not.
    fn scan(&self, scope: Scope<'_>, selector: &Selector, part: Part, mut f: impl FnMut(Slot)) {
        let snap = self.snap;
        // `known`: the slot is known to match (see `whole` below).
        let mut visit = |slot: Slot, known: bool| {
            if known || {
                let pod = snap.pod(self.slot_pod(slot));
                scope.contains(snap, &pod.namespace) && selector.matches(pod.labels())
            } {
                f(slot);
            }
        };
        let first_replacement = Slot::new(snap.pods.len());
        if let Some((key, values)) = selector.required_values() {
            // The index has the namespace's pods by their value of `key`:
            // when that requirement is the whole selector, every one it
            // lists matches, and reading each pod's labels to check again
            // costs a cache miss per pod (most of a query's first use).
            let whole = selector.requirements().len() == 1;
            let mut from_ns = |ns: &str| {
                if whole && !scope.contains(snap, ns) {
                    return;
                }
                self.with_values(key, ns, |by_value| {
                    for v in values {
                        let list = by_value.get(v.as_str()).map_or(&[][..], Vec::as_slice);
                        // Snapshot pods first, in slot order; replacements after.
                        let split = list.partition_point(|s| s.0 < first_replacement.0);
                        let (snapshot, placed) = list.split_at(split);
                        let slots = match part {
                            Part::Snapshot => snapshot,
                            Part::Replacements => placed,
                        };
                        slots.iter().for_each(|&slot| visit(slot, whole));
                    }
                })
            };
            match scope {
                Scope::Namespace(ns) => from_ns(ns),
                Scope::Term(t) => match t.only_names() {
                    Some(names) => names.iter().for_each(|ns| from_ns(ns)),
                    None => self.namespaces().iter().for_each(|ns| from_ns(ns)),
                },
            }
            return;
        }
        let names: Vec<&str> = match scope {
            Scope::Namespace(ns) => vec![ns],
            Scope::Term(t) => match t.only_names() {
                Some(names) => names.iter().map(String::as_str).collect(),
                None => self.namespaces().iter().map(String::as_str).collect(),
            },
        };
        for ns in names {
            match part {
                Part::Snapshot => snap
                    .pods_in_namespace(ns)
                    .iter()
                    .for_each(|&p| visit(Slot::pod(p), false)),
                Part::Replacements => self
                    .replacements_by_ns
                    .get(ns)
                    .into_iter()
                    .flatten()
                    .for_each(|&slot| visit(slot, false)),
            }
        }
    }

    /// The slots of the owner's pods the scheduler sees, with their nodes.
    pub(crate) fn for_each_of_owner(
        &self,
        owner: &crate::snapshot::OwnerRef,
        mut f: impl FnMut(Slot, NodeId),
    ) {
        let snapshot_pods = self.snap.pods_of_owner(owner).iter().map(|&p| Slot::pod(p));
        let placed = self.replacements_by_owner.get(owner).into_iter().flatten();
        for slot in snapshot_pods.chain(placed.copied()) {
            if let Some(node) = self.slot_node(slot) {
                f(slot, node);
            }
        }
    }

    /// Calls `f` with the slots of `ns` by their value of `key`, building
    /// that part of the index first if no query has asked for it yet.
    fn with_values(&self, key: &str, ns: &str, f: impl FnOnce(&ByValue<'s>)) {
        let index = self.labels.borrow();
        if let Some(by_value) = index.by_key.get(key).and_then(|by_ns| by_ns.get(ns)) {
            return f(by_value);
        }
        drop(index);
        let built = LabelIndex::build(self, key, ns);
        let mut index = self.labels.borrow_mut();
        let by_ns = index.by_key.entry(key.to_string()).or_default();
        f(by_ns.entry(ns.to_string()).or_insert(built));
    }
}
