//! Reading the live cluster for `simulate` without `--cluster`: one paged
//! list of each kind the snapshot needs, and optionally the policy itself.
//! Read-only: get and list, nothing else.

use std::path::Path;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config, Resource};
use serde::de::DeserializeOwned;

use crate::api::DeschedulerPolicy;
use crate::dump::PolicyManifest;
use crate::snapshot::{ClusterObjects, slim};

/// Objects per list call: large enough to keep round trips few at 10,000
/// nodes, small enough not to strain the API server.
const PAGE: u32 = 500;

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("{path}: cannot read the kubeconfig: {source}")]
    Kubeconfig {
        path: String,
        source: kube::config::KubeconfigError,
    },
    #[error("cannot configure a client: {0}")]
    Config(String),
    #[error("cannot list {kind}: {source}")]
    List {
        kind: &'static str,
        source: kube::Error,
    },
    #[error("DeschedulerPolicy {name}: {source}")]
    Policy { name: String, source: kube::Error },
}

/// A client from `--kubeconfig`, else `$KUBECONFIG` / `~/.kube/config`, else
/// the in-cluster service account.
pub async fn client(kubeconfig: Option<&Path>) -> Result<Client, LiveError> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|source| LiveError::Kubeconfig {
                path: path.display().to_string(),
                source,
            })?;
            Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(|e| LiveError::Config(e.to_string()))?
        }
        None => Config::infer()
            .await
            .map_err(|e| LiveError::Config(e.to_string()))?,
    };
    Client::try_from(config).map_err(|e| LiveError::Config(e.to_string()))
}

async fn list_all<K>(client: &Client, kind: &'static str) -> Result<Vec<Arc<K>>, LiveError>
where
    K: Resource<Scope = k8s_openapi::ClusterResourceScope>
        + Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    list_pages(Api::<K>::all(client.clone()), kind, |_| {}).await
}

async fn list_namespaced_all<K>(
    client: &Client,
    kind: &'static str,
) -> Result<Vec<Arc<K>>, LiveError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    list_pages(Api::<K>::all(client.clone()), kind, |_| {}).await
}

/// Every page of `api`, each object slimmed by `slim` as its page arrives.
async fn list_pages<K>(
    api: Api<K>,
    kind: &'static str,
    slim: fn(&mut K),
) -> Result<Vec<Arc<K>>, LiveError>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut out = Vec::new();
    let mut params = ListParams::default().limit(PAGE);
    loop {
        let page = api
            .list(&params)
            .await
            .map_err(|source| LiveError::List { kind, source })?;
        out.extend(page.items.into_iter().map(|mut o| {
            slim(&mut o);
            Arc::new(o)
        }));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(out),
        }
    }
}

/// Everything a snapshot is built from, as the cluster has it now.
pub async fn cluster_objects(client: &Client) -> Result<ClusterObjects, LiveError> {
    let (nodes, pods, pdbs, priority_classes, namespaces) = futures::try_join!(
        list_pages(Api::<Node>::all(client.clone()), "nodes", slim::node),
        list_pages(Api::<Pod>::all(client.clone()), "pods", slim::pod),
        list_namespaced_all::<PodDisruptionBudget>(client, "poddisruptionbudgets"),
        list_all::<PriorityClass>(client, "priorityclasses"),
        list_all::<Namespace>(client, "namespaces"),
    )?;
    Ok(ClusterObjects {
        nodes,
        pods,
        pdbs,
        priority_classes,
        namespaces,
    })
}

/// A DeschedulerPolicy as the cluster stores it.
pub async fn policy(client: &Client, name: &str) -> Result<PolicyManifest, LiveError> {
    let api: Api<DeschedulerPolicy> = Api::all(client.clone());
    let p = api.get(name).await.map_err(|source| LiveError::Policy {
        name: name.to_string(),
        source,
    })?;
    Ok(PolicyManifest {
        name: p.metadata.name.unwrap_or_else(|| name.to_string()),
        spec: p.spec,
    })
}

/// metrics.k8s.io usage as the cluster reports it now (one poll, nothing
/// smoothed: there is no earlier sample); the error as text for the strategy
/// that needs it.
pub async fn kube_metrics(client: &Client) -> Result<crate::snapshot::KubeMetrics, String> {
    let (nodes, pods) = crate::usage::kubernetes::fetch(client)
        .await
        .map_err(|e| e.to_string())?;
    Ok(crate::snapshot::KubeMetrics {
        nodes: crate::usage::metrics_api::node_usage(&nodes),
        pods: crate::usage::metrics_api::pod_usage(&pods),
    })
}
