//! The re-check of an approved plan: on random clusters, random approved
//! plans and random changes between plan and approval, nothing outside the
//! approved plan is ever taken, and every approved pod is accounted for.

use std::collections::HashSet;

use proptest::prelude::*;

use super::*;
use crate::testing::*;

const POLICY: &str = "strategies: {
    PodLifeTime: {params: {podLifeTime: {maxPodLifeTimeSeconds: 600}}},
    RemovePodsHavingTooManyRestarts: {params: {podsHavingTooManyRestarts: {podRestartThreshold: 3}}},
    RemovePodsViolatingNodeTaints: {}}";

const NODES: [&str; 3] = ["n1", "n2", "n3"];
const STRATEGIES: [&str; 3] = [
    "PodLifeTime",
    "RemovePodsHavingTooManyRestarts",
    "RemovePodsViolatingNodeTaints",
];

#[derive(Clone, Debug)]
struct PodDesc {
    node: usize,
    old: bool,
    restarts: i32,
    bare: bool,
    tolerates: bool,
}

#[derive(Clone, Debug)]
enum Change {
    Keep,
    Delete,
    Move(usize),
    Young,
    Restarts(i32),
}

fn pod_desc() -> impl Strategy<Value = PodDesc> {
    (
        0..3usize,
        any::<bool>(),
        0..6i32,
        prop::bool::weighted(0.2),
        any::<bool>(),
    )
        .prop_map(|(node, old, restarts, bare, tolerates)| PodDesc {
            node,
            old,
            restarts,
            bare,
            tolerates,
        })
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        4 => Just(Change::Keep),
        1 => Just(Change::Delete),
        1 => (0..3usize).prop_map(Change::Move),
        1 => Just(Change::Young),
        1 => (0..6i32).prop_map(Change::Restarts),
    ]
}

fn cluster(pods: &[(String, PodDesc)], tainted: &[bool]) -> Cluster {
    let mut c = Cluster::default();
    for (i, n) in NODES.iter().enumerate() {
        let mut b = node(n);
        if tainted[i] {
            b = b.taint("t", "", "NoSchedule");
        }
        c = c.node(b);
    }
    for (name, d) in pods {
        let mut p = pod(name)
            .on(NODES[d.node])
            .age(if d.old { 5000 } else { 60 })
            .restarts(d.restarts);
        if d.bare {
            p = p.bare();
        }
        if d.tolerates {
            p = p.tolerate("t", "", "");
        }
        c = c.pod(p);
    }
    c
}

