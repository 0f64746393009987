//! The DeschedulerPolicy status the operator writes: built purely from what
//! happened, applied with server-side apply under one field manager.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{
    DeschedulerPolicy, DeschedulerPolicyStatus, LastApproved, LastRun, PendingPlan, RunMode,
    RunResult,
};
use crate::approval;
use crate::evictor::Tally;
use crate::report::{MAX_PLAN_ENTRIES, RunReport};

pub const FIELD_MANAGER: &str = "descheduler";

pub fn time(t: DateTime<Utc>) -> Time {
    let ts = k8s_openapi::jiff::Timestamp::new(t.timestamp(), t.timestamp_subsec_nanos() as i32)
        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    Time(ts)
}

/// Sets a condition, keeping its transition time when the status is unchanged.
fn set_condition(conditions: &mut Vec<Condition>, new: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(c) if c.status == new.status => {
            c.reason = new.reason;
            c.message = new.message;
            c.observed_generation = new.observed_generation;
        }
        Some(c) => *c = new,
        None => conditions.push(new),
    }
}

fn condition(
    type_: &str,
    ok: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: DateTime<Utc>,
) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time: time(now),
    }
}

fn current(policy: &DeschedulerPolicy) -> DeschedulerPolicyStatus {
    policy.status.clone().unwrap_or_default()
}

/// Written before a run's first eviction, so a restart never runs a policy
/// more often than its interval.
pub fn started(
    policy: &DeschedulerPolicy,
    start: DateTime<Utc>,
    mode: RunMode,
    trigger: Option<&str>,
    next: DateTime<Utc>,
) -> DeschedulerPolicyStatus {
    let generation = policy.metadata.generation;
    let mut s = current(policy);
    s.observed_generation = generation;
    set_condition(
        &mut s.conditions,
        condition(
            "Valid",
            true,
            "Valid",
            "the spec passed validation".into(),
            generation,
            start,
        ),
    );
    s.last_run = Some(LastRun {
        start_time: Some(time(start)),
        mode: Some(mode),
        result: Some(RunResult::Running),
        trigger: trigger.map(str::to_string),
        generation,
        ..Default::default()
    });
    if let Some(t) = trigger {
        s.handled_run_now = Some(t.to_string());
    }
    s.next_run_time = Some(time(next));
    s
}

/// Written while a long run is still evicting: what `started` said, with
/// the counts so far, and `totalEvicted` already including them, so a
/// process killed mid-run leaves a status that agrees with what the API
/// server evicted (up to the last progress write).
pub fn progress(started: &DeschedulerPolicyStatus, so_far: &Tally) -> DeschedulerPolicyStatus {
    let mut s = started.clone();
    s.total_evicted = Some(started.total_evicted.unwrap_or(0) + so_far.evicted);
    if let Some(run) = s.last_run.as_mut() {
        run.evicted = so_far.evicted;
        run.blocked = so_far.blocked;
        run.failed = so_far.failed;
        run.restarted = so_far.restarted;
    }
    s
}

/// Written at the end of a run, from its report.
pub fn completed(
    policy: &DeschedulerPolicy,
    report: &RunReport,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    trigger: Option<&str>,
    next: DateTime<Utc>,
) -> DeschedulerPolicyStatus {
    let generation = policy.metadata.generation;
    let mut s = started(policy, start, report.mode, trigger, next);
    let evicted = report.total(|c| c.evicted);
    s.total_evicted = Some(current(policy).total_evicted.unwrap_or(0) + evicted);
    s.last_run = Some(LastRun {
        start_time: Some(time(start)),
        completion_time: Some(time(end)),
        duration_seconds: Some(((end - start).num_milliseconds() as f64 / 1000.0).max(0.0)),
        mode: Some(report.mode),
        result: Some(report.result),
        message: report.message.clone(),
        trigger: trigger.map(str::to_string),
        generation,
        evicted,
        would_evict: report.total(|c| c.would_evict),
        blocked: report.total(|c| c.blocked),
        failed: report.total(|c| c.failed),
        restarted: report.total(|c| c.restarted),
        warnings: report.warnings(),
        placement: None,
        strategies: report.strategies.clone(),
        plan: if report.mode == RunMode::DryRun {
            report.plan_entries()
        } else {
            Vec::new()
        },
    });
    let ready = report.result != RunResult::Failed;
    let reason = format!("{:?}", report.result);
    let message = report
        .message
        .clone()
        .unwrap_or_else(|| "the last run completed".to_string());
    set_condition(
        &mut s.conditions,
        condition("Ready", ready, &reason, message, generation, end),
    );
    s
}

