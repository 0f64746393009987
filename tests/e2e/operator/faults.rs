//! The operator under faults (issue 15): a leader killed mid-run, the API
//! server stopped mid-run, a watch that expires, the CRD deleted, a policy
//! deleted or changed while its run is in flight, a slow API server. Each
//! checks that nothing is evicted twice, that no policy runs more often than
//! its interval, that status is correct afterwards and that the operator does
//! not crash.
//!
//! Evictions and status writes are counted from the API server's audit log
//! (`.cache/cluster/logs/audit.log`, see `tests/e2e/README.md`), not from the
//! operator's own reports. Tests that disturb every other test (the API
//! server stopped, the CRD deleted, etcd compacted) take the cluster for
//! themselves with [`Scenario::exclusive`]; the others run alongside the rest.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use descheduler::api::{LastRun, RunResult};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use serde_json::{Value, json};

use super::{Operator, Scenario, TAINT_KEY, names, start_millis, start_of, uids};
use crate::support::audit::{apiserver_sh, audited_kubeconfig, cluster_env};
use crate::support::{self, PodPlacement, WAIT, state, wait_for};

const TAINTS: &str = "RemovePodsViolatingNodeTaints";

// --- the audit log ------------------------------------------------------------

fn audit_logs() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/cluster/logs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("audit") && n.ends_with(".log"))
        })
        .collect();
    files.sort();
    files
}

/// Every event of the audit log (and its rotated backups).
fn audit_events() -> Vec<Value> {
    let mut events = Vec::new();
    for file in audit_logs() {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        // The last line may be half written.
        events.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
    }
    events
}

/// The event a request leaves once it is answered (a watch also logs when
/// its response starts).
fn answered(e: &Value) -> bool {
    matches!(text(e, &["stage"]), "ResponseComplete" | "Panic")
}

fn field<'v>(e: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(e, |v, k| v.get(k))
}

fn text<'v>(e: &'v Value, path: &[&str]) -> &'v str {
    field(e, path).and_then(Value::as_str).unwrap_or_default()
}

fn code(e: &Value) -> i64 {
    field(e, &["responseStatus", "code"])
        .and_then(Value::as_i64)
        .unwrap_or_default()
}

/// One eviction request as the API server recorded it.
#[derive(Debug)]
struct Eviction {
    pod: String,
    code: i64,
    received: Timestamp,
}

/// Eviction requests for pods of `ns`, in the order they were logged.
fn eviction_records(ns: &str) -> Vec<Eviction> {
    audit_events()
        .iter()
        .filter(|e| {
            answered(e)
                && text(e, &["objectRef", "subresource"]) == "eviction"
                && text(e, &["verb"]) == "create"
                && text(e, &["objectRef", "namespace"]) == ns
        })
        .map(|e| Eviction {
            pod: text(e, &["objectRef", "name"]).to_string(),
            code: code(e),
            received: text(e, &["requestReceivedTimestamp"])
                .parse()
                .unwrap_or(Timestamp::UNIX_EPOCH),
        })
        .collect()
}

/// Eviction requests for pods of `ns`: pod name -> response codes, in order.
fn eviction_attempts(ns: &str) -> BTreeMap<String, Vec<i64>> {
    let mut by_pod: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for e in eviction_records(ns) {
        by_pod.entry(e.pod).or_default().push(e.code);
    }
    by_pod
}

/// Successful evictions in `ns` the API server received after `t`.
fn evictions_after(ns: &str, t: Timestamp) -> Vec<Eviction> {
    eviction_records(ns)
        .into_iter()
        .filter(|e| e.code == 201 && e.received > t)
        .collect()
}

/// Pods of `ns` the API server evicted (201), with how many times.
fn evictions(ns: &str) -> BTreeMap<String, usize> {
    eviction_attempts(ns)
        .into_iter()
        .map(|(pod, codes)| (pod, codes.iter().filter(|c| **c == 201).count()))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Waits until the audit log shows `count` evictions in `ns`; returns them.
async fn wait_evictions(ns: &str, count: usize) -> BTreeMap<String, usize> {
    wait_for(
        WAIT,
        format!("{count} evictions in {ns} in the audit log"),
        || async {
            let seen = evictions(ns);
            if seen.values().sum::<usize>() >= count {
                Ok(seen)
            } else {
                Err(format!("{seen:?}"))
            }
        },
    )
    .await
}

/// The distinct `lastRun.startTime`s of the successful status writes of
/// `policy`, with the generation each run used, in the order they were
/// written.
fn audited_run_starts(policy: &str) -> Vec<(Timestamp, i64)> {
    let mut starts: Vec<(Timestamp, i64)> = Vec::new();
    for e in audit_events() {
        if !answered(&e)
            || text(&e, &["objectRef", "resource"]) != "deschedulerpolicies"
            || text(&e, &["objectRef", "subresource"]) != "status"
            || text(&e, &["objectRef", "name"]) != policy
            || !(200..300).contains(&code(&e))
        {
            continue;
        }
        let run = ["requestObject", "status", "lastRun"];
        let start = text(&e, &[run[0], run[1], run[2], "startTime"]);
        let generation = field(&e, &[run[0], run[1], run[2], "generation"])
            .and_then(Value::as_i64)
            .unwrap_or_default();
        if let Ok(t) = start.parse::<Timestamp>()
            && !starts.iter().any(|(s, _)| *s == t)
        {
            starts.push((t, generation));
        }
    }
    starts
}

/// Every eviction in `ns` happened exactly once and only to pods of `pods`.
fn assert_each_evicted_once(ns: &str, pods: &[PodPlacement]) -> BTreeMap<String, usize> {
    let seen = evictions(ns);
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "evicted more than once: {twice:?}");
    let strangers: Vec<_> = seen
        .keys()
        .filter(|p| !pods.iter().any(|b| &b.name == *p))
        .collect();
    assert!(
        strangers.is_empty(),
        "evicted pods that were no candidates: {strangers:?}"
    );
    seen
}

