//! The JSON document `simulate --output json` prints (SPEC §7), a view of
//! the run's report with node utilization before and after; the table output
//! reads it too.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{EvictionEntry, RunReport};
use crate::evictor::EvictOutcome;
use crate::plan::EvictionPlan;
use crate::snapshot::{NodeId, Resources, Snapshot};

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct StrategyEntry {
    pub evicted: i64,
    pub blocked: i64,
    pub skipped: BTreeMap<String, i64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub warnings: BTreeMap<String, i64>,
    /// Why the strategy could not judge (metrics missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeEntry {
    pub name: String,
    /// Percent of allocatable requested, per resource.
    pub before: BTreeMap<String, f64>,
    /// After the evictions, with the replacements where they are predicted to go.
    pub after: BTreeMap<String, f64>,
    /// Measured usage before the plan, percent of allocatable (cpu and memory from
    /// metrics.k8s.io; MetricResource from a Prometheus query); absent when none was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<BTreeMap<String, f64>>,
}

/// What was measured on the node, as percentages, if anything.
fn measured(snap: &Snapshot, node: NodeId) -> Option<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    let alloc = &snap.node(node).allocatable;
    if let Ok(ku) = snap.measured().kubernetes()
        && let Some(Some(u)) = ku.nodes.get(node)
    {
        for r in ["cpu", "memory"] {
            out.insert(
                r.to_string(),
                round1(Resources::percent(u.get(r), alloc.get(r))),
            );
        }
    }
    let queries = snap.measured().prometheus_queries();
    for q in &queries {
        if let Ok(values) = snap.measured().prometheus(q)
            && let Some(Some(v)) = values.get(node)
        {
            let key = if queries.len() == 1 {
                "MetricResource".to_string()
            } else {
                format!("MetricResource ({q})")
            };
            out.insert(key, round1(v * 100.0));
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The JSON document `simulate --output json` prints.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SimulateView {
    pub evictions: Vec<EvictionEntry>,
    pub blocked: Vec<EvictionEntry>,
    /// singleReplicaStrategy: RolloutRestart: pods whose workload is restarted instead.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub restarts: Vec<EvictionEntry>,
    /// Keyed by strategy name; only the enabled strategies, in run order when printed as a table.
    pub strategies: BTreeMap<String, StrategyEntry>,
    pub nodes: Vec<NodeEntry>,
    /// Evictions whose replacement is predicted to come back or stay Pending, by reason.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub warnings: BTreeMap<String, i64>,
    /// Why the run did nothing, when it did nothing at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_skipped: Option<String>,
    #[serde(skip)]
    pub strategy_order: Vec<String>,
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

/// `report` is the dry run of `plan` over `snap`.
pub fn view(snap: &Snapshot, plan: &EvictionPlan, report: &RunReport) -> SimulateView {
    let nodes = snap
        .nodes
        .iter()
        .map(|(i, n)| NodeEntry {
            name: n.name.clone(),
            before: utilization(snap.node_usage(i), &n.allocatable),
            after: utilization(
                plan.usage_placed.get(i).unwrap_or(snap.node_usage(i)),
                &n.allocatable,
            ),
            usage: measured(snap, i),
        })
        .collect();
    SimulateView {
        evictions: report
            .attempts
            .iter()
            .filter(|a| !a.restart)
            .filter(|a| matches!(a.outcome, EvictOutcome::WouldEvict | EvictOutcome::Evicted))
            .map(|a| a.entry.clone())
            .collect(),
        restarts: report
            .attempts
            .iter()
            .filter(|a| a.restart)
            .map(|a| a.entry.clone())
            .collect(),
        blocked: report.blocked.iter().map(|(_, e)| e.clone()).collect(),
        strategies: report
            .strategies
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    StrategyEntry {
                        evicted: c.evicted + c.would_evict,
                        blocked: c.blocked,
                        skipped: c.skipped.clone(),
                        warnings: c.warnings.clone(),
                        error: c.error.clone(),
                    },
                )
            })
            .collect(),
        nodes,
        warnings: report.warnings(),
        run_skipped: plan.skipped_run.clone(),
        strategy_order: report.strategies.iter().map(|c| c.name.clone()).collect(),
    }
}
