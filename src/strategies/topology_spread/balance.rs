//! Moving the fewest pods from the largest domains to the smallest.

use std::cmp::Reverse;

use super::constraints::Constraint;
use crate::plan::Ledger;
use crate::plan::eligibility::{SkipReason, eviction_order};
use crate::snapshot::{NodeId, PodId};
use crate::strategies::label_index::LabelIndex;

struct Domain {
    /// Index into `DomainNodes::domains`, whose order is the name order.
    index: usize,
    /// Pods that may still be given up, in order: the last one goes first.
    pods: Vec<PodId>,
    /// Pods that count here but stay: not evictable, fitting nowhere below
    /// the average, or moved in from a larger domain.
    staying: usize,
}

impl Domain {
    fn size(&self) -> usize {
        self.pods.len() + self.staying
    }
}

/// A pod counts against its constraint's skew but is only given up when
/// nothing else in its domain can go: one with a nodeSelector or required
/// node affinity is the least likely to find a place in another domain.
fn has_required_node_constraints(pod: &crate::snapshot::PodInfo) -> bool {
    pod.spec()
        .node_selector
        .as_ref()
        .is_some_and(|s| !s.is_empty())
        || crate::plan::nodefit::required_node_affinity(pod).is_some()
}

pub fn balance(
    ledger: &mut Ledger<'_>,
    ns: &str,
    c: &Constraint<'_>,
    balance_node_fit: bool,
    labels: &mut LabelIndex,
) {
    let snap = ledger.snap;
    let key = &c.spec.topology_key;
    let nodes = &c.nodes;
    if nodes.domains.len() < 2 {
        return;
    }
    // The matching pods of the namespace that are still there, with their domain.
    let candidates: Vec<PodId> = labels
        .candidates(snap, ns, &c.selector)
        .unwrap_or_else(|| snap.pods_in_namespace(ns).to_vec());
    let mut matching: Vec<(usize, PodId)> = candidates
        .into_iter()
        .filter_map(|p| {
            let pod = snap.pod(p);
            let d = pod.node.and_then(|n| nodes.of_node[n])?;
            (!ledger.is_evicted(p)
                && !pod.phase.is_terminal()
                && !pod.terminating
                && c.selector.matches(pod.labels()))
            .then_some((d, p))
        })
        .collect();
    matching.sort_unstable();
    // Most constraints are within their skew: decide that from the occupied
    // domains alone, without a vector of every domain (a hostname key has one
    // per node, and there is a constraint per workload).
    let occupied = matching.chunk_by(|a, b| a.0 == b.0);
    let mut max = 0;
    let mut min_occupied = i64::MAX;
    let mut occupied_count = 0;
    for group in occupied {
        let n = group.len() as i64;
        max = max.max(n);
        min_occupied = min_occupied.min(n);
        occupied_count += 1;
    }
    let mut min = if occupied_count < nodes.domains.len() {
        0
    } else {
        min_occupied
    };
    let max_skew = i64::from(c.spec.max_skew.max(1));
    if c.spec
        .min_domains
        .is_some_and(|m| (nodes.domains.len() as i64) < i64::from(m))
    {
        min = 0;
    }
    if max - min <= max_skew {
        return;
    }

    let mut domains: Vec<Domain> = (0..nodes.domains.len())
        .map(|index| Domain {
            index,
            pods: Vec::new(),
            staying: 0,
        })
        .collect();
    for (d, p) in matching {
        domains[d].pods.push(p);
    }
    // Pods given up first sit at the end: evictable pods without node
    // constraints, lowest priority first; then evictable pods with them;
    // pods that are not evictable never go, but count.
    for d in &mut domains {
        let mut keyed: Vec<(bool, Reverse<bool>, Reverse<_>, Reverse<PodId>)> = d
            .pods
            .iter()
            .map(|&p| {
                let evictable = ledger.in_scope(p) && ledger.evictable(p).is_ok();
                (
                    evictable,
                    Reverse(has_required_node_constraints(snap.pod(p))),
                    Reverse(eviction_order(snap, p)),
                    Reverse(p),
                )
            })
            .collect();
        keyed.sort_unstable();
        d.pods = keyed.into_iter().map(|(_, _, _, Reverse(p))| p).collect();
    }
    domains.sort_by_key(|d| (d.size(), d.index));

    let total: usize = domains.iter().map(Domain::size).sum();
    let ideal_avg = total as f64 / domains.len() as f64;
    let below_avg_nodes: Vec<NodeId> = if balance_node_fit {
        domains
            .iter()
            .filter(|d| (d.size() as f64) < ideal_avg)
            .flat_map(|d| nodes.domains[d.index].1.iter().copied())
            .collect()
    } else {
        Vec::new()
    };
    let reason = format!("topology spread on {key} (maxSkew {max_skew}) is skewed {max} vs {min}");

    let (mut i, mut j) = (0, domains.len() - 1);
    while i < j {
        if domains[j].size() as f64 <= ideal_avg {
            j -= 1;
            if i >= j {
                break;
            }
        }
        let skew = domains[j].size() as f64 - domains[i].size() as f64;
        if skew <= max_skew as f64 {
            i += 1;
            continue;
        }
        let above = (domains[j].size() as f64 - ideal_avg).ceil();
        let below = (ideal_avg - domains[i].size() as f64).ceil();
        let half_skew = ((skew - max_skew as f64) / 2.0).ceil();
        let move_pods = above.min(below).min(half_skew) as usize;
        if move_pods == 0 {
            i += 1;
            continue;
        }
        let mut moved = 0;
        while moved < move_pods {
            let Some(p) = domains[j].pods.pop() else {
                break;
            };
            if !(ledger.in_scope(p) && ledger.evictable(p).is_ok()) {
                // The rest are not evictable either: this one is counted under
                // its rule, and they all stay.
                ledger.try_evict(p, reason.clone());
                let rest = domains[j].pods.len();
                domains[j].pods.clear();
                domains[j].staying += rest + 1;
                break;
            }
            let fits = !balance_node_fit
                || below_avg_nodes
                    .iter()
                    .any(|&n| Some(n) != snap.pod(p).node && ledger.fits(p, n));
            if !fits {
                // Better than giving up the slot: the next pod of the domain may fit.
                ledger.record_skip(SkipReason::NoFit);
                domains[j].staying += 1;
                continue;
            }
            ledger.try_evict(p, reason.clone());
            moved += 1;
        }
        if moved == 0 {
            // Nothing more can leave the largest domain.
            j -= 1;
            continue;
        }
        domains[i].staying += moved;
    }
}
