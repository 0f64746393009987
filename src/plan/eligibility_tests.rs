//! SPEC §3 rules 1-4, one table per rule family.

use crate::testing::*;

const LIFETIME: &str =
    "strategies: {PodLifeTime: {params: {podLifeTime: {maxPodLifeTimeSeconds: 60}}}}";

fn base() -> Cluster {
    Cluster::with_nodes(2)
        .priority_class("mid", 500)
        .priority_class("system-cluster-critical", 2_000_000_000)
        .namespace("default", &[])
        .namespace("on", &[("descheduling", "enabled")])
        .namespace("off", &[])
}

/// Runs PodLifeTime (every pod is an hour old) with extra policy fields and
/// returns None when the pod was evicted, else the reasons it was skipped.
fn fate(extra: &str, params: &str, p: PodB) -> Option<String> {
    let yaml = format!(
        "{extra}\nstrategies: {{PodLifeTime: {{params: {{podLifeTime: {{maxPodLifeTimeSeconds: 60}}{params}}}}}}}"
    );
    let run = base().pod(p.on("n1")).run(&yaml);
    if run.evicted() == ["p"] {
        return None;
    }
    assert!(run.evicted().is_empty());
    let skipped = run.skipped();
    Some(
        skipped
            .iter()
            .map(|(r, n)| format!("{r}x{n}"))
            .collect::<Vec<_>>()
            .join(","),
    )
}

const EVICT: &str = "descheduler.alpha.kubernetes.io/evict";
const NO_EVICT: &str = "descheduler.alpha.kubernetes.io/prefer-no-eviction";

