//! The score plugins of the default profile, their normalization and the
//! choice of a node.

use std::cell::RefCell;

use foldhash::HashMap;

use super::{Cycle, Model};
use crate::snapshot::{Id, NodeId};

/// The framework's `MaxNodeScore`.
const MAX: i64 = 100;

/// Default plugin weights (pkg/scheduler/apis/config/v1/default_plugins.go).
const W_TAINTS: i64 = 3;
const W_NODE_AFFINITY: i64 = 2;
const W_FIT: i64 = 1;
const W_BALANCED: i64 = 1;
const W_INTER_POD: i64 = 2;
const W_SPREAD: i64 = 2;

/// Below this, integers and their quotients are exact in an f64.
const EXACT: i64 = 1 << 52;

/// `x / d`, as integer division truncates. Scoring divides several times
/// per node of every cycle, and a 64-bit integer division costs several
/// times a floating-point one: below 2^52 the truncated f64 quotient is
/// exact (it never rounds up to the next integer, which is at least 1/d
/// away, further than half an ulp of the quotient).
#[inline]
pub(crate) fn div(x: i64, d: i64) -> i64 {
    if (0..EXACT).contains(&x) && (1..EXACT).contains(&d) {
        (x as f64 / d as f64) as i64
    } else {
        x / d
    }
}

/// `x.round() as i64` (half away from zero) without the library call that
/// `f64::round` is on baseline x86-64: spreading scores round once per
/// scored node of every cycle. Below 2^52 the fraction `x - trunc(x)` is
/// exact, so comparing it with one half decides as `round` does.
#[inline]
pub(crate) fn round(x: f64) -> i64 {
    if x.is_nan() || x.abs() >= EXACT as f64 {
        return x.round() as i64;
    }
    let t = x as i64;
    let frac = x - t as f64;
    // Without branches: which way a score rounds is unpredictable.
    t + i64::from(frac >= 0.5) - i64::from(frac <= -0.5)
}

/// [`div`] by a divisor that stays fixed over a cycle's nodes (a maximum
/// the scores are normalized by): a multiplication by its reciprocal,
/// corrected to the truncated quotient, in place of a division per node.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Divisor {
    d: i64,
    inv: f64,
}

impl Divisor {
    pub(crate) fn new(d: i64) -> Self {
        Self {
            d,
            inv: 1.0 / d as f64,
        }
    }

    #[inline]
    pub(crate) fn div(self, x: i64) -> i64 {
        if !((0..EXACT).contains(&x) && (1..EXACT).contains(&self.d)) {
            return x / self.d;
        }
        // Below 2^52 the product is less than one away from x / d, so its
        // truncation is the quotient or one off it either way.
        let q = (x as f64 * self.inv) as i64;
        q - i64::from(q * self.d > x) + i64::from((q + 1) * self.d <= x)
    }
}

/// LeastAllocated for one resource: the share left free, 0..100.
#[inline]
fn least_requested(requested: i64, capacity: i64) -> i64 {
    if requested > capacity {
        return 0;
    }
    div((capacity - requested) * MAX, capacity)
}

/// NodeResourcesFit's LeastAllocated over cpu and memory (weight 1 each);
/// resources the node has none of are left out.
#[inline]
pub(crate) fn least_allocated(requested: [i64; 2], allocatable: [i64; 2]) -> i64 {
    let mut sum = 0;
    let mut weights = 0;
    for (r, a) in requested.into_iter().zip(allocatable) {
        if a > 0 {
            sum += least_requested(r, a);
            weights += 1;
        }
    }
    // Scores are 0..100: halving needs no division.
    match weights {
        0 => 0,
        1 => sum,
        _ => sum / 2,
    }
}

/// NodeResourcesBalancedAllocation over cpu and memory: 100 times one minus
/// the standard deviation of the requested fractions (capped at 1).
#[inline]
pub(crate) fn balanced(requested: [i64; 2], allocatable: [i64; 2]) -> i64 {
    // Runs for every scored node of every cycle: no allocation.
    let fraction = |i: usize| {
        (allocatable[i] > 0).then(|| (requested[i] as f64 / allocatable[i] as f64).min(1.0))
    };
    let std = match (fraction(0), fraction(1)) {
        (Some(a), Some(b)) => ((a - b) / 2.0).abs(),
        _ => 0.0,
    };
    ((1.0 - std) * MAX as f64) as i64
}

/// What LeastAllocated and BalancedAllocation read of the incoming pod:
/// cpu and memory as LeastAllocated counts them, then as requested.
type Shape = [i64; 4];

