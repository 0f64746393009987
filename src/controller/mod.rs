//! `descheduler run`: the kube-runtime Controller for DeschedulerPolicy, the
//! pure schedule it consults, and the single runner that executes runs.

pub mod pipeline;
pub mod runner;
pub mod schedule;
pub mod status_writer;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use governor::{Quota, RateLimiter};
use kube::client::ClientBuilder;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::api::DeschedulerPolicy;
use crate::cli::RunArgs;
use crate::cluster::{Caches, Lists, RateLimitLayer, Ready, initial_list};
use crate::metrics::Metrics;
use runner::Runner;
use schedule::Decision;

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("cannot load a kubeconfig or in-cluster configuration: {0}")]
    Config(#[from] kube::config::InferConfigError),
    #[error("cannot build the API client: {0}")]
    Client(#[source] kube::Error),
    #[error("cannot serve metrics on {addr}: {source}")]
    Http {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("leader election: {0}")]
    Leader(#[from] kube_lease_manager::LeaseManagerError),
    #[error(transparent)]
    Prometheus(#[from] crate::usage::PrometheusError),
    #[error("a watch cache stopped before it synced")]
    CacheNotSynced,
    #[error("--metrics-secure: {0}")]
    Tls(#[from] crate::tls::TlsError),
}

/// Reconcile never fails on cluster data; the error type exists for kube-runtime.
#[derive(Debug, thiserror::Error)]
#[error("reconcile error")]
pub struct ReconcileError;

/// How long a non-leader waits before asking again.
const NOT_LEADER_RECHECK: Duration = Duration::from_secs(5);

async fn reconcile(
    policy: Arc<DeschedulerPolicy>,
    runner: Arc<Runner>,
) -> Result<Action, ReconcileError> {
    if !runner.is_leader() {
        return Ok(Action::requeue(NOT_LEADER_RECHECK));
    }
    let name = policy.metadata.name.clone().unwrap_or_default();
    let now = chrono::Utc::now();
    let effective = runner.effective(&policy);
    Ok(match schedule::decide(&effective, now) {
        Decision::Approve { .. } => {
            runner.enqueue(&name);
            Action::requeue(Duration::from_secs(60))
        }
        Decision::Due { .. } => {
            runner.enqueue(&name);
            // Re-checked after the run; the interval bounds the wait if nothing else happens.
            Action::requeue(
                schedule::interval(&policy)
                    .to_std()
                    .unwrap_or(Duration::from_secs(900)),
            )
        }
        Decision::NotDue { at } => {
            let wait = (at - now).to_std().unwrap_or_default() + Duration::from_millis(100);
            Action::requeue(wait)
        }
        Decision::Suspended | Decision::Invalid => Action::await_change(),
    })
}

fn error_policy(
    _policy: Arc<DeschedulerPolicy>,
    _err: &ReconcileError,
    _runner: Arc<Runner>,
) -> Action {
    Action::requeue(Duration::from_secs(30))
}

fn identity(args: &RunArgs) -> String {
    args.identity
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("descheduler-{}", std::process::id()))
}

async fn client(args: &RunArgs) -> Result<Client, OperatorError> {
    let mut config = kube::Config::infer().await?;
    // kube retries 429s by default; for an eviction that is a PodDisruptionBudget
    // saying no, which must be reported at once, not retried for minutes.
    // Watches back off on their own and status writes retry themselves.
    config.default_retry = false;
    let builder = ClientBuilder::try_from(config).map_err(OperatorError::Client)?;
    Ok(builder
        .with_layer(&RateLimitLayer::new(args.kube_api_qps, args.kube_api_burst))
        .build())
}

fn on_signal(shutdown: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot listen for SIGTERM");
                        return;
                    }
                };
            tokio::select! {
                _ = term.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing the eviction in flight");
        shutdown.cancel();
    });
}

/// How often the serving certificate's files are looked at for a change.
const CERT_RECHECK: Duration = Duration::from_secs(10);

/// The metrics serving certificate: the files given, else one generated
/// for the names the operator is reached by.
fn tls_source(args: &RunArgs, host: &str) -> crate::tls::Source {
    match (&args.tls_cert_file, &args.tls_private_key_file) {
        (Some(cert), Some(key)) => crate::tls::Source::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => crate::tls::Source::SelfSigned {
            names: [host, "localhost", "127.0.0.1", "::1"]
                .into_iter()
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect(),
        },
    }
}

