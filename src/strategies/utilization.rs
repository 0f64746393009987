//! Node usage as percentages, shared by LowNodeUtilization and HighNodeUtilization.

use std::collections::BTreeMap;

use crate::api;
use crate::plan::{Ledger, NodeClass, NodeFigure};
use crate::snapshot::{NodeId, PerNode, PerPod, PodId, Resources, Snapshot, UsageSource};
use crate::validation::Errors;

/// Percentages per resource name.
pub type Thresholds = BTreeMap<String, f64>;

const NATIVE_RESOURCES: [&str; 3] = ["cpu", "memory", "pods"];

/// An extended resource name is domain-qualified (`example.com/gpu`) outside kubernetes.io.
fn valid_resource_name(name: &str) -> bool {
    if NATIVE_RESOURCES.contains(&name) {
        return true;
    }
    match name.split_once('/') {
        Some((domain, res)) => {
            !domain.is_empty()
                && !res.is_empty()
                && !domain.ends_with("kubernetes.io")
                && domain
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
                && res
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        }
        None => false,
    }
}

/// The single resource Prometheus thresholds name (SPEC §13).
pub const METRIC_RESOURCE: &str = "MetricResource";

/// The map when it is non-empty with valid names (for the source: natives
/// for KubernetesMetrics, MetricResource alone for Prometheus) and values in
/// 0..100.
pub fn check_thresholds(
    map: Option<&Thresholds>,
    field: &str,
    source: &UsageSource,
    errs: &mut Errors,
) -> Option<Thresholds> {
    let Some(map) = map.filter(|m| !m.is_empty()) else {
        errs.push(field, "must list at least one resource");
        return None;
    };
    let mut ok = true;
    for (name, v) in map {
        let problem = match source {
            UsageSource::Prometheus { .. } if name != METRIC_RESOURCE => Some(format!(
                "is not {METRIC_RESOURCE}, the only resource with metricsUtilization.source Prometheus"
            )),
            UsageSource::Prometheus { .. } => None,
            _ if name == METRIC_RESOURCE => Some(format!(
                "{METRIC_RESOURCE} is only measured with metricsUtilization.source Prometheus"
            )),
            UsageSource::KubernetesMetrics if !NATIVE_RESOURCES.contains(&name.as_str()) => {
                Some(
                    "is an extended resource; metricsUtilization.source KubernetesMetrics measures cpu and memory only (pods is a count)"
                        .to_string(),
                )
            }
            _ if !valid_resource_name(name) => Some(
                "is not cpu, memory, pods or an extended resource name (domain/name)".to_string(),
            ),
            _ => None,
        };
        if let Some(problem) = problem {
            errs.push(format!("{field}.{name}"), problem);
            ok = false;
        }
        if !(0.0..=100.0).contains(v) || v.is_nan() {
            errs.push(format!("{field}.{name}"), format!("{v} is outside 0..100"));
            ok = false;
        }
    }
    ok.then(|| map.clone())
}

/// `nodeResourceUtilizationThresholds.metricsUtilization` as a source, and
/// whether it is usable (the problems go to `errs`). An unusable source is
/// still returned, so the thresholds are checked against what was meant.
pub fn check_source(
    m: Option<&api::MetricsUtilization>,
    base: &str,
    errs: &mut Errors,
) -> (UsageSource, bool) {
    let Some(m) = m else {
        return (UsageSource::Requests, true);
    };
    let at = format!("{base}.metricsUtilization");
    match m.source {
        api::MetricsSource::KubernetesMetrics => {
            let ok = m.prometheus.is_none();
            if !ok {
                errs.push(
                    format!("{at}.prometheus"),
                    "is only read with source Prometheus",
                );
            }
            (UsageSource::KubernetesMetrics, ok)
        }
        api::MetricsSource::Prometheus => {
            let query = m
                .prometheus
                .as_ref()
                .and_then(|p| p.query.as_deref())
                .map(str::trim)
                .unwrap_or_default()
                .to_string();
            let ok = !query.is_empty();
            if !ok {
                errs.push(
                    format!("{at}.prometheus.query"),
                    "is required with source Prometheus",
                );
            }
            (UsageSource::Prometheus { query }, ok)
        }
    }
}

/// A native resource missing from the maps counts as 100 (SPEC §1); with
/// Prometheus the one metric is all there is.
pub fn fill_natives(map: &mut Thresholds, source: &UsageSource) {
    if matches!(source, UsageSource::Prometheus { .. }) {
        return;
    }
    for r in NATIVE_RESOURCES {
        map.entry(r.to_string()).or_insert(100.0);
    }
}

