//! `singleReplicaStrategy` (SPEC §12): the last ready replica of a
//! Deployment or StatefulSet.

use crate::testing::*;

const LIFETIME: &str =
    "strategies: {PodLifeTime: {params: {podLifeTime: {maxPodLifeTimeSeconds: 60}}}}";

fn policy(mode: &str) -> String {
    format!("singleReplicaStrategy: {mode}\n{LIFETIME}")
}

#[test]
fn skip_is_the_default_and_keeps_one_ready_replica() {
    let c = Cluster::with_nodes(2).pods([
        pod("solo").deployment("solo").on("n1"),
        pod("a").deployment("web").on("n1"),
        pod("b").deployment("web").on("n2"),
        pod("s0").owner("StatefulSet", "db").on("n1"),
        pod("bare").bare().on("n1"),
        pod("rs").on("n1"),
    ]);
    let run = c.run(LIFETIME);
    // web: a goes, b is then the last ready replica. The bare pod is not
    // evictable at all, and a plain ReplicaSet pod is not a workload replica.
    assert_eq!(run.evicted_set(), ["a", "rs"]);
    let skipped = run.tally("PodLifeTime").skipped.clone();
    assert_eq!(skipped.get("SingleReplica"), Some(&3), "{skipped:?}");
    assert_eq!(c.run(&policy("Skip")).evicted_set(), ["a", "rs"]);
}

#[test]
fn not_ready_replicas_do_not_count() {
    let c = Cluster::with_nodes(2).pods([
        pod("a").deployment("web").on("n1"),
        pod("b").deployment("web").on("n2").not_ready(),
    ]);
    // b is not ready, so a is the last ready one; b itself is no ready
    // replica to lose and may go.
    assert_eq!(c.run(LIFETIME).evicted_set(), ["b"]);
}

#[test]
fn evict_keeps_upstream_behaviour() {
    let c = Cluster::with_nodes(2).pods([
        pod("solo").deployment("solo").on("n1"),
        pod("s0").owner("StatefulSet", "db").on("n1"),
    ]);
    let run = c.run(&policy("Evict"));
    assert_eq!(run.evicted_set(), ["s0", "solo"]);
    assert!(run.result.restarts.is_empty());
}

#[test]
fn rollout_restart_restarts_each_workload_once() {
    let c = Cluster::with_nodes(2).pods([
        pod("solo").deployment("solo").on("n1"),
        pod("a").deployment("web").on("n1"),
        pod("b").deployment("web").on("n2"),
        pod("c").deployment("web").on("n2"),
    ]);
    let run = c.run(&policy("RolloutRestart"));
    // web keeps losing pods until only one is left; that one restarts the
    // workload instead, as does solo's only pod.
    assert_eq!(run.evicted_set(), ["a", "b"]);
    let mut restarted: Vec<_> = run
        .result
        .restarts
        .iter()
        .map(|e| run.snap.pod(e.pod).name.as_str())
        .collect();
    restarted.sort();
    assert_eq!(restarted, ["c", "solo"]);
    assert_eq!(run.tally("PodLifeTime").restarted, 2);
}

#[test]
fn rollout_restart_waits_an_interval_after_the_last_restart() {
    let recent = now() - chrono::Duration::seconds(60);
    let old = now() - chrono::Duration::hours(2);
    let c = Cluster::with_nodes(2).pods([
        pod("fresh")
            .deployment("fresh")
            .annotate("descheduler.dev/restartedAt", &recent.to_rfc3339())
            .on("n1"),
        pod("stale")
            .deployment("stale")
            .annotate("descheduler.dev/restartedAt", &old.to_rfc3339())
            .on("n1"),
    ]);
    let run = c.run(&format!("interval: 10m\n{}", policy("RolloutRestart")));
    assert_eq!(run.result.restarts.len(), 1, "{:?}", run.result.strategies);
    assert_eq!(run.snap.pod(run.result.restarts[0].pod).name, "stale");
    let skipped = run.tally("PodLifeTime").skipped.clone();
    assert_eq!(skipped.get("Cooldown"), Some(&1), "{skipped:?}");
}

#[test]
fn two_strategies_share_the_count() {
    // The first strategy takes one of two replicas; the second may not take
    // the other.
    let c = Cluster::with_nodes(2).pods([
        pod("a").deployment("web").on("n1").phase("Failed"),
        pod("b").deployment("web").on("n2"),
    ]);
    let run = c.run(
        "strategies: {RemoveFailedPods: {}, PodLifeTime: {params: {podLifeTime: {maxPodLifeTimeSeconds: 60}}}}",
    );
    // a is Failed, so never a ready replica: b is the only one.
    assert_eq!(run.evicted_set(), ["a"]);
}

#[test]
fn a_rollout_in_progress_is_not_restarted_again() {
    // The new pod of the last restart carries the annotation but is not
    // ready yet; the old one is still the last ready replica.
    let recent = now() - chrono::Duration::seconds(30);
    let c = Cluster::with_nodes(2).pods([
        pod("old").deployment("web").on("n1"),
        pod("new")
            .deployment("web")
            .annotate("descheduler.dev/restartedAt", &recent.to_rfc3339())
            .not_ready()
            .on("n2"),
    ]);
    let run = c.run(&policy("RolloutRestart"));
    assert!(run.result.restarts.is_empty());
    assert_eq!(run.evicted_set(), ["new"]);
}
