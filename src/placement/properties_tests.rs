//! On random small clusters and random sequences of evictions and
//! placements: the model's filter verdict on every node agrees with a naive
//! checker written here from the scheduler's plugins (and from the cluster's
//! description, not from the snapshot), the predicted node passes every
//! filter, None comes only when no node does, and `place` binds where
//! `predict` said.

use proptest::prelude::*;

use super::Model;
use super::test_builders::*;
use crate::snapshot::{NodeId, PodId, Snapshot};
use crate::testing::*;

const APPS: [&str; 3] = ["a", "b", "c"];
const ZONES: [&str; 3] = ["z1", "z2", "z3"];
const DISKS: [&str; 2] = ["ssd", "hdd"];
const EFFECTS: [&str; 3] = ["NoSchedule", "NoExecute", "PreferNoSchedule"];
const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
const NOT_READY: &str = "node.kubernetes.io/not-ready";

#[derive(Clone, Debug)]
struct NodeD {
    zone: Option<usize>,
    disk: Option<usize>,
    /// A `dedicated` taint with this effect.
    taint: Option<usize>,
    cordoned: bool,
    ready: bool,
    cpu_m: i64,
    mem_mi: i64,
    max_pods: i64,
}

/// A topology key: the hostname (true) or the zone.
type Key = bool;

#[derive(Clone, Debug)]
struct PodD {
    node: usize,
    cpu_m: Option<i64>,
    mem_mi: Option<i64>,
    app: usize,
    tolerate_taint: bool,
    tolerate_cordon: bool,
    tolerate_all: bool,
    disk: Option<usize>,
    zones: Option<Vec<usize>>,
    /// Required affinity to pods of an app.
    affinity: Option<(Key, usize)>,
    /// Required anti-affinity against pods of an app.
    anti: Option<(Key, usize)>,
    /// A DoNotSchedule constraint: key, maxSkew, app.
    spread: Option<(Key, i32, usize)>,
    port: Option<i32>,
    terminating: bool,
}

fn node_d() -> impl Strategy<Value = NodeD> {
    (
        prop::option::weighted(0.8, 0..ZONES.len()),
        prop::option::weighted(0.5, 0..DISKS.len()),
        prop::option::weighted(0.25, 0..EFFECTS.len()),
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.9),
        1i64..=8,
        1i64..=16,
        2i64..=8,
    )
        .prop_map(
            |(zone, disk, taint, cordoned, ready, cpu, mem, max_pods)| NodeD {
                zone,
                disk,
                taint,
                cordoned,
                ready,
                cpu_m: cpu * 1000,
                mem_mi: mem * 1024,
                max_pods,
            },
        )
}

fn pod_d(nodes: usize) -> impl Strategy<Value = PodD> {
    let key = any::<bool>();
    (
        (
            0..nodes,
            prop::option::weighted(0.8, (1i64..=8).prop_map(|c| c * 250)),
            prop::option::weighted(0.8, (1i64..=8).prop_map(|m| m * 512)),
            0..APPS.len(),
            prop::bool::weighted(0.3),
            prop::bool::weighted(0.1),
            prop::bool::weighted(0.05),
        ),
        (
            prop::option::weighted(0.2, 0..DISKS.len()),
            prop::option::weighted(0.2, prop::collection::vec(0..ZONES.len(), 1..=2)),
            prop::option::weighted(0.15, (key, 0..APPS.len())),
            prop::option::weighted(0.25, (key, 0..APPS.len())),
            prop::option::weighted(0.25, (key, 1i32..=2, 0..APPS.len())),
            prop::option::weighted(0.2, 80i32..=81),
            prop::bool::weighted(0.1),
        ),
    )
        .prop_map(
            |(
                (node, cpu_m, mem_mi, app, tolerate_taint, tolerate_cordon, tolerate_all),
                (disk, zones, affinity, anti, spread, port, terminating),
            )| PodD {
                node,
                cpu_m,
                mem_mi,
                app,
                tolerate_taint,
                tolerate_cordon,
                tolerate_all,
                disk,
                zones,
                affinity,
                anti,
                spread,
                port,
                terminating,
            },
        )
}

