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
    crate::yaml::documents(text).map_err(|e| InputError::Yaml {
        path: path.to_path_buf(),
        line: e.line,
        column: e.column,
        message: e.message,
    })
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
    if let Some(dump) = std::fs::File::open(path)
        .ok()
        .and_then(|f| stream_json_list(path, std::io::BufReader::with_capacity(1 << 16, f)))
    {
        return Ok(dump);
    }
    let text = read(path)?;
    parse_cluster(path, &text)
}

/// [`load_cluster`] on a dump already in memory (`path` only names it in
/// messages): the same two readers in the same order.
pub fn read_cluster(path: &Path, bytes: &[u8]) -> Result<Dump, InputError> {
    if let Some(dump) = stream_json_list(path, bytes) {
        return Ok(dump);
    }
    let text = std::str::from_utf8(bytes).map_err(|e| InputError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })?;
    parse_cluster(path, text)
}

/// The fast path for a JSON `List` (what `kubectl get -o json` prints): the
/// items are read from the file one at a time and converted at once, so
/// neither the text nor a tree of the whole document is ever held (that took
/// over ten times the file's size). None for anything else, and for any
/// problem at all: [`parse_cluster`] then reads the file and reports it
/// exactly as it always has.
fn stream_json_list(path: &Path, mut reader: impl std::io::BufRead) -> Option<Dump> {
    let first = *reader
        .fill_buf()
        .ok()?
        .iter()
        .find(|b| !b.is_ascii_whitespace())?;
    if first != b'{' {
        return None;
    }
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut sink = Sink {
        path,
        objects: ClusterObjects::default(),
        ignored: std::collections::BTreeMap::new(),
    };
    let kind = serde::de::DeserializeSeed::deserialize(ListSeed(&mut sink), &mut de).ok()?;
    de.end().ok()?;
    if !kind.is_some_and(|k| k == "List" || k.ends_with("List")) {
        return None;
    }
    Some(Dump {
        objects: sink.objects,
        warnings: ignored_warnings(path, sink.ignored),
    })
}

struct Sink<'a> {
    path: &'a Path,
    objects: ClusterObjects,
    ignored: std::collections::BTreeMap<String, usize>,
}

impl Sink<'_> {
    /// One item of the first document, as [`parse_cluster`] takes it; false on any problem.
    fn add(&mut self, index: usize, mut item: Value) -> bool {
        let path = self.path;
        let location = format!("document 1, items[{index}]");
        let kind = item.get("kind").and_then(Value::as_str).map(str::to_string);
        crate::snapshot::slim::json(kind.as_deref(), &mut item);
        let o = &mut self.objects;
        match kind.as_deref() {
            Some("Node") => typed(path, &location, item)
                .map(|x| o.nodes.push(x))
                .is_ok(),
            Some("Pod") => typed(path, &location, item).map(|x| o.pods.push(x)).is_ok(),
            Some("PodDisruptionBudget") => {
                typed(path, &location, item).map(|x| o.pdbs.push(x)).is_ok()
            }
            Some("PriorityClass") => typed(path, &location, item)
                .map(|x| o.priority_classes.push(x))
                .is_ok(),
            Some("Namespace") => typed(path, &location, item)
                .map(|x| o.namespaces.push(x))
                .is_ok(),
            Some(other) => {
                *self.ignored.entry(other.to_string()).or_default() += 1;
                true
            }
            None => false,
        }
    }
}

/// The top-level object of a List: returns its kind, feeding `items` to the sink.
struct ListSeed<'a, 'b>(&'a mut Sink<'b>);

impl<'de> serde::de::DeserializeSeed<'de> for ListSeed<'_, '_> {
    type Value = Option<String>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ListSeed<'_, '_> {
    type Value = Option<String>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a List")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kind = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "kind" => kind = map.next_value::<Value>()?.as_str().map(str::to_string),
                "items" => map.next_value_seed(ItemsSeed(&mut *self.0))?,
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(kind)
    }
}

struct ItemsSeed<'a, 'b>(&'a mut Sink<'b>);

impl<'de> serde::de::DeserializeSeed<'de> for ItemsSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ItemsSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of objects")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(item) = seq.next_element::<Value>()? {
            if !self.0.add(index, item) {
                return Err(serde::de::Error::custom("not a plain dump"));
            }
            index += 1;
        }
        Ok(())
    }
}

fn ignored_warnings(
    path: &Path,
    ignored: std::collections::BTreeMap<String, usize>,
) -> Vec<String> {
    ignored
        .into_iter()
        .map(|(kind, n)| format!("{}: ignored {n} object(s) of kind {kind}", path.display()))
        .collect()
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
        for (location, mut item) in items {
            let kind = item.get("kind").and_then(Value::as_str).map(str::to_string);
            crate::snapshot::slim::json(kind.as_deref(), &mut item);
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
    warnings.extend(ignored_warnings(path, ignored));
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