/// No two runs of `policy` of the same generation (as its status writes
/// record them; a new spec runs at once) started less than `interval` apart;
/// returns how many runs there were.
fn assert_interval_kept(policy: &str, interval: Duration) -> usize {
    let mut starts = audited_run_starts(policy);
    starts.sort();
    for w in starts.windows(2) {
        let gap = w[1].0.as_millisecond() - w[0].0.as_millisecond();
        assert!(
            w[1].1 != w[0].1 || gap >= interval.as_millis() as i64,
            "runs of {policy} started {gap} ms apart (interval {interval:?}): {starts:?}"
        );
    }
    starts.len()
}

/// Whether the operator's log has a line containing every one of `parts`.
fn log_has(op: &Operator, parts: &[&str]) -> bool {
    std::fs::read_to_string(&op.log)
        .unwrap_or_default()
        .lines()
        .any(|l| parts.iter().all(|p| l.contains(p)))
}

/// Waits until the operator logs a line with every one of `parts`.
async fn wait_log(op: &Operator, timeout: Duration, parts: &[&str]) {
    wait_for(timeout, format!("a log line with {parts:?}"), || async {
        if log_has(op, parts) {
            Ok(())
        } else {
            Err(format!("not in {}", op.log.display()))
        }
    })
    .await
}

/// The operator is alive and never panicked.
fn assert_no_crash(op: &mut Operator) {
    assert!(
        op.exited().is_none(),
        "operator exited: {:?}; log {}",
        op.exited(),
        op.log.display()
    );
    let log = std::fs::read_to_string(&op.log).unwrap_or_default();
    assert!(
        !log.contains("panicked"),
        "operator panicked; log {}",
        op.log.display()
    );
}

// --- setups ---------------------------------------------------------------------

/// Nodes `n0` and `n1`; Deployment `name` of `replicas` pods of `cpu` all on
/// `n0`, which is then tainted so that every one of them violates
/// RemovePodsViolatingNodeTaints while `n1` takes their replacements.
async fn crowded_tainted_node(
    s: &Scenario,
    name: &str,
    replicas: i32,
    cpu: &str,
) -> (Vec<String>, Vec<PodPlacement>) {
    let nodes = s.nodes_n(2).await;
    s.cordon(&nodes[1], true).await;
    let pods = s
        .deploy(
            support::deployment(name, &s.opts(replicas, cpu)),
            replicas as usize,
        )
        .await;
    assert!(
        pods.iter()
            .all(|p| p.node.as_deref() == Some(nodes[0].as_str())),
        "{pods:?}"
    );
    s.cordon(&nodes[1], false).await;
    s.taint(&nodes[0], TAINT_KEY, "x").await;
    (nodes, pods)
}

/// Waits until the policy's run in progress (started at `start`, if given)
/// has recorded at least `evicted` evictions in status.
async fn wait_progress(s: &Scenario, policy: &str, evicted: i64) -> LastRun {
    let api = s.policies();
    wait_for(
        WAIT,
        format!("the run of {policy} in progress with {evicted} evictions in status"),
        || async {
            let p = api.get(policy).await.map_err(state)?;
            let run = p.status.and_then(|s| s.last_run).ok_or("no run yet")?;
            if run.result == Some(RunResult::Running) && run.evicted >= evicted {
                Ok(run)
            } else {
                Err(format!("{run:?}"))
            }
        },
    )
    .await
}

// --- 1. the leader killed mid-run -----------------------------------------------

/// Lease duration of the leader-election scenario, in seconds.
const LEASE_SECONDS: u64 = 6;

