//! Command-line arguments.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "descheduler",
    version,
    about = "Evicts pods that a DeschedulerPolicy says are badly placed"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the operator: reconcile DeschedulerPolicy objects and evict for real.
    Run(RunArgs),
    /// Show what a policy would evict, from a cluster dump or the live cluster, evicting nothing.
    Simulate(SimulateArgs),
    /// Convert an upstream descheduler policy (descheduler/v1alpha1 or v1alpha2, or a ConfigMap
    /// holding one) into DeschedulerPolicy objects, printed as YAML on stdout.
    Convert(ConvertArgs),
    /// Print the DeschedulerPolicy CustomResourceDefinition as YAML.
    Crd,
}

#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// The upstream policy file; `-` reads stdin.
    pub file: PathBuf,
    /// metadata.name of the policy converted from a v1alpha1 file (v1alpha2 profiles keep
    /// their names).
    #[arg(long)]
    pub name: Option<String>,
    /// spec.interval of every converted policy (upstream's is the --descheduling-interval flag).
    #[arg(long)]
    pub interval: Option<String>,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["policy", "policy_name"])))]
pub struct SimulateArgs {
    /// A DeschedulerPolicy manifest (YAML or JSON).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// A DeschedulerPolicy read from the cluster instead of a file.
    #[arg(long)]
    pub policy_name: Option<String>,
    /// A cluster dump: `kubectl get nodes,pods,poddisruptionbudgets,priorityclasses,namespaces -A -o yaml`.
    /// Without it the live cluster is read (get and list only).
    #[arg(long)]
    pub cluster: Option<PathBuf>,
    /// The kubeconfig for the live cluster; default: $KUBECONFIG, ~/.kube/config, or in-cluster.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The clock for age-based rules (RFC 3339); default: now.
    #[arg(long)]
    pub now: Option<DateTime<Utc>>,
    /// metrics.k8s.io usage for metricsUtilization.source KubernetesMetrics: what
    /// `kubectl get --raw /apis/metrics.k8s.io/v1beta1/nodes` and `.../pods` print (JSON
    /// documents or a YAML stream). Without it (and without --cluster) the live cluster's
    /// metrics.k8s.io is read when the policy needs it.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Where /metrics, /healthz and /readyz are served.
    #[arg(
        long,
        default_value = "0.0.0.0:8080",
        env = "DESCHEDULER_METRICS_BIND_ADDRESS"
    )]
    pub metrics_bind_address: std::net::SocketAddr,
    /// Serve them over HTTPS, /metrics only to bearer tokens whose user may `get` the
    /// non-resource URL /metrics (checked with TokenReview and SubjectAccessReview, so
    /// the operator needs `create` on both); /healthz, /readyz and /livez stay open to
    /// probes. Without --tls-cert-file, a self-signed certificate is generated in memory.
    #[arg(long, env = "DESCHEDULER_METRICS_SECURE")]
    pub metrics_secure: bool,
    /// PEM certificate (chain) for --metrics-secure; re-read when it changes.
    #[arg(long, requires_all = ["metrics_secure", "tls_private_key_file"])]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of --tls-cert-file; re-read when it changes.
    #[arg(long, requires_all = ["metrics_secure", "tls_cert_file"])]
    pub tls_private_key_file: Option<PathBuf>,
    /// Hold a coordination.k8s.io Lease; only the holder evicts and writes status.
    #[arg(long, env = "DESCHEDULER_LEADER_ELECT")]
    pub leader_elect: bool,
    /// Namespace of the Lease (defaults to the pod's namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub leader_elect_namespace: String,
    /// Name of the Lease.
    #[arg(long, default_value = "descheduler")]
    pub leader_elect_lease_name: String,
    /// How long a Lease is held without renewal, in seconds.
    #[arg(long, default_value_t = 15)]
    pub leader_elect_lease_duration: u64,
    /// This replica's identity in the Lease (defaults to the pod name, else the host name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Cap on evictions per minute across all policies; 0 means no cap.
    #[arg(long, default_value_t = 60)]
    pub max_evictions_per_minute: u32,
    /// Sustained requests per second to the API server.
    #[arg(long, default_value_t = 20.0)]
    pub kube_api_qps: f32,
    /// Burst of requests to the API server above the sustained rate.
    #[arg(long, default_value_t = 30)]
    pub kube_api_burst: u32,
    /// Only reconcile DeschedulerPolicies whose labels match this selector (to shard policies between operators).
    #[arg(long)]
    pub policy_label_selector: Option<String>,
    /// How the watch caches fill: `stream` (one watch with sendInitialEvents=true per
    /// kind), `paged` (lists of 500 objects, then a watch), or `auto`: stream, and list
    /// in pages from then on if the API server refuses or ignores streaming.
    #[arg(long, value_enum, default_value_t = InitialList::Auto, env = "DESCHEDULER_INITIAL_LIST")]
    pub initial_list: InitialList,
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "DESCHEDULER_LOG_FORMAT")]
    pub log_format: LogFormat,
}

/// The Prometheus server of `metricsUtilization.source: Prometheus`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct PrometheusArgs {
    /// Base URL of the Prometheus server (http:// or https://) that policies with
    /// metricsUtilization.source Prometheus query.
    #[arg(long, env = "DESCHEDULER_PROMETHEUS_URL")]
    pub prometheus_url: Option<String>,
    /// A file holding the bearer token sent to Prometheus (re-read as it changes).
    #[arg(long, requires = "prometheus_url")]
    pub prometheus_token_file: Option<PathBuf>,
    /// PEM CA bundle to verify Prometheus' serving certificate (default: the system roots).
    #[arg(long, requires = "prometheus_url")]
    pub prometheus_ca_file: Option<PathBuf>,
}

impl PrometheusArgs {
    pub fn client(
        &self,
    ) -> Result<Option<crate::usage::PrometheusClient>, crate::usage::PrometheusError> {
        self.prometheus_url
            .as_deref()
            .map(|url| {
                crate::usage::PrometheusClient::new(
                    url,
                    self.prometheus_token_file.as_deref(),
                    self.prometheus_ca_file.as_deref(),
                )
            })
            .transpose()
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitialList {
    Auto,
    Stream,
    Paged,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}