fn world() -> impl Strategy<Value = (Vec<NodeD>, Vec<PodD>, Vec<usize>)> {
    prop::collection::vec(node_d(), 1..=7).prop_flat_map(|nodes| {
        let n = nodes.len();
        (
            Just(nodes),
            prop::collection::vec(pod_d(n), 1..=24),
            prop::collection::vec(any::<usize>(), 1..=10),
        )
    })
}

fn build(nodes: &[NodeD], pods: &[PodD]) -> Snapshot {
    let mut c = Cluster::default();
    for (i, d) in nodes.iter().enumerate() {
        let name = format!("n{i}");
        let mut b = node(&name)
            .label(HOST, &name)
            .cpu(&format!("{}m", d.cpu_m))
            .mem(&format!("{}Mi", d.mem_mi))
            .pods(d.max_pods as u32);
        if let Some(z) = d.zone {
            b = b.label(ZONE, ZONES[z]);
        }
        if let Some(k) = d.disk {
            b = b.label("disk", DISKS[k]);
        }
        if let Some(e) = d.taint {
            b = b.taint("dedicated", "x", EFFECTS[e]);
        }
        if d.cordoned {
            b = b.unschedulable();
        }
        if !d.ready {
            b = b.not_ready();
        }
        c = c.node(b);
    }
    let key = |host: bool| if host { HOST } else { ZONE };
    for (i, d) in pods.iter().enumerate() {
        let cpu = d.cpu_m.map(|m| format!("{m}m")).unwrap_or_default();
        let mem = d.mem_mi.map(|m| format!("{m}Mi")).unwrap_or_default();
        let mut b = pod(&format!("p{i}"))
            .on(&format!("n{}", d.node))
            .req(&cpu, &mem)
            .label("app", APPS[d.app]);
        if d.tolerate_taint {
            b = b.tolerate("dedicated", "", "");
        }
        if d.tolerate_cordon {
            b = b.tolerate(UNSCHEDULABLE, "", "NoSchedule");
        }
        if d.tolerate_all {
            b = b.tolerate("", "", "");
        }
        if let Some(k) = d.disk {
            b = b.node_selector("disk", DISKS[k]);
        }
        if let Some(zs) = &d.zones {
            let values: Vec<&str> = zs.iter().map(|&z| ZONES[z]).collect();
            b = b.require_node(ZONE, &values);
        }
        if let Some((host, app)) = d.affinity {
            b = b.affinity(key(host), &[("app", APPS[app])]);
        }
        if let Some((host, app)) = d.anti {
            b = b.anti_affinity(key(host), &[("app", APPS[app])]);
        }
        if let Some((host, skew, app)) = d.spread {
            b = b.spread(tsc(key(host), skew, true, &[("app", APPS[app])]));
        }
        if let Some(p) = d.port {
            b = b.host_port(p);
        }
        if d.terminating {
            b = b.terminating();
        }
        c = c.pod(b);
    }
    c.snapshot()
}

/// The cluster as the naive checker sees it: which pod (by description) runs
/// where, replacements included.
struct Naive<'w> {
    nodes: &'w [NodeD],
    pods: &'w [PodD],
    /// (description, node, terminating, is a replacement).
    live: Vec<(usize, usize, bool, bool)>,
}

impl<'w> Naive<'w> {
    fn new(nodes: &'w [NodeD], pods: &'w [PodD]) -> Self {
        let live = pods
            .iter()
            .enumerate()
            .map(|(i, p)| (i, p.node, p.terminating, false))
            .collect();
        Self { nodes, pods, live }
    }

    fn remove(&mut self, p: usize) {
        self.live.retain(|&(i, _, _, repl)| repl || i != p);
    }