/// LeastAllocated and BalancedAllocation of each request shape on each
/// node, kept until the node's requests change: both read the node's state
/// and divide twice for every scored node of every cycle, and pods of one
/// workload share a shape.
/// Bounded: past `MAX_ENTRIES` (shapes times nodes) new shapes are scored
/// without it.
pub(crate) struct ResourceScores {
    /// Bumped when the node's requests change; starts at 1 (0: never scored).
    versions: Vec<u32>,
    shapes: RefCell<HashMap<Shape, Vec<u64>>>,
    /// At most this many entries (shapes times nodes).
    limit: usize,
}

const MAX_ENTRIES: usize = 1 << 22;

impl ResourceScores {
    pub(crate) fn new(nodes: usize) -> Self {
        Self {
            versions: vec![1; nodes],
            shapes: RefCell::default(),
            limit: MAX_ENTRIES,
        }
    }

    /// Keeps nothing: every score computed afresh (tests compare the two).
    #[cfg(test)]
    pub(crate) fn disable(&mut self) {
        self.limit = 0;
    }

    pub(crate) fn changed(&mut self, n: NodeId) {
        let v = &mut self.versions[n.index()];
        *v = v.wrapping_add(1).max(1);
    }
}

/// The (LeastAllocated, BalancedAllocation) kept in `memo` (one shape's
/// entries: the node's version in the high half, the two scores below) for
/// node `n`, or `score`'s, kept, when the node changed since.
#[inline(always)]
fn kept(
    versions: &[u32],
    memo: &mut [u64],
    n: NodeId,
    score: impl FnOnce() -> (i64, i64),
) -> (i64, i64) {
    let version = versions[n.index()];
    let e = memo[n.index()];
    if (e >> 32) as u32 == version {
        return (((e >> 16) & 0xffff) as i64, (e & 0xffff) as i64);
    }
    let (fit, bal) = score();
    memo[n.index()] =
        (u64::from(version) << 32) | ((fit as u64 & 0xffff) << 16) | (bal as u64 & 0xffff);
    (fit, bal)
}

/// The framework's DefaultNormalizeScore of one score, given the maximum
/// over the feasible nodes: scale to 0..100, reversed when fewer is better.
#[inline]
fn normalized(s: i64, max: Divisor, reverse: bool) -> i64 {
    match (max.d, reverse) {
        (0, true) => MAX,
        (0, false) => s,
        (_, false) => max.div(MAX * s),
        (_, true) => MAX - max.div(MAX * s),
    }
}

/// [`normalized`] by one maximum over a cycle's feasible nodes. Raw
/// scores of TaintToleration (untolerated taints) and NodeAffinity (sums of
/// term weights) take few values: when there are fewer than the nodes to
/// normalize, each is normalized once, and every node reads its table
/// entry instead of dividing.
struct Normalizer {
    max: Divisor,
    reverse: bool,
    table: Vec<i64>,
}

impl Normalizer {
    fn new(max: Divisor, reverse: bool, nodes: usize) -> Self {
        let table = match usize::try_from(max.d) {
            Ok(m) if m < nodes => (0..=max.d).map(|s| normalized(s, max, reverse)).collect(),
            _ => Vec::new(),
        };
        Self {
            max,
            reverse,
            table,
        }
    }

    #[inline]
    fn get(&self, s: i64) -> i64 {
        match usize::try_from(s).ok().and_then(|i| self.table.get(i)) {
            Some(&n) => n,
            None => normalized(s, self.max, self.reverse),
        }
    }
}

/// DefaultNormalizeScore over a list of scores.
#[cfg(test)]
pub(crate) fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = Divisor::new(scores.iter().copied().max().unwrap_or(0).max(0));
    for s in scores.iter_mut() {
        *s = normalized(*s, max, reverse);
    }
}

/// InterPodAffinity's normalization: min-max to 0..100.
fn min_max_normalize(scores: &mut [i64]) {
    let min = scores.iter().copied().min().unwrap_or(0);
    let max = scores.iter().copied().max().unwrap_or(0);
    let diff = max - min;
    for s in scores.iter_mut() {
        *s = if diff > 0 {
            (MAX as f64 * ((*s - min) as f64 / diff as f64)) as i64
        } else {
            0
        };
    }
}

