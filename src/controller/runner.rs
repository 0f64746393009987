//! The single runner: runs of all policies are queued and executed one at a
//! time, each against a fresh snapshot from the watch caches, and only while
//! this process leads.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use governor::DefaultDirectRateLimiter;
use kube::Client;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::pipeline;
use super::schedule::{self, Decision};
use super::status_writer::StatusWriter;
use crate::api::DeschedulerPolicy;
use crate::cluster::Caches;
use crate::followup::Moved;
use crate::metrics::Metrics;

/// The UID of a policy object and the replacements its last run moved.
type MovedBy = (Option<String>, Vec<Moved>);

pub struct Runner {
    pub client: Client,
    pub caches: Caches,
    pub policies: Store<DeschedulerPolicy>,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub leader: watch::Receiver<bool>,
    pub shutdown: CancellationToken,
    pub eviction_limiter: Option<Arc<DefaultDirectRateLimiter>>,
    pub status: StatusWriter,
    /// Measured usage, collected only for policies that balance by it.
    pub usage: crate::usage::Collectors,
    queued: Mutex<HashSet<String>>,
    /// Per policy name, the UID of the object and the replacements its last
    /// run moved (see [`crate::followup::flagged_again`]). In memory only:
    /// after a restart one ping-pong goes unnoticed, and the next is caught.
    /// A policy created again under the same name starts afresh.
    moved: Mutex<HashMap<String, MovedBy>>,
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
    pub prometheus: Option<crate::usage::PrometheusClient>,
}

impl Runner {
    pub fn new(d: Deps) -> (Arc<Self>, mpsc::UnboundedReceiver<String>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let runner = Self {
            status: StatusWriter::new(d.client.clone(), d.leader.clone()),
            usage: crate::usage::Collectors {
                kubernetes: crate::usage::KubeCollector::new(d.client.clone(), d.shutdown.clone()),
                prometheus: d.prometheus,
            },
            client: d.client,
            caches: d.caches,
            policies: d.policies,
            recorder: d.recorder,
            metrics: d.metrics,
            leader: d.leader,
            shutdown: d.shutdown,
            eviction_limiter: d.eviction_limiter,
            queued: Mutex::default(),
            moved: Mutex::default(),
            tx,
        };
        (Arc::new(runner), rx)
    }

    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    /// The policy as the schedule must see it (see [`StatusWriter::effective`]).
    pub fn effective(&self, policy: &DeschedulerPolicy) -> DeschedulerPolicy {
        self.status.effective(policy)
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

    /// The replacements the policy's last run moved, forgotten once read.
    pub fn take_moved(&self, policy: &DeschedulerPolicy) -> Vec<Moved> {
        let name = policy.metadata.name.as_deref().unwrap_or_default();
        self.moved
            .lock()
            .ok()
            .and_then(|mut m| m.remove(name))
            .filter(|(uid, _)| *uid == policy.metadata.uid)
            .map(|(_, moved)| moved)
            .unwrap_or_default()
    }

    pub fn set_moved(&self, policy: &DeschedulerPolicy, moved: Vec<Moved>) {
        let name = policy.metadata.name.clone().unwrap_or_default();
        if let Ok(mut m) = self.moved.lock() {
            if moved.is_empty() {
                m.remove(&name);
            } else {
                m.insert(name, (policy.metadata.uid.clone(), moved));
            }
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
                match schedule::decide(&effective, Utc::now()) {
                    Decision::Due { trigger, why } => {
                        tracing::info!(policy = %name, ?why, "run starting");
                        pipeline::run(self.as_ref(), &effective, trigger).await;
                    }
                    Decision::Approve { id } => {
                        tracing::info!(policy = %name, plan = %id, "carrying out an approved plan");
                        pipeline::approve(self.as_ref(), &effective, &id).await;
                    }
                    _ => {}
                }
            }
            self.dequeue(&name);
            self.enqueue_if_due(&name);
        }
    }

    /// A change that arrived while the policy's run was queued or in flight
    /// was not queued again ([`Runner::enqueue`] keeps one entry per
    /// policy), and the reconcile it caused may not come back for an
    /// interval: look once more when the run is over. A spec changed while
    /// its run was in flight runs at once this way.
    fn enqueue_if_due(&self, name: &str) {
        let Some(policy) = self.policies.get(&ObjectRef::new(name)) else {
            return;
        };
        if !self.is_leader() {
            return;
        }
        let effective = self.effective(&policy);
        if matches!(
            schedule::decide(&effective, Utc::now()),
            Decision::Due { .. } | Decision::Approve { .. }
        ) {
            self.enqueue(name);
        }
    }
}
