//! Asking before acting (SPEC §12): a plan's identity, and the check an
//! approved plan goes through again before it is carried out. Pure.
//!
//! An approved plan is carried out by planning the run again on a fresh
//! snapshot with the ledger restricted to the approved (pod, strategy)
//! pairs: a pod is evicted only if it is still there, on the same node,
//! still proposed by the same strategy and still allowed by every rule
//! (SPEC §3, limits, budgets). Nothing else can be taken, so a pod that went
//! stale is reported, never replaced.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::api::PlannedEviction;
use crate::engine;
use crate::plan::EvictionPlan;
use crate::policy::Policy;
use crate::snapshot::{PodId, Snapshot};

/// The approvable plan holds at most this many evictions.
pub const MAX_APPROVABLE: usize = 1000;

/// Setting this annotation to a pending plan's id carries it out.
pub const APPROVE_ANNOTATION: &str = "descheduler.dev/approve";

/// A hash of the plan's contents: the same evictions give the same id.
pub fn plan_id(evictions: &[PlannedEviction]) -> String {
    let mut h = Sha256::new();
    for e in evictions {
        for part in [&e.pod, &e.node, &e.strategy, &e.reason] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update([1]);
    }
    let digest = h.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The result of checking an approved plan again.
#[derive(Debug)]
pub struct Recheck {
    /// What may be carried out now: only approved pods.
    pub plan: EvictionPlan,
    /// namespace/name of the approved pods that are gone, moved, or no longer
    /// candidates of their strategy.
    pub stale: Vec<String>,
}

pub fn recheck(snap: &Snapshot, policy: &Policy, approved: &[PlannedEviction]) -> Recheck {
    let by_pod: HashMap<&str, &PlannedEviction> =
        approved.iter().map(|e| (e.pod.as_str(), e)).collect();
    let only = |pod: PodId, strategy: &str| {
        let p = snap.pod(pod);
        by_pod.get(p.key().as_str()).is_some_and(|e| {
            e.strategy == strategy && p.node_name.as_deref() == Some(e.node.as_str())
        })
    };
    let plan = engine::plan_restricted(snap, policy, Some(&only), &mut |_, run| run());
    let handled: std::collections::HashSet<String> = plan
        .evictions
        .iter()
        .chain(&plan.blocked)
        .map(|e| snap.pod(e.pod).key())
        .collect();
    let stale = approved
        .iter()
        .filter(|e| !handled.contains(&e.pod))
        .map(|e| e.pod.clone())
        .collect();
    Recheck { plan, stale }
}

#[cfg(test)]
mod tests;
