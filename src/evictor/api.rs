//! The Eviction API (`POST pods/NAME/eviction`) and what its answers mean,
//! behind the cluster-wide rate limit and the leader / shutdown gate.

use std::sync::Arc;

use governor::DefaultDirectRateLimiter;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{DeleteParams, EvictParams, Patch, PatchParams};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{EvictOutcome, Evictor, FailureCategory};
use crate::snapshot::{ANNOTATION_RESTARTED_AT, PodInfo, Workload, WorkloadKind};

/// Evicts through the API server while this process leads and is not shutting down.
pub struct ApiEvictor {
    pub client: Client,
    pub grace_period_seconds: Option<i64>,
    /// The cluster-wide `--max-evictions-per-minute`, shared by every policy.
    pub limiter: Option<Arc<DefaultDirectRateLimiter>>,
    pub leader: watch::Receiver<bool>,
    /// Cancelled on shutdown, and when the run must stop (its policy was
    /// deleted or its spec changed).
    pub stop: CancellationToken,
}

impl ApiEvictor {
    /// Whether evicting must stop now: leadership lost, shutting down, or
    /// the run stopped.
    fn must_stop(&self) -> bool {
        self.stop.is_cancelled() || !*self.leader.borrow()
    }

    /// Waits for the rate limiter; false when this process must stop
    /// disrupting pods (leadership lost, shutting down, the run stopped).
    async fn may_go_on(&self) -> bool {
        if self.must_stop() {
            return false;
        }
        let Some(limiter) = &self.limiter else {
            return true;
        };
        let mut leader = self.leader.clone();
        tokio::select! {
            _ = limiter.until_ready() => true,
            _ = self.stop.cancelled() => false,
            _ = leader.wait_for(|is_leader| !is_leader) => false,
        }
    }

    async fn evict_pod(&self, namespace: String, name: String) -> EvictOutcome {
        if !self.may_go_on().await {
            return EvictOutcome::NotAttempted;
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        evict(&api, &name, self.grace_period_seconds).await
    }
}

impl Evictor for ApiEvictor {
    fn evict(&self, pod: &PodInfo) -> impl Future<Output = EvictOutcome> + Send {
        self.evict_pod(pod.namespace.clone(), pod.name.clone())
    }

    fn restart(&self, pod: &PodInfo) -> impl Future<Output = EvictOutcome> + Send {
        self.restart_workload(pod.workload.clone())
    }
}

impl ApiEvictor {
    /// `kubectl rollout restart`: a new pod-template annotation, so the
    /// workload's controller rolls its pods with the workload's own surge.
    async fn restart_workload(&self, workload: Option<Workload>) -> EvictOutcome {
        let Some(w) = workload else {
            return EvictOutcome::Failed(FailureCategory::Other);
        };
        if !self.may_go_on().await {
            return EvictOutcome::NotAttempted;
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let patch = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {
            ANNOTATION_RESTARTED_AT: now
        }}}}});
        let params = PatchParams::default();
        let result = match w.kind {
            WorkloadKind::Deployment => {
                let api: Api<Deployment> = Api::namespaced(self.client.clone(), &w.namespace);
                match api.get(&w.name).await {
                    Ok(d) if !can_surge(&d) => return EvictOutcome::NoSurge,
                    Ok(_) => api
                        .patch(&w.name, &params, &Patch::Merge(&patch))
                        .await
                        .map(|_| ()),
                    Err(e) => Err(e),
                }
            }
            WorkloadKind::StatefulSet => {
                let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), &w.namespace);
                api.patch(&w.name, &params, &Patch::Merge(&patch))
                    .await
                    .map(|_| ())
            }
        };
        match result {
            Ok(()) => EvictOutcome::Restarted,
            Err(e) => {
                let outcome = classify(&e);
                tracing::warn!(workload = %w.name, kind = w.kind.as_str(), error = %e, "rollout restart failed");
                outcome
            }
        }
    }
}

/// Whether a rollout of the Deployment starts a new pod before stopping an old one.
fn can_surge(d: &Deployment) -> bool {
    let strategy = d.spec.as_ref().and_then(|s| s.strategy.as_ref());
    if strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate") {
        return false;
    }
    let surge = strategy
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.max_surge.as_ref());
    match surge {
        // The default is 25%, which rounds up to at least one pod.
        None => true,
        Some(IntOrString::Int(n)) => *n > 0,
        Some(IntOrString::String(s)) => s
            .trim_end_matches('%')
            .trim()
            .parse::<f64>()
            .is_ok_and(|v| v > 0.0),
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
