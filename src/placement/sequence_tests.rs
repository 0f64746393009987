//! The replacements of one plan are placed one after another, each seeing
//! the ones before; `remove` frees what the evicted pod held.

use super::Model;
use super::test_builders::*;
use crate::snapshot::Snapshot;
use crate::testing::*;

/// Evicts `pods` (all of them first, as a plan does), then places their
/// replacements in order: where each went, by node name.
fn place_all(snap: &Snapshot, pods: &[&str]) -> Vec<Option<String>> {
    let mut m = Model::new(snap);
    let ids: Vec<_> = pods.iter().map(|p| pod_id(snap, p)).collect();
    for &id in &ids {
        m.remove(id);
    }
    ids.iter()
        .map(|&id| node_name(snap, m.place(id)).map(str::to_string))
        .collect()
}

fn names(v: &[Option<&str>]) -> Vec<Option<String>> {
    v.iter().map(|n| n.map(str::to_string)).collect()
}

/// `n` nodes and a cordoned `src` the evicted pods come from.
fn cluster(n: usize, zones: &[&str]) -> Cluster {
    labelled(n, zones).node(node("src").label(HOST, "src").unschedulable())
}

#[test]
fn resources_fill_a_node_so_the_next_goes_elsewhere() {
    // n1 is the emptier, so the first replacement goes there; 3 cpu of its
    // 4 are then taken and the second no longer fits; the third fits nowhere.
    let snap = cluster(2, &[])
        .pod(pod("q").on("n2").req("500m", "1Gi"))
        .pods((1..=3).map(|i| pod(&format!("p{i}")).on("src").req("3", "1Gi")))
        .snapshot();
    assert_eq!(
        place_all(&snap, &["p1", "p2", "p3"]),
        names(&[Some("n1"), Some("n2"), None])
    );
}

#[test]
fn the_pod_count_fills_a_node() {
    let snap = cluster(0, &[])
        .node(node("n1").label(HOST, "n1").pods(1))
        .node(node("n2").label(HOST, "n2").pods(1))
        .pods((1..=3).map(|i| pod(&format!("p{i}")).on("src").req("100m", "100Mi")))
        .snapshot();
    assert_eq!(
        place_all(&snap, &["p1", "p2", "p3"]),
        names(&[Some("n1"), Some("n2"), None])
    );
}

#[test]
fn a_pending_replacement_takes_nothing() {
    // p1 fits nowhere; p2 still finds n1 as empty as before.
    let snap = cluster(1, &[])
        .pod(pod("p1").on("src").req("5", "1Gi"))
        .pod(pod("p2").on("src").req("4", "1Gi"))
        .snapshot();
    let mut m = Model::new(&snap);
    let (p1, p2) = (pod_id(&snap, "p1"), pod_id(&snap, "p2"));
    m.remove(p1);
    m.remove(p2);
    assert_eq!(m.place(p1), None);
    assert!(m.replacements().is_empty());
    assert_eq!(node_name(&snap, m.place(p2)), Some("n1"));
    assert_eq!(m.replacements(), &[(p2, node_id(&snap, "n1"))]);
}

#[test]
fn host_ports_taken_by_a_replacement() {
    let snap = cluster(2, &[])
        .pods((1..=3).map(|i| pod(&format!("p{i}")).on("src").host_port(8080)))
        .pod(pod("other").on("src").host_port(9090))
        .snapshot();
    assert_eq!(
        place_all(&snap, &["p1", "p2", "p3", "other"]),
        names(&[Some("n1"), Some("n2"), None, Some("n1")])
    );
}

#[test]
fn anti_affinity_between_two_replacements() {
    // Both ways: the second replacement's own anti-affinity, and the first
    // one's against a second that has none.
    let web = |name: &str| pod(name).on("src").label("app", "web");
    let snap = cluster(2, &[])
        .pod(web("a").anti_affinity(HOST, &[("app", "web")]))
        .pod(web("b").anti_affinity(HOST, &[("app", "web")]))
        .pod(web("c"))
        .snapshot();
    assert_eq!(
        place_all(&snap, &["a", "b", "c"]),
        names(&[Some("n1"), Some("n2"), None])
    );
}

