use super::*;
use crate::api::RunMode;
use crate::evictor::EvictOutcome;
use crate::report::RunReport;
use crate::testing::*;

const TAINTS: &str = "strategies: {RemovePodsViolatingNodeTaints: {}}";

fn web(name: &str) -> PodB {
    pod(name).owner("ReplicaSet", "web-1")
}

/// n1 is tainted; web-a and web-b run there and are evicted.
fn run() -> (Cluster, Run, Vec<Awaited>) {
    let c = Cluster::default()
        .node(node("n1").taint("bad", "x", "NoSchedule"))
        .node(node("n2"))
        .node(node("n3"))
        .node(node("n4"))
        .pods([web("web-a").on("n1"), web("web-b").on("n1")]);
    let run = c.run(TAINTS);
    let outcomes = vec![EvictOutcome::Evicted; run.result.evictions.len()];
    let report = RunReport::build(&run.snap, &run.result, &outcomes, RunMode::Evict);
    let awaited = awaited(&run.snap, &report);
    (c, run, awaited)
}

#[test]
fn each_replacement_is_matched_once_and_classified() {
    let (_c, run, awaited) = run();
    assert_eq!(awaited.len(), 2);
    let predicted: Vec<_> = awaited.iter().map(|w| w.predicted.clone()).collect();
    assert!(
        predicted.iter().all(|p| matches!(p, Some(Some(_)))),
        "{predicted:?}"
    );
    let first = awaited[0].predicted.clone().flatten().expect("a node");
    let other = if first == "n2" { "n3" } else { "n2" };
    // Later: both old pods gone; one replacement where predicted, one back
    // on the tainted node (say, the taint was removed), an unrelated pod.
    let later = Cluster::default()
        .node(node("n1"))
        .node(node("n2"))
        .node(node("n3"))
        .pods([
            web("web-c").on(&first),
            web("web-d").on("n1"),
            pod("other").on(other),
        ]);
    let got = Followup::new(awaited.clone(), &run.snap).landings(&later.0.pods);
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, [Landing::AsPredicted, Landing::OnSource], "{got:?}");
    let counts = counts(&awaited, &got);
    assert_eq!(
        (
            counts.predicted,
            counts.landed_as_predicted,
            counts.landed_on_source,
            counts.pending
        ),
        (2, 1, 1, 0)
    );
}

#[test]
fn unbound_or_missing_replacements_are_pending_and_old_pods_never_count() {
    let (_c, run, awaited) = run();
    // web-a is still there (terminating, say); one new pod, not bound yet.
    let later = Cluster::default()
        .node(node("n1"))
        .node(node("n2"))
        .pods([web("web-a").on("n1"), web("web-c")]);
    let got = Followup::new(awaited.clone(), &run.snap).landings(&later.0.pods);
    assert_eq!(got, [Landing::Pending, Landing::Pending]);
}

#[test]
fn landing_elsewhere() {
    let (_c, run, awaited) = run();
    let predicted: Vec<String> = awaited
        .iter()
        .filter_map(|w| w.predicted.clone().flatten())
        .collect();
    // Both replacements on a node neither was predicted for.
    let spare = ["n2", "n3"]
        .into_iter()
        .find(|n| !predicted.iter().any(|p| p == n));
    let Some(spare) = spare else {
        return; // both nodes predicted: covered by the first test
    };
    let later = Cluster::default()
        .node(node("n2"))
        .node(node("n3"))
        .node(node("n4"))
        .pods([web("web-c").on(spare), web("web-d").on(spare)]);
    let got = Followup::new(awaited.clone(), &run.snap).landings(&later.0.pods);
    assert_eq!(got, [Landing::Elsewhere, Landing::Elsewhere]);
}

#[test]
fn a_moved_replacement_the_same_strategy_flags_again_is_caught() {
    let (_c, run, awaited) = run();
    // web-c went to n2, web-d back to n1 (not moved).
    let later = Cluster::default()
        .node(node("n1"))
        .node(node("n2").taint("bad", "x", "NoSchedule"))
        .node(node("n3"))
        .pods([web("web-c").on("n2"), web("web-d").on("n1")]);
    let moved = Followup::new(awaited.clone(), &run.snap).moved(&later.0.pods);
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(
        (moved[0].node.as_str(), moved[0].strategy.as_str()),
        ("n2", "RemovePodsViolatingNodeTaints")
    );
    // Next run: n2 is now tainted, the same strategy flags web-c there.
    let next = later.run(TAINTS);
    assert_eq!(next.result.evictions.len(), 1);
    let flagged = flagged_again(&moved, &next.snap, &next.result);
    assert_eq!(flagged.len(), 1);
    assert_eq!(
        flagged.iter().next().map(|o| o.name.as_str()),
        Some("web-1")
    );
    // Another strategy, or another pod of the owner, is not a strike.
    let other: Vec<Moved> = moved
        .iter()
        .map(|m| Moved {
            strategy: "PodLifeTime".into(),
            ..m.clone()
        })
        .collect();
    assert!(flagged_again(&other, &next.snap, &next.result).is_empty());
    let stranger: Vec<Moved> = moved
        .iter()
        .map(|m| Moved {
            uid: "uid-someone-else".into(),
            ..m.clone()
        })
        .collect();
    assert!(flagged_again(&stranger, &next.snap, &next.result).is_empty());
}
