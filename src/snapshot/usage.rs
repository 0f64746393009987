//! Measured usage (SPEC §13): what metrics.k8s.io or a Prometheus query
//! reported for the run, next to the requests the rest of the snapshot holds.
//! Collected by the client side before the snapshot is handed to the engine;
//! a source that failed keeps its error, so the strategy that needs it can
//! fail for the run instead of guessing.

use std::collections::{BTreeMap, HashMap};

use super::{NodeId, PerNode, PerPod, Resources, Snapshot};

/// Where a strategy reads node utilization from.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UsageSource {
    /// The requests of the pods on the node (the default).
    #[default]
    Requests,
    /// metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics.
    KubernetesMetrics,
    /// One PromQL instant query per run.
    Prometheus { query: String },
}

impl UsageSource {
    pub fn as_str(&self) -> &'static str {
        match self {
            UsageSource::Requests => "Requests",
            UsageSource::KubernetesMetrics => "KubernetesMetrics",
            UsageSource::Prometheus { .. } => "Prometheus",
        }
    }
}

/// What metrics.k8s.io reported, by name: cpu in millicores, memory in bytes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KubeMetrics {
    pub nodes: BTreeMap<String, Resources>,
    /// By (namespace, name): the pod's containers summed.
    pub pods: BTreeMap<(String, String), Resources>,
}

/// What the collectors returned for one run; `None` / absent: not collected
/// (no policy needed it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UsageInput {
    pub kubernetes: Option<Result<KubeMetrics, String>>,
    /// By query: node name -> value, a ratio (1.0 = fully used).
    pub prometheus: BTreeMap<String, Result<BTreeMap<String, f64>, String>>,
}

/// metrics.k8s.io usage by id; `None` where the source said nothing.
#[derive(Clone, Debug)]
pub struct KubeUsage {
    pub nodes: PerNode<Option<Resources>>,
    pub pods: PerPod<Option<Resources>>,
}

/// The measured usage the snapshot carries, by id.
#[derive(Clone, Debug, Default)]
pub struct MeasuredUsage {
    kubernetes: Option<Result<KubeUsage, String>>,
    prometheus: BTreeMap<String, Result<PerNode<Option<f64>>, String>>,
}

impl MeasuredUsage {
    /// metrics.k8s.io usage; `Err` with why it is not there.
    pub fn kubernetes(&self) -> Result<&KubeUsage, String> {
        match &self.kubernetes {
            Some(Ok(u)) => Ok(u),
            Some(Err(e)) => Err(e.clone()),
            None => Err("metrics.k8s.io usage was not collected".to_string()),
        }
    }

    /// The Prometheus queries of this run.
    pub fn prometheus_queries(&self) -> Vec<&str> {
        self.prometheus.keys().map(String::as_str).collect()
    }

    /// The query's value per node (a ratio); `Err` with why it is not there.
    pub fn prometheus(&self, query: &str) -> Result<&PerNode<Option<f64>>, String> {
        match self.prometheus.get(query) {
            Some(Ok(u)) => Ok(u),
            Some(Err(e)) => Err(e.clone()),
            None => Err("the Prometheus query was not run".to_string()),
        }
    }
}

impl Snapshot {
    /// The snapshot with the measured usage of this run attached, matched to
    /// nodes and pods by name (usage of objects the snapshot lacks is dropped).
    pub fn with_usage(mut self, input: UsageInput) -> Self {
        let node_of = |name: &str| self.node_id(name);
        let kubernetes = input.kubernetes.map(|r| {
            r.map(|m| {
                let mut nodes: PerNode<Option<Resources>> = PerNode::filled(self.nodes.len(), None);
                for (name, u) in m.nodes {
                    if let Some(id) = node_of(&name) {
                        nodes[id] = Some(u);
                    }
                }
                let by_name: HashMap<(&str, &str), _> = self
                    .pods
                    .iter()
                    .map(|(id, p)| ((p.namespace.as_str(), p.name.as_str()), id))
                    .collect();
                let mut pods: PerPod<Option<Resources>> = PerPod::filled(self.pods.len(), None);
                for ((ns, name), u) in m.pods {
                    if let Some(&id) = by_name.get(&(ns.as_str(), name.as_str())) {
                        pods[id] = Some(u);
                    }
                }
                KubeUsage { nodes, pods }
            })
        });
        let prometheus = input
            .prometheus
            .into_iter()
            .map(|(q, r)| {
                let per_node = r.map(|values| {
                    let mut out: PerNode<Option<f64>> = PerNode::filled(self.nodes.len(), None);
                    for (name, v) in values {
                        if let Some(id) = node_of(&name) {
                            out[id] = Some(v);
                        }
                    }
                    out
                });
                (q, per_node)
            })
            .collect();
        self.measured = MeasuredUsage {
            kubernetes,
            prometheus,
        };
        self
    }

    /// The measured usage of this run (SPEC §13).
    pub fn measured(&self) -> &MeasuredUsage {
        &self.measured
    }

    /// Names of `nodes` for a message, at most ten of them (status stays small
    /// on a large cluster).
    pub fn node_names(&self, nodes: &[NodeId]) -> String {
        const SHOWN: usize = 10;
        let mut text = nodes
            .iter()
            .take(SHOWN)
            .map(|&n| self.node(n).name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        if nodes.len() > SHOWN {
            text.push_str(&format!(" and {} more", nodes.len() - SHOWN));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn usage_is_matched_by_name_and_messages_stay_short() {
        let snap = Cluster::with_nodes(12)
            .pod(pod("p").on("n1"))
            .snapshot()
            .with_usage(kube_usage(
                &[("n1", "1", "1Gi"), ("gone", "1", "1Gi")],
                &[("p", "100m", "1Mi"), ("other", "1", "1Mi")],
            ));
        let ku = snap.measured().kubernetes().unwrap();
        let n1 = snap.node_id("n1").unwrap();
        assert_eq!(ku.nodes[n1].as_ref().map(|r| r.cpu), Some(1000));
        assert_eq!(ku.nodes.values().filter(|n| n.is_some()).count(), 1);
        assert_eq!(ku.pods.values().flatten().count(), 1);
        let all: Vec<_> = snap.node_ids().collect();
        assert!(snap.node_names(&all).ends_with(" and 2 more"));
        assert!(snap.measured().prometheus("q").is_err());
    }
}
