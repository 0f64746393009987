//! Criterion benchmarks of the placement model (`descheduler::placement`) on
//! the synthetic clusters of benches/support/gen.rs (30 pods a node):
//!
//! - `placement_model_new/N`: `Model::new` over the snapshot;
//! - `placement_1000/N`: a fresh model, then 1,000 replacements evicted and
//!   placed one after another (`remove` + `place`), as a plan does;
//! - `placement_predict/N`: one `predict` on the model after those 1,000.
//!
//! ```sh
//! cargo bench --bench placement
//! DESCHEDULER_BENCH_SIZES=1000 cargo bench --bench placement -- --quick
//! ```

// Bench code may panic on what it built itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/gen.rs"]
mod synth;

use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use descheduler::placement::Model;
use descheduler::snapshot::{PodId, Snapshot};

const REPLACEMENTS: usize = 1000;

fn sizes() -> Vec<usize> {
    std::env::var("DESCHEDULER_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![1000, 5000])
}

/// 1,000 pods a planner could evict, spread evenly over the cluster: bound,
/// running, not DaemonSet pods.
fn candidates(snap: &Snapshot) -> Vec<PodId> {
    let all: Vec<PodId> = snap
        .pod_ids()
        .filter(|&p| {
            let pod = snap.pod(p);
            pod.node.is_some() && !pod.phase.is_terminal() && !pod.daemon_set
        })
        .collect();
    let step = (all.len() / REPLACEMENTS).max(1);
    all.into_iter().step_by(step).take(REPLACEMENTS).collect()
}

fn place_all<'s>(snap: &'s Snapshot, pods: &[PodId]) -> Model<'s> {
    let mut m = Model::new(snap);
    for &p in pods {
        m.remove(p);
        m.place(p);
    }
    m
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    for nodes in sizes() {
        let snap = Snapshot::build(
            synth::now(),
            synth::generate(synth::Config::new(nodes, 1)).objects(),
        );
        let pods = candidates(&snap);
        let m = place_all(&snap, &pods);
        let pending = pods.len() - m.replacements().len();
        eprintln!(
            "placement: {nodes} nodes, {} pods: {} replacements placed, {pending} pending",
            snap.pods.len(),
            m.replacements().len()
        );
        drop(m);

        let mut g = c.benchmark_group("placement_model_new");
        g.sample_size(10).measurement_time(Duration::from_secs(3));
        g.bench_function(BenchmarkId::from_parameter(nodes), |b| {
            b.iter(|| Model::new(&snap))
        });
        g.finish();

        let mut g = c.benchmark_group("placement_1000");
        g.sample_size(10).measurement_time(Duration::from_secs(10));
        g.throughput(Throughput::Elements(pods.len() as u64));
        g.bench_function(BenchmarkId::from_parameter(nodes), |b| {
            b.iter(|| place_all(&snap, &pods))
        });
        g.finish();

        let mut g = c.benchmark_group("placement_predict");
        g.sample_size(10).measurement_time(Duration::from_secs(3));
        let last = pods[pods.len() / 2];
        g.bench_function(BenchmarkId::from_parameter(nodes), |b| {
            b.iter_batched_ref(
                || place_all(&snap, &pods),
                |m| m.predict(last),
                BatchSize::LargeInput,
            )
        });
        g.finish();
    }
    c.final_summary();
}
