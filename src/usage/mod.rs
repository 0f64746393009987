//! Measured usage (SPEC §13), the client side: the metrics.k8s.io collector
//! shared by every policy, the Prometheus instant query, and the
//! `kubectl get --raw` metrics lists `simulate --metrics` reads. What they
//! return goes into [`UsageInput`], which the snapshot attaches; strategies
//! never see a client.

pub mod kubernetes;
pub mod metrics_api;
pub mod prometheus;

use std::collections::BTreeSet;

pub use kubernetes::KubeCollector;
pub use prometheus::{PrometheusClient, PrometheusError};

use crate::snapshot::{UsageInput, UsageSource};

/// The collectors of one process; each source is only asked for when a
/// policy's strategy reads it.
pub struct Collectors {
    pub kubernetes: KubeCollector,
    /// `--prometheus-url`; `None` when not set.
    pub prometheus: Option<PrometheusClient>,
}

impl Collectors {
    /// The usage `sources` need, each source asked once (a query shared by
    /// two strategies runs once).
    pub async fn collect(&self, sources: &BTreeSet<UsageSource>) -> UsageInput {
        let mut input = UsageInput::default();
        for source in sources {
            match source {
                UsageSource::Requests => {}
                UsageSource::KubernetesMetrics => {
                    input.kubernetes = Some(self.kubernetes.current().await);
                }
                UsageSource::Prometheus { query } => {
                    let result = match &self.prometheus {
                        Some(p) => p.query(query).await.map_err(|e| e.to_string()),
                        None => Err("the descheduler runs without --prometheus-url".to_string()),
                    };
                    input.prometheus.insert(query.clone(), result);
                }
            }
        }
        input
    }
}
