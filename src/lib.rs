//! descheduler: finds pods that a policy says are badly placed and evicts them.
//!
//! Data flows one way: cluster state -> [`snapshot::Snapshot`] -> strategies (pure)
//! -> [`plan::Plan`] -> evictor -> report.

pub mod api;
pub mod cli;
pub mod cluster;
pub mod controller;
pub mod dump;
pub mod eligibility;
pub mod evictor;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod nodefit;
pub mod output;
pub mod plan;
pub mod policy;
pub mod report;
pub mod selectors;
pub mod simulate;
pub mod snapshot;
pub mod status;
pub mod strategies;
#[cfg(test)]
pub mod testing;
