//! The dry run: nothing is sent; every planned eviction is reported as one
//! that would happen (simulated budgets already decided the blocked ones).

use super::{EvictOutcome, Evictor};
use crate::snapshot::PodInfo;

pub struct DryRun;

impl Evictor for DryRun {
    fn evict(&self, _pod: &PodInfo) -> impl Future<Output = EvictOutcome> + Send {
        std::future::ready(EvictOutcome::WouldEvict)
    }

    fn restart(&self, _pod: &PodInfo) -> impl Future<Output = EvictOutcome> + Send {
        std::future::ready(EvictOutcome::WouldRestart)
    }
}
