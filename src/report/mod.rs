//! What a run did, built purely from the plan and the evictor's outcomes
//! (never from intentions alone): one [`RunReport`] for the operator's status,
//! events and metrics and for `simulate`'s output ([`json`], [`events`],
//! [`samples`] are views of it).

pub mod events;
pub mod json;
pub mod samples;

use serde::Serialize;

use crate::api::{NodeUsage, PlannedEviction, RunMode, RunResult, StrategyCounts};
use crate::evictor::EvictOutcome;
use crate::plan::{Eviction, EvictionPlan, NodeFigure, Prediction};
use crate::snapshot::{PodId, Snapshot};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EvictionEntry {
    pub namespace: String,
    pub name: String,
    pub node: String,
    pub strategy: String,
    pub reason: String,
    /// Where the replacement is predicted to be bound; `null` when it would
    /// stay Pending; absent when not predicted (blocked evictions).
    #[serde(rename = "predictedNode", skip_serializing_if = "Option::is_none")]
    pub predicted_node: Option<Option<String>>,
    /// How many other nodes scored as high as the predicted one: the
    /// scheduler picks one of the best at random, so the prediction is one of
    /// `1 + predictedTies` equally likely nodes. Absent when 0.
    #[serde(rename = "predictedTies", skip_serializing_if = "is_zero")]
    pub predicted_ties: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

pub(crate) fn entry(snap: &Snapshot, e: &Eviction) -> EvictionEntry {
    let pod = snap.pod(e.pod);
    EvictionEntry {
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
        node: pod.node_name.clone().unwrap_or_default(),
        strategy: e.strategy.to_string(),
        reason: e.reason.clone(),
        predicted_node: match e.predicted {
            Prediction::Unknown => None,
            Prediction::Pending => Some(None),
            Prediction::Node(n) => Some(Some(snap.node(n).name.clone())),
        },
        predicted_ties: e.tied,
    }
}

/// A strategy's measured figure for status, in kubectl top's units.
fn node_usage(snap: &Snapshot, f: &NodeFigure) -> NodeUsage {
    NodeUsage {
        node: snap.node(f.node).name.clone(),
        class: f.class.as_str().to_string(),
        cpu: f.cpu.map(|m| format!("{m}m")),
        memory: f.memory.map(|b| format!("{}Mi", b / (1024 * 1024))),
        percent: f
            .percent
            .iter()
            .map(|(r, v)| (r.clone(), (v * 10.0).round() / 10.0))
            .collect(),
    }
}

/// One planned eviction and what happened to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub pod: PodId,
    pub entry: EvictionEntry,
    pub outcome: EvictOutcome,
    /// A workload restart (RolloutRestart) in place of this pod's eviction.
    pub restart: bool,
}

/// What a run actually did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    pub mode: RunMode,
    pub result: RunResult,
    pub message: Option<String>,
    /// One entry per strategy that ran, in run order.
    pub strategies: Vec<StrategyCounts>,
    /// Every planned eviction with its outcome, in plan order.
    pub attempts: Vec<Attempt>,
    /// Candidates the simulated budgets refused (never sent).
    pub blocked: Vec<(PodId, EvictionEntry)>,
}

/// The dry-run plan in status is capped so the object stays small.
pub const MAX_PLAN_ENTRIES: usize = 100;

impl RunReport {
    /// `outcomes[i]` is the outcome of `plan.evictions[i]`.
    pub fn build(
        snap: &Snapshot,
        plan: &EvictionPlan,
        outcomes: &[EvictOutcome],
        mode: RunMode,
    ) -> Self {
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
                warnings: t
                    .warnings
                    .iter()
                    .map(|(k, v)| (k.clone(), i64::from(*v)))
                    .collect(),
                error: t.error.clone(),
                usage_source: t.source.map(str::to_string),
                node_usage: t.figures.iter().map(|f| node_usage(snap, f)).collect(),
                ..Default::default()
            })
            .collect();
        let mut attempts = Vec::with_capacity(plan.evictions.len() + plan.restarts.len());
        for (i, e) in plan.evictions.iter().chain(&plan.restarts).enumerate() {
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
                    EvictOutcome::Restarted => s.restarted += 1,
                    EvictOutcome::WouldRestart => s.would_restart += 1,
                    EvictOutcome::NoSurge => {
                        *s.skipped.entry("SingleReplica".into()).or_default() += 1
                    }
                }
            }
            attempts.push(Attempt {
                pod: e.pod,
                entry: entry(snap, e),
                outcome,
                restart: i >= plan.evictions.len(),
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
        // A strategy that could not judge (metrics missing) makes the run
        // partial, whatever the others did.
        let failed_strategies: Vec<String> = strategies
            .iter()
            .filter_map(|s| Some(format!("{}: {}", s.name, s.error.as_ref()?)))
            .collect();
        let (result, message) = match (result, failed_strategies.is_empty()) {
            (RunResult::Succeeded | RunResult::Partial, false) => {
                let mut text = failed_strategies.join("; ");
                if let Some(m) = message {
                    text = format!("{m}; {text}");
                }
                (RunResult::Partial, Some(text))
            }
            other => (other.0, message),
        };
        RunReport {
            mode,
            result,
            message,
            strategies,
            attempts,
            blocked: plan
                .blocked
                .iter()
                .map(|e| (e.pod, entry(snap, e)))
                .collect(),
        }
    }

    pub fn total(&self, f: impl Fn(&StrategyCounts) -> i64) -> i64 {
        self.strategies.iter().map(f).sum()
    }

    /// Every strategy's placement warnings, summed by reason.
    pub fn warnings(&self) -> std::collections::BTreeMap<String, i64> {
        let mut all = std::collections::BTreeMap::new();
        for c in &self.strategies {
            for (k, v) in &c.warnings {
                *all.entry(k.clone()).or_default() += v;
            }
        }
        all
    }

    /// Dry run: the first evictions the run would make, for status.
    pub fn plan_entries(&self) -> Vec<PlannedEviction> {
        self.would_evict(MAX_PLAN_ENTRIES)
    }

    /// The first `limit` evictions the run would make.
    pub fn would_evict(&self, limit: usize) -> Vec<PlannedEviction> {
        self.attempts
            .iter()
            .filter(|a| a.outcome == EvictOutcome::WouldEvict)
            .take(limit)
            .map(|a| PlannedEviction {
                pod: format!("{}/{}", a.entry.namespace, a.entry.name),
                node: a.entry.node.clone(),
                strategy: a.entry.strategy.clone(),
                reason: a.entry.reason.clone(),
                predicted_node: a
                    .entry
                    .predicted_node
                    .clone()
                    .map(Option::unwrap_or_default),
            })
            .collect()
    }
}