/// approval: Manual: the run's plan becomes the one awaiting approval (none
/// when it plans nothing); it can be approved until `expires`.
pub fn set_pending_plan(
    s: &mut DeschedulerPolicyStatus,
    report: &RunReport,
    created: DateTime<Utc>,
    expires: DateTime<Utc>,
) {
    let evictions = report.would_evict(approval::MAX_APPROVABLE);
    let planned = report.total(|c| c.would_evict);
    s.pending_plan = (!evictions.is_empty()).then(|| PendingPlan {
        id: approval::plan_id(&evictions),
        created_at: Some(time(created)),
        expires_at: Some(time(expires)),
        omitted: (planned - evictions.len() as i64).max(0),
        evictions,
    });
}

/// Why an approval is refused, if it is: the id must name the pending plan,
/// which must not have expired.
pub fn approval_problem(
    policy: &DeschedulerPolicy,
    id: &str,
    now: DateTime<Utc>,
) -> Option<(&'static str, String)> {
    let pending = current(policy).pending_plan;
    match pending {
        Some(p) if p.id == id => {
            let expires = p.expires_at.and_then(|t| crate::snapshot::to_chrono(t.0));
            match expires {
                Some(at) if now >= at => Some((
                    "ExpiredPlan",
                    format!("plan {id} expired at {at}; approve the current pending plan instead"),
                )),
                _ => None,
            }
        }
        Some(p) => Some((
            "UnknownPlan",
            format!("plan {id} is not the pending plan (which is {})", p.id),
        )),
        None => Some((
            "UnknownPlan",
            format!("plan {id} is unknown: no plan is pending"),
        )),
    }
}

/// An approval that was refused: remembered so it is not retried, with the
/// reason in the PlanApproved condition.
pub fn approval_refused(
    policy: &DeschedulerPolicy,
    id: &str,
    reason: &str,
    message: &str,
    now: DateTime<Utc>,
) -> DeschedulerPolicyStatus {
    let mut s = current(policy);
    s.handled_approval = Some(id.to_string());
    set_condition(
        &mut s.conditions,
        condition(
            "PlanApproved",
            false,
            reason,
            message.to_string(),
            policy.metadata.generation,
            now,
        ),
    );
    s
}

/// An approved plan, carried out: what happened to each of its pods.
pub fn approved(
    policy: &DeschedulerPolicy,
    id: &str,
    report: &RunReport,
    stale: &[String],
    now: DateTime<Utc>,
) -> DeschedulerPolicyStatus {
    let mut s = current(policy);
    let evicted = report.total(|c| c.evicted);
    s.handled_approval = Some(id.to_string());
    s.pending_plan = None;
    s.total_evicted = Some(s.total_evicted.unwrap_or(0) + evicted);
    s.last_approved = Some(LastApproved {
        id: id.to_string(),
        approved_at: Some(time(now)),
        evicted,
        stale: stale.len() as i64,
        blocked: report.total(|c| c.blocked),
        failed: report.total(|c| c.failed),
        stale_pods: stale.iter().take(MAX_PLAN_ENTRIES).cloned().collect(),
        placement: None,
    });
    let message = format!(
        "plan {id}: evicted {evicted}, stale {}, blocked {}, failed {}",
        stale.len(),
        report.total(|c| c.blocked),
        report.total(|c| c.failed)
    );
    set_condition(
        &mut s.conditions,
        condition(
            "PlanApproved",
            true,
            "Approved",
            message,
            policy.metadata.generation,
            now,
        ),
    );
    s
}

