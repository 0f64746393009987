//! The one place status is written: server-side apply of the status
//! subresource under one field manager, retried a few times, only while this
//! process leads. It remembers what it wrote, which is fresher than the watch
//! cache right after a write, so a stale event cannot cause a second run.

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

pub struct StatusWriter {
    client: Client,
    leader: watch::Receiver<bool>,
    written: Mutex<HashMap<String, DeschedulerPolicyStatus>>,
}

fn start_of(s: &DeschedulerPolicyStatus) -> Option<k8s_openapi::jiff::Timestamp> {
    s.last_run
        .as_ref()
        .and_then(|r| r.start_time.as_ref())
        .map(|t| t.0)
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

    pub async fn write(&self, name: &str, status: DeschedulerPolicyStatus) {
        if let Ok(mut w) = self.written.lock() {
            w.insert(name.to_string(), status.clone());
        }
        if !*self.leader.borrow() {
            return;
        }
        let api: Api<DeschedulerPolicy> = Api::all(self.client.clone());
        let params = PatchParams::apply(status::FIELD_MANAGER).force();
        let body = status::apply_body(name, &status);
        let mut delay = FIRST_RETRY;
        for attempt in 1..=ATTEMPTS {
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
}
