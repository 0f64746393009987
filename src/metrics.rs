//! Prometheus metrics. The registry is passed in, never global; labels are
//! bounded (policy, strategy, namespace, result, reason category).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabels {
    pub version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EvictionLabels {
    pub policy: String,
    pub strategy: String,
    pub namespace: String,
    /// evicted | would_evict | blocked | failed
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SkipLabels {
    pub policy: String,
    pub strategy: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunLabels {
    pub policy: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    pub policy: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StrategyLabels {
    pub strategy: String,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 18))
}

pub struct Metrics {
    pub pods_evicted: Family<EvictionLabels, Counter>,
    pub pods_skipped: Family<SkipLabels, Counter>,
    pub runs: Family<RunLabels, Counter>,
    pub run_duration: Family<PolicyLabels, Histogram, fn() -> Histogram>,
    pub strategy_duration: Family<StrategyLabels, Histogram, fn() -> Histogram>,
    pub replacements: Family<ReplacementLabels, Counter>,
    pub strategy_failures: Family<StrategyFailureLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StrategyFailureLabels {
    pub policy: String,
    pub strategy: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReplacementLabels {
    pub policy: String,
    pub strategy: String,
    /// landed_as_predicted | landed_elsewhere | landed_on_source | pending
    pub outcome: String,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let build_info = Family::<VersionLabels, Gauge>::default();
        build_info
            .get_or_create(&VersionLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
        registry.register(
            "descheduler_build_info",
            "Build information; always 1",
            build_info,
        );
        let m = Self {
            pods_evicted: Family::default(),
            pods_skipped: Family::default(),
            runs: Family::default(),
            run_duration: Family::new_with_constructor(duration_histogram),
            strategy_duration: Family::new_with_constructor(duration_histogram),
            replacements: Family::default(),
            strategy_failures: Family::default(),
        };
        registry.register(
            "descheduler_strategy_failures",
            "Runs in which a strategy could not judge (its usage metrics were missing) and evicted nothing",
            m.strategy_failures.clone(),
        );
        registry.register(
            "descheduler_replacements",
            "Replacements of evicted pods, by where they landed compared with the prediction",
            m.replacements.clone(),
        );
        registry.register(
            "descheduler_pods_evicted",
            "Pods evicted, would-be evicted, blocked or failed",
            m.pods_evicted.clone(),
        );
        registry.register(
            "descheduler_pods_skipped",
            "Candidates not evicted, by reason",
            m.pods_skipped.clone(),
        );
        registry.register("descheduler_runs", "Policy runs by result", m.runs.clone());
        registry.register(
            "descheduler_run_duration_seconds",
            "Duration of a policy run",
            m.run_duration.clone(),
        );
        registry.register(
            "descheduler_strategy_duration_seconds",
            "Time a strategy takes to plan",
            m.strategy_duration.clone(),
        );
        m
    }

    /// Where one replacement landed (the follow-up of a run's evictions).
    pub fn count_replacement(&self, policy: &str, strategy: &str, outcome: &str) {
        self.replacements
            .get_or_create(&ReplacementLabels {
                policy: policy.into(),
                strategy: strategy.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Adds one run's samples (report::samples) and its duration.
    pub fn record(&self, policy: &str, samples: &crate::report::samples::Samples, seconds: f64) {
        for ((strategy, namespace, result), n) in &samples.evictions {
            self.pods_evicted
                .get_or_create(&EvictionLabels {
                    policy: policy.into(),
                    strategy: strategy.clone(),
                    namespace: namespace.clone(),
                    result: (*result).into(),
                })
                .inc_by(*n);
        }
        for ((strategy, reason), n) in &samples.skipped {
            self.pods_skipped
                .get_or_create(&SkipLabels {
                    policy: policy.into(),
                    strategy: strategy.clone(),
                    reason: reason.clone(),
                })
                .inc_by(*n);
        }
        for strategy in &samples.failed_strategies {
            self.strategy_failures
                .get_or_create(&StrategyFailureLabels {
                    policy: policy.into(),
                    strategy: strategy.clone(),
                })
                .inc();
        }
        self.count_run(policy, samples.run_result);
        self.run_duration
            .get_or_create(&PolicyLabels {
                policy: policy.into(),
            })
            .observe(seconds);
    }

    pub fn count_run(&self, policy: &str, result: &str) {
        self.runs
            .get_or_create(&RunLabels {
                policy: policy.into(),
                result: result.into(),
            })
            .inc();
    }

    pub fn observe_strategy(&self, strategy: &str, seconds: f64) {
        self.strategy_duration
            .get_or_create(&StrategyLabels {
                strategy: strategy.into(),
            })
            .observe(seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_documented_ones() {
        let mut registry = Registry::default();
        let m = Metrics::register(&mut registry);
        m.pods_evicted
            .get_or_create(&EvictionLabels {
                policy: "p".into(),
                strategy: "S".into(),
                namespace: "ns".into(),
                result: "evicted".into(),
            })
            .inc();
        m.runs
            .get_or_create(&RunLabels {
                policy: "p".into(),
                result: "Succeeded".into(),
            })
            .inc();
        m.run_duration
            .get_or_create(&PolicyLabels { policy: "p".into() })
            .observe(0.5);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        for name in [
            "descheduler_build_info{version=",
            "descheduler_pods_evicted_total{policy=\"p\",strategy=\"S\",namespace=\"ns\",result=\"evicted\"} 1",
            "descheduler_runs_total{policy=\"p\",result=\"Succeeded\"} 1",
            "descheduler_run_duration_seconds_bucket",
        ] {
            assert!(text.contains(name), "{name} missing in\n{text}");
        }
    }
}
