//! The single runner: runs of all policies are queued and executed one at a
//! time, each against a fresh snapshot from the watch caches.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use governor::DefaultDirectRateLimiter;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::schedule::{self, Decision};
use crate::api::{DeschedulerPolicy, DeschedulerPolicyStatus, RunMode, validate};
use crate::cluster::Caches;
use crate::evictor::{self, EvictOutcome};
use crate::metrics::{
    EvictionLabels, Metrics, PolicyLabels, RunLabels, SkipLabels, StrategyLabels,
};
use crate::plan::{PlanResult, plan_observed};
use crate::policy::Policy;
use crate::report::RunReport;
use crate::snapshot::Snapshot;
use crate::status;

pub struct Runner {
    pub client: Client,
    pub caches: Caches,
    pub policies: Store<DeschedulerPolicy>,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub leader: watch::Receiver<bool>,
    pub shutdown: CancellationToken,
    pub eviction_limiter: Option<Arc<DefaultDirectRateLimiter>>,
    /// The status this process last wrote per policy: fresher than the cache
    /// right after a write, so a stale watch event cannot cause a second run.
    written: Mutex<HashMap<String, DeschedulerPolicyStatus>>,
    queued: Mutex<HashSet<String>>,
    tx: mpsc::UnboundedSender<String>,
}

/// What the runner works with.
pub struct Deps {
    pub client: Client,
    pub caches: Caches,
    pub policies: Store<DeschedulerPolicy>,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub leader: watch::Receiver<bool>,
    pub shutdown: CancellationToken,
    pub eviction_limiter: Option<Arc<DefaultDirectRateLimiter>>,
}

fn start_of(s: &DeschedulerPolicyStatus) -> Option<k8s_openapi::jiff::Timestamp> {
    s.last_run
        .as_ref()
        .and_then(|r| r.start_time.as_ref())
        .map(|t| t.0)
}

impl Runner {
    pub fn new(d: Deps) -> (Arc<Self>, mpsc::UnboundedReceiver<String>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let runner = Self {
            client: d.client,
            caches: d.caches,
            policies: d.policies,
            recorder: d.recorder,
            metrics: d.metrics,
            leader: d.leader,
            shutdown: d.shutdown,
            eviction_limiter: d.eviction_limiter,
            written: Mutex::default(),
            queued: Mutex::default(),
            tx,
        };
        (Arc::new(runner), rx)
    }

    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    /// The policy as the schedule must see it: with the status this process
    /// last wrote when that is newer than the cached one.
    pub fn effective(&self, policy: &DeschedulerPolicy) -> DeschedulerPolicy {
        let name = policy.metadata.name.clone().unwrap_or_default();
        let written = self.written.lock().ok().and_then(|w| w.get(&name).cloned());
        let Some(written) = written else {
            return policy.clone();
        };
        let cached = policy.status.clone().unwrap_or_default();
        let newer = start_of(&written) >= start_of(&cached)
            && written.observed_generation >= cached.observed_generation;
        let mut p = policy.clone();
        if newer {
            p.status = Some(written);
        }
        p
    }

    /// Queues a run unless one is already queued for the policy.
    pub fn enqueue(&self, name: &str) {
        let fresh = self
            .queued
            .lock()
            .map(|mut q| q.insert(name.to_string()))
            .unwrap_or(false);
        if fresh && self.tx.send(name.to_string()).is_err() {
            tracing::debug!(policy = name, "runner stopped; run not queued");
        }
    }

    fn dequeue(&self, name: &str) {
        if let Ok(mut q) = self.queued.lock() {
            q.remove(name);
        }
    }

