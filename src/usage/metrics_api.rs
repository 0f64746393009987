//! The `metrics.k8s.io/v1beta1` lists (NodeMetricsList, PodMetricsList) as
//! the API serves them and `kubectl get --raw` prints them: what the
//! collector reads from the API server and `simulate --metrics` from a file.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use crate::dump::InputError;
use crate::snapshot::{KubeMetrics, Resources};

/// A NodeMetricsList or PodMetricsList (only what the descheduler reads).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MetricsList {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub items: Vec<MetricsItem>,
}

/// A NodeMetrics (`usage`) or a PodMetrics (`containers[].usage`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MetricsItem {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub usage: BTreeMap<String, Quantity>,
    #[serde(default)]
    pub containers: Vec<ContainerMetrics>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ContainerMetrics {
    #[serde(default)]
    pub usage: BTreeMap<String, Quantity>,
}

/// cpu (millicores) and memory (bytes) per node name.
pub fn node_usage(list: &MetricsList) -> BTreeMap<String, Resources> {
    list.items
        .iter()
        .filter_map(|i| {
            let name = i.metadata.name.clone()?;
            Some((name, Resources::from_list(Some(&i.usage))))
        })
        .collect()
}

/// cpu and memory per (namespace, pod name), the containers summed.
pub fn pod_usage(list: &MetricsList) -> BTreeMap<(String, String), Resources> {
    list.items
        .iter()
        .filter_map(|i| {
            let key = (i.metadata.namespace.clone()?, i.metadata.name.clone()?);
            let mut total = Resources::default();
            for c in &i.containers {
                total.add(&Resources::from_list(Some(&c.usage)));
            }
            Some((key, total))
        })
        .collect()
}

/// The documents of a metrics file: concatenated JSON documents (as two
/// `kubectl get --raw` calls print them) or a YAML stream.
fn documents(path: &Path, text: &str) -> Result<Vec<serde_json::Value>, InputError> {
    let json: Result<Vec<serde_json::Value>, _> = serde_json::Deserializer::from_str(text)
        .into_iter::<serde_json::Value>()
        .collect();
    match json {
        Ok(docs) => Ok(docs),
        Err(_) => crate::yaml::documents(text).map_err(|e| InputError::Yaml {
            path: path.to_path_buf(),
            line: e.line,
            column: e.column,
            message: e.message,
        }),
    }
}

/// A `simulate --metrics` file: one NodeMetricsList and, optionally, one
/// PodMetricsList (without it no pod's share is known, so LowNodeUtilization
/// moves nothing by KubernetesMetrics).
pub fn parse_file(path: &Path, text: &str) -> Result<KubeMetrics, InputError> {
    let object = |location: String, message: String| InputError::Object {
        path: path.to_path_buf(),
        location,
        message,
    };
    let mut out = KubeMetrics::default();
    let mut saw_nodes = false;
    for (i, doc) in documents(path, text)?.into_iter().enumerate() {
        let location = format!("document {}", i + 1);
        let list: MetricsList = serde_json::from_value(doc)
            .map_err(|e| object(location.clone(), format!("not a metrics list: {e}")))?;
        match list.kind.as_str() {
            "NodeMetricsList" => {
                saw_nodes = true;
                out.nodes.extend(node_usage(&list));
            }
            "PodMetricsList" => out.pods.extend(pod_usage(&list)),
            other => {
                return Err(object(
                    location,
                    format!(
                        "kind {other:?}: expected NodeMetricsList or PodMetricsList (kubectl get --raw /apis/metrics.k8s.io/v1beta1/nodes, .../pods)"
                    ),
                ));
            }
        }
    }
    if !saw_nodes {
        return Err(InputError::Policy {
            path: path.to_path_buf(),
            message:
                "holds no NodeMetricsList (kubectl get --raw /apis/metrics.k8s.io/v1beta1/nodes)"
                    .into(),
        });
    }
    Ok(out)
}

/// Reads a `simulate --metrics` file.
pub fn load_file(path: &Path) -> Result<KubeMetrics, InputError> {
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_file(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: &str = r#"{"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":[{"metadata":{"name":"n1"},"timestamp":"2026-12-02T10:00:00Z","window":"10s","usage":{"cpu":"3500012345n","memory":"2097152Ki"}}]}"#;
    const PODS: &str = r#"{"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":[{"metadata":{"name":"hog","namespace":"a"},"timestamp":"2026-12-02T10:00:00Z","window":"10s","containers":[{"name":"x","usage":{"cpu":"1","memory":"1Mi"}},{"name":"y","usage":{"cpu":"500m","memory":"1Mi"}}]}]}"#;

    #[test]
    fn json_documents_or_a_yaml_stream() {
        let p = Path::new("m.json");
        let want = |m: &KubeMetrics| {
            assert_eq!(m.nodes["n1"].cpu, 3501);
            assert_eq!(m.nodes["n1"].memory, 2 << 30);
            let hog = &m.pods[&("a".to_string(), "hog".to_string())];
            assert_eq!((hog.cpu, hog.memory), (1500, 2 << 20));
        };
        want(&parse_file(p, &format!("{NODES}{PODS}")).unwrap());
        want(&parse_file(p, &format!("{NODES}\n{PODS}\n")).unwrap());
        want(&parse_file(p, &format!("---\n{NODES}\n---\n{PODS}\n")).unwrap());
    }

    #[test]
    fn other_kinds_and_no_node_list_are_errors() {
        let p = Path::new("m.yaml");
        let e = parse_file(p, "kind: PodList\nitems: []\n").unwrap_err();
        assert!(
            e.to_string().contains("document 1: kind \"PodList\""),
            "{e}"
        );
        let e = parse_file(p, PODS).unwrap_err();
        assert!(e.to_string().contains("holds no NodeMetricsList"), "{e}");
        let e = parse_file(p, "kind: [").unwrap_err();
        assert!(matches!(e, InputError::Yaml { .. }), "{e}");
    }
}
