//! One run of one policy, as SPEC §2 and §8 describe it. The steps read in
//! order; only the ends touch the cluster:
//!
//! snapshot (client: the watch caches) -> validate (pure) -> plan (pure) ->
//! evict (client: the Eviction API, or the dry run) -> report (pure) ->
//! publish status, events and metrics (client).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kube::Resource;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;

use super::runner::Runner;
use super::schedule;
use super::status_writer::Written;
use crate::api::{DeschedulerPolicy, DeschedulerPolicyStatus, PlacementCounts, RunMode};
use crate::approval;
use crate::backoff;
use crate::engine;
use crate::evictor::{self, ApiEvictor, DryRun, EvictOutcome, Tally};
use crate::followup::{self, Followup, Landing};
use crate::plan::EvictionPlan;
use crate::policy::{self, Policy};
use crate::report::events::{self, EventText, Regarding};
use crate::report::{RunReport, samples};
use crate::snapshot::{OwnerRef, Snapshot};
use crate::status;

/// How long a run waits for watch caches that list again after their watch
/// expired, before it plans on what they hold.
const RELIST_WAIT: Duration = Duration::from_secs(30);

/// Waits until no watch cache is listing again (see [`RELIST_WAIT`]).
async fn fresh_caches(r: &Runner, name: &str) {
    if !r.caches.wait_relisted(RELIST_WAIT).await {
        tracing::warn!(policy = %name, "watch caches still listing again after {RELIST_WAIT:?}; planning on what they hold");
    }
}

pub async fn run(r: &Runner, policy: &DeschedulerPolicy, trigger: Option<String>) {
    let name = policy.metadata.name.clone().unwrap_or_default();
    fresh_caches(r, &name).await;
    let clock = Instant::now();
    let start = Utc::now();
    let snapshot = r.caches.snapshot(start);
    let mut valid = match policy::validate(&policy.spec, &|pc| {
        snapshot.priority_classes.get(pc).copied()
    }) {
        Ok(p) => p,
        Err(errors) => return publish_invalid(r, policy, &errors.to_string(), start).await,
    };
    let snapshot = with_usage(r, snapshot, &valid).await;
    let memory = policy
        .status
        .as_ref()
        .map(|s| s.backoff.clone())
        .unwrap_or_default();
    valid.rules.held = backoff::held(&memory, start);
    let mut plan = plan(r, &snapshot, &valid);
    // A replacement the same strategy moved last run and would move again:
    // its owner is backed off, and the plan made again without it.
    let flagged = followup::flagged_again(&r.take_moved(policy), &snapshot, &plan);
    if !flagged.is_empty() {
        tracing::info!(policy = %name, owners = flagged.len(), "moved replacements flagged again: backing off");
        valid.rules.held.extend(flagged.iter().cloned());
        plan = self::plan(r, &snapshot, &valid);
    }
    let mode = if valid.dry_run || valid.manual_approval {
        RunMode::DryRun
    } else {
        RunMode::Evict
    };
    let next = start + schedule::interval(policy);
    // Written before the first eviction, so a restart never runs the policy early.
    let started = status::started(policy, start, mode, trigger.as_deref(), next);
    r.status.write(policy, started.clone()).await;
    let (outcomes, stopped) = if valid.manual_approval {
        // The plan waits for approval: nothing is sent now.
        (evictor::execute(&DryRun, &snapshot, &plan).await, None)
    } else {
        evict_reporting(r, policy, &started, &snapshot, &plan, &valid).await
    };
    let mut report = RunReport::build(&snapshot, &plan, &outcomes, mode);
    if let Some(why) = stopped {
        tracing::info!(policy = %name, reason = why.as_str(), "run stopped before its plan was carried out");
        report.message = Some(why.message().to_string());
    }
    let mut completed =
        status::completed(policy, &report, start, Utc::now(), trigger.as_deref(), next);
    if valid.manual_approval {
        status::set_pending_plan(&mut completed, &report, start, next);
    }
    let evicted = evicted_owners(&snapshot, &report);
    completed.backoff = backoff::update(
        &memory,
        start,
        &evicted,
        &BTreeSet::new(),
        &flagged,
        valid.cooldown,
        valid.interval,
    );
    // Metrics first: they cost no request, and whoever sees the run in
    // status then finds it counted in the metrics too.
    r.metrics.record(
        &name,
        &samples::samples(&report),
        clock.elapsed().as_secs_f64(),
    );
    r.status.write(policy, completed.clone()).await;
    publish_events(r, policy, &events::run_events(&name, &report), &snapshot).await;
    let carried = Carried {
        before: &snapshot,
        report: &report,
        start,
    };
    // A stopped run's policy is gone or has a new spec to run at once: no
    // waiting for replacements then.
    if stopped.is_none() {
        follow_up(r, policy, &valid, carried, completed, |s, c| {
            if let Some(run) = s.last_run.as_mut() {
                run.placement = Some(c);
            }
        })
        .await;
    }
    tracing::info!(
        policy = %name,
        result = report.result.as_str(),
        evicted = report.total(|c| c.evicted),
        would_evict = report.total(|c| c.would_evict),
        blocked = report.total(|c| c.blocked),
        failed = report.total(|c| c.failed),
        "run completed"
    );
    r.caches.recycle(snapshot);
}

