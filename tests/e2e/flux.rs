//! GitOps with Flux, for real: Flux's source-controller and helm-controller
//! (built from their Go modules by `make install-tools-build`) run as
//! processes against the local control plane; the packaged chart is served
//! from a Helm repository on loopback; the "GitOps with Flux" block of
//! README.md runs verbatim (only the placeholder repository URL
//! `https://charts.example.com/descheduler` becomes the loopback one, in the
//! block and in the sample HelmRepository). Then the HelmRelease must be
//! Ready with the CRD, RBAC, Deployment and default policy in place, and a
//! changed value in the HelmRelease must land as a Helm upgrade.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::chart::{
    INSTALL_LOCK, TempDir, delete_namespace_and_wait, doc_workdir, install_doc_block, kubectl,
    repo_root, run_script, tool,
};
use crate::support::{TestNamespace, client, labels, state, wait_for};

const PLACEHOLDER_URL: &str = "https://charts.example.com/descheduler";
const FLUX_WAIT: Duration = Duration::from_secs(300);

/// A child process killed when dropped; its output goes to a log file whose
/// tail is printed when the test panics.
pub struct Process {
    pub name: String,
    child: std::sync::Mutex<std::process::Child>,
    pub log: PathBuf,
}

impl Process {
    pub fn start(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(&str, String)],
        log: PathBuf,
    ) -> Self {
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = std::process::Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup log"))
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        Process {
            name: name.to_string(),
            child: std::sync::Mutex::new(child),
            log,
        }
    }

    /// Err when the process has exited.
    pub fn alive(&self) -> Result<(), String> {
        let status = self.child.lock().expect("child lock").try_wait();
        match status {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "{} exited ({status}); log:\n{}",
                self.name,
                self.tail(40)
            )),
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }

    pub fn tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "----- last lines of {} ({})\n{}",
                self.name,
                self.log.display(),
                self.tail(60)
            );
        }
    }
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Serves the files of `dir` over HTTP on `listener` (a Helm repository:
/// index.yaml and the chart archives).
async fn serve_dir(listener: tokio::net::TcpListener, dir: PathBuf) {
    use axum::extract::{Path as UrlPath, State};
    use axum::http::StatusCode;
    use axum::routing::get;
    async fn file(
        State(dir): State<PathBuf>,
        UrlPath(name): UrlPath<String>,
    ) -> Result<Vec<u8>, StatusCode> {
        if name.contains('/') || name.starts_with('.') {
            return Err(StatusCode::NOT_FOUND);
        }
        tokio::fs::read(dir.join(name))
            .await
            .map_err(|_| StatusCode::NOT_FOUND)
    }
    let app = axum::Router::new()
        .route("/{name}", get(file))
        .with_state(dir);
    let _ = axum::serve(listener, app).await;
}

fn helm_release_api(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", "HelmRelease");
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk(&gvk))
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Installs the Flux CRDs copied out of the controllers' modules by
/// `tests/e2e/install/build.sh` (server-side apply; left installed).
async fn apply_flux_crds() {
    let dir = repo_root().join(".cache/flux-crds");
    assert!(
        dir.join("helmreleases.yaml").is_file(),
        "{} has no Flux CRDs: run `make install-tools-build`",
        dir.display()
    );
    kubectl(
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=descheduler-e2e",
            "-f",
            dir.to_str().expect("utf-8"),
        ],
        None,
    )
    .await;
    let client = client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    for name in [
        "helmrepositories.source.toolkit.fluxcd.io",
        "helmcharts.source.toolkit.fluxcd.io",
        "helmreleases.helm.toolkit.fluxcd.io",
    ] {
        wait_for(
            crate::support::WAIT,
            format!("CRD {name} Established"),
            || async {
                let crd = crds.get(name).await.map_err(state)?;
                let ok = crd
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True");
                if ok { Ok(()) } else { Err("not yet".into()) }
            },
        )
        .await;
    }
}

async fn ensure_namespace(name: &str) {
    let client = client().await;
    let api: Api<Namespace> = Api::all(client);
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("creating namespace {name}: {e}"),
    }
}

