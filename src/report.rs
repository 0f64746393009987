//! Turns a plan into what people and programs read: the `simulate` report
//! (SPEC §7) with node utilization before and after. Pure.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::plan::{Eviction, PlanResult};
use crate::snapshot::{Resources, Snapshot};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EvictionEntry {
    pub namespace: String,
    pub name: String,
    pub node: String,
    pub strategy: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct StrategyEntry {
    pub evicted: u32,
    pub blocked: u32,
    pub skipped: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeEntry {
    pub name: String,
    /// Percent of allocatable requested, per resource.
    pub before: BTreeMap<String, f64>,
    pub after: BTreeMap<String, f64>,
}

/// The JSON document `simulate --output json` prints.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub evictions: Vec<EvictionEntry>,
    pub blocked: Vec<EvictionEntry>,
    /// Keyed by strategy name; only the enabled strategies, in run order when printed as a table.
    pub strategies: BTreeMap<String, StrategyEntry>,
    pub nodes: Vec<NodeEntry>,
    /// Why the run did nothing, when it did nothing at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_skipped: Option<String>,
    #[serde(skip)]
    pub strategy_order: Vec<String>,
}

fn entry(snap: &Snapshot, e: &Eviction) -> EvictionEntry {
    let pod = snap.pod(e.pod);
    EvictionEntry {
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
        node: pod.node_name.clone().unwrap_or_default(),
        strategy: e.strategy.to_string(),
        reason: e.reason.clone(),
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn utilization(used: &Resources, allocatable: &Resources) -> BTreeMap<String, f64> {
    let mut names: Vec<&str> = vec!["cpu", "memory", "pods"];
    names.extend(allocatable.other.iter().map(|(n, _)| n.as_str()));
    names
        .into_iter()
        .map(|n| {
            (
                n.to_string(),
                round1(Resources::percent(used.get(n), allocatable.get(n))),
            )
        })
        .collect()
}

pub fn build(snap: &Snapshot, plan: &PlanResult) -> Report {
    let nodes = snap
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| NodeEntry {
            name: n.name.clone(),
            before: utilization(snap.node_usage(i), &n.allocatable),
            after: utilization(
                plan.usage_after.get(i).unwrap_or(snap.node_usage(i)),
                &n.allocatable,
            ),
        })
        .collect();
    Report {
        evictions: plan.evictions.iter().map(|e| entry(snap, e)).collect(),
        blocked: plan.blocked.iter().map(|e| entry(snap, e)).collect(),
        strategies: plan
            .strategies
            .iter()
            .map(|t| {
                (
                    t.name.to_string(),
                    StrategyEntry {
                        evicted: t.evicted,
                        blocked: t.blocked,
                        skipped: t.skipped.clone(),
                    },
                )
            })
            .collect(),
        nodes,
        run_skipped: plan.skipped_run.clone(),
        strategy_order: plan.strategies.iter().map(|t| t.name.to_string()).collect(),
    }
}

/// One planned eviction and what happened to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub pod: crate::snapshot::PodId,
    pub entry: EvictionEntry,
    pub outcome: crate::evictor::EvictOutcome,
}

/// What a run actually did: built from the plan and the evictor's outcomes,
/// never from intentions alone.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    pub mode: crate::api::RunMode,
    pub result: crate::api::RunResult,
    pub message: Option<String>,
    pub strategies: Vec<crate::api::StrategyCounts>,
    pub attempts: Vec<Attempt>,
}

/// The dry-run plan in status is capped so the object stays small.
pub const MAX_PLAN_ENTRIES: usize = 100;

impl RunReport {
    /// `outcomes[i]` is the outcome of `plan.evictions[i]`.
    pub fn build(
        snap: &Snapshot,
        plan: &PlanResult,
        outcomes: &[crate::evictor::EvictOutcome],
        dry_run: bool,
    ) -> Self {
        use crate::api::{RunMode, RunResult, StrategyCounts};
        use crate::evictor::EvictOutcome;

        let mut strategies: Vec<StrategyCounts> = plan
            .strategies
            .iter()
            .map(|t| StrategyCounts {
                name: t.name.to_string(),
                blocked: i64::from(t.blocked),
                skipped: t
                    .skipped
                    .iter()
                    .map(|(k, v)| (k.clone(), i64::from(*v)))
                    .collect(),
                ..Default::default()
            })
            .collect();
        let mut attempts = Vec::with_capacity(plan.evictions.len());
        for (i, e) in plan.evictions.iter().enumerate() {
            let outcome = outcomes
                .get(i)
                .copied()
                .unwrap_or(EvictOutcome::NotAttempted);
            if let Some(s) = strategies.iter_mut().find(|s| s.name == e.strategy) {
                match outcome {
                    EvictOutcome::Evicted => s.evicted += 1,
                    EvictOutcome::WouldEvict => s.would_evict += 1,
                    EvictOutcome::Blocked => s.blocked += 1,
                    EvictOutcome::Failed(c) => {
                        s.failed += 1;
                        *s.skipped
                            .entry(format!("Failed:{}", c.as_str()))
                            .or_default() += 1;
                    }
                    EvictOutcome::Gone => *s.skipped.entry("Gone".into()).or_default() += 1,
                    EvictOutcome::NotAttempted => {
                        *s.skipped.entry("Interrupted".into()).or_default() += 1
                    }
                }
            }
            attempts.push(Attempt {
                pod: e.pod,
                entry: entry(snap, e),
                outcome,
            });
        }
        let interrupted = attempts
            .iter()
            .any(|a| a.outcome == EvictOutcome::NotAttempted);
        let failed = attempts
            .iter()
            .any(|a| matches!(a.outcome, EvictOutcome::Failed(_)));
        let (result, message) = match (&plan.skipped_run, interrupted, failed) {
            (Some(why), _, _) => (RunResult::Skipped, Some(why.clone())),
            (None, true, _) => (
                RunResult::Partial,
                Some("the run stopped before every eviction was attempted".to_string()),
            ),
            (None, false, true) => (
                RunResult::Partial,
                Some("some evictions failed; they are retried next run".to_string()),
            ),
            (None, false, false) => (RunResult::Succeeded, None),
        };
        RunReport {
            mode: if dry_run {
                RunMode::DryRun
            } else {
                RunMode::Evict
            },
            result,
            message,
            strategies,
            attempts,
        }
    }

    pub fn total(&self, f: impl Fn(&crate::api::StrategyCounts) -> i64) -> i64 {
        self.strategies.iter().map(f).sum()
    }

    /// Dry run: the first evictions the run would make, for status.
    pub fn plan_entries(&self) -> Vec<crate::api::PlannedEviction> {
        self.attempts
            .iter()
            .filter(|a| a.outcome == crate::evictor::EvictOutcome::WouldEvict)
            .take(MAX_PLAN_ENTRIES)
            .map(|a| crate::api::PlannedEviction {
                pod: format!("{}/{}", a.entry.namespace, a.entry.name),
                node: a.entry.node.clone(),
                strategy: a.entry.strategy.clone(),
                reason: a.entry.reason.clone(),
            })
            .collect()
    }
}
