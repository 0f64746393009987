//! The one place status is written: server-side apply of the status
//! subresource under one field manager, retried a few times, only while this
//! process leads. It remembers what it wrote, which is fresher than the watch
//! cache right after a write, so a stale event cannot cause a second run.
//!
//! Policies are told apart by UID, not only by name: a policy deleted and
//! created again under the same name (or brought back with its CRD) is a new
//! object, which must neither inherit what was written for the old one nor
//! receive a status meant for it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use tokio::sync::watch;

use crate::api::{DeschedulerPolicy, DeschedulerPolicyStatus};
use crate::status;

const ATTEMPTS: u32 = 5;
const FIRST_RETRY: Duration = Duration::from_millis(200);

/// What became of a status write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Applied,
    /// The policy no longer exists, or is another object by now (404, or
    /// 409 on its UID).
    Gone,
    /// Not the leader: nothing was sent.
    NotLeader,
    /// Every attempt failed.
    Failed,
}

/// A status as this process last wrote it, for the object it was meant for.
#[derive(Clone)]
struct Remembered {
    uid: Option<String>,
    status: DeschedulerPolicyStatus,
}

pub struct StatusWriter {
    client: Client,
    leader: watch::Receiver<bool>,
    written: Mutex<HashMap<String, Remembered>>,
}

fn start_of(s: &DeschedulerPolicyStatus) -> Option<k8s_openapi::jiff::Timestamp> {
    s.last_run
        .as_ref()
        .and_then(|r| r.start_time.as_ref())
        .map(|t| t.0)
}

/// The status the schedule must see for `policy`: what was written for this
/// very object (same UID) when that is at least as new as the cached one.
fn fresher(
    policy: &DeschedulerPolicy,
    written: Option<&Remembered>,
) -> Option<DeschedulerPolicyStatus> {
    let written = written.filter(|w| w.uid == policy.metadata.uid)?;
    let cached = policy.status.clone().unwrap_or_default();
    let newer = start_of(&written.status) >= start_of(&cached)
        && written.status.observed_generation >= cached.observed_generation;
    newer.then(|| written.status.clone())
}

impl StatusWriter {
    pub fn new(client: Client, leader: watch::Receiver<bool>) -> Self {
        Self {
            client,
            leader,
            written: Mutex::default(),
        }
    }

    /// The policy as the schedule must see it: with the status this process
    /// last wrote for it when that is newer than the cached one.
    pub fn effective(&self, policy: &DeschedulerPolicy) -> DeschedulerPolicy {
        let name = policy.metadata.name.clone().unwrap_or_default();
        let written = self.written.lock().ok().and_then(|w| w.get(&name).cloned());
        let mut p = policy.clone();
        if let Some(status) = fresher(policy, written.as_ref()) {
            p.status = Some(status);
        }
        p
    }

    /// Applies `status` to `policy` (the object, by UID when known).
    pub async fn write(
        &self,
        policy: &DeschedulerPolicy,
        status: DeschedulerPolicyStatus,
    ) -> Written {
        let name = policy.metadata.name.clone().unwrap_or_default();
        let uid = policy.metadata.uid.clone();
        if let Ok(mut w) = self.written.lock() {
            w.insert(
                name.clone(),
                Remembered {
                    uid: uid.clone(),
                    status: status.clone(),
                },
            );
        }
        if !*self.leader.borrow() {
            return Written::NotLeader;
        }
        let api: Api<DeschedulerPolicy> = Api::all(self.client.clone());
        let params = PatchParams::apply(status::FIELD_MANAGER).force();
        let body = status::apply_body(&name, uid.as_deref(), &status);
        let mut delay = FIRST_RETRY;
        for attempt in 1..=ATTEMPTS {
            match api.patch_status(&name, &params, &Patch::Apply(&body)).await {
                Ok(_) => return Written::Applied,
                // A forced apply has no field conflicts: a 409 is the UID
                // precondition, i.e. another object of the same name.
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => return Written::Gone,
                Err(e) => {
                    tracing::warn!(policy = name, attempt, error = %e, "status write failed; retrying");
                    if attempt < ATTEMPTS {
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                    }
                }
            }
        }
        Written::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DeschedulerPolicySpec, LastRun};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn status(start: &str, generation: i64) -> DeschedulerPolicyStatus {
        DeschedulerPolicyStatus {
            observed_generation: Some(generation),
            last_run: Some(LastRun {
                start_time: Some(Time(start.parse().expect("timestamp"))),
                ..Default::default()
            }),
            total_evicted: Some(3),
            ..Default::default()
        }
    }

    fn policy(uid: &str, cached: Option<DeschedulerPolicyStatus>) -> DeschedulerPolicy {
        let mut p = DeschedulerPolicy::new("p", DeschedulerPolicySpec::default());
        p.metadata.uid = Some(uid.into());
        p.metadata.generation = Some(1);
        p.status = cached;
        p
    }

    fn remembered(uid: &str, s: DeschedulerPolicyStatus) -> Remembered {
        Remembered {
            uid: Some(uid.into()),
            status: s,
        }
    }

    #[test]
    fn what_was_written_counts_when_newer_than_the_cache() {
        let old = status("2026-12-03T10:00:00Z", 1);
        let new = status("2026-12-03T10:10:00Z", 1);
        let w = remembered("u1", new.clone());
        assert_eq!(
            fresher(&policy("u1", Some(old.clone())), Some(&w)),
            Some(new.clone())
        );
        assert_eq!(fresher(&policy("u1", None), Some(&w)), Some(new.clone()));
        // The cache caught up, or is ahead.
        let stale = remembered("u1", old);
        assert_eq!(fresher(&policy("u1", Some(new)), Some(&stale)), None);
        assert_eq!(fresher(&policy("u1", None), None), None);
    }

    #[test]
    fn a_policy_recreated_under_the_same_name_inherits_nothing() {
        let w = remembered("old-uid", status("2026-12-03T10:10:00Z", 1));
        assert_eq!(fresher(&policy("new-uid", None), Some(&w)), None);
    }
}
