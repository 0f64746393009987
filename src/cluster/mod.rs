//! Cluster state from watch caches: one reflector per kind, synced before the
//! first run; a run's snapshot is taken from them without any request.

pub mod initial_list;
pub mod live;
mod ratelimit;

pub use initial_list::Lists;
pub use ratelimit::RateLimitLayer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, TryLockError};

use chrono::{DateTime, Utc};
use futures::{StreamExt, future::BoxFuture};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::snapshot::{ClusterObjects, PodReuse, Snapshot, slim};

/// Read-only caches of the kinds a snapshot needs.
#[derive(Clone)]
pub struct Caches {
    nodes: Store<Node>,
    pods: Store<Pod>,
    pdbs: Store<PodDisruptionBudget>,
    priority_classes: Store<PriorityClass>,
    namespaces: Store<Namespace>,
    /// One flag per cache: set while it lists again after its watch expired.
    relisting: Vec<Arc<AtomicBool>>,
    /// The last snapshot's pod records, for the next snapshot.
    reuse: Arc<Mutex<PodReuse>>,
}

type Watch = BoxFuture<'static, ()>;

const RELIST_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// Whether a watcher step starts (`Some(true)`) or ends (`Some(false)`) a
/// new list of everything. A watch that expired (410 Gone, after an API
/// server restart or etcd compaction) is followed by one, during which the
/// cache still holds the old state: a run must not plan on it then.
pub fn relist_change<K>(step: &Result<watcher::Event<K>, watcher::Error>) -> Option<bool> {
    match step {
        Ok(watcher::Event::Init) => Some(true),
        Ok(watcher::Event::InitDone) => Some(false),
        Err(watcher::Error::WatchError(status)) if status.code == 410 => Some(true),
        Err(watcher::Error::NoResourceVersion) => Some(true),
        _ => None,
    }
}

fn cache<K>(
    api: Api<K>,
    lists: &Lists,
    limit: Option<std::time::Duration>,
    prune: fn(&mut K),
) -> (Store<K>, Arc<AtomicBool>, Watch)
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let relisting = Arc::new(AtomicBool::new(false));
    let flag = relisting.clone();
    let stream = initial_list::watch(api, watcher::Config::default().any_semantic(), lists, limit)
        .default_backoff()
        .map(move |step| {
            if let Some(on) = relist_change(&step) {
                flag.store(on, Ordering::Relaxed);
            }
            step
        })
        .modify(prune)
        .reflect(writer)
        .applied_objects();
    let task = async move {
        // The backoff retries watch errors forever; items are only logged.
        stream
            .for_each(|r| async move {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "watch error; retrying with backoff");
                }
            })
            .await;
    };
    (reader, relisting, Box::pin(task))
}

fn drop_managed_fields<K: ResourceExt>(obj: &mut K) {
    obj.managed_fields_mut().clear();
}

impl Caches {
    /// Starts the watches; the returned futures must be polled (spawned) for the caches to fill.
    pub fn start(client: &Client, lists: &Lists) -> (Self, Vec<Watch>) {
        // Pods are the bulk of the cache: keep only what a run reads.
        let (nodes, r1, w1) = cache(Api::<Node>::all(client.clone()), lists, None, slim::node);
        let (pods, r2, w2) = cache(Api::<Pod>::all(client.clone()), lists, None, slim::pod);
        let (pdbs, r3, w3) = cache(
            Api::<PodDisruptionBudget>::all(client.clone()),
            lists,
            None,
            drop_managed_fields,
        );
        let (priority_classes, r4, w4) = cache(
            Api::<PriorityClass>::all(client.clone()),
            lists,
            None,
            drop_managed_fields,
        );
        let (namespaces, r5, w5) = cache(
            Api::<Namespace>::all(client.clone()),
            lists,
            // The namespaces' list tells a server that ignores streaming.
            Some(initial_list::END_LIMIT),
            drop_managed_fields,
        );
        (
            Self {
                nodes,
                pods,
                pdbs,
                priority_classes,
                namespaces,
                relisting: vec![r1, r2, r3, r4, r5],
                reuse: Arc::default(),
            },
            vec![w1, w2, w3, w4, w5],
        )
    }

