//! Topology spread: skew, identity, domain order, node fit.

use crate::testing::*;

const YAML: &str = "strategies: {RemovePodsViolatingTopologySpreadConstraint: {}}";
const NO_FIT: &str = "strategies: {RemovePodsViolatingTopologySpreadConstraint: {params: {topologyBalanceNodeFit: false}}}";
const SOFT: &str = "strategies: {RemovePodsViolatingTopologySpreadConstraint: {params: {includeSoftConstraints: true}}}";
const WEB: &[(&str, &str)] = &[("app", "web")];

/// Zones a, b, c on nodes na, nb, nc.
fn zones() -> Cluster {
    Cluster::default()
        .node(node("na").label("zone", "a"))
        .node(node("nb").label("zone", "b"))
        .node(node("nc").label("zone", "c"))
}

fn two_zones() -> Cluster {
    Cluster::default()
        .node(node("na").label("zone", "a"))
        .node(node("nb").label("zone", "b"))
}

fn web(name: &str, node: &str, max_skew: i32) -> PodB {
    pod(name)
        .on(node)
        .label("app", "web")
        .spread(tsc("zone", max_skew, true, WEB))
}

fn many(prefix: &str, node: &str, n: usize) -> Vec<PodB> {
    (1..=n)
        .map(|i| web(&format!("{prefix}{i}"), node, 1))
        .collect()
}

#[test]
fn moves_the_fewest_pods() {
    let cases: Vec<(&str, Cluster, &[&str])> = vec![
        (
            "4 vs 0: two go",
            two_zones().pods(many("a", "na", 4)),
            &["a1", "a2"],
        ),
        (
            "3/1/0: one goes, in name order",
            zones().pods(many("a", "na", 3)).pods(many("b", "nb", 1)),
            &["a1"],
        ),
        (
            "2/1: within maxSkew",
            two_zones()
                .pods(many("a", "na", 2))
                .pods(many("b", "nb", 1)),
            &[],
        ),
        (
            "6/0/0: four go",
            zones().pods(many("a", "na", 6)),
            &["a1", "a2", "a3", "a4"],
        ),
        (
            "5/5/0: three go",
            zones().pods(many("a", "na", 5)).pods(many("b", "nb", 5)),
            &["a1", "b1", "b2"],
        ),
        (
            "maxSkew 2: 3 vs 0, one goes",
            two_zones().pods((1..=3).map(|i| web(&format!("a{i}"), "na", 2))),
            &["a1"],
        ),
        (
            "maxSkew 2: 2 vs 0 is fine",
            two_zones().pods((1..=2).map(|i| web(&format!("a{i}"), "na", 2))),
            &[],
        ),
        (
            "pods the selector does not match do not count",
            two_zones()
                .pods(many("a", "na", 2))
                .pods([pod("x1").on("na"), pod("x2").on("na")]),
            &["a1"],
        ),
        (
            "other namespaces do not count",
            two_zones()
                .pods(many("a", "na", 1))
                .pod(web("other", "na", 1).ns("x"))
                .pod(web("b1", "nb", 1)),
            &[],
        ),
        (
            "terminating and terminal pods do not count",
            two_zones()
                .pods(many("a", "na", 2))
                .pod(web("t", "na", 1).terminating())
                .pod(web("s", "na", 1).phase("Succeeded")),
            &["a1"],
        ),
        (
            "nodes without the topology key are no domain",
            two_zones()
                .node(node("nx"))
                .pods(many("a", "na", 1))
                .pods(many("x", "nx", 3)),
            &[],
        ),
    ];
    for (what, c, want) in cases {
        let r = c.run(YAML);
        assert_eq!(r.evicted_set(), *want, "{what}");
    }
}

#[test]
fn soft_constraints_only_when_included() {
    let soft = |name: &str| {
        pod(name)
            .on("na")
            .label("app", "web")
            .spread(tsc("zone", 1, false, WEB))
    };
    let c = two_zones().pods([soft("a1"), soft("a2"), soft("a3")]);
    assert!(c.run(YAML).evicted().is_empty());
    assert_eq!(c.run(SOFT).evicted(), ["a1"]);
}

#[test]
fn pods_given_up_prefer_evictable_then_unconstrained_then_lower_priority() {
    let c = two_zones().pods([
        web("a-plain", "na", 1),
        web("a-low", "na", 1).priority(-5),
        web("a-affinity", "na", 1).require_node("zone", &["a", "b"]),
        web("a-ds", "na", 1)
            .owner("DaemonSet", "ds")
            .require_node("zone", &["a", "b"])
            .priority(-10),
    ]);
    // 4 vs 0: two go. a-ds is not evictable; a-affinity has node constraints, so
    // the pods without go first, lowest priority first.
    assert_eq!(c.run(YAML).evicted(), ["a-low", "a-plain"]);
}