/// Carries out the pending plan `id` names, after checking each of its pods
/// again against a fresh snapshot; stale pods are reported, never replaced.
pub async fn approve(r: &Runner, policy: &DeschedulerPolicy, id: &str) {
    let name = policy.metadata.name.clone().unwrap_or_default();
    fresh_caches(r, &name).await;
    let clock = Instant::now();
    let now = Utc::now();
    if let Some((reason, message)) = status::approval_problem(policy, id, now) {
        tracing::warn!(policy = %name, plan = id, %message, "approval refused");
        r.status
            .write(
                policy,
                status::approval_refused(policy, id, reason, &message, now),
            )
            .await;
        publish_events(r, policy, &[events::approval_refused(&message)], None).await;
        return;
    }
    let snapshot = r.caches.snapshot(now);
    let valid = match policy::validate(&policy.spec, &|pc| {
        snapshot.priority_classes.get(pc).copied()
    }) {
        Ok(p) => p,
        Err(errors) => return publish_invalid(r, policy, &errors.to_string(), now).await,
    };
    let snapshot = with_usage(r, snapshot, &valid).await;
    let approved = policy
        .status
        .as_ref()
        .and_then(|s| s.pending_plan.as_ref())
        .map(|p| p.evictions.clone())
        .unwrap_or_default();
    let check = approval::recheck(&snapshot, &valid, &approved);
    let mode = if valid.dry_run {
        RunMode::DryRun
    } else {
        RunMode::Evict
    };
    let stop = r.shutdown.child_token();
    let outcomes = evict(r, &snapshot, &check.plan, &valid, &stop, |_| {}).await;
    let report = RunReport::build(&snapshot, &check.plan, &outcomes, mode);
    let mut done = status::approved(policy, id, &report, &check.stale, Utc::now());
    done.backoff = backoff::update(
        &done.backoff,
        now,
        &evicted_owners(&snapshot, &report),
        &BTreeSet::new(),
        &BTreeSet::new(),
        valid.cooldown,
        valid.interval,
    );
    r.metrics.record(
        &name,
        &samples::samples(&report),
        clock.elapsed().as_secs_f64(),
    );
    r.status.write(policy, done.clone()).await;
    let texts = events::approved_events(&name, id, &report, check.stale.len());
    publish_events(r, policy, &texts, &snapshot).await;
    tracing::info!(
        policy = %name,
        plan = id,
        evicted = report.total(|c| c.evicted),
        stale = check.stale.len(),
        blocked = report.total(|c| c.blocked),
        "approved plan carried out"
    );
    let carried = Carried {
        before: &snapshot,
        report: &report,
        start: now,
    };
    follow_up(r, policy, &valid, carried, done, |s, c| {
        if let Some(a) = s.last_approved.as_mut() {
            a.placement = Some(c);
        }
    })
    .await;
}

/// The snapshot with the measured usage the policy's strategies read, if any
/// (SPEC §13); a policy on requests alone costs no request.
async fn with_usage(r: &Runner, snapshot: Snapshot, policy: &Policy) -> Snapshot {
    let sources = policy.usage_sources();
    if sources.is_empty() {
        return snapshot;
    }
    snapshot.with_usage(r.usage.collect(&sources).await)
}

/// The controller owners of the pods the API server evicted.
fn evicted_owners(snapshot: &Snapshot, report: &RunReport) -> BTreeSet<OwnerRef> {
    report
        .attempts
        .iter()
        .filter(|a| a.outcome == EvictOutcome::Evicted && !a.restart)
        .filter_map(|a| snapshot.pod(a.pod).owner.clone())
        .collect()
}

/// How long the follow-up waits for replacements to be bound: they usually
/// are within a second or two, and the runner runs one policy at a time.
const FOLLOW_UP: Duration = Duration::from_secs(20);
const FOLLOW_UP_POLL: Duration = Duration::from_millis(500);

/// What a run (or an approved plan) evicted: the snapshot it planned on,
/// what happened, and when it started.
struct Carried<'a> {
    before: &'a Snapshot,
    report: &'a RunReport,
    start: DateTime<Utc>,
}