#[test]
fn required_affinity_to_a_replacement() {
    // db's replacement goes to n2 (emptier); web must follow it there.
    let snap = cluster(2, &[])
        .pod(pod("q").on("n1").req("1", "1Gi"))
        .pod(pod("db").on("src").label("app", "db"))
        .pod(pod("web").on("src").affinity(HOST, &[("app", "db")]))
        .snapshot();
    assert_eq!(
        place_all(&snap, &["db", "web"]),
        names(&[Some("n2"), Some("n2")])
    );
}

#[test]
fn hard_spreading_across_replacements() {
    // n1 is far larger, so every score but spreading points at it; a
    // DoNotSchedule zone constraint still sends one replica to each zone,
    // and a fourth one back to the first zone.
    let replica = |i: usize| {
        pod(&format!("r{i}"))
            .on("src")
            .owner("ReplicaSet", "rs")
            .label("app", "r")
            .req("100m", "100Mi")
            .spread(tsc(ZONE, 1, true, &[("app", "r")]))
    };
    let snap = cluster(0, &[])
        .node(
            node("n1")
                .label(HOST, "n1")
                .label(ZONE, "a")
                .cpu("64")
                .mem("256Gi"),
        )
        .node(node("n2").label(HOST, "n2").label(ZONE, "b"))
        .node(node("n3").label(HOST, "n3").label(ZONE, "c"))
        .pods((1..=4).map(replica))
        .snapshot();
    assert_eq!(
        place_all(&snap, &["r1", "r2", "r3", "r4"]),
        names(&[Some("n1"), Some("n2"), Some("n3"), Some("n1")])
    );
}

#[test]
fn system_default_spreading_across_replacements() {
    // Three replicas of one ReplicaSet, no constraint of their own and no
    // requests: the system default spreading (with LeastAllocated's default
    // requests) puts one on each node.
    let snap = cluster(3, &["a", "b", "c"])
        .pods((1..=3).map(|i| pod(&format!("r{i}")).on("src").owner("ReplicaSet", "rs")))
        .snapshot();
    let placed = place_all(&snap, &["r1", "r2", "r3"]);
    assert_eq!(placed, names(&[Some("n1"), Some("n2"), Some("n3")]));
}

#[test]
fn remove_frees_resources() {
    let snap = cluster(1, &[])
        .pod(pod("big").on("n1").req("4", "1Gi"))
        .pod(pod("p").on("src").req("1", "1Gi"))
        .snapshot();
    let mut m = Model::new(&snap);
    let p = pod_id(&snap, "p");
    m.remove(p);
    assert_eq!(m.predict(p), None);
    m.remove(pod_id(&snap, "big"));
    assert_eq!(node_name(&snap, m.predict(p)), Some("n1"));
    assert_eq!(m.usage(node_id(&snap, "n1")).cpu, 0);
}

#[test]
fn remove_frees_host_ports_and_anti_affinity() {
    let snap = cluster(1, &[])
        .pod(pod("port").on("n1").host_port(80))
        .pod(pod("guard").on("n1").anti_affinity(HOST, &[("app", "p")]))
        .pod(pod("p").on("src").label("app", "p").host_port(80))
        .snapshot();
    let mut m = Model::new(&snap);
    let p = pod_id(&snap, "p");
    let n1 = node_id(&snap, "n1");
    m.remove(p);
    assert_eq!(m.filter(p, n1), Err(super::Filter::Ports));
    m.remove(pod_id(&snap, "port"));
    assert_eq!(m.filter(p, n1), Err(super::Filter::ExistingAntiAffinity));
    m.remove(pod_id(&snap, "guard"));
    assert_eq!(m.filter(p, n1), Ok(()));
    assert_eq!(m.predict(p), Some(n1));
}