#[tokio::test]
async fn a_killed_leader_is_replaced_within_the_lease_and_its_run_finished_once() {
    let s = Scenario::new("flt-leader").await;
    let lease = format!("descheduler-{}", s.name());
    let lease_secs = LEASE_SECONDS.to_string();
    // Ten evictions at once, then one every 6 s: the run has 14 to do.
    let args = |id: &'static str| {
        vec![
            "--leader-elect",
            "--leader-elect-namespace",
            s.name(),
            "--leader-elect-lease-name",
            lease.as_str(),
            "--leader-elect-lease-duration",
            lease_secs.as_str(),
            "--identity",
            id,
            "--max-evictions-per-minute",
            "10",
        ]
    };
    let (a_args, b_args) = (args("a"), args("b"));
    let (a, b, (_nodes, before)) = tokio::join!(
        Operator::start(&s.ns, "a", &a_args),
        Operator::start(&s.ns, "b", &b_args),
        crowded_tainted_node(&s, "web", 14, "50m")
    );
    let leases: Api<Lease> = s.ns.api();
    let holder_is = |want: Option<&'static str>| {
        let leases = leases.clone();
        let lease = lease.clone();
        async move {
            let l = leases.get(&lease).await.map_err(state)?;
            let holder = l.spec.and_then(|s| s.holder_identity).unwrap_or_default();
            match want {
                None if !holder.is_empty() => Ok(holder),
                Some(w) if holder == w => Ok(holder),
                _ => Err(format!("holder {holder:?}")),
            }
        }
    };
    let holder = wait_for(WAIT, "a Lease holder", || holder_is(None)).await;
    let (mut leader, mut follower, follower_id) = match holder.as_str() {
        "a" => (a, b, "b"),
        _ => (b, a, "a"),
    };

    let policy = s.policy_name("leader");
    let interval = Duration::from_secs(10);
    s.create_policy(
        "leader",
        json!({"interval": "10s", "strategies": {TAINTS: {}}}),
    )
    .await;
    // Killed while it waits for the rate limit, once status has recorded
    // what it did so far.
    let first = wait_progress(&s, &policy, 11).await;
    leader.kill().await;
    let killed = Instant::now();
    let done_by_leader = wait_evictions(s.name(), 11).await;

    wait_for(
        Duration::from_secs(LEASE_SECONDS + 10),
        format!("{follower_id} to take the Lease over"),
        || holder_is(Some(follower_id)),
    )
    .await;
    let takeover = killed.elapsed();
    eprintln!("{follower_id} took the Lease over {takeover:?} after the kill");
    assert!(
        takeover <= Duration::from_secs(LEASE_SECONDS + 2),
        "took over after {takeover:?}, the lease lasts {LEASE_SECONDS}s"
    );

    let (p, next) = s
        .wait_run(&policy, Some(&start_of(&first)), Duration::from_secs(45))
        .await;
    assert!(
        start_millis(&next) >= start_millis(&first) + interval.as_millis() as i64,
        "the new leader ran at {} before the interval since {} was over",
        start_millis(&next),
        start_millis(&first)
    );
    let seen = assert_each_evicted_once(s.name(), &before);
    assert_eq!(seen.len(), 14, "every pod evicted once: {seen:?}");
    let by_new_leader = 14 - done_by_leader.values().sum::<usize>() as i64;
    assert_eq!(next.result, Some(RunResult::Succeeded), "{next:?}");
    assert_eq!((next.evicted, next.failed), (by_new_leader, 0), "{next:?}");
    let status = p.status.clone().unwrap_or_default();
    assert_eq!(
        status.total_evicted,
        Some(14),
        "status agrees with the audit log: {status:?}"
    );
    assert_eq!(status.observed_generation, p.metadata.generation);
    let want_next = start_millis(&next) + interval.as_millis() as i64;
    let next_run = status.next_run_time.as_ref().map(|t| t.0.as_millisecond());
    assert_eq!(next_run, Some(want_next), "{status:?}");
    for c in ["Valid", "Ready"] {
        let cond = status.conditions.iter().find(|x| x.type_ == c);
        assert_eq!(cond.map(|x| x.status.as_str()), Some("True"), "{status:?}");
    }
    let events = s.descheduled_events().await;
    assert!(
        events.iter().all(|(_, by)| by == follower_id),
        "only the new leader published (the killed one's run never finished): {events:?}"
    );
    let runs = follower
        .metric_sum("descheduler_runs_total", &[("policy", &policy)])
        .await;
    assert!(runs >= 1.0, "{runs}");
    s.wait_replaced(
        "web",
        14,
        &uids(&before, &before.iter().map(|p| p.name.clone()).collect()),
    )
    .await;
    assert_interval_kept(&policy, interval);
    assert_no_crash(&mut follower);
    wait_for(WAIT, "the new leader to keep the Lease", || {
        holder_is(Some(follower_id))
    })
    .await;
}

// --- 4. the CRD deleted; a policy deleted or changed while its run is in flight ---

/// While alive, the DeschedulerPolicy CRD may be gone; dropping it (also on a
/// failed test) applies it again, so the tests after this one find it.
struct CrdDeleted {
    restored: bool,
}

impl CrdDeleted {
    /// Deletes the CRD (and with it every DeschedulerPolicy) and waits until
    /// it is gone.
    async fn delete(client: &kube::Client) -> Self {
        let api: Api<CustomResourceDefinition> = Api::all(client.clone());
        let guard = CrdDeleted { restored: false };
        api.delete(CRD_NAME, &Default::default())
            .await
            .expect("delete the DeschedulerPolicy CRD");
        wait_for(WAIT, "the CRD to be gone", || async {
            match api.get_opt(CRD_NAME).await.map_err(state)? {
                None => Ok(()),
                Some(_) => Err("still there".to_string()),
            }
        })
        .await;
        guard
    }

