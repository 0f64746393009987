//! The Helm chart (`charts/descheduler`), the kustomize install (`config/`)
//! and the samples, checked with the real tools and the real API server:
//!
//! - `helm lint` and `helm template` with the default values and with every
//!   optional block on (`charts/descheduler/ci/all-on-values.yaml`); what they
//!   render is checked field by field, and applied to the control plane;
//! - the ClusterRoles (chart and `config/rbac/`) have no `*` anywhere and
//!   grant the same rules;
//! - every `config/samples/*.yaml` applies with `--dry-run=server`;
//! - the Helm and kustomize blocks of `README.md` run verbatim.
//!
//! helm is built from its Go module by `make install-tools-build` (see
//! `tests/e2e/install/build.sh`) into `.cache/bin`, next to kubectl. The
//! helpers here are shared with `flux.rs` and `rbac.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::DeleteParams;
use serde_json::Value;

use crate::support::{
    ClusterGuard, TestNamespace, client, kubeconfig_path, state, unique_suffix, wait_for,
};

/// Tests that install with the fixed names of `README.md` (namespace
/// `descheduler`, release `descheduler`, policy `default`) take this lock, so
/// they never overlap. Every other test uses its own names.
pub static INSTALL_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn chart_dir() -> PathBuf {
    repo_root().join("charts/descheduler")
}

/// `.cache/bin/NAME`; fails (never skips) when it was not built.
pub fn tool(name: &str) -> PathBuf {
    let path = repo_root().join(".cache/bin").join(name);
    assert!(
        path.is_file(),
        "{} not found: run `make install-tools-build` (helm, Flux controllers) \
         and `make cluster-build` (kubectl), or `make test`",
        path.display()
    );
    path
}

/// A scratch directory under the system temp dir, removed on drop (unless
/// `DESCHEDULER_E2E_KEEP=1`).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("descheduler-e2e-{prefix}-{}", unique_suffix()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var(crate::support::KEEP_ENV).is_ok_and(|v| v == "1") {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Environment of every tool run: kubectl/helm from `.cache/bin` first on
/// PATH, the e2e cluster's kubeconfig, and helm's config/cache/data kept in
/// `home` so a developer's own helm setup is neither read nor touched.
fn tool_env(cmd: &mut tokio::process::Command, home: &Path) {
    let bin = repo_root().join(".cache/bin");
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("{}:{path}", bin.display()))
        .env("KUBECONFIG", kubeconfig_path())
        .env("HOME", home)
        .env("HELM_CONFIG_HOME", home.join("helm/config"))
        .env("HELM_CACHE_HOME", home.join("helm/cache"))
        .env("HELM_DATA_HOME", home.join("helm/data"));
}

/// Runs `program args` (in `cwd`, with `stdin`), bounded by `timeout`;
/// returns (success, stdout, stderr).
pub async fn run_raw(
    program: &Path,
    args: &[&str],
    cwd: &Path,
    stdin: Option<&str>,
    timeout: Duration,
) -> (bool, String, String) {
    let home = TempDir::new("home");
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    tool_env(&mut cmd, home.path());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
    if let Some(input) = stdin {
        use tokio::io::AsyncWriteExt;
        let mut pipe = child.stdin.take().expect("stdin piped");
        pipe.write_all(input.as_bytes()).await.expect("write stdin");
        drop(pipe);
    }
    let what = format!("{} {}", program.display(), args.join(" "));
    let out = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("`{what}` did not finish within {timeout:?}"))
        .unwrap_or_else(|e| panic!("`{what}`: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a tool from `.cache/bin` in the repository root and returns its
/// stdout; panics with stderr when it fails.
pub async fn run_tool(name: &str, args: &[&str], stdin: Option<&str>) -> String {
    let (ok, out, err) = run_raw(&tool(name), args, &repo_root(), stdin, COMMAND_TIMEOUT).await;
    assert!(ok, "`{name} {}` failed:\n{err}\n{out}", args.join(" "));
    out
}

pub async fn helm(args: &[&str]) -> String {
    run_tool("helm", args, None).await
}

pub async fn kubectl(args: &[&str], stdin: Option<&str>) -> String {
    run_tool("kubectl", args, stdin).await
}

/// Runs a shell script with bash (`set -euo pipefail`) in `cwd`, with the
/// tools' environment; panics with its output when it fails.
pub async fn run_script(script: &str, cwd: &Path, timeout: Duration) -> String {
    let full = format!("set -euo pipefail\nset -x\n{script}");
    let (ok, out, err) = run_raw(Path::new("bash"), &["-c", &full], cwd, None, timeout).await;
    assert!(
        ok,
        "script failed in {}:\n{script}\n--- stdout\n{out}\n--- stderr\n{err}",
        cwd.display()
    );
    out
}

/// Parses a multi-document YAML stream into JSON values (empty documents dropped).
pub fn parse_docs(yaml: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml_ng::Deserializer::from_str(yaml)
        .filter_map(|doc| {
            let v = Value::deserialize(doc).expect("valid YAML document");
            (!v.is_null()).then_some(v)
        })
        .collect()
}

pub fn to_yaml_stream(docs: &[&Value]) -> String {
    docs.iter()
        .map(|d| format!("---\n{}", serde_yaml_ng::to_string(d).expect("to YAML")))
        .collect()
}

/// `helm template RELEASE charts/descheduler --namespace NS EXTRA...`, parsed.
pub async fn render(release: &str, namespace: &str, extra: &[&str]) -> Vec<Value> {
    let chart = chart_dir();
    let mut args = vec![
        "template",
        release,
        chart.to_str().expect("utf-8 path"),
        "--namespace",
        namespace,
    ];
    args.extend_from_slice(extra);
    parse_docs(&helm(&args).await)
}

pub fn kind_of(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

/// The documents of `kind`.
pub fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| kind_of(d) == kind).collect()
}

/// The one document of `kind`.
pub fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(docs, kind);
    assert_eq!(
        found.len(),
        1,
        "expected exactly one {kind}, got {}",
        found.len()
    );
    found[0]
}