fn entries(run: &Run) -> Vec<PlannedEviction> {
    run.result
        .evictions
        .iter()
        .map(|e| {
            let p = run.snap.pod(e.pod);
            PlannedEviction {
                pod: p.key(),
                node: p.node_name.clone().unwrap_or_default(),
                strategy: e.strategy.to_string(),
                reason: e.reason.clone(),
                predicted_node: None,
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn approval_never_evicts_a_pod_outside_the_approved_plan(
        descs in prop::collection::vec(pod_desc(), 1..14),
        tainted in prop::collection::vec(any::<bool>(), 3),
        tainted_after in prop::collection::vec(any::<bool>(), 3),
        keep in prop::collection::vec(any::<bool>(), 14),
        extra in prop::collection::vec((0..20usize, 0..3usize, 0..3usize), 0..4),
        changes in prop::collection::vec(change(), 14),
        new_pods in prop::collection::vec(pod_desc(), 0..4),
        limit in prop::option::of(0..4u32),
    ) {
        let pods: Vec<(String, PodDesc)> = descs
            .iter()
            .enumerate()
            .map(|(i, d)| (format!("p{i}"), d.clone()))
            .collect();
        let limits = limit.map(|l| format!("maxNoOfPodsToEvictTotal: {l}\n")).unwrap_or_default();
        let yaml = format!("{limits}{POLICY}");
        let first = cluster(&pods, &tainted).run(&yaml);
        // The approved plan: part of what was planned, plus entries for pods and
        // strategies the plan never chose.
        let mut approved: Vec<PlannedEviction> = entries(&first)
            .into_iter()
            .zip(keep.iter().cycle())
            .filter(|(_, k)| **k)
            .map(|(e, _)| e)
            .collect();
        for (pod, node, strategy) in extra {
            let key = format!("default/p{pod}");
            if approved.iter().all(|e| e.pod != key) {
                approved.push(PlannedEviction {
                    pod: key,
                    node: NODES[node].to_string(),
                    strategy: STRATEGIES[strategy].to_string(),
                    reason: "made up".into(),
                    predicted_node: None,
                });
            }
        }
        // The cluster changes before the approval arrives.
        let mut after: Vec<(String, PodDesc)> = Vec::new();
        for ((name, d), c) in pods.iter().zip(changes.iter()) {
            let mut d = d.clone();
            match c {
                Change::Keep => {}
                Change::Delete => continue,
                Change::Move(n) => d.node = *n,
                Change::Young => d.old = false,
                Change::Restarts(r) => d.restarts = *r,
            }
            after.push((name.clone(), d));
        }
        for (i, d) in new_pods.into_iter().enumerate() {
            after.push((format!("new{i}"), d));
        }
        let c = cluster(&after, &tainted_after);
        let snap = c.snapshot();
        let policy = c.policy(&yaml);
        let check = recheck(&snap, &policy, &approved);

        let taken: Vec<(String, String, &str)> = check
            .plan
            .evictions
            .iter()
            .chain(&check.plan.blocked)
            .map(|e| {
                let p = snap.pod(e.pod);
                (p.key(), p.node_name.clone().unwrap_or_default(), e.strategy)
            })
            .collect();
        for (key, node, strategy) in &taken {
            prop_assert!(
                approved.iter().any(|a| &a.pod == key && &a.node == node && a.strategy == *strategy),
                "{key} on {node} taken by {strategy} but approved was {approved:?}"
            );
        }
        // Every approved pod is taken or stale, exactly once.
        let taken_keys: HashSet<&String> = taken.iter().map(|(k, _, _)| k).collect();
        prop_assert_eq!(taken_keys.len(), taken.len());
        for a in &approved {
            let stale = check.stale.contains(&a.pod);
            prop_assert!(stale != taken_keys.contains(&a.pod), "{} neither or both", a.pod);
        }
        // A pod still there, unchanged and still a candidate, under no limit, is carried out.
        if limit.is_none() {
            for a in &approved {
                if let Some(fresh) = entries(&c.run(&yaml)).into_iter().find(|e| e.pod == a.pod)
                    && fresh.node == a.node
                    && fresh.strategy == a.strategy
                {
                    prop_assert!(taken_keys.contains(&a.pod), "{} went stale", a.pod);
                }
            }
        }
    }
}

#[test]
fn the_plan_id_follows_the_contents() {
    let e = |pod: &str| PlannedEviction {
        pod: pod.into(),
        node: "n1".into(),
        strategy: "PodLifeTime".into(),
        reason: "old".into(),
        predicted_node: None,
    };
    let a = plan_id(&[e("ns/a"), e("ns/b")]);
    assert_eq!(a, plan_id(&[e("ns/a"), e("ns/b")]));
    assert_ne!(a, plan_id(&[e("ns/b"), e("ns/a")]));
    assert_ne!(a, plan_id(&[e("ns/a")]));
    assert_eq!(a.len(), 16);
}

#[test]
fn a_deleted_pod_is_stale_and_not_replaced() {
    let c = Cluster::with_nodes(2).pods([pod("a").on("n1"), pod("b").on("n1")]);
    let yaml = "strategies: {PodLifeTime: {params: {podLifeTime: {maxPodLifeTimeSeconds: 600}}}}";
    let plan = entries(&c.run(yaml));
    let approved: Vec<_> = plan.into_iter().filter(|e| e.pod == "default/a").collect();
    // b would be a candidate too, and a is gone by the time of approval.
    let after = Cluster::with_nodes(2).pods([pod("b").on("n1"), pod("c").on("n2")]);
    let check = recheck(&after.snapshot(), &after.policy(yaml), &approved);
    assert!(check.plan.evictions.is_empty());
    assert_eq!(check.stale, ["default/a"]);
}
