//! Each filter, table-driven: the replacement of pod `p` (evicted from node
//! `src`, which has no labels) against node `x` of a small cluster.

use k8s_openapi::api::core::v1::PodAffinityTerm;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use super::Filter::{self, *};
use super::test_builders::*;
use crate::testing::*;

/// The verdict for `p` (placed on `src` first) on node `x`.
fn on_x(c: Cluster, p: PodB) -> Result<(), Filter> {
    let snap = c.node(node("src")).pod(p.on("src")).snapshot();
    verdict(&snap, "p", "x")
}

fn one(n: NodeB) -> Cluster {
    Cluster::default().node(n)
}

#[test]
fn node_filters() {
    let cases: Vec<(&str, Cluster, PodB, Result<(), Filter>)> = vec![
        ("fits", one(node("x")), pod("p").req("1", "1Gi"), Ok(())),
        (
            "not ready",
            one(node("x").not_ready()),
            pod("p"),
            Err(NotReady),
        ),
        (
            "not ready before cordoned",
            one(node("x").not_ready().unschedulable()),
            pod("p"),
            Err(NotReady),
        ),
        (
            "cordoned",
            one(node("x").unschedulable()),
            pod("p"),
            Err(Unschedulable),
        ),
        (
            "cordoned, tolerated",
            one(node("x").unschedulable()),
            pod("p").tolerate("node.kubernetes.io/unschedulable", "", "NoSchedule"),
            Ok(()),
        ),
        (
            "cordoned before taints",
            one(node("x").unschedulable().taint("t", "", "NoSchedule")),
            pod("p").node_selector("a", "b"),
            Err(Unschedulable),
        ),
        (
            "taints before node affinity (the scheduler's plugin order)",
            one(node("x").taint("t", "", "NoSchedule")),
            pod("p").node_selector("a", "b"),
            Err(Taints),
        ),
        (
            "NoSchedule",
            one(node("x").taint("t", "v", "NoSchedule")),
            pod("p"),
            Err(Taints),
        ),
        (
            "NoExecute",
            one(node("x").taint("t", "v", "NoExecute")),
            pod("p"),
            Err(Taints),
        ),
        (
            "PreferNoSchedule does not filter",
            one(node("x").taint("t", "v", "PreferNoSchedule")),
            pod("p"),
            Ok(()),
        ),
        (
            "tolerated taint",
            one(node("x").taint("t", "v", "NoSchedule")),
            pod("p").tolerate("t", "v", "NoSchedule"),
            Ok(()),
        ),
        (
            "toleration for another effect",
            one(node("x").taint("t", "v", "NoExecute")),
            pod("p").tolerate("t", "v", "NoSchedule"),
            Err(Taints),
        ),
        (
            "nodeSelector",
            one(node("x").label("a", "c")),
            pod("p").node_selector("a", "b"),
            Err(NodeAffinity),
        ),
        (
            "nodeSelector ok",
            one(node("x").label("a", "b")),
            pod("p").node_selector("a", "b"),
            Ok(()),
        ),
        (
            "required node affinity",
            one(node("x").label("zone", "a")),
            pod("p").require_node("zone", &["b"]),
            Err(NodeAffinity),
        ),
        (
            "required node affinity, terms ORed",
            one(node("x").label("zone", "a")),
            pod("p")
                .require_node("zone", &["b"])
                .require_node("zone", &["a"]),
            Ok(()),
        ),
    ];
    for (what, c, p, want) in cases {
        assert_eq!(on_x(c, p), want, "{what}");
    }
}

