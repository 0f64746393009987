//! Criterion benchmarks of the engine on synthetic clusters
//! (benches/support/gen.rs) of 100, 1,000 and 5,000 nodes with 30 pods each:
//!
//! - `snapshot_build/N`: `Snapshot::build` from the typed objects;
//! - `strategy/NAME/N`: `plan::plan` with a policy of that strategy alone;
//! - `full_policy/N`: `plan::plan` with all ten strategies, snapshot already built.
//!
//! ```sh
//! cargo bench --bench engine                       # everything (long)
//! cargo bench --bench engine -- full_policy        # a filter, as usual
//! DESCHEDULER_BENCH_SIZES=500,5000 cargo bench --bench engine
//! DESCHEDULER_BENCH_SIZES=100 cargo bench --bench engine -- --test   # run each once (CI)
//! ```
//!
//! Before measuring a size it prints, on stderr, what the full policy plans
//! there, per strategy, so one can see that every strategy finds work.

#[path = "support/gen.rs"]
mod synth;

use std::time::Duration;

use criterion::{
    BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput, measurement::WallTime,
};
use descheduler::plan;
use descheduler::snapshot::Snapshot;

fn sizes() -> Vec<usize> {
    std::env::var("DESCHEDULER_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![100, 1000, 5000])
}

/// Fewer, shorter samples for the big clusters, so a full run stays in minutes.
fn configure(g: &mut BenchmarkGroup<'_, WallTime>, nodes: usize) {
    if nodes >= 2000 {
        g.sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(5));
    } else {
        g.sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let now = synth::now();
    for nodes in sizes() {
        let cluster = synth::generate(synth::Config::new(nodes, 1));
        let objects = cluster.objects();
        drop(cluster);
        let pods = objects.pods.len() as u64;
        let snap = Snapshot::build(now, objects.clone());

        let full = synth::policy(synth::FULL_POLICY, &snap);
        let result = plan::plan(&snap, &full);
        eprintln!(
            "engine: {nodes} nodes, {pods} pods: the full policy plans {} evictions, {} blocked",
            result.evictions.len(),
            result.blocked.len()
        );
        for t in &result.strategies {
            eprintln!(
                "engine:   {:<45} evicted {:>6}  blocked {:>5}  skipped {:?}",
                t.name, t.evicted, t.blocked, t.skipped
            );
        }

        let mut g = c.benchmark_group("snapshot_build");
        configure(&mut g, nodes);
        g.throughput(Throughput::Elements(pods));
        g.bench_function(BenchmarkId::from_parameter(nodes), |b| {
            b.iter_batched(
                || objects.clone(),
                |o| Snapshot::build(now, o),
                BatchSize::LargeInput,
            )
        });
        g.finish();

        let mut g = c.benchmark_group("strategy");
        configure(&mut g, nodes);
        g.throughput(Throughput::Elements(pods));
        for name in synth::STRATEGIES {
            let policy = synth::policy(&synth::single_strategy_policy(name), &snap);
            g.bench_function(BenchmarkId::new(name, nodes), |b| {
                b.iter(|| plan::plan(&snap, &policy))
            });
        }
        g.finish();

        let mut g = c.benchmark_group("full_policy");
        configure(&mut g, nodes);
        g.throughput(Throughput::Elements(pods));
        g.bench_function(BenchmarkId::from_parameter(nodes), |b| {
            b.iter(|| plan::plan(&snap, &full))
        });
        g.finish();
    }
    c.final_summary();
}
