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
