//! PodDisruptionBudgets simulated across a run (SPEC §5, §7): what the
//! Eviction API would answer, given the evictions already planned.

use crate::snapshot::{IdVec, PdbId, Phase, PodId, Snapshot};

#[derive(Clone, Debug)]
pub struct Budgets {
    /// Healthy pods of each budget planned for eviction so far.
    planned: IdVec<PdbId, i64>,
}

impl Budgets {
    pub fn new(snap: &Snapshot) -> Self {
        Self {
            planned: IdVec::filled(snap.pdbs.len(), 0),
        }
    }

    /// Whether the Eviction API would let the pod go now.
    pub fn allow(&self, snap: &Snapshot, pod: PodId) -> bool {
        let p = snap.pod(pod);
        // The API deletes these at once, without looking at any budget (and so
        // before it could refuse a pod under two of them).
        if p.terminating || matches!(p.phase, Phase::Pending | Phase::Succeeded | Phase::Failed) {
            return true;
        }
        let healthy = p.ready;
        let pdbs = snap.pdbs_of(pod);
        // The Eviction API refuses pods selected by more than one budget.
        if pdbs.len() > 1 {
            return false;
        }
        pdbs.iter()
            .all(|&i| snap.pdb(i).allows(healthy, self.planned[i]))
    }

    /// Records the pod's eviction against its budgets.
    pub fn record(&mut self, snap: &Snapshot, pod: PodId) {
        let p = snap.pod(pod);
        if p.ready && !p.terminating {
            for &i in snap.pdbs_of(pod) {
                self.planned[i] += 1;
            }
        }
    }
}