#[test]
fn rules_two_and_three_in_order() {
    // (what, extra policy fields, extra strategy params, pod, None = evicted / skip reason)
    #[allow(clippy::type_complexity)]
    let cases: Vec<(&str, &str, &str, PodB, Option<&str>)> = vec![
        ("plain pod", "", "", pod("p"), None),
        (
            "mirror",
            "",
            "",
            pod("p").annotate("kubernetes.io/config.mirror", "x"),
            Some("NotEvictable:MirrorOrStaticPodx1"),
        ),
        (
            "static",
            "",
            "",
            pod("p").annotate("kubernetes.io/config.source", "file"),
            Some("NotEvictable:MirrorOrStaticPodx1"),
        ),
        (
            "config.source api",
            "",
            "",
            pod("p").annotate("kubernetes.io/config.source", "api"),
            None,
        ),
        (
            "mirror before terminating",
            "",
            "",
            pod("p")
                .annotate("kubernetes.io/config.mirror", "x")
                .terminating(),
            Some("NotEvictable:MirrorOrStaticPodx1"),
        ),
        (
            "terminating",
            "",
            "",
            pod("p").terminating(),
            Some("NotEvictable:Terminatingx1"),
        ),
        (
            "terminating before bare",
            "",
            "",
            pod("p").terminating().bare(),
            Some("NotEvictable:Terminatingx1"),
        ),
        (
            "bare",
            "",
            "",
            pod("p").bare(),
            Some("NotEvictable:BarePodx1"),
        ),
        (
            "bare running with evictFailedBarePods",
            "evictFailedBarePods: true",
            "",
            pod("p").bare(),
            Some("NotEvictable:BarePodx1"),
        ),
        (
            "daemonset",
            "",
            "",
            pod("p").owner("DaemonSet", "ds"),
            Some("NotEvictable:DaemonSetPodx1"),
        ),
        (
            "daemonset allowed",
            "evictDaemonSetPods: true",
            "",
            pod("p").owner("DaemonSet", "ds"),
            None,
        ),
        (
            "daemonset before local storage",
            "",
            "",
            pod("p").owner("DaemonSet", "ds").empty_dir(),
            Some("NotEvictable:DaemonSetPodx1"),
        ),
        (
            "emptyDir",
            "",
            "",
            pod("p").empty_dir(),
            Some("NotEvictable:LocalStoragex1"),
        ),
        (
            "hostPath",
            "",
            "",
            pod("p").host_path(),
            Some("NotEvictable:LocalStoragex1"),
        ),
        (
            "local storage allowed",
            "evictLocalStoragePods: true",
            "",
            pod("p").empty_dir().host_path(),
            None,
        ),
        ("pvc by default", "", "", pod("p").pvc(), None),
        (
            "pvc ignored",
            "ignorePvcPods: true",
            "",
            pod("p").pvc(),
            Some("NotEvictable:PersistentVolumeClaimx1"),
        ),
        (
            "namespace matches",
            "namespaceLabelSelector: {matchLabels: {descheduling: enabled}}",
            "",
            pod("p").ns("on"),
            None,
        ),
        (
            "namespace does not match",
            "namespaceLabelSelector: {matchLabels: {descheduling: enabled}}",
            "",
            pod("p").ns("off"),
            Some("NotEvictable:NamespaceNotSelectedx1"),
        ),
        (
            "namespace unknown",
            "namespaceLabelSelector: {matchLabels: {descheduling: enabled}}",
            "",
            pod("p").ns("ghost"),
            Some("NotEvictable:NamespaceNotSelectedx1"),
        ),
        (
            "old enough",
            "minPodAge: 10m",
            "",
            pod("p").started(601),
            None,
        ),
        (
            "too young",
            "minPodAge: 10m",
            "",
            pod("p").started(599),
            Some("NotEvictable:TooYoungx1"),
        ),
        (
            "no startTime is protected",
            "minPodAge: 10m",
            "",
            pod("p").no_start(),
            Some("NotEvictable:TooYoungx1"),
        ),
        (
            "minReplicas alone",
            "minReplicas: 2",
            "",
            pod("p"),
            Some("NotEvictable:TooFewReplicasx1"),
        ),
        (
            "minReplicas 1 is no check",
            "minReplicas: 1",
            "",
            pod("p"),
            None,
        ),
        (
            "no PDB",
            "ignorePodsWithoutPDB: true",
            "",
            pod("p"),
            Some("NotEvictable:NoPodDisruptionBudgetx1"),
        ),
        (
            "prefer-no-eviction Mandatory",
            "noEvictionPolicy: Mandatory",
            "",
            pod("p").annotate(NO_EVICT, ""),
            Some("NotEvictable:PreferNoEvictionx1"),
        ),
        (
            "prefer-no-eviction Preferred",
            "noEvictionPolicy: Preferred",
            "",
            pod("p").annotate(NO_EVICT, ""),
            None,
        ),
        (
            "system-node-critical",
            "",
            "",
            pod("p").class("system-node-critical"),
            Some("NotEvictable:SystemCriticalx1"),
        ),
        (
            "system-cluster-critical even with low threshold",
            "",
            ", thresholdPriority: 10",
            pod("p").class("system-cluster-critical").priority(0),
            Some("NotEvictable:SystemCriticalx1"),
        ),
        (
            "system critical allowed",
            "evictSystemCriticalPods: true",
            "",
            pod("p").class("system-node-critical"),
            None,
        ),
        (
            "default threshold reached",
            "",
            "",
            pod("p").priority(2_000_000_000),
            Some("NotEvictable:PriorityTooHighx1"),
        ),
        (
            "default threshold not reached",
            "",
            "",
            pod("p").priority(1_999_999_999),
            None,
        ),
        (
            "evictSystemCriticalPods disables priority filtering",
            "evictSystemCriticalPods: true",
            "",
            pod("p").priority(2_000_000_000),
            None,
        ),
        (
            "thresholdPriority reached",
            "",
            ", thresholdPriority: 100",
            pod("p").priority(100),
            Some("NotEvictable:PriorityTooHighx1"),
        ),
        (
            "thresholdPriority not reached",
            "",
            ", thresholdPriority: 100",
            pod("p").priority(99),
            None,
        ),
        (
            "thresholdPriorityClassName reached via class",
            "",
            ", thresholdPriorityClassName: mid",
            pod("p").class("mid"),
            Some("NotEvictable:PriorityTooHighx1"),
        ),
        (
            "thresholdPriorityClassName not reached",
            "",
            ", thresholdPriorityClassName: mid",
            pod("p").priority(499),
            None,
        ),
        (
            "spec.priority wins over class",
            "",
            ", thresholdPriority: 100",
            pod("p").class("mid").priority(5),
            None,
        ),
        // Rule 1: the evict annotation skips rules 2 and 3 ...
        (
            "evict: mirror",
            "",
            "",
            pod("p")
                .annotate(EVICT, "")
                .annotate("kubernetes.io/config.mirror", "x"),
            None,
        ),
        (
            "evict: bare",
            "",
            "",
            pod("p").annotate(EVICT, "true").bare(),
            None,
        ),
        (
            "evict: local storage",
            "",
            "",
            pod("p")
                .annotate(EVICT, "")
                .empty_dir()
                .owner("DaemonSet", "ds"),
            None,
        ),
        (
            "evict: too young",
            "minPodAge: 2h",
            "",
            pod("p").annotate(EVICT, ""),
            None,
        ),
        (
            "evict: Mandatory",
            "noEvictionPolicy: Mandatory",
            "",
            pod("p").annotate(EVICT, "").annotate(NO_EVICT, ""),
            None,
        ),
        (
            "evict: priority",
            "",
            ", thresholdPriority: 1",
            pod("p")
                .annotate(EVICT, "")
                .class("system-node-critical")
                .priority(5),
            None,
        ),
        // ... but not the strategy's own filters (rule 4: not even a candidate) or node fit (rule 5).
        (
            "evict: namespaces",
            "",
            ", namespaces: {exclude: [default]}",
            pod("p").annotate(EVICT, ""),
            Some(""),
        ),
        (
            "evict: labelSelector",
            "",
            ", labelSelector: {matchLabels: {app: x}}",
            pod("p").annotate(EVICT, ""),
            Some(""),
        ),
        (
            "evict: nodeFit",
            "",
            ", nodeFit: true",
            pod("p").annotate(EVICT, "").node_selector("gpu", "yes"),
            Some("NoFitx1"),
        ),
    ];
    for (what, extra, params, p, want) in cases {
        assert_eq!(fate(extra, params, p).as_deref(), want, "{what}");
    }
}