    /// Resolves once every cache has completed its initial list.
    pub async fn wait_until_ready(&self) -> Result<(), reflector::store::WriterDropped> {
        self.nodes.wait_until_ready().await?;
        self.pods.wait_until_ready().await?;
        self.pdbs.wait_until_ready().await?;
        self.priority_classes.wait_until_ready().await?;
        self.namespaces.wait_until_ready().await
    }

    /// Waits (at most `limit`) until no cache is listing again after an
    /// expired watch; false if one still is (the API server may be down:
    /// then what the caches hold is all there is).
    pub async fn wait_relisted(&self, limit: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if !self.relisting.iter().any(|r| r.load(Ordering::Relaxed)) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(RELIST_POLL).await;
        }
    }

    pub fn objects(&self) -> ClusterObjects {
        ClusterObjects {
            nodes: self.nodes.state(),
            pods: self.pods.state(),
            pdbs: self.pdbs.state(),
            priority_classes: self.priority_classes.state(),
            namespaces: self.namespaces.state(),
        }
    }

    /// The pods alone, without building a snapshot (the follow-up's polling).
    pub fn pods(&self) -> Vec<Arc<Pod>> {
        self.pods.state()
    }

    pub fn snapshot(&self, now: DateTime<Utc>) -> Snapshot {
        // Two runs building at once: the second builds without the records
        // rather than wait for the first.
        let Some(mut reuse) = self.reuse_lock() else {
            return Snapshot::build(now, self.objects());
        };
        let snapshot = Snapshot::build_reusing(now, self.objects(), &mut reuse);
        tracing::debug!(
            pods = snapshot.pods.len(),
            reused = reuse.reused(),
            "snapshot built"
        );
        snapshot
    }

    /// Gives a run's snapshot back when the run is done with it: the next
    /// snapshot takes the records of the pods that have not changed.
    pub fn recycle(&self, snapshot: Snapshot) {
        if let Some(mut reuse) = self.reuse_lock() {
            reuse.keep(snapshot);
        }
    }

    fn reuse_lock(&self) -> Option<std::sync::MutexGuard<'_, PodReuse>> {
        match self.reuse.try_lock() {
            Ok(reuse) => Some(reuse),
            // A build that panicked may have left the records half made.
            Err(TryLockError::Poisoned(poisoned)) => {
                let mut reuse = poisoned.into_inner();
                *reuse = PodReuse::default();
                self.reuse.clear_poison();
                Some(reuse)
            }
            Err(TryLockError::WouldBlock) => None,
        }
    }
}

/// Shared so the HTTP server can answer /readyz.
pub type Ready = Arc<std::sync::atomic::AtomicBool>;

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    #[test]
    fn an_expired_watch_marks_the_cache_relisting_until_the_list_is_done() {
        let gone = Status::failure("too old resource version: 1 (5)", "Expired").with_code(410);
        let other = Status::failure("internal error", "InternalError").with_code(500);
        type Step = Result<watcher::Event<Pod>, watcher::Error>;
        let steps: Vec<(Step, Option<bool>)> = vec![
            (Err(watcher::Error::WatchError(Box::new(gone))), Some(true)),
            (Ok(watcher::Event::Init), Some(true)),
            (Ok(watcher::Event::InitApply(Pod::default())), None),
            (Ok(watcher::Event::InitDone), Some(false)),
            (Ok(watcher::Event::Apply(Pod::default())), None),
            (Ok(watcher::Event::Delete(Pod::default())), None),
            // Other errors resume the watch where it was: no new list.
            (Err(watcher::Error::WatchError(Box::new(other))), None),
            (Err(watcher::Error::NoResourceVersion), Some(true)),
        ];
        for (step, want) in &steps {
            assert_eq!(relist_change(step), *want, "{step:?}");
        }
    }
}
