//! The `DeschedulerPolicy` custom resource: spec, status and validation.

pub mod spec;
pub mod status;
pub mod validate;

pub use spec::*;
pub use status::*;
pub use validate::{FieldError, ValidationErrors, validate};

use kube::CustomResourceExt;

/// The CRD as YAML, exactly as committed under `crds/`.
pub fn crd_yaml() -> Result<String, serde_yaml_ng::Error> {
    let crd = DeschedulerPolicy::crd();
    Ok(format!("---\n{}", serde_yaml_ng::to_string(&crd)?))
}