    async fn restore(mut self) {
        super::apply_crd().await;
        self.restored = true;
    }
}

impl Drop for CrdDeleted {
    fn drop(&mut self) {
        if self.restored {
            return;
        }
        let restore = std::thread::spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(super::apply_crd());
        });
        if restore.join().is_err() {
            eprintln!("restoring the CRD failed: apply crds/ by hand");
        }
    }
}

const CRD_NAME: &str = "deschedulerpolicies.descheduler.dev";

#[tokio::test]
async fn the_crd_deleted_and_recreated_stops_its_policies_and_serves_new_ones() {
    let s = Scenario::exclusive("flt-crd").await;
    let op = Operator::start(&s.ns, "op", &[]);
    let (mut op, nodes) = tokio::join!(op, s.nodes_n(3));
    s.cordon(&nodes[1], true).await;
    s.cordon(&nodes[2], true).await;
    let before = s
        .deploy(support::deployment("web", &s.opts(2, "100m")), 2)
        .await;
    s.cordon(&nodes[1], false).await;
    s.taint(&nodes[0], TAINT_KEY, "x").await;
    let policy = s.policy_name("crd");
    let interval = Duration::from_secs(10);
    let spec = json!({"interval": "10s", "strategies": {TAINTS: {}}});
    s.create_policy("crd", spec.clone()).await;
    let (_, first) = s.wait_run(&policy, None, WAIT).await;
    assert_eq!(first.evicted, 2, "{first:?}");
    let moved = s
        .wait_replaced("web", 2, &uids(&before, &names(&before)))
        .await;

    // The CRD goes, and the policy with it; the replacements on n1 then
    // violate too, so a run from a stale cache would evict them.
    let crd = CrdDeleted::delete(&s.client).await;
    let deleted = Timestamp::now();
    s.cordon(&nodes[2], false).await;
    s.taint(&nodes[1], TAINT_KEY, "x").await;
    // The policy's next run was due while the CRD was gone: the operator
    // must not run it from what it remembers (its watch told it the policy
    // was deleted, and a list fails with 404 until the CRD is back).
    let due = start_millis(&first) + interval.as_millis() as i64 + 2_000;
    wait_for(
        interval * 2,
        "the deleted policy's next run time to pass",
        || async {
            let now = Timestamp::now().as_millisecond();
            if now > due {
                Ok(())
            } else {
                Err(format!("{} ms to go", due - now))
            }
        },
    )
    .await;
    let stale = evictions_after(s.name(), deleted);
    assert!(
        stale.is_empty(),
        "evicted for a policy that no longer exists: {stale:?}"
    );
    assert_no_crash(&mut op);
    let (code, _) = super::http_get(op.addr, "/healthz")
        .await
        .expect("GET /healthz");
    assert_eq!(code, 200);

    // The CRD and a policy of the same name come back: the new policy runs
    // (it is a new object, whatever the old one's status said).
    crd.restore().await;
    s.create_policy("crd", spec).await;
    let (p, run) = s.wait_run(&policy, None, WAIT).await;
    assert_eq!(run.result, Some(RunResult::Succeeded), "{run:?}");
    assert_eq!(run.evicted, 2, "{run:?}");
    let status = p.status.clone().unwrap_or_default();
    assert_eq!(
        status.total_evicted,
        Some(2),
        "a new object counts afresh: {status:?}"
    );
    let all: Vec<PodPlacement> = before.iter().chain(&moved).cloned().collect();
    let seen = assert_each_evicted_once(s.name(), &all);
    assert_eq!(seen.len(), 4, "{seen:?}");
    s.wait_replaced("web", 2, &uids(&all, &names(&all))).await;
    assert_interval_kept(&policy, interval);
    assert_no_crash(&mut op);
}

/// An operator held to six evictions a minute (six at once, then one every
/// 10 s) and a policy with ten to do, stopped by `change` once six are done.
async fn in_flight(prefix: &str) -> (Scenario, Operator, String, Vec<PodPlacement>) {
    let s = Scenario::new(prefix).await;
    let op = Operator::start(&s.ns, "op", &["--max-evictions-per-minute", "6"]);
    let (op, (_nodes, before)) = tokio::join!(op, crowded_tainted_node(&s, "web", 10, "50m"));
    let policy = s.policy_name("flight");
    s.create_policy(
        "flight",
        json!({"interval": "1h", "strategies": {TAINTS: {}}}),
    )
    .await;
    wait_progress(&s, &policy, 6).await;
    (s, op, policy, before)
}

#[tokio::test]
async fn a_policy_deleted_while_its_run_is_in_flight_evicts_nothing_more() {
    let (s, mut op, policy, before) = in_flight("flt-deleted").await;
    s.policies()
        .delete(&policy, &Default::default())
        .await
        .expect("delete the policy");
    let deleted = Timestamp::now();
    wait_log(&op, WAIT, &["run completed", &policy]).await;
    let late = evictions_after(s.name(), deleted);
    assert!(
        late.is_empty(),
        "evicted after the policy was deleted: {late:?}"
    );
    let seen = assert_each_evicted_once(s.name(), &before);
    assert_eq!(seen.len(), 6, "{seen:?}");
    // Its status writes did not bring it back.
    assert!(
        s.policies().get_opt(&policy).await.expect("get").is_none(),
        "the deleted policy is back"
    );
    assert_no_crash(&mut op);
}