/// Waits (bounded) until the watch caches show where the replacements of the
/// run's evictions were bound, then records it: the placement counts (where
/// `record` puts them in `status`), descheduler_replacements_total, a
/// back-off for owners whose replacement came back to the node its
/// predecessor left, and the replacements that moved, for the next run.
async fn follow_up(
    r: &Runner,
    object: &DeschedulerPolicy,
    policy: &Policy,
    run: Carried<'_>,
    mut status: DeschedulerPolicyStatus,
    record: impl FnOnce(&mut DeschedulerPolicyStatus, PlacementCounts),
) {
    let name = object.metadata.name.as_deref().unwrap_or_default();
    let Carried {
        before,
        report,
        start,
    } = run;
    // Nothing to follow (a dry run): no pod of the snapshot is read.
    let awaited = followup::awaited(before, report);
    if awaited.is_empty() {
        return;
    }
    let follow = Followup::new(awaited, before);
    let wait = FOLLOW_UP.min(policy.interval / 3);
    let deadline = Instant::now() + wait;
    let followup::Look { landings, moved } = loop {
        let look = follow.look(&r.caches.pods());
        let done = look.landings.iter().all(|l| *l != Landing::Pending);
        if done || Instant::now() >= deadline || r.shutdown.is_cancelled() {
            break look;
        }
        tokio::time::sleep(FOLLOW_UP_POLL).await;
    };
    r.set_moved(object, moved);
    let awaited = &follow.awaited;
    for (w, l) in awaited.iter().zip(&landings) {
        r.metrics.count_replacement(name, &w.strategy, l.as_str());
    }
    let returned: BTreeSet<OwnerRef> = awaited
        .iter()
        .zip(&landings)
        .filter(|(_, l)| **l == Landing::OnSource)
        .map(|(w, _)| w.owner.clone())
        .collect();
    record(&mut status, followup::counts(awaited, &landings));
    if !returned.is_empty() {
        tracing::info!(policy = %name, owners = returned.len(), "replacements came back to their node: backing off");
        status.backoff = backoff::update(
            &status.backoff,
            start,
            &BTreeSet::new(),
            &returned,
            &BTreeSet::new(),
            policy.cooldown,
            policy.interval,
        );
    }
    r.status.write(object, status).await;
}

/// The engine, with each strategy timed for `descheduler_strategy_duration_seconds`.
fn plan(r: &Runner, snapshot: &Snapshot, policy: &Policy) -> EvictionPlan {
    engine::plan_observed(snapshot, policy, &mut |strategy, run| {
        let t = Instant::now();
        run();
        r.metrics
            .observe_strategy(strategy, t.elapsed().as_secs_f64());
    })
}

/// How often a run that is still evicting (usually held back by
/// `--max-evictions-per-minute`) writes what it did so far to status.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// How often a run that is still evicting looks whether its policy was
/// deleted or changed meanwhile.
const STILL_CURRENT_EVERY: Duration = Duration::from_millis(500);

/// Why a run stopped before every planned eviction was attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The policy was deleted (or replaced by another of the same name).
    Deleted,
    /// Its spec changed: the run of the new generation follows.
    Changed,
}

impl Stopped {
    pub fn as_str(self) -> &'static str {
        match self {
            Stopped::Deleted => "PolicyDeleted",
            Stopped::Changed => "SpecChanged",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Stopped::Deleted => "the run stopped: the policy was deleted while it was in flight",
            Stopped::Changed => {
                "the run stopped: the spec changed while it was in flight; the new spec runs next"
            }
        }
    }
}

/// Whether the run of `ran` (as it was when the run started) must stop, given
/// the policy of that name as the watch cache has it now.
pub fn must_stop(ran: &DeschedulerPolicy, now: Option<&DeschedulerPolicy>) -> Option<Stopped> {
    match now {
        None => Some(Stopped::Deleted),
        Some(p) if p.metadata.uid != ran.metadata.uid => Some(Stopped::Deleted),
        Some(p) if p.metadata.generation != ran.metadata.generation => Some(Stopped::Changed),
        Some(_) => None,
    }
}

