//! `descheduler simulate`: a policy against a cluster dump, offline. The same
//! flow as the operator's run, ending at a printed plan instead of the Eviction API.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::api::{ValidationErrors, validate};
use crate::dump::{self, InputError};
use crate::plan;
use crate::report::{self, Report};
use crate::snapshot::Snapshot;

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
    pub report: Report,
    pub warnings: Vec<String>,
}

pub fn run(
    policy_path: &Path,
    cluster_path: &Path,
    now: DateTime<Utc>,
) -> Result<Simulation, SimulateError> {
    let manifest = dump::load_policy(policy_path)?;
    let dump = dump::load_cluster(cluster_path)?;
    let snapshot = Snapshot::build(now, dump.objects);
    let policy = validate(&manifest.spec, &|name| {
        snapshot.priority_classes.get(name).copied()
    })
    .map_err(|errors| SimulateError::Invalid {
        path: policy_path.display().to_string(),
        errors,
    })?;
    let result = plan::plan(&snapshot, &policy);
    Ok(Simulation {
        policy_name: manifest.name,
        report: report::build(&snapshot, &result),
        warnings: dump.warnings,
    })
}