#[tokio::test]
async fn a_policy_changed_while_its_run_is_in_flight_stops_it_and_runs_the_new_spec() {
    let (s, mut op, policy, before) = in_flight("flt-changed").await;
    s.patch_policy(&policy, json!({"spec": {"dryRun": true}}))
        .await;
    let changed = Timestamp::now();
    let (p, run) = s
        .wait_run_where(&policy, WAIT, |r| r.generation == Some(2))
        .await;
    assert_eq!(run.mode, Some(descheduler::api::RunMode::DryRun), "{run:?}");
    assert_eq!((run.evicted, run.would_evict), (0, 4), "{run:?}");
    let late = evictions_after(s.name(), changed);
    assert!(
        late.is_empty(),
        "evicted after the spec changed to a dry run: {late:?}"
    );
    let seen = assert_each_evicted_once(s.name(), &before);
    assert_eq!(seen.len(), 6, "{seen:?}");
    let status = p.status.clone().unwrap_or_default();
    assert_eq!(status.total_evicted, Some(6), "{status:?}");
    assert_eq!(status.observed_generation, Some(2), "{status:?}");
    let runs = assert_interval_kept(&policy, Duration::from_secs(3600));
    assert_eq!(runs, 2, "the stopped run and the new spec's");
    assert_no_crash(&mut op);
}

// --- 3. a watch that expires ------------------------------------------------------

/// The API server stopped by a test that holds the cluster exclusively;
/// started again when dropped (also on a failed test), so that the tests
/// after it find the cluster up.
struct ApiServerStopped {
    started: bool,
}

impl ApiServerStopped {
    fn stop() -> Self {
        support::set_apiserver_stopped(true);
        apiserver_sh(&["stop"]);
        ApiServerStopped { started: false }
    }

    /// Starts it with the same flags and waits until it is ready.
    fn start(mut self) {
        apiserver_sh(&["start"]);
        self.started = true;
        support::set_apiserver_stopped(false);
    }
}

impl Drop for ApiServerStopped {
    fn drop(&mut self) {
        if !self.started {
            apiserver_sh(&["start"]);
            support::set_apiserver_stopped(false);
        }
    }
}

/// How long the controllers may take to work again after an API server
/// restart (they got 403s while its authorizer warmed up, and back off).
const CONTROL_PLANE_BACK: Duration = Duration::from_secs(240);

/// After an API server restart the controllers and the scheduler take a while
/// to watch again (their backoff reaches 30 s): before a test that restarted
/// it lets the others run, a new Deployment's pod must be scheduled and run
/// on one of its nodes again.
async fn wait_control_plane_back(s: &Scenario) {
    let started = Instant::now();
    let api: Api<k8s_openapi::api::apps::v1::Deployment> = s.ns.api();
    api.create(
        &Default::default(),
        &support::deployment("canary", &s.opts(1, "10m")),
    )
    .await
    .expect("create the canary Deployment");
    wait_for(
        CONTROL_PLANE_BACK,
        "a new Deployment's pod to run",
        || async {
            let pods = support::deployment_pods(&s.client, s.name(), "canary")
                .await
                .map_err(state)?;
            if pods.len() == 1 && pods[0].is_running() {
                Ok(())
            } else {
                Err(format!("{pods:?}"))
            }
        },
    )
    .await;
    eprintln!(
        "control plane back after the restart: a new pod ran {:.1}s after it was created",
        started.elapsed().as_secs_f64()
    );
}

/// A SIGSTOPped operator, continued when dropped (also on a failed test).
struct Paused<'o>(&'o Operator);

impl<'o> Paused<'o> {
    fn new(op: &'o Operator) -> Self {
        op.signal("STOP");
        Paused(op)
    }
}

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        self.0.signal("CONT");
    }
}

