//! Where the replacements of a run's evictions really went (SPEC §10): the
//! operator compares each prediction with the pod its controller created.
//! Pure: it matches two snapshots, the run's and a later one from the same
//! watch caches (no extra API calls).
//!
//! A replacement is a pod of the same controller owner that the run's
//! snapshot did not have; each is matched to one eviction, in plan order.

use std::collections::{BTreeMap, HashSet};

use crate::api::PlacementCounts;
use crate::evictor::EvictOutcome;
use crate::report::RunReport;
use crate::snapshot::{OwnerRef, PodInfo, Snapshot};

/// The pod's identity: its uid (a pod recreated under the same name, as a
/// StatefulSet's is, has a new one), else its name.
fn uid(p: &PodInfo) -> String {
    match p.pod.metadata.uid.as_deref() {
        Some(u) if !u.is_empty() => u.to_string(),
        _ => p.key(),
    }
}

/// One eviction whose replacement is awaited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Awaited {
    pub owner: OwnerRef,
    pub strategy: String,
    /// The node the evicted pod ran on.
    pub source: String,
    /// Where it was predicted to go: `Some(None)` for Pending, None when not predicted.
    pub predicted: Option<Option<String>>,
}

/// What became of one replacement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Landing {
    AsPredicted,
    Elsewhere,
    /// Back on the node its predecessor was evicted from.
    OnSource,
    /// Not (yet) bound to a node.
    Pending,
}

impl Landing {
    pub fn as_str(self) -> &'static str {
        match self {
            Landing::AsPredicted => "landed_as_predicted",
            Landing::Elsewhere => "landed_elsewhere",
            Landing::OnSource => "landed_on_source",
            Landing::Pending => "pending",
        }
    }
}

/// The evictions the API server accepted, with an owner to follow.
pub fn awaited(snap: &Snapshot, report: &RunReport) -> Vec<Awaited> {
    report
        .attempts
        .iter()
        .filter(|a| a.outcome == EvictOutcome::Evicted && !a.restart)
        .filter_map(|a| {
            let owner = snap.pod(a.pod).owner.clone()?;
            Some(Awaited {
                owner,
                strategy: a.entry.strategy.clone(),
                source: a.entry.node.clone(),
                predicted: a.entry.predicted_node.clone(),
            })
        })
        .collect()
}

/// A pod the run's snapshot did not have: (created, name, node).
type Fresh<'a> = (
    Option<chrono::DateTime<chrono::Utc>>,
    &'a str,
    Option<&'a str>,
);

/// Where each awaited replacement is in `now`, a snapshot taken after
/// `before` (the run's): `landings[i]` is for `awaited[i]`.
pub fn landings(awaited: &[Awaited], before: &Snapshot, now: &Snapshot) -> Vec<Landing> {
    let known: HashSet<String> = before.pods.values().map(uid).collect();
    // New pods of each owner, oldest first: the first eviction gets the first.
    let mut fresh: BTreeMap<&OwnerRef, Vec<Fresh<'_>>> = BTreeMap::new();
    for w in awaited {
        fresh.entry(&w.owner).or_insert_with(|| {
            let mut v: Vec<_> = now
                .pods_of_owner(&w.owner)
                .iter()
                .map(|&id| now.pod(id))
                .filter(|p| !known.contains(&uid(p)))
                .map(|p| (p.created, p.name.as_str(), p.node_name.as_deref()))
                .collect();
            v.sort();
            v.reverse();
            v
        });
    }
    awaited
        .iter()
        .map(|w| {
            let next = fresh.get_mut(&w.owner).and_then(Vec::pop);
            match next.and_then(|(_, _, node)| node) {
                None => Landing::Pending,
                Some(n) if n == w.source => Landing::OnSource,
                Some(n) if w.predicted.as_ref().and_then(|p| p.as_deref()) == Some(n) => {
                    Landing::AsPredicted
                }
                Some(_) => Landing::Elsewhere,
            }
        })
        .collect()
}

/// The counts status reports.
pub fn counts(awaited: &[Awaited], landings: &[Landing]) -> PlacementCounts {
    let mut c = PlacementCounts {
        predicted: awaited.iter().filter(|w| w.predicted.is_some()).count() as i64,
        ..Default::default()
    };
    for l in landings {
        match l {
            Landing::AsPredicted => c.landed_as_predicted += 1,
            Landing::Elsewhere => c.landed_elsewhere += 1,
            Landing::OnSource => c.landed_on_source += 1,
            Landing::Pending => c.pending += 1,
        }
    }
    c
}

#[cfg(test)]
#[path = "followup_tests.rs"]
mod tests;