    /// Processes queued runs one at a time until shutdown.
    pub async fn run_loop(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<String>) {
        loop {
            let name = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                next = rx.recv() => match next { Some(n) => n, None => break },
            };
            let policy = self.policies.get(&ObjectRef::new(&name));
            if let Some(policy) = policy
                && self.is_leader()
            {
                let effective = self.effective(&policy);
                if let Decision::Due { trigger, why } = schedule::decide(&effective, Utc::now()) {
                    tracing::info!(policy = %name, ?why, "run starting");
                    self.run_policy(&effective, trigger).await;
                }
            }
            self.dequeue(&name);
        }
    }

    /// One run: snapshot -> validate -> plan -> execute -> report -> publish.
    async fn run_policy(&self, policy: &DeschedulerPolicy, trigger: Option<String>) {
        let name = policy.metadata.name.clone().unwrap_or_default();
        let started_at = Instant::now();
        let start = Utc::now();
        let snapshot = self.caches.snapshot(start);
        let validated = match validate(&policy.spec, &|pc| {
            snapshot.priority_classes.get(pc).copied()
        }) {
            Ok(p) => p,
            Err(errors) => {
                return self
                    .publish_invalid(policy, &errors.to_string(), start)
                    .await;
            }
        };
        let plan = self.plan(&snapshot, &validated);
        let mode = if validated.dry_run {
            RunMode::DryRun
        } else {
            RunMode::Evict
        };
        let next = start + schedule::interval(policy);
        self.write_status(
            &name,
            status::started(policy, start, mode, trigger.as_deref(), next),
        )
        .await;
        let outcomes = self.execute(&snapshot, &plan, &validated).await;
        let report = RunReport::build(&snapshot, &plan, &outcomes, validated.dry_run);
        let end = Utc::now();
        self.write_status(
            &name,
            status::completed(policy, &report, start, end, trigger.as_deref(), next),
        )
        .await;
        self.publish_events(policy, &report, &snapshot).await;
        self.record_metrics(
            &name,
            &snapshot,
            &plan,
            &report,
            started_at.elapsed().as_secs_f64(),
        );
        tracing::info!(
            policy = %name,
            result = ?report.result,
            evicted = report.total(|c| c.evicted),
            would_evict = report.total(|c| c.would_evict),
            blocked = report.total(|c| c.blocked),
            failed = report.total(|c| c.failed),
            "run completed"
        );
    }

    fn plan(&self, snapshot: &Snapshot, policy: &Policy) -> PlanResult {
        let metrics = &self.metrics;
        plan_observed(snapshot, policy, &mut |strategy, run| {
            let t = Instant::now();
            run();
            metrics
                .strategy_duration
                .get_or_create(&StrategyLabels {
                    strategy: strategy.to_string(),
                })
                .observe(t.elapsed().as_secs_f64());
        })
    }

    /// Whether evicting must stop now: leadership lost or shutting down.
    fn must_stop(&self) -> bool {
        self.shutdown.is_cancelled() || !self.is_leader()
    }

    async fn execute(
        &self,
        snapshot: &Snapshot,
        plan: &PlanResult,
        policy: &Policy,
    ) -> Vec<EvictOutcome> {
        let mut outcomes = Vec::with_capacity(plan.evictions.len());
        let mut leader = self.leader.clone();
        for e in &plan.evictions {
            if policy.dry_run {
                outcomes.push(EvictOutcome::WouldEvict);
                continue;
            }
            if self.must_stop() {
                outcomes.push(EvictOutcome::NotAttempted);
                continue;
            }
            if let Some(limiter) = &self.eviction_limiter {
                let stopped = tokio::select! {
                    _ = limiter.until_ready() => false,
                    _ = self.shutdown.cancelled() => true,
                    _ = leader.wait_for(|is_leader| !is_leader) => true,
                };
                if stopped {
                    outcomes.push(EvictOutcome::NotAttempted);
                    continue;
                }
            }
            let pod = snapshot.pod(e.pod);
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace);
            outcomes.push(evictor::evict(&api, &pod.name, policy.grace_period_seconds).await);
        }
        outcomes
    }

    async fn write_status(&self, name: &str, status: DeschedulerPolicyStatus) {
        if let Ok(mut w) = self.written.lock() {
            w.insert(name.to_string(), status.clone());
        }
        if !self.is_leader() {
            return;
        }
        let api: Api<DeschedulerPolicy> = Api::all(self.client.clone());
        let params = PatchParams::apply(status::FIELD_MANAGER).force();
        let body = status::apply_body(name, &status);
        let mut delay = std::time::Duration::from_millis(200);
        for attempt in 1..=5 {
            match api.patch_status(name, &params, &Patch::Apply(&body)).await {
                Ok(_) => return,
                Err(kube::Error::Api(s)) if s.code == 404 => return,
                Err(e) => {
                    tracing::warn!(policy = name, attempt, error = %e, "status write failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
    }

    async fn publish_invalid(&self, policy: &DeschedulerPolicy, message: &str, now: DateTime<Utc>) {
        let name = policy.metadata.name.clone().unwrap_or_default();
        tracing::warn!(policy = %name, %message, "invalid policy");
        self.write_status(&name, status::invalid(policy, message, now))
            .await;
        self.metrics
            .runs
            .get_or_create(&RunLabels {
                policy: name,
                result: "Invalid".into(),
            })
            .inc();
        let event = Event {
            type_: EventType::Warning,
            reason: "InvalidPolicy".into(),
            note: Some(truncate(message, 1000)),
            action: "Validate".into(),
            secondary: None,
        };
        self.publish(&event, &policy.object_ref(&())).await;
    }

    async fn publish(
        &self,
        event: &Event,
        reference: &k8s_openapi::api::core::v1::ObjectReference,
    ) {
        if !self.is_leader() {
            return;
        }
        if let Err(e) = self.recorder.publish(event, reference).await {
            tracing::warn!(error = %e, reason = %event.reason, "cannot publish event");
        }
    }

    async fn publish_events(
        &self,
        policy: &DeschedulerPolicy,
        report: &RunReport,
        snapshot: &Snapshot,
    ) {
        let name = policy.metadata.name.clone().unwrap_or_default();
        for a in report
            .attempts
            .iter()
            .filter(|a| a.outcome == EvictOutcome::Evicted)
        {
            let reference = snapshot.pod(a.pod).pod.object_ref(&());
            let event = Event {
                type_: EventType::Normal,
                reason: "Descheduled".into(),
                note: Some(truncate(
                    &format!(
                        "Evicted by policy {name}, strategy {}: {}",
                        a.entry.strategy, a.entry.reason
                    ),
                    1000,
                )),
                action: "Evict".into(),
                secondary: Some(policy.object_ref(&())),
            };
            self.publish(&event, &reference).await;
        }
        let summary = format!(
            "{:?} run {:?}: evicted {}, would evict {}, blocked {}, failed {}",
            report.mode,
            report.result,
            report.total(|c| c.evicted),
            report.total(|c| c.would_evict),
            report.total(|c| c.blocked),
            report.total(|c| c.failed)
        );
        let event = Event {
            type_: EventType::Normal,
            reason: "RunCompleted".into(),
            note: Some(summary),
            action: "Run".into(),
            secondary: None,
        };
        self.publish(&event, &policy.object_ref(&())).await;
    }

    fn record_metrics(
        &self,
        policy: &str,
        snapshot: &Snapshot,
        plan: &PlanResult,
        report: &RunReport,
        seconds: f64,
    ) {
        let m = &self.metrics;
        let count = |strategy: &str, namespace: &str, result: &str| {
            m.pods_evicted
                .get_or_create(&EvictionLabels {
                    policy: policy.into(),
                    strategy: strategy.into(),
                    namespace: namespace.into(),
                    result: result.into(),
                })
                .inc();
        };
        for a in &report.attempts {
            let result = match a.outcome {
                EvictOutcome::Evicted => "evicted",
                EvictOutcome::WouldEvict => "would_evict",
                EvictOutcome::Blocked => "blocked",
                EvictOutcome::Failed(_) => "failed",
                EvictOutcome::Gone | EvictOutcome::NotAttempted => continue,
            };
            count(&a.entry.strategy, &a.entry.namespace, result);
        }
        for b in &plan.blocked {
            count(b.strategy, &snapshot.pod(b.pod).namespace, "blocked");
        }
        for s in &report.strategies {
            for (reason, n) in &s.skipped {
                m.pods_skipped
                    .get_or_create(&SkipLabels {
                        policy: policy.into(),
                        strategy: s.name.clone(),
                        reason: reason.clone(),
                    })
                    .inc_by(u64::try_from(*n).unwrap_or(0));
            }
        }
        m.runs
            .get_or_create(&RunLabels {
                policy: policy.into(),
                result: format!("{:?}", report.result),
            })
            .inc();
        m.run_duration
            .get_or_create(&PolicyLabels {
                policy: policy.into(),
            })
            .observe(seconds);
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