#[tokio::test]
async fn an_expired_watch_is_listed_again_and_the_run_plans_from_fresh_state() {
    let s = Scenario::exclusive("flt-watch").await;
    let op = Operator::start(&s.ns, "op", &[]);
    let (mut op, nodes) = tokio::join!(op, s.nodes_n(3));
    // "gone" on n0, "fresh" on n1, n2 free for replacements.
    s.cordon(&nodes[1], true).await;
    s.cordon(&nodes[2], true).await;
    let gone = s
        .deploy(support::deployment("gone", &s.opts(1, "100m")), 1)
        .await;
    s.cordon(&nodes[0], true).await;
    s.cordon(&nodes[1], false).await;
    let fresh = s
        .deploy(support::deployment("fresh", &s.opts(1, "100m")), 1)
        .await;
    s.cordon(&nodes[0], false).await;
    s.taint(&nodes[0], TAINT_KEY, "x").await;
    // n2 opens now: right after the API server restart the node controller
    // takes a minute or more to lift a cordon's taint.
    s.cordon(&nodes[2], false).await;
    // What the operator knows before it is paused: "gone" violates (a dry
    // run says so), "fresh" does not.
    let probe = s.policy_name("probe");
    s.create_policy(
        "probe",
        json!({"interval": "1h", "dryRun": true, "strategies": {TAINTS: {}}}),
    )
    .await;
    let (_, seen) = s.wait_run(&probe, None, WAIT).await;
    assert_eq!(seen.would_evict, 1, "{seen:?}");
    s.policies()
        .delete(&probe, &Default::default())
        .await
        .expect("delete the probe");

    // While it is paused the API server restarts (its watch cache starts
    // afresh), n1 is tainted (so "fresh" violates), the pod of "gone" deleted
    // and a policy created; etcd is compacted. Resumed, the
    // operator's watches cannot go on from where they were (410 Gone): only a
    // new list shows it the cluster as it is.
    let paused = Paused::new(&op);
    let outage = ApiServerStopped::stop();
    outage.start();
    // n1 tainted first, so that the replacement of the pod of "gone",
    // deleted at once, goes to n2 (and is no violator there).
    s.taint(&nodes[1], TAINT_KEY, "x").await;
    s.pods()
        .delete(
            &gone[0].name,
            &kube::api::DeleteParams {
                grace_period_seconds: Some(0),
                ..Default::default()
            },
        )
        .await
        .expect("delete the pod of gone");
    let pods = s.pods();
    wait_for(WAIT, "the pod of gone to be deleted", || async {
        match pods.get_opt(&gone[0].name).await.map_err(state)? {
            None => Ok(()),
            Some(_) => Err("still there".to_string()),
        }
    })
    .await;
    let policy = s.policy_name("fresh");
    s.create_policy(
        "fresh",
        json!({"interval": "1h", "strategies": {TAINTS: {}}}),
    )
    .await;
    let revision = apiserver_sh(&["compact"]);
    eprintln!("compacted etcd at revision {revision}");
    drop(paused);

    let (p, run) = s.wait_run(&policy, None, WAIT).await;
    assert!(
        log_has(&op, &["watch error", "too old resource version"]),
        "the operator's watches never expired (410); log {}",
        op.log.display()
    );
    let attempts = eviction_attempts(s.name());
    let fresh_pod = &fresh[0].name;
    assert_eq!(
        attempts.get(fresh_pod),
        Some(&vec![201]),
        "the pod only the fresh state makes a violator: {attempts:?}"
    );
    assert!(
        !attempts.contains_key(&gone[0].name),
        "{} was deleted while the operator was paused, yet tried: {attempts:?}",
        gone[0].name
    );
    // The scheduler, itself catching up after the restart, may have bound
    // the replacement of "gone" to n1 before it saw n1's taint: a violator
    // then, rightly evicted. Nothing else may be.
    let others: Vec<_> = attempts
        .iter()
        .filter(|(pod, _)| *pod != fresh_pod)
        .collect();
    assert!(
        others
            .iter()
            .all(|(pod, codes)| pod.starts_with("gone-") && **codes == [201]),
        "{attempts:?}"
    );
    let evicted = 1 + others.len() as i64;
    assert_eq!((run.evicted, run.failed), (evicted, 0), "{run:?}");
    assert_eq!(p.status.unwrap_or_default().total_evicted, Some(evicted));
    assert_no_crash(&mut op);
    wait_control_plane_back(&s).await;
    s.wait_replaced("fresh", 1, &uids(&fresh, &names(&fresh)))
        .await;
}

// --- 2. the API server stopped mid-run --------------------------------------------

/// Env var that turns on the fault scenarios too slow for every `make test`.
const SLOW_ENV: &str = "DESCHEDULER_E2E_FAULTS_SLOW";

fn slow_enabled(test: &str) -> bool {
    let on = std::env::var(SLOW_ENV).is_ok_and(|v| v == "1");
    if !on {
        eprintln!(
            "SKIPPED {test}: slow fault scenario; run it with {SLOW_ENV}=1 (see tests/e2e/README.md)"
        );
    }
    on
}

/// The `lastRun` of the status write that completed the run of `policy`
/// started at `start`, as the audit log recorded it.
fn audited_completion(policy: &str, start: &str) -> Option<Value> {
    audit_events().into_iter().find_map(|e| {
        let run = field(&e, &["requestObject", "status", "lastRun"])?.clone();
        let this = answered(&e)
            && text(&e, &["objectRef", "resource"]) == "deschedulerpolicies"
            && text(&e, &["objectRef", "name"]) == policy
            && (200..300).contains(&code(&e))
            && text(&run, &["startTime"]) == start
            && field(&run, &["completionTime"]).is_some();
        this.then_some(run)
    })
}

fn count(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or_default()
}

