//! RemovePodsViolatingTopologySpreadConstraint: for each distinct constraint,
//! moves the fewest pods needed from the largest domains to the smallest until
//! the skew is within maxSkew.
//!
//! [`constraints`] finds the distinct constraints of a namespace (identity
//! includes what decides the carrier's domains), [`domains`] the nodes of
//! each domain, [`balance`] picks the pods to move.

mod balance;
mod constraints;
mod domains;

use super::Strategy;
use super::label_index::LabelIndex;
use crate::api::{self, WhenUnsatisfiable};
use crate::plan::Ledger;
use crate::validation::Errors;

#[derive(Debug, Clone)]
pub struct TopologySpread {
    /// Balance ScheduleAnyway constraints too.
    soft: bool,
    /// Balance DoNotSchedule constraints.
    hard: bool,
    topology_balance_node_fit: bool,
}

impl Strategy for TopologySpread {
    const NAME: &'static str = "RemovePodsViolatingTopologySpreadConstraint";
    type Spec = api::TopologySpreadParams;

    fn spec(all: &api::Strategies) -> Option<&api::Strategy<Self::Spec>> {
        all.remove_pods_violating_topology_spread_constraint
            .as_ref()
    }

    fn parse(spec: &Self::Spec, at: &str, errs: &mut Errors) -> Option<Self> {
        let kinds = match (&spec.include_soft_constraints, &spec.constraints) {
            (Some(_), Some(_)) => {
                errs.push(
                    at,
                    "includeSoftConstraints and constraints are mutually exclusive",
                );
                return None;
            }
            (_, Some(list)) if list.is_empty() => {
                errs.push(
                    format!("{at}.constraints"),
                    "must name at least one of DoNotSchedule and ScheduleAnyway",
                );
                return None;
            }
            (_, Some(list)) => list.clone(),
            (Some(true), None) => vec![
                WhenUnsatisfiable::DoNotSchedule,
                WhenUnsatisfiable::ScheduleAnyway,
            ],
            _ => vec![WhenUnsatisfiable::DoNotSchedule],
        };
        Some(Self {
            soft: kinds.contains(&WhenUnsatisfiable::ScheduleAnyway),
            hard: kinds.contains(&WhenUnsatisfiable::DoNotSchedule),
            topology_balance_node_fit: spec.topology_balance_node_fit.unwrap_or(true),
        })
    }

    fn run(&self, ledger: &mut Ledger<'_>) {
        let snap = ledger.snap;
        let namespaces: Vec<&String> = snap
            .namespaces
            .keys()
            .chain(snap.pods.values().map(|p| &p.namespace))
            .collect();
        let mut namespaces: Vec<&String> = namespaces
            .into_iter()
            .filter(|ns| ledger.common().namespaces.allows(ns))
            .collect();
        namespaces.sort();
        namespaces.dedup();
        let mut domains = domains::DomainCache::default();
        for ns in namespaces {
            let mut labels = LabelIndex::default();
            for c in constraints::constraints_in(ledger, ns, self.hard, self.soft, &mut domains) {
                balance::balance(ledger, ns, &c, self.topology_balance_node_fit, &mut labels);
            }
        }
    }
}

#[cfg(test)]
mod tests;
