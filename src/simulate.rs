//! `descheduler simulate`: a policy against a cluster dump or the live
//! cluster (read once, read-only). The same flow as the operator's run,
//! ending at a printed plan instead of the Eviction API.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::api::RunMode;
use crate::dump::{self, InputError, PolicyManifest};
use crate::engine;
use crate::evictor::{self, DryRun};
use crate::policy::validate;
use crate::report::RunReport;
use crate::report::json::{self, SimulateView};
use crate::snapshot::{ClusterObjects, Snapshot};
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

/// A policy file against a dump file.
pub fn run(
    policy_path: &Path,
    cluster_path: &Path,
    now: DateTime<Utc>,
) -> Result<Simulation, SimulateError> {
    let manifest = dump::load_policy(policy_path)?;
    let dump = dump::load_cluster(cluster_path)?;
    plan(
        manifest,
        &policy_path.display().to_string(),
        dump.objects,
        dump.warnings,
        now,
    )
}

/// A policy against cluster objects, wherever both came from (files or the
/// live cluster): the same plan either way. `source` names the policy in errors.
pub fn plan(
    manifest: PolicyManifest,
    source: &str,
    objects: ClusterObjects,
    warnings: Vec<String>,
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
