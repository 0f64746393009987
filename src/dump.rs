//! Reading input files for `simulate`: a cluster dump (what `kubectl get -o yaml`
//! prints, as a List or a stream of documents, YAML or JSON) and a policy manifest.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::DeschedulerPolicySpec;
use crate::snapshot::ClusterObjects;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: malformed YAML: {message}")]
    Yaml {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {location}: {message}")]
    Object {
        path: PathBuf,
        location: String,
        message: String,
    },
    #[error("{path}: {message}")]
    Policy { path: PathBuf, message: String },
}

/// A parsed dump plus what was ignored in it.
pub struct Dump {
    pub objects: ClusterObjects,
    pub warnings: Vec<String>,
}

fn read(path: &Path) -> Result<String, InputError> {
    std::fs::read_to_string(path).map_err(|source| InputError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Every document in a YAML (or JSON) stream, as JSON values.
fn documents(path: &Path, text: &str) -> Result<Vec<Value>, InputError> {
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let value: Value = serde::Deserialize::deserialize(doc).map_err(|e| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            InputError::Yaml {
                path: path.to_path_buf(),
                line,
                column,
                message: e.to_string(),
            }
        })?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

fn describe(v: &Value) -> String {
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("object");
    let meta = v.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("?");
    match meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
    {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

fn typed<T: DeserializeOwned>(path: &Path, location: &str, v: Value) -> Result<Arc<T>, InputError> {
    let what = describe(&v);
    serde_path_to_error::deserialize(v)
        .map(Arc::new)
        .map_err(|e| InputError::Object {
            path: path.to_path_buf(),
            location: format!("{location} ({what})"),
            message: format!("{}: {}", e.path(), e.inner()),
        })
}

/// Reads a cluster dump. Kinds other than Node, Pod, PodDisruptionBudget,
/// PriorityClass and Namespace are skipped with a warning.
pub fn load_cluster(path: &Path) -> Result<Dump, InputError> {
    let text = read(path)?;
    parse_cluster(path, &text)
}

pub fn parse_cluster(path: &Path, text: &str) -> Result<Dump, InputError> {
    let mut objects = ClusterObjects::default();
    let mut warnings = Vec::new();
    let mut ignored: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for (d, doc) in documents(path, text)?.into_iter().enumerate() {
        let items: Vec<(String, Value)> = match doc.get("kind").and_then(Value::as_str) {
            Some(k) if k == "List" || k.ends_with("List") => match doc.get("items") {
                Some(Value::Array(items)) => items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (format!("document {}, items[{i}]", d + 1), v.clone()))
                    .collect(),
                Some(Value::Null) | None => Vec::new(),
                Some(_) => {
                    return Err(InputError::Object {
                        path: path.to_path_buf(),
                        location: format!("document {}", d + 1),
                        message: "items: expected a list".into(),
                    });
                }
            },
            _ => vec![(format!("document {}", d + 1), doc)],
        };
        for (location, item) in items {
            let kind = item.get("kind").and_then(Value::as_str).map(str::to_string);
            match kind.as_deref() {
                Some("Node") => objects.nodes.push(typed(path, &location, item)?),
                Some("Pod") => objects.pods.push(typed(path, &location, item)?),
                Some("PodDisruptionBudget") => objects.pdbs.push(typed(path, &location, item)?),
                Some("PriorityClass") => {
                    objects.priority_classes.push(typed(path, &location, item)?)
                }
                Some("Namespace") => objects.namespaces.push(typed(path, &location, item)?),
                Some(other) => *ignored.entry(other.to_string()).or_default() += 1,
                None => {
                    return Err(InputError::Object {
                        path: path.to_path_buf(),
                        location,
                        message: "kind: missing".into(),
                    });
                }
            }
        }
    }
    for (kind, n) in ignored {
        warnings.push(format!(
            "{}: ignored {n} object(s) of kind {kind}",
            path.display()
        ));
    }
    Ok(Dump { objects, warnings })
}

/// A DeschedulerPolicy manifest from a file.
pub struct PolicyManifest {
    pub name: String,
    pub spec: DeschedulerPolicySpec,
}

pub fn load_policy(path: &Path) -> Result<PolicyManifest, InputError> {
    let text = read(path)?;
    parse_policy(path, &text)
}

/// Parses a policy, rejecting unknown fields (as the CRD schema does) with their paths.
pub fn parse_policy(path: &Path, text: &str) -> Result<PolicyManifest, InputError> {
    let err = |message: String| InputError::Policy {
        path: path.to_path_buf(),
        message,
    };
    let mut docs = documents(path, text)?;
    if docs.len() != 1 {
        return Err(err(format!(
            "expected exactly one DeschedulerPolicy document, found {}",
            docs.len()
        )));
    }
    let doc = docs.remove(0);
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind != "DeschedulerPolicy" {
        return Err(err(format!(
            "kind: expected DeschedulerPolicy, found {kind:?}"
        )));
    }
    let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if api_version != "descheduler.dev/v1alpha1" {
        return Err(err(format!(
            "apiVersion: expected descheduler.dev/v1alpha1, found {api_version:?}"
        )));
    }
    let Value::Object(map) = &doc else {
        return Err(err("expected a mapping".into()));
    };
    let mut problems: Vec<String> = map
        .keys()
        .filter(|k| !["apiVersion", "kind", "metadata", "spec", "status"].contains(&k.as_str()))
        .map(|k| format!("{k}: unknown field"))
        .collect();
    let name = doc
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("policy")
        .to_string();
    let spec_value = doc
        .get("spec")
        .cloned()
        .unwrap_or(Value::Object(Default::default()));
    let mut unknown = Vec::new();
    let parsed: Result<DeschedulerPolicySpec, _> = {
        let mut on_unknown =
            |p: serde_ignored::Path<'_>| unknown.push(format!("spec.{p}: unknown field"));
        serde_path_to_error::deserialize(serde_ignored::Deserializer::new(
            spec_value,
            &mut on_unknown,
        ))
    };
    let spec = match parsed {
        Ok(spec) => spec,
        Err(e) => {
            problems.extend(unknown);
            problems.push(format!("spec.{}: {}", e.path(), e.inner()));
            return Err(err(bullets(&problems)));
        }
    };
    problems.extend(unknown);
    if !problems.is_empty() {
        return Err(err(bullets(&problems)));
    }
    Ok(PolicyManifest { name, spec })
}

fn bullets(problems: &[String]) -> String {
    if let [one] = problems {
        return one.clone();
    }
    problems.iter().map(|p| format!("\n  - {p}")).collect()
}