#[test]
fn resources_and_ports() {
    let cases: Vec<(&str, Cluster, PodB, Result<(), Filter>)> = vec![
        (
            "cpu",
            one(node("x").cpu("1")),
            pod("p").req("1500m", ""),
            Err(Resources),
        ),
        (
            "memory",
            one(node("x").mem("1Gi")),
            pod("p").req("", "2Gi"),
            Err(Resources),
        ),
        (
            "exactly full fits",
            one(node("x").cpu("1")),
            pod("p").req("1", ""),
            Ok(()),
        ),
        (
            "pods already there",
            one(node("x").cpu("2")).pod(pod("q").on("x").req("1500m", "")),
            pod("p").req("1", ""),
            Err(Resources),
        ),
        (
            "Failed and Succeeded pods request nothing",
            one(node("x").cpu("2"))
                .pod(pod("q").on("x").req("1500m", "").phase("Failed"))
                .pod(pod("r").on("x").req("1500m", "").phase("Succeeded")),
            pod("p").req("1", ""),
            Ok(()),
        ),
        (
            "terminating pods still hold their requests",
            one(node("x").cpu("2")).pod(pod("q").on("x").req("1500m", "").terminating()),
            pod("p").req("1", ""),
            Err(Resources),
        ),
        (
            "pod count",
            one(node("x").pods(1)).pod(pod("q").on("x")),
            pod("p"),
            Err(Resources),
        ),
        (
            "a pod requesting nothing still needs a pod slot",
            one(node("x").pods(0)),
            pod("p"),
            Err(Resources),
        ),
        (
            "extended resource the node lacks",
            one(node("x")),
            pod("p").req_ext("example.com/gpu", "1"),
            Err(Resources),
        ),
        (
            "extended resource",
            one(node("x").alloc("example.com/gpu", "2")),
            pod("p").req_ext("example.com/gpu", "1"),
            Ok(()),
        ),
        (
            "init container is the maximum",
            one(node("x").cpu("2")),
            pod("p").req("100m", "").init_container("3", ""),
            Err(Resources),
        ),
        (
            "containers add up",
            one(node("x").cpu("2")),
            pod("p").req("1", "").container("1500m", ""),
            Err(Resources),
        ),
        (
            "host port taken",
            one(node("x")).pod(pod("q").on("x").host_port(8080)),
            pod("p").host_port(8080),
            Err(Ports),
        ),
        (
            "another host port",
            one(node("x")).pod(pod("q").on("x").host_port(8080)),
            pod("p").host_port(9090),
            Ok(()),
        ),
        (
            "ports before resources",
            one(node("x").cpu("1")).pod(pod("q").on("x").host_port(8080)),
            pod("p").host_port(8080).req("2", ""),
            Err(Ports),
        ),
        (
            "a Failed pod's port is free",
            one(node("x")).pod(pod("q").on("x").host_port(8080).phase("Failed")),
            pod("p").host_port(8080),
            Ok(()),
        ),
    ];
    for (what, c, p, want) in cases {
        assert_eq!(on_x(c, p), want, "{what}");
    }
}

#[test]
fn the_evicted_pod_frees_its_port_and_its_requests() {
    let snap = Cluster::default()
        .node(node("src").cpu("1"))
        .pod(pod("p").on("src").host_port(8080).req("1", ""))
        .snapshot();
    assert_eq!(verdict(&snap, "p", "src"), Ok(()));
    let m = super::Model::new(&snap);
    let p = pod_id(&snap, "p");
    assert_eq!(
        m.filter(p, node_id(&snap, "src")),
        Err(Ports),
        "not removed: it is still there"
    );
}

fn web(name: &str, node: &str) -> PodB {
    pod(name).on(node).label("app", "web")
}

