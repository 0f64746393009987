//! The one metrics.k8s.io collector of the process (SPEC §13): started by the
//! first run that needs it, it polls NodeMetrics and PodMetrics every 5 s and
//! smooths node usage as upstream does (new = 0.9·old + 0.1·sample; the first
//! sample as it is). A failed poll is not hidden behind older numbers: until
//! the next poll succeeds, runs that need this source fail with its error.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use super::metrics_api::{self, MetricsList};
use crate::snapshot::{KubeMetrics, Resources};

pub const POLL: Duration = Duration::from_secs(5);
const POLL_TIMEOUT: Duration = Duration::from_secs(10);
/// The weight of the previous value (upstream's beta).
const BETA: f64 = 0.9;
const NODES_PATH: &str = "/apis/metrics.k8s.io/v1beta1/nodes";
const PODS_PATH: &str = "/apis/metrics.k8s.io/v1beta1/pods";

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("cannot build the request for {path}: {source}")]
    Request {
        path: &'static str,
        source: http::Error,
    },
    #[error("no answer from metrics.k8s.io within {0:?}")]
    Timeout(Duration),
    #[error("GET {path}: {source}")]
    Api {
        path: &'static str,
        source: kube::Error,
    },
}

/// Smoothed node usage (cpu millicores, memory bytes) and the latest pod usage.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Smoothed {
    nodes: BTreeMap<String, (f64, f64)>,
    pods: BTreeMap<(String, String), Resources>,
}

impl Smoothed {
    /// Folds one poll in; nodes the poll no longer lists are forgotten.
    pub fn update(
        &mut self,
        nodes: BTreeMap<String, Resources>,
        pods: BTreeMap<(String, String), Resources>,
    ) {
        let old = std::mem::take(&mut self.nodes);
        self.nodes = nodes
            .into_iter()
            .map(|(name, s)| {
                let sample = (s.cpu as f64, s.memory as f64);
                let value = match old.get(&name) {
                    Some(&(cpu, mem)) => (
                        BETA * cpu + (1.0 - BETA) * sample.0,
                        BETA * mem + (1.0 - BETA) * sample.1,
                    ),
                    None => sample,
                };
                (name, value)
            })
            .collect();
        self.pods = pods;
    }

    pub fn metrics(&self) -> KubeMetrics {
        KubeMetrics {
            nodes: self
                .nodes
                .iter()
                .map(|(n, &(cpu, mem))| {
                    let r = Resources {
                        cpu: cpu.round() as i64,
                        memory: mem.round() as i64,
                        ..Default::default()
                    };
                    (n.clone(), r)
                })
                .collect(),
            pods: self.pods.clone(),
        }
    }
}

#[derive(Default)]
struct State {
    smoothed: Smoothed,
    /// The last poll's error, until a poll succeeds again.
    failing: Option<String>,
}

struct Inner {
    client: Client,
    state: Mutex<State>,
    shutdown: CancellationToken,
}

/// Cheap to clone; every clone shares the one collector.
#[derive(Clone)]
pub struct KubeCollector {
    inner: Arc<Inner>,
    started: Arc<OnceCell<()>>,
}

/// One GET of both lists.
pub async fn fetch(client: &Client) -> Result<(MetricsList, MetricsList), CollectError> {
    Ok((
        get(client, NODES_PATH).await?,
        get(client, PODS_PATH).await?,
    ))
}

async fn get(client: &Client, path: &'static str) -> Result<MetricsList, CollectError> {
    let req = http::Request::get(path)
        .body(Vec::new())
        .map_err(|source| CollectError::Request { path, source })?;
    client
        .request::<MetricsList>(req)
        .await
        .map_err(|source| CollectError::Api { path, source })
}

impl KubeCollector {
    pub fn new(client: Client, shutdown: CancellationToken) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                state: Mutex::new(State::default()),
                shutdown,
            }),
            started: Arc::new(OnceCell::new()),
        }
    }

    /// The usage as of the latest poll; the first call polls once and starts
    /// the 5 s loop, so policies that never need this source cost nothing.
    pub async fn current(&self) -> Result<KubeMetrics, String> {
        self.started
            .get_or_init(|| async {
                poll(&self.inner).await;
                let inner = self.inner.clone();
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(POLL);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    tick.tick().await;
                    loop {
                        tokio::select! {
                            _ = inner.shutdown.cancelled() => break,
                            _ = tick.tick() => poll(&inner).await,
                        }
                    }
                });
                tracing::info!("metrics.k8s.io collector started (every 5s)");
            })
            .await;
        let state = self
            .inner
            .state
            .lock()
            .map_err(|_| "the metrics collector's state is poisoned".to_string())?;
        match &state.failing {
            Some(e) => Err(e.clone()),
            None => Ok(state.smoothed.metrics()),
        }
    }
}

async fn poll(inner: &Inner) {
    // A hanging aggregated API must not hold up the runner (all policies).
    let result = match tokio::time::timeout(POLL_TIMEOUT, fetch(&inner.client)).await {
        Ok(r) => r,
        Err(_) => Err(CollectError::Timeout(POLL_TIMEOUT)),
    };
    let Ok(mut state) = inner.state.lock() else {
        return;
    };
    match result {
        Ok((nodes, pods)) => {
            if state.failing.take().is_some() {
                tracing::info!("metrics.k8s.io answers again");
            }
            state.smoothed.update(
                metrics_api::node_usage(&nodes),
                metrics_api::pod_usage(&pods),
            );
        }
        Err(e) => {
            if state.failing.is_none() {
                tracing::warn!(error = %e, "metrics.k8s.io poll failed");
            }
            state.failing = Some(e.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(cpu: i64, memory: i64) -> BTreeMap<String, Resources> {
        [(
            "n1".to_string(),
            Resources {
                cpu,
                memory,
                ..Default::default()
            },
        )]
        .into()
    }

    #[test]
    fn first_sample_as_is_then_exponentially_weighted() {
        let mut s = Smoothed::default();
        s.update(sample(1000, 100), BTreeMap::new());
        assert_eq!(s.metrics().nodes["n1"].cpu, 1000);
        s.update(sample(2000, 200), BTreeMap::new());
        assert_eq!(s.metrics().nodes["n1"].cpu, 1100);
        assert_eq!(s.metrics().nodes["n1"].memory, 110);
        s.update(sample(2000, 200), BTreeMap::new());
        assert_eq!(s.metrics().nodes["n1"].cpu, 1190);
        // A node the poll no longer lists is forgotten, not kept stale.
        s.update(BTreeMap::new(), BTreeMap::new());
        assert!(s.metrics().nodes.is_empty());
        s.update(sample(500, 5), BTreeMap::new());
        assert_eq!(s.metrics().nodes["n1"].cpu, 500);
    }
}
