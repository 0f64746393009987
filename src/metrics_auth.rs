//! Who may read /metrics when it is served securely (`--metrics-secure`):
//! kube-apiserver's delegated authentication and authorization, as
//! upstream's secure serving (k8s.io/apiserver) does. The request's bearer
//! token is checked with a TokenReview; its user must then be allowed `get`
//! on the non-resource URL `/metrics` by a SubjectAccessReview. Answers are
//! cached for [`CACHE_TTL`] (upstream's default for both), at most
//! [`CACHE_CAPACITY`] tokens.
//!
//! Differences from upstream, deliberately: a request without a token is
//! refused with 401 (upstream authenticates it as `system:anonymous` and
//! usually answers 403); the probe paths need nothing at all (upstream's
//! `AlwaysAllowPaths`, the same three), and `system:masters` skips the
//! SubjectAccessReview (upstream's `AlwaysAllowGroups`).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::HeaderMap;
use sha2::{Digest, Sha256};

/// How long an answer about a token is reused.
pub const CACHE_TTL: Duration = Duration::from_secs(10);
/// Tokens remembered at once; past it the answer expiring first goes.
pub const CACHE_CAPACITY: usize = 1024;
/// The probes' paths, served to anyone (kubelet probes carry no token).
pub const ALWAYS_ALLOWED: &[&str] = &["/healthz", "/readyz", "/livez"];
/// The group upstream lets through without asking (the apiserver's own superusers).
pub const PRIVILEGED_GROUP: &str = "system:masters";

/// The path and verb a reader of the metrics must be allowed.
pub const METRICS_PATH: &str = "/metrics";
pub const METRICS_VERB: &str = "get";

/// The authenticated user a TokenReview returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: Option<String>,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

/// What to answer a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// 401: no bearer token, or one the API server does not accept.
    Unauthenticated,
    /// 403: a known user without `get` on the path.
    Forbidden,
    /// 500: the API server could not be asked; never cached.
    Unavailable(String),
}