#[test]
fn inter_pod_affinity() {
    let zones = || labelled(3, &["a", "b", "a"]).node(node("x").label(ZONE, "b").label(HOST, "x"));
    let ns_term = |ns: &[&str]| PodAffinityTerm {
        namespaces: Some(ns.iter().map(|s| s.to_string()).collect()),
        ..term(ZONE, &[("app", "web")])
    };
    let cases: Vec<(&str, Cluster, PodB, Result<(), Filter>)> = vec![
        (
            "affinity: a matching pod in the zone",
            zones().pod(web("w", "n2")),
            pod("p").affinity(ZONE, &[("app", "web")]),
            Ok(()),
        ),
        (
            "affinity: matching pods only elsewhere",
            zones().pod(web("w", "n1")),
            pod("p").affinity(ZONE, &[("app", "web")]),
            Err(InterPodAffinity),
        ),
        (
            "affinity: the first pod of its group may go anywhere",
            zones(),
            pod("p")
                .label("app", "web")
                .affinity(ZONE, &[("app", "web")]),
            Ok(()),
        ),
        (
            "affinity: not the first pod when it does not match itself",
            zones(),
            pod("p").affinity(ZONE, &[("app", "web")]),
            Err(InterPodAffinity),
        ),
        (
            "affinity: the node must have the topology key, first pod or not",
            one(node("x")),
            pod("p")
                .label("app", "web")
                .affinity(ZONE, &[("app", "web")]),
            Err(InterPodAffinity),
        ),
        (
            "affinity: pods of other namespaces do not count",
            zones().pod(web("w", "n2").ns("other")),
            pod("p").affinity(ZONE, &[("app", "web")]),
            Err(InterPodAffinity),
        ),
        (
            "affinity: unless the term names their namespace",
            zones().pod(web("w", "n2").ns("other")),
            pod("p").affinity_term(ns_term(&["other"])),
            Ok(()),
        ),
        (
            "anti-affinity: a matching pod in the zone",
            zones().pod(web("w", "n2")),
            pod("p").anti_affinity(ZONE, &[("app", "web")]),
            Err(InterPodAntiAffinity),
        ),
        (
            "anti-affinity: matching pods elsewhere",
            zones().pod(web("w", "n1")),
            pod("p").anti_affinity(ZONE, &[("app", "web")]),
            Ok(()),
        ),
        (
            "anti-affinity: a node without the key is fine",
            one(node("x")).pod(web("w", "x")),
            pod("p").anti_affinity(ZONE, &[("app", "web")]),
            Ok(()),
        ),
        (
            "anti-affinity: Failed pods do not count",
            zones().pod(web("w", "x").phase("Failed")),
            pod("p").anti_affinity(ZONE, &[("app", "web")]),
            Ok(()),
        ),
        (
            "existing anti-affinity: a pod in the zone repels this one",
            zones().pod(pod("w").on("n2").anti_affinity(ZONE, &[("app", "p")])),
            pod("p").label("app", "p"),
            Err(ExistingAntiAffinity),
        ),
        (
            "existing anti-affinity: elsewhere",
            zones().pod(pod("w").on("n1").anti_affinity(ZONE, &[("app", "p")])),
            pod("p").label("app", "p"),
            Ok(()),
        ),
        (
            "existing anti-affinity: only its own namespace by default",
            zones().pod(
                pod("w")
                    .on("n2")
                    .ns("other")
                    .anti_affinity(ZONE, &[("app", "p")]),
            ),
            pod("p").label("app", "p"),
            Ok(()),
        ),
        (
            "existing anti-affinity: a namespaceSelector reaches other namespaces",
            zones().namespace("default", &[("team", "a")]).pod(
                pod("w")
                    .on("n2")
                    .ns("other")
                    .anti_affinity_term(PodAffinityTerm {
                        namespace_selector: Some(selector(&[("team", "a")])),
                        ..term(ZONE, &[("app", "p")])
                    }),
            ),
            pod("p").label("app", "p"),
            Err(ExistingAntiAffinity),
        ),
        (
            "affinity before anti-affinity",
            zones().pod(web("w", "n1")),
            pod("p")
                .affinity(ZONE, &[("app", "web")])
                .anti_affinity(ZONE, &[("app", "web")]),
            Err(InterPodAffinity),
        ),
    ];
    for (what, c, p, want) in cases {
        assert_eq!(on_x(c, p), want, "{what}");
    }
}

fn spread_pod(c: k8s_openapi::api::core::v1::TopologySpreadConstraint) -> PodB {
    pod("p").label("app", "web").spread(c)
}