/// An invalid spec: Valid=False with every field error; nothing runs until the spec changes.
pub fn invalid(
    policy: &DeschedulerPolicy,
    message: &str,
    now: DateTime<Utc>,
) -> DeschedulerPolicyStatus {
    let generation = policy.metadata.generation;
    let mut s = current(policy);
    s.observed_generation = generation;
    set_condition(
        &mut s.conditions,
        condition(
            "Valid",
            false,
            "InvalidSpec",
            message.to_string(),
            generation,
            now,
        ),
    );
    set_condition(
        &mut s.conditions,
        condition(
            "Ready",
            false,
            "InvalidSpec",
            "the policy does not run until its spec is fixed".into(),
            generation,
            now,
        ),
    );
    s.next_run_time = None;
    s
}

/// The server-side apply body for the status subresource. With `uid` the
/// API server refuses it (409) for another object of the same name.
pub fn apply_body(
    name: &str,
    uid: Option<&str>,
    status: &DeschedulerPolicyStatus,
) -> serde_json::Value {
    let mut metadata = serde_json::json!({ "name": name });
    if let Some(uid) = uid {
        metadata["uid"] = serde_json::json!(uid);
    }
    serde_json::json!({
        "apiVersion": "descheduler.dev/v1alpha1",
        "kind": "DeschedulerPolicy",
        "metadata": metadata,
        "status": status,
    })
}

#[cfg(test)]
mod approval_tests {
    use super::*;
    use crate::api::DeschedulerPolicySpec;
    use crate::evictor::EvictOutcome;
    use crate::report::{Attempt, EvictionEntry};
    use crate::snapshot::{Id, PodId};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("valid time")
    }

    fn report(pods: &[&str], outcome: EvictOutcome) -> RunReport {
        RunReport {
            mode: RunMode::DryRun,
            result: RunResult::Succeeded,
            message: None,
            strategies: vec![crate::api::StrategyCounts {
                name: "PodLifeTime".into(),
                would_evict: pods.len() as i64,
                ..Default::default()
            }],
            attempts: pods
                .iter()
                .enumerate()
                .map(|(i, p)| Attempt {
                    pod: PodId::from_index(i),
                    entry: EvictionEntry {
                        namespace: "ns".into(),
                        name: (*p).into(),
                        node: "n1".into(),
                        strategy: "PodLifeTime".into(),
                        reason: "old".into(),
                        predicted_node: None,
                        predicted_ties: 0,
                    },
                    outcome,
                    restart: false,
                })
                .collect(),
            blocked: Vec::new(),
        }
    }

    fn with_plan(report: &RunReport) -> DeschedulerPolicy {
        let mut p = DeschedulerPolicy::new("p", DeschedulerPolicySpec::default());
        let mut s = DeschedulerPolicyStatus::default();
        set_pending_plan(
            &mut s,
            report,
            at("2026-11-23T12:00:00Z"),
            at("2026-11-23T12:10:00Z"),
        );
        p.status = Some(s);
        p
    }

    #[test]
    fn a_plan_is_published_and_checked_before_approval() {
        let r = report(&["a", "b"], EvictOutcome::WouldEvict);
        let p = with_plan(&r);
        let plan = p
            .status
            .as_ref()
            .and_then(|s| s.pending_plan.clone())
            .expect("a plan");
        assert_eq!(plan.evictions.len(), 2);
        assert_eq!(plan.evictions[0].pod, "ns/a");
        assert_eq!(plan.omitted, 0);
        let id = plan.id.clone();
        let now = at("2026-11-23T12:05:00Z");
        assert_eq!(approval_problem(&p, &id, now), None);
        assert_eq!(
            approval_problem(&p, "nope", now).map(|(r, _)| r),
            Some("UnknownPlan")
        );
        assert_eq!(
            approval_problem(&p, &id, at("2026-11-23T12:10:00Z")).map(|(r, _)| r),
            Some("ExpiredPlan")
        );
        // Nothing planned: nothing to approve.
        let empty = with_plan(&report(&[], EvictOutcome::WouldEvict));
        assert!(
            empty
                .status
                .as_ref()
                .is_some_and(|s| s.pending_plan.is_none())
        );
        assert_eq!(
            approval_problem(&empty, &id, now).map(|(r, _)| r),
            Some("UnknownPlan")
        );
        let refused = approval_refused(&p, "nope", "UnknownPlan", "no such plan", now);
        assert_eq!(refused.handled_approval.as_deref(), Some("nope"));
        assert!(
            refused.pending_plan.is_some(),
            "the pending plan stays approvable"
        );
        let cond = refused
            .conditions
            .iter()
            .find(|c| c.type_ == "PlanApproved")
            .expect("condition");
        assert_eq!(
            (cond.status.as_str(), cond.message.as_str()),
            ("False", "no such plan")
        );
    }

    #[test]
    fn carrying_out_a_plan_records_what_happened() {
        let p = with_plan(&report(&["a", "b"], EvictOutcome::WouldEvict));
        let mut done = report(&["a"], EvictOutcome::Evicted);
        done.mode = RunMode::Evict;
        done.strategies[0].evicted = 1;
        done.strategies[0].would_evict = 0;
        let s = approved(
            &p,
            "id1",
            &done,
            &["ns/b".to_string()],
            at("2026-11-23T12:06:00Z"),
        );
        let last = s.last_approved.clone().expect("recorded");
        assert_eq!(
            (last.evicted, last.stale, last.stale_pods),
            (1, 1, vec!["ns/b".to_string()])
        );
        assert!(s.pending_plan.is_none());
        assert_eq!(s.handled_approval.as_deref(), Some("id1"));
        assert_eq!(s.total_evicted, Some(1));
    }
}