/// source-controller and helm-controller as processes, with the admin
/// kubeconfig, watching all namespaces, without leader election.
fn start_flux(work: &Path) -> (Process, Process) {
    let kubeconfig = crate::support::kubeconfig_path().display().to_string();
    let storage = work.join("storage");
    std::fs::create_dir_all(&storage).expect("storage dir");
    let storage_addr = format!("127.0.0.1:{}", free_port());
    let env = [
        ("KUBECONFIG", kubeconfig.clone()),
        ("RUNTIME_NAMESPACE", "flux-system".to_string()),
        ("HOME", work.display().to_string()),
    ];
    let source = Process::start(
        "source-controller",
        &tool("source-controller"),
        &[
            "--enable-leader-election=false".into(),
            "--watch-all-namespaces=true".into(),
            format!("--metrics-addr=127.0.0.1:{}", free_port()),
            format!("--health-addr=127.0.0.1:{}", free_port()),
            format!("--storage-path={}", storage.display()),
            format!("--storage-addr={storage_addr}"),
            format!("--storage-adv-addr={storage_addr}"),
            "--log-level=debug".into(),
        ],
        &env,
        work.join("source-controller.log"),
    );
    let helm = Process::start(
        "helm-controller",
        &tool("helm-controller"),
        &[
            "--enable-leader-election=false".into(),
            "--watch-all-namespaces=true".into(),
            format!("--metrics-addr=127.0.0.1:{}", free_port()),
            format!("--health-addr=127.0.0.1:{}", free_port()),
            "--log-level=debug".into(),
        ],
        &env,
        work.join("helm-controller.log"),
    );
    (source, helm)
}