#[test]
fn evict_annotation_still_respects_pdbs() {
    let run = base()
        .pod(
            pod("p")
                .on("n1")
                .label("app", "a")
                .annotate(EVICT, "")
                .bare(),
        )
        .pdb(min_available(pdb("pdb", &[("app", "a")]), "1"))
        .run(LIFETIME);
    assert!(run.evicted().is_empty());
    assert_eq!(run.blocked(), ["p"]);
}

#[test]
fn min_replicas_counts_live_pods_of_the_owner() {
    let two = base()
        .pod(pod("a").on("n1").owner("ReplicaSet", "rs"))
        .pod(pod("b").on("n2").owner("ReplicaSet", "rs"))
        .run(&format!("minReplicas: 2\n{LIFETIME}"));
    assert_eq!(two.evicted_set(), ["a", "b"]);
    // A Failed pod of the owner does not count.
    let one_live = base()
        .pod(pod("a").on("n1").owner("ReplicaSet", "rs"))
        .pod(pod("b").on("n2").owner("ReplicaSet", "rs").phase("Failed"))
        .run(&format!("minReplicas: 2\n{LIFETIME}"));
    assert!(one_live.evicted().is_empty());
    // PodLifeTime looks at pods in every phase: both are candidates, both protected.
    assert_eq!(
        one_live.skipped(),
        [("NotEvictable:TooFewReplicas".to_string(), 2)]
    );
}

#[test]
fn pods_covered_by_a_pdb_pass_ignore_pods_without_pdb() {
    let run = base()
        .pod(pod("a").on("n1").label("app", "a"))
        .pod(pod("b").on("n1").label("app", "a"))
        .pod(pod("c").on("n1"))
        .pdb(max_unavailable(pdb("pdb", &[("app", "a")]), "2"))
        .run(&format!("ignorePodsWithoutPDB: true\n{LIFETIME}"));
    assert_eq!(run.evicted_set(), ["a", "b"]);
    assert_eq!(
        run.skipped(),
        [("NotEvictable:NoPodDisruptionBudget".to_string(), 1)]
    );
}

#[test]
fn failed_bare_pods_need_evict_failed_bare_pods() {
    let yaml = "strategies: {RemoveFailedPods: {}}";
    let c = base().pod(pod("p").on("n1").bare().phase("Failed"));
    let off = c.run(yaml);
    assert!(off.evicted().is_empty());
    assert_eq!(off.skipped(), [("NotEvictable:BarePod".to_string(), 1)]);
    let on = c.run(&format!("evictFailedBarePods: true\n{yaml}"));
    assert_eq!(on.evicted(), ["p"]);
}

#[test]
fn eviction_order_is_preferred_last_then_priority_then_qos() {
    let c = base().pods([
        pod("guaranteed").on("n1").req("100m", "1Mi").guaranteed(),
        pod("burstable").on("n1").req("100m", "1Mi"),
        pod("besteffort").on("n1"),
        pod("low-guaranteed")
            .on("n1")
            .priority(-5)
            .req("100m", "1Mi")
            .guaranteed(),
        pod("preferred")
            .on("n1")
            .priority(-100)
            .annotate(NO_EVICT, ""),
    ]);
    let snap = c.snapshot();
    let mut ids: Vec<_> = snap.pod_ids().collect();
    ids.sort_by_key(|&p| super::eviction_order(&snap, p));
    let names: Vec<&str> = ids.iter().map(|&p| snap.pod(p).name.as_str()).collect();
    assert_eq!(
        names,
        [
            "low-guaranteed",
            "besteffort",
            "burstable",
            "guaranteed",
            "preferred"
        ]
    );
}