/// The document of `kind` named `name`.
pub fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    of_kind(docs, kind)
        .into_iter()
        .find(|d| d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn kinds(docs: &[Value]) -> BTreeSet<String> {
    docs.iter().map(|d| kind_of(d).to_string()).collect()
}

/// Installs (or updates) the DeschedulerPolicy CRD from the chart's copy with
/// server-side apply. It is never deleted by a test: other tests use it.
pub async fn apply_crd() {
    let crd = chart_dir().join("crds/deschedulerpolicies.descheduler.dev.yaml");
    kubectl(
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=descheduler-e2e",
            "-f",
            crd.to_str().expect("utf-8 path"),
        ],
        None,
    )
    .await;
    let client = client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    wait_for(
        crate::support::WAIT,
        "the DeschedulerPolicy CRD to be Established",
        || async {
            let crd = crds
                .get("deschedulerpolicies.descheduler.dev")
                .await
                .map_err(state)?;
            let established = crd
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                Ok(())
            } else {
                Err("not Established yet".into())
            }
        },
    )
    .await;
}

/// The rules of a ClusterRole document as comparable strings.
fn rules(role: &Value) -> Vec<String> {
    role["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| {
            format!(
                "groups={} resources={} verbs={} names={}",
                r["apiGroups"], r["resources"], r["verbs"], r["resourceNames"]
            )
        })
        .collect()
}

/// Panics when any rule of a (Cluster)Role has `*` in its verbs, resources or apiGroups.
pub fn assert_no_wildcards(role: &Value) {
    let name = &role["metadata"]["name"];
    for rule in role["rules"].as_array().expect("rules") {
        for field in ["verbs", "resources", "apiGroups"] {
            for item in rule[field].as_array().unwrap_or(&Vec::new()) {
                let s = item.as_str().unwrap_or_default();
                assert!(
                    !s.contains('*'),
                    "{} {name} grants a wildcard in {field}: {rule}",
                    kind_of(role)
                );
            }
        }
    }
}

fn container(deploy: &Value) -> &Value {
    &deploy["spec"]["template"]["spec"]["containers"][0]
}

fn args(deploy: &Value) -> Vec<String> {
    container(deploy)["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_string())
        .collect()
}

fn read_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The ```sh block that follows `<!-- e2e: NAME -->` in README.md.
pub fn install_doc_block(name: &str) -> String {
    let path = repo_root().join("README.md");
    let doc = std::fs::read_to_string(&path).expect("README.md");
    let marker = format!("<!-- e2e: {name} -->");
    let after = doc
        .split_once(&marker)
        .unwrap_or_else(|| panic!("README.md has no `{marker}`"))
        .1;
    let body = after
        .trim_start()
        .strip_prefix("```sh\n")
        .unwrap_or_else(|| panic!("`{marker}` is not followed by a ```sh block"));
    body.split_once("\n```")
        .expect("the ```sh block is closed")
        .0
        .to_string()
}

