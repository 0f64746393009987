//! Where the replacements of a run's evictions really went (SPEC §10): the
//! operator compares each prediction with the pod its controller created.
//! Pure: it matches the run's snapshot with the pods of the same watch
//! caches read later (no extra API calls, no snapshot rebuilt per look).
//!
//! A replacement is a pod of the same controller owner that the run's
//! snapshot did not have; each is matched to one eviction, in plan order.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::api::PlacementCounts;
use crate::evictor::EvictOutcome;
use crate::plan::EvictionPlan;
use crate::report::RunReport;
use crate::snapshot::{OwnerRef, Snapshot, controller_of};

/// The pod's identity: its uid (a pod recreated under the same name, as a
/// StatefulSet's is, has a new one), else its name.
fn uid(p: &Pod) -> Cow<'_, str> {
    let m = &p.metadata;
    match m.uid.as_deref() {
        Some(u) if !u.is_empty() => Cow::Borrowed(u),
        _ => Cow::Owned(format!(
            "{}/{}",
            m.namespace.as_deref().unwrap_or_default(),
            m.name.as_deref().unwrap_or_default()
        )),
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

/// Follows one run's evictions: which pods it already knew is worked out
/// once, so each look at the caches only reads the awaited owners' new pods.
pub struct Followup<'s> {
    pub awaited: Vec<Awaited>,
    /// Borrowed from the run's snapshot: a set of 60,000 copied uids cost 2 %
    /// of a run at 2,000 nodes.
    known: HashSet<Cow<'s, str>>,
}

impl<'s> Followup<'s> {
    pub fn new(awaited: Vec<Awaited>, before: &'s Snapshot) -> Self {
        let known = before.pods.values().map(|p| uid(&p.pod)).collect();
        Self { awaited, known }
    }

    /// Where each awaited replacement is among `pods` (the caches' pods,
    /// read after the run), from one pass over them: `landings[i]` is for
    /// `awaited[i]`; `moved` are those bound to a node other than their
    /// predecessor's, which the next run watches for the same strategy
    /// flagging them again.
    pub fn look(&self, pods: &[Arc<Pod>]) -> Look {
        let mut look = Look::default();
        for (w, r) in self.awaited.iter().zip(self.replacements(pods)) {
            let node = r.as_ref().and_then(|r| r.node);
            look.landings.push(match node {
                None => Landing::Pending,
                Some(n) if n == w.source => Landing::OnSource,
                Some(n) if w.predicted.as_ref().and_then(|p| p.as_deref()) == Some(n) => {
                    Landing::AsPredicted
                }
                Some(_) => Landing::Elsewhere,
            });
            if let (Some(r), Some(n)) = (r.as_ref(), node.filter(|n| *n != w.source)) {
                look.moved.push(Moved {
                    strategy: w.strategy.clone(),
                    owner: w.owner.clone(),
                    uid: r.uid.to_string(),
                    node: n.to_string(),
                });
            }
        }
        look
    }

    pub fn landings(&self, pods: &[Arc<Pod>]) -> Vec<Landing> {
        self.look(pods).landings
    }

    pub fn moved(&self, pods: &[Arc<Pod>]) -> Vec<Moved> {
        self.look(pods).moved
    }

    /// The replacement matched to each awaited eviction, if it exists yet.
    fn replacements<'p>(&self, pods: &'p [Arc<Pod>]) -> Vec<Option<Fresh<'p>>> {
        let owners: BTreeSet<&OwnerRef> = self.awaited.iter().map(|w| &w.owner).collect();
        // New pods of each owner, newest first, so popping gives the oldest
        // to the first eviction.
        let mut fresh: BTreeMap<OwnerRef, Vec<Fresh<'p>>> = BTreeMap::new();
        for p in pods {
            let Some(o) = controller_of(p).filter(|o| owners.contains(o)) else {
                continue;
            };
            let uid = uid(p);
            if self.known.contains(&uid) {
                continue;
            }
            fresh.entry(o).or_default().push(Fresh {
                created: p.metadata.creation_timestamp.as_ref().map(|t| t.0),
                name: p.metadata.name.as_deref().unwrap_or_default(),
                node: p.spec.as_ref().and_then(|s| s.node_name.as_deref()),
                uid,
            });
        }
        for v in fresh.values_mut() {
            v.sort_by(|a, b| (a.created, a.name).cmp(&(b.created, b.name)));
            v.reverse();
        }
        self.awaited
            .iter()
            .map(|w| fresh.get_mut(&w.owner).and_then(Vec::pop))
            .collect()
    }
}

/// What [`Followup::look`] found.
#[derive(Debug, Default)]
pub struct Look {
    pub landings: Vec<Landing>,
    pub moved: Vec<Moved>,
}

/// A pod the run's snapshot did not have.
struct Fresh<'a> {
    created: Option<k8s_openapi::jiff::Timestamp>,
    name: &'a str,
    node: Option<&'a str>,
    uid: Cow<'a, str>,
}

/// A replacement that moved: the strategy that evicted its predecessor, and
/// where it runs now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moved {
    pub strategy: String,
    pub owner: OwnerRef,
    pub uid: String,
    pub node: String,
}

/// The owners of the pods `plan` evicts that are replacements the same
/// strategy moved at the previous run, still on the node they moved to:
/// the strategy flags them again, so evicting would only move them on
/// (SPEC §11), and they are backed off instead.
pub fn flagged_again(moved: &[Moved], snap: &Snapshot, plan: &EvictionPlan) -> BTreeSet<OwnerRef> {
    if moved.is_empty() {
        return BTreeSet::new();
    }
    let by_uid: HashMap<&str, &Moved> = moved.iter().map(|m| (m.uid.as_str(), m)).collect();
    plan.evictions
        .iter()
        .filter_map(|e| {
            let p = snap.pod(e.pod);
            let m = by_uid.get(uid(&p.pod).as_ref())?;
            let node = p.node.map(|n| snap.node(n).name.as_str())?;
            (m.strategy == e.strategy && m.node == node).then(|| m.owner.clone())
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
