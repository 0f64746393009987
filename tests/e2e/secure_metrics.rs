//! `--metrics-secure` against the real API server: the chart's RBAC with
//! `metrics.secure.enabled` is applied, the operator runs out-of-cluster as
//! the chart's ServiceAccount (so its TokenReviews and SubjectAccessReviews
//! go through the chart's ClusterRole) serving a certificate from files, and:
//! - a ServiceAccount bound to the chart's metrics-reader ClusterRole gets
//!   200 over TLS with its token;
//! - one without the binding gets 403; no token, or a token the API server
//!   does not know, 401;
//! - the probes answer over TLS without a token;
//! - plain HTTP on the same port gets no HTTP answer at all.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::chart::{TempDir, apply_crd, delete_cluster_rbac, kubectl, render, to_yaml_stream};
use crate::flux::{Process, free_port};
use crate::support::{TestNamespace, client, state, token_kubeconfig, unique_suffix, wait_for};

async fn token_of(sas: &Api<ServiceAccount>, name: &str) -> String {
    let tr = sas
        .create_token_request(
            name,
            &PostParams::default(),
            &TokenRequest {
                spec: Some(TokenRequestSpec {
                    expiration_seconds: Some(3600),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .expect("TokenRequest");
    tr.status.and_then(|s| s.token).expect("a token")
}

/// The status and body of `GET path` over TLS, trusting only `ca_pem`.
async fn https_get(
    port: u16,
    path: &str,
    token: Option<&str>,
    ca_pem: &str,
) -> Result<(u16, String), String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.map_err(state)?).map_err(state)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(state)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(state)?;
    let name = ServerName::try_from("localhost").map_err(state)?;
    let mut tls = connector.connect(name, tcp).await.map_err(state)?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .map_err(state)?;
    let mut buf = Vec::new();
    // A server closing TLS without close_notify still sent the whole answer.
    let _ = tls.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad response: {text:?}"))?;
    Ok((code, text))
}

/// What a plain-HTTP client gets from the TLS port: never an HTTP status line.
async fn plain_http_answer(port: u16) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let _ = s
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).to_string()
}

struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let names = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    for n in &names {
                        delete_cluster_rbac(n).await;
                    }
                });
            }
        })
        .join();
    }
}

#[tokio::test]
async fn secure_metrics_answer_only_allowed_tokens_over_tls() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "secmetrics").await;
    apply_crd().await;

    let release = format!("s{}", unique_suffix());
    let fullname = format!("{release}-descheduler");
    let reader_role = format!("{fullname}-metrics-reader");
    let reader_binding = format!("{fullname}-e2e-reader");
    let docs = render(
        &release,
        ns.name(),
        &[
            "--set",
            "replicaCount=0",
            "--set",
            "policies=null",
            "--set",
            "metrics.secure.enabled=true",
        ],
    )
    .await;
    let all: Vec<&Value> = docs.iter().collect();
    kubectl(&["apply", "-f", "-"], Some(&to_yaml_stream(&all))).await;
    let _cleanup = Cleanup(vec![
        fullname.clone(),
        reader_role.clone(),
        reader_binding.clone(),
    ]);

    // A reader bound to the chart's metrics-reader ClusterRole, and a stranger.
    let sas: Api<ServiceAccount> = ns.api();
    for name in ["reader", "stranger"] {
        let sa: ServiceAccount =
            serde_json::from_value(json!({"metadata": {"name": name}})).expect("sa");
        sas.create(&PostParams::default(), &sa)
            .await
            .expect("create sa");
    }
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    let _ = bindings
        .delete(&reader_binding, &DeleteParams::default())
        .await;
    bindings
        .create(
            &PostParams::default(),
            &ClusterRoleBinding {
                metadata: kube::api::ObjectMeta {
                    name: Some(reader_binding.clone()),
                    ..Default::default()
                },
                role_ref: RoleRef {
                    api_group: Some("rbac.authorization.k8s.io".into()),
                    kind: "ClusterRole".into(),
                    name: reader_role.clone(),
                },
                subjects: Some(vec![Subject {
                    kind: "ServiceAccount".into(),
                    name: "reader".into(),
                    namespace: Some(ns.name().to_string()),
                    ..Default::default()
                }]),
            },
        )
        .await
        .expect("bind the reader");
    let reader = token_of(&sas, "reader").await;
    let stranger = token_of(&sas, "stranger").await;

    // The serving certificate, from files as a mounted Secret would give it.
    let work = TempDir::new("secmetrics");
    let (cert, key) =
        descheduler::tls::self_signed(&["localhost".into(), "127.0.0.1".into()]).expect("cert");
    let (cert_file, key_file) = (work.path().join("tls.crt"), work.path().join("tls.key"));
    std::fs::write(&cert_file, &cert).expect("write cert");
    std::fs::write(&key_file, &key).expect("write key");
    let kubeconfig = work.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        token_kubeconfig(&token_of(&sas, &fullname).await),
    )
    .expect("write kubeconfig");

    let port = free_port();
    let operator = Process::start(
        "descheduler run --metrics-secure",
        Path::new(env!("CARGO_BIN_EXE_descheduler")),
        &[
            "run".into(),
            format!("--metrics-bind-address=127.0.0.1:{port}"),
            "--metrics-secure".into(),
            format!("--tls-cert-file={}", cert_file.display()),
            format!("--tls-private-key-file={}", key_file.display()),
            "--log-format=text".into(),
            // No policy of this test: the operator reconciles nothing.
            format!("--policy-label-selector=e2e.descheduler.dev/none={release}"),
        ],
        &[
            ("KUBECONFIG", kubeconfig.display().to_string()),
            ("RUST_LOG", "info".to_string()),
        ],
        work.path().join("operator.log"),
    );
    wait_for(Duration::from_secs(60), "/readyz over TLS", || async {
        operator.alive()?;
        match https_get(port, "/readyz", None, &cert).await? {
            (200, _) => Ok(()),
            (code, text) => Err(format!("HTTP {code}: {text}")),
        }
    })
    .await;
    assert_eq!(
        https_get(port, "/healthz", None, &cert)
            .await
            .expect("healthz")
            .0,
        200
    );

    // RBAC reaches the authorizer's cache within moments of the binding.
    let body = wait_for(Duration::from_secs(30), "the reader's 200", || async {
        operator.alive()?;
        match https_get(port, "/metrics", Some(&reader), &cert).await? {
            (200, text) => Ok(text),
            (code, text) => Err(format!("HTTP {code}: {text}")),
        }
    })
    .await;
    assert!(body.contains("descheduler_build_info"), "{body}");

    let status = |token: Option<String>| {
        let cert = cert.clone();
        async move {
            https_get(port, "/metrics", token.as_deref(), &cert)
                .await
                .expect("an HTTPS answer")
                .0
        }
    };
    assert_eq!(
        status(Some(stranger.clone())).await,
        403,
        "no role, no metrics"
    );
    assert_eq!(status(None).await, 401, "no token");
    assert_eq!(
        status(Some("not-a-token".into())).await,
        401,
        "unknown token"
    );
    assert_eq!(
        status(Some(reader.clone())).await,
        200,
        "still allowed (cached)"
    );

    let plain = plain_http_answer(port).await;
    assert!(
        !plain.starts_with("HTTP/"),
        "plain HTTP got an HTTP answer from the TLS port: {plain:?}"
    );

    let log = std::fs::read_to_string(&operator.log).unwrap_or_default();
    assert!(
        !log.contains("cannot check a /metrics request"),
        "the chart's RBAC did not let the operator review tokens:\n{}",
        operator.tail(60)
    );
}
