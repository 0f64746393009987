//! PodTopologySpread: the DoNotSchedule filter (skew against the minimum
//! over eligible domains, minDomains, the node inclusion policies) and the
//! ScheduleAnyway score (explicit constraints, or the system defaults).

use std::cell::RefCell;
use std::rc::Rc;

use foldhash::HashMap;

use super::Model;
use super::index::{KeyDomains, Scope};
use super::nodes::{AFFINITY, Statics, TAINTS};
use super::profile::{Constraint, HOSTNAME, Profile, Select};
use crate::snapshot::{Id, NodeId};

/// Which nodes count for a set of constraints: for each, whether a node's
/// pods count (it has every key when `require_all`, and passes the
/// constraint's inclusion policies) and which domains such nodes form.
struct Eligible {
    nodes: Vec<Vec<bool>>,
    domains: Vec<Vec<bool>>,
    domain_count: Vec<usize>,
}

/// What an eligibility depends on: the node side (its statics), whether
/// every key is required, and each constraint's key and inclusion policies.
struct EligibleKey {
    statics: usize,
    require_all: bool,
    constraints: Vec<(String, bool, bool)>,
}

impl EligibleKey {
    fn is(&self, statics: usize, require_all: bool, cs: &[Constraint<'_>]) -> bool {
        self.statics == statics
            && self.require_all == require_all
            && self.constraints.len() == cs.len()
            && self
                .constraints
                .iter()
                .zip(cs)
                .all(|((k, a, t), c)| k == c.key && *a == c.honor_affinity && *t == c.honor_taints)
    }
}

/// Eligibility by [`EligibleKey`], bucketed by its hash: a cycle looks its
/// eligibility up without building a key.
#[derive(Default)]
pub(crate) struct EligibilityCache(RefCell<HashMap<u64, Bucket>>);

type Bucket = Vec<(EligibleKey, Rc<Eligible>)>;

fn key_hash(statics: usize, require_all: bool, cs: &[Constraint<'_>]) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = foldhash::fast::FixedState::default().build_hasher();
    statics.hash(&mut h);
    require_all.hash(&mut h);
    for c in cs {
        c.key.hash(&mut h);
        c.honor_affinity.hash(&mut h);
        c.honor_taints.hash(&mut h);
    }
    h.finish()
}

fn eligible(
    m: &Model<'_>,
    statics: &Statics,
    cs: &[Constraint<'_>],
    doms: &[Rc<KeyDomains>],
    require_all: bool,
) -> Rc<Eligible> {
    let hash = key_hash(statics.id, require_all, cs);
    if let Some((_, e)) = m.eligibility.0.borrow().get(&hash).and_then(|bucket| {
        bucket
            .iter()
            .find(|(k, _)| k.is(statics.id, require_all, cs))
    }) {
        return e.clone();
    }
    let mut e = Eligible {
        nodes: cs.iter().map(|_| vec![false; m.snap.nodes.len()]).collect(),
        domains: doms.iter().map(|d| vec![false; d.count]).collect(),
        domain_count: vec![0; cs.len()],
    };
    for n in m.snap.node_ids() {
        if require_all && doms.iter().any(|d| d.of(n).is_none()) {
            continue;
        }
        let flags = statics.flags(n);
        for (i, (c, d)) in cs.iter().zip(doms).enumerate() {
            let ok = (!c.honor_affinity || flags & AFFINITY != 0)
                && (!c.honor_taints || flags & TAINTS != 0);
            if let Some(x) = d.of(n).filter(|_| ok) {
                e.nodes[i][n.index()] = true;
                if !e.domains[i][x] {
                    e.domains[i][x] = true;
                    e.domain_count[i] += 1;
                }
            }
        }
    }
    let e = Rc::new(e);
    let key = EligibleKey {
        statics: statics.id,
        require_all,
        constraints: cs
            .iter()
            .map(|c| (c.key.to_string(), c.honor_affinity, c.honor_taints))
            .collect(),
    };
    m.eligibility
        .0
        .borrow_mut()
        .entry(hash)
        .or_default()
        .push((key, e.clone()));
    e
}

/// Calls `f` with the node of every pod the constraint counts: pods the
/// scheduler sees, in the incoming pod's namespace, not terminating.
fn each_counted(m: &Model<'_>, prof: &Profile<'_>, c: &Constraint<'_>, mut f: impl FnMut(NodeId)) {
    match &c.select {
        Select::Nothing => {}
        Select::Labels(s) if s.is_empty() => {}
        Select::Labels(s) => {
            m.for_each_match(Scope::Namespace(&prof.pod.namespace), s, |slot, _, n| {
                if !m.slot_terminating(slot) {
                    f(n);
                }
            });
        }
        Select::Owner(o) => m.for_each_of_owner(o, |slot, n| {
            if !m.slot_terminating(slot) {
                f(n);
            }
        }),
    }
}

/// The nodes of the pods each distinct selection of a pod's constraints
/// counts, found once: constraints often share one (the system defaults
/// both count the pod's controller, a zone and a host constraint one
/// labelSelector).
#[derive(Default)]
struct Counted<'c, 's> {
    seen: Vec<(&'c Select<'s>, Vec<NodeId>)>,
}

impl<'c, 's> Counted<'c, 's> {
    fn nodes(&mut self, m: &Model<'_>, prof: &Profile<'_>, c: &'c Constraint<'s>) -> &[NodeId] {
        let same = |a: &Select<'_>, b: &Select<'_>| match (a, b) {
            (Select::Labels(x), Select::Labels(y)) => x == y,
            (Select::Owner(x), Select::Owner(y)) => x == y,
            _ => false,
        };
        let i = match self.seen.iter().position(|(s, _)| same(s, &c.select)) {
            Some(i) => i,
            None => {
                let mut nodes = Vec::new();
                each_counted(m, prof, c, |n| nodes.push(n));
                self.seen.push((&c.select, nodes));
                self.seen.len() - 1
            }
        };
        &self.seen[i].1
    }
}

struct Hard {
    domains: Rc<KeyDomains>,
    /// Per domain, and last for nodes without the key: the constraint
    /// holds there. The node loop asks it of every visited node.
    allowed: Vec<bool>,
}

struct Soft {
    domains: Rc<KeyDomains>,
    hostname: bool,
    /// Matching pods per domain, or per node for the hostname key.
    counts: Vec<u32>,
    max_skew: i64,
}

pub(crate) struct SpreadCycle {
    hard: Vec<Hard>,
    soft: Vec<Soft>,
    soft_require_all: bool,
}

impl SpreadCycle {
    pub(crate) fn new(m: &Model<'_>, prof: &Profile<'_>, statics: &Statics) -> Self {
        let snap = m.snap;
        let doms = |cs: &[Constraint<'_>]| -> Vec<Rc<KeyDomains>> {
            cs.iter().map(|c| m.keys.get(snap, c.key)).collect()
        };
        let mut counted = Counted::default();
        let hard_doms = doms(&prof.hard);
        let mut hard = Vec::new();
        if !prof.hard.is_empty() {
            let e = eligible(m, statics, &prof.hard, &hard_doms, true);
            for (i, (c, d)) in prof.hard.iter().zip(&hard_doms).enumerate() {
                let mut counts = vec![0u32; d.count];
                let mut nonzero = 0;
                for &n in counted.nodes(m, prof, c) {
                    if e.nodes[i][n.index()]
                        && let Some(x) = d.of(n)
                    {
                        if counts[x] == 0 {
                            nonzero += 1;
                        }
                        counts[x] += 1;
                    }
                }
                // The global minimum over eligible domains; 0 when fewer than minDomains.
                let min =
                    if (e.domain_count[i] as i64) < c.min_domains || nonzero < e.domain_count[i] {
                        0
                    } else {
                        (0..d.count)
                            .filter(|&x| e.domains[i][x])
                            .map(|x| i64::from(counts[x]))
                            .min()
                            .unwrap_or(0)
                    };
                let self_match = i64::from(c.matches_self(prof.pod));
                let allowed = counts
                    .iter()
                    .map(|&n| i64::from(n) + self_match - min <= c.max_skew)
                    .chain([false])
                    .collect();
                hard.push(Hard {
                    domains: d.clone(),
                    allowed,
                });
            }
        }
        let soft_doms = doms(&prof.soft);
        let mut soft = Vec::new();
        if !prof.soft.is_empty() {
            let e = eligible(m, statics, &prof.soft, &soft_doms, prof.soft_require_all);
            for (i, (c, d)) in prof.soft.iter().zip(&soft_doms).enumerate() {
                let hostname = c.key == HOSTNAME;
                let mut counts = vec![0u32; if hostname { snap.nodes.len() } else { d.count }];
                for &n in counted.nodes(m, prof, c) {
                    if hostname {
                        counts[n.index()] += 1;
                    } else if e.nodes[i][n.index()]
                        && let Some(x) = d.of(n)
                    {
                        counts[x] += 1;
                    }
                }
                soft.push(Soft {
                    domains: d.clone(),
                    hostname,
                    counts,
                    max_skew: c.max_skew,
                });
            }
        }
        Self {
            hard,
            soft,
            soft_require_all: prof.soft_require_all,
        }
    }

    /// Some DoNotSchedule constraint can reject a node.
    pub(crate) fn filters(&self) -> bool {
        !self.hard.is_empty()
    }

    /// Every DoNotSchedule constraint holds on the node.
    pub(crate) fn check(&self, n: NodeId) -> bool {
        // Without branching on each constraint: whether a node passes is
        // unpredictable.
        self.hard
            .iter()
            .fold(true, |ok, h| ok & h.allowed[h.domains.of_or_count(n)])
    }

    /// The normalized PodTopologySpread score of each feasible node.
    pub(crate) fn scores(&self, feasible: &[NodeId]) -> Vec<i64> {
        let mut out = vec![0; feasible.len()];
        if self.soft.is_empty() {
            return out;
        }
        // Nodes lacking a key are not scored only when every key is required.
        let ignored = |n: NodeId| {
            self.soft_require_all && self.soft.iter().any(|s| s.domains.of(n).is_none())
        };
        let scored = feasible.iter().filter(|&&n| !ignored(n)).count();
        let mut seen = Vec::new();
        let weights: Vec<f64> = self
            .soft
            .iter()
            .map(|s| {
                let size = if s.hostname {
                    scored
                } else {
                    // Distinct values among the scored nodes; a missing key is a value ("").
                    seen.clear();
                    seen.resize(s.domains.count + 1, false);
                    for &n in feasible.iter().filter(|&&n| !ignored(n)) {
                        seen[s.domains.of(n).unwrap_or(s.domains.count)] = true;
                    }
                    seen.iter().filter(|x| **x).count()
                };
                ((size + 2) as f64).ln()
            })
            .collect();
        // Raw scores first (out holds them), then min and max over the scored.
        const IGNORED: i64 = i64::MIN;
        let raw = |n: NodeId| -> i64 {
            let mut score = 0.0;
            for (s, w) in self.soft.iter().zip(&weights) {
                if let Some(d) = s.domains.of(n) {
                    let cnt = if s.hostname {
                        s.counts[n.index()]
                    } else {
                        s.counts[d]
                    };
                    score += f64::from(cnt) * w + (s.max_skew - 1) as f64;
                }
            }
            super::score::round(score)
        };
        let (mut min, mut max) = (i64::MAX, i64::MIN);
        for (o, &n) in out.iter_mut().zip(feasible) {
            if ignored(n) {
                *o = IGNORED;
                continue;
            }
            let r = raw(n);
            *o = r;
            min = min.min(r);
            max = max.max(r);
        }
        if min > max {
            (min, max) = (0, 0);
        }
        let max = max.max(0);
        let by = super::score::Divisor::new(max);
        let normalized = |r: i64| by.div(100 * (max + min - r));
        // Raw scores span few values: each is normalized once when there
        // are fewer than the nodes (a division saved per node).
        let table: Vec<i64> = match usize::try_from(max - min) {
            Ok(span) if max > 0 && span < feasible.len() => (min..=max).map(normalized).collect(),
            _ => Vec::new(),
        };
        for o in out.iter_mut() {
            *o = match (*o, max) {
                (IGNORED, _) => 0,
                (_, 0) => 100,
                (r, _) => usize::try_from(r - min)
                    .ok()
                    .and_then(|i| table.get(i))
                    .copied()
                    .unwrap_or_else(|| normalized(r)),
            };
        }
        out
    }
}
