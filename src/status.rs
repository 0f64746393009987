//! The DeschedulerPolicy status the operator writes: built purely from what
//! happened, applied with server-side apply under one field manager.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{DeschedulerPolicy, DeschedulerPolicyStatus, LastRun, RunMode, RunResult};
use crate::report::RunReport;

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

/// The server-side apply body for the status subresource.
pub fn apply_body(name: &str, status: &DeschedulerPolicyStatus) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "descheduler.dev/v1alpha1",
        "kind": "DeschedulerPolicy",
        "metadata": { "name": name },
        "status": status,
    })
}