impl Model<'_> {
    /// The highest scoring feasible node, and how many others score as
    /// high; ties go to the first by name (the scheduler picks one of them
    /// at random).
    pub(crate) fn select(&self, cyc: &Cycle<'_>, feasible: &[NodeId]) -> (Option<NodeId>, u32) {
        match feasible {
            [] => return (None, 0),
            [only] => return (Some(*only), 0),
            _ => {}
        }
        let totals = self.scores(cyc, feasible);
        let mut best: Option<(i64, NodeId)> = None;
        let mut tied = 0;
        for (&n, &t) in feasible.iter().zip(&totals) {
            match best {
                Some((bt, bn)) if t == bt => {
                    tied += 1;
                    if n < bn {
                        best = Some((t, n));
                    }
                }
                Some((bt, _)) if t < bt => {}
                _ => {
                    best = Some((t, n));
                    tied = 0;
                }
            }
        }
        (best.map(|(_, n)| n), tied)
    }

    /// The weighted sum of the normalized scores of each feasible node.
    pub(crate) fn scores(&self, cyc: &Cycle<'_>, feasible: &[NodeId]) -> Vec<i64> {
        // One pass over the feasible nodes after the maxima the
        // normalizations need; this runs for every planned eviction.
        let statics = &cyc.statics;
        let pod = cyc.prof.pod;
        let (nz_cpu, nz_mem) = cyc.prof.nonzero;
        let best_effort = pod.requests.cpu == 0 && pod.requests.memory == 0;
        let max_of = |v: &[i64]| {
            let max = feasible
                .iter()
                .map(|n| v[n.index()])
                .max()
                .unwrap_or(0)
                .max(0);
            Divisor::new(max)
        };
        // With no PreferNoSchedule taint left untolerated among the feasible
        // nodes every node scores 100, as without raw scores: skip the reads.
        let taints = statics
            .prefer_no_schedule
            .as_deref()
            .map(|v| (v, max_of(v)))
            .filter(|&(_, max)| max.d > 0)
            .map(|(v, max)| (v, Normalizer::new(max, true, feasible.len())));
        let node_affinity = statics
            .preferred
            .as_deref()
            .map(|v| (v, Normalizer::new(max_of(v), false, feasible.len())));
        let inter_pod = cyc.affinity.scored.then(|| {
            let mut raw: Vec<i64> = feasible
                .iter()
                .map(|&n| cyc.affinity.raw_score(n))
                .collect();
            min_max_normalize(&mut raw);
            raw
        });
        let spread = cyc.spread.scores(feasible);
        let shape: Shape = [nz_cpu, nz_mem, pod.requests.cpu, pod.requests.memory];
        let rs = &self.resource_scores;
        let mut shapes = rs.shapes.borrow_mut();
        if !shapes.contains_key(&shape) && (shapes.len() + 1) * rs.versions.len() <= rs.limit {
            shapes.insert(shape, vec![0; rs.versions.len()]);
        }
        let mut memo = shapes.get_mut(&shape);
        let resources = |n: NodeId| {
            let st = &self.nodes[n];
            let alloc = [st.alloc_cpu, st.alloc_mem];
            let fit = least_allocated([st.nz_cpu + nz_cpu, st.nz_mem + nz_mem], alloc);
            let bal = if best_effort {
                0
            } else {
                balanced(
                    [
                        st.used.cpu + pod.requests.cpu,
                        st.used.memory + pod.requests.memory,
                    ],
                    alloc,
                )
            };
            (fit, bal)
        };
        feasible
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                // Without raw scores every node scores as a raw 0 would.
                let taints = taints.as_ref().map_or(MAX, |(v, t)| t.get(v[n.index()]));
                let node_affinity = node_affinity
                    .as_ref()
                    .map_or(0, |(v, t)| t.get(v[n.index()]));
                let inter_pod = inter_pod.as_ref().map_or(0, |v| v[i]);
                let (fit, bal) = match memo.as_deref_mut() {
                    None => resources(n),
                    Some(memo) => kept(&rs.versions, memo, n, || resources(n)),
                };
                W_TAINTS * taints
                    + W_NODE_AFFINITY * node_affinity
                    + W_FIT * fit
                    + W_BALANCED * bal
                    + W_INTER_POD * inter_pod
                    + W_SPREAD * spread[i]
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table gives what dividing gives, for every raw score a cycle can
    /// see (0..=max) and beyond, with and without a table.
    #[test]
    fn normalizer_table_normalizes_as_dividing() {
        for max in 0..300 {
            let d = Divisor::new(max);
            for nodes in [1, 50, 500] {
                for reverse in [false, true] {
                    let n = Normalizer::new(d, reverse, nodes);
                    assert_eq!(n.table.is_empty(), max as usize >= nodes);
                    for s in -2..=max + 2 {
                        assert_eq!(n.get(s), normalized(s, d, reverse), "max {max} s {s}");
                    }
                }
            }
        }
    }
}
