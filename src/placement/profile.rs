//! The incoming pod as the scheduler's PreFilter / PreScore see it: its
//! requests (as the filter and as the scores count them), host ports, parsed
//! inter-pod affinity terms and topology spread constraints.

use k8s_openapi::api::core::v1::{PodAffinityTerm, TopologySpreadConstraint};

use crate::selectors::{Labels, Selector};
use crate::snapshot::{OwnerRef, PodId, PodInfo, Snapshot, host_port_entries};

pub(crate) const HOSTNAME: &str = "kubernetes.io/hostname";
pub(crate) const ZONE: &str = "topology.kubernetes.io/zone";

/// Which namespaces an affinity term looks in: those it names, plus those
/// its namespaceSelector matches; the holder's own when it has neither.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct NsScope {
    names: Vec<String>,
    /// None: no namespaceSelector (or one that does not parse), matching no
    /// namespace; `{}` is `Some(everything)`.
    selector: Option<Selector>,
}

impl NsScope {
    fn new(term: &PodAffinityTerm, own_ns: &str) -> Self {
        let names = term.namespaces.clone().unwrap_or_default();
        match &term.namespace_selector {
            None if names.is_empty() => Self {
                names: vec![own_ns.to_string()],
                selector: None,
            },
            None => Self {
                names,
                selector: None,
            },
            Some(sel) => Self {
                names,
                selector: Selector::from_label_selector(sel).ok(),
            },
        }
    }

    pub(crate) fn contains(&self, snap: &Snapshot, ns: &str) -> bool {
        self.names.iter().any(|n| n == ns)
            || self
                .selector
                .as_ref()
                .is_some_and(|s| s.matches_opt(snap.namespace_labels(ns)))
    }

    /// The namespaces by name, when no selector widens them.
    pub(crate) fn only_names(&self) -> Option<&[String]> {
        self.selector.is_none().then_some(self.names.as_slice())
    }
}

/// A parsed pod (anti-)affinity term.
#[derive(Debug)]
pub(crate) struct Term {
    pub key: String,
    pub scope: NsScope,
    /// None selects nothing (a missing or unparseable labelSelector).
    pub selector: Option<Selector>,
    pub weight: i64,
}

impl Term {
    pub(crate) fn new(t: &PodAffinityTerm, own_ns: &str, weight: i64) -> Self {
        Self {
            key: t.topology_key.clone(),
            scope: NsScope::new(t, own_ns),
            selector: t
                .label_selector
                .as_ref()
                .and_then(|s| Selector::from_label_selector(s).ok()),
            weight,
        }
    }

    /// Whether the term selects a pod in `ns` with `labels`.
    pub(crate) fn selects(&self, snap: &Snapshot, ns: &str, labels: &Labels) -> bool {
        self.selector.as_ref().is_some_and(|s| s.matches(labels)) && self.scope.contains(snap, ns)
    }
}

/// Which pods a topology spread constraint counts.
#[derive(Debug)]
pub(crate) enum Select<'s> {
    /// A missing or unparseable labelSelector: none (and not the pod itself).
    Nothing,
    /// The selector, with matchLabelKeys merged in. The empty selector counts
    /// no pod but matches the incoming one, as the scheduler has it.
    Labels(Selector),
    /// The system default constraints' selector (the pod's Services,
    /// ReplicaSet, StatefulSet or ReplicationController), approximated by the
    /// pods of the same controller.
    Owner(&'s OwnerRef),
}

#[derive(Debug)]
pub(crate) struct Constraint<'s> {
    /// Borrowed from the pod's spec, or the system default's key.
    pub key: &'s str,
    pub max_skew: i64,
    pub min_domains: i64,
    pub honor_affinity: bool,
    pub honor_taints: bool,
    pub select: Select<'s>,
}

impl<'s> Constraint<'s> {
    fn new(c: &'s TopologySpreadConstraint, labels: &Labels) -> Self {
        let select = match c.label_selector.as_ref().map(Selector::from_label_selector) {
            Some(Ok(mut s)) => {
                for k in c.match_label_keys.iter().flatten() {
                    if let Some(v) = labels.get(k) {
                        s = s.and_equals(k, v);
                    }
                }
                Select::Labels(s)
            }
            _ => Select::Nothing,
        };
        Self {
            key: &c.topology_key,
            max_skew: i64::from(c.max_skew),
            min_domains: i64::from(c.min_domains.unwrap_or(1)),
            honor_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
            select,
        }
    }

    fn system_default(key: &'static str, max_skew: i64, owner: &'s OwnerRef) -> Self {
        Self {
            key,
            max_skew,
            min_domains: 1,
            honor_affinity: true,
            honor_taints: false,
            select: Select::Owner(owner),
        }
    }

    /// Whether the incoming pod itself matches (`selfMatchNum`).
    pub(crate) fn matches_self(&self, pod: &PodInfo) -> bool {
        match &self.select {
            Select::Nothing => false,
            Select::Labels(s) => s.matches(pod.labels()),
            Select::Owner(o) => pod.owner.as_ref() == Some(*o),
        }
    }
}

