//! The Eviction API (`POST pods/NAME/eviction`) and what its answers mean.

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, EvictParams};

/// What happened to one planned eviction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvictOutcome {
    Evicted,
    /// Dry run: nothing was sent.
    WouldEvict,
    /// HTTP 429 from a PodDisruptionBudget (or blocked in the plan's simulation).
    Blocked,
    /// HTTP 404: the pod is already gone. Not an error, not counted as evicted.
    Gone,
    /// Any other error, with a short category for status and metrics.
    Failed(FailureCategory),
    /// Not attempted: the run stopped (leadership lost or shutting down).
    NotAttempted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureCategory {
    Forbidden,
    Conflict,
    Throttled,
    ServerError,
    Timeout,
    Connection,
    Other,
}

impl FailureCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCategory::Forbidden => "Forbidden",
            FailureCategory::Conflict => "Conflict",
            FailureCategory::Throttled => "Throttled",
            FailureCategory::ServerError => "ServerError",
            FailureCategory::Timeout => "Timeout",
            FailureCategory::Connection => "Connection",
            FailureCategory::Other => "Other",
        }
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
pub async fn evict(api: &Api<Pod>, name: &str, grace_period_seconds: Option<i64>) -> EvictOutcome {
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