/// Deletes namespace `name` and waits (bounded) until it is gone, so the next
/// install into the same fixed namespace does not hit a terminating one.
pub async fn delete_namespace_and_wait(name: &str) {
    let client = client().await;
    let namespaces: Api<Namespace> = Api::all(client);
    let _ = namespaces.delete(name, &DeleteParams::background()).await;
    wait_for(
        Duration::from_secs(120),
        format!("namespace {name} to be deleted"),
        || async {
            match namespaces.get_opt(name).await.map_err(state)? {
                None => Ok(()),
                Some(ns) => Err(format!("phase {:?}", ns.status.and_then(|s| s.phase))),
            }
        },
    )
    .await;
}

/// Deletes cluster-scoped objects a test created (best effort).
pub async fn delete_cluster_rbac(name: &str) {
    let client = client().await;
    let _ = Api::<ClusterRole>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await;
    let _ = Api::<ClusterRoleBinding>::all(client)
        .delete(name, &DeleteParams::default())
        .await;
}

// ---------------------------------------------------------------------------

#[tokio::test]
async fn chart_metadata_follows_the_crate_version() {
    let chart = read_yaml(&chart_dir().join("Chart.yaml"));
    assert_eq!(chart["apiVersion"], "v2");
    assert_eq!(chart["name"], "descheduler");
    assert_eq!(
        chart["appVersion"],
        env!("CARGO_PKG_VERSION"),
        "appVersion = crate version"
    );
    assert_eq!(
        chart["version"],
        env!("CARGO_PKG_VERSION"),
        "chart version = crate version"
    );
    // The sample HelmRelease asks for a chart version range that includes it.
    let release = read_yaml(&repo_root().join("config/samples/flux/helmrelease.yaml"));
    let range = release["spec"]["chart"]["spec"]["version"]
        .as_str()
        .expect("version");
    let (major_minor, _) = env!("CARGO_PKG_VERSION").rsplit_once('.').expect("x.y.z");
    assert_eq!(range, format!("{major_minor}.x"));
}

#[tokio::test]
async fn helm_lint_passes_with_defaults_and_every_option_on() {
    let chart = chart_dir();
    let chart = chart.to_str().expect("utf-8");
    let out = helm(&["lint", "--strict", chart]).await;
    assert!(out.contains("0 chart(s) failed"), "{out}");
    let all_on = format!("{chart}/ci/all-on-values.yaml");
    let out = helm(&["lint", "--strict", chart, "-f", &all_on]).await;
    assert!(out.contains("0 chart(s) failed"), "{out}");
}