    fn place(&mut self, p: usize, n: usize) {
        self.live.push((p, n, false, true));
    }

    /// The node's value for a topology key; every node has its hostname.
    fn value(&self, n: usize, host: Key) -> Option<usize> {
        if host { Some(n) } else { self.nodes[n].zone }
    }

    fn node_affinity_ok(&self, pd: &PodD, n: usize) -> bool {
        let nd = &self.nodes[n];
        pd.disk.is_none_or(|d| nd.disk == Some(d))
            && pd
                .zones
                .as_ref()
                .is_none_or(|zs| nd.zone.is_some_and(|z| zs.contains(&z)))
    }

    /// Every filter of the default profile, for what the generator draws.
    fn ok(&self, p: usize, n: usize) -> bool {
        let pd = &self.pods[p];
        let nd = &self.nodes[n];
        // NodeUnschedulable and TaintToleration, with the taints the node
        // lifecycle controller adds to cordoned and NotReady nodes.
        let mut taints: Vec<(&str, &str)> = Vec::new();
        if let Some(e) = nd.taint {
            taints.push(("dedicated", EFFECTS[e]));
        }
        if nd.cordoned {
            taints.push((UNSCHEDULABLE, "NoSchedule"));
        }
        if !nd.ready {
            taints.push((NOT_READY, "NoSchedule"));
        }
        let tolerated = |key: &str, effect: &str| {
            pd.tolerate_all
                || (pd.tolerate_taint && key == "dedicated")
                || (pd.tolerate_cordon && key == UNSCHEDULABLE && effect == "NoSchedule")
        };
        if taints
            .iter()
            .any(|(k, e)| *e != "PreferNoSchedule" && !tolerated(k, e))
        {
            return false;
        }
        if !self.node_affinity_ok(pd, n) {
            return false;
        }
        let here: Vec<&PodD> = self
            .live
            .iter()
            .filter(|l| l.1 == n)
            .map(|l| &self.pods[l.0])
            .collect();
        // NodePorts.
        if pd.port.is_some() && here.iter().any(|o| o.port == pd.port) {
            return false;
        }
        // NodeResourcesFit.
        let cpu: i64 = here.iter().filter_map(|o| o.cpu_m).sum();
        let mem: i64 = here.iter().filter_map(|o| o.mem_mi).sum();
        if here.len() as i64 + 1 > nd.max_pods
            || pd.cpu_m.is_some_and(|c| c > nd.cpu_m - cpu)
            || pd.mem_mi.is_some_and(|m| m > nd.mem_mi - mem)
        {
            return false;
        }
        // PodTopologySpread: DoNotSchedule.
        if let Some((host, skew, app)) = pd.spread {
            let Some(v) = self.value(n, host) else {
                return false;
            };
            let eligible = |m: usize| self.value(m, host).is_some() && self.node_affinity_ok(pd, m);
            let mut counts: std::collections::BTreeMap<usize, i64> = (0..self.nodes.len())
                .filter(|&m| eligible(m))
                .filter_map(|m| self.value(m, host))
                .map(|d| (d, 0))
                .collect();
            for &(i, m, terminating, _) in &self.live {
                if !terminating
                    && self.pods[i].app == app
                    && eligible(m)
                    && let Some(d) = self.value(m, host)
                {
                    *counts.entry(d).or_default() += 1;
                }
            }
            let min = counts.values().copied().min().unwrap_or(0);
            let own = counts.get(&v).copied().unwrap_or(0);
            if own + i64::from(pd.app == app) - min > i64::from(skew) {
                return false;
            }
        }
        // InterPodAffinity: the pod's affinity (a node without the key
        // fails; with no matching pod anywhere, a pod that matches its own
        // term may start the group), its anti-affinity, existing pods'.
        if let Some((host, app)) = pd.affinity {
            let Some(v) = self.value(n, host) else {
                return false;
            };
            let matching: Vec<Option<usize>> = self
                .live
                .iter()
                .filter(|l| self.pods[l.0].app == app)
                .map(|l| self.value(l.1, host))
                .filter(Option::is_some)
                .collect();
            let here = matching.contains(&Some(v));
            let first_of_group = matching.is_empty() && pd.app == app;
            if !(here || first_of_group) {
                return false;
            }
        }
        if let Some((host, app)) = pd.anti
            && let Some(v) = self.value(n, host)
            && self
                .live
                .iter()
                .any(|&(i, m, _, _)| self.pods[i].app == app && self.value(m, host) == Some(v))
        {
            return false;
        }
        self.live
            .iter()
            .all(|&(i, m, _, _)| match self.pods[i].anti {
                Some((host, app)) if app == pd.app => {
                    self.value(m, host).is_none() || self.value(m, host) != self.value(n, host)
                }
                _ => true,
            })
    }
}

