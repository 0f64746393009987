//! Test builders: nodes, pods, PDBs, priority classes and namespaces as
//! k8s-openapi objects, and a one-call "validate this YAML policy and plan a run".
//! Defaults are the common case: a node is Ready with 4 cpu / 8Gi / 110 pods; a
//! pod is Running, Ready, in `default`, controlled by ReplicaSet `rs-<name>`,
//! created and started an hour ago, with one BestEffort container.

mod cluster;
mod nodes;
mod objects;
mod pods;

pub use cluster::*;
pub use nodes::*;
pub use objects::*;
pub use pods::*;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};

/// The fixed clock of every test: 2027-01-15T08:00:00Z.
pub const NOW: i64 = 1_800_000_000;

pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).expect("valid timestamp")
}

/// A timestamp `secs` seconds before [`NOW`].
pub fn ago(secs: i64) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(NOW - secs).expect("valid timestamp"))
}

pub(crate) fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn selector(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels(pairs)),
        ..Default::default()
    }
}

pub(crate) fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect()
}
