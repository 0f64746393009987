//! Criterion benchmarks of the engine on synthetic clusters
//! (benches/support/gen.rs) of 100, 1,000 and 5,000 nodes with 30 pods each:
//!
//! - `snapshot_build/N`: `Snapshot::build` from the typed objects;
//! - `snapshot_build_budget_per_workload/N`: the same for a cluster whose
//!   every replicated service has a PodDisruptionBudget, in 4 namespaces;
//! - `strategy/NAME/N`: `engine::plan_blind` with a policy of that strategy
//!   alone (without the placement model: the strategy's own cost);
//! - `full_policy/N`: `engine::plan` with all ten strategies, snapshot already
//!   built, predicting every replacement's node;
//! - `full_policy_blind/N`: the same without the prediction.
//!
//! ```sh
//! cargo bench --bench engine                       # everything (long)
//! cargo bench --bench engine -- full_policy        # a filter, as usual
//! DESCHEDULER_BENCH_SIZES=500,5000 cargo bench --bench engine
//! DESCHEDULER_BENCH_SIZES=100 cargo bench --bench engine -- --test   # run each once (CI)
//! ```
//!
//! Before measuring a size it prints, on stderr, what the full policy plans
//! there, per strategy, so one can see that every strategy finds work, and
//! what each strategy costs inside the full policy (median of five runs), and
//! each strategy alone with cold CPU caches (see `cold_time`);
//! `DESCHEDULER_BENCH_NO_SUMMARY=1` leaves that out (for profiling the
//! benches under valgrind, where only the measured code should run).
//! `DESCHEDULER_BENCH_PLANS_ONLY=1` leaves out the snapshot-building cases
//! and keeps one copy of the cluster: what lets 10,000 nodes fit in 24 GiB.
//!
//! `DESCHEDULER_BENCH_PAIRS=K` measures the placement model's cost instead:
//! K pairs of `full_policy` and `full_policy_blind`, one right after the
//! other, then the medians and the median of the K ratios, and nothing else.
//! On a shared VM the machine's speed drifts by 20 % over the minutes that
//! criterion spends on one group before the next; a pair sees the same speed.

// Test and tool code may panic on what it built itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/gen.rs"]
mod synth;

use std::time::{Duration, Instant};

use criterion::{
    BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput, measurement::WallTime,
};
use descheduler::engine;
use descheduler::policy::Policy;
use descheduler::snapshot::Snapshot;
use descheduler::strategies::StrategyConfig;

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

/// `snapshot_build/N` and `snapshot_build_budget_per_workload/N`.
fn bench_snapshot_build(
    c: &mut Criterion,
    now: chrono::DateTime<chrono::Utc>,
    nodes: usize,
    objects: descheduler::snapshot::ClusterObjects,
) {
    let mut build = |group: &str, objects: &descheduler::snapshot::ClusterObjects| {
        let mut g = c.benchmark_group(group);
        configure(&mut g, nodes);
        g.throughput(Throughput::Elements(objects.pods.len() as u64));
        g.bench_function(BenchmarkId::from_parameter(nodes), |b| {
            b.iter_batched(
                || objects.clone(),
                |o| Snapshot::build(now, o),
                BatchSize::LargeInput,
            )
        });
        g.finish();
    };
    build("snapshot_build", &objects);
    drop(objects);
    // A budget per workload in four large namespaces (issue 16's shape):
    // matching budgets to pods must not grow as budgets x pods.
    let budgets = synth::generate(synth::Config::budget_per_workload(nodes, 1)).objects();
    build("snapshot_build_budget_per_workload", &budgets);
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let now = synth::now();
    for nodes in sizes() {
        let cluster = synth::generate(synth::Config::new(nodes, 1));
        let objects = cluster.objects();
        drop(cluster);
        let pods = objects.pods.len() as u64;
        // Only the plans: the snapshot takes the objects instead of a copy,
        // and the snapshot-building cases (which need the objects, and a
        // second generated cluster) are left out. At 10,000 nodes the whole
        // run was killed out of memory on 24 GiB.
        let plans_only = std::env::var_os("DESCHEDULER_BENCH_PLANS_ONLY").is_some();
        let (snap, objects) = if plans_only {
            (Snapshot::build(now, objects), None)
        } else {
            (Snapshot::build(now, objects.clone()), Some(objects))
        };

        let full = synth::policy(synth::FULL_POLICY, &snap);
        if let Some(k) = std::env::var("DESCHEDULER_BENCH_PAIRS")
            .ok()
            .and_then(|k| k.parse::<usize>().ok())
        {
            pairs(&snap, &full, nodes, k.max(1));
            continue;
        }
        if std::env::var_os("DESCHEDULER_BENCH_NO_SUMMARY").is_none() {
            summary(&snap, &full, nodes, pods);
        }
        if let Some(objects) = objects {
            bench_snapshot_build(&mut c, now, nodes, objects);
        }

        let mut g = c.benchmark_group("strategy");
        configure(&mut g, nodes);
        g.throughput(Throughput::Elements(pods));
        for name in full.strategies.iter().map(StrategyConfig::name) {
            let policy = synth::policy(&synth::single_strategy_policy(name), &snap);
            // Without the placement model: the strategy's own cost.
            g.bench_function(BenchmarkId::new(name, nodes), |b| {
                b.iter(|| engine::plan_blind(&snap, &policy))
            });
        }
        g.finish();

        let mut g = c.benchmark_group("full_policy");
        configure(&mut g, nodes);
        g.throughput(Throughput::Elements(pods));
        g.bench_function(BenchmarkId::from_parameter(nodes), |b| {
            b.iter(|| engine::plan(&snap, &full))
        });
        g.finish();

        // The same without predicting the replacements: what the placement
        // model costs (SPEC §10 allows at most 2x).
        let mut g = c.benchmark_group("full_policy_blind");
        configure(&mut g, nodes);
        g.throughput(Throughput::Elements(pods));
        g.bench_function(BenchmarkId::from_parameter(nodes), |b| {
            b.iter(|| engine::plan_blind(&snap, &full))
        });
        g.finish();
    }
    c.final_summary();
}