#[tokio::test]
async fn flux_installs_the_chart_from_a_helm_repository_and_upgrades_it() {
    let _lock = INSTALL_LOCK.lock().await;
    let client = client().await;
    // Nodes for the operator pods (kwok runs them), so the Deployment gets
    // Ready and helm-controller's readiness check passes.
    let nodes = TestNamespace::new(&client, "flux").await;
    for i in 0..2 {
        nodes
            .create_kwok_node(&format!("n{i}"), "2", "4Gi", 20, &labels(&[]), &[])
            .await;
    }
    apply_flux_crds().await;
    ensure_namespace("flux-system").await;

    // The workdir of the documented block; the sample HelmRepository gets the
    // loopback URL. The Helm repository directory is served before the block
    // runs `helm repo index` into it.
    let work = TempDir::new("flux");
    let dir = doc_workdir("flux-doc");
    std::fs::remove_file(dir.path().join("config")).expect("unlink config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let samples = dir.path().join("config/samples/flux");
    std::fs::create_dir_all(&samples).expect("mkdir");
    for entry in std::fs::read_dir(repo_root().join("config/samples/flux")).expect("samples") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read sample");
        std::fs::write(
            samples.join(path.file_name().expect("name")),
            text.replace(PLACEHOLDER_URL, &url),
        )
        .expect("write sample");
    }
    let repo_dir = dir.path().join("charts-repo");
    std::fs::create_dir_all(&repo_dir).expect("mkdir charts-repo");
    tokio::spawn(serve_dir(listener, repo_dir.clone()));
    let (source, helm) = start_flux(work.path());
    // Declared after the controllers, so dropped (on a panic) while they still run.
    let cleanup = FluxCleanup;

    let block = install_doc_block("flux");
    assert!(
        block.contains(PLACEHOLDER_URL),
        "the Flux block names the placeholder URL"
    );
    assert!(
        block.contains("kubectl apply -k config/samples/flux/"),
        "{block}"
    );
    let script = block.replace(PLACEHOLDER_URL, &url);
    let result = tokio::time::timeout(
        FLUX_WAIT + Duration::from_secs(60),
        run_script(&script, dir.path(), FLUX_WAIT + Duration::from_secs(30)),
    )
    .await;
    if result.is_err() {
        panic!(
            "the Flux block did not finish; source-controller:\n{}\nhelm-controller:\n{}",
            source.tail(30),
            helm.tail(30)
        );
    }
    source.alive().expect("source-controller running");
    helm.alive().expect("helm-controller running");

    let releases = helm_release_api(&client, "descheduler");
    let hr = releases.get("descheduler").await.expect("HelmRelease");
    let hr = serde_json::to_value(&hr).expect("json");
    assert_eq!(
        condition(&hr, "Ready").map(|c| c["status"].clone()),
        Some(json!("True")),
        "{hr}"
    );

    // What the chart installs is there.
    Api::<CustomResourceDefinition>::all(client.clone())
        .get("deschedulerpolicies.descheduler.dev")
        .await
        .expect("CRD");
    Api::<ClusterRole>::all(client.clone())
        .get("descheduler")
        .await
        .expect("ClusterRole");
    Api::<ClusterRoleBinding>::all(client.clone())
        .get("descheduler")
        .await
        .expect("ClusterRoleBinding");
    Api::<Role>::namespaced(client.clone(), "descheduler")
        .get("descheduler-leader-election")
        .await
        .expect("leader-election Role");
    Api::<ServiceAccount>::namespaced(client.clone(), "descheduler")
        .get("descheduler")
        .await
        .expect("ServiceAccount");
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "descheduler");
    let deploy = deploys.get("descheduler").await.expect("Deployment");
    assert_eq!(deploy.spec.as_ref().and_then(|s| s.replicas), Some(1));
    let policy: Value = serde_json::from_str(
        &kubectl(&["get", "deschedulerpolicy", "default", "-o", "json"], None).await,
    )
    .expect("json");
    assert_eq!(
        policy["spec"]["dryRun"], true,
        "the default policy is a dry run"
    );
    assert_eq!(policy["spec"]["interval"], "15m");

    // Change values in the HelmRelease: two replicas (so leader election) and
    // another interval for the default policy. The upgrade must land.
    let patch = json!({"spec": {"values": {"replicaCount": 2, "policies": {"default": {"interval": "30m"}}}}});
    releases
        .patch(
            "descheduler",
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .expect("patch HelmRelease values");
    wait_for(FLUX_WAIT, "the upgraded release: 2 replicas with --leader-elect, interval 30m, Ready", || async {
        source.alive()?;
        helm.alive()?;
        let d = deploys.get("descheduler").await.map_err(state)?;
        let replicas = d.spec.as_ref().and_then(|s| s.replicas);
        let args = d
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|p| p.containers.first())
            .and_then(|c| c.args.clone())
            .unwrap_or_default();
        let (ok, out, _) = crate::chart::run_raw(
            &tool("kubectl"),
            &["get", "deschedulerpolicy", "default", "-o", "jsonpath={.spec.interval}"],
            &repo_root(),
            None,
            Duration::from_secs(30),
        )
        .await;
        let hr = serde_json::to_value(releases.get("descheduler").await.map_err(state)?).map_err(state)?;
        let ready = condition(&hr, "Ready").cloned();
        let history_version = hr["status"]["history"][0]["version"].clone();
        if replicas == Some(2)
            && args.contains(&"--leader-elect".to_string())
            && ok
            && out == "30m"
            && ready.as_ref().is_some_and(|c| c["status"] == "True" && c["observedGeneration"] == hr["metadata"]["generation"])
            && history_version == json!(2)
        {
            Ok(())
        } else {
            Err(format!(
                "replicas={replicas:?} leader-elect={} interval={out:?} ready={ready:?} history[0].version={history_version}",
                args.contains(&"--leader-elect".to_string())
            ))
        }
    })
    .await;
    drop(cleanup);
    // Uninstall through Flux while the controllers still run.
    releases
        .delete("descheduler", &Default::default())
        .await
        .expect("delete HelmRelease");
    wait_for(
        FLUX_WAIT,
        "helm-controller to uninstall the release",
        || async {
            let gone_hr = releases
                .get_opt("descheduler")
                .await
                .map_err(state)?
                .is_none();
            let gone_deploy = deploys
                .get_opt("descheduler")
                .await
                .map_err(state)?
                .is_none();
            if gone_hr && gone_deploy {
                Ok(())
            } else {
                Err(format!(
                    "HelmRelease gone={gone_hr}, Deployment gone={gone_deploy}"
                ))
            }
        },
    )
    .await;
    let _ = kubectl(
        &[
            "delete",
            "helmrepository",
            "descheduler",
            "-n",
            "flux-system",
            "--ignore-not-found",
        ],
        None,
    )
    .await;
    delete_namespace_and_wait("descheduler").await;
}

/// On a failed assertion, leaves nothing behind that the next fixed-name
/// install would trip over (best effort, synchronous).
struct FluxCleanup;

impl Drop for FluxCleanup {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let kubectl = repo_root().join(".cache/bin/kubectl");
        let kubeconfig = crate::support::kubeconfig_path();
        for args in [
            vec![
                "delete",
                "helmrelease",
                "descheduler",
                "-n",
                "descheduler",
                "--ignore-not-found",
                "--timeout=60s",
            ],
            vec![
                "delete",
                "namespace",
                "descheduler",
                "--ignore-not-found",
                "--timeout=60s",
            ],
            vec![
                "delete",
                "clusterrole,clusterrolebinding",
                "descheduler",
                "--ignore-not-found",
            ],
            vec![
                "delete",
                "deschedulerpolicy",
                "default",
                "--ignore-not-found",
            ],
        ] {
            let _ = std::process::Command::new(&kubectl)
                .args(&args)
                .env("KUBECONFIG", &kubeconfig)
                .status();
        }
    }
}
