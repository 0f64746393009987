//! Leader election on a coordination.k8s.io/v1 Lease. Without `--leader-elect`
//! this process always leads.

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;

pub struct Leadership {
    pub is_leader: watch::Receiver<bool>,
    /// Keeps the constant channel open when election is off.
    _always: Option<watch::Sender<bool>>,
}

pub async fn start(
    client: Client,
    enabled: bool,
    namespace: &str,
    lease: &str,
    identity: &str,
    duration_secs: u64,
) -> Result<Leadership, kube_lease_manager::LeaseManagerError> {
    if !enabled {
        let (tx, rx) = watch::channel(true);
        return Ok(Leadership {
            is_leader: rx,
            _always: Some(tx),
        });
    }
    let manager = LeaseManagerBuilder::new(client, lease)
        .with_namespace(namespace)
        .with_identity(identity)
        .with_duration(duration_secs)
        .with_grace((duration_secs / 3).max(1))
        .build()
        .await?;
    let (rx, task) = manager.watch().await;
    tokio::spawn(async move {
        match task.await {
            Ok(Ok(_)) => tracing::info!("leader election stopped"),
            Ok(Err(e)) => tracing::error!(error = %e, "leader election failed"),
            Err(e) => tracing::error!(error = %e, "leader election task panicked"),
        }
    });
    Ok(Leadership {
        is_leader: rx,
        _always: None,
    })
}
