//! The incoming pod as the scheduler's PreFilter / PreScore see it: its
//! requests (as the filter and as the scores count them), host ports, parsed
//! inter-pod affinity terms and topology spread constraints.

use k8s_openapi::api::core::v1::{Container, PodAffinityTerm, PodSpec, TopologySpreadConstraint};

use crate::selectors::{Labels, Selector};
use crate::snapshot::resources::{milli_to_units_ceil, parse_quantity_milli};
use crate::snapshot::{OwnerRef, PodId, PodInfo, Snapshot};

pub(crate) const HOSTNAME: &str = "kubernetes.io/hostname";
pub(crate) const ZONE: &str = "topology.kubernetes.io/zone";

/// The requests kube-scheduler assumes, for scoring only, for a container
/// that requests no cpu or memory (`schedutil.DefaultMilliCPURequest`,
/// `DefaultMemoryRequest`).
pub(crate) const DEFAULT_CPU: i64 = 100;
pub(crate) const DEFAULT_MEMORY: i64 = 200 * 1024 * 1024;

/// Which namespaces an affinity term looks in: those it names, plus those
/// its namespaceSelector matches; the holder's own when it has neither.
#[derive(Debug)]
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
pub(crate) enum Select {
    /// A missing or unparseable labelSelector: none (and not the pod itself).
    Nothing,
    /// The selector, with matchLabelKeys merged in. The empty selector counts
    /// no pod but matches the incoming one, as the scheduler has it.
    Labels(Selector),
    /// The system default constraints' selector (the pod's Services,
    /// ReplicaSet, StatefulSet or ReplicationController), approximated by the
    /// pods of the same controller.
    Owner(OwnerRef),
}

#[derive(Debug)]
pub(crate) struct Constraint {
    pub key: String,
    pub max_skew: i64,
    pub min_domains: i64,
    pub honor_affinity: bool,
    pub honor_taints: bool,
    pub select: Select,
}

impl Constraint {
    fn new(c: &TopologySpreadConstraint, labels: &Labels) -> Self {
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
            key: c.topology_key.clone(),
            max_skew: i64::from(c.max_skew),
            min_domains: i64::from(c.min_domains.unwrap_or(1)),
            honor_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
            select,
        }
    }

    fn system_default(key: &str, max_skew: i64, owner: &OwnerRef) -> Self {
        Self {
            key: key.to_string(),
            max_skew,
            min_domains: 1,
            honor_affinity: true,
            honor_taints: false,
            select: Select::Owner(owner.clone()),
        }
    }

    /// Whether the incoming pod itself matches (`selfMatchNum`).
    pub(crate) fn matches_self(&self, pod: &PodInfo) -> bool {
        match &self.select {
            Select::Nothing => false,
            Select::Labels(s) => s.matches(pod.labels()),
            Select::Owner(o) => pod.owner.as_ref() == Some(o),
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

/// The host ports of the containers and of the restartable init containers
/// (sidecars), which run as long as the pod.
pub(crate) fn host_ports(spec: &PodSpec) -> Vec<HostPort> {
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    sidecars
        .chain(spec.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let port = p.host_port.filter(|&hp| hp > 0)?;
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

/// A container's cpu (millicores) and memory (bytes) request for scoring:
/// the request (or, as API defaulting does, the limit), else the defaults.
fn container_nonzero(c: &Container) -> (i64, i64) {
    let res = c.resources.as_ref();
    let get = |name: &str| {
        let q = res
            .and_then(|r| r.requests.as_ref())
            .and_then(|m| m.get(name))
            .or_else(|| {
                res.and_then(|r| r.limits.as_ref())
                    .and_then(|m| m.get(name))
            })?;
        Some(parse_quantity_milli(&q.0).unwrap_or(0).max(0))
    };
    let cpu = get("cpu").map_or(DEFAULT_CPU, |m| m.min(i64::MAX as i128) as i64);
    let memory = get("memory").map_or(DEFAULT_MEMORY, |m| {
        milli_to_units_ceil(m).min(i64::MAX as i128) as i64
    });
    (cpu, memory)
}

fn has_request(c: &Container, name: &str) -> bool {
    c.resources.as_ref().is_some_and(|r| {
        r.requests.as_ref().is_some_and(|m| m.contains_key(name))
            || r.limits.as_ref().is_some_and(|m| m.contains_key(name))
    })
}

/// The pod's cpu and memory requests as LeastAllocated counts them
/// (`NonMissingContainerRequests`): containers without a request count the
/// defaults; init containers and overhead as for the filter.
pub(crate) fn nonzero(pod: &PodInfo) -> (i64, i64) {
    let spec = pod.spec();
    let inits = spec.init_containers.as_deref().unwrap_or_default();
    if inits.is_empty() {
        // The requests already sum the containers and the overhead.
        let missing = |name| {
            spec.containers
                .iter()
                .filter(|c| !has_request(c, name))
                .count() as i64
        };
        return (
            pod.requests.cpu + missing("cpu") * DEFAULT_CPU,
            pod.requests.memory + missing("memory") * DEFAULT_MEMORY,
        );
    }
    let (mut cpu, mut memory) = (0i64, 0i64);
    for c in &spec.containers {
        let (c, m) = container_nonzero(c);
        cpu = cpu.saturating_add(c);
        memory = memory.saturating_add(m);
    }
    let (mut side_cpu, mut side_mem, mut init_cpu, mut init_mem) = (0i64, 0i64, 0i64, 0i64);
    for c in inits {
        let (cc, cm) = container_nonzero(c);
        if c.restart_policy.as_deref() == Some("Always") {
            side_cpu = side_cpu.saturating_add(cc);
            side_mem = side_mem.saturating_add(cm);
            cpu = cpu.saturating_add(cc);
            memory = memory.saturating_add(cm);
        } else {
            init_cpu = init_cpu.max(side_cpu.saturating_add(cc));
            init_mem = init_mem.max(side_mem.saturating_add(cm));
        }
    }
    let overhead = crate::snapshot::Resources::from_list(spec.overhead.as_ref());
    (
        cpu.max(init_cpu).saturating_add(overhead.cpu),
        memory.max(init_mem).saturating_add(overhead.memory),
    )
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
    pub hard: Vec<Constraint>,
    /// ScheduleAnyway constraints, or the system defaults.
    pub soft: Vec<Constraint>,
    /// Nodes lacking a soft constraint's key are not scored (false for the
    /// system defaults, so that nodes without a zone still spread by host).
    pub soft_require_all: bool,
}

impl<'s> Profile<'s> {
    /// `nonzero`: the pod's [`nonzero`], which the model keeps per pod.
    pub(crate) fn new(snap: &'s Snapshot, id: PodId, nonzero: (i64, i64)) -> Self {
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
            nonzero,
            ports: host_ports(spec),
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

fn constraints(pod: &PodInfo) -> (Vec<Constraint>, Vec<Constraint>, bool) {
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
    let of = |action: &str| -> Vec<Constraint> {
        tscs.iter()
            .filter(|c| c.when_unsatisfiable == action)
            .map(|c| Constraint::new(c, pod.labels()))
            .collect()
    };
    (of("DoNotSchedule"), of("ScheduleAnyway"), true)
}
