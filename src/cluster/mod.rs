//! Cluster state from watch caches: one reflector per kind, synced before the
//! first run; a run's snapshot is taken from them without any request.

pub mod live;
mod ratelimit;

pub use ratelimit::RateLimitLayer;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::{StreamExt, future::BoxFuture};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::snapshot::{ClusterObjects, Snapshot};

/// Read-only caches of the kinds a snapshot needs.
#[derive(Clone)]
pub struct Caches {
    nodes: Store<Node>,
    pods: Store<Pod>,
    pdbs: Store<PodDisruptionBudget>,
    priority_classes: Store<PriorityClass>,
    namespaces: Store<Namespace>,
}

type Watch = BoxFuture<'static, ()>;

fn cache<K>(api: Api<K>, prune: fn(&mut K)) -> (Store<K>, Watch)
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
    let stream = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
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
    (reader, Box::pin(task))
}

fn drop_managed_fields<K: ResourceExt>(obj: &mut K) {
    obj.managed_fields_mut().clear();
}

impl Caches {
    /// Starts the watches; the returned futures must be polled (spawned) for the caches to fill.
    pub fn start(client: &Client) -> (Self, Vec<Watch>) {
        let (nodes, w1) = cache(Api::<Node>::all(client.clone()), drop_managed_fields);
        let (pods, w2) = cache(Api::<Pod>::all(client.clone()), |p: &mut Pod| {
            // Pods are the bulk of the cache: keep only what the engine reads.
            p.managed_fields_mut().clear();
            if let Some(a) = p.metadata.annotations.as_mut() {
                a.remove("kubectl.kubernetes.io/last-applied-configuration");
            }
        });
        let (pdbs, w3) = cache(
            Api::<PodDisruptionBudget>::all(client.clone()),
            drop_managed_fields,
        );
        let (priority_classes, w4) = cache(
            Api::<PriorityClass>::all(client.clone()),
            drop_managed_fields,
        );
        let (namespaces, w5) = cache(Api::<Namespace>::all(client.clone()), drop_managed_fields);
        (
            Self {
                nodes,
                pods,
                pdbs,
                priority_classes,
                namespaces,
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
        Snapshot::build(now, self.objects())
    }
}

/// Shared so the HTTP server can answer /readyz.
pub type Ready = Arc<std::sync::atomic::AtomicBool>;