#[test]
fn the_replacement_sees_its_predecessor_gone() {
    // p fills n1 alone, holds its only host port 80 and keeps others of its
    // app off the node: none of that counts against its own replacement
    // once it is removed, so the replacement would land where it was.
    let snap = cluster(2, &[])
        .pod(pod("q").on("n2").req("3", "1Gi"))
        .pod(
            pod("p")
                .on("n1")
                .label("app", "p")
                .req("4", "1Gi")
                .host_port(80)
                .anti_affinity(HOST, &[("app", "p")]),
        )
        .snapshot();
    let mut m = Model::new(&snap);
    let p = pod_id(&snap, "p");
    let n1 = node_id(&snap, "n1");
    assert_eq!(m.predict(p), None, "still in place, it blocks itself");
    m.remove(p);
    assert_eq!(m.predict(p), Some(n1));
    m.remove(p);
    assert_eq!(m.predict(p), Some(n1), "remove is idempotent");
}

#[test]
fn predict_changes_nothing() {
    let snap = cluster(2, &[])
        .pods((1..=2).map(|i| pod(&format!("p{i}")).on("src").req("3", "1Gi")))
        .snapshot();
    let mut m = Model::new(&snap);
    let (p1, p2) = (pod_id(&snap, "p1"), pod_id(&snap, "p2"));
    m.remove(p1);
    m.remove(p2);
    let n1 = node_id(&snap, "n1");
    assert_eq!(m.predict(p1), Some(n1));
    assert_eq!(m.predict(p2), Some(n1));
    assert_eq!(m.place(p1), Some(n1));
    assert_eq!(m.predict(p2), Some(node_id(&snap, "n2")));
    assert_eq!(m.usage(n1).cpu, 3000);
}

#[test]
fn restore_undoes_remove() {
    // p is kept after all: back on n1, it again holds its cpu and its host
    // port, and q's replacement still has to go elsewhere.
    let snap = cluster(2, &[])
        .pod(pod("p").on("n1").req("3", "1Gi").host_port(80))
        .pod(pod("q").on("src").req("2", "1Gi").host_port(80))
        .snapshot();
    let mut m = Model::new(&snap);
    let (p, q) = (pod_id(&snap, "p"), pod_id(&snap, "q"));
    let (n1, n2) = (node_id(&snap, "n1"), node_id(&snap, "n2"));
    m.remove(q);
    assert_eq!(m.predict(q), Some(n2));
    m.remove(p);
    assert_eq!(m.predict(q), Some(n1));
    m.restore(p);
    m.restore(p);
    assert_eq!(m.usage(n1).cpu, 3000);
    assert_eq!(m.filter(q, n1), Err(super::Filter::Ports));
    assert_eq!(m.place(q), Some(n2));
}

#[test]
fn a_decision_counts_the_nodes_that_scored_as_high() {
    // Three equal empty nodes: any of them is as good (the scheduler picks at
    // random); once one is fuller, the choice is unique.
    let snap = cluster(3, &[])
        .pods((1..=2).map(|i| pod(&format!("p{i}")).on("src").req("1", "1Gi")))
        .snapshot();
    let mut m = Model::new(&snap);
    let p1 = pod_id(&snap, "p1");
    m.remove(p1);
    let d = m.decide(p1);
    assert_eq!((node_name(&snap, d.node), d.tied), (Some("n1"), 2));
    m.bind(p1, d);
    let p2 = pod_id(&snap, "p2");
    m.remove(p2);
    let d = m.decide(p2);
    assert_eq!((node_name(&snap, d.node), d.tied), (Some("n2"), 1));
    let snap = cluster(2, &[])
        .pod(pod("q").on("n1").req("1", "1Gi"))
        .pod(pod("p").on("src").req("1", "1Gi"))
        .snapshot();
    let mut m = Model::new(&snap);
    let p = pod_id(&snap, "p");
    m.remove(p);
    let d = m.decide(p);
    assert_eq!((node_name(&snap, d.node), d.tied), (Some("n2"), 0));
}
