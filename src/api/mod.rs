//! The `DeschedulerPolicy` custom resource's wire format: spec and status,
//! with the doc comments `kubectl explain` shows. No domain logic: the policy
//! side turns a spec into a [`crate::policy::Policy`].

pub mod spec;
pub mod status;

pub use spec::*;
pub use status::*;

use kube::CustomResourceExt;

/// The CRD as YAML, exactly as committed under `crds/`.
pub fn crd_yaml() -> Result<String, serde_yaml_ng::Error> {
    let crd = DeschedulerPolicy::crd();
    // Quoted for YAML 1.1 readers too: kubectl would read a plain enum value
    // `Off` as the boolean false.
    Ok(format!("---\n{}", crate::yaml::to_string(&crd)?))
}