/// Runs the operator until SIGTERM or Ctrl-C.
pub async fn run(args: RunArgs) -> Result<(), OperatorError> {
    let client = client(&args).await?;
    let prometheus = args.prometheus.client()?;
    let shutdown = CancellationToken::new();
    on_signal(shutdown.clone());

    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::register(&mut registry));
    let ready: Ready = Arc::default();
    let listener_addr = args.metrics_bind_address;
    let listener =
        crate::http::bind(listener_addr)
            .await
            .map_err(|source| OperatorError::Http {
                addr: listener_addr,
                source,
            })?;
    let bound = listener.local_addr().unwrap_or(listener_addr);
    let http = if args.metrics_secure {
        let source = tls_source(&args, &identity(&args));
        let tls = crate::tls::load(&source)?;
        if let crate::tls::Source::Files { cert, key } = source {
            tokio::spawn(crate::tls::watch(
                tls.clone(),
                cert,
                key,
                CERT_RECHECK,
                shutdown.clone(),
            ));
        }
        let auth = Arc::new(crate::metrics_auth::Authorizer::new(
            crate::metrics_auth::kube_reviews::KubeReviews {
                client: client.clone(),
            },
        ));
        tracing::info!(address = %bound, "serving /metrics (TokenReview and SubjectAccessReview), /healthz and /readyz over HTTPS");
        let app = crate::http::router(Arc::new(registry), ready.clone(), Some(auth));
        tokio::spawn(crate::http::serve_tls(
            listener,
            app,
            tls,
            shutdown.clone().cancelled_owned(),
        ))
    } else {
        tracing::info!(address = %bound, "serving /metrics, /healthz and /readyz");
        let app = crate::http::router::<crate::metrics_auth::kube_reviews::KubeReviews>(
            Arc::new(registry),
            ready.clone(),
            None,
        );
        tokio::spawn(crate::http::serve(
            listener,
            app,
            shutdown.clone().cancelled_owned(),
        ))
    };

    let lists = Lists::new(args.initial_list);
    let (caches, watches) = Caches::start(&client, &lists);
    for w in watches {
        tokio::spawn(w);
    }
    tokio::select! {
        r = caches.wait_until_ready() => r.map_err(|_| OperatorError::CacheNotSynced)?,
        _ = shutdown.cancelled() => return Ok(()),
    }
    ready.store(true, Ordering::Relaxed);
    tracing::info!("watch caches synced");

    let id = identity(&args);
    let leadership = crate::leader::start(
        client.clone(),
        args.leader_elect,
        &args.leader_elect_namespace,
        &args.leader_elect_lease_name,
        &id,
        args.leader_elect_lease_duration,
    )
    .await?;

    let mut config = watcher::Config::default();
    if let Some(sel) = &args.policy_label_selector {
        config = config.labels(sel);
    }
    let (reader, writer) = reflector::store();
    // No backoff here: the controller backs off its trigger streams itself.
    let policies = initial_list::watch(
        Api::<DeschedulerPolicy>::all(client.clone()),
        config,
        &lists,
        None,
    )
    .reflect(writer)
    .applied_objects();
    let controller = Controller::for_stream(policies, reader);
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "descheduler".into(),
            instance: Some(id),
        },
    );
    let limiter = std::num::NonZeroU32::new(args.max_evictions_per_minute)
        .map(|n| Arc::new(RateLimiter::direct(Quota::per_minute(n))));
    let (runner, rx) = Runner::new(runner::Deps {
        client,
        caches,
        policies: controller.store(),
        recorder,
        metrics,
        leader: leadership.is_leader.clone(),
        shutdown: shutdown.clone(),
        eviction_limiter: limiter,
        prometheus,
    });
    let runner_task = tokio::spawn(runner.clone().run_loop(rx));

    controller
        .graceful_shutdown_on(shutdown.clone().cancelled_owned())
        .run(reconcile, error_policy, runner)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "reconcile");
            }
        })
        .await;

    // The runner finishes the eviction in flight and writes that run's status.
    if let Err(e) = runner_task.await {
        tracing::error!(error = %e, "runner task failed");
    }
    drop(leadership);
    match http.await {
        Ok(Err(source)) => Err(OperatorError::Http {
            addr: listener_addr,
            source,
        }),
        _ => Ok(()),
    }
}