#[cfg(test)]
mod progress_tests {
    use super::*;
    use crate::api::DeschedulerPolicySpec;
    use crate::evictor::{EvictOutcome, FailureCategory};

    #[test]
    fn progress_counts_what_was_done_so_far_on_top_of_the_total_before_the_run() {
        let mut p = DeschedulerPolicy::new("p", DeschedulerPolicySpec::default());
        p.metadata.generation = Some(2);
        p.status = Some(DeschedulerPolicyStatus {
            total_evicted: Some(5),
            ..Default::default()
        });
        let start: DateTime<Utc> = "2026-12-03T10:00:00Z".parse().expect("time");
        let next = start + chrono::Duration::minutes(10);
        let started = started(&p, start, RunMode::Evict, Some("now"), next);
        let mut tally = Tally::default();
        for o in [
            EvictOutcome::Evicted,
            EvictOutcome::Evicted,
            EvictOutcome::Blocked,
            EvictOutcome::Failed(FailureCategory::Connection),
            EvictOutcome::Gone,
            EvictOutcome::NotAttempted,
        ] {
            tally.add(o);
        }
        let s = progress(&started, &tally);
        assert_eq!(s.total_evicted, Some(7));
        let run = s.last_run.expect("a run in progress");
        assert_eq!(run.result, Some(RunResult::Running));
        assert_eq!(
            (run.evicted, run.blocked, run.failed, run.restarted),
            (2, 1, 1, 0)
        );
        assert_eq!(run.start_time, Some(time(start)));
        assert_eq!(run.completion_time, None);
        assert_eq!(run.trigger.as_deref(), Some("now"));
        assert_eq!(s.next_run_time, Some(time(next)));
        assert_eq!(s.observed_generation, Some(2));
        // Nothing done yet: the same as the started status.
        assert_eq!(progress(&started, &Tally::default()), started);
    }
}