#[test]
fn topology_spread() {
    // Zones: a = n1, n3; b = n2, x; c = n4 (unless a case adds more).
    let zones =
        || labelled(4, &["a", "b", "a", "c"]).node(node("x").label(ZONE, "b").label(HOST, "x"));
    let hard = |skew| tsc(ZONE, skew, true, &[("app", "web")]);
    let cases: Vec<(&str, Cluster, PodB, Result<(), Filter>)> = vec![
        (
            "skew within maxSkew",
            zones().pod(web("w1", "n1")),
            spread_pod(hard(1)),
            Ok(()),
        ),
        (
            "skew above maxSkew",
            zones().pod(web("w1", "n2")).pod(web("w2", "n1")),
            spread_pod(hard(1)),
            Err(TopologySpread),
        ),
        (
            "the minimum is over every eligible domain, empty ones included",
            zones()
                .pod(web("w1", "n2"))
                .pod(web("w2", "n1"))
                .pod(web("w3", "n3")),
            spread_pod(hard(1)),
            Err(TopologySpread),
        ),
        (
            "maxSkew 2",
            zones().pod(web("w1", "n2")).pod(web("w2", "n1")),
            spread_pod(hard(2)),
            Ok(()),
        ),
        (
            "a value listed twice counts its pods once",
            zones().pod(web("w1", "n2")).pod(web("w2", "n1")),
            spread_pod({
                let mut c = hard(2);
                c.label_selector = Some(LabelSelector {
                    match_expressions: Some(vec![LabelSelectorRequirement {
                        key: "app".into(),
                        operator: "In".into(),
                        values: Some(vec!["web".into(), "web".into()]),
                    }]),
                    ..Default::default()
                });
                c
            }),
            Ok(()),
        ),
        (
            "a node without the key is not a domain",
            zones()
                .node(node("y"))
                .pod(web("w1", "n1"))
                .pod(web("w2", "n2"))
                .pod(web("w3", "n4")),
            spread_pod(hard(1)),
            Ok(()),
        ),
        (
            "pods of other apps do not count",
            zones()
                .pod(pod("o1").on("n2").label("app", "db"))
                .pod(pod("o2").on("x").label("app", "db")),
            spread_pod(hard(1)),
            Ok(()),
        ),
        (
            "terminating pods do not count",
            zones()
                .pod(web("w1", "n2").terminating())
                .pod(web("w2", "x").terminating()),
            spread_pod(hard(1)),
            Ok(()),
        ),
        (
            "ScheduleAnyway never filters",
            zones().pod(web("w1", "n2")).pod(web("w2", "x")),
            spread_pod(tsc(ZONE, 1, false, &[("app", "web")])),
            Ok(()),
        ),
        (
            "minDomains above the domain count makes the minimum 0",
            zones()
                .pod(web("w1", "n1"))
                .pod(web("w2", "n2"))
                .pod(web("w3", "n4")),
            spread_pod(tsc_with(hard(1), Some(4), None, None, &[])),
            Err(TopologySpread),
        ),
        (
            "minDomains met",
            zones()
                .pod(web("w1", "n1"))
                .pod(web("w2", "n2"))
                .pod(web("w3", "n4")),
            spread_pod(tsc_with(hard(1), Some(3), None, None, &[])),
            Ok(()),
        ),
        (
            "nodeAffinityPolicy Honor: zones the pod cannot go to are not domains",
            zones().pod(web("w1", "n1")).pod(web("w2", "n2")),
            spread_pod(hard(1)).require_node(ZONE, &["a", "b"]),
            Ok(()),
        ),
        (
            "nodeAffinityPolicy Ignore: they are",
            zones().pod(web("w1", "n1")).pod(web("w2", "n2")),
            spread_pod(tsc_with(hard(1), None, Some("Ignore"), None, &[]))
                .require_node(ZONE, &["a", "b"]),
            Err(TopologySpread),
        ),
        (
            "nodeTaintsPolicy Ignore (default): a tainted zone is a domain",
            labelled(2, &["a", "b"])
                .node(node("t").label(ZONE, "c").taint("k", "", "NoSchedule"))
                .node(node("x").label(ZONE, "b"))
                .pod(web("w1", "n1"))
                .pod(web("w2", "n2")),
            spread_pod(hard(1)),
            Err(TopologySpread),
        ),
        (
            "nodeTaintsPolicy Honor: it is not",
            labelled(2, &["a", "b"])
                .node(node("t").label(ZONE, "c").taint("k", "", "NoSchedule"))
                .node(node("x").label(ZONE, "b"))
                .pod(web("w1", "n1"))
                .pod(web("w2", "n2")),
            spread_pod(tsc_with(hard(1), None, None, Some("Honor"), &[])),
            Ok(()),
        ),
        (
            "nodeTaintsPolicy Honor: a NotReady node is tainted too",
            labelled(2, &["a", "b"])
                .node(node("t").label(ZONE, "c").not_ready())
                .node(node("x").label(ZONE, "b"))
                .pod(web("w1", "n1"))
                .pod(web("w2", "n2")),
            spread_pod(tsc_with(hard(1), None, None, Some("Honor"), &[])),
            Ok(()),
        ),
        (
            "matchLabelKeys: pods of another revision do not count",
            zones()
                .pod(web("w1", "n2").label("rev", "1"))
                .pod(web("w2", "x").label("rev", "1")),
            spread_pod(tsc_with(hard(1), None, None, None, &["rev"])).label("rev", "2"),
            Ok(()),
        ),
        (
            "matchLabelKeys: pods of the same revision do",
            zones()
                .pod(web("w1", "n2").label("rev", "2"))
                .pod(web("w2", "x").label("rev", "2")),
            spread_pod(tsc_with(hard(1), None, None, None, &["rev"])).label("rev", "2"),
            Err(TopologySpread),
        ),
        (
            "spread before inter-pod affinity",
            zones().pod(web("w1", "n2")).pod(web("w2", "x")),
            spread_pod(hard(1)).affinity(ZONE, &[("app", "none")]),
            Err(TopologySpread),
        ),
    ];
    for (what, c, p, want) in cases {
        assert_eq!(on_x(c, p), want, "{what}");
    }
    // A node without the constraint's key is rejected.
    let snap = zones()
        .node(node("src"))
        .node(node("y"))
        .pod(spread_pod(hard(1)).on("src"))
        .snapshot();
    assert_eq!(verdict(&snap, "p", "y"), Err(TopologySpread));
}