#[test]
fn match_label_keys_split_the_constraint() {
    let versioned = |name: &str, node: &str, v: &str, keys: bool| {
        let mut c = tsc("zone", 1, true, WEB);
        if keys {
            c.match_label_keys = Some(vec!["version".into()]);
        }
        pod(name)
            .on(node)
            .label("app", "web")
            .label("version", v)
            .spread(c)
    };
    // Without matchLabelKeys the zones hold 2 and 2; per version they hold 2 and 0.
    for (keys, want) in [(false, vec![]), (true, vec!["v1-a", "v2-a"])] {
        let r = two_zones()
            .pods([
                versioned("v1-a", "na", "v1", keys),
                versioned("v1-b", "na", "v1", keys),
                versioned("v2-a", "nb", "v2", keys),
                versioned("v2-b", "nb", "v2", keys),
            ])
            .run(YAML);
        assert_eq!(r.evicted_set(), want, "matchLabelKeys: {keys}");
    }
}

#[test]
fn min_domains_never_forces_pointless_evictions() {
    // Two domains but minDomains 3: the scheduler treats the global minimum
    // as 0, yet moving a pod between the existing zones cannot help.
    let with_min = |name: &str, node: &str| {
        let mut c = tsc("zone", 1, true, WEB);
        c.min_domains = Some(3);
        pod(name).on(node).label("app", "web").spread(c)
    };
    let r = two_zones()
        .pods([
            with_min("a1", "na"),
            with_min("a2", "na"),
            with_min("b1", "nb"),
        ])
        .run(YAML);
    assert!(r.evicted().is_empty());
    let r = two_zones()
        .pods([
            with_min("a1", "na"),
            with_min("a2", "na"),
            with_min("a3", "na"),
            with_min("b1", "nb"),
        ])
        .run(YAML);
    assert_eq!(r.evicted(), ["a1"]);
}

#[test]
fn node_affinity_and_taints_policies() {
    let constrained = |name: &str, node: &str, affinity: Option<&str>, taints: Option<&str>| {
        let mut c = tsc("zone", 1, true, WEB);
        c.node_affinity_policy = affinity.map(Into::into);
        c.node_taints_policy = taints.map(Into::into);
        pod(name)
            .on(node)
            .label("app", "web")
            .require_node("zone", &["a", "b"])
            .spread(c)
    };
    // a:2 b:1 c:0, pods may only run in a or b.
    let three = |aff: Option<&str>, taints: Option<&str>| {
        zones().pods([
            constrained("a1", "na", aff, taints),
            constrained("a2", "na", aff, taints),
            constrained("b1", "nb", aff, taints),
        ])
    };
    // Honor (default): zone c is no domain, so 2 vs 1 is fine.
    assert!(three(None, None).run(NO_FIT).evicted().is_empty());
    assert!(three(Some("Honor"), None).run(NO_FIT).evicted().is_empty());
    // Ignore: zone c counts; a pod goes when node fit is off...
    assert_eq!(three(Some("Ignore"), None).run(NO_FIT).evicted(), ["a1"]);
    // ... and with topologyBalanceNodeFit it cannot go to zone c: neither pod of zone a can.
    let r = three(Some("Ignore"), None).run(YAML);
    assert!(r.evicted().is_empty());
    assert_eq!(r.skipped(), [("NoFit".to_string(), 2)]);

    // Taints: zone c's node is tainted; Ignore (default) counts it, Honor does not.
    let tainted = |taints: Option<&str>| {
        Cluster::default()
            .node(node("na").label("zone", "a"))
            .node(node("nb").label("zone", "b"))
            .node(node("nc").label("zone", "c").taint("t", "", "NoSchedule"))
            .pods([
                constrained("a1", "na", Some("Ignore"), taints),
                constrained("a2", "na", Some("Ignore"), taints),
                constrained("b1", "nb", Some("Ignore"), taints),
            ])
    };
    assert_eq!(tainted(None).run(NO_FIT).evicted(), ["a1"]);
    assert!(tainted(Some("Honor")).run(NO_FIT).evicted().is_empty());
}

#[test]
fn balance_node_fit_needs_room_below_the_average() {
    let big = |name: &str, node: &str| web(name, node, 1).req("3", "");
    let c = Cluster::default()
        .node(node("na").label("zone", "a").cpu("8"))
        .node(node("nb").label("zone", "b").cpu("2"))
        .pods([big("a1", "na"), big("a2", "na")]);
    let r = c.run(YAML);
    assert!(r.evicted().is_empty());
    // Each pod of zone a was tried: neither fits zone b.
    assert_eq!(r.skipped(), [("NoFit".to_string(), 2)]);
    assert_eq!(c.run(NO_FIT).evicted(), ["a1"]);
}

