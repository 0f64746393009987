//! How the operator's watches fill their caches (issue 16): by streaming
//! lists (`sendInitialEvents=true`, one watch per kind, no `list` at all)
//! where the API server streams, and by paged lists where it refuses to
//! (a second, real kube-apiserver on the same etcd with
//! `--feature-gates=WatchList=false`, which answers such a watch 422).
//!
//! Requests are read from the audit log: each test's operator talks as a
//! user of its own in the group `e2e-audited`, whose every request the audit
//! policy logs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Operator, Scenario};
use crate::support::audit::{self, apiserver_sh, audited_kubeconfig, cluster_env};
use crate::support::{WAIT, wait_for};

/// The kinds the operator watches, as the audit log names their resources.
const WATCHED: [&str; 6] = [
    "nodes",
    "pods",
    "poddisruptionbudgets",
    "priorityclasses",
    "namespaces",
    "deschedulerpolicies",
];

/// One request of the audit log.
#[derive(Debug, Clone)]
struct Request {
    verb: String,
    resource: String,
    uri: String,
    code: Option<i64>,
}

impl Request {
    fn streams(&self) -> bool {
        self.verb == "watch" && self.uri.contains("sendInitialEvents=true")
    }
}

fn text<'v>(e: &'v Value, path: &[&str]) -> &'v str {
    path.iter()
        .try_fold(e, |v, k| v.get(k))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The requests of `user` in `files`, one per request (a watch logs when its
/// response starts and again when it ends), in the order received.
fn requests_of(files: &[PathBuf], user: &str) -> Vec<Request> {
    let mut by_id: BTreeMap<String, (String, Request)> = BTreeMap::new();
    for e in audit::events(files) {
        if text(&e, &["user", "username"]) != user {
            continue;
        }
        let code = e
            .get("responseStatus")
            .and_then(|s| s.get("code"))
            .and_then(Value::as_i64);
        let entry = by_id
            .entry(text(&e, &["auditID"]).to_string())
            .or_insert_with(|| {
                (
                    text(&e, &["requestReceivedTimestamp"]).to_string(),
                    Request {
                        verb: text(&e, &["verb"]).to_string(),
                        resource: text(&e, &["objectRef", "resource"]).to_string(),
                        uri: text(&e, &["requestURI"]).to_string(),
                        code: None,
                    },
                )
            });
        entry.1.code = entry.1.code.or(code);
    }
    let mut requests: Vec<_> = by_id.into_values().collect();
    requests.sort_by(|a, b| a.0.cmp(&b.0));
    requests.into_iter().map(|(_, r)| r).collect()
}

fn verbs(requests: &[Request]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in requests {
        *counts
            .entry(format!("{} {}", r.verb, r.resource))
            .or_insert(0) += 1;
    }
    counts
}

/// An operator of scenario `s` talking to `server` as a user of its own.
async fn audited_operator(s: &Scenario, server: &str, extra: &[&str]) -> (Operator, String) {
    let dir = std::env::temp_dir().join(format!("descheduler-{}", s.name()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let user = format!("e2e-lists-{}", s.name());
    let kubeconfig = audited_kubeconfig(&dir, server, &user, &["e2e-audited"]);
    let op = Operator::start_with(&s.ns, "op", extra, &kubeconfig).await;
    (op, user)
}

fn log_has(log: &Path, parts: &[&str]) -> bool {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .any(|l| parts.iter().all(|p| l.contains(p)))
}

/// A dry run that completes shows the policy watch and the caches working.
async fn wait_dry_run(s: &Scenario) {
    let policy = s.policy_name("probe");
    s.create_policy(
        "probe",
        json!({"interval": "1h", "dryRun": true, "strategies": {"RemovePodsViolatingNodeTaints": {}}}),
    )
    .await;
    s.wait_run(&policy, None, WAIT).await;
}

#[tokio::test]
async fn the_caches_fill_by_streaming_watches_without_a_single_list() {
    let s = Scenario::new("lst-stream").await;
    let (op, user) = audited_operator(&s, &cluster_env("APISERVER_URL"), &[]).await;
    wait_dry_run(&s).await;

    let files = [audit::logs_dir().join("audit.log")];
    let requests = requests_of(&files, &user);
    let streamed: BTreeSet<&str> = requests
        .iter()
        .filter(|r| r.streams())
        .map(|r| r.resource.as_str())
        .collect();
    for kind in WATCHED {
        assert!(
            streamed.contains(kind),
            "no streaming watch of {kind}: {:?}",
            verbs(&requests)
        );
    }
    let lists: Vec<&Request> = requests.iter().filter(|r| r.verb == "list").collect();
    assert!(lists.is_empty(), "lists while streaming: {lists:?}");
    wait_for(WAIT, "the operator to log the streaming mode", || async {
        if log_has(
            &op.log,
            &["initial lists: streaming", "ended a streaming list"],
        ) {
            Ok(())
        } else {
            Err(format!("log {}", op.log.display()))
        }
    })
    .await;
    eprintln!(
        "{} requests until the first run completed: {:?}",
        requests.len(),
        verbs(&requests)
    );
}

/// A second kube-apiserver of the test's, stopped when dropped.
struct SecondApiServer {
    name: String,
    url: String,
}

impl SecondApiServer {
    fn start(name: &str, flags: &[&str]) -> Self {
        let out = apiserver_sh(&[&["second", name], flags].concat());
        SecondApiServer {
            name: name.to_string(),
            url: out,
        }
    }

    fn audit_log(&self) -> PathBuf {
        audit::logs_dir().join(format!("{}-apiserver-audit.log", self.name))
    }
}

impl Drop for SecondApiServer {
    fn drop(&mut self) {
        apiserver_sh(&["second-stop", &self.name]);
    }
}

#[tokio::test]
async fn an_api_server_that_refuses_streaming_lists_is_listed_in_pages() {
    let s = Scenario::new("lst-paged").await;
    let server = SecondApiServer::start(s.name(), &["--feature-gates=WatchList=false"]);
    let (op, user) = audited_operator(&s, &server.url, &[]).await;
    wait_dry_run(&s).await;
    wait_for(
        Duration::from_secs(30),
        "the operator to log the fallback",
        || async {
            if log_has(&op.log, &["initial lists: paged", "WatchList"]) {
                Ok(())
            } else {
                Err(format!("log {}", op.log.display()))
            }
        },
    )
    .await;

    let requests = requests_of(&[server.audit_log()], &user);
    let refused: Vec<&Request> = requests.iter().filter(|r| r.streams()).collect();
    assert!(
        !refused.is_empty() && refused.iter().all(|r| r.code == Some(422)),
        "the streaming watches should have been refused with 422: {refused:?}"
    );
    let listed: BTreeSet<&str> = requests
        .iter()
        .filter(|r| r.verb == "list" && r.code == Some(200))
        .map(|r| r.resource.as_str())
        .collect();
    for kind in WATCHED {
        assert!(
            listed.contains(kind),
            "{kind} never listed: {:?}",
            verbs(&requests)
        );
    }
    // Once refused, streaming is not tried again by every watch on every
    // restart: at most once per kind.
    assert!(
        refused.len() <= WATCHED.len(),
        "{} refused streaming watches",
        refused.len()
    );
    eprintln!(
        "{} requests until the first run completed: {:?}",
        requests.len(),
        verbs(&requests)
    );
}
