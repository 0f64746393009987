//! A deterministic synthetic cluster (benches/support/gen.rs): write it as a
//! dump for `descheduler simulate`, and/or create it in a live cluster.
//!
//! ```sh
//! cargo run --release --example gencluster -- --nodes 500 --seed 1 --out cluster.json --policy-out policy.yaml
//! descheduler simulate --policy policy.yaml --cluster cluster.json --now 2026-11-23T12:00:00Z
//!
//! # the same objects in a local control plane whose nodes kwok plays
//! cargo run --release --example gencluster -- --nodes 500 --seed 1 --apply --kubeconfig .cache/bench-cluster/kubeconfig
//! ```
//!
//! `--apply` creates namespaces, priority classes, nodes (annotated for kwok),
//! the pods' controllers (ReplicaSets, StatefulSets, Jobs, DaemonSets: their
//! controllers must be disabled in kube-controller-manager, or they would add
//! pods of their own), PodDisruptionBudgets and the pods, bound to their nodes
//! with `spec.nodeName` and owned by those controllers. Once kwok reports the
//! pods Running it patches the status of the Failed, crash-looping and
//! restarting ones. What a live cluster cannot hold: creation times (every pod
//! is as old as the load), NotReady nodes (every node is kwok's, so Ready) and
//! terminating pods (left out).