#[tokio::test]
async fn an_api_server_outage_mid_run_fails_those_evictions_and_the_run_resumes() {
    if !slow_enabled("an_api_server_outage_mid_run_fails_those_evictions_and_the_run_resumes") {
        return;
    }
    let s = Scenario::exclusive("flt-outage").await;
    // Six evictions at once, then one every 10 s: twelve take a minute.
    let op = Operator::start(&s.ns, "op", &["--max-evictions-per-minute", "6"]);
    let (mut op, (_nodes, before)) = tokio::join!(op, crowded_tainted_node(&s, "web", 12, "50m"));
    let policy = s.policy_name("outage");
    let interval = Duration::from_secs(20);
    s.create_policy(
        "outage",
        json!({"interval": "20s", "strategies": {TAINTS: {}}}),
    )
    .await;
    let first = wait_progress(&s, &policy, 6).await;

    let outage = ApiServerStopped::stop();
    let down = Instant::now();
    let stopped = Timestamp::now();
    // About 30 s without an API server: the operator goes on trying (and
    // failing) to evict, and stays alive and ready on what it has cached.
    let failed_during = wait_for(
        Duration::from_secs(60),
        "30 s of outage with failed evictions",
        || async {
            for path in ["/healthz", "/readyz"] {
                let (code, body) = super::http_get(op.addr, path).await?;
                assert_eq!(code, 200, "{path} during the outage: {body}");
            }
            let log = std::fs::read_to_string(&op.log).unwrap_or_default();
            let failures = log
                .lines()
                .filter(|l| l.contains("eviction failed"))
                .count();
            if down.elapsed() >= Duration::from_secs(30) && failures >= 2 {
                Ok(failures)
            } else {
                Err(format!(
                    "{failures} failed evictions after {:?}",
                    down.elapsed()
                ))
            }
        },
    )
    .await;
    outage.start();
    eprintln!("API server down for {:?}", down.elapsed());

    // The run goes on after the outage and ends Partial, its failures counted.
    let start = start_of(&first);
    let run = wait_for(
        Duration::from_secs(90),
        "the interrupted run to complete",
        || async { audited_completion(&policy, &start).ok_or_else(|| "not yet".to_string()) },
    )
    .await;
    assert_eq!(text(&run, &["result"]), "Partial", "{run}");
    let (evicted, failed) = (count(&run, "evicted"), count(&run, "failed"));
    assert!(
        failed >= failed_during as i64,
        "{failed} failed, {failed_during} logged: {run}"
    );
    assert_eq!(
        evicted + failed,
        12,
        "every planned eviction was attempted: {run}"
    );
    let skipped = field(&run, &["strategies"])
        .and_then(|s| s.get(0))
        .and_then(|s| field(s, &["skipped", "Failed:Connection"]))
        .and_then(Value::as_i64);
    assert_eq!(skipped, Some(failed), "{run}");
    let resumed = evictions_after(s.name(), stopped);
    assert!(
        !resumed.is_empty(),
        "no eviction after the API server came back"
    );
    // Counted right after the status write the audit log shows.
    let op_ref = &op;
    let want = failed as f64;
    wait_for(
        WAIT,
        "descheduler_pods_evicted_total{result=failed}",
        || {
            let policy = policy.clone();
            async move {
                let labels = [("policy", policy.as_str()), ("result", "failed")];
                let got = op_ref
                    .metric_sum("descheduler_pods_evicted_total", &labels)
                    .await;
                if got == want {
                    Ok(())
                } else {
                    Err(format!("{got}, want {want}"))
                }
            }
        },
    )
    .await;
    let summaries = s.policy_events(&policy, "RunCompleted").await;
    assert!(
        summaries
            .iter()
            .any(|m| m.contains(&format!("failed {failed}"))),
        "{summaries:?}"
    );

    // The next run evicts what failed; nothing is evicted twice.
    let (p, next) = s
        .wait_run(&policy, Some(&start), Duration::from_secs(90))
        .await;
    assert_eq!((next.evicted, next.failed), (failed, 0), "{next:?}");
    let seen = assert_each_evicted_once(s.name(), &before);
    assert_eq!(seen.len(), 12, "{seen:?}");
    let status = p.status.clone().unwrap_or_default();
    assert_eq!(status.total_evicted, Some(12), "{status:?}");
    assert_interval_kept(&policy, interval);
    assert_no_crash(&mut op);
    wait_control_plane_back(&s).await;
}

// --- 5. a slow API server ---------------------------------------------------------

