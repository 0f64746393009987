//! `descheduler simulate`: a policy against a cluster dump or the live
//! cluster (read once, read-only). The same flow as the operator's run,
//! ending at a printed plan instead of the Eviction API.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::api::RunMode;
use crate::dump::{self, InputError, PolicyManifest};
use crate::engine;
use crate::evictor::{self, DryRun};
use crate::policy::validate;
use crate::report::RunReport;
use crate::report::json::{self, SimulateView};
use crate::snapshot::{ClusterObjects, Snapshot, UsageInput, UsageSource};
use crate::validation::ValidationErrors;

#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{path}: invalid policy:{}", errors.0.iter().map(|e| format!("\n  - {e}")).collect::<String>())]
    Invalid {
        path: String,
        errors: ValidationErrors,
    },
}

pub struct Simulation {
    pub policy_name: String,
    pub report: SimulateView,
    pub warnings: Vec<String>,
}

/// A policy file against a dump file, with `--metrics` when given.
pub fn run(
    policy_path: &Path,
    cluster_path: &Path,
    metrics_path: Option<&Path>,
    now: DateTime<Utc>,
) -> Result<Simulation, SimulateError> {
    let manifest = dump::load_policy(policy_path)?;
    let dump = dump::load_cluster(cluster_path)?;
    let usage = metrics_file(metrics_path)?;
    plan(
        manifest,
        &policy_path.display().to_string(),
        dump.objects,
        dump.warnings,
        usage,
        now,
    )
}

/// The usage a `--metrics` file holds (metrics.k8s.io only).
pub fn metrics_file(path: Option<&Path>) -> Result<UsageInput, SimulateError> {
    Ok(UsageInput {
        kubernetes: path
            .map(crate::usage::metrics_api::load_file)
            .transpose()?
            .map(Ok),
        ..Default::default()
    })
}

/// The measured usage sources the policy reads, or none when it is invalid
/// (planning then reports why): what to collect before [`plan`].
pub fn usage_sources(manifest: &PolicyManifest, objects: &ClusterObjects) -> BTreeSet<UsageSource> {
    let classes: std::collections::BTreeMap<String, i32> = objects
        .priority_classes
        .iter()
        .filter_map(|pc| Some((pc.metadata.name.clone()?, pc.value?)))
        .collect();
    validate(&manifest.spec, &|name| classes.get(name).copied())
        .map(|p| p.usage_sources())
        .unwrap_or_default()
}

/// A policy against cluster objects, wherever both came from (files or the
/// live cluster): the same plan either way. `source` names the policy in errors.
pub fn plan(
    manifest: PolicyManifest,
    source: &str,
    objects: ClusterObjects,
    warnings: Vec<String>,
    mut usage: UsageInput,
    now: DateTime<Utc>,
) -> Result<Simulation, SimulateError> {
    let snapshot = Snapshot::build(now, objects);
    let policy = validate(&manifest.spec, &|name| {
        snapshot.priority_classes.get(name).copied()
    })
    .map_err(|errors| SimulateError::Invalid {
        path: source.to_string(),
        errors,
    })?;
    // Only what the policy reads is shown; a source it reads and nobody
    // provided fails its strategy with a message saying how to provide it.
    let sources = policy.usage_sources();
    if !sources.contains(&UsageSource::KubernetesMetrics) {
        usage.kubernetes = None;
    }
    usage
        .prometheus
        .retain(|q, _| sources.contains(&UsageSource::Prometheus { query: q.clone() }));
    for source in sources {
        match source {
            UsageSource::KubernetesMetrics if usage.kubernetes.is_none() => {
                usage.kubernetes = Some(Err(
                    "not provided: pass --metrics FILE (kubectl get --raw /apis/metrics.k8s.io/v1beta1/nodes and .../pods), or simulate against the live cluster".into(),
                ));
            }
            UsageSource::Prometheus { query } => {
                usage.prometheus.entry(query).or_insert_with(|| {
                    Err("not queried: simulate against the live cluster (without --cluster) with --prometheus-url".into())
                });
            }
            _ => {}
        }
    }
    let snapshot = snapshot.with_usage(usage);
    let plan = engine::plan(&snapshot, &policy);
    // Nothing to wait for: the dry run answers at once.
    let outcomes = futures::executor::block_on(evictor::execute(&DryRun, &snapshot, &plan));
    let report = RunReport::build(&snapshot, &plan, &outcomes, RunMode::DryRun);
    Ok(Simulation {
        policy_name: manifest.name,
        report: json::view(&snapshot, &plan, &report),
        warnings,
    })
}