// Test and tool code may panic on what it built itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../benches/support/gen.rs"]
mod synth;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use futures::{StreamExt, TryStreamExt, stream};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    about = "Generate a synthetic cluster: a dump for simulate, or objects in a live cluster"
)]
struct Args {
    /// Number of nodes; 30 pods per node.
    #[arg(long, default_value_t = 100)]
    nodes: usize,
    #[arg(long, default_value_t = 30)]
    pods_per_node: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Team namespaces (default: one per 25 nodes, at least 3).
    #[arg(long)]
    namespaces: Option<usize>,
    /// Share of replicated services (not Jobs) with a PodDisruptionBudget
    /// selecting them by `app`; 1 for a budget per workload.
    #[arg(long, default_value_t = 0.35)]
    pdb_share: f64,
    /// Write the dump on one line instead of indented.
    #[arg(long)]
    compact: bool,
    /// Write the dump (a v1 List, indented JSON) here; `-` for stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write a DeschedulerPolicy manifest running all ten strategies here.
    #[arg(long)]
    policy_out: Option<PathBuf>,
    /// Create the objects in the cluster of --kubeconfig.
    #[arg(long)]
    apply: bool,
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Requests in flight while creating objects.
    #[arg(long, default_value_t = 48)]
    concurrency: usize,
    /// With --apply, how long kwok may take to run every bound pod.
    #[arg(long, default_value_t = 900)]
    ready_timeout: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let cluster = synth::generate(synth::Config {
        nodes: args.nodes,
        pods_per_node: args.pods_per_node,
        seed: args.seed,
        namespaces: args.namespaces,
        pdb_share: args.pdb_share,
    });
    eprintln!(
        "gencluster: {} nodes, {} pods, {} PDBs, {} namespaces, {} controllers in {:.1}s",
        cluster.nodes.len(),
        cluster.pods.len(),
        cluster.pdbs.len(),
        cluster.namespaces.len(),
        cluster.owners.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = &args.out {
        if path.as_os_str() == "-" {
            cluster.write_dump_as(std::io::stdout().lock(), args.compact)?;
        } else {
            let f = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            cluster.write_dump_as(f, args.compact)?;
            eprintln!("gencluster: wrote {}", path.display());
        }
    }
    if let Some(path) = &args.policy_out {
        let spec: Value = serde_yaml_ng::from_str(synth::FULL_POLICY)?;
        let manifest = json!({
            "apiVersion": "descheduler.dev/v1alpha1",
            "kind": "DeschedulerPolicy",
            "metadata": {"name": "bench-full"},
            "spec": spec,
        });
        std::fs::write(path, serde_yaml_ng::to_string(&manifest)?)?;
        eprintln!("gencluster: wrote {}", path.display());
    }
    if args.apply {
        let Some(kc) = &args.kubeconfig else {
            bail!("--apply needs --kubeconfig");
        };
        let kubeconfig = Kubeconfig::read_from(kc)?;
        let mut config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        config.read_timeout = Some(std::time::Duration::from_secs(120));
        let client = kube::Client::try_from(config)?;
        apply(&client, &cluster, args.concurrency, args.ready_timeout).await?;
    }
    Ok(())
}

fn api_for(client: &kube::Client, obj: &Value) -> Api<DynamicObject> {
    let (group, version) = match obj["apiVersion"].as_str().unwrap_or("v1").split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (
            String::new(),
            obj["apiVersion"].as_str().unwrap_or("v1").to_string(),
        ),
    };
    let kind = obj["kind"].as_str().unwrap_or_default();
    let gvk = GroupVersionKind::gvk(&group, &version, kind);
    let plural = match kind {
        "PriorityClass" => "priorityclasses".to_string(),
        "PodDisruptionBudget" => "poddisruptionbudgets".to_string(),
        k => format!("{}s", k.to_lowercase()),
    };
    let ar = ApiResource::from_gvk_with_plural(&gvk, &plural);
    match obj["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

/// Creates the object; an existing one is left alone. Returns its uid.
async fn create(client: &kube::Client, mut obj: Value) -> Result<String> {
    let api = api_for(client, &obj);
    let meta = obj["metadata"].as_object_mut().expect("metadata");
    for field in [
        "uid",
        "creationTimestamp",
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        meta.remove(field);
    }
    let name = meta["name"].as_str().unwrap_or_default().to_string();
    if obj["kind"] != "Node" {
        obj.as_object_mut().expect("object").remove("status");
    }
    let dynamic: DynamicObject = serde_json::from_value(obj)?;
    for attempt in 0.. {
        match api.create(&PostParams::default(), &dynamic).await {
            Ok(o) => return Ok(o.metadata.uid.unwrap_or_default()),
            Err(kube::Error::Api(e)) if e.code == 409 => {
                return Ok(api.get(&name).await?.metadata.uid.unwrap_or_default());
            }
            Err(e) if attempt < 5 => {
                eprintln!("gencluster: retrying {name}: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(500 * (attempt + 1))).await;
            }
            Err(e) => return Err(e).with_context(|| format!("creating {name}")),
        }
    }
    unreachable!()
}

async fn create_all(
    client: &kube::Client,
    objs: Vec<Value>,
    concurrency: usize,
    what: &str,
) -> Result<Vec<String>> {
    let t = Instant::now();
    let n = objs.len();
    let uids: Vec<String> = stream::iter(objs.into_iter().map(|o| create(client, o)))
        .buffered(concurrency)
        .try_collect()
        .await?;
    eprintln!(
        "gencluster: created {n} {what} in {:.1}s ({:.0}/s)",
        t.elapsed().as_secs_f64(),
        n as f64 / t.elapsed().as_secs_f64().max(0.001)
    );
    Ok(uids)
}

async fn apply(
    client: &kube::Client,
    c: &synth::Cluster,
    concurrency: usize,
    ready_timeout: u64,
) -> Result<()> {
    let t0 = Instant::now();
    create_all(client, c.namespaces.clone(), concurrency, "namespaces").await?;
    // The pods' service account: the serviceaccount controller makes it too, but
    // maybe not before the first pod arrives.
    let sas: Vec<Value> = c
        .namespaces
        .iter()
        .map(|ns| json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns["metadata"]["name"]}}))
        .collect();
    create_all(client, sas, concurrency, "service accounts").await?;
    create_all(
        client,
        c.priority_classes.clone(),
        concurrency,
        "priority classes",
    )
    .await?;

    let nodes: Vec<Value> = c
        .nodes
        .iter()
        .map(|n| {
            let mut n = n.clone();
            n["metadata"]["annotations"]["kwok.x-k8s.io/node"] = json!("fake");
            // kwok sets the conditions; every node is Ready, so no not-ready taint.
            n["status"]
                .as_object_mut()
                .expect("status")
                .remove("conditions");
            if let Some(taints) = n["spec"]["taints"].as_array_mut() {
                taints.retain(|t| t["key"] != "node.kubernetes.io/not-ready");
            }
            n
        })
        .collect();
    create_all(client, nodes, concurrency, "nodes").await?;

