//! The one list of strategies, in the run order of SPEC §2: first those that
//! judge each pod on its own, then those that balance groups of pods. Adding
//! a strategy means a file of its own, its field in `api::Strategies`, and one
//! line here.

use std::sync::Arc;

use super::{Planner, Strategy};
use super::{
    high_node_utilization::HighNodeUtilization, inter_pod_anti_affinity::InterPodAntiAffinity,
    low_node_utilization::LowNodeUtilization, node_affinity::NodeAffinity, node_taints::NodeTaints,
    pod_life_time::PodLifeTime, remove_duplicates::RemoveDuplicates,
    remove_failed_pods::RemoveFailedPods, too_many_restarts::TooManyRestarts,
    topology_spread::TopologySpread,
};
use crate::api::{self, CommonParamsRef, HasCommonParams};
use crate::plan::CommonParams;
use crate::validation::Errors;

pub static REGISTRY: &[Entry] = &[
    entry::<RemoveFailedPods>(),
    entry::<PodLifeTime>(),
    entry::<TooManyRestarts>(),
    entry::<NodeTaints>(),
    entry::<NodeAffinity>(),
    entry::<InterPodAntiAffinity>(),
    entry::<RemoveDuplicates>(),
    entry::<TopologySpread>(),
    entry::<LowNodeUtilization>(),
    entry::<HighNodeUtilization>(),
];

/// An enabled strategy with its filters and params, as the engine runs it.
#[derive(Clone, Debug)]
pub struct StrategyConfig {
    pub common: CommonParams,
    pub strategy: Arc<dyn Planner>,
}

impl StrategyConfig {
    pub fn name(&self) -> &'static str {
        self.strategy.name()
    }
}

/// Turns a strategy's common params into the ledger's filters; the policy
/// side supplies it (it needs the cluster's priority classes).
pub type ParseCommon<'c> = dyn FnMut(&CommonParamsRef<'_>, &str, &mut Errors) -> CommonParams + 'c;

pub struct Entry {
    pub name: &'static str,
    configure: fn(&api::Strategies, &mut ParseCommon<'_>, &mut Errors) -> Option<StrategyConfig>,
}

const fn entry<S: Strategy>() -> Entry {
    Entry {
        name: S::NAME,
        configure: configure::<S>,
    }
}

fn configure<S: Strategy>(
    all: &api::Strategies,
    common: &mut ParseCommon<'_>,
    errs: &mut Errors,
) -> Option<StrategyConfig> {
    let entry = S::spec(all).filter(|s| s.enabled.unwrap_or(true))?;
    let at = format!("spec.strategies.{}.params", S::NAME);
    let default = S::Spec::default();
    let params = entry.params.as_ref().unwrap_or(&default);
    // Both halves are checked so that every error is reported at once.
    let common = common(&params.common(), &at, errs);
    let strategy = S::parse(params, &at, errs)?;
    Some(StrategyConfig {
        common,
        strategy: Arc::new(strategy),
    })
}

impl Entry {
    /// The strategy's config when it is listed and enabled in `all`; its
    /// errors go to `errs`.
    pub fn configure(
        &self,
        all: &api::Strategies,
        common: &mut ParseCommon<'_>,
        errs: &mut Errors,
    ) -> Option<StrategyConfig> {
        (self.configure)(all, common, errs)
    }
}

/// Every enabled strategy of `all`, in run order.
pub fn configure_all(
    all: &api::Strategies,
    common: &mut ParseCommon<'_>,
    errs: &mut Errors,
) -> Vec<StrategyConfig> {
    REGISTRY
        .iter()
        .filter_map(|e| e.configure(all, common, errs))
        .collect()
}

/// The registry's names, in run order.
pub fn names() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().map(|e| e.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys of `spec.strategies` in the generated CRD.
    fn crd_strategy_keys() -> Vec<String> {
        let crd: serde_json::Value =
            serde_yaml_ng::from_str(&api::crd_yaml().expect("the CRD renders")).expect("YAML");
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let strategies = spec["properties"]["strategies"]["properties"]
            .as_object()
            .expect("spec.strategies has properties");
        strategies.keys().cloned().collect()
    }

    #[test]
    fn the_registry_names_exactly_the_crd_strategy_keys() {
        let mut registry: Vec<String> = names().map(str::to_string).collect();
        let count = registry.len();
        registry.sort();
        registry.dedup();
        assert_eq!(registry.len(), count, "a name is registered twice");
        let mut crd = crd_strategy_keys();
        crd.sort();
        assert_eq!(registry, crd);
    }

    #[test]
    fn every_registered_strategy_reads_its_own_spec_entry() {
        // Enabling one key at a time must configure exactly that strategy:
        // a strategy pointed at another's spec field would show up here.
        for name in names() {
            let all: api::Strategies =
                serde_json::from_value(serde_json::json!({ name: {} })).expect("deserializes");
            let mut common =
                |_: &CommonParamsRef<'_>, _: &str, _: &mut Errors| CommonParams::default();
            let mut errs = Errors::default();
            let configured: Vec<&str> = REGISTRY
                .iter()
                .filter(|e| {
                    // A strategy whose required params are missing reports
                    // errors instead of a config; it still read its entry.
                    let before = format!("{errs:?}");
                    let got = e.configure(&all, &mut common, &mut errs).is_some();
                    got || format!("{errs:?}") != before
                })
                .map(|e| e.name)
                .collect();
            assert_eq!(configured, [name]);
        }
    }
}