/// `DESCHEDULER_BENCH_PAIRS`: the full policy with and without predicting
/// the replacements, in interleaved pairs.
fn pairs(snap: &Snapshot, full: &Policy, nodes: usize, k: usize) {
    let time = |f: &dyn Fn() -> descheduler::plan::EvictionPlan| {
        let t = Instant::now();
        std::hint::black_box(f());
        t.elapsed().as_secs_f64()
    };
    // One of each first, untimed: warm-up (first touches of fresh memory).
    std::hint::black_box(engine::plan(snap, full));
    std::hint::black_box(engine::plan_blind(snap, full));
    let (mut with, mut without, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..k {
        let w = time(&|| engine::plan(snap, full));
        let b = time(&|| engine::plan_blind(snap, full));
        with.push(w);
        without.push(b);
        ratios.push(w / b);
    }
    let lowest = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let highest = ratios.iter().copied().fold(0.0, f64::max);
    eprintln!(
        "pairs: {nodes} nodes, {k} pairs: full_policy {:.3} s, full_policy_blind {:.3} s (medians); \
         ratio {:.3} (median of the pairs' ratios; {lowest:.3} to {highest:.3})",
        median(with),
        median(without),
        median(ratios),
    );
}

/// What the full policy plans, per strategy, and what each strategy costs in it.
fn summary(snap: &Snapshot, full: &Policy, nodes: usize, pods: u64) {
    let result = engine::plan(snap, full);
    eprintln!(
        "engine: {nodes} nodes, {pods} pods: the full policy plans {} evictions, {} blocked",
        result.evictions.len(),
        result.blocked.len()
    );
    let times = strategy_times(snap, full);
    for (t, ms) in result.strategies.iter().zip(&times) {
        eprintln!(
            "engine:   {:<45} {:>9.3} ms  evicted {:>6}  blocked {:>5}  skipped {:?}",
            t.name, ms, t.evicted, t.blocked, t.skipped
        );
    }
    for name in full.strategies.iter().map(StrategyConfig::name) {
        let policy = synth::policy(&synth::single_strategy_policy(name), snap);
        eprintln!(
            "engine:   cold {:<40} {:>9.3} ms",
            name,
            // Without the placement model, as the `strategy/` cases: with it
            // every plan builds the model first, whatever the strategy finds.
            cold_time(|| {
                engine::plan_blind(snap, &policy);
            })
        );
    }
}

/// The median of five runs of `f`, in milliseconds, each after evicting the
/// CPU caches: what the operator sees, planning once per interval after other
/// work has refilled them. Criterion's figures are warm (the same snapshot
/// run back to back), which flatters small clusters that fit in the caches.
fn cold_time(mut f: impl FnMut()) -> f64 {
    // Twice the largest last-level cache this is likely to run on.
    let mut junk = vec![0u8; 128 << 20];
    median(
        (0..5)
            .map(|round| {
                junk.iter_mut().for_each(|b| *b = b.wrapping_add(round));
                std::hint::black_box(&junk);
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

/// What each strategy costs inside one full-policy run (where earlier
/// strategies' evictions change what later ones see): the median of five runs,
/// in milliseconds, in policy order.
fn strategy_times(snap: &Snapshot, policy: &Policy) -> Vec<f64> {
    let runs: Vec<Vec<f64>> = (0..5)
        .map(|_| {
            let mut times = Vec::new();
            engine::plan_observed(snap, policy, &mut |_, run| {
                let start = Instant::now();
                run();
                times.push(start.elapsed().as_secs_f64() * 1e3);
            });
            times
        })
        .collect();
    (0..policy.strategies.len())
        .map(|i| median(runs.iter().map(|r| r[i]).collect()))
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