fn check_world(nodes: &[NodeD], pods: &[PodD], ops: &[usize]) -> Result<(), TestCaseError> {
    let snap = build(nodes, pods);
    let ids: Vec<PodId> = (0..pods.len())
        .map(|i| pod_id(&snap, &format!("p{i}")))
        .collect();
    let node_ids: Vec<NodeId> = (0..nodes.len())
        .map(|i| node_id(&snap, &format!("n{i}")))
        .collect();
    let mut model = Model::new(&snap);
    let mut naive = Naive::new(nodes, pods);
    for &op in ops {
        let p = op % pods.len();
        model.remove(ids[p]);
        naive.remove(p);
        for (n, &nid) in node_ids.iter().enumerate() {
            let verdict = model.filter(ids[p], nid);
            prop_assert_eq!(
                verdict.is_ok(),
                naive.ok(p, n),
                "p{} on n{}: model says {:?}",
                p,
                n,
                verdict
            );
        }
        let predicted = model.predict(ids[p]);
        match predicted {
            Some(nid) => {
                let n = node_ids
                    .iter()
                    .position(|&x| x == nid)
                    .unwrap_or(usize::MAX);
                prop_assert!(
                    naive.ok(p, n),
                    "p{} predicted on n{}, which rejects it",
                    p,
                    n
                );
            }
            None => prop_assert!(
                (0..nodes.len()).all(|n| !naive.ok(p, n)),
                "p{} predicted Pending, but a node takes it",
                p
            ),
        }
        let placed = model.place(ids[p]);
        prop_assert_eq!(placed, predicted);
        if let Some(nid) = placed
            && let Some(n) = node_ids.iter().position(|&x| x == nid)
        {
            naive.place(p, n);
        }
    }
    Ok(())
}

/// The same sequence on a model that keeps resource scores per request
/// shape and on one that computes them every time: the same decisions.
fn check_kept_scores(nodes: &[NodeD], pods: &[PodD], ops: &[usize]) -> Result<(), TestCaseError> {
    let snap = build(nodes, pods);
    let ids: Vec<PodId> = (0..pods.len())
        .map(|i| pod_id(&snap, &format!("p{i}")))
        .collect();
    let mut kept = Model::new(&snap).score_all_nodes();
    let mut fresh = Model::new(&snap).score_all_nodes().without_kept_scores();
    for &op in ops {
        let p = ids[op % pods.len()];
        kept.remove(p);
        fresh.remove(p);
        let (a, b) = (kept.decide(p), fresh.decide(p));
        prop_assert_eq!(a, b, "p{}", op % pods.len());
        kept.bind(p, a);
        fresh.bind(p, b);
    }
    Ok(())
}

proptest! {
    // 256 cases by default (PROPTEST_CASES overrides): well under a second.
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn predictions_pass_every_filter((nodes, pods, ops) in world()) {
        check_world(&nodes, &pods, &ops)?;
    }

    #[test]
    fn kept_resource_scores_decide_as_fresh_ones((nodes, pods, ops) in world()) {
        check_kept_scores(&nodes, &pods, &ops)?;
    }
}
