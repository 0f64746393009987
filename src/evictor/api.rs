//! The Eviction API (`POST pods/NAME/eviction`) and what its answers mean,
//! behind the cluster-wide rate limit and the leader / shutdown gate.

use std::sync::Arc;

use governor::DefaultDirectRateLimiter;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, EvictParams};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{EvictOutcome, Evictor, FailureCategory};
use crate::snapshot::PodInfo;

/// Evicts through the API server while this process leads and is not shutting down.
pub struct ApiEvictor {
    pub client: Client,
    pub grace_period_seconds: Option<i64>,
    /// The cluster-wide `--max-evictions-per-minute`, shared by every policy.
    pub limiter: Option<Arc<DefaultDirectRateLimiter>>,
    pub leader: watch::Receiver<bool>,
    pub shutdown: CancellationToken,
}

impl ApiEvictor {
    /// Whether evicting must stop now: leadership lost or shutting down.
    fn must_stop(&self) -> bool {
        self.shutdown.is_cancelled() || !*self.leader.borrow()
    }

    async fn evict_pod(&self, namespace: String, name: String) -> EvictOutcome {
        if self.must_stop() {
            return EvictOutcome::NotAttempted;
        }
        if let Some(limiter) = &self.limiter {
            let mut leader = self.leader.clone();
            let stopped = tokio::select! {
                _ = limiter.until_ready() => false,
                _ = self.shutdown.cancelled() => true,
                _ = leader.wait_for(|is_leader| !is_leader) => true,
            };
            if stopped {
                return EvictOutcome::NotAttempted;
            }
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        evict(&api, &name, self.grace_period_seconds).await
    }
}

impl Evictor for ApiEvictor {
    fn evict(&self, pod: &PodInfo) -> impl Future<Output = EvictOutcome> + Send {
        self.evict_pod(pod.namespace.clone(), pod.name.clone())
    }
}

/// Classifies an error of the Eviction API.
pub fn classify(err: &kube::Error) -> EvictOutcome {
    match err {
        kube::Error::Api(status) => {
            let code = status.code;
            let message = status.message.to_ascii_lowercase();
            match code {
                404 => EvictOutcome::Gone,
                429 if message.contains("disruption budget") => EvictOutcome::Blocked,
                429 => EvictOutcome::Failed(FailureCategory::Throttled),
                403 => EvictOutcome::Failed(FailureCategory::Forbidden),
                409 => EvictOutcome::Failed(FailureCategory::Conflict),
                504 | 408 => EvictOutcome::Failed(FailureCategory::Timeout),
                500..=599 => EvictOutcome::Failed(FailureCategory::ServerError),
                _ => EvictOutcome::Failed(FailureCategory::Other),
            }
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) => {
            EvictOutcome::Failed(FailureCategory::Connection)
        }
        _ => EvictOutcome::Failed(FailureCategory::Other),
    }
}

/// Evicts one pod, honouring its PodDisruptionBudgets on the server side.
async fn evict(api: &Api<Pod>, name: &str, grace_period_seconds: Option<i64>) -> EvictOutcome {
    let params = EvictParams {
        delete_options: grace_period_seconds.map(|g| DeleteParams {
            grace_period_seconds: Some(g.clamp(0, i64::from(u32::MAX)) as u32),
            ..Default::default()
        }),
        ..Default::default()
    };
    match api.evict(name, &params).await {
        Ok(_) => EvictOutcome::Evicted,
        Err(e) => {
            let outcome = classify(&e);
            if matches!(outcome, EvictOutcome::Failed(_)) {
                tracing::warn!(pod = name, error = %e, "eviction failed");
            }
            outcome
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16, message: &str) -> kube::Error {
        let status = kube::core::Status::failure(message, "").with_code(code);
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn outcomes_by_status_code() {
        let cases = [
            (
                429,
                "Cannot evict pod as it would violate the pod's disruption budget.",
                EvictOutcome::Blocked,
            ),
            (
                429,
                "too many requests, please try again later",
                EvictOutcome::Failed(FailureCategory::Throttled),
            ),
            (404, "pods \"x\" not found", EvictOutcome::Gone),
            (
                403,
                "forbidden",
                EvictOutcome::Failed(FailureCategory::Forbidden),
            ),
            (
                500,
                "This pod has more than one PodDisruptionBudget",
                EvictOutcome::Failed(FailureCategory::ServerError),
            ),
            (422, "invalid", EvictOutcome::Failed(FailureCategory::Other)),
        ];
        for (code, msg, want) in cases {
            assert_eq!(classify(&api_error(code, msg)), want, "{code} {msg}");
        }
    }
}