#[test]
fn a_pod_that_is_not_evictable_is_counted_as_such() {
    // Neither evictable nor fitting zone b: counted under the rule, not NoFit.
    let r = Cluster::default()
        .node(node("na").label("zone", "a").cpu("8"))
        .node(node("nb").label("zone", "b").cpu("1"))
        .pods([
            web("a1", "na", 1).owner("DaemonSet", "ds").req("3", ""),
            web("a2", "na", 1).owner("DaemonSet", "ds").req("3", ""),
        ])
        .run(YAML);
    assert!(r.evicted().is_empty());
    assert_eq!(r.skipped(), [("NotEvictable:DaemonSetPod".to_string(), 1)]);
}

#[test]
fn only_processed_nodes_are_domains() {
    let c = Cluster::default()
        .node(node("na").label("zone", "a").label("role", "w"))
        .node(node("nb").label("zone", "b"))
        .node(node("nc").label("zone", "c").label("role", "w"))
        .pods(many("a", "na", 2));
    // Zone b is not processed: a 2 vs c 0 still violates.
    let r = c.run(&format!("nodeSelector: role=w\n{YAML}"));
    assert_eq!(r.evicted(), ["a1"]);
}

#[test]
fn namespaces_and_label_selector() {
    let c = two_zones()
        .pods(many("a", "na", 2))
        .pods([web("x1", "na", 1).ns("x"), web("x2", "na", 1).ns("x")]);
    let r = c.run("strategies: {RemovePodsViolatingTopologySpreadConstraint: {params: {namespaces: {include: [x]}}}}");
    assert_eq!(r.evicted(), ["x1"]);
}

#[test]
fn pinned_carriers_do_not_hide_the_skew_of_free_ones() {
    // Zone a holds 4 pods, zone b none; three are pinned to zone a by a
    // nodeSelector, one is free to move. The pinned pods see one domain (no
    // skew); the free pod's constraint sees both and is skewed 4 vs 0.
    let pinned = |name: &str| web(name, "na", 1).node_selector("zone", "a");
    let c = two_zones().pods([
        pinned("a1"),
        pinned("a2"),
        pinned("a3"),
        web("a4-free", "na", 1),
    ]);
    let r = c.run(YAML);
    assert_eq!(r.evicted(), ["a4-free"]);
    // The pinned pods were tried for the second slot and fit nowhere below the average.
    assert_eq!(r.skipped(), [("NoFit".to_string(), 3)]);
}

#[test]
fn a_pod_that_fits_nowhere_is_skipped_and_the_next_one_tried() {
    // Zone b's node has room for one small pod only; the big pod (lower
    // priority, so offered first) does not fit there.
    let c = Cluster::default()
        .node(node("na").label("zone", "a").cpu("8"))
        .node(node("nb").label("zone", "b").cpu("1"))
        .pods([
            web("a1-big", "na", 1).req("3", "").priority(-5),
            web("a2-small", "na", 1).req("100m", ""),
        ]);
    let r = c.run(YAML);
    // Upstream v0.36 gives up the slot with the big pod and evicts nothing.
    assert_eq!(r.evicted(), ["a2-small"]);
    assert_eq!(r.skipped(), [("NoFit".to_string(), 1)]);
}

#[test]
fn constraints_param() {
    let soft = |name: &str| {
        pod(name)
            .on("na")
            .label("app", "web")
            .spread(tsc("zone", 1, false, WEB))
    };
    let c = two_zones().pods([soft("a1"), soft("a2"), soft("a3")]);
    let with = |list: &str| {
        format!(
            "strategies: {{RemovePodsViolatingTopologySpreadConstraint: {{params: {{constraints: [{list}]}}}}}}"
        )
    };
    assert!(c.run(&with("DoNotSchedule")).evicted().is_empty());
    assert_eq!(c.run(&with("ScheduleAnyway")).evicted(), ["a1"]);
    assert_eq!(
        c.run(&with("DoNotSchedule, ScheduleAnyway")).evicted(),
        ["a1"]
    );
    // Hard constraints are left alone when only ScheduleAnyway is listed.
    let hard = two_zones().pods(many("a", "na", 3));
    assert!(hard.run(&with("ScheduleAnyway")).evicted().is_empty());
    assert_eq!(hard.run(&with("DoNotSchedule")).evicted(), ["a1"]);
    let errs = c.invalid(
        "strategies: {RemovePodsViolatingTopologySpreadConstraint: {params: {includeSoftConstraints: true, constraints: [DoNotSchedule]}}}",
    );
    assert_eq!(
        (errs[0].path.as_str(), errs[0].message.as_str()),
        (
            "spec.strategies.RemovePodsViolatingTopologySpreadConstraint.params",
            "includeSoftConstraints and constraints are mutually exclusive"
        )
    );
}