/// A host port as the NodePorts plugin compares them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostPort {
    ip: String,
    protocol: String,
    port: i32,
}

const ANY_IP: &str = "0.0.0.0";

impl HostPort {
    /// Two uses of a port conflict on the same protocol and port when either
    /// binds every address or both bind the same one.
    pub(crate) fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == ANY_IP || other.ip == ANY_IP || self.ip == other.ip)
    }
}

/// The pod's host ports; none without reading the spec when the snapshot
/// saw none.
pub(crate) fn host_ports(pod: &PodInfo) -> Vec<HostPort> {
    if !pod.host_ports {
        return Vec::new();
    }
    host_port_entries(pod.spec())
        .filter_map(|p| {
            let port = p.host_port?;
            Some(HostPort {
                ip: p
                    .host_ip
                    .clone()
                    .filter(|ip| !ip.is_empty())
                    .unwrap_or_else(|| ANY_IP.to_string()),
                protocol: p
                    .protocol
                    .clone()
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "TCP".to_string()),
                port,
            })
        })
        .collect()
}

/// The incoming pod, compiled once per scheduling cycle.
pub(crate) struct Profile<'s> {
    pub pod: &'s PodInfo,
    /// cpu and memory as LeastAllocated counts them.
    pub nonzero: (i64, i64),
    pub ports: Vec<HostPort>,
    pub required_affinity: Vec<Term>,
    pub required_anti: Vec<Term>,
    /// Preferred affinity (positive weight) and anti-affinity (negative).
    pub preferred: Vec<Term>,
    /// DoNotSchedule constraints.
    pub hard: Vec<Constraint<'s>>,
    /// ScheduleAnyway constraints, or the system defaults.
    pub soft: Vec<Constraint<'s>>,
    /// Nodes lacking a soft constraint's key are not scored (false for the
    /// system defaults, so that nodes without a zone still spread by host).
    pub soft_require_all: bool,
}

impl<'s> Profile<'s> {
    pub(crate) fn new(snap: &'s Snapshot, id: PodId) -> Self {
        let pod = snap.pod(id);
        let spec = pod.spec();
        let ns = pod.namespace.as_str();
        let aff = spec.affinity.as_ref();
        let pa = aff.and_then(|a| a.pod_affinity.as_ref());
        let anti = aff.and_then(|a| a.pod_anti_affinity.as_ref());
        let required = |terms: Option<&Vec<PodAffinityTerm>>| -> Vec<Term> {
            terms
                .into_iter()
                .flatten()
                .map(|t| Term::new(t, ns, 1))
                .collect()
        };
        let mut preferred: Vec<Term> = Vec::new();
        for (list, sign) in [
            (
                pa.and_then(|p| {
                    p.preferred_during_scheduling_ignored_during_execution
                        .as_ref()
                }),
                1,
            ),
            (
                anti.and_then(|p| {
                    p.preferred_during_scheduling_ignored_during_execution
                        .as_ref()
                }),
                -1,
            ),
        ] {
            for w in list.into_iter().flatten() {
                preferred.push(Term::new(
                    &w.pod_affinity_term,
                    ns,
                    sign * i64::from(w.weight),
                ));
            }
        }
        let (hard, soft, soft_require_all) = constraints(pod);
        Self {
            pod,
            nonzero: pod.nonzero_requests,
            ports: host_ports(pod),
            required_affinity: required(pa.and_then(|p| {
                p.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            required_anti: required(anti.and_then(|p| {
                p.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred,
            hard,
            soft,
            soft_require_all,
        }
    }
}

/// The controllers whose selector kube-scheduler's system default spreading
/// uses (with Services, which the snapshot does not hold).
const DEFAULT_SPREAD_OWNERS: [&str; 3] = ["ReplicaSet", "StatefulSet", "ReplicationController"];

fn constraints(pod: &PodInfo) -> (Vec<Constraint<'_>>, Vec<Constraint<'_>>, bool) {
    let tscs = pod
        .spec()
        .topology_spread_constraints
        .as_deref()
        .unwrap_or_default();
    if tscs.is_empty() {
        let soft = match &pod.owner {
            Some(o) if DEFAULT_SPREAD_OWNERS.contains(&o.kind.as_str()) => vec![
                Constraint::system_default(HOSTNAME, 3, o),
                Constraint::system_default(ZONE, 5, o),
            ],
            _ => Vec::new(),
        };
        return (Vec::new(), soft, false);
    }
    let of = |action: &str| -> Vec<Constraint<'_>> {
        tscs.iter()
            .filter(|c| c.when_unsatisfiable == action)
            .map(|c| Constraint::new(c, pod.labels()))
            .collect()
    };
    (of("DoNotSchedule"), of("ScheduleAnyway"), true)
}
