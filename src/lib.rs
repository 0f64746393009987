//! descheduler: finds pods that a policy says are badly placed and evicts them.
//!
//! Data flows one way: cluster state -> [`snapshot::Snapshot`] -> [`engine`]
//! (strategies, pure, proposing to the [`plan::Ledger`]) -> [`plan::EvictionPlan`]
//! -> [`evictor`] (Eviction API or dry run) -> [`report::RunReport`] -> status,
//! events, metrics.

pub mod api;
pub mod approval;
pub mod backoff;
pub mod cli;
pub mod cluster;
pub mod controller;
pub mod convert;
pub mod dump;
pub mod engine;
pub mod evictor;
pub mod followup;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod metrics_auth;
pub mod output;
pub mod placement;
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
pub mod tls;
pub mod usage;
pub mod validation;
pub mod yaml;
