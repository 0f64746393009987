//! Carrying out a plan: the [`Evictor`] trait, with the Eviction API
//! ([`api::ApiEvictor`]) and the dry run ([`dry_run::DryRun`], which `simulate`
//! and dry-run policies use). Evictors decide nothing: they attempt what the
//! plan says, in order, and report what happened.

pub mod api;
pub mod dry_run;

use crate::plan::EvictionPlan;
use crate::snapshot::{PodInfo, Snapshot};

pub use api::{ApiEvictor, classify};
pub use dry_run::DryRun;

/// What happened to one planned eviction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvictOutcome {
    Evicted,
    /// Dry run: nothing was sent.
    WouldEvict,
    /// HTTP 429 from a PodDisruptionBudget (or blocked in the plan's simulation).
    Blocked,
    /// HTTP 404: the pod is already gone. Not an error, not counted as evicted.
    Gone,
    /// Any other error, with a short category for status and metrics.
    Failed(FailureCategory),
    /// Not attempted: the run stopped (leadership lost or shutting down).
    NotAttempted,
    /// RolloutRestart: the workload's pod template was patched.
    Restarted,
    /// RolloutRestart in a dry run: nothing was sent.
    WouldRestart,
    /// RolloutRestart refused: the Deployment cannot surge (maxSurge 0 or
    /// Recreate), so the pod is left as Skip would.
    NoSurge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureCategory {
    Forbidden,
    Conflict,
    Throttled,
    ServerError,
    Timeout,
    Connection,
    Other,
}

impl FailureCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCategory::Forbidden => "Forbidden",
            FailureCategory::Conflict => "Conflict",
            FailureCategory::Throttled => "Throttled",
            FailureCategory::ServerError => "ServerError",
            FailureCategory::Timeout => "Timeout",
            FailureCategory::Connection => "Connection",
            FailureCategory::Other => "Other",
        }
    }
}

/// Attempts one eviction, or one workload restart.
pub trait Evictor {
    fn evict(&self, pod: &PodInfo) -> impl Future<Output = EvictOutcome> + Send;
    /// Restarts the pod's Deployment or StatefulSet (RolloutRestart).
    fn restart(&self, pod: &PodInfo) -> impl Future<Output = EvictOutcome> + Send;
}

/// Attempts every planned eviction in order, then every planned restart;
/// the outcomes are in that order (`plan.evictions`, then `plan.restarts`).
pub async fn execute(
    evictor: &(impl Evictor + Sync),
    snap: &Snapshot,
    plan: &EvictionPlan,
) -> Vec<EvictOutcome> {
    execute_with(evictor, snap, plan, |_| {}).await
}

/// [`execute`], telling `seen` each outcome as it happens (a long run
/// reports its progress from them).
pub async fn execute_with(
    evictor: &(impl Evictor + Sync),
    snap: &Snapshot,
    plan: &EvictionPlan,
    mut seen: impl FnMut(EvictOutcome) + Send,
) -> Vec<EvictOutcome> {
    let mut outcomes = Vec::with_capacity(plan.evictions.len() + plan.restarts.len());
    for e in &plan.evictions {
        let outcome = evictor.evict(snap.pod(e.pod)).await;
        seen(outcome);
        outcomes.push(outcome);
    }
    for r in &plan.restarts {
        let outcome = evictor.restart(snap.pod(r.pod)).await;
        seen(outcome);
        outcomes.push(outcome);
    }
    outcomes
}

/// What a run in progress has done so far, for its status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub evicted: i64,
    pub blocked: i64,
    pub failed: i64,
    pub restarted: i64,
}

impl Tally {
    pub fn add(&mut self, outcome: EvictOutcome) {
        match outcome {
            EvictOutcome::Evicted => self.evicted += 1,
            EvictOutcome::Blocked => self.blocked += 1,
            EvictOutcome::Failed(_) => self.failed += 1,
            EvictOutcome::Restarted => self.restarted += 1,
            EvictOutcome::WouldEvict
            | EvictOutcome::Gone
            | EvictOutcome::NotAttempted
            | EvictOutcome::WouldRestart
            | EvictOutcome::NoSurge => {}
        }
    }
}