#[tokio::test]
async fn default_values_render_a_hardened_single_replica_and_a_dry_run_default_policy() {
    let docs = render("rel", "ops", &[]).await;
    let want: BTreeSet<String> = [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Service",
        "Deployment",
        "DeschedulerPolicy",
    ]
    .map(String::from)
    .into();
    assert_eq!(
        kinds(&docs),
        want,
        "default values render exactly these kinds"
    );

    let deploy = one(&docs, "Deployment");
    assert_eq!(deploy["metadata"]["namespace"], "ops");
    assert_eq!(deploy["spec"]["replicas"], 1);
    let pod = &deploy["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "rel-descheduler");
    assert_eq!(pod["priorityClassName"], "system-cluster-critical");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = container(deploy);
    assert_eq!(
        c["image"],
        format!(
            "ghcr.io/descheduler-dev/descheduler:{}",
            env!("CARGO_PKG_VERSION")
        )
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert!(c["resources"]["requests"]["cpu"].is_string());
    assert!(c["resources"]["requests"]["memory"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(
        c["readinessProbe"]["httpGet"]["scheme"].is_null(),
        "plain HTTP probes"
    );
    let a = args(deploy);
    assert_eq!(a[0], "run");
    assert!(
        !a.iter()
            .any(|x| x.starts_with("--metrics-secure") || x.starts_with("--tls-")),
        "{a:?}"
    );
    assert!(
        a.contains(&"--metrics-bind-address=0.0.0.0:8080".to_string()),
        "{a:?}"
    );
    assert!(
        !a.iter().any(|x| x.starts_with("--leader-elect")),
        "one replica: no leader election: {a:?}"
    );
    for absent in ["nodeSelector", "tolerations", "affinity"] {
        assert!(pod[absent].is_null(), "{absent} is not set by default");
    }

    // The metrics Service selects the pods and targets the named port.
    let svc = one(&docs, "Service");
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "metrics");
    assert_eq!(
        svc["spec"]["selector"], deploy["spec"]["selector"]["matchLabels"],
        "the Service selects the Deployment's pods"
    );

    // The default policy: the platform defaults of config/samples/default.yaml, as a dry run.
    let policy = one(&docs, "DeschedulerPolicy");
    assert_eq!(policy["apiVersion"], "descheduler.dev/v1alpha1");
    assert_eq!(policy["metadata"]["name"], "default");
    assert_eq!(
        policy["spec"]["dryRun"], true,
        "the default policy only reports"
    );
    let mut sample = read_yaml(&repo_root().join("config/samples/default.yaml"))["spec"].clone();
    sample["dryRun"] = Value::Bool(true);
    assert_eq!(
        policy["spec"], sample,
        "default policy = config/samples/default.yaml + dryRun"
    );

    // The Lease Role is namespaced and bound to the ServiceAccount.
    let role = one(&docs, "Role");
    assert_eq!(role["metadata"]["namespace"], "ops");
    assert_eq!(
        rules(role),
        vec![
            r#"groups=["coordination.k8s.io"] resources=["leases"] verbs=["get","create","update","patch"] names=null"#
        ]
    );
    let binding = one(&docs, "ClusterRoleBinding");
    assert_eq!(binding["subjects"][0]["name"], "rel-descheduler");
    assert_eq!(binding["subjects"][0]["namespace"], "ops");
}

#[tokio::test]
async fn every_optional_block_renders() {
    let all_on = chart_dir().join("ci/all-on-values.yaml");
    let docs = render("rel", "ops", &["-f", all_on.to_str().expect("utf-8")]).await;
    for kind in [
        "PodDisruptionBudget",
        "ServiceMonitor",
        "Service",
        "Deployment",
    ] {
        assert_eq!(of_kind(&docs, kind).len(), 1, "{kind} rendered");
    }
    let deploy = one(&docs, "Deployment");
    assert_eq!(deploy["spec"]["replicas"], 2);
    let a = args(deploy);
    for want in [
        "--leader-elect",
        "--leader-elect-lease-name=descheduler-e2e",
        "--leader-elect-lease-duration=20",
        "--log-format=text",
        "--identity=$(POD_NAME)",
        "--policy-label-selector=shard=a",
        "--prometheus-url=https://prometheus.monitoring.svc:9091",
        "--prometheus-token-file=/var/run/secrets/prometheus/token",
        "--prometheus-ca-file=/var/run/secrets/prometheus/ca.crt",
        "--metrics-secure",
        "--tls-cert-file=/etc/descheduler/metrics-tls/tls.crt",
        "--tls-private-key-file=/etc/descheduler/metrics-tls/tls.key",
    ] {
        assert!(a.contains(&want.to_string()), "missing {want} in {a:?}");
    }
    // metrics.secure: the Secret mounted where the flags point, HTTPS probes.
    let c = container(deploy);
    assert_eq!(
        c["volumeMounts"][0]["mountPath"],
        "/etc/descheduler/metrics-tls"
    );
    assert_eq!(c["volumeMounts"][0]["readOnly"], true);
    let volume = &deploy["spec"]["template"]["spec"]["volumes"][0];
    assert_eq!(volume["name"], c["volumeMounts"][0]["name"]);
    assert_eq!(volume["secret"]["secretName"], "descheduler-metrics-tls");
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(c[probe]["httpGet"]["scheme"], "HTTPS", "{probe}");
    }
    let pod = &deploy["spec"]["template"]["spec"];
    assert_eq!(pod["nodeSelector"]["kubernetes.io/os"], "linux");
    assert_eq!(
        pod["tolerations"][0]["key"],
        "node-role.kubernetes.io/control-plane"
    );
    assert!(pod["affinity"]["podAntiAffinity"].is_object());
    assert_eq!(pod["imagePullSecrets"][0]["name"], "regcred");
    assert_eq!(
        deploy["spec"]["template"]["metadata"]["labels"]["team"],
        "platform"
    );
    assert_eq!(
        container(deploy)["image"],
        "ghcr.io/descheduler-dev/descheduler:0.1.0-test"
    );

    let pdb = one(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        deploy["spec"]["selector"]["matchLabels"]
    );

    let svc = one(&docs, "Service");
    let monitor = one(&docs, "ServiceMonitor");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"],
        svc["spec"]["ports"][0]["name"]
    );
    assert_eq!(monitor["spec"]["endpoints"][0]["interval"], "15s");
    assert_eq!(monitor["spec"]["endpoints"][0]["scrapeTimeout"], "10s");
    // Secure metrics: https with Prometheus' token, verifying the Secret's certificate.
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["scheme"], "https");
    assert_eq!(
        endpoint["bearerTokenFile"],
        "/var/run/secrets/kubernetes.io/serviceaccount/token"
    );
    assert_eq!(endpoint["tlsConfig"]["insecureSkipVerify"], false);
    let reader = named(&docs, "ClusterRole", "rel-descheduler-metrics-reader");
    assert_eq!(
        reader["rules"],
        serde_json::json!([{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}])
    );
    // A generated (self-signed) certificate is scraped without verification.
    let self_signed = render(
        "rel",
        "ops",
        &[
            "--set",
            "metrics.secure.enabled=true",
            "--set",
            "metrics.serviceMonitor.enabled=true",
        ],
    )
    .await;
    let monitor = one(&self_signed, "ServiceMonitor");
    assert_eq!(
        monitor["spec"]["endpoints"][0]["tlsConfig"]["insecureSkipVerify"],
        true
    );
    let deploy = one(&self_signed, "Deployment");
    assert!(args(deploy).contains(&"--metrics-secure".to_string()));
    assert!(!args(deploy).iter().any(|a| a.starts_with("--tls-")));
    assert!(deploy["spec"]["template"]["spec"]["volumes"].is_null());
    for (k, v) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels")
    {
        assert_eq!(
            &svc["metadata"]["labels"][k], v,
            "the ServiceMonitor selects the Service"
        );
    }

    let policies: BTreeMap<String, &Value> = of_kind(&docs, "DeschedulerPolicy")
        .into_iter()
        .map(|p| {
            (
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                p,
            )
        })
        .collect();
    assert_eq!(
        policies.keys().cloned().collect::<Vec<_>>(),
        vec!["balance", "default"]
    );
    assert_eq!(
        policies["default"]["spec"]["dryRun"], false,
        "values merge into the default policy"
    );
    assert!(policies["balance"]["spec"]["strategies"]["LowNodeUtilization"].is_object());
    for p in policies.values() {
        assert_eq!(
            p["metadata"]["labels"]["shard"], "a",
            "policyLabels on every policy"
        );
    }

    // PDB with maxUnavailable instead.
    let docs = render(
        "rel",
        "ops",
        &[
            "--set",
            "podDisruptionBudget.enabled=true",
            "--set",
            "podDisruptionBudget.maxUnavailable=1",
        ],
    )
    .await;
    let pdb = one(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert!(pdb["spec"]["minAvailable"].is_null());
}

#[tokio::test]
async fn leader_election_turns_on_by_itself_above_one_replica() {
    let docs = render("rel", "ops", &["--set", "replicaCount=3"]).await;
    let a = args(one(&docs, "Deployment"));
    assert!(a.contains(&"--leader-elect".to_string()), "{a:?}");
    assert!(
        a.contains(&"--leader-elect-lease-name=rel-descheduler".to_string()),
        "{a:?}"
    );
    let docs = render("rel", "ops", &["--set", "leaderElection.enabled=true"]).await;
    assert!(args(one(&docs, "Deployment")).contains(&"--leader-elect".to_string()));
    // No policies at all.
    let docs = render("rel", "ops", &["--set", "policies=null"]).await;
    assert!(of_kind(&docs, "DeschedulerPolicy").is_empty());
    // Without RBAC / ServiceAccount creation.
    let docs = render(
        "rel",
        "ops",
        &[
            "--set",
            "rbac.create=false",
            "--set",
            "serviceAccount.create=false",
            "--set",
            "serviceAccount.name=existing",
        ],
    )
    .await;
    for kind in [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
    ] {
        assert!(of_kind(&docs, kind).is_empty(), "{kind} not rendered");
    }
    assert_eq!(
        one(&docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"],
        "existing"
    );
}

#[tokio::test]
async fn cluster_roles_have_no_wildcards_and_chart_and_kustomize_agree() {
    let all_on = chart_dir().join("ci/all-on-values.yaml");
    let defaults = render("rel", "ops", &[]).await;
    let all = render("rel", "ops", &["-f", all_on.to_str().expect("utf-8")]).await;
    for docs in [&defaults, &all] {
        for kind in ["ClusterRole", "Role"] {
            for role in of_kind(docs, kind) {
                assert_no_wildcards(role);
            }
        }
    }
    let kustomized = parse_docs(&kubectl(&["kustomize", "config/"], None).await);
    for kind in ["ClusterRole", "Role"] {
        assert_no_wildcards(one(&kustomized, kind));
    }
    assert_eq!(
        rules(one(&defaults, "ClusterRole")),
        rules(one(&kustomized, "ClusterRole")),
        "charts/descheduler/templates/rbac.yaml and config/rbac/cluster_role.yaml grant the same"
    );
    assert_eq!(
        rules(one(&defaults, "Role")),
        rules(one(&kustomized, "Role"))
    );
    // Exactly the operator's needs, nothing more.
    let want = vec![
        r#"groups=[""] resources=["nodes","pods","namespaces"] verbs=["get","list","watch"] names=null"#,
        r#"groups=["policy"] resources=["poddisruptionbudgets"] verbs=["get","list","watch"] names=null"#,
        r#"groups=["scheduling.k8s.io"] resources=["priorityclasses"] verbs=["get","list","watch"] names=null"#,
        r#"groups=[""] resources=["pods/eviction"] verbs=["create"] names=null"#,
        r#"groups=["descheduler.dev"] resources=["deschedulerpolicies"] verbs=["get","list","watch"] names=null"#,
        r#"groups=["descheduler.dev"] resources=["deschedulerpolicies/status"] verbs=["patch"] names=null"#,
        r#"groups=["events.k8s.io"] resources=["events"] verbs=["create","patch"] names=null"#,
        r#"groups=["metrics.k8s.io"] resources=["nodes","pods"] verbs=["get","list"] names=null"#,
    ];
    assert_eq!(rules(one(&defaults, "ClusterRole")), want);
    // rbac.metricsApi=false drops the metrics.k8s.io rule, and only that.
    let no_metrics = render("rel", "ops", &["--set", "rbac.metricsApi=false"]).await;
    assert_eq!(
        rules(one(&no_metrics, "ClusterRole")),
        want[..want.len() - 1].to_vec()
    );
    // rbac.rolloutRestart adds exactly what singleReplicaStrategy: RolloutRestart uses.
    let mut with_restart = want.clone();
    with_restart.push(
        r#"groups=["apps"] resources=["deployments","statefulsets"] verbs=["get","patch"] names=null"#,
    );
    // metrics.secure (on in all-on) adds exactly the two reviews.
    let secure_rules = vec![
        r#"groups=["authentication.k8s.io"] resources=["tokenreviews"] verbs=["create"] names=null"#,
        r#"groups=["authorization.k8s.io"] resources=["subjectaccessreviews"] verbs=["create"] names=null"#,
    ];
    let mut all_rules = want.clone();
    all_rules.extend(secure_rules.iter().copied());
    all_rules.push(with_restart[with_restart.len() - 1]);
    assert_eq!(
        rules(named(&all, "ClusterRole", "rel-descheduler")),
        all_rules
    );
    // config/secure-metrics/ grants the same, split in its own ClusterRole,
    // and the same metrics-reader role.
    let secure = render("rel", "ops", &["--set", "metrics.secure.enabled=true"]).await;
    let kustomized = parse_docs(&kubectl(&["kustomize", "config/secure-metrics/"], None).await);
    for role in of_kind(&kustomized, "ClusterRole") {
        assert_no_wildcards(role);
    }
    let mut k = rules(named(&kustomized, "ClusterRole", "descheduler"));
    k.extend(rules(named(
        &kustomized,
        "ClusterRole",
        "descheduler-metrics-auth",
    )));
    assert_eq!(rules(named(&secure, "ClusterRole", "rel-descheduler")), k);
    assert_eq!(
        rules(named(
            &kustomized,
            "ClusterRole",
            "descheduler-metrics-auth"
        )),
        secure_rules
    );
    assert_eq!(
        named(&secure, "ClusterRole", "rel-descheduler-metrics-reader")["rules"],
        named(&kustomized, "ClusterRole", "descheduler-metrics-reader")["rules"]
    );
    let binding = named(
        &kustomized,
        "ClusterRoleBinding",
        "descheduler-metrics-auth",
    );
    assert_eq!(binding["subjects"][0]["name"], "descheduler");
    assert_eq!(binding["subjects"][0]["namespace"], "descheduler");
    let c = container(one(&kustomized, "Deployment"));
    assert!(args(one(&kustomized, "Deployment")).contains(&"--metrics-secure".to_string()));
    assert_eq!(c["readinessProbe"]["httpGet"]["scheme"], "HTTPS");
    assert_eq!(c["livenessProbe"]["httpGet"]["scheme"], "HTTPS");
}

#[tokio::test]
async fn kustomize_config_renders_everything_into_the_descheduler_namespace() {
    let docs = parse_docs(&kubectl(&["kustomize", "config/"], None).await);
    let want: BTreeSet<String> = [
        "CustomResourceDefinition",
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
        "Service",
    ]
    .map(String::from)
    .into();
    assert_eq!(kinds(&docs), want);
    for doc in &docs {
        let kind = kind_of(doc);
        if [
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "Deployment",
            "Service",
        ]
        .contains(&kind)
        {
            assert_eq!(doc["metadata"]["namespace"], "descheduler", "{kind}");
        }
    }
    let crb = one(&docs, "ClusterRoleBinding");
    assert_eq!(crb["subjects"][0]["namespace"], "descheduler");
    let deploy = one(&docs, "Deployment");
    assert_eq!(
        deploy["spec"]["template"]["spec"]["serviceAccountName"],
        "descheduler"
    );
    assert_eq!(
        container(deploy)["image"],
        format!(
            "ghcr.io/descheduler-dev/descheduler:{}",
            env!("CARGO_PKG_VERSION")
        )
    );
    let crd = one(&docs, "CustomResourceDefinition");
    assert_eq!(
        crd["metadata"]["name"],
        "deschedulerpolicies.descheduler.dev"
    );
}

#[tokio::test]
async fn samples_apply_cleanly_to_the_api_server() {
    let _gate = ClusterGuard::shared().await;
    let _ = client().await;
    apply_crd().await;
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(repo_root().join("config/samples"))
        .expect("config/samples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    entries.sort();
    for path in entries {
        let out = kubectl(
            &[
                "apply",
                "--dry-run=server",
                "-f",
                path.to_str().expect("utf-8"),
            ],
            None,
        )
        .await;
        assert!(
            out.contains("(server dry run)"),
            "{}: {out}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 11, "every sample checked ({checked})");
}

/// The rendered chart, defaults and every option on, applied to the real API
/// server in a test namespace: namespaced objects and RBAC for real, the
/// cluster-scoped policies with `--dry-run=server` (their names are fixed by
/// the values and other tests may use them). The ServiceMonitor is left out:
/// the cluster has no prometheus-operator CRDs.
#[tokio::test]
async fn rendered_chart_applies_to_the_api_server() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "chart").await;
    apply_crd().await;
    let all_on = chart_dir().join("ci/all-on-values.yaml");
    let suffix = unique_suffix();
    for (release, extra) in [
        (format!("d{suffix}"), vec![]),
        (
            format!("a{suffix}"),
            vec!["-f", all_on.to_str().expect("utf-8")],
        ),
    ] {
        let docs = render(&release, ns.name(), &extra).await;
        let real: Vec<&Value> = docs
            .iter()
            .filter(|d| !["DeschedulerPolicy", "ServiceMonitor"].contains(&kind_of(d)))
            .collect();
        let policies = of_kind(&docs, "DeschedulerPolicy");
        let fullname = format!("{release}-descheduler");
        let applied = kubectl(&["apply", "-f", "-"], Some(&to_yaml_stream(&real))).await;
        let result = async {
            for d in &real {
                let name = d["metadata"]["name"].as_str().unwrap_or_default();
                assert!(applied.contains(name), "{name} applied: {applied}");
            }
            // Cluster-scoped and named as the chart names them ("default"):
            // renamed, so a policy another test installs and deletes at the
            // same time cannot turn this dry run into a patch of a vanishing object.
            let renamed: Vec<Value> = policies
                .iter()
                .map(|p| {
                    let mut p = (*p).clone();
                    let name = p["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    p["metadata"]["name"] = Value::String(format!("{release}-{name}"));
                    p
                })
                .collect();
            let dry = kubectl(
                &["apply", "--dry-run=server", "-f", "-"],
                Some(&to_yaml_stream(&renamed.iter().collect::<Vec<_>>())),
            )
            .await;
            assert_eq!(
                dry.matches("(server dry run)").count(),
                policies.len(),
                "{dry}"
            );
            // The objects exist as rendered.
            let deploy: Api<Deployment> = ns.api();
            let got = deploy.get(&fullname).await.expect("Deployment exists");
            let pod_spec = got.spec.and_then(|s| s.template.spec).expect("pod spec");
            assert_eq!(
                pod_spec.priority_class_name.as_deref(),
                Some("system-cluster-critical")
            );
            let sas: Api<ServiceAccount> = ns.api();
            sas.get(&fullname).await.expect("ServiceAccount exists");
            Api::<ClusterRole>::all(client.clone())
                .get(&fullname)
                .await
                .expect("ClusterRole exists");
        };
        result.await;
        delete_cluster_rbac(&fullname).await;
        delete_cluster_rbac(&format!("{fullname}-metrics-reader")).await;
    }
}

// --- README.md, verbatim ---------------------------------------------

/// Scratch working directory for an install block: `charts` and `config`
/// link to the repository's, so relative paths in the docs resolve and any
/// file a block writes stays out of the checkout.
pub fn doc_workdir(prefix: &str) -> TempDir {
    let dir = TempDir::new(prefix);
    for link in ["charts", "config"] {
        std::os::unix::fs::symlink(repo_root().join(link), dir.path().join(link)).expect("symlink");
    }
    dir
}

#[tokio::test]
async fn readme_helm_install_works_verbatim() {
    let _lock = INSTALL_LOCK.lock().await;
    let _gate = ClusterGuard::shared().await;
    let client = client().await;
    apply_crd().await;
    let block = install_doc_block("helm");
    assert!(
        block.contains("helm install descheduler charts/descheduler"),
        "{block}"
    );
    let dir = doc_workdir("helm-doc");
    let out = run_script(&block, dir.path(), Duration::from_secs(180)).await;
    let check = async {
        assert!(
            out.contains("default"),
            "kubectl get deschedulerpolicies lists default: {out}"
        );
        let deploy: Api<Deployment> = Api::namespaced(client.clone(), "descheduler");
        deploy
            .get("descheduler")
            .await
            .expect("Deployment descheduler/descheduler");
        Api::<ClusterRole>::all(client.clone())
            .get("descheduler")
            .await
            .expect("ClusterRole");
        Api::<ClusterRoleBinding>::all(client.clone())
            .get("descheduler")
            .await
            .expect("ClusterRoleBinding");
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "descheduler");
        sas.get("descheduler").await.expect("ServiceAccount");
        let policy = kubectl(&["get", "deschedulerpolicy", "default", "-o", "json"], None).await;
        let policy: Value = serde_json::from_str(&policy).expect("json");
        assert_eq!(policy["spec"]["dryRun"], true);
    };
    check.await;
    helm(&[
        "uninstall",
        "descheduler",
        "--namespace",
        "descheduler",
        "--wait",
    ])
    .await;
    delete_namespace_and_wait("descheduler").await;
}

#[tokio::test]
async fn readme_kustomize_install_works_verbatim() {
    let _lock = INSTALL_LOCK.lock().await;
    let _gate = ClusterGuard::shared().await;
    let client = client().await;
    let block = install_doc_block("kustomize");
    assert!(block.contains("kubectl apply -k config/"), "{block}");
    let dir = doc_workdir("kustomize-doc");
    let out = run_script(&block, dir.path(), Duration::from_secs(180)).await;
    assert!(out.contains("descheduler"), "{out}");
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "descheduler");
    sas.get("descheduler").await.expect("ServiceAccount");
    let role = Api::<ClusterRole>::all(client.clone())
        .get("descheduler")
        .await
        .expect("ClusterRole");
    assert!(
        role.rules
            .unwrap_or_default()
            .iter()
            .all(|r| !r.verbs.contains(&"*".to_string()))
    );
    Api::<CustomResourceDefinition>::all(client.clone())
        .get("deschedulerpolicies.descheduler.dev")
        .await
        .expect("CRD");
    // Clean up everything but the CRD: other tests' policies live in it.
    delete_cluster_rbac("descheduler").await;
    delete_namespace_and_wait("descheduler").await;
}