impl Decision {
    pub fn status(&self) -> http::StatusCode {
        match self {
            Decision::Allow => http::StatusCode::OK,
            Decision::Unauthenticated => http::StatusCode::UNAUTHORIZED,
            Decision::Forbidden => http::StatusCode::FORBIDDEN,
            Decision::Unavailable(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReviewError(pub String);

/// The two questions asked of the API server.
pub trait Reviews: Send + Sync {
    /// The token's user, or None when the API server does not accept it.
    fn authenticate(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<Option<User>, ReviewError>> + Send;
    /// Whether `user` may `verb` the non-resource URL `path`.
    fn authorize(
        &self,
        user: &User,
        path: &str,
        verb: &str,
    ) -> impl Future<Output = Result<bool, ReviewError>> + Send;
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub fn always_allowed(path: &str) -> bool {
    ALWAYS_ALLOWED.contains(&path)
}

/// Answers about tokens, by the token's SHA-256 (the token itself is not
/// kept), each until its deadline, at most `capacity` of them.
#[derive(Debug)]
pub struct Cache {
    ttl: Duration,
    capacity: usize,
    entries: HashMap<[u8; 32], (Decision, Instant)>,
}

impl Cache {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            entries: HashMap::new(),
        }
    }

    pub fn key(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    pub fn get(&self, key: &[u8; 32], now: Instant) -> Option<Decision> {
        self.entries
            .get(key)
            .filter(|(_, until)| now < *until)
            .map(|(d, _)| d.clone())
    }

    /// Remembers `decision` for the TTL; errors are not answers and are not kept.
    pub fn put(&mut self, key: [u8; 32], decision: Decision, now: Instant) {
        if matches!(decision, Decision::Unavailable(_)) || self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, (_, until)| now < *until);
            if self.entries.len() >= self.capacity
                && let Some(first) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, until))| *until)
                    .map(|(k, _)| *k)
            {
                self.entries.remove(&first);
            }
        }
        self.entries.insert(key, (decision, now + self.ttl));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The check in front of /metrics.
pub struct Authorizer<R> {
    reviews: R,
    cache: Mutex<Cache>,
}

impl<R: Reviews> Authorizer<R> {
    pub fn new(reviews: R) -> Self {
        Self::with_cache(reviews, Cache::new(CACHE_TTL, CACHE_CAPACITY))
    }

    pub fn with_cache(reviews: R, cache: Cache) -> Self {
        Self {
            reviews,
            cache: Mutex::new(cache),
        }
    }

    /// What to answer a request for [`METRICS_PATH`] with these headers.
    pub async fn check(&self, headers: &HeaderMap, now: Instant) -> Decision {
        let Some(token) = bearer_token(headers) else {
            return Decision::Unauthenticated;
        };
        let key = Cache::key(token);
        if let Some(d) = self.lock().get(&key, now) {
            return d;
        }
        let decision = self.review(token).await;
        self.lock().put(key, decision.clone(), now);
        decision
    }

    async fn review(&self, token: &str) -> Decision {
        let user = match self.reviews.authenticate(token).await {
            Ok(Some(user)) => user,
            Ok(None) => return Decision::Unauthenticated,
            Err(e) => return Decision::Unavailable(format!("TokenReview: {e}")),
        };
        if user.groups.iter().any(|g| g == PRIVILEGED_GROUP) {
            return Decision::Allow;
        }
        match self
            .reviews
            .authorize(&user, METRICS_PATH, METRICS_VERB)
            .await
        {
            Ok(true) => Decision::Allow,
            Ok(false) => Decision::Forbidden,
            Err(e) => Decision::Unavailable(format!("SubjectAccessReview: {e}")),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        // A panic while holding the lock leaves a consistent map (every
        // operation on it is a single insert/remove), so keep using it.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The API server answers the two reviews.
pub mod kube_reviews {
    use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
    use k8s_openapi::api::authorization::v1::{
        NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
    };
    use kube::Api;
    use kube::api::PostParams;

    use super::{ReviewError, Reviews, User};

    /// How long one review may take before the request is answered 500.
    const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

    pub struct KubeReviews {
        pub client: kube::Client,
    }

    async fn bounded<T>(
        what: &str,
        f: impl std::future::Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, ReviewError> {
        match tokio::time::timeout(TIMEOUT, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(ReviewError(format!("{what}: {e}"))),
            Err(_) => Err(ReviewError(format!("{what}: no answer within {TIMEOUT:?}"))),
        }
    }

    impl Reviews for KubeReviews {
        async fn authenticate(&self, token: &str) -> Result<Option<User>, ReviewError> {
            let api: Api<TokenReview> = Api::all(self.client.clone());
            let review = TokenReview {
                spec: TokenReviewSpec {
                    token: token.to_string(),
                    audiences: None,
                },
                ..Default::default()
            };
            let answer = bounded(
                "create tokenreviews",
                api.create(&PostParams::default(), &review),
            )
            .await?;
            let Some(status) = answer.status else {
                return Ok(None);
            };
            if status.authenticated != Some(true) {
                return Ok(None);
            }
            let Some(info) = status.user else {
                return Ok(None);
            };
            Ok(Some(User {
                name: info.username.unwrap_or_default(),
                uid: info.uid,
                groups: info.groups.unwrap_or_default(),
                extra: info.extra.unwrap_or_default(),
            }))
        }

        async fn authorize(
            &self,
            user: &User,
            path: &str,
            verb: &str,
        ) -> Result<bool, ReviewError> {
            let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
            let review = SubjectAccessReview {
                spec: SubjectAccessReviewSpec {
                    user: Some(user.name.clone()),
                    uid: user.uid.clone(),
                    groups: Some(user.groups.clone()),
                    extra: (!user.extra.is_empty()).then(|| user.extra.clone()),
                    non_resource_attributes: Some(NonResourceAttributes {
                        path: Some(path.to_string()),
                        verb: Some(verb.to_string()),
                    }),
                    resource_attributes: None,
                },
                ..Default::default()
            };
            let answer = bounded(
                "create subjectaccessreviews",
                api.create(&PostParams::default(), &review),
            )
            .await?;
            Ok(answer.status.is_some_and(|s| s.allowed))
        }
    }
}

#[cfg(test)]
mod tests;
