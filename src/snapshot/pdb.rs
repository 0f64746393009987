//! PodDisruptionBudgets as the Eviction API applies them, computed from the
//! spec and the pods in the snapshot so a plan can simulate them.

use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{LabelIndex, PerPod, PodId, PodInfo};
use crate::selectors::Selector;

#[derive(Debug, Clone)]
pub struct PdbInfo {
    pub namespace: String,
    pub name: String,
    /// Non-terminal pods the budget selects.
    pub pods: Vec<PodId>,
    /// Selected pods that are Ready and not terminating.
    pub healthy: i64,
    /// How many selected pods must stay healthy.
    pub desired_healthy: i64,
    /// `unhealthyPodEvictionPolicy: AlwaysAllow`.
    pub always_allow_unhealthy: bool,
}

/// Scales an int-or-percent against `total`, rounding up as the disruption controller does.
fn scaled(v: &IntOrString, total: i64) -> i64 {
    match v {
        IntOrString::Int(i) => i64::from(*i),
        IntOrString::String(s) => {
            let pct: i64 = s.trim_end_matches('%').trim().parse().unwrap_or(0);
            (pct * total + 99) / 100
        }
    }
}

impl PdbInfo {
    pub(super) fn new(
        pdb: &PodDisruptionBudget,
        pods: &PerPod<PodInfo>,
        in_namespace: &[PodId],
        labels: &mut LabelIndex,
    ) -> Self {
        let spec = pdb.spec.as_ref();
        // policy/v1: a missing selector selects nothing; an empty one selects every pod.
        let selector = spec
            .and_then(|s| s.selector.as_ref())
            .and_then(|s| Selector::from_label_selector(s).ok());
        let matched: Vec<PodId> = match &selector {
            None => Vec::new(),
            Some(sel) => {
                let ns = pdb.metadata.namespace.as_deref().unwrap_or_default();
                let matches =
                    |p: PodId| !pods[p].phase.is_terminal() && sel.matches(pods[p].labels());
                match labels.most_selective(pods, in_namespace, ns, sel) {
                    Some(candidates) => candidates.into_iter().filter(|&p| matches(p)).collect(),
                    None => in_namespace
                        .iter()
                        .copied()
                        .filter(|&p| matches(p))
                        .collect(),
                }
            }
        };
        let healthy = matched
            .iter()
            .filter(|&&p| pods[p].ready && !pods[p].terminating)
            .count() as i64;
        let expected = matched.len() as i64;
        let desired_healthy = match (
            spec.and_then(|s| s.min_available.as_ref()),
            spec.and_then(|s| s.max_unavailable.as_ref()),
        ) {
            (Some(min), _) => scaled(min, expected),
            (None, Some(max)) => (expected - scaled(max, expected)).max(0),
            (None, None) => 0,
        };
        Self {
            namespace: pdb.metadata.namespace.clone().unwrap_or_default(),
            name: pdb.metadata.name.clone().unwrap_or_default(),
            pods: matched,
            healthy,
            desired_healthy,
            always_allow_unhealthy: spec.and_then(|s| s.unhealthy_pod_eviction_policy.as_deref())
                == Some("AlwaysAllow"),
        }
    }

    /// Whether evicting a pod is allowed after `planned` healthy pods of this
    /// budget were already evicted in the run.
    pub fn allows(&self, pod_healthy: bool, planned: i64) -> bool {
        let healthy_now = self.healthy - planned;
        if pod_healthy {
            healthy_now > self.desired_healthy
        } else {
            self.always_allow_unhealthy || healthy_now >= self.desired_healthy
        }
    }
}