    let owner_uids = create_all(client, c.owners.clone(), concurrency, "controllers").await?;
    let uid_of: HashMap<String, String> = c
        .owners
        .iter()
        .zip(owner_uids)
        .map(|(o, uid)| {
            (
                o["metadata"]["uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                uid,
            )
        })
        .collect();
    create_all(client, c.pdbs.clone(), concurrency, "PodDisruptionBudgets").await?;

    let mut pods = Vec::new();
    let mut patches: Vec<(String, String, Value)> = Vec::new();
    for p in &c.pods {
        if p["metadata"].get("deletionTimestamp").is_some() {
            continue;
        }
        let mut p = p.clone();
        if let Some(refs) = p["metadata"]["ownerReferences"].as_array_mut() {
            for r in refs {
                let placeholder = r["uid"].as_str().unwrap_or_default().to_string();
                r["uid"] = json!(uid_of.get(&placeholder).context("owner uid")?);
            }
        }
        let spec = p["spec"].as_object_mut().expect("spec");
        // The Priority admission plugin fills these from priorityClassName.
        spec.remove("priority");
        spec.remove("preemptionPolicy");
        // No projected token: admission would add its own, and nothing reads it.
        spec.insert("automountServiceAccountToken".into(), json!(false));
        if let Some(vols) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
            vols.retain(|v| {
                !v["name"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("kube-api-access-")
            });
        }
        for c in spec
            .get_mut("containers")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            c.as_object_mut().expect("container").remove("volumeMounts");
        }
        let status = &p["status"];
        let special = status["phase"] != "Running"
            || status["containerStatuses"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["restartCount"].as_u64().unwrap_or(0) > 0 || s["ready"] == false);
        if special && p["spec"].get("nodeName").is_some() {
            let keep: serde_json::Map<String, Value> = [
                "phase",
                "reason",
                "message",
                "conditions",
                "containerStatuses",
                "initContainerStatuses",
            ]
            .iter()
            .filter_map(|k| status.get(*k).map(|v| (k.to_string(), v.clone())))
            .collect();
            patches.push((
                p["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                json!({"status": keep}),
            ));
        }
        pods.push(p);
    }
    let bound = pods
        .iter()
        .filter(|p| p["spec"].get("nodeName").is_some())
        .count();
    create_all(client, pods, concurrency, "pods").await?;

    // Wait for kwok to run every bound pod (Job pods then complete), then set the
    // Failed, crash-looping and restarting ones.
    let t = Instant::now();
    let all: Api<k8s_openapi::api::core::v1::Pod> = Api::all(client.clone());
    loop {
        // Page by page: at 150,000 pods one list would be a gigabyte of JSON.
        let mut waiting = 0;
        let mut params = ListParams::default().limit(500);
        loop {
            let page = all.list(&params).await?;
            waiting += page
                .items
                .iter()
                .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some())
                .filter(|p| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.phase.as_deref())
                        .is_none_or(|ph| ph == "Pending")
                })
                .count();
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params = params.continue_token(&token),
                _ => break,
            }
        }
        if waiting == 0 {
            break;
        }
        if t.elapsed().as_secs() > ready_timeout {
            bail!("{waiting} of {bound} bound pods still Pending after {ready_timeout} s");
        }
        eprintln!("gencluster: {waiting} of {bound} bound pods not yet running");
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
    eprintln!(
        "gencluster: kwok ran every pod after {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let n = patches.len();
    stream::iter(patches.into_iter().map(|(ns, name, patch)| {
        let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), &ns);
        async move {
            match api
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                // Gone meanwhile (a Job pod kwok completed and something
                // deleted): nothing to patch.
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    eprintln!("gencluster: pod {ns}/{name} gone before its status patch");
                    Ok(())
                }
                r => r.map(|_| ()),
            }
        }
    }))
    .buffer_unordered(concurrency)
    .try_collect::<Vec<()>>()
    .await?;
    eprintln!(
        "gencluster: patched the status of {n} pods in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    eprintln!("gencluster: loaded in {:.1}s", t0.elapsed().as_secs_f64());
    Ok(())
}