/// [`evict`], meanwhile writing the run's progress to status every
/// [`PROGRESS_EVERY`] while something changed, so that a leader killed
/// mid-run leaves its evictions counted, and stopping the evictions once the
/// policy is deleted or its spec changes. A progress write in flight always
/// finishes before the caller writes the completed status, which therefore
/// is the last word.
async fn evict_reporting(
    r: &Runner,
    object: &DeschedulerPolicy,
    started: &DeschedulerPolicyStatus,
    snapshot: &Snapshot,
    plan: &EvictionPlan,
    policy: &Policy,
) -> (Vec<EvictOutcome>, Option<Stopped>) {
    let name = object.metadata.name.clone().unwrap_or_default();
    let (tally_tx, tally) = tokio::sync::watch::channel(Tally::default());
    let done = tokio_util::sync::CancellationToken::new();
    let stop = r.shutdown.child_token();
    let work = async {
        let outcomes = evict(r, snapshot, plan, policy, &stop, |o| {
            tally_tx.send_modify(|t| t.add(o))
        })
        .await;
        done.cancel();
        outcomes
    };
    let watch = async {
        let mut written = Tally::default();
        let mut last_write = Instant::now();
        loop {
            tokio::select! {
                _ = done.cancelled() => return None,
                _ = tokio::time::sleep(STILL_CURRENT_EVERY) => {}
            }
            let now = r.policies.get(&ObjectRef::new(&name));
            if let Some(why) = must_stop(object, now.as_deref()) {
                stop.cancel();
                return Some(why);
            }
            let so_far = *tally.borrow();
            if so_far != written && last_write.elapsed() >= PROGRESS_EVERY {
                let w = r
                    .status
                    .write(object, status::progress(started, &so_far))
                    .await;
                if w == Written::Gone {
                    stop.cancel();
                    return Some(Stopped::Deleted);
                }
                written = so_far;
                last_write = Instant::now();
            }
        }
    };
    let (outcomes, stopped) = tokio::join!(work, watch);
    (outcomes, stopped)
}

async fn evict(
    r: &Runner,
    snapshot: &Snapshot,
    plan: &EvictionPlan,
    policy: &Policy,
    stop: &tokio_util::sync::CancellationToken,
    seen: impl FnMut(EvictOutcome) + Send,
) -> Vec<evictor::EvictOutcome> {
    if policy.dry_run {
        return evictor::execute_with(&DryRun, snapshot, plan, seen).await;
    }
    let api = ApiEvictor {
        client: r.client.clone(),
        grace_period_seconds: policy.grace_period_seconds,
        limiter: r.eviction_limiter.clone(),
        leader: r.leader.clone(),
        stop: stop.clone(),
    };
    evictor::execute_with(&api, snapshot, plan, seen).await
}

async fn publish_invalid(
    r: &Runner,
    policy: &DeschedulerPolicy,
    message: &str,
    now: DateTime<Utc>,
) {
    let name = policy.metadata.name.clone().unwrap_or_default();
    tracing::warn!(policy = %name, %message, "invalid policy");
    r.metrics.count_run(&name, "Invalid");
    r.status
        .write(policy, status::invalid(policy, message, now))
        .await;
    let snapshot = None;
    publish_events(r, policy, &[events::invalid_policy(message)], snapshot).await;
}

async fn publish_events<'s>(
    r: &Runner,
    policy: &DeschedulerPolicy,
    texts: &[EventText],
    snapshot: impl Into<Option<&'s Snapshot>>,
) {
    if !r.is_leader() {
        return;
    }
    let snapshot = snapshot.into();
    let on_policy = policy.object_ref(&());
    for t in texts {
        let (reference, secondary) = match (t.regarding, snapshot) {
            (Regarding::Pod(p), Some(s)) => (s.pod(p).pod.object_ref(&()), Some(on_policy.clone())),
            (Regarding::Pod(_), None) => continue,
            (Regarding::Policy, _) => (on_policy.clone(), None),
        };
        let event = Event {
            type_: if t.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: t.reason.into(),
            note: Some(t.note.clone()),
            action: t.action.into(),
            secondary,
        };
        if let Err(e) = r.recorder.publish(&event, &reference).await {
            tracing::warn!(error = %e, reason = %event.reason, "cannot publish event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::DeschedulerPolicySpec;

    fn policy(uid: &str, generation: i64) -> DeschedulerPolicy {
        let mut p = DeschedulerPolicy::new("p", DeschedulerPolicySpec::default());
        p.metadata.uid = Some(uid.into());
        p.metadata.generation = Some(generation);
        p
    }

    #[test]
    fn a_run_stops_when_its_policy_is_deleted_replaced_or_changed() {
        let ran = policy("u1", 3);
        assert_eq!(must_stop(&ran, Some(&policy("u1", 3))), None);
        assert_eq!(must_stop(&ran, None), Some(Stopped::Deleted));
        assert_eq!(
            must_stop(&ran, Some(&policy("u2", 3))),
            Some(Stopped::Deleted)
        );
        assert_eq!(
            must_stop(&ran, Some(&policy("u1", 4))),
            Some(Stopped::Changed)
        );
        // Status and annotation changes keep the generation: the run goes on.
        let mut annotated = policy("u1", 3);
        annotated.metadata.annotations = Some([("a".to_string(), "b".to_string())].into());
        assert_eq!(must_stop(&ran, Some(&annotated)), None);
    }
}