/// A loopback TCP proxy in front of the API server that holds every chunk it
/// forwards (either way) for `delay`. Bounded: it serves at most
/// `max_connections` connections and stops forwarding after `lifetime`, and
/// everything stops when it is dropped. TLS passes through untouched (the
/// serving certificate names 127.0.0.1).
struct SlowProxy {
    addr: std::net::SocketAddr,
    chunks: std::sync::Arc<std::sync::atomic::AtomicU64>,
    connections: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl SlowProxy {
    async fn start(
        upstream: std::net::SocketAddr,
        delay: Duration,
        max_connections: u64,
        lifetime: Duration,
    ) -> Self {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let chunks = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let (c, n) = (chunks.clone(), connections.clone());
        let task = tokio::spawn(async move {
            let mut pipes = tokio::task::JoinSet::new();
            let accept = async {
                while n.load(Ordering::Relaxed) < max_connections {
                    let Ok((client, _)) = listener.accept().await else {
                        break;
                    };
                    n.fetch_add(1, Ordering::Relaxed);
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        continue;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    pipes.spawn(pump(cr, sw, delay, c.clone()));
                    pipes.spawn(pump(sr, cw, delay, c.clone()));
                }
                // Connections already open keep their pipes until the end.
                std::future::pending::<()>().await;
            };
            let _ = tokio::time::timeout(lifetime, accept).await;
            pipes.abort_all();
        });
        SlowProxy {
            addr,
            chunks,
            connections,
            task,
        }
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to`, holding each chunk for `delay`.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    chunks: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        chunks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(delay).await;
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// User of the client certificate whose every request the audit policy logs.
const AUDITED_USER: &str = "e2e-audited";

/// When the API server received each request of `user` (once per request:
/// a watch logs twice), sorted.
fn requests_of(user: &str) -> Vec<Timestamp> {
    let mut seen = std::collections::BTreeSet::new();
    let mut times: Vec<Timestamp> = audit_events()
        .iter()
        .filter(|e| text(e, &["user", "username"]) == user)
        .filter(|e| seen.insert(text(e, &["auditID"]).to_string()))
        .filter_map(|e| text(e, &["requestReceivedTimestamp"]).parse().ok())
        .collect();
    times.sort();
    times
}

/// The most requests of `times` in any window of `window`.
fn busiest(times: &[Timestamp], window: Duration) -> usize {
    let w = window.as_millis() as i64;
    (0..times.len())
        .map(|i| {
            let end = times[i].as_millisecond() + w;
            times[i..]
                .iter()
                .take_while(|t| t.as_millisecond() < end)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_slow_api_server_still_completes_runs_within_the_api_rate_limit() {
    let s = Scenario::new("flt-slow").await;
    let upstream: std::net::SocketAddr = cluster_env("APISERVER_URL")
        .trim_start_matches("https://")
        .parse()
        .expect("API server address");
    let delay = Duration::from_millis(100);
    let proxy = SlowProxy::start(upstream, delay, 64, Duration::from_secs(300)).await;
    let dir = std::env::temp_dir().join(format!("descheduler-{}", s.name()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let kubeconfig =
        audited_kubeconfig(&dir, &format!("https://{}", proxy.addr), AUDITED_USER, &[]);
    let (qps, burst) = (2.0, 2usize);
    let started = Timestamp::now();
    let op = Operator::start_with(
        &s.ns,
        "op",
        &[
            "--kube-api-qps",
            "2",
            "--kube-api-burst",
            "2",
            "--max-evictions-per-minute",
            "0",
        ],
        &kubeconfig,
    );
    let (mut op, (_nodes, before)) = tokio::join!(op, crowded_tainted_node(&s, "web", 8, "100m"));
    let policy = s.policy_name("slow");
    s.create_policy(
        "slow",
        json!({"interval": "1h", "strategies": {TAINTS: {}}}),
    )
    .await;
    let (p, run) = s.wait_run(&policy, None, Duration::from_secs(90)).await;
    assert_eq!(run.result, Some(RunResult::Succeeded), "{run:?}");
    assert_eq!(run.evicted, 8, "{run:?}");
    let seen = assert_each_evicted_once(s.name(), &before);
    assert_eq!(seen.len(), 8, "{seen:?}");
    assert_eq!(p.status.unwrap_or_default().total_evicted, Some(8));
    s.assert_descheduled_events(&policy, &names(&before)).await;

    let times: Vec<Timestamp> = requests_of(AUDITED_USER)
        .into_iter()
        .filter(|t| *t >= started)
        .collect();
    assert!(
        times.len() >= 20,
        "only {} audited requests of {AUDITED_USER}: the running API server has an older \
         audit policy; restart the cluster (make cluster-down cluster-up)",
        times.len()
    );
    let window = Duration::from_secs(5);
    let most = busiest(&times, window);
    let allowed = burst + (qps * window.as_secs_f64()).ceil() as usize;
    let span = times[times.len() - 1].as_millisecond() - times[0].as_millisecond();
    eprintln!(
        "{} requests in {span} ms through the proxy ({} connections, {} chunks held {delay:?} each); \
         at most {most} in {window:?} (allowed {allowed})",
        times.len(),
        proxy.connections.load(std::sync::atomic::Ordering::Relaxed),
        proxy.chunks.load(std::sync::atomic::Ordering::Relaxed),
    );
    // One more than the bucket allows: the proxy's delays can bunch two
    // requests the limiter spaced out.
    assert!(
        most <= allowed + 1,
        "{most} requests in {window:?}, --kube-api-qps 2 allows {allowed}"
    );
    let least_span = ((times.len() - burst) as f64 / qps * 1000.0 * 0.9) as i64;
    assert!(
        span >= least_span,
        "{} requests in {span} ms: faster than 2 per second",
        times.len()
    );
    assert_no_crash(&mut op);
    let _ = std::fs::remove_dir_all(&dir);
}
