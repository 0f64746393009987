//! The operator's behaviour around runs: PodDisruptionBudgets, dry run,
//! suspend, run-now, invalid policies, per-policy intervals, limits across
//! strategies, and restarts.

use std::collections::BTreeSet;
use std::time::Duration;

use descheduler::api::{RunMode, RunResult};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

use super::{
    Operator, Scenario, TAINT_KEY, start_millis, start_of, strategy_counts, tainted_node_setup,
    uids,
};
use crate::support::{self, WAIT, labels, state, wait_for};

const TAINTS: &str = "RemovePodsViolatingNodeTaints";

#[tokio::test]
async fn pdb_blocks_eviction_and_status_says_so() {
    let s = Scenario::new("op-pdb").await;
    let op = Operator::start(&s.ns, "op", &[]);
    let (op, (_nodes, before)) = tokio::join!(op, tainted_node_setup(&s, &[("web", 2)]));
    let pdbs: Api<PodDisruptionBudget> = s.ns.api();
    let pdb = PodDisruptionBudget {
        metadata: ObjectMeta {
            name: Some("web".into()),
            ..Default::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(0)),
            selector: Some(LabelSelector {
                match_labels: Some(labels(&[("app", "web")])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    pdbs.create(&PostParams::default(), &pdb)
        .await
        .expect("create PDB");
    wait_for(WAIT, "PDB web to allow 0 disruptions of 2 pods", || async {
        let s = pdbs
            .get("web")
            .await
            .map_err(state)?
            .status
            .unwrap_or_default();
        if s.expected_pods == Some(2) && s.disruptions_allowed == Some(0) {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;

    let policy = s.policy_name("pdb");
    s.create_policy("pdb", json!({"interval": "1h", "strategies": {TAINTS: {}}}))
        .await;
    let (p, run) = s.wait_run(&policy, None, WAIT).await;
    assert_eq!(s.gone(&before).await, BTreeSet::new(), "nothing evicted");
    assert_eq!((run.evicted, run.blocked, run.failed), (0, 2, 0), "{run:?}");
    assert_eq!(strategy_counts(&run)[TAINTS], (0, 0, 2), "{run:?}");
    assert_eq!(run.result, Some(RunResult::Succeeded), "{run:?}");
    assert_eq!(p.status.unwrap_or_default().total_evicted, Some(0));
    assert_eq!(
        op.metric_sum(
            "descheduler_pods_evicted_total",
            &[("policy", &policy), ("result", "blocked")]
        )
        .await,
        2.0
    );
    let summaries = s.policy_events(&policy, "RunCompleted").await;
    assert!(
        summaries.iter().any(|m| m.contains("blocked 2")),
        "{summaries:?}"
    );
}

#[tokio::test]
async fn dry_run_evicts_nothing_and_lists_the_plan() {
    let s = Scenario::new("op-dryrun").await;
    let op = Operator::start(&s.ns, "op", &[]);
    let (_op, (nodes, before)) = tokio::join!(op, tainted_node_setup(&s, &[("web", 2)]));
    let policy = s.policy_name("dry");
    s.create_policy(
        "dry",
        json!({"interval": "1h", "dryRun": true, "strategies": {TAINTS: {}}}),
    )
    .await;
    let (p, run) = s.wait_run(&policy, None, WAIT).await;
    assert_eq!(s.gone(&before).await, BTreeSet::new(), "nothing evicted");
    assert_eq!(run.mode, Some(RunMode::DryRun));
    assert_eq!(
        (run.evicted, run.would_evict, run.blocked),
        (0, 2, 0),
        "{run:?}"
    );
    assert_eq!(strategy_counts(&run)[TAINTS], (0, 2, 0));
    let planned: BTreeSet<String> = run.plan.iter().map(|e| e.pod.clone()).collect();
    let expected: BTreeSet<String> = before
        .iter()
        .map(|p| format!("{}/{}", s.name(), p.name))
        .collect();
    assert_eq!(planned, expected, "{run:?}");
    assert!(
        run.plan
            .iter()
            .all(|e| e.node == nodes[0] && e.strategy == TAINTS),
        "{run:?}"
    );
    assert_eq!(p.status.unwrap_or_default().total_evicted, Some(0));
    s.policy_events(&policy, "RunCompleted").await;
    assert!(s.descheduled_events().await.is_empty());
}

/// A dry-run policy on the common tainted-node situation (so nothing moves).
fn dry(interval: &str) -> serde_json::Value {
    json!({"interval": interval, "dryRun": true, "strategies": {TAINTS: {}}})
}

#[tokio::test]
async fn suspend_stops_runs_until_resumed() {
    let s = Scenario::new("op-suspend").await;
    let op = Operator::start(&s.ns, "op", &[]);
    let (_op, _) = tokio::join!(op, tainted_node_setup(&s, &[("web", 1)]));
    let policy = s.policy_name("sus");
    let control = s.policy_name("ctl");
    s.create_policy("sus", dry("10s")).await;
    let (_, first) = s.wait_run(&policy, None, WAIT).await;
    let suspended = s
        .patch_policy(&policy, json!({"spec": {"suspend": true}}))
        .await;
    // A run-now request must not run a suspended policy either.
    s.run_now(&policy, "while-suspended").await;
    // The control policy (same runner, 10s interval) proves time passed and
    // the runner kept working: wait until one of its runs starts more than
    // a second after the suspended policy would have been due.
    let due = start_millis(&first) + 10_000;
    s.create_policy("ctl", dry("10s")).await;
    let mut after: Option<String> = None;
    loop {
        let (_, run) = s
            .wait_run(&control, after.as_deref(), Duration::from_secs(40))
            .await;
        if start_millis(&run) > due + 1_000 {
            break;
        }
        after = Some(start_of(&run));
    }
    let p = s.policies().get(&policy).await.expect("policy");
    let status = p.status.clone().unwrap_or_default();
    let last = status.last_run.clone().expect("last run");
    assert_eq!(start_of(&last), start_of(&first), "no run while suspended");
    assert_ne!(status.handled_run_now.as_deref(), Some("while-suspended"));
    assert!(suspended.metadata.generation > first.generation);

    // Resuming (a new generation) runs it again, taking the pending run-now.
    s.patch_policy(&policy, json!({"spec": {"suspend": false}}))
        .await;
    let (_, resumed) = s.wait_run(&policy, Some(&start_of(&first)), WAIT).await;
    assert_eq!(resumed.would_evict, 1, "{resumed:?}");
}

#[tokio::test]
async fn run_now_triggers_exactly_one_run() {
    let s = Scenario::new("op-runnow").await;
    let op = Operator::start(&s.ns, "op", &[]);
    let (op, _) = tokio::join!(op, tainted_node_setup(&s, &[("web", 1)]));
    let policy = s.policy_name("now");
    s.create_policy("now", dry("1h")).await;
    let (_, first) = s.wait_run(&policy, None, WAIT).await;
    assert_eq!(first.trigger, None);

    // Runs less than a second apart have the same startTime: tell them
    // apart by their trigger.
    s.run_now(&policy, "go-1").await;
    let (p, second) = s
        .wait_run_where(&policy, WAIT, |r| r.trigger.as_deref() == Some("go-1"))
        .await;
    assert!(start_millis(&second) >= start_millis(&first));
    assert_eq!(
        p.status.unwrap_or_default().handled_run_now.as_deref(),
        Some("go-1")
    );
    // Same value again: no run. A new value: one more run. The run count
    // then shows that each value triggered exactly one run.
    s.run_now(&policy, "go-1").await;
    s.run_now(&policy, "go-2").await;
    s.wait_run_where(&policy, WAIT, |r| r.trigger.as_deref() == Some("go-2"))
        .await;
    let runs = wait_for(WAIT, "3 runs in the metrics", || async {
        let n = op
            .metric_sum("descheduler_runs_total", &[("policy", &policy)])
            .await;
        if n >= 3.0 { Ok(n) } else { Err(format!("{n}")) }
    })
    .await;
    assert_eq!(runs, 3.0, "creation, go-1, go-2");
}

#[tokio::test]
async fn invalid_policy_is_reported_and_does_not_stop_a_valid_one() {
    let s = Scenario::new("op-invalid").await;
    let op = Operator::start(&s.ns, "op", &[]);
    let (_op, (_nodes, before)) = tokio::join!(op, tainted_node_setup(&s, &[("a", 2), ("b", 2)]));
    let bad = s.policy_name("bad");
    let good = s.policy_name("good");
    // Valid for the schema; invalid for the operator: the PriorityClass
    // does not exist. It would evict a's pods.
    s.create_policy(
        "bad",
        json!({"interval": "10s", "strategies": {TAINTS: {"params": {
            "thresholdPriorityClassName": format!("missing-{}", s.name()),
            "labelSelector": {"matchLabels": {"app": "a"}}}}}}),
    )
    .await;
    s.create_policy(
        "good",
        json!({"interval": "1h", "strategies": {TAINTS: {"params": {
            "labelSelector": {"matchLabels": {"app": "b"}}}}}}),
    )
    .await;
    let (_, run) = s.wait_run(&good, None, WAIT).await;
    assert_eq!(run.evicted, 2, "{run:?}");

    let api = s.policies();
    let message = wait_for(WAIT, format!("{bad} to be Valid=False"), || async {
        let p = api.get(&bad).await.map_err(state)?;
        let st = p.status.unwrap_or_default();
        match st.conditions.iter().find(|c| c.type_ == "Valid") {
            Some(c) if c.status == "False" => Ok((c.message.clone(), st)),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let (message, status) = message;
    assert!(
        message.contains(&format!(
            "spec.strategies.{TAINTS}.params.thresholdPriorityClassName"
        )),
        "{message}"
    );
    assert_eq!(status.last_run, None, "an invalid policy never runs");
    let events = s.policy_events(&bad, "InvalidPolicy").await;
    assert!(
        events
            .iter()
            .any(|m| m.contains("thresholdPriorityClassName")),
        "{events:?}"
    );
    let gone = s.gone(&before).await;
    let a_pods: BTreeSet<String> = before
        .iter()
        .filter(|p| p.name.starts_with("a-"))
        .map(|p| p.name.clone())
        .collect();
    assert!(
        gone.is_disjoint(&a_pods),
        "the invalid policy evicted {gone:?}"
    );
    assert_eq!(gone.len(), 2, "{gone:?}");
    s.wait_replaced("b", 2, &uids(&before, &gone)).await;
}

#[tokio::test]
async fn policies_run_at_their_own_interval() {
    let s = Scenario::new("op-cadence").await;
    let op = Operator::start(&s.ns, "op", &[]);
    let (_op, _) = tokio::join!(op, tainted_node_setup(&s, &[("web", 1)]));
    let fast = s.policy_name("fast");
    let slow = s.policy_name("slow");
    s.create_policy("fast", dry("10s")).await;
    s.create_policy("slow", dry("20s")).await;
    // Record every distinct start of both until slow has started twice.
    let api = s.policies();
    let starts: std::cell::RefCell<[Vec<i64>; 2]> = Default::default();
    wait_for(
        Duration::from_secs(45),
        "fast's third and slow's second run",
        || {
            let api = api.clone();
            let (fast, slow) = (fast.clone(), slow.clone());
            let starts = &starts;
            async move {
                for (i, name) in [fast, slow].iter().enumerate() {
                    let p = api.get(name).await.map_err(state)?;
                    if let Some(run) = p.status.and_then(|s| s.last_run) {
                        let t = start_millis(&run);
                        let mut starts = starts.borrow_mut();
                        if starts[i].last() != Some(&t) {
                            starts[i].push(t);
                        }
                    }
                }
                let starts = starts.borrow();
                if starts[1].len() >= 2 && starts[0].len() >= 3 {
                    Ok(())
                } else {
                    Err(format!("{starts:?}"))
                }
            }
        },
    )
    .await;
    let starts = starts.into_inner();
    let gaps = |v: &[i64]| v.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>();
    let (fast_gaps, slow_gaps) = (gaps(&starts[0]), gaps(&starts[1]));
    for g in &fast_gaps {
        assert!((10_000..13_000).contains(g), "fast gaps {fast_gaps:?}");
    }
    for g in &slow_gaps {
        assert!((20_000..23_000).contains(g), "slow gaps {slow_gaps:?}");
    }
}

#[tokio::test]
async fn limits_hold_across_strategies() {
    let s = Scenario::new("op-limits").await;
    let op = Operator::start(&s.ns, "op", &[]);
    let (_op, nodes) = tokio::join!(op, s.nodes_n(3));
    // t: 2 pods on n0 (to be tainted); dup: 4 pods on n1 (duplicates).
    s.cordon(&nodes[1], true).await;
    s.cordon(&nodes[2], true).await;
    s.deploy(support::deployment("t", &s.opts(2, "100m")), 2)
        .await;
    s.cordon(&nodes[1], false).await;
    s.cordon(&nodes[0], true).await;
    s.deploy(support::deployment("dup", &s.opts(4, "100m")), 4)
        .await;
    s.cordon(&nodes[0], false).await;
    s.cordon(&nodes[2], false).await;
    s.taint(&nodes[0], TAINT_KEY, "x").await;
    let before = s.all_pods().await;

    // NodeTaints (2 candidates) runs before RemoveDuplicates (2 candidates:
    // ceil(4 / 2 feasible nodes) = 2 may stay on n1); the total of 3 covers both.
    let policy = s.policy_name("limits");
    s.create_policy(
        "limits",
        json!({"interval": "1h", "maxNoOfPodsToEvictTotal": 3,
               "strategies": {TAINTS: {}, "RemoveDuplicates": {}}}),
    )
    .await;
    let (p, run) = s.wait_run(&policy, None, WAIT).await;
    let gone = s.gone(&before).await;
    assert_eq!(gone.len(), 3, "{gone:?} {run:?}");
    assert_eq!(run.evicted, 3, "{run:?}");
    let counts = strategy_counts(&run);
    assert_eq!(counts[TAINTS], (2, 0, 0), "{run:?}");
    assert_eq!(counts["RemoveDuplicates"], (1, 0, 0), "{run:?}");
    let dups = run
        .strategies
        .iter()
        .find(|c| c.name == "RemoveDuplicates")
        .expect("RemoveDuplicates counts");
    assert_eq!(dups.skipped.get("LimitReached"), Some(&1), "{run:?}");
    let t_gone = gone.iter().filter(|n| n.starts_with("t-")).count();
    assert_eq!(t_gone, 2, "{gone:?}");
    assert_eq!(p.status.unwrap_or_default().total_evicted, Some(3));
    s.assert_descheduled_events(&policy, &gone).await;
    let evicted_uids = uids(&before, &gone);
    s.wait_replaced("t", 2, &evicted_uids).await;
    s.wait_replaced("dup", 4, &evicted_uids).await;
}

#[tokio::test]
async fn restart_mid_run_never_runs_more_often_than_the_interval() {
    let s = Scenario::new("op-restart").await;
    // One eviction per minute: the first eviction goes at once, the second
    // waits, so the run is still in progress when the operator is killed.
    let op = Operator::start(&s.ns, "first", &["--max-evictions-per-minute", "1"]);
    let (mut op, (_nodes, before)) = tokio::join!(op, tainted_node_setup(&s, &[("web", 3)]));
    let policy = s.policy_name("restart");
    s.create_policy(
        "restart",
        json!({"interval": "20s", "strategies": {TAINTS: {}}}),
    )
    .await;
    // The run's start is in status before its first eviction.
    let api = s.policies();
    let first = wait_for(WAIT, "the run to start and evict one pod", || async {
        let p = api.get(&policy).await.map_err(state)?;
        let run = p.status.and_then(|s| s.last_run).ok_or("no run yet")?;
        let gone = s.gone(&before).await;
        if run.result == Some(RunResult::Running) && gone.len() == 1 {
            Ok(run)
        } else {
            Err(format!("gone {gone:?}, run {run:?}"))
        }
    })
    .await;
    op.kill().await;
    let killed_at = k8s_openapi::jiff::Timestamp::now().as_millisecond();
    assert_eq!(s.gone(&before).await.len(), 1, "killed mid-run");
    let interval_end = start_millis(&first) + 20_000;
    assert!(killed_at < interval_end, "killed within the interval");

    let second_op = Operator::start(&s.ns, "second", &[]).await;
    // The next run starts only once the interval since the recorded start
    // has passed, then evicts the rest.
    let (_, next) = s
        .wait_run(&policy, Some(&start_of(&first)), Duration::from_secs(45))
        .await;
    assert!(
        start_millis(&next) >= interval_end,
        "restarted operator ran at {} before {interval_end} (first start {})",
        start_millis(&next),
        start_millis(&first)
    );
    assert_eq!(next.evicted, 2, "{next:?}");
    assert_eq!(s.gone(&before).await.len(), 3);
    assert_eq!(
        second_op
            .metric_sum("descheduler_runs_total", &[("policy", &policy)])
            .await,
        1.0
    ); // SIGTERM: a graceful, successful exit.
    let mut second_op = second_op;
    let status = second_op.terminate().await;
    assert!(status.success(), "exit status {status}");
}
