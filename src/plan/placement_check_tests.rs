//! `placementCheck` (SPEC §10): what the planner does when a replacement is
//! predicted to come back to the node it leaves, or to stay Pending.

use crate::plan::Prediction;
use crate::testing::*;

const TAINT: &str = "example.com/bad";

/// n1 is tainted (`effect`) and holds the candidate `p`; n2 is full.
fn cornered(effect: &str) -> Cluster {
    Cluster::default()
        .node(node("n1").taint(TAINT, "x", effect))
        .node(node("n2").cpu("1"))
        .pod(pod("p").req("500m", "64Mi").on("n1"))
        .pod(pod("filler").req("900m", "64Mi").on("n2"))
}

fn taints(check: &str, prefer: bool) -> String {
    format!(
        "placementCheck: {check}\nstrategies: {{RemovePodsViolatingNodeTaints: {{params: {{includePreferNoSchedule: {prefer}}}}}}}"
    )
}

#[test]
fn enforce_keeps_a_pod_whose_replacement_would_stay_pending() {
    let run = cornered("NoSchedule").run(&taints("Enforce", false));
    assert!(run.evicted().is_empty());
    let t = run.tally("RemovePodsViolatingNodeTaints");
    assert_eq!(t.skipped.get("WouldBePending"), Some(&1), "{t:?}");
}

#[test]
fn enforce_keeps_a_pod_whose_replacement_would_come_back() {
    // PreferNoSchedule only scores: with n2 full, the scheduler binds the
    // replacement to n1 again.
    let run = cornered("PreferNoSchedule").run(&taints("Enforce", true));
    assert!(run.evicted().is_empty());
    let t = run.tally("RemovePodsViolatingNodeTaints");
    assert_eq!(t.skipped.get("WouldNotMove"), Some(&1), "{t:?}");
}

#[test]
fn warn_evicts_as_before_and_counts_the_warning() {
    let run = cornered("NoSchedule").run(&taints("Warn", false));
    assert_eq!(run.evicted(), ["p"]);
    assert_eq!(run.result.evictions[0].predicted, Prediction::Pending);
    let t = run.tally("RemovePodsViolatingNodeTaints");
    assert_eq!(t.warnings.get("WouldBePending"), Some(&1), "{t:?}");
    assert!(t.skipped.is_empty());
    // Warn is the default.
    let default = cornered("NoSchedule").run("strategies: {RemovePodsViolatingNodeTaints: {}}");
    assert_eq!(default.result.evictions, run.result.evictions);
}

#[test]
fn off_ignores_the_prediction_but_still_reports_it() {
    let run = cornered("NoSchedule").run(&taints("Off", false));
    assert_eq!(run.evicted(), ["p"]);
    assert_eq!(run.result.evictions[0].predicted, Prediction::Pending);
    assert!(
        run.tally("RemovePodsViolatingNodeTaints")
            .warnings
            .is_empty()
    );
}

#[test]
fn a_replacement_with_room_elsewhere_is_evicted_with_its_destination() {
    let c = Cluster::default()
        .node(node("n1").taint(TAINT, "x", "NoSchedule"))
        .node(node("n2"))
        .pod(pod("p").req("500m", "64Mi").on("n1"));
    let run = c.run(&taints("Enforce", false));
    assert_eq!(run.evicted(), ["p"]);
    let n2 = run.snap.node_id("n2").expect("n2");
    assert_eq!(run.result.evictions[0].predicted, Prediction::Node(n2));
}

#[test]
fn replacements_see_each_other() {
    // Room for one more 500m pod on n2: the first replacement takes it, so
    // the second would stay Pending.
    let c = Cluster::default()
        .node(node("n1").taint(TAINT, "x", "NoSchedule"))
        .node(node("n2").cpu("1"))
        .pod(pod("a").req("500m", "64Mi").on("n1"))
        .pod(pod("b").req("500m", "64Mi").on("n1"))
        .pod(pod("filler").req("400m", "64Mi").on("n2"));
    let run = c.run(&taints("Enforce", false));
    assert_eq!(run.evicted().len(), 1, "{:?}", run.evicted());
    let t = run.tally("RemovePodsViolatingNodeTaints");
    assert_eq!(t.skipped.get("WouldBePending"), Some(&1), "{t:?}");
}

#[test]
fn strategies_that_remove_bad_pods_only_warn_under_enforce() {
    let c = Cluster::default()
        .node(node("n1"))
        .node(node("n2").cpu("1"))
        .pod(pod("old").req("3500m", "64Mi").on("n1"))
        .pod(pod("filler").req("900m", "64Mi").on("n2"));
    // Without its predecessor n1 has room again: the replacement comes back,
    // which is fine for a pod removed for its age.
    let run = c.run(
        "placementCheck: Enforce\nstrategies: {PodLifeTime: {params: {podLifeTime: {maxPodLifeTimeSeconds: 60}}}}",
    );
    assert_eq!(run.evicted_set(), ["filler", "old"]);
    let t = run.tally("PodLifeTime");
    assert!(!t.skipped.contains_key("WouldNotMove"), "{t:?}");
    assert!(
        t.warnings.get("WouldNotMove").is_some_and(|n| *n > 0),
        "{t:?}"
    );
}

#[test]
fn pods_of_held_workloads_are_counted_cooldown() {
    let c = Cluster::default()
        .node(node("n1").taint(TAINT, "x", "NoSchedule"))
        .node(node("n2"))
        .pod(pod("held").on("n1"))
        .pod(pod("free").on("n1"));
    let mut policy = c.policy(&taints("Warn", false));
    let snap = c.snapshot();
    let owner = snap
        .pods
        .values()
        .find(|p| p.name == "held")
        .and_then(|p| p.owner.clone())
        .expect("an owner");
    policy.rules.held.insert(owner);
    let plan = crate::engine::plan(&snap, &policy);
    let evicted: Vec<_> = plan
        .evictions
        .iter()
        .map(|e| snap.pod(e.pod).name.as_str())
        .collect();
    assert_eq!(evicted, ["free"]);
    assert_eq!(plan.strategies[0].skipped.get("Cooldown"), Some(&1));
}

#[test]
fn cooldown_must_be_a_duration() {
    let errs = Cluster::default().invalid("cooldown: soon\nstrategies: {RemoveDuplicates: {}}");
    assert!(
        errs.iter()
            .any(|e| e.to_string().starts_with("spec.cooldown")),
        "{errs:?}"
    );
}
