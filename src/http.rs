//! /metrics, /healthz and /readyz: plain HTTP, or with `--metrics-secure`
//! HTTPS where /metrics needs a bearer token allowed to read it
//! ([`crate::metrics_auth`]) and the probes stay open.

pub use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_server::tls_rustls::RustlsConfig;
use prometheus_client::registry::Registry;

use crate::cluster::Ready;
use crate::metrics_auth::{Authorizer, Decision, METRICS_PATH, Reviews, always_allowed};

#[derive(Clone)]
struct AppState {
    registry: Arc<Registry>,
    ready: Ready,
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            "encoding failed".to_string(),
        )
            .into_response(),
    }
}

/// In front of every route when serving securely: the probes pass, /metrics
/// needs an allowed token, and nothing else exists (asking the API server
/// about paths we do not serve would only cost it reviews).
async fn guard<R: Reviews + 'static>(
    State(auth): State<Arc<Authorizer<R>>>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    if always_allowed(path) {
        return next.run(req).await;
    }
    if path != METRICS_PATH {
        return StatusCode::NOT_FOUND.into_response();
    }
    match auth.check(req.headers(), Instant::now()).await {
        Decision::Allow => next.run(req).await,
        refused => refuse(refused),
    }
}

fn refuse(decision: Decision) -> Response {
    let status = decision.status();
    match decision {
        Decision::Unauthenticated => (
            status,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "Unauthorized: a bearer token the API server accepts is needed",
        )
            .into_response(),
        Decision::Forbidden => (
            status,
            "Forbidden: the token's user may not get the non-resource URL /metrics",
        )
            .into_response(),
        Decision::Unavailable(why) => {
            tracing::warn!(error = %why, "cannot check a /metrics request with the API server");
            (
                status,
                "Internal Server Error: the API server could not be asked",
            )
                .into_response()
        }
        Decision::Allow => status.into_response(),
    }
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
    }
}

/// The routes; with `auth`, only the users it allows read /metrics.
pub fn router<R: Reviews + 'static>(
    registry: Arc<Registry>,
    ready: Ready,
    auth: Option<Arc<Authorizer<R>>>,
) -> Router {
    let routes = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(AppState { registry, ready });
    match auth {
        Some(auth) => routes.layer(axum::middleware::from_fn_with_state(auth, guard::<R>)),
        None => routes,
    }
}

/// Binds early so a bad address fails at start-up, not later.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Serves plain HTTP until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves HTTPS until `shutdown` resolves; connections still open then get
/// a few seconds to finish.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: RustlsConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(Duration::from_secs(5)));
    });
    axum_server::tls_rustls::from_tcp_rustls(listener.into_std()?, tls)?
        .handle(handle)
        .serve(app.into_make_service())
        .await
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::metrics_auth::{ReviewError, User};

    /// One token, whose user may read /metrics.
    struct OneReader;

    impl Reviews for OneReader {
        async fn authenticate(&self, token: &str) -> Result<Option<User>, ReviewError> {
            Ok(["reader", "other"].contains(&token).then(|| User {
                name: token.into(),
                uid: None,
                groups: Vec::new(),
                extra: BTreeMap::new(),
            }))
        }
        async fn authorize(&self, user: &User, _: &str, _: &str) -> Result<bool, ReviewError> {
            Ok(user.name == "reader")
        }
    }

    async fn status(app: &Router, path: &str, token: Option<&str>) -> StatusCode {
        let mut req = Request::get(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        app.clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
            .status()
    }

    #[tokio::test]
    async fn secure_metrics_need_an_allowed_token_and_the_probes_nothing() {
        let ready: Ready = Arc::default();
        let app = router(
            Arc::new(Registry::default()),
            ready.clone(),
            Some(Arc::new(Authorizer::new(OneReader))),
        );
        assert_eq!(
            status(&app, "/metrics", None).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status(&app, "/metrics", Some("nobody")).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status(&app, "/metrics", Some("other")).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(&app, "/metrics", Some("reader")).await,
            StatusCode::OK
        );
        assert_eq!(status(&app, "/healthz", None).await, StatusCode::OK);
        assert_eq!(status(&app, "/livez", None).await, StatusCode::OK);
        assert_eq!(
            status(&app, "/readyz", None).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(&app, "/other", Some("reader")).await,
            StatusCode::NOT_FOUND
        );
        ready.store(true, Ordering::Relaxed);
        assert_eq!(status(&app, "/readyz", None).await, StatusCode::OK);
    }

    #[tokio::test]
    async fn plain_metrics_are_open() {
        let app = router::<OneReader>(Arc::new(Registry::default()), Arc::default(), None);
        assert_eq!(status(&app, "/metrics", None).await, StatusCode::OK);
    }
}