/// How one strategy sees node usage during its turn: the requests the ledger
/// keeps up to date, or what a metrics source measured, minus what the run's
/// evictions so far take away.
pub struct Loads<'s> {
    kind: Kind<'s>,
}

enum Kind<'s> {
    Requests,
    /// cpu and memory as measured; pods (and anything else) from the ledger.
    Kubernetes {
        nodes: PerNode<Resources>,
        pods: &'s PerPod<Option<Resources>>,
    },
    /// Percent per node; a pod's share is not known.
    Prometheus {
        percent: PerNode<f64>,
    },
}

impl<'s> Loads<'s> {
    /// The view for `source`; `Err` (a message for status) when a node in
    /// `nodes` has no measurement: the strategy then does nothing this run.
    pub fn new(
        ledger: &Ledger<'s>,
        source: &UsageSource,
        nodes: &[NodeId],
    ) -> Result<Self, String> {
        let snap: &'s Snapshot = ledger.snap;
        let kind = match source {
            UsageSource::Requests => Kind::Requests,
            UsageSource::KubernetesMetrics => {
                let ku = snap
                    .measured()
                    .kubernetes()
                    .map_err(|e| format!("no usage from metrics.k8s.io: {e}"))?;
                let missing: Vec<NodeId> = nodes
                    .iter()
                    .copied()
                    .filter(|&n| ku.nodes[n].is_none())
                    .collect();
                if !missing.is_empty() {
                    return Err(format!(
                        "metrics.k8s.io has no NodeMetrics for {}",
                        snap.node_names(&missing)
                    ));
                }
                let mut table: PerNode<Resources> = ku
                    .nodes
                    .values()
                    .map(|u| u.clone().unwrap_or_default())
                    .collect();
                // Earlier strategies of this run already took these pods away.
                for n in snap.node_ids() {
                    for &p in snap.pods_on(n) {
                        if ledger.is_evicted(p)
                            && let Some(u) = &ku.pods[p]
                        {
                            sub_measured(&mut table[n], u);
                        }
                    }
                }
                Kind::Kubernetes {
                    nodes: table,
                    pods: &ku.pods,
                }
            }
            UsageSource::Prometheus { query } => {
                let values = snap
                    .measured()
                    .prometheus(query)
                    .map_err(|e| format!("no usage from Prometheus: {e}"))?;
                let missing: Vec<NodeId> = nodes
                    .iter()
                    .copied()
                    .filter(|&n| !values[n].is_some_and(|v| v.is_finite() && v >= 0.0))
                    .collect();
                if !missing.is_empty() {
                    return Err(format!(
                        "the Prometheus query returned no usable sample (instance=<node>, a value >= 0) for {}",
                        snap.node_names(&missing)
                    ));
                }
                Kind::Prometheus {
                    percent: values.values().map(|v| v.unwrap_or(0.0) * 100.0).collect(),
                }
            }
        };
        Ok(Self { kind })
    }

    pub fn is_measured(&self) -> bool {
        !matches!(self.kind, Kind::Requests)
    }

    /// Prometheus knows nodes only: what evicting a pod frees is unknown.
    pub fn knows_pods(&self) -> bool {
        !matches!(self.kind, Kind::Prometheus { .. })
    }

    /// Usage of one resource on a node, in the resource's units.
    pub fn amount(&self, ledger: &Ledger<'_>, node: NodeId, resource: &str) -> i64 {
        match &self.kind {
            Kind::Kubernetes { nodes, .. } if matches!(resource, "cpu" | "memory") => {
                nodes[node].get(resource)
            }
            _ => ledger.usage(node).get(resource),
        }
    }

    /// Usage of one resource on a node, as a percentage of its allocatable.
    pub fn percent(&self, ledger: &Ledger<'_>, node: NodeId, resource: &str) -> f64 {
        match &self.kind {
            Kind::Prometheus { percent } if resource == METRIC_RESOURCE => percent[node],
            _ => Resources::percent(
                self.amount(ledger, node, resource),
                ledger.snap.node(node).allocatable.get(resource),
            ),
        }
    }

