//! The metric samples of one run (SPEC §8), with bounded labels: policy,
//! strategy, namespace, result and reason category, never pod names or error
//! text. Pure; `metrics::Metrics::record` adds them to the registry.

use std::collections::BTreeMap;

use super::RunReport;
use crate::evictor::EvictOutcome;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Samples {
    /// (strategy, namespace, result) -> pods, result in evicted | would_evict | blocked | failed.
    pub evictions: BTreeMap<(String, String, &'static str), u64>,
    /// (strategy, reason) -> candidates skipped.
    pub skipped: BTreeMap<(String, String), u64>,
    /// Strategies that could not judge this run (metrics missing).
    pub failed_strategies: Vec<String>,
    pub run_result: &'static str,
}

/// The metric label of an eviction's outcome; None for outcomes not counted.
pub fn result_label(outcome: EvictOutcome) -> Option<&'static str> {
    match outcome {
        EvictOutcome::Evicted => Some("evicted"),
        EvictOutcome::WouldEvict => Some("would_evict"),
        EvictOutcome::Blocked => Some("blocked"),
        EvictOutcome::Failed(_) => Some("failed"),
        EvictOutcome::Restarted => Some("restarted"),
        EvictOutcome::WouldRestart => Some("would_restart"),
        EvictOutcome::Gone | EvictOutcome::NotAttempted | EvictOutcome::NoSurge => None,
    }
}

pub fn samples(report: &RunReport) -> Samples {
    let mut s = Samples {
        run_result: report.result.as_str(),
        ..Default::default()
    };
    let mut count = |strategy: &str, namespace: &str, result: &'static str| {
        *s.evictions
            .entry((strategy.to_string(), namespace.to_string(), result))
            .or_default() += 1;
    };
    for a in &report.attempts {
        if let Some(result) = result_label(a.outcome) {
            count(&a.entry.strategy, &a.entry.namespace, result);
        }
    }
    for (_, b) in &report.blocked {
        count(&b.strategy, &b.namespace, "blocked");
    }
    for c in &report.strategies {
        if c.error.is_some() {
            s.failed_strategies.push(c.name.clone());
        }
        for (reason, n) in &c.skipped {
            *s.skipped
                .entry((c.name.clone(), reason.clone()))
                .or_default() += u64::try_from(*n).unwrap_or(0);
        }
    }
    s
}