    /// Room below `pct` percent on a node, in the resource's units (for
    /// Prometheus, in thousandths of a percent point of the metric).
    pub fn room(&self, ledger: &Ledger<'_>, node: NodeId, resource: &str, pct: f64) -> i64 {
        match &self.kind {
            Kind::Prometheus { percent } if resource == METRIC_RESOURCE => {
                ((pct - percent[node]) * 1000.0) as i64
            }
            _ => {
                (ledger.snap.node(node).allocatable.get(resource) as f64 * pct / 100.0) as i64
                    - self.amount(ledger, node, resource)
            }
        }
    }

    /// What evicting the pod takes off its node; `None` when not known (a
    /// pod without PodMetrics, or Prometheus).
    pub fn share(&self, ledger: &Ledger<'_>, pod: PodId) -> Option<Resources> {
        let requests = &ledger.snap.pod(pod).requests;
        match &self.kind {
            Kind::Requests => Some(requests.clone()),
            Kind::Kubernetes { pods, .. } => pods[pod].as_ref().map(|u| {
                let mut share = requests.clone();
                share.cpu = u.cpu;
                share.memory = u.memory;
                share
            }),
            Kind::Prometheus { .. } => None,
        }
    }

    /// The pod left its node in this run (the ledger has already taken its
    /// requests off).
    pub fn evicted(&mut self, ledger: &Ledger<'_>, pod: PodId) {
        if let Kind::Kubernetes { nodes, pods } = &mut self.kind
            && let (Some(n), Some(u)) = (ledger.snap.pod(pod).node, &pods[pod])
        {
            sub_measured(&mut nodes[n], u);
        }
    }

    /// The figures status shows for a node (what a user compares with
    /// `kubectl top nodes`).
    pub fn figure(
        &self,
        ledger: &Ledger<'_>,
        node: NodeId,
        class: NodeClass,
        limits: &Thresholds,
    ) -> NodeFigure {
        let (cpu, memory) = match &self.kind {
            Kind::Kubernetes { nodes, .. } => (Some(nodes[node].cpu), Some(nodes[node].memory)),
            _ => (None, None),
        };
        NodeFigure {
            node,
            class,
            cpu,
            memory,
            percent: limits
                .keys()
                .map(|r| (r.clone(), self.percent(ledger, node, r)))
                .collect(),
        }
    }
}

impl Loads<'_> {
    /// Records, when usage is measured, the figures of the first
    /// [`MAX_FIGURES`] nodes with the class `class_of` gives each.
    pub fn record(
        &self,
        ledger: &mut Ledger<'_>,
        source: &UsageSource,
        nodes: &[NodeId],
        limits: &Thresholds,
        class_of: impl Fn(NodeId) -> NodeClass,
    ) {
        if !self.is_measured() {
            return;
        }
        let figures = nodes
            .iter()
            .take(MAX_FIGURES)
            .map(|&n| self.figure(ledger, n, class_of(n), limits))
            .collect();
        ledger.record_usage(source.as_str(), figures);
    }
}

fn sub_measured(node: &mut Resources, pod: &Resources) {
    node.cpu = node.cpu.saturating_sub(pod.cpu).max(0);
    node.memory = node.memory.saturating_sub(pod.memory).max(0);
}

/// Below the threshold for every listed resource.
pub fn below_all(
    loads: &Loads<'_>,
    ledger: &Ledger<'_>,
    node: NodeId,
    limits: &Thresholds,
) -> bool {
    limits
        .iter()
        .all(|(r, &limit)| loads.percent(ledger, node, r) < limit)
}

/// Above the threshold for any listed resource.
pub fn above_any(
    loads: &Loads<'_>,
    ledger: &Ledger<'_>,
    node: NodeId,
    limits: &Thresholds,
) -> bool {
    limits
        .iter()
        .any(|(r, &limit)| loads.percent(ledger, node, r) > limit)
}

/// The sum of the listed resources' percentages: how "used" a node is, for ordering.
pub fn score(loads: &Loads<'_>, ledger: &Ledger<'_>, node: NodeId, resources: &Thresholds) -> f64 {
    resources
        .keys()
        .map(|r| loads.percent(ledger, node, r))
        .sum()
}

/// At most this many nodes' figures per strategy in status.
pub const MAX_FIGURES: usize = 100;

/// Capacity per listed resource, in each resource's own units.
pub type Capacity = Vec<(String, i64)>;

pub fn take(capacity: &mut Capacity, requests: &Resources) {
    for (r, v) in capacity.iter_mut() {
        *v = v.saturating_sub(requests.get(r));
    }
}

pub fn all_positive(capacity: &Capacity) -> bool {
    capacity.iter().all(|(_, v)| *v > 0)
}
